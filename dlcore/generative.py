"""Generative models: autoencoders and variational autoencoders that learn to draw digits, not to name them.

An autoencoder squeezes a digit through a code of a few numbers and draws it again from the code alone; a VAE's
encoder gives each digit a spread around its code as well as its place, and a KL term pulls every code towards one
bell curve, so that anywhere on its map decodes to something like a digit (an autoencoder's map has holes). Both are
ModelSpecs of their own kinds, so a run of one is a run like any other: the one loop trains it with the objective
the model gives (model.objective), the job API runs it in a worker, and the runs store, export and import keep it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import activations, caches, data
from .config import IMAGE_SIZE, MNIST_STATS, PIXEL_STATS, DenseLayer, DLCoreError, ModelSpec, TrainConfig
from .evaluate import Evaluation

PIXELS = IMAGE_SIZE * IMAGE_SIZE
LOG_VAR_RANGE = (-20.0, 10.0)  # a VAE's log-variance, kept where exp() neither vanishes nor overflows
SCORE_BATCH = 1000  # test digits encoded at once: an MLP's activations for 1,000 digits are a few MB
KNN_NEIGHBOURS = 5  # the latent map's k-NN accuracy: how well a digit's code alone says its class
PRESETS: dict[str, ModelSpec] = {
    # The course's autoencoder: 784-256-64, mirrored, sigmoid out.
    "autoencoder": ModelSpec("ae", dense=(DenseLayer(256),), latent=64),
    # Keras' VAE example's shape on a 2-D code: a map of the digits that can be drawn and read.
    "vae-2d": ModelSpec("vae", dense=(DenseLayer(256),), latent=2),
    "ae-2d": ModelSpec("ae", dense=(DenseLayer(256),), latent=2),
}


class AutoEncoder(nn.Module):
    """encoder: standardised digit (N, 1, 28, 28) -> code (N, latent), or for a VAE its mean and log-variance
    (N, 2 * latent); decoder: code -> 784 pixel logits. forward() gives the reconstruction's logits from the code (a
    VAE's mean), as a classifier gives its logits, so every layer can be traced the same way."""

    def __init__(self, encoder: nn.Sequential, decoder: nn.Sequential, latent: int, variational: bool, beta: float):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.latent, self.variational, self.beta = latent, variational, beta
        self.pixel_stats = MNIST_STATS  # the dataset's (mean, std): what undoes the standardising for the targets

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The code's mean (an autoencoder's code) and, for a VAE, its log-variance."""
        code = self.encoder(x)
        if not self.variational:
            return code, None
        mean, log_var = code.chunk(2, dim=1)
        return mean, log_var.clamp(*LOG_VAR_RANGE)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1], (N, 28, 28), drawn from codes (N, latent)."""
        return torch.sigmoid(self.decoder(code)).view(-1, IMAGE_SIZE, IMAGE_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x)[0])

    def targets(self, x: torch.Tensor) -> torch.Tensor:
        """The pixels in [0, 1] a reconstruction is scored against: the digit before standardising."""
        mean, std = self.pixel_stats
        return (x.flatten(1) * std + mean).clamp(0.0, 1.0)

    def terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The reconstruction's binary cross-entropy and the KL term (0 for an autoencoder), each summed over a
        digit's pixels or code and averaged over the batch. Training draws a VAE's code from its spread (the
        reparameterisation trick); scoring decodes its mean, so a score is the same every time."""
        mean, log_var = self.encode(x)
        code = mean
        if log_var is not None and self.training:
            code = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
        bce = F.binary_cross_entropy_with_logits(self.decoder(code), self.targets(x), reduction="sum") / len(x)
        if log_var is None:
            return bce, torch.zeros((), device=x.device)
        kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp()) / len(x)
        return bce, kl

    def objective(self, x: torch.Tensor) -> torch.Tensor:
        """What the loop minimises: the reconstruction's cross-entropy, plus beta times the KL term for a VAE."""
        bce, kl = self.terms(x)
        return bce + self.beta * kl if self.variational else bce


def use_dataset(model: nn.Module, dataset: str) -> None:
    """Tell an autoencoder which dataset's standardising to undo for its targets (a classifier needs nothing)."""
    if isinstance(model, AutoEncoder):
        model.pixel_stats = PIXEL_STATS.get(dataset, MNIST_STATS)


def validate(spec: ModelSpec) -> None:
    if spec.conv:
        raise DLCoreError("An autoencoder here is made of dense layers; remove its conv blocks.")


def _dense_stack(layers: tuple[DenseLayer, ...], features: int, prefix: str, add) -> int:
    """Add one hidden dense layer per entry (with its batch norm, activation and dropout); returns the width out."""
    for i, layer in enumerate(layers, 1):
        shape = (layer.units,)
        add(f"{prefix} dense{i} {layer.units}", shape, features * layer.units + layer.units,
            lambda f=features, u=layer.units: nn.Linear(f, u))
        if layer.batch_norm:
            add(f"{prefix} batchnorm{i}", shape, 2 * layer.units, lambda u=layer.units: nn.BatchNorm1d(u))
        add(f"{prefix} {layer.activation}", shape, 0, activations.get(layer.activation).module)
        if layer.dropout > 0:
            add(f"{prefix} dropout {layer.dropout:g}", shape, 0, lambda p=layer.dropout: nn.Dropout(p))
        features = layer.units
    return features


