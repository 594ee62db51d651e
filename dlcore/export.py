"""Runs leaving and entering the server: a finished run as a zip (weights + a standalone PyTorch script), and
uploaded weights recorded as an imported run.

The script is dlcore/standalone.py with the run's settings written between its two markers: the network and the
optimizer as the PyTorch calls dlcore itself makes, every other value as a checked literal. Its schedules, losses
and data readers are the ones dlcore trains with, and it needs only torch (torchvision for --download): a 30-line
safetensors reader and writer stands in for the safetensors package, which the issue's "torch and torchvision
only" rules out and which the format's simplicity (a JSON header, then raw bytes) makes unnecessary.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import lzma
import re
import threading
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import torch
from torch import nn

from . import data, devices, drawings, evaluate, generative, jobs, models, optim, reinforcement, runs, standalone, validation
from .config import IMAGE_SIZE, NUM_CLASSES, DLCoreError, TrainConfig

SETTINGS_BEGIN = "# ---- settings (written by dlcore.export) ----\n"  # the one pair of lines in standalone.py
SETTINGS_END = "# ---- end of settings ----\n"  # between which a run's settings replace the defaults
MAX_IMPORT_BYTES = runs.MAX_CHECKPOINT_BYTES
MAX_CONFIG_BYTES = 2**20  # a config JSON is a few kilobytes
READ_CHUNK = 2**20
# Scoring an import runs in the page's request: a model is scored on as many test images as fit this many
# multiply-adds (about two seconds on one core), never fewer than SCORE_AT_LEAST (the largest legal CNN: about
# two seconds for ten), chosen the same way each time.
SCORE_MACS = 2 * 10**10
SCORE_AT_LEAST = 10
# An import holds up to a checkpoint's worth of memory (119 MiB) and a core for a few seconds, so a server reads one
# at a time. A classmate who pressed Import at the same moment expects theirs to take a little longer, not to be told
# to retry, so the next import waits; after this long (about ten imports ahead of it) it is told instead of spinning.
IMPORT_WAIT_SECONDS = 30
_one_import = threading.Lock()
IMPORT_NOTE = "Imported from"  # how an imported run's message begins (the run board marks such runs)
TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "mnist-sample": "MNIST"}
IDX_FOLDER = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "mnist-sample": "mnist"}


# ---- export --------------------------------------------------------------------------------------

def check_exportable(run: runs.Run) -> None:
    """Raises DLCoreError with a sentence when the run left no weights, or its drawings are gone (an import could not
    read it); cheap, so a page can ask before offering."""
    if not run.checkpoint or not Path(run.checkpoint).is_file():
        raise DLCoreError(f"Run #{run.id} has no saved weights to export (its status is {run.status}).")
    if run.config.dataset.startswith(drawings.PREFIX) and not drawings.file_of(run.config.dataset).is_file():
        raise DLCoreError(f"Run #{run.id} was trained on the class's drawings, which are not on this server any more, "
                          "so no playground could read its export.")


def bundle_name(run: runs.Run) -> str:
    return f"run-{run.id}.zip"


def bundle(run: runs.Run) -> tuple[str, bytes]:
    """(file name, zip bytes): run-N/run-N.safetensors, run-N/run-N.py and run-N/run-N-config.json; an autoencoder's
    and a sequence task's have no script (the standalone script trains and reads classifiers of pictures). A run on
    the class's drawings carries their frozen file too (run-N/drawings-<16 hex>.npz, a few MB at most), so the
    playground it is imported into can name its classes and score it."""
    check_exportable(run)
    stem = f"run-{run.id}"
    files = {
        f"{stem}.safetensors": Path(run.checkpoint).read_bytes(),
        f"{stem}-config.json": json.dumps(run.config.to_dict(), indent=2).encode(),
    }
    if run.config.dataset.startswith(drawings.PREFIX):
        files[f"{run.config.dataset}.npz"] = drawings.file_of(run.config.dataset).read_bytes()
    if scripted(run.config):
        files[f"{stem}.py"] = script(run.config, f"{stem}.safetensors", run).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(f"{stem}/{name}", content)
    return bundle_name(run), buffer.getvalue()


def scripted(config: TrainConfig) -> bool:
    """Whether a run's export carries the standalone script: a classifier of digits or clothes (a digit read row by
    row too) trained on all of them from fresh weights, which the script does again. A transfer run's source run's
    weights, a few-shot choice and the class's drawings are not where the script runs."""
    return (not config.model.generative and config.dataset in data.DATASETS and not config.source_run
            and not config.per_class)


