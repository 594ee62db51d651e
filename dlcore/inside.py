"""Inside a network: what each layer makes of one digit, its weights as pictures, how they changed over training
(a compact snapshot per epoch, kept in the runs store), a strip of test digits read while it trains, and where
test digits lie in its last hidden layer.

Every cost here is capped so that the largest network the limits allow stays cheap to show and to store.
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from . import caches, data, evaluate, generative, models, predict, reinforcement, sequences
from .config import IMAGE_SIZE, NUM_CLASSES, DLCoreError, TrainConfig, standardize
from .loop import INIT_LOCK
from .standalone import Recurrent

TOP_UNITS = 5  # units or channels named per layer, strongest first
MAX_FILTERS = 32  # conv filters kept per layer in a snapshot
MAX_FILTER_INPUTS = 8  # input channels kept per filter (a first conv layer has one)
MAX_PICTURES = 36  # first-dense-layer units kept as 28x28 pictures (a 6x6 grid)
MAX_SNAPSHOTS = 40  # per run: longer runs keep every k-th epoch, and the last
HISTOGRAM_BINS = 30
# Per-unit gradient norms are binned on fixed log10 edges, so epochs and layers compare: a dying layer piles up on
# the left, an exploding one on the right.
GRADIENT_LOG10 = (-8.0, 2.0)
STRIP_PER_CLASS = 2  # the live strip: two test digits of each class
STRIP_SECONDS = 2.0  # how often a training run reads its strip again
WATCH_SHARE = 0.1  # of a run's time, the most its live view may take: a text transformer's shows every 15 s
MAP_PER_CLASS = 100  # an autoencoder's live map: the 1,000 test digits each epoch is scored on (loop.EPOCH_TEST_IMAGES)
# Test digits placed in the embedding: the first 100 of each class, the 1,000 each epoch is scored on. 2,000 spread
# over the split took 15 s to place for the CNN preset on a busy server, and drew the same picture.
EMBED_POINTS = 1000
EMBED_MACS = 4e10  # multiply-adds one embedding may cost; bigger networks place fewer digits (at least 200)
EMBEDDINGS_BYTES = 64 * 2**20  # embeddings kept for every session: at most 2.5 MB each (a wide CNN's axes)
START_PICTURES_BYTES = 16 * 2**20  # pictures of first weights kept for every session: at most 200 kB each


# ---- a digit's path ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerOutput:
    """What one layer gave for one input, and which of its channels or units fired most."""

    name: str
    shape: tuple[int, ...]  # without the batch dimension: (C, H, W) for maps, (steps, units) for a recurrent
    # network's rows and states, (units,) otherwise
    values: np.ndarray  # float32, of that shape
    order: np.ndarray  # channel or unit indices, strongest first (maps by their mean, units over steps by theirs)

    @property
    def is_maps(self) -> bool:
        return len(self.shape) == 3

    @property
    def is_steps(self) -> bool:
        return len(self.shape) == 2

    def strengths(self) -> np.ndarray:
        return _strengths(self.values)

    def top_units(self, count: int = TOP_UNITS) -> list[dict]:
        strength = self.strengths()
        return [{"unit": int(i), "value": round(float(strength[i]), 4)} for i in self.order[:count]]


@dataclass(frozen=True)
class DigitPath:
    layers: list[LayerOutput]  # in order, the output layer's logits last
    probabilities: list[float]
    prediction: int
    step: str = "row"  # what a layer of steps has a state after: a recurrent network's row, a transformer's token

    @property
    def features(self) -> np.ndarray:
        """The last hidden layer's output (the output layer's input): where the digit sits in the embedding."""
        return self.layers[-2].values.reshape(-1)

    def to_dict(self) -> dict:
        return {"prediction": self.prediction, "probabilities": [round(p, 6) for p in self.probabilities],
                "layers": [{"name": layer.name, "shape": list(layer.shape), "top_units": layer.top_units()}
                           for layer in self.layers]}


def layers(model: nn.Module) -> list[nn.Module]:
    """A network's layers in its layer table's order: a classifier's own, an autoencoder's encoder then decoder, a
    GAN's generator then discriminator."""
    if isinstance(model, generative.AutoEncoder):
        return [*model.encoder, *model.decoder]
    if isinstance(model, generative.GAN):
        return [*model.generator, *model.discriminator]
    return list(model)


def layer_names(model: nn.Module, config: TrainConfig) -> list[str]:
    names = [row.name for row in models.describe(config.model, config.dataset)]
    if len(names) != len(layers(model)):
        raise DLCoreError("The weights do not match the network their run describes.")
    return names


