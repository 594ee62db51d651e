"""A trained model reading one picture: its probabilities, which pixels drove them, and how preprocessing matters.

The page, the CLI and the benchmarks all come through here, so a digit is read the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import caches, data, preprocess, runs
from .config import IMAGE_SIZE, ConvBlock, DenseLayer, DLCoreError, ModelSpec, TrainConfig, standardize
from .evaluate import predict_logits
from .runs import RunStore

# The model the Draw page trains for a first-time user: a small CNN reads drawn digits well (about 97.7% on
# the MNIST test split) and trains in under 10 s on one CPU thread from the 5,000 sample digits; a one-cycle
# schedule gets there in 5 epochs (bench/drawn_digits.py measures both).
STARTER_CONFIG = TrainConfig(
    dataset="mnist-sample",
    model=ModelSpec("cnn", conv=(ConvBlock(8, kernel=5, pool="max"), ConvBlock(16, kernel=5, pool="max")),
                    dense=(DenseLayer(64),)),
    optimizer="adam", lr=1e-2, schedule="onecycle", batch_size=64, epochs=5,
)


SHARED_MODELS_BYTES = 512 * 2**20  # models loaded for the pages: four of the largest networks, or a hundred CNNs


@dataclass(frozen=True)
class Classifier:
    """A loaded model with the config that says how its inputs were normalised and what its classes are."""

    model: nn.Module
    config: TrainConfig
    path: str

    @property
    def info(self) -> data.DatasetInfo:
        return data.info(self.config.dataset)


@dataclass(frozen=True)
class Prediction:
    probabilities: list[float]  # ten, summing to 1
    prediction: int
    confidence: float  # the winning probability
    label: str  # the class name ('7', or 'Sneaker' for a Fashion-MNIST model)


@dataclass(frozen=True)
class Reading:
    """One picture read the MNIST way, with every step, and read the naive way for comparison."""

    steps: preprocess.Steps
    prediction: Prediction
    naive_input: np.ndarray  # the 28x28 picture a whole-image resize gives, in [0, 255]
    naive_prediction: Prediction
    doubt: str = ""  # a sentence when the answer should not be trusted (see doubt())


SPECK = 0.1  # ink spanning less than this share of the picture is a dot or a smudge, not a digit
UNSURE = 0.5  # below this winning probability the answer is a guess; the model always names some class


def doubt(steps: preprocess.Steps, prediction: Prediction, classes: tuple[str, ...]) -> str:
    """Why the answer should not be trusted, in one sentence, or '': a softmax reads a dot as confidently as a
    digit, so the page says when the ink is too small to be one, or when the model's top two are close."""
    thing = "digit" if classes == data.DIGITS else "picture"
    spread = max(steps.cropped.shape) / max(steps.gray.shape)
    if spread < SPECK:
        return (f"This looks like a dot, not a {thing}: the ink spans {spread:.0%} of the picture, so whatever the "
                f"model says means little. Draw the {thing} bigger, filling most of the canvas.")
    if prediction.confidence < UNSURE:
        second = sorted(range(len(classes)), key=prediction.probabilities.__getitem__)[-2]
        return (f"The model is unsure: {prediction.label} at {prediction.confidence:.0%}, then {classes[second]} at "
                f"{prediction.probabilities[second]:.0%}. Draw it more clearly, or it may not be a {thing} it knows.")
    return ""


def load(reference: str | Path, store: RunStore | None = None) -> Classifier:
    """A run id ('12', '#12') or a .safetensors path -> the model, ready to predict."""
    path = runs.resolve_checkpoint(str(reference), store)
    model, config = runs.load_checkpoint(path)
    return Classifier(model, config, str(path))


@caches.bounded(SHARED_MODELS_BYTES)
def shared(checkpoint: str) -> Classifier:
    """One loaded model per checkpoint for the whole server: every session of Draw & classify and Inside the network
    reads the same one, so callers must not change it."""
    return load(checkpoint)


def finished_runs(store: RunStore | None = None) -> list[runs.Run]:
    """Classifier runs of pictures that left weights to predict with, newest first, digit models before the rest
    (a sequence task's networks read no pictures)."""
    usable = [run for run in (store or RunStore()).list(("done", "stopped"), with_history=False)
              if run.checkpoint and not run.config.model.generative and data.reads_images(run.config.dataset)
              and Path(run.checkpoint).is_file() and _classes(run.config.dataset)]
    return sorted(usable, key=lambda run: _classes(run.config.dataset) != data.DIGITS)


def _classes(dataset: str) -> tuple[str, ...]:
    """A dataset's class names; none for the class's drawings frozen on another server (an imported run's)."""
    try:
        return data.info(dataset).classes
    except DLCoreError:
        return ()