def script(config: TrainConfig, weights: str = "model.safetensors", run: runs.Run | None = None) -> str:
    """The standalone script for a config: standalone.py with the config's settings between the markers; with its
    run, it also states the accuracy the playground measured.

    An imported config is a stranger's: it is validated first, and every value enters the script as a literal of
    its checked type or as plain text that cannot end a comment (the network's comments).
    """
    validation.validate(config)
    if not scripted(config):
        raise DLCoreError("The standalone script trains classifiers of pictures; this run's export is its weights and "
                          "config.")
    head, begin, rest = Path(standalone.__file__).read_text().partition(SETTINGS_BEGIN)
    _, end, tail = rest.partition(SETTINGS_END)
    if not (begin and end):
        raise DLCoreError("dlcore/standalone.py has lost its settings markers; reinstall the playground.")
    return f"{head}{begin}{_settings(config, weights, run)}\n{end}{tail}"


_KIND_NAMES = {int: "a whole number", float: "a number", str: "a name", bool: "true or false"}


def _literal(value, kind: type) -> str:
    """repr() of a value that is of the kind (an int for a float is fine, a bool for an int is not): the only way a
    setting is written into the script, so a string smuggled into a number field cannot become code."""
    allowed = (int, float) if kind is float else kind
    if not isinstance(value, allowed) or (isinstance(value, bool) and kind is not bool):
        raise DLCoreError(f"The setting {str(value)[:40]!r} should be {_KIND_NAMES[kind]}; this run cannot be exported.")
    return repr(kind(value))


def _plain(text: str) -> str:
    """Text for the script's docstring and comments: anything but letters, digits, spaces and plain punctuation
    (quotes, backslashes, line breaks) becomes '?', so no name can close the docstring or start a line of code."""
    return re.sub(r"[^A-Za-z0-9 #%(),./:;+_-]", "?", str(text))


def _settings(config: TrainConfig, weights: str, run: runs.Run | None) -> str:
    """The lines between the markers: the run's values, then its network and optimizer as PyTorch calls."""
    accuracy = run.accuracy if run is not None else None
    what = f"Run #{_literal(run.id, int)}" if run is not None else "A network"
    title = f"{what} from the Deep Learning Playground: {config.model.summary()} on {config.dataset}"
    if accuracy is not None:
        title += f", test accuracy {accuracy:.2%}."
    when = f"trained {time.strftime('%Y-%m-%d %H:%M', time.localtime(run.created))}" if run is not None else "not trained yet"
    test_split = data.status(config.dataset).test_source if accuracy is not None else ""
    dataset = data.info(config.dataset)
    lines = [
        f"# {_plain(what)}, {when}: its data, settings and network.",
        f"TITLE = {_literal(title, str)}",
        f"DATASET = {_literal(config.dataset, str)}",
        f"FOLDERS = ({IDX_FOLDER[config.dataset]!r}, {TORCHVISION[config.dataset] + '/raw'!r})  # where IDX files may sit in --data",
        f"TORCHVISION_DATASET = {TORCHVISION[config.dataset]!r}",
        f"IMAGE_SIZE, NUM_CLASSES = {IMAGE_SIZE!r}, {NUM_CLASSES!r}  # 28x28 grayscale images of 10 classes",
        f"MEAN, STD = {dataset.mean!r}, {dataset.std!r}  # of the training pixels, used to normalise every image",
        f"SEED, BATCH_SIZE, EPOCHS = {_literal(config.seed, int)}, {_literal(config.batch_size, int)}, "
        f"{_literal(config.epochs, int)}",
        f"LR = {_literal(config.lr, float)}",
        f"SCHEDULE = {_literal(config.schedule, str)}  # one of make_schedule()'s names below",
        f"LOSS = {_literal(config.loss, str)}  # one of LOSS_FUNCTIONS below",
        f"EVAL_BATCH = {evaluate.EVAL_BATCH!r}",
        f"WEIGHTS = {_literal(weights, str)}",
        f"EXPECTED_ACCURACY = {_literal(accuracy, float) if accuracy is not None else None}",
        f"TEST_SPLIT = {_literal(test_split or 'its test split', str)}",
        f"CHECKPOINT_FORMAT = {runs.CHECKPOINT_FORMAT!r}",
        f"CONFIG_JSON = {config.to_json()!r}  # stored in saved weights, so the playground can import them",
        "",
        "",
        "def build() -> nn.Sequential:",
        '    """The network, layer by layer: what each layer outputs for one image, and what it learns."""',
        "    return nn.Sequential(",
        *(f"        {code},  # {comment}" for code, comment in network_code(config)),
        "    )",
        "",
        "",
        "def make_optimizer(parameters) -> torch.optim.Optimizer:",
        f"    return {optimizer_code(config)}",
    ]
    return "\n".join(lines)


