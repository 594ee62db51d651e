"""Setups as short, readable links (TrainConfig <-> URL query parameters) and the one-line summaries of configs.

A link names only what differs from the page's starting setup, e.g. `?net=cnn&optimizer=sgd&lr=0.05&epochs=3`, or
a custom network as `?conv=32_64-max&dense=128-gelu-d0.2`. Layers are separated by '_' and a layer's options by
'-', the characters a URL keeps as they are. Every page's links speak one vocabulary: the schema's field names
(dataset, optimizer, batch_size, ...), with the short keys of older links (data, opt, wd, batch) read as those; a
key a page does not use, or a value it could not use as written, is named in the page's note (unused_keys_note).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from typing import Annotated, Literal, Mapping
from urllib.parse import parse_qs

from . import activations, devices, models, optim, reinforcement, validation
from .config import TRANSFER_MODES, ConvBlock, DenseLayer, DLCoreError, ModelSpec, TrainConfig, parse

ALIASES = {"data": "dataset", "opt": "optimizer", "wd": "weight_decay", "batch": "batch_size"}  # older links' keys
EVERY_PAGE = ("present", "name", "run")  # keys any page's address may carry besides its setup (presenter mode, ...)
# query key -> TrainConfig field, for every setting but the network, which uses net, or conv and dense.
SETTINGS = {f.name: f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("model", "agent")}
NETWORK_KEYS = ("net", "conv", "dense")
KEYS = NETWORK_KEYS + tuple(SETTINGS)  # every key a setup link may hold; a page's other keys are left alone
MAX_VALUE_LENGTH = 200
_ACTIVATION_NAMES = sorted(activations.HIDDEN_ACTIVATIONS, key=len, reverse=True)


@dataclass(frozen=True)
class SharedSetup:
    config: TrainConfig
    note: str = ""  # one sentence when part of the link could not be used


def optimizer_summary(config: TrainConfig) -> str:
    """'Adam lr 0.001', 'SGD lr 0.1 m 0.9 Nesterov', 'AdamW lr 0.001 wd 0.01'."""
    title = optim.OPTIMIZERS.get(config.optimizer, config.optimizer).split(" (")[0]
    parts = [title, f"lr {config.lr:g}"]
    if config.optimizer in ("sgd", "rmsprop") and config.momentum:
        parts.append(f"m {config.momentum:g}" + (" Nesterov" if config.nesterov and config.optimizer == "sgd" else ""))
    if config.weight_decay:
        parts.append(f"wd {config.weight_decay:g}")
    return " ".join(parts)


def lane_name(config: TrainConfig) -> str:
    """How one of several runs trained side by side is named: a transfer run by what it took of its source run's
    weights, an agent by its seed, any other by its optimizer."""
    if config.model.agent:
        return f"seed {config.seed}"
    return TRANSFER_MODES[config.transfer] if config.source_run else optimizer_summary(config)


def summary(config: TrainConfig) -> str:
    """The whole setup in one line for tables: 'MLP 128-64 relu · Adam lr 0.001 · batch 64 · 5 epochs'; an agent's
    as the class board names it, with its seed."""
    if config.model.agent:
        return f"{reinforcement.setting_name(config)} · seed {config.seed}"
    schedule = "" if config.schedule == "constant" else f" · {config.schedule}"
    loss = "" if config.loss == "cross-entropy" else f" · {config.loss} loss"
    epochs = f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}"
    return f"{config.model.summary()} · {optimizer_summary(config)}{schedule}{loss} · batch {config.batch_size} · {epochs}"


# ---- config -> link ------------------------------------------------------------------------------

def to_query(config: TrainConfig, base: TrainConfig | None = None) -> dict[str, str]:
    """The query parameters that turn `base` into `config`; the network is always named, so a link says what it builds."""
    base = base or TrainConfig()
    query = _network_query(config.model)
    for key, name in SETTINGS.items():
        value = getattr(config, name)
        if value != getattr(base, name):
            query[key] = _format(value)
    return query


def _network_query(spec: ModelSpec) -> dict[str, str]:
    for name, preset in models.PRESETS.items():
        if spec == preset:
            return {"net": name}
    query = {"conv": "_".join(_conv_token(block) for block in spec.conv)} if spec.kind == "cnn" else {}
    query["dense"] = "_".join(_dense_token(layer) for layer in spec.dense) or "none"
    return query


def _conv_token(block: ConvBlock) -> str:
    default = ConvBlock(block.channels)
    parts = [str(block.channels)]
    if block.kernel != default.kernel:
        parts.append(f"k{block.kernel}")
    if block.activation != default.activation:
        parts.append(block.activation)
    if block.pool != default.pool:
        parts.append(block.pool)
    if block.padding != default.padding:
        parts.append(block.padding)
    if block.batch_norm:
        parts.append("bn")
    return "-".join(parts)


def _dense_token(layer: DenseLayer) -> str:
    parts = [str(layer.units)]
    if layer.activation != DenseLayer(layer.units).activation:
        parts.append(layer.activation)
    if layer.dropout:
        parts.append(f"d{_format(layer.dropout)}")
    if layer.batch_norm:
        parts.append("bn")
    return "-".join(parts)


def _format(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


# ---- link -> config ------------------------------------------------------------------------------

def canonical(params: Mapping[str, str | list[str]]) -> dict[str, str]:
    """A link's keys in the one vocabulary: an older short key becomes its field's name (the field's own key wins
    when a link has both); each value is its last one."""
    named: dict[str, str] = {}
    for key, value in params.items():
        field = ALIASES.get(key, key)
        if key == field or field not in params:
            named[field] = _last(value)
    return named


def unused_keys_note(params: Mapping[str, str | list[str]], used: tuple[str, ...] | list[str]) -> str:
    """One sentence naming each key of a link that this page does not use (its own keys: `used`), or ''."""
    link = canonical(params)
    unused = [key for key in link if key not in used and key not in EVERY_PAGE]
    if not unused:
        return ""
    shown = ", ".join(f"{_shown(key)}={_shown(link[key])}" for key in unused[:5])
    more = f" and {len(unused) - 5} more" if len(unused) > 5 else ""
    return f"This page does not use {shown}{more} from the link, so {'they were' if len(unused) > 1 else 'it was'} left out."

def from_query(params: Mapping[str, str | list[str]], base: TrainConfig | None = None) -> SharedSetup:
    """The setup a link describes, on top of `base`. Each part that cannot be used (unreadable, out of bounds, an
    unknown name, a device not here) is left at base and named with its reason; a combination that cannot train
    falls back to base whole. Either way the note says so in one sentence."""
    base = base or TrainConfig()
    params = canonical(params)
    values = {key: params[key] for key in KEYS if key in params}
    problems: dict[str, str] = {}
    for key in [key for key, text in values.items() if len(text) > MAX_VALUE_LENGTH]:
        problems[key] = f"longer than {MAX_VALUE_LENGTH} characters"
        del values[key]
    config, notes = base, []
    network_keys = [key for key in NETWORK_KEYS if key in values]
    try:
        model = _network(values)
        if model is not None:
            models.validate(model)
            config = config.with_changes(model=model)
    except (DLCoreError, ValueError) as exc:
        problems.update(dict.fromkeys(network_keys, reason(exc)))
    for key, name in SETTINGS.items():
        if key not in values:
            continue
        try:
            value = read_value(values[key], type(getattr(base, name)))
            if name in validation.CHOICES:
                validation.check_choice(name, value)
            if name == "device" and value != "auto" and devices.device_status()[value]:
                notes.append(f"This link's device {value} is not here ({devices.device_status()[value]}), so {base.device} is used.")
                continue
            config = config.with_changes(**{name: value})
        except (DLCoreError, ValueError) as exc:
            problems[key] = reason(exc)
    try:
        validation.validate(config)
    except DLCoreError as exc:
        return SharedSetup(base, f"This link's setup was not used, so the starting setup is shown: {reason(exc)}.")
    if problems:
        notes.insert(0, problems_note(params, problems))
    return SharedSetup(config, " ".join(notes))


def problems_note(params: Mapping[str, str], problems: dict[str, str]) -> str:
    """One sentence naming each part of a link (key -> reason) left at the starting setup, with its value."""
    named = "; ".join(f"{key} ('{_shown(params[key])}'): {why}" for key, why in problems.items())
    those = "those settings are" if len(problems) > 1 else "that setting is"
    return f"Part of this link could not be used, so {those} back to the starting setup: {named}."


def reason(exc: Exception) -> str:
    """An error's sentence without its full stop, to quote inside another sentence."""
    return str(exc).rstrip(".") if isinstance(exc, DLCoreError) else "not readable"


