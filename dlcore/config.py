"""The schema: frozen configurations shared by the CLI, the UI, links and saved runs, each field with its type and
bounds, and the constants of MNIST-like data.

Every way a config comes in (a link, a form, a JSON file, an import, the command line) is checked here, by
pydantic, against one declaration per field; the errors become one DLCoreError sentence naming the field.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import unicodedata
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

IMAGE_SIZE = 28  # every dataset here is 28x28 grayscale, 10 classes
NUM_CLASSES = 10
CANVAS_SIZE = 280  # the drawing canvas is 280x280, ten canvas pixels per input pixel
# Mean and standard deviation of each dataset's training pixels in [0, 1]: every image a model trains on or reads is
# standardised with its dataset's pair. mnist-sample keeps MNIST's, so a model trained on it reads digits like one
# trained on MNIST.
MNIST_STATS = (0.1307, 0.3081)
PIXEL_STATS = {"mnist": MNIST_STATS, "fashion-mnist": (0.2860, 0.3530), "mnist-sample": MNIST_STATS}


def standardize(pixels, mean: float, std: float):
    """Pixels in [0, 255], a tensor or an array, as every model here takes them (the exported script, which cannot
    import dlcore, writes the formula again; a test checks the two agree)."""
    return (pixels / 255.0 - mean) / std


# Limits that keep one student's typo from taking the class server down.
MAX_HIDDEN_LAYERS = 8
MAX_UNITS = 2048
MAX_CONV_BLOCKS = 4
MAX_CHANNELS = 256
MAX_EPOCHS = 100
MAX_BATCH_SIZE = 8192
MAX_SEED = 2**31 - 1  # what every widget and torch.manual_seed on every platform accept
MAX_DROPOUT = 0.9  # at 0.9 a layer keeps one unit in ten; beyond it nothing learns
MAX_MOMENTUM = 0.99
MAX_LR = 1000.0
MAX_WEIGHT_DECAY = 1.0
MAX_LATENT = 128  # an autoencoder's code: the course's is 64, GANs' noise 100; a map is drawn of 2
MAX_BETA = 100.0  # a VAE's weight on its KL term: past a few dozen the code says nothing of the digit
MAX_STATE = 512  # a recurrent layer's state: the course's is 20; 512 LSTM units over 28 steps is seconds a batch
MAX_CELL_LAYERS = 4
MAX_DELAY = 200  # the memory task's delay: at 200 steps a plain RNN has long forgotten, and an epoch takes seconds
MAX_TEXT_CHARS = 200_000  # a student's own text for the character task: a few hundred kilobytes trains in minutes
SEQUENCE_TASKS = ("smnist", "sine", "memory", "addition", "text")  # what a recurrent network learns (sequences.py)
ATTENTION_TASKS = ("text", "sort", "digits")  # what the Attention page's transformers learn (attention.py)
MAX_HEADS = 8
MAX_WIDTH = 512  # a transformer's width: 512 over 64 characters is GPT-2 small's width, a second a batch on a CPU
MAX_BLOCKS = 6
MAX_CONTEXT = 256  # how far back a transformer's attention may look; the tasks' sequences are at most 202 steps
MAX_PER_CLASS = 6000  # few-shot training: at most this many examples of each class (MNIST's classes have 5,400-6,700)
TRANSFER_MODES = {  # a network of a finished run's shape: fresh weights, its features kept as they are under a new
    "scratch": "From scratch",  # output layer, or all of its weights trained on from where the run left them
    "frozen": "Frozen features",
    "finetune": "Fine-tuned",
}
ENVIRONMENTS = ("cartpole", "gridworld")  # where a reinforcement learning agent acts (reinforcement.py)
MAX_REPLAY = 100_000  # transitions an agent keeps: CartPole's states are 4 numbers, so 100,000 are 4 MB
MAX_CONFIG_CHARS = 100_000  # a config's JSON: the largest legal one is a few kilobytes
# The 2-D playground's limits, TF Playground's own: a student's network stays small enough that an epoch costs
# milliseconds and a picture of every neuron fits the page.
MAX_TOY_LAYERS = 6
MAX_TOY_UNITS = 8
MAX_TOY_POINTS = 1000
MAX_TOY_EPOCHS = 100_000
TOY_FEATURES = ("x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2")
MAX_GAN_LAYERS = 3  # a 2-D GAN's generator and discriminator each (GAN Lab's): a few hundred weights, an epoch in
MAX_GAN_UNITS = 32  # milliseconds, and enough to draw a ring or a spiral arm
DESCENT_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad")  # Build & train's, by behaviour
MAX_DESCENT_STEPS = 500

MAX_NAME_CHARS = 40  # a student's name, as runs and race lanes keep it


def student_name(text) -> str:
    """A name as it is stored and shown to the class: text only, one line, no invisible or direction-changing
    characters (which could disguise it as someone else's), at most 40 characters. Here, not in runs.py, so a page
    can clean a name from its address without waiting for torch."""
    visible = "".join(ch for ch in str(text) if ch.isspace() or not unicodedata.category(ch).startswith("C"))
    return " ".join(visible.split())[:MAX_NAME_CHARS]


# A name from one of the registries (activations, optimizers, datasets...): which names exist is checked against
# the registry itself (validation.validate); the schema only keeps it short and plain.
Name = Annotated[str, Field(strict=True, pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]


def _int(low: int, high: int):
    return Annotated[int, Field(strict=True, ge=low, le=high)]


def _float(low: float, high: float, low_open: bool = False, high_open: bool = False):
    bounds = {"gt" if low_open else "ge": low, "lt" if high_open else "le": high}
    return Annotated[float, Field(strict=True, allow_inf_nan=False, **bounds)]


Flag = Annotated[bool, Field(strict=True)]


class DLCoreError(Exception):
    """An error a user can cause; its message is one sentence saying what happened and what to do."""


def home() -> Path:
    """Where runs live (and the server's identity secret): $DLCORE_HOME, else ~/.dlcore."""
    try:
        return Path(os.environ.get("DLCORE_HOME") or Path.home() / ".dlcore").expanduser()
    except RuntimeError:  # no $HOME and no passwd entry, as in some containers
        raise DLCoreError("There is no home folder to keep runs in; set DLCORE_HOME to a writable folder.") from None


def _checked(make, cls):
    """Run a pydantic construction, turning its errors into one sentence that names the first bad field."""
    try:
        return make()
    except ValidationError as exc:
        raise DLCoreError(_sentence(exc.errors(include_url=False), cls.__name__)) from None
    except RecursionError:
        raise DLCoreError(f"The {_TITLES.get(cls.__name__, cls.__name__)} is nested too deeply to be a real one.") from None


_TITLES = {"TrainConfig": "configuration", "ToyConfig": "playground setting", "PointGanConfig": "2-D GAN setting",
           "DescentConfig": "descent setting", "SequenceTask": "sequence task", "AgentSettings": "agent setting", "ModelSpec": "network", "ConvBlock": "conv block", "DenseLayer": "dense layer"}


def _sentence(errors: list[dict], what: str) -> str:
    what = _TITLES.get(what, what)
    error = errors[0]
    where = "".join(f"[{part + 1}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    shown = repr(error.get("input"))
    shown = shown if len(shown) <= 40 else shown[:40] + "…"
    more = f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} after it)" if len(errors) > 1 else ""
    if not where:
        return f"The {what} could not be read: {error['msg'][0].lower()}{error['msg'][1:]}{more}."
    if error["type"] == "missing":
        return f"The {what}'s field {where} is missing; add it{more}."
    return f"The {what}'s field {where} cannot be {shown}: {error['msg'][0].lower()}{error['msg'][1:]}{more}."


def schema(cls):
    """A frozen dataclass whose every construction (keyword, positional, dataclasses.replace) is checked against
    its fields' types and bounds, failing with a DLCoreError sentence rather than pydantic's report."""
    cls = dataclass(frozen=True)(cls)
    init = cls.__init__

    names = [field.name for field in dataclasses.fields(cls)]

    @functools.wraps(init)
    def checked_init(self, *args, **kwargs):
        _checked(lambda: init(self, **dict(zip(names, args)), **kwargs), cls)  # by name, so errors name the field

    cls.__init__ = checked_init
    return cls


@schema
class DenseLayer:
    """One hidden fully connected layer; the 10-way output layer is implied."""

    units: _int(1, MAX_UNITS)
    activation: Name = "relu"
    dropout: _float(0.0, MAX_DROPOUT) = 0.0
    batch_norm: Flag = False


@schema
class ConvBlock:
    """conv -> (batch norm) -> activation -> (pool); padding 'valid' as in the seed CNN."""

    channels: _int(1, MAX_CHANNELS)
    kernel: Literal[1, 3, 5, 7] = 3  # odd, so "same" padding is symmetric
    activation: Name = "relu"
    pool: Literal["none", "max", "avg"] = "none"  # always 2x2
    padding: Literal["valid", "same"] = "valid"
    batch_norm: Flag = False


GENERATIVE = ("ae", "vae", "gan")  # the kinds that learn to draw digits, not to name them (generative.py)
SEQUENCE = ("rnn", "lstm", "gru")  # the kinds that read a digit row by row, a step at a time (sequences.py)
ATTENTION = ("transformer",)  # the kinds whose tokens attend to each other (attention.py)
AGENTS = ("dqn", "q-table")  # the kinds that say what each action is worth in an environment (reinforcement.py)


@schema
class ModelSpec:
    """An MLP (no conv blocks) or a CNN (conv blocks, then dense layers), both classifiers; an autoencoder ("ae")
    or a variational one ("vae"), whose dense layers are its encoder, mirrored by its decoder, around a code of
    `latent` numbers; or a GAN, whose dense layers are its generator's from `latent` numbers of noise, mirrored by
    its discriminator's. An RNN, an LSTM or a GRU ("rnn", "lstm", "gru") reads a digit as 28 steps of one row, in
    `cell_layers` layers with a state of `state` numbers; its dense layers then read the last state. A transformer
    reads a task's symbols, each attending to those before it (a decoder, as GPT), or a digit's 16 patches of 7x7
    pixels and a class token, each attending to all (a vision transformer), in `blocks` blocks of `heads` heads
    over `width` numbers per token. A DQN ("dqn") reads an environment's state and gives each action's value through
    its dense layers; a Q-table ("q-table") is one value per cell and action, a linear layer on the cell's one-hot."""

    kind: Literal["mlp", "cnn", "ae", "vae", "gan", "rnn", "lstm", "gru", "transformer", "dqn", "q-table"] = "mlp"
    conv: Annotated[tuple[ConvBlock, ...], Field(max_length=MAX_CONV_BLOCKS)] = ()
    dense: Annotated[tuple[DenseLayer, ...], Field(max_length=MAX_HIDDEN_LAYERS)] = (DenseLayer(128), DenseLayer(64))
    latent: _int(1, MAX_LATENT) = 2  # an autoencoder's code size (2 draws as a map); a GAN's noise
    beta: _float(0.0, MAX_BETA) = 1.0  # a VAE's weight on the KL term (1: the plain VAE)
    state: _int(1, MAX_STATE) = 20  # a recurrent network's state per layer (the course's 20)
    cell_layers: _int(1, MAX_CELL_LAYERS) = 2  # its stacked recurrent layers (the course's 2)
    blocks: _int(1, MAX_BLOCKS) = 2  # a transformer's: attention then an MLP, each; two sort digits and write text
    heads: _int(1, MAX_HEADS) = 4  # attention heads per block, each width / heads numbers wide
    width: _int(8, MAX_WIDTH) = 64  # numbers per token
    context: _int(1, MAX_CONTEXT) = 64  # how many tokens back (itself included) a decoder's token may attend to

    @property
    def generative(self) -> bool:
        return self.kind in GENERATIVE

    @property
    def sequence(self) -> bool:
        return self.kind in SEQUENCE

    @property
    def attention(self) -> bool:
        return self.kind in ATTENTION

    @property
    def agent(self) -> bool:
        return self.kind in AGENTS

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        return parse(cls, data)

    def summary(self) -> str:
        """A short human name, e.g. 'MLP 128-64 relu' or 'CNN 32-64 / 128'."""
        hidden = "-".join(str(layer.units) for layer in self.dense) or "linear"
        if self.kind == "gan":
            return f"GAN {self.latent}-{'-'.join(str(layer.units) for layer in self.dense)}{'-' if self.dense else ''}784"
        if self.generative:
            beta = f", beta {self.beta:g}" if self.kind == "vae" and self.beta != 1 else ""
            return f"{self.kind.upper()} {'-'.join(str(layer.units) for layer in self.dense)}{'-' if self.dense else ''}{self.latent}{beta}"
        if self.sequence:
            head = f" / {hidden}" if self.dense else ""
            return f"{self.kind.upper()} {self.cell_layers}x{self.state}{head}"
        if self.attention:
            head = f" / {hidden}" if self.dense else ""
            return f"Transformer {self.blocks}x{self.width}, {self.heads} head{'s' if self.heads > 1 else ''}{head}"
        if self.kind == "q-table":
            return "Q-table"
        if self.kind == "dqn":
            return f"DQN {hidden}"
        if self.kind == "cnn":
            return f"CNN {'-'.join(str(b.channels) for b in self.conv)} / {hidden}"
        activations = sorted({layer.activation for layer in self.dense})
        return f"MLP {hidden} {','.join(activations)}".strip()


class Settings:
    """What every run's or playground's settings can do: be plain data, and be copied with some fields changed."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def with_changes(self, **changes):
        """A copy with some fields replaced, ignoring the ones given as None (unset CLI flags)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


@schema
class AgentSettings(Settings):
    """How a reinforcement learning agent acts and learns from what it did (reinforcement.py): REINFORCEjs's DQN
    settings, with Stable-Baselines3's names where they differ. Defaults are CartPole's DQN (bench/reinforcement.py)."""

    gamma: _float(0.0, 0.999) = 0.99  # the discount: CartPole pays 1 a step for up to 500, so 0.99 looks ~100 ahead
    epsilon_start: _float(0.0, 1.0) = 1.0  # the share of random actions at the first step
    epsilon_end: _float(0.0, 1.0) = 0.05  # and from the end of exploring on
    explore: _float(0.0, 1.0) = 0.2  # the share of the run's steps over which epsilon falls, linearly
    replay: _int(1, MAX_REPLAY) = 50_000  # transitions kept to learn from; the oldest go first
    warmup: _int(0, MAX_REPLAY) = 1_000  # steps of acting before the first update
    train_every: _int(1, 100) = 1  # environment steps per update
    target_every: _int(1, 100_000) = 500  # steps between copies of the network into its target network
    double: Flag = True  # Double DQN: the network picks the next action, the target network values it
    td_clamp: _float(0.0, 100.0) = 1.0  # TD errors past this count linearly (the Huber loss); 0: never clamped


@schema
class TrainConfig(Settings):
    """Everything that decides a training run; two equal configs give the same run on CPU."""

    dataset: Name = "mnist-sample"
    model: ModelSpec = dataclasses.field(default_factory=ModelSpec)
    optimizer: Name = "adam"
    lr: _float(0.0, MAX_LR, low_open=True) = 1e-3  # Adam's usual default; SGD wants about 0.01-0.1
    momentum: _float(0.0, MAX_MOMENTUM) = 0.9  # SGD and RMSprop only
    nesterov: Flag = False  # SGD only, and only with momentum
    weight_decay: _float(0.0, MAX_WEIGHT_DECAY) = 0.0
    schedule: Name = "constant"  # constant, step, cosine, onecycle
    loss: Name = "cross-entropy"  # or "mse" on one-hot targets
    batch_size: _int(1, MAX_BATCH_SIZE) = 64  # small enough to learn in few epochs, large enough to be fast
    epochs: _int(1, MAX_EPOCHS) = 5  # enough for mnist-sample to pass 90% with the simple MLP
    seed: _int(0, MAX_SEED) = 0
    device: Name = "auto"
    per_class: _int(0, MAX_PER_CLASS) = 0  # train on this many examples of each class (0: all of them)
    source_run: _int(0, MAX_SEED) = 0  # the finished run whose network this one starts from (0: none)
    transfer: Literal[tuple(TRANSFER_MODES)] = "scratch"  # what it takes of the source run's weights (TRANSFER_MODES)
    agent: AgentSettings = dataclasses.field(default_factory=AgentSettings)  # an environment's run: how it acts

    def to_dict(self) -> dict:
        """Plain data; only an agent's run carries the agent settings, so every other config reads as before."""
        data = dataclasses.asdict(self)
        if not self.model.agent:
            del data["agent"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        return parse(cls, data)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        data = load_json(text)
        if not isinstance(data, dict):
            raise DLCoreError("The configuration must be a JSON object with fields such as 'dataset' and 'model'.")
        return parse(cls, data)


@schema
class ToyConfig(Settings):
    """A 2-D playground network and its data, TF Playground's settings; two equal configs train alike."""

    dataset: Literal["circle", "xor", "gauss", "spiral", "moons", "plane", "multi-gauss"] = "circle"
    noise: _int(0, 50) = 0  # percent, in TF Playground's units
    train_ratio: _float(0.1, 0.9) = 0.5  # TF Playground's default: half the points train, half test
    points: _int(50, MAX_TOY_POINTS) = 500  # TF Playground's count for classification
    features: Annotated[tuple[Literal[TOY_FEATURES], ...], Field(min_length=1, max_length=len(TOY_FEATURES))] = ("x1", "x2")
    hidden: Annotated[tuple[_int(1, MAX_TOY_UNITS), ...], Field(max_length=MAX_TOY_LAYERS)] = (4, 2)  # TF's first network
    activation: Literal["tanh", "relu", "sigmoid", "linear"] = "tanh"
    init: Literal["playground", "pytorch"] = "playground"  # TF Playground's first weights (uniform in ±0.5, biases
    # 0.1): its lessons need them (XOR on 4-2 tanh with SGD reached 0.73-0.92 from nn.Linear's, TF's 0.98-1)
    loss: Literal["squared-error", "cross-entropy"] = "squared-error"  # TF Playground's one tanh output, or two
    # logits: with cross-entropy, XOR on 4-2 tanh (SGD 0.03) stuck at 0.62 and 0.77 for 2 of 10 seeds
    optimizer: Name = "adam"  # one of Build & train's
    lr: _float(0.0, 10.0, low_open=True) = 0.01  # Adam's sweet spot here; TF Playground's SGD wants 0.03
    momentum: _float(0.0, MAX_MOMENTUM) = 0.0  # SGD and RMSprop only; none, as in TF Playground's SGD (with 0.9 its
    # spiral lesson, lr 0.03, reached 0.70 instead of 0.98)
    regularization: Literal["none", "l1", "l2"] = "none"  # on weights, not biases, as TF Playground does
    reg_rate: _float(0.0, 10.0) = 0.0
    batch_size: _int(1, MAX_TOY_POINTS) = 10
    epochs: _int(1, MAX_TOY_EPOCHS) = 200  # for a run from the command line; the page trains while it plays
    seed: _int(0, MAX_SEED) = 0  # draws the points, then the first weights


@schema
class PointGanConfig(Settings):
    """GAN Lab's lesson: a GAN whose real data are a 2-D playground dataset's points, small enough to watch each
    step; two equal configs train alike."""

    dataset: Literal["circle", "xor", "gauss", "spiral", "moons"] = "circle"
    colour: Literal["both", "blue", "orange"] = "orange"  # which of its points are the real ones: the circle's
    # orange points are GAN Lab's ring, its blue a disc; gauss's blue one cluster, both two
    noise: _int(0, 50) = 0  # percent, as the 2-D playground's
    points: _int(50, MAX_TOY_POINTS) = 500  # in the dataset, before a colour is chosen
    generator: Annotated[tuple[_int(1, MAX_GAN_UNITS), ...], Field(min_length=1, max_length=MAX_GAN_LAYERS)] = (16, 16)
    discriminator: Annotated[tuple[_int(1, MAX_GAN_UNITS), ...], Field(min_length=1, max_length=MAX_GAN_LAYERS)] = (16, 16)
    activation: Literal["relu", "tanh", "leaky-relu"] = "relu"
    optimizer: Literal["adam", "sgd"] = "adam"  # Adam with DCGAN's first beta, 0.5, as the digit GAN's
    lr: _float(0.0, 1.0, low_open=True) = 0.01
    batch_size: _int(1, MAX_TOY_POINTS) = 50
    epochs: _int(1, MAX_TOY_EPOCHS) = 300  # for a run from the command line; the page trains while it plays
    seed: _int(0, MAX_SEED) = 0  # draws the points, then the first weights


@schema
class SequenceTask(Settings):
    """What a recurrent network learns: a task, and the memory task's delay. The task's data are a dataset of their
    own (sequences.dataset_name), so the one loop trains and every page lists them as it does digits."""

    task: Literal[SEQUENCE_TASKS] = "smnist"
    delay: _int(1, MAX_DELAY) = 60  # memory: steps between the letter to remember and the question; at 60 a plain
    # RNN stays near a quarter where an LSTM and a GRU reach 100% (bench/sequences.py); at 30 an RNN learns it too


@schema
class DescentConfig:
    """Which surface, where the optimizers start, how many steps, and each one's learning rate."""

    surface: Literal["bowl", "rosenbrock", "saddle", "himmelblau"] = "bowl"
    start: tuple[_float(-10.0, 10.0), _float(-10.0, 10.0)] | None = None  # None: the surface's own start
    steps: _int(1, MAX_DESCENT_STEPS) = 200  # enough for every default path to show where it is going
    optimizers: Annotated[tuple[Literal[DESCENT_OPTIMIZERS], ...], Field(min_length=1, max_length=6)] = DESCENT_OPTIMIZERS
    lrs: Annotated[dict[Literal[DESCENT_OPTIMIZERS], _float(0.0, 10.0, low_open=True)], Field(max_length=6)] = \
        dataclasses.field(default_factory=dict)  # those not given: the surface's own, chosen to show its lesson


def parse(cls, data):
    """A config (or part of one) from plain data, e.g. decoded JSON; unknown keys, which a newer or older version
    wrote, are ignored so that saved runs and shared links keep loading."""
    return _checked(lambda: TypeAdapter(cls).validate_python(data), cls)


def load_json(text: str):
    """JSON from a file, a link or an upload, refusing what could cost the server: huge text, deep nesting, and
    numbers of thousands of digits (kept as text, so that the schema names the field that holds one)."""
    if len(text) > MAX_CONFIG_CHARS:
        raise DLCoreError(f"The configuration is {len(text):,} characters long; a real one is a few thousand at most.")
    try:
        return json.loads(text, parse_int=lambda digits: int(digits) if len(digits) <= 30 else digits)
    except json.JSONDecodeError as exc:
        raise DLCoreError(f"The configuration is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    except RecursionError:
        raise DLCoreError("The configuration is nested too deeply to be a real one; check the file.") from None


def bounds(cls, name: str) -> tuple[float | None, float | None]:
    """A field's (lowest, highest) allowed value, so widgets and flags offer exactly what the schema accepts."""
    low = high = None
    for rule in cls.__pydantic_fields__[name].metadata:
        low = getattr(rule, "ge", getattr(rule, "gt", low))
        high = getattr(rule, "le", getattr(rule, "lt", high))
    return low, high