@torch.inference_mode()
def trace(model: nn.Sequential, config: TrainConfig, normalized: np.ndarray) -> DigitPath:
    """Every layer's output for one normalised 28x28 input, by stepping through the layers in order.

    Not forward hooks: one loaded model serves every session at once, and a hook would catch the others' passes.
    """
    x = torch.from_numpy(np.ascontiguousarray(normalized, dtype=np.float32)).reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    layers = []
    for name, module in zip(layer_names(model, config), model):
        x = module(x)
        values = x[0].float().numpy()
        layers.append(LayerOutput(name, tuple(values.shape), values, np.argsort(-_strengths(values), kind="stable")))
    probabilities = torch.softmax(x[0].float(), dim=0)
    return DigitPath(layers, probabilities.tolist(), int(probabilities.argmax()),
                     "token" if config.model.attention else "row")


def _strengths(values: np.ndarray) -> np.ndarray:
    """How strongly each channel or unit fired: a map's mean, a unit's mean over the steps, or its value."""
    if values.ndim == 3:
        return values.reshape(values.shape[0], -1).mean(axis=1)
    return values.mean(axis=0) if values.ndim == 2 else values


def normalized(image: np.ndarray, dataset: str) -> np.ndarray:
    """A 28x28 picture in [0, 255] (a test digit, or a drawing already made MNIST-style) as a model of `dataset`
    takes it."""
    info = data.info(dataset)
    return standardize(np.asarray(image, dtype=np.float32), info.mean, info.std)


def test_digit(dataset: str, label: int, nth: int) -> tuple[np.ndarray, int]:
    """The nth (from 0) test image of class `label`, and its position in the test split; nth wraps around."""
    labels = data.load(dataset).test_labels.numpy()
    positions = np.flatnonzero(labels == label)
    if not 0 <= label < NUM_CLASSES or not len(positions):
        raise DLCoreError(f"The test split has no images of class {label}.")
    index = int(positions[nth % len(positions)])
    return data.test_images(dataset, [index])[0], index


def class_count(dataset: str, label: int) -> int:
    return int((data.load(dataset).test_labels == label).sum())


# ---- weights as pictures -------------------------------------------------------------------------

@dataclass(frozen=True)
class Pictures:
    """A layer's weights as small images: first-dense units as 28x28, or conv filters as (inputs, k, k)."""

    layer: str
    images: np.ndarray  # float32 (n, 28, 28) for dense units, (n, inputs, k, k) for filters
    total: int  # units or filters the layer has; images holds the first `len(images)`
    inputs: int = 1  # input channels each filter has; images holds the first images.shape[1]

    @property
    def is_filters(self) -> bool:
        return self.images.ndim == 4

    @property
    def largest(self) -> float:
        """The largest magnitude among the images: where a colour scale centred on zero ends."""
        return float(np.abs(self.images).max()) if self.images.size else 0.0


def pictures(model: nn.Module, config: TrainConfig) -> list[Pictures]:
    """Every conv layer's filters, and for an MLP the first dense layer's units as 28x28 pictures, capped."""
    found = []
    for name, module in zip(layer_names(model, config), layers(model)):
        if isinstance(module, nn.Conv2d):
            weight = module.weight.detach()[:MAX_FILTERS, :MAX_FILTER_INPUTS]
            found.append(Pictures(name, weight.float().cpu().numpy().copy(), module.out_channels, module.in_channels))
        elif isinstance(module, nn.Linear) and module.in_features == IMAGE_SIZE * IMAGE_SIZE and config.model.dense:
            weight = module.weight.detach()[:MAX_PICTURES]
            found.append(Pictures(name, weight.float().cpu().reshape(-1, IMAGE_SIZE, IMAGE_SIZE).numpy().copy(),
                                  module.out_features))
    return found  # copies: a view would keep the whole layer's weights alive wherever the pictures are kept


@caches.bounded(START_PICTURES_BYTES)
def start_pictures(config_json: str) -> list[Pictures]:
    """What a run's network looked like before training (its seed makes the weights again), made once for every
    session; callers must not change it."""
    config = TrainConfig.from_json(config_json)
    return pictures(first_weights(config), config)


def change(found: list[Pictures], start: list[Pictures]) -> list[Pictures]:
    """Each layer's pictures less the same layer's at the random start: what training has changed. The CNN preset's
    first 3x3 filters move by a sixth of their random size in three epochs, too little to see in the weights."""
    return [Pictures(now.layer, now.images - then.images, now.total, now.inputs)
            for now, then in zip(found, start, strict=True)]