def plan(spec: ModelSpec) -> tuple[list, list]:
    """The encoder's and the decoder's layers in order, each (name, output shape, parameters, make): models.py
    describes and builds a network from them, so the layer table and the network never disagree."""
    encoder: list = []
    decoder: list = []
    encoder.append(("flatten", (PIXELS,), 0, nn.Flatten))
    features = _dense_stack(spec.dense, PIXELS, "encoder", lambda *row: encoder.append(row))
    code = 2 * spec.latent if spec.kind == "vae" else spec.latent
    name = f"code {spec.latent}: mean and log-variance" if spec.kind == "vae" else f"code {spec.latent}"
    encoder.append((name, (code,), features * code + code, lambda f=features, c=code: nn.Linear(f, c)))
    features = _dense_stack(tuple(reversed(spec.dense)), spec.latent, "decoder", lambda *row: decoder.append(row))
    decoder.append((f"output {PIXELS} (sigmoid)", (PIXELS,), features * PIXELS + PIXELS,
                    lambda f=features: nn.Linear(f, PIXELS)))
    return encoder, decoder


def build(spec: ModelSpec) -> AutoEncoder:
    encoder, decoder = plan(spec)
    return AutoEncoder(nn.Sequential(*(row[3]() for row in encoder)), nn.Sequential(*(row[3]() for row in decoder)),
                       spec.latent, spec.kind == "vae", spec.beta)


# ---- scoring and what the page shows ------------------------------------------------------------------

def _batches(images: torch.Tensor):
    for first in range(0, len(images), SCORE_BATCH):
        yield images[first : first + SCORE_BATCH]