def network_code(config: TrainConfig) -> list[tuple[str, str]]:
    """(PyTorch constructor call, comment) for each layer of the network dlcore builds, in order."""
    rows = models.describe(config.model, config.dataset)
    result = []
    for row, module in zip(rows, models.build(config.model, config.dataset)):
        if isinstance(module, nn.Conv2d):  # its repr prints padding='valid' without quotes
            code = f"nn.Conv2d({module.in_channels}, {module.out_channels}, kernel_size={module.kernel_size[0]}, padding={module.padding!r})"
        elif type(module).__module__ == standalone.__name__:  # the script's own layers (recurrent, attention)
            code = f"{type(module).__name__}({module.extra_repr()})"
        else:
            code = f"nn.{module!r}"
        shape = "x".join(str(size) for size in row.output_shape)
        learns = f", {row.parameters:,} parameters" if row.parameters else ""
        result.append((code, _plain(f"{row.name}: {shape}{learns}")))
    return result


def optimizer_code(config: TrainConfig) -> str:
    """The optimizer dlcore makes for a config, as a call naming only the arguments that differ from PyTorch's defaults."""
    optimizer = optim.make_optimizer(config, [torch.zeros(1, requires_grad=True) for _ in range(2)])  # a network's several tensors
    signature = inspect.signature(type(optimizer).__init__).parameters
    arguments = ["lr=LR"] + [
        f"{key}={value!r}" for key, value in optimizer.defaults.items()
        if key != "lr" and key in signature and signature[key].default != value
    ]
    return f"torch.optim.{type(optimizer).__name__}(parameters, {', '.join(arguments)})"


# ---- import --------------------------------------------------------------------------------------

def import_weights(content: bytes, filename: str, config_json: str | bytes | None = None, student: str = "",
                   store: runs.RunStore | None = None, *, owner: str = jobs.LOCAL, teacher: bool = False) -> int:
    """Check uploaded weights (and their config, when the file lacks one), score them, and record them as a run.

    Accepted: a .safetensors file, or a zip this page exported. Refused, each with one sentence: anything over
    the size limit, pickles (.pt/.pth/.pkl, which can run code when loaded), weights that do not fit the config,
    weights over the owner's or the server's disk budget (jobs.disk_budget; weights someone already kept are
    stored once, but count for each import). One import is read at a time on a server; the next waits its turn
    (see IMPORT_WAIT_SECONDS).
    """
    check_size(len(content), filename)
    if not _one_import.acquire(timeout=IMPORT_WAIT_SECONDS):
        raise DLCoreError("Other imports are being read on this server; try yours again in a minute.")
    try:
        return _import(content, filename, config_json, student, store, owner, teacher)
    finally:
        _one_import.release()


def _import(content: bytes, filename: str, config_json: str | bytes | None, student: str,
            store: runs.RunStore | None, owner: str, teacher: bool) -> int:
    """import_weights' work, done while it holds the server's one import."""
    archive = None
    if content[:4] == b"PK\x03\x04":
        content, config_json, archive = _from_zip(content, filename, config_json)
    store = store or jobs.job_manager().store
    budget = jobs.disk_budget(store, owner, teacher)
    store.check_room(owner, len(content), budget)  # before any work: what is kept is about the upload's size
    config = None
    if config_json:
        text = config_json.decode("utf-8", "replace") if isinstance(config_json, bytes) else config_json
        config = TrainConfig.from_json(text)
        _bring_drawings(config.dataset, archive, filename)
        validation.validate(config)
    model, config = runs.load_checkpoint_bytes(content, config)
    validation.validate(config)
    if not all(torch.isfinite(tensor).all() for tensor in model.state_dict().values() if tensor.is_floating_point()):
        raise DLCoreError(f"{filename} holds NaN or infinite weights, so it would predict nothing useful; export it again.")
    scored = _score(model, config)
    kept = runs.checkpoint_bytes(model, config)
    run_id = store.create(config, student, status="running", sender=owner, reserve=len(kept), budget=budget)
    checkpoint = store.keep_checkpoint(run_id, kept)
    if scored is None:
        how = f"; {config.dataset} is not here to score it."
    elif scored[1] < scored[2]:
        how = f"; scored on {scored[1]:,} of the {scored[2]:,} test images."
    else:
        how = "."
    results = scored[0] if scored else None
    note = f"{IMPORT_NOTE} {Path(filename).name}{how}"
    store.update(run_id, status="done", message=note, results=results, checkpoint=str(checkpoint))
    return run_id


def check_size(size: int, filename: str) -> None:
    """Refuse weights over the limit before reading them; the limit admits the largest network the limits allow."""
    if size > MAX_IMPORT_BYTES:
        raise DLCoreError(f"{filename} is {size / 2**20:.1f} MiB, over the {MAX_IMPORT_BYTES // 2**20} MiB limit for weights.")