def first_weights(config: TrainConfig) -> nn.Sequential:
    """The weights a run started from, made again from its seed as loop.Lane made them; the process's random
    state is left as it was."""
    with INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return models.build(config.model, config.dataset).eval()


# ---- histograms ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Histogram:
    """One layer's weights and per-unit gradient norms at the end of one epoch."""

    layer: str
    weight_counts: list[int]
    weight_range: tuple[float, float]  # the bins split this range evenly
    gradient_counts: list[int]  # on GRADIENT_LOG10's fixed edges; empty when the layer had no gradient
    gradient_norm: float | None  # the whole layer's gradient norm (the epoch's last batch)

    def to_dict(self) -> dict:
        return {"layer": self.layer, "weight_counts": self.weight_counts, "weight_range": list(self.weight_range),
                "gradient_counts": self.gradient_counts, "gradient_norm": self.gradient_norm}

    @classmethod
    def from_dict(cls, item: dict) -> "Histogram":
        return cls(item["layer"], item["weight_counts"], tuple(item["weight_range"]), item["gradient_counts"],
                   item["gradient_norm"])


def histograms(model: nn.Module, config: TrainConfig) -> list[Histogram]:
    """Each conv, dense and recurrent layer's weight values, and the norms of its units' gradients from the last
    batch."""
    found = []
    for name, module in zip(layer_names(model, config), layers(model)):
        weights = _weights(module)
        if weights is None:
            continue
        weight = weights.detach().float()
        low, high = weight.min().item(), weight.max().item()
        if not (math.isfinite(low) and math.isfinite(high)):
            continue  # a diverged layer: nothing to bin
        high = high if high > low else low + 1e-6
        counts = torch.histc(weight, HISTOGRAM_BINS, low, high).to(torch.int64).tolist()
        gradient = weights.grad
        gradient_counts, norm = [], None
        if gradient is not None:
            per_unit = gradient.detach().float().flatten(1).norm(dim=1)
            logs = per_unit.clamp(min=10 ** GRADIENT_LOG10[0]).log10().clamp(max=GRADIENT_LOG10[1])
            gradient_counts = torch.histc(logs, HISTOGRAM_BINS, *GRADIENT_LOG10).to(torch.int64).tolist()
            norm = gradient.detach().float().norm().item()
            norm = norm if math.isfinite(norm) else None
        found.append(Histogram(name, counts, (low, high), gradient_counts, norm))
    return found


def _weights(module: nn.Module) -> torch.Tensor | None:
    """A layer's weights as one tensor whose rows are its units: a conv's or dense layer's own; a recurrent layer's
    matrices side by side, a row per gate unit (with their gradients, when every one has one)."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        return module.weight
    if not isinstance(module, Recurrent):
        return None
    matrices = [p for name, p in module.cell.named_parameters() if name.startswith("weight")]
    joined = torch.cat([matrix.detach() for matrix in matrices], dim=1)
    if all(matrix.grad is not None for matrix in matrices):
        joined.grad = torch.cat([matrix.grad for matrix in matrices], dim=1)
    return joined


def gradient_edges() -> np.ndarray:
    return np.linspace(*GRADIENT_LOG10, HISTOGRAM_BINS + 1)


# ---- snapshots: stored per epoch, compactly ------------------------------------------------------

def keeps(epoch: int, epochs: int) -> bool:
    """Whether a run of `epochs` epochs stores a snapshot after `epoch`: every one, or every k-th and the last, so
    no run keeps more than MAX_SNAPSHOTS."""
    every = math.ceil(epochs / MAX_SNAPSHOTS)
    return epoch % every == 0 or epoch == epochs


def encode(found: list[Pictures]) -> bytes:
    """Pictures as uint8 (each layer scaled between its own min and max) in a safetensors blob: a fraction of a
    float32 copy, and a format that cannot run code when it is read back."""
    tensors, layers = {}, []
    for i, item in enumerate(found):
        low, high = float(item.images.min()), float(item.images.max())
        scale = (high - low) or 1.0
        tensors[str(i)] = torch.from_numpy(np.round((item.images - low) / scale * 255).astype(np.uint8))
        layers.append({"layer": item.layer, "low": low, "high": high, "total": item.total, "inputs": item.inputs})
    return save_tensors(tensors, metadata={"layers": json.dumps(layers)})


def decode(blob: bytes) -> list[Pictures]:
    try:
        tensors = load_tensors(blob)
        header = json.loads(blob[8 : 8 + int.from_bytes(blob[:8], "little")])
        layers = json.loads(header["__metadata__"]["layers"])
    except (SafetensorError, ValueError, KeyError, TypeError) as exc:
        raise DLCoreError("A stored snapshot of this run is damaged; the others can still be shown.") from exc
    found = []
    for i, item in enumerate(layers):
        quantised = tensors[str(i)].numpy().astype(np.float32)
        images = item["low"] + quantised / 255 * (item["high"] - item["low"])
        found.append(Pictures(item["layer"], images, item["total"], item["inputs"]))
    return found


def snapshot(epoch: int, model: nn.Sequential, config: TrainConfig) -> tuple[bytes, str] | None:
    """One epoch's snapshot of a training model (weights as pictures, histograms as JSON), if this epoch keeps one;
    taken where the model trains (between epochs), kept by the app's server."""
    if not keeps(epoch, config.epochs):
        return None
    return encode(pictures(model, config)), json.dumps([item.to_dict() for item in histograms(model, config)])


