"""How well a model reads a test set: accuracy, per class, the confusion matrix, and its mistakes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from . import optim
from .config import NUM_CLASSES

EVAL_BATCH = 2048  # the largest scoring batch (what the memory estimate allows for); evaluation keeps no gradients
CPU_CACHE_BYTES = 16 * 2**20  # on a CPU, a scoring batch's largest activation stays about this small (see eval_batch)


@dataclass(frozen=True)
class Evaluation:
    accuracy: float  # a fraction
    loss: float  # mean cross-entropy, whatever loss trained the model, so runs compare
    per_class: list[float]  # accuracy on each true class
    confusion: list[list[int]]  # confusion[true][predicted]
    misclassified: list[tuple[int, int, int]]  # (test index, true class, predicted class), in test order
    returns: list[float] = field(default_factory=list)  # an agent's: each greedy episode's return (reinforcement)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Evaluation":
        return cls(
            data["accuracy"], data["loss"], data["per_class"], data["confusion"],
            [tuple(item) for item in data["misclassified"]], list(data.get("returns", ())),
        )

    def mistakes(self, true_class: int | None = None, predicted: int | None = None) -> list[tuple[int, int, int]]:
        """The mistakes in one cell of the confusion matrix; None matches any class."""
        return [
            item for item in self.misclassified
            if (true_class is None or item[1] == true_class) and (predicted is None or item[2] == predicted)
        ]


def first_of_each_class(labels: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the first `count` images of each class in test order (fewer where a class has fewer), class
    after class: a balanced choice that is the same for every run."""
    return torch.cat([(labels == c).nonzero().flatten()[:count] for c in range(NUM_CLASSES)])


def eval_batch(model: nn.Module, sample: torch.Tensor) -> int:
    """Images scored at once: EVAL_BATCH on a GPU; on a CPU, a power of two whose largest activation fits in cache,
    since a CNN's 64x24x24 maps spill out of it at 2048 a batch and score 3x slower than at 64 (bench/evaluation.py).

    sample is one image (1, 1, 28, 28) on the model's device; its forward pass measures the activations.
    """
    if sample.device.type != "cpu":
        return EVAL_BATCH
    largest = [sample.numel()]
    hooks = [module.register_forward_hook(lambda _, __, out: largest.append(  # a recurrent cell gives (outputs, state)
        (out[0] if isinstance(out, tuple) else out).numel()))
             for module in model.modules() if not list(module.children())]
    try:
        with torch.inference_mode():
            model(sample)
    finally:
        for hook in hooks:
            hook.remove()
    fits = CPU_CACHE_BYTES // (4 * max(largest))
    return max(16, min(EVAL_BATCH, 1 << max(fits, 1).bit_length() - 1))


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu",
                   on_batch=None) -> torch.Tensor:
    """Logits (N, 10) for normalised images (N, 1, 28, 28), in eval mode, batched, without autograd.

    on_batch(done, total), if given, is called after each batch: scoring a big test split takes seconds.
    """
    model.eval()
    size = eval_batch(model, images[:1].to(device))
    starts = range(0, len(images), size)
    outputs = []
    for done, first in enumerate(starts, 1):
        outputs.append(model(images[first : first + size].to(device, non_blocking=True)))
        if on_batch is not None:
            on_batch(done, len(starts))
    return torch.cat(outputs).float().cpu()


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device | str = "cpu",
             on_batch=None) -> Evaluation:
    """Score a model on normalised images (N, 1, 28, 28) and their labels (N,); on_batch as predict_logits'."""
    return evaluate_logits(predict_logits(model, images, device, on_batch), labels.cpu())


def evaluate_numpy(outputs: np.ndarray, labels: np.ndarray, loss: str = "cross-entropy") -> Evaluation:
    """evaluate_logits in NumPy, for a network that steps itself in NumPy (a 2-D playground's few hundred test
    points), with its own loss (optim.NUMPY_LOSSES): torch's fixed cost per call was most of the scoring, and on a
    busy machine its threads' waits were seconds of a playground's thousand epochs."""
    if labels.dtype.kind == "f":  # a regression's values: no classes to count
        return Evaluation(accuracy=math.nan, loss=optim.NUMPY_LOSSES[loss](outputs, labels)[0], per_class=[],
                          confusion=[], misclassified=[])
    predicted = optim.predicted_classes(outputs)
    classes = max(outputs.shape[1], 2)  # as evaluate_logits counts them
    confusion = np.bincount(labels * classes + predicted, minlength=classes**2).reshape(classes, classes)
    per_class = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    wrong = np.flatnonzero(predicted != labels)
    return Evaluation(
        accuracy=int((predicted == labels).sum()) / max(len(labels), 1),
        loss=optim.NUMPY_LOSSES[loss](outputs, labels)[0] if len(labels) else 0.0,
        per_class=per_class.tolist(),
        confusion=confusion.tolist(),
        misclassified=list(zip(wrong.tolist(), labels[wrong].tolist(), predicted[wrong].tolist())),
    )


def evaluate_logits(logits: torch.Tensor, labels: torch.Tensor) -> Evaluation:
    """Score logits (N, classes) on the CPU against their labels (N,); a sequence task's answers (sequences.Task) as
    their own kind: values by their squared error alone, symbols at several steps by the share right and the
    cross-entropy per symbol (for text, nats per character)."""
    if labels.is_floating_point():
        return Evaluation(math.nan, nn.functional.mse_loss(logits, labels).item(), [], [], [])
    if labels.dim() > 1:
        return Evaluation((logits.argmax(dim=-1) == labels).float().mean().item(),
                          optim.make_loss("cross-entropy")(logits, labels).item(), [], [], [])
    classes = max(logits.shape[1], 2)  # ten for digits and clothes, the class's own for its drawings; one tanh output
    # (a 2-D playground network) names two
    predicted = logits.argmax(dim=1)
    confusion = torch.bincount(labels * classes + predicted, minlength=classes**2).reshape(classes, classes)
    per_class = confusion.diag().double() / confusion.sum(dim=1).clamp(min=1).double()
    wrong = (predicted != labels).nonzero().flatten()
    return Evaluation(
        accuracy=(predicted == labels).sum().item() / max(len(labels), 1),
        loss=nn.functional.cross_entropy(logits, labels).item(),
        per_class=per_class.tolist(),
        confusion=confusion.tolist(),
        misclassified=list(zip(wrong.tolist(), labels[wrong].tolist(), predicted[wrong].tolist())),
    )