def _from_zip(content: bytes, filename: str, config_json) -> tuple[bytes, str | bytes | None, zipfile.ZipFile]:
    """The weights (and config) inside an exported zip, and the zip for what else it holds; a torch.save zip is a
    pickle and is refused."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = {PurePosixPath(info.filename): info for info in archive.infolist()}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise DLCoreError(f"{filename} is a damaged zip file; download the export again.") from exc
    if any(path.suffix == ".pkl" for path in members):
        raise DLCoreError(f"{filename} is a pickled PyTorch file (torch.save), refused because loading it can run code; "
                          "save the weights with safetensors instead.")
    weights = [path for path in members if path.suffix == ".safetensors"]
    if len(weights) != 1:
        raise DLCoreError(f"{filename} should hold exactly one .safetensors file, as the playground's exports do; it holds {len(weights)}.")
    configs = [path for path in members if path.name.endswith("-config.json")]
    if config_json is None and len(configs) == 1:
        config_json = _unpack(archive, members[configs[0]], filename, MAX_CONFIG_BYTES, "a config")
    return _unpack(archive, members[weights[0]], filename, MAX_IMPORT_BYTES, "weights"), config_json, archive


def _bring_drawings(dataset: str, archive: zipfile.ZipFile | None, filename: str) -> None:
    """Keep the class's drawings a run was trained on from its zip when this server lacks them, so the import knows
    its classes and is scored on their test split; drawings already here are used as they are."""
    if not dataset.startswith(drawings.PREFIX) or data.status(dataset).available:
        return
    members = archive.infolist() if archive else []
    found = [member for member in members if PurePosixPath(member.filename).name == f"{dataset}.npz"]
    if not found:
        raise DLCoreError(f"{filename} was trained on the class's drawings, which are not in this file; export it again "
                          "from a playground that has them.")
    drawings.keep_file(dataset, _unpack(archive, found[0], filename, drawings.MAX_FILE_BYTES, "the drawings"))


INFLATABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)  # what zipfile reads


def _unpack(archive: zipfile.ZipFile, member: zipfile.ZipInfo, filename: str, limit: int, what: str) -> bytes:
    """A member's bytes, inflated chunk by chunk and stopped past the limit: the sizes a zip declares are the
    uploader's word, and a small zip can inflate to gigabytes."""
    if member.flag_bits & 0x1:
        raise DLCoreError(f"{filename} is password-protected; export it again without a password.")
    if member.compress_type not in INFLATABLE:
        raise DLCoreError(f"{filename} is compressed in a way this server cannot read; zip it again with the usual "
                          "(deflate) compression, or upload the .safetensors file itself.")
    content = bytearray()
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(READ_CHUNK):
                content += chunk
                if len(content) > limit:
                    raise DLCoreError(f"{filename} unpacks to more than the {limit // 2**20} MiB limit for {what}.")
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError) as exc:  # a bad CRC, truncated data
        raise DLCoreError(f"{filename} is a damaged zip file ({PurePosixPath(member.filename).name} fails its check); "
                          "download the export again.") from exc
    return bytes(content)


def _score(model: nn.Module, config: TrainConfig) -> tuple[evaluate.Evaluation, int, int] | None:
    """(results, images scored, test images) when the dataset is on this server.

    A stranger's network can cost seconds per hundred images, so it is scored on a fixed subset sized from its
    cost per image (scoring_count); the mistakes keep their indices in the whole test split.
    """
    if config.model.agent:  # an agent is scored by its greedy episodes, as its run was
        episodes = reinforcement.env_of(config.dataset).eval_episodes
        return reinforcement.evaluate(model, config, episodes), episodes, episodes
    if not data.status(config.dataset).available:
        return None
    _, _, test_x, test_y = devices.tensors_on(data.load(config.dataset), torch.device("cpu"))
    total = len(test_y)
    count = scoring_count(config, total)
    subset = torch.randperm(total, generator=torch.Generator().manual_seed(0))[:count].sort().values
    with torch.inference_mode():
        if isinstance(model, generative.AutoEncoder):
            generative.use_dataset(model, config.dataset)
            return generative.evaluate(model, test_x[subset]), count, total
        results = evaluate.evaluate(model, test_x[subset], test_y[subset])
    mistakes = [(int(subset[i]), true, predicted) for i, true, predicted in results.misclassified]
    return dataclasses.replace(results, misclassified=mistakes), count, total


def scoring_count(config: TrainConfig, total: int) -> int:
    """How many test images an import is scored on: as many as SCORE_MACS pays for, from the multiply-adds one
    image costs."""
    return min(total, max(SCORE_AT_LEAST, SCORE_MACS // max(models.multiply_adds(config.model, config.dataset), 1)))