def stored_histograms(store, run_id: int) -> list[tuple[int, list[Histogram]]]:
    """(epoch, each layer's histogram) for every stored snapshot, oldest first."""
    return [(epoch, [Histogram.from_dict(item) for item in json.loads(text)])
            for epoch, text in store.snapshot_histograms(run_id)]


def stored_pictures(store, run_id: int, epoch: int) -> list[Pictures]:
    blob = store.snapshot_weights(run_id, epoch)
    if blob is None:
        raise DLCoreError(f"Run #{run_id} has no snapshot after epoch {epoch}.")
    return decode(blob)


# ---- the live strip --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Strip:
    """A fixed row of test digits and what the training model made of them last: a classifier's guesses, or an
    autoencoder's drawings of them and, for a 2-D code, where the map's test digits (map_digits) lie; or a GAN's
    drawings from its fixed noise (generative.SAMPLES of them)."""

    images: np.ndarray  # uint8 (n, 28, 28)
    labels: list[int]
    guesses: list[int] | None  # None until the run has read them once, and for an autoencoder
    step: int = 0  # the optimizer step the guesses were made at
    drawn: np.ndarray | None = None  # an autoencoder's: uint8 (n, 28, 28), the digits drawn again from their codes
    codes: np.ndarray | None = None  # and float32 (MAP_PER_CLASS * 10, 2), the map digits' codes

    @property
    def right(self) -> int:
        return sum(g == t for g, t in zip(self.guesses or [], self.labels))


