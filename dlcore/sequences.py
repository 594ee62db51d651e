"""Recurrent networks: an RNN, an LSTM or a GRU reading a digit as a sequence, one row of 28 pixels a step.

A recurrent network is a classifier like any other here (a ModelSpec of kind rnn, lstm or gru, 10 logits out), so
the one loop, the job API, the runs store, Draw & classify and export take it as they take an MLP. What is its own
is time: the state carried from step to step, and how far back the loss's gradient still reaches (grad_by_step),
the vanishing gradient of the Activation lab, through time instead of depth.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from . import data
from .config import IMAGE_SIZE, ModelSpec
from .standalone import LastStep, Recurrent

STEPS, FEATURES = IMAGE_SIZE, IMAGE_SIZE  # a digit read row by row: 28 steps of 28 pixels
TASKS = {"smnist": "a digit read row by row"}  # what a recurrent network learns here
GRADIENT_DIGITS = 200  # test digits grad_by_step averages over
LR = 3e-3  # Adam's rate for reading rows: at 1e-3 a 1x128 LSTM took a few epochs more to read 90% of the sample
GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # weight blocks per layer: an LSTM's input, forget, cell and output gates
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
PRESETS: dict[str, ModelSpec] = {
    # The course's SimpleRNN and SimpleLSTM (hidden 20, 2 layers, a linear layer on the last step), reading rows.
    "simple-rnn": ModelSpec("rnn", dense=(), state=20, cell_layers=2),
    "simple-lstm": ModelSpec("lstm", dense=(), state=20, cell_layers=2),
    "simple-gru": ModelSpec("gru", dense=(), state=20, cell_layers=2),
    # Wide enough to read a digit well in a few epochs on a CPU.
    "lstm-128": ModelSpec("lstm", dense=(), state=128, cell_layers=1),
}


def parameters(kind: str, features: int, state: int, layers: int) -> int:
    """What PyTorch's cell holds: per layer and gate, input and state weights and their two biases."""
    total = 0
    for _ in range(layers):
        total += GATES[kind] * (features * state + state * state + 2 * state)
        features = state
    return total


def plan(spec: ModelSpec) -> list[tuple]:
    """The layers that read the rows, each (its table row, how to make it); models.py adds the dense head."""
    from .models import LayerRow  # models builds every network, and asks this module for these layers

    return [
        (LayerRow(f"rows: {STEPS} steps of {FEATURES} pixels", (STEPS, FEATURES), 0), lambda: torch.nn.Flatten(1, 2)),
        (LayerRow(f"{CELL_NAMES[spec.kind]} {spec.cell_layers}x{spec.state}", (STEPS, spec.state),
                  parameters(spec.kind, FEATURES, spec.state, spec.cell_layers), reuses=STEPS),
         lambda: Recurrent(spec.kind, FEATURES, spec.state, spec.cell_layers)),
        (LayerRow("last step", (spec.state,), 0), LastStep),
    ]


def recurrent_layer(model: torch.nn.Module) -> Recurrent:
    return next(module for module in model.modules() if isinstance(module, Recurrent))


def grad_by_step(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """How strongly each step's input still moves the loss: the norm of the loss's gradient with respect to each
    row, averaged over the digits, first row to last. A plain RNN's falls away from the last step back; an LSTM's
    and a GRU's much less: what they were made for."""
    was_training = model.training
    model.eval()
    rows = images.detach().clone().requires_grad_(True)
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):  # cuDNN's RNN backward wants train mode
        (gradient,) = torch.autograd.grad(F.cross_entropy(model(rows), labels), rows)  # the weights' .grad untouched:
    model.train(was_training)  # a loaded model serves every session at once
    return gradient.flatten(1, 2).view(len(rows), STEPS, FEATURES).norm(dim=2).mean(dim=0).tolist()


@functools.lru_cache(maxsize=64)
def gradient_reach(checkpoint: str) -> tuple[float, ...]:
    """A finished run's grad_by_step on its dataset's first GRADIENT_DIGITS test digits, worked out once."""
    from .predict import load  # predict builds models through models.py, which imports this module

    classifier = load(checkpoint)
    return tuple(grad_by_step(classifier.model, *data.test_batch(classifier.config.dataset, GRADIENT_DIGITS)))


@dataclass(frozen=True)
class Reading:
    """One digit read row by row: the state after each row and the answer had it ended there."""

    states: np.ndarray  # (28, state)
    answers: np.ndarray  # (28, classes): probabilities


def reading(model: torch.nn.Module, normalized: np.ndarray) -> Reading:
    """How a recurrent network reads one normalised 28x28 digit, row by row."""
    digit = torch.from_numpy(np.ascontiguousarray(normalized, dtype=np.float32)).reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    return Reading(states(model, digit).numpy(), answers_by_row(model, digit).numpy())


def states(model: torch.nn.Module, image: torch.Tensor) -> torch.Tensor:
    """The top layer's state after each row of one digit (1, 1, 28, 28): (28, state), what the network carries."""
    recurrent = recurrent_layer(model)
    with torch.no_grad():
        return recurrent(image.flatten(1, 2))[0]


def answers_by_row(model: torch.nn.Module, image: torch.Tensor) -> torch.Tensor:
    """The network's probabilities for each class had the digit ended after each row: (28, 10). The head reads
    each step's state as it reads the last."""
    layers = list(model)
    at = next(i for i, layer in enumerate(layers) if isinstance(layer, Recurrent))
    with torch.no_grad():
        every_step = torch.nn.Sequential(*layers[: at + 1])(image)[0]  # (28, state)
        return torch.softmax(torch.nn.Sequential(*layers[at + 2 :])(every_step), dim=1)