@torch.inference_mode()
def probabilities(classifier: Classifier, normalized: np.ndarray) -> Prediction:
    """The model's softmax for one normalised 28x28 input."""
    x = torch.from_numpy(np.ascontiguousarray(normalized, dtype=np.float32)).reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    probs = torch.softmax(classifier.model(x)[0].float(), dim=0)
    best = int(probs.argmax())
    return Prediction(probs.tolist(), best, float(probs[best]), classifier.info.classes[best])


def classify(classifier: Classifier, image) -> tuple[preprocess.Steps, Prediction]:
    """Any picture (L, RGB or RGBA array or PIL image) -> the preprocessing steps and the prediction."""
    steps = preprocess.mnist_style(image, classifier.info.mean, classifier.info.std)
    return steps, probabilities(classifier, steps.normalized)


def read(classifier: Classifier, image) -> Reading:
    """What the page shows: the MNIST-style reading and the naive one beside it."""
    steps, prediction = classify(classifier, image)
    small, naive_input = preprocess.naive(image, classifier.info.mean, classifier.info.std)
    return Reading(steps, prediction, small, probabilities(classifier, naive_input),
                   doubt(steps, prediction, classifier.info.classes))


def saliency(classifier: Classifier, normalized: np.ndarray, target: int) -> np.ndarray:
    """|d logit[target] / d input| over the 28x28 input, scaled to [0, 1]: the pixels the answer is most sensitive to.

    torch.autograd.grad leaves the parameters' .grad alone, so one shared model can serve many readers.
    """
    x = torch.from_numpy(np.ascontiguousarray(normalized, dtype=np.float32)).reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    x.requires_grad_(True)
    with torch.enable_grad():
        logit = classifier.model(x)[0, target]
        (gradient,) = torch.autograd.grad(logit, x)
    magnitude = gradient.abs()[0, 0].numpy()
    top = float(magnitude.max())
    return magnitude / top if top > 0 else magnitude


def predict_files(classifier: Classifier, paths: list[str]) -> list[dict]:
    """The CLI's answer: one {image, prediction, probabilities} per path, in order."""
    results = []
    for path in paths:
        try:
            _, prediction = classify(classifier, preprocess.read(path))
        except preprocess.EmptyImageError:
            raise DLCoreError(f"{path} shows no digit (it is blank or flat); give a picture of a digit.") from None
        results.append({"image": path, "prediction": prediction.prediction, "probabilities": prediction.probabilities})
    return results


# ---- the drawn-digits study ----------------------------------------------------------------------

@dataclass(frozen=True)
class DrawnDigits:
    """Accuracy on real digits, and on the same digits redrawn canvas-style, read two ways."""

    count: int
    original: float  # on the 28x28 digits as MNIST ships them
    mnist_style: float  # redrawn, through preprocess.mnist_style
    naive: float  # redrawn, through a whole-image resize
    naive_light_on_dark: float  # the naive resize on the light-on-dark half only (the canvas's own look)

    @property
    def ratio(self) -> float:
        return self.mnist_style / self.original if self.original else 0.0

    def to_dict(self) -> dict:
        return {"count": self.count, "original": self.original, "mnist_style": self.mnist_style,
                "naive": self.naive, "naive_light_on_dark": self.naive_light_on_dark, "ratio": self.ratio}


def drawn_digits(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> DrawnDigits:
    """Redraw uint8 digits (N, 28, 28) with preprocess.canvas_style and score the model on every version."""
    info = classifier.info
    rng = np.random.default_rng(seed)
    ours, naive_inputs, light = [], [], []
    for i, digit in enumerate(images.numpy()):
        drawn = preprocess.canvas_style(digit, rng, variant=i)
        ours.append(preprocess.mnist_style(drawn, info.mean, info.std).normalized)
        naive_inputs.append(preprocess.naive(drawn, info.mean, info.std)[1])
        light.append(i % 4 < 2)

    def accuracy(x: torch.Tensor, mask: np.ndarray | None = None) -> float:
        right = (predict_logits(classifier.model, x).argmax(dim=1) == labels).numpy()
        return float(right[mask].mean() if mask is not None else right.mean())

    original = standardize(images, info.mean, info.std).unsqueeze(1)
    naive_batch = torch.from_numpy(np.stack(naive_inputs)).unsqueeze(1)
    return DrawnDigits(
        count=len(labels),
        original=accuracy(original),
        mnist_style=accuracy(torch.from_numpy(np.stack(ours)).unsqueeze(1)),
        naive=accuracy(naive_batch),
        naive_light_on_dark=accuracy(naive_batch, np.array(light)),
    )