@functools.lru_cache(maxsize=4)
def strip_digits(dataset: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """The first STRIP_PER_CLASS test digits of each class, in class order: the same strip for every run."""
    loaded = data.load(dataset)
    labels = loaded.test_labels.numpy()
    chosen = evaluate.first_of_each_class(loaded.test_labels, STRIP_PER_CLASS).numpy()
    return loaded.test_images[torch.from_numpy(chosen)].numpy(), tuple(int(labels[i]) for i in chosen)


@functools.lru_cache(maxsize=4)
def map_digits(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The test digits an autoencoder's 2-D map shows while it trains, (images uint8, labels): the first
    MAP_PER_CLASS of each class, the same for every run."""
    loaded = data.load(dataset)
    chosen = evaluate.first_of_each_class(loaded.test_labels, MAP_PER_CLASS).sort().values
    return loaded.test_images[chosen].numpy(), loaded.test_labels[chosen].numpy()


def make_strip(dataset: str, reading: tuple | None) -> Strip:
    """The strip from a reading (StripReader.reading): (step, guesses), or (step, (drawings, codes)) as bytes."""
    images, labels = strip_digits(dataset)
    step, found = reading or (0, None)
    if not isinstance(found, tuple):
        return Strip(images, list(labels), found, step)
    drawn, codes = found
    return Strip(images, list(labels), None, step, np.frombuffer(drawn, np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE),
                 np.frombuffer(codes, np.float32).reshape(-1, 2) if codes else None)


class StripReader:
    """Reads the strip with a training model every STRIP_SECONDS, in the loop's thread, between two steps: a
    classifier's guesses at its digits, or an autoencoder's drawings of them and its map's codes."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self._inputs: torch.Tensor | None = None
        self._map: torch.Tensor | None = None  # an autoencoder with a 2-D code: the map digits, standardised
        self._noise: torch.Tensor | None = None  # a GAN's fixed noise
        self._lock = threading.Lock()
        self._guesses: tuple[int, object] | None = None
        self._last = 0.0
        self._cost = 0.0  # seconds the last reading took

    def read(self, model: nn.Module, step: int, now: bool = False, agent=None) -> None:
        """Read the strip if STRIP_SECONDS (a sequence task's view: sequences.LIVE_SECONDS; an agent's:
        reinforcement.LIVE_SECONDS) have passed since the last reading, and readings cost at most WATCH_SHARE of the
        time between them (a text transformer's samples take most of a second), or `now`."""
        if agent is not None:  # what it did, kept as it acted: no digits to read
            wait = reinforcement.LIVE_SECONDS
            if now or time.monotonic() - self._last >= wait:
                self._last = time.monotonic()
                with self._lock:
                    self._guesses = (step, agent.live_view())
            return
        task = sequences.is_task(self.config.dataset)  # no digits: what the task's page shows as it trains
        wait = max(sequences.LIVE_SECONDS if task else STRIP_SECONDS, self._cost / WATCH_SHARE)
        if not now and time.monotonic() - self._last < wait:
            return
        self._last = started = time.monotonic()
        if self._inputs is None and not task:
            info = data.info(self.config.dataset)
            device = next(model.parameters()).device
            images, _ = strip_digits(self.config.dataset)
            self._inputs = standardize(torch.from_numpy(images), info.mean, info.std).unsqueeze(1).to(device)
            if self.config.model.kind in ("ae", "vae") and self.config.model.latent == 2:
                images, _ = map_digits(self.config.dataset)
                self._map = standardize(torch.from_numpy(images), info.mean, info.std).unsqueeze(1).to(device)
        was_training = model.training
        model.eval()  # batch norm's running statistics and no dropout, as the model will be used
        try:
            with torch.no_grad():
                if task:
                    found = sequences.live_view(model, self.config.dataset)
                else:
                    found = self._drawings(model) if self.config.model.generative else \
                        model(self._inputs).argmax(dim=1).cpu().tolist()
        finally:
            model.train(was_training)
        self._cost = time.monotonic() - started
        with self._lock:
            self._guesses = (step, found)

    def _drawings(self, model: nn.Module) -> tuple[bytes, bytes]:
        if isinstance(model, generative.GAN):  # its samples from the same noise every time
            if self._noise is None:
                self._noise = generative.fixed_noise(generative.SAMPLES, model.latent).to(self._inputs.device)
            return (model.sample(self._noise) * 255).round().to(torch.uint8).cpu().numpy().tobytes(), b""
        drawn = (model.decode(model.encode(self._inputs)[0]) * 255).round().to(torch.uint8).cpu().numpy().tobytes()
        codes = model.encode(self._map)[0].float().cpu().numpy().tobytes() if self._map is not None else b""
        return drawn, codes

    def guesses(self) -> tuple[int, object] | None:
        """(step, what the model made of the digits) of the latest reading: all a worker sends, the server has the
        digits (make_strip)."""
        with self._lock:
            return self._guesses

    def strip(self) -> Strip:
        return make_strip(self.config.dataset, self.guesses())


# ---- where digits live -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Embedding:
    """Test digits' last-hidden-layer features projected on their first two principal components."""

    points: np.ndarray  # (n, 2)
    labels: np.ndarray  # (n,) true classes
    predicted: np.ndarray  # (n,)
    indices: np.ndarray  # (n,) positions in the test split
    mean: np.ndarray  # (features,)
    axes: np.ndarray  # (features, 2)
    explained: tuple[float, float]  # the share of the features' variance each axis keeps

    def project(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=np.float32).reshape(-1) - self.mean) @ self.axes

    @property
    def misread(self) -> np.ndarray:
        return self.labels != self.predicted

    def misread_nearer_their_reading(self) -> float:
        """Of the misread digits, the share that lie nearer the centre of the class they were read as than of their
        own: they sit among the other class, which is why the model read them so."""
        wrong = np.flatnonzero(self.misread)
        if not len(wrong):
            return 0.0
        centres = np.stack([self.points[self.labels == c].mean(axis=0) if (self.labels == c).any() else
                            np.full(2, np.inf) for c in range(NUM_CLASSES)])
        distance = np.linalg.norm(self.points[wrong, None, :] - centres[None], axis=2)
        rows = np.arange(len(wrong))
        return float((distance[rows, self.predicted[wrong]] < distance[rows, self.labels[wrong]]).mean())


def multiply_adds(config: TrainConfig) -> int:
    """One image's forward pass, in multiply-adds, from the layer table alone."""
    total = 0
    for row in models.describe(config.model, config.dataset):
        area = row.output_shape[1] * row.output_shape[2] if len(row.output_shape) == 3 else 1
        total += row.parameters * area
    return total


def embed_count(config: TrainConfig) -> int:
    return int(min(EMBED_POINTS, max(200, EMBED_MACS // max(multiply_adds(config), 1))))


@caches.bounded(EMBEDDINGS_BYTES)
def shared_embedding(checkpoint: str) -> Embedding:
    """A finished run's embedding (seconds of work for a large network), made once for every session."""
    classifier = predict.shared(checkpoint)
    return embedding(classifier.model, classifier.config)


def run_embedding(store, run) -> Embedding:
    """The embedding the run's own worker made as it finished (runs.RunStore.add_embedding); for a run without one
    (imported, or trained before they were kept) it is made here, once for every session."""
    stored = store.embedding_bytes(run.id)
    if stored is not None:
        try:
            return embedding_from_bytes(stored)
        except DLCoreError:
            pass  # a damaged row: made again from the weights
    return shared_embedding(run.checkpoint)


_EMBEDDING_ARRAYS = ("points", "labels", "predicted", "indices", "mean", "axes")


def embeds(config: TrainConfig) -> bool:
    """Whether a run's test digits have a place in its last hidden layer to show: a classifier's of digits (not an
    autoencoder's or a GAN's, nor a sequence task's or an agent's, which read no digits)."""
    return not config.model.generative and not config.model.agent and not sequences.is_task(config.dataset)


def embedding_bytes(model: nn.Sequential, config: TrainConfig) -> bytes:
    """The embedding as safetensors bytes: what a worker sends back with a finished run's weights."""
    made = embedding(model, config)
    tensors = {name: torch.from_numpy(np.ascontiguousarray(getattr(made, name))) for name in _EMBEDDING_ARRAYS}
    return save_tensors({**tensors, "explained": torch.tensor(made.explained, dtype=torch.float64)})


def embedding_from_bytes(data: bytes) -> Embedding:
    try:
        tensors = load_tensors(data)
        arrays = {name: tensors[name].numpy() for name in _EMBEDDING_ARRAYS}
        explained = tuple(float(v) for v in tensors["explained"].tolist())
    except (SafetensorError, KeyError, RuntimeError, ValueError) as exc:
        raise DLCoreError(f"The stored embedding cannot be read ({exc}).") from None
    count = len(arrays["labels"])
    if (arrays["points"].shape != (count, 2) or any(len(arrays[n]) != count for n in ("predicted", "indices"))
            or arrays["axes"].shape != (len(arrays["mean"]), 2) or len(explained) != 2):
        raise DLCoreError("The stored embedding's arrays do not fit together.")
    return Embedding(**arrays, explained=(explained[0], explained[1]))


@torch.inference_mode()
def embedding(model: nn.Sequential, config: TrainConfig) -> Embedding:
    """Test digits (the first embed_count / 10 of each class) through every layer but the output, in batches that fit
    a CPU's cache, then torch.pca_lowrank; the process's random state is left as it was."""
    loaded = data.load(config.dataset)
    chosen = evaluate.first_of_each_class(loaded.test_labels, embed_count(config) // NUM_CLASSES).sort().values
    indices = chosen.numpy()
    hidden, output = model[:-1], model[-1]
    features = evaluate.predict_logits(hidden, loaded.normalized(loaded.test_images[chosen])).flatten(1)
    predicted = output(features).argmax(dim=1)
    mean = features.mean(dim=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        _, singular, axes = torch.pca_lowrank(features, q=min(4, *features.shape), center=True, niter=4)
    if axes.shape[1] < 2:  # a last hidden layer of one unit has one direction
        axes, singular = torch.cat([axes, torch.zeros(len(axes), 1)], dim=1), torch.cat([singular, torch.zeros(1)])
    axes = axes[:, :2] * torch.where(axes[:, :2].sum(dim=0) < 0, -1.0, 1.0)  # the same orientation every time
    total = (features - mean).square().sum().clamp(min=1e-12)
    explained = (singular[:2].square() / total).tolist()
    return Embedding(((features - mean) @ axes).numpy(), loaded.test_labels[chosen].numpy(), predicted.numpy(),
                     indices, mean.numpy(), axes.numpy(), (explained[0], explained[1]))