@torch.inference_mode()
def evaluate(model: AutoEncoder, images: torch.Tensor, on_batch=None) -> Evaluation:
    """A model's score on standardised test digits, as the loop keeps every model's: its loss is the objective
    per digit (the code's mean decoded); there are no classes to get right, so no accuracy."""
    model.eval()
    total, batches = 0.0, -(-len(images) // SCORE_BATCH)
    for done, batch in enumerate(_batches(images), 1):
        bce, kl = model.terms(batch)
        total += float(bce + model.beta * kl if model.variational else bce) * len(batch)
        if on_batch is not None:
            on_batch(done, batches)
    return Evaluation(accuracy=float("nan"), loss=total / max(len(images), 1), per_class=[], confusion=[],
                      misclassified=[])


@torch.inference_mode()
def reconstruction_bce(model: AutoEncoder, images: torch.Tensor) -> float:
    """The reconstruction's binary cross-entropy per digit (summed over its 784 pixels), from the code's mean."""
    model.eval()
    total = sum(float(model.terms(batch)[0]) * len(batch) for batch in _batches(images))
    return total / max(len(images), 1)


@torch.inference_mode()
def codes(model: AutoEncoder, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
    """Each digit's code (a VAE's mean), (N, latent), and a VAE's spread (standard deviations), else None."""
    model.eval()
    means, spreads = [], []
    for batch in _batches(images):
        mean, log_var = model.encode(batch)
        means.append(mean)
        if log_var is not None:
            spreads.append((0.5 * log_var).exp())
    mean = torch.cat(means).numpy() if means else np.zeros((0, model.latent), np.float32)
    return mean, (torch.cat(spreads).numpy() if spreads else None)


def knn_accuracy(train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray, test_labels: np.ndarray,
                 k: int = KNN_NEIGHBOURS) -> float:
    """The share of test digits whose k nearest training codes mostly share their class (ties to the nearest):
    how much of a digit's class its code keeps, though the model never saw a label."""
    if not len(test_codes):
        return float("nan")
    train = torch.from_numpy(np.ascontiguousarray(train_codes, dtype=np.float32))
    labels = torch.from_numpy(np.asarray(train_labels, dtype=np.int64))
    k = min(k, len(train))
    right = 0
    for first in range(0, len(test_codes), SCORE_BATCH):
        test = torch.from_numpy(np.ascontiguousarray(test_codes[first : first + SCORE_BATCH], dtype=np.float32))
        nearest = torch.cdist(test, train).topk(k, largest=False).indices  # nearest first
        votes = F.one_hot(labels[nearest], 10).float()
        votes += torch.linspace(1e-3, 0, k).view(1, k, 1)  # a tie goes to the class of the nearer neighbour
        guesses = votes.sum(1).argmax(1)
        right += int((guesses.numpy() == np.asarray(test_labels[first : first + SCORE_BATCH])).sum())
    return right / len(test_codes)


def latent_knn_accuracy(model: AutoEncoder, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                        test_y: torch.Tensor) -> float:
    """knn_accuracy of the test digits' codes among the training digits' (a VAE's means)."""
    return knn_accuracy(codes(model, train_x)[0], train_y.numpy(), codes(model, test_x)[0], test_y.numpy())


@torch.inference_mode()
def decode(model: AutoEncoder, points: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1], (N, 28, 28) float32, drawn from codes (N, latent)."""
    model.eval()
    return model.decode(torch.as_tensor(np.asarray(points, dtype=np.float32))).numpy()


def grid_codes(span: float, cells: int) -> np.ndarray:
    """cells x cells points of a 2-D code evenly over [-span, span] on each axis, rows from the top (y falls)."""
    axis = np.linspace(-span, span, cells, dtype=np.float32)
    xs, ys = np.meshgrid(axis, axis[::-1])
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def morph(model: AutoEncoder, start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """The digits drawn along the straight line between two codes, both ends included: (steps, 28, 28)."""
    share = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return decode(model, (1 - share) * np.asarray(start, np.float32) + share * np.asarray(end, np.float32))


def lesson(spec: ModelSpec) -> str:
    """One line on what the model learns, for the page and the CLI."""
    if spec.kind == "vae":
        return (f"A variational autoencoder: each digit becomes a spread around a point in {spec.latent} "
                f"dimension{'s' if spec.latent > 1 else ''}, and the decoder draws it again from a point of that spread.")
    return f"An autoencoder: each digit is squeezed into {spec.latent} number{'s' if spec.latent > 1 else ''} and drawn again from them alone."



def measures(model: AutoEncoder, dataset: str) -> dict:
    """What a finished autoencoder is judged by: its reconstructions' cross-entropy per test digit, and how well its
    test digits' codes say their class among the training digits' (k-NN)."""
    loaded = data.load(dataset)
    use_dataset(model, dataset)
    train_x, test_x = loaded.normalized(loaded.train_images), loaded.normalized(loaded.test_images)
    return {"reconstruction_bce": reconstruction_bce(model, test_x),
            "latent_knn_accuracy": latent_knn_accuracy(model, train_x, loaded.train_labels, test_x, loaded.test_labels)}


# ---- a finished run, as the page shows it ------------------------------------------------------------------

SHARED_BYTES = 256 * 2**20  # autoencoders loaded for the page, every session's together
GRID_SPAN = 3.0  # a 2-D code's decoded grid and click area: three spreads of the bell curve a VAE's codes are pulled to


@dataclass(frozen=True)
class Drawer:
    """A finished autoencoder with its config (which dataset's standardising it undoes), shared by every session."""

    model: AutoEncoder
    config: TrainConfig

    @property
    def mapped(self) -> bool:
        """Whether its codes can be drawn as a map: two numbers."""
        return self.model.latent == 2


@caches.bounded(SHARED_BYTES)
def shared(checkpoint: str) -> Drawer:
    """One loaded autoencoder per checkpoint for the whole server; callers must not change it."""
    from .runs import load_checkpoint  # runs builds networks through models, which builds autoencoders here

    model, config = load_checkpoint(checkpoint)
    if not isinstance(model, AutoEncoder):
        raise DLCoreError("That run is a classifier, not an autoencoder; pick one trained on this page.")
    use_dataset(model, config.dataset)
    return Drawer(model, config)


@dataclass(frozen=True)
class LatentMap:
    """Where the map's test digits (inside.map_digits) lie: codes (n, 2) and, for a VAE, their spreads."""

    codes: np.ndarray
    spreads: np.ndarray | None
    labels: np.ndarray


@caches.bounded(16 * 2**20)
def latent_map(checkpoint: str) -> LatentMap:
    """The map of a finished run with a 2-D code, made once for every session."""
    from .inside import map_digits

    drawer = shared(checkpoint)
    images, labels = map_digits(drawer.config.dataset)
    means, spreads = codes(drawer.model, data.load(drawer.config.dataset).normalized(torch.from_numpy(images)))
    return LatentMap(means, spreads, labels)


@torch.inference_mode()
def place(drawer: Drawer, normalized: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """A drawing's code (a VAE's mean), its spread (a VAE's) and the digit drawn again from the code."""
    x = torch.from_numpy(np.ascontiguousarray(normalized, dtype=np.float32)).reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    mean, spreads = codes(drawer.model, x)
    return mean[0], (spreads[0] if spreads is not None else None), decode(drawer.model, mean)[0]


def strip_drawings(drawer: Drawer) -> np.ndarray:
    """The strip's test digits (inside.strip_digits) drawn again from their codes, uint8 (n, 28, 28)."""
    from .inside import strip_digits

    images, _ = strip_digits(drawer.config.dataset)
    means, _ = codes(drawer.model, data.load(drawer.config.dataset).normalized(torch.from_numpy(images)))
    return (decode(drawer.model, means) * 255).round().astype(np.uint8)