def network_from_link(text: str) -> ModelSpec | None:
    """A network written as a link writes it: a preset's name, 'net=cnn', or 'conv=32_64-max&dense=128-gelu';
    None when the text is none of these."""
    if text in models.PRESETS:
        return models.preset(text)
    values = {key: _last(value) for key, value in parse_qs(text, keep_blank_values=True).items() if key in NETWORK_KEYS}
    try:
        model = _network(values)
    except ValueError:
        return None
    if model is not None:
        models.validate(model)
    return model


def _shown(value: str | list[str]) -> str:
    text = _last(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _last(value: str | list[str]) -> str:
    return (value[-1] if value else "") if isinstance(value, list) else str(value)


def read_value(text: str, kind: type):
    if kind is bool:
        if text.lower() not in ("1", "0", "true", "false"):
            raise ValueError(text)
        return text.lower() in ("1", "true")
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    if not re.fullmatch(r"[a-z0-9-]+", text):
        raise ValueError(text)
    return text


def _network(values: dict[str, str]) -> ModelSpec | None:
    if "net" in values:
        return models.preset(values["net"])
    if "conv" not in values and "dense" not in values:
        return None
    conv = tuple(_conv_block(token) for token in values["conv"].split("_")) if values.get("conv") else ()
    dense_text = values.get("dense", "none")
    dense = () if dense_text == "none" else tuple(_dense_layer(token) for token in dense_text.split("_"))
    return ModelSpec("cnn" if conv else "mlp", conv=conv, dense=dense)


def _options(token: str) -> tuple[int, list[str]]:
    """'128-leaky-relu-bn' -> (128, ['leaky-relu', 'bn']): activation names may themselves hold a '-'."""
    head, _, rest = token.partition("-")
    options = []
    while rest:
        name = next((a for a in _ACTIVATION_NAMES if rest == a or rest.startswith(a + "-")), None)
        option = name or rest.split("-", 1)[0]
        options.append(option)
        rest = rest[len(option) + 1 :]
    return int(head), options


def _conv_block(token: str) -> ConvBlock:
    channels, options = _options(token)
    fields = {}
    for option in options:
        if re.fullmatch(r"k\d", option):
            fields["kernel"] = int(option[1:])
        elif option in models.POOLS:
            fields["pool"] = option
        elif option in models.PADDINGS:
            fields["padding"] = option
        elif option == "bn":
            fields["batch_norm"] = True
        elif option in activations.ACTIVATIONS:
            fields["activation"] = option
        else:
            raise ValueError(option)
    return ConvBlock(channels, **fields)


def _dense_layer(token: str) -> DenseLayer:
    units, options = _options(token)
    fields = {}
    for option in options:
        if re.fullmatch(r"d[0-9.]+", option):
            fields["dropout"] = float(option[1:])
        elif option == "bn":
            fields["batch_norm"] = True
        elif option in activations.ACTIVATIONS:
            fields["activation"] = option
        else:
            raise ValueError(option)
    return DenseLayer(units, **fields)


# ---- any schema dataclass's fields as a link (the playground's and gradient descent's settings) ------------------

def fields_link(config, names: typing.Iterable[str]) -> dict[str, str]:
    """The named fields that differ from the defaults, as an address's query: lists with commas, mappings as
    key:value pairs with commas, numbers as short as they print."""
    default = type(config)()
    return {name: _link_text(getattr(config, name)) for name in names
            if getattr(config, name) != getattr(default, name) and getattr(config, name) is not None}


def fields_from_link(cls, query: Mapping[str, str], names: typing.Iterable[str]):
    """A config of `cls` from a link's fields, each read as its annotation's type and checked by the schema; a
    DLCoreError names the first that cannot be used."""
    hints, values = typing.get_type_hints(cls, include_extras=True), {}
    for name in names:
        text = query.get(name)
        if text is None:
            continue
        if len(text) > MAX_VALUE_LENGTH:
            raise DLCoreError(f"The link's {name} is {len(text):,} characters long; a real one is a few.")
        shape, kind = _field_kind(hints[name])
        parts = [part.strip() for part in text.split(",") if part.strip()]
        try:
            if shape is dict:
                values[name] = {key.strip(): _typed(item.strip(), kind)
                                for key, item in (part.split(":", 1) for part in parts)}
            elif shape is tuple:
                values[name] = tuple(_typed(part, kind) for part in parts)
            else:
                values[name] = _typed(text.strip(), kind)
        except ValueError:
            what = {dict: "pairs such as sgd:0.01 with commas", tuple: "a list with commas"}.get(
                shape, {int: "a whole number", float: "a number"}.get(kind, "a word"))
            raise DLCoreError(f"The link's {name} cannot be {text[:40]!r}: it should be {what}.") from None
    return parse(cls, values)


def _link_text(value) -> str:
    if isinstance(value, dict):
        return ",".join(f"{key}:{_link_text(item)}" for key, item in value.items())
    if isinstance(value, (tuple, list)):
        return ",".join(map(_link_text, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _field_kind(annotation) -> tuple[type | None, type]:
    """(tuple, dict or None for one value; the type of one value) from a schema annotation such as
    Annotated[tuple[Annotated[int, ...], ...], ...] | None."""
    base = _unwrapped(annotation)
    origin = typing.get_origin(base)
    if origin in (tuple, list):
        return tuple, _scalar_kind(typing.get_args(base)[0])
    if origin is dict:
        return dict, _scalar_kind(typing.get_args(base)[1])
    return None, _scalar_kind(base)


def _unwrapped(annotation):
    """Without Annotated's metadata and an optional None."""
    while True:
        if typing.get_origin(annotation) is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif type(None) in typing.get_args(annotation) and typing.get_origin(annotation) is not Literal:
            annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
        else:
            return annotation


def _scalar_kind(annotation) -> type:
    base = _unwrapped(annotation)
    if typing.get_origin(base) is Literal:
        return type(typing.get_args(base)[0])
    return base if base in (int, float, bool) else str


def _typed(text: str, kind: type):
    """One value of a link as `kind`: bool as 1/0/true/false, other words as written, for the schema to judge."""
    if kind is bool:
        return read_value(text, bool)
    return kind(text) if kind in (int, float) else text
