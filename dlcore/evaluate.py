"""How well a model reads a test set: accuracy, per class, the confusion matrix, and its mistakes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .config import NUM_CLASSES

EVAL_BATCH = 2048  # large batches: evaluation keeps no gradients


@dataclass(frozen=True)
class Evaluation:
    accuracy: float  # a fraction
    loss: float  # mean cross-entropy, whatever loss trained the model, so runs compare
    per_class: list[float]  # accuracy on each true class
    confusion: list[list[int]]  # confusion[true][predicted]
    misclassified: list[tuple[int, int, int]]  # (test index, true class, predicted class), in test order

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Evaluation":
        return cls(
            data["accuracy"], data["loss"], data["per_class"], data["confusion"],
            [tuple(item) for item in data["misclassified"]],
        )

    def mistakes(self, true_class: int | None = None, predicted: int | None = None) -> list[tuple[int, int, int]]:
        """The mistakes in one cell of the confusion matrix; None matches any class."""
        return [
            item for item in self.misclassified
            if (true_class is None or item[1] == true_class) and (predicted is None or item[2] == predicted)
        ]


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """Logits (N, 10) for normalised images (N, 1, 28, 28), in eval mode, batched."""
    model.eval()
    outputs = [model(images[i : i + EVAL_BATCH].to(device, non_blocking=True)) for i in range(0, len(images), EVAL_BATCH)]
    return torch.cat(outputs).float().cpu()


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device | str = "cpu") -> Evaluation:
    """Score a model on normalised images (N, 1, 28, 28) and their labels (N,)."""
    logits = predict_logits(model, images, device)
    labels = labels.cpu()
    predicted = logits.argmax(dim=1)
    confusion = torch.bincount(labels * NUM_CLASSES + predicted, minlength=NUM_CLASSES**2).reshape(NUM_CLASSES, NUM_CLASSES)
    per_class = confusion.diag().double() / confusion.sum(dim=1).clamp(min=1).double()
    wrong = (predicted != labels).nonzero().flatten()
    return Evaluation(
        accuracy=(predicted == labels).sum().item() / max(len(labels), 1),
        loss=nn.functional.cross_entropy(logits, labels).item(),
        per_class=per_class.tolist(),
        confusion=confusion.tolist(),
        misclassified=[(i, labels[i].item(), predicted[i].item()) for i in wrong.tolist()],
    )
