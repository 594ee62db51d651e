"""Optimizers, learning-rate schedules and losses, each looked up by the name a user types.

The schedules and losses themselves live in standalone.py, the exported script, so a run and its script share them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from . import standalone
from .config import DLCoreError, TrainConfig

OPTIMIZERS: dict[str, str] = {
    "sgd": "SGD (with momentum and optional Nesterov)",
    "adam": "Adam",
    "adamw": "AdamW (decoupled weight decay)",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}
SCHEDULES: dict[str, str] = {
    "constant": "Constant",
    "step": "Step decay (x0.1 at 50% and 75% of training)",
    "cosine": "Cosine annealing to zero",
    "onecycle": "One-cycle (warm up, then anneal)",
}
LOSSES: dict[str, str] = {
    "cross-entropy": "Cross-entropy",
    "mse": "Mean squared error on one-hot targets",
}


def _require(name: str, table: dict[str, str], what: str) -> None:
    if name not in table:
        raise DLCoreError(f"Unknown {what} '{name}'; choose one of: {', '.join(table)}.")


def make_optimizer(config: TrainConfig, parameters, betas: tuple[float, float] | None = None) -> torch.optim.Optimizer:
    """The optimizer for a config; foreach kernels keep the per-step Python overhead of many tensors small, while
    for one tensor (a 2-D network's flat weights, a descent's point) their grouping costs more than the step itself
    (Adam on a 6x8 network's 402 weights: 81 us a step with foreach, 47 us without). betas: Adam's and AdamW's, where
    a model needs its own (a GAN's); else PyTorch's."""
    _require(config.optimizer, OPTIMIZERS, "optimizer")
    parameters = list(parameters)
    common = {"lr": config.lr, "weight_decay": config.weight_decay, "foreach": len(parameters) > 1}
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, momentum=config.momentum, nesterov=config.nesterov, **common)
    common_adam = {**common, "betas": betas} if betas is not None else common
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, **common_adam)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, **common_adam)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, momentum=config.momentum, **common)
    return torch.optim.Adagrad(parameters, **common)


def state_buffers(config: TrainConfig) -> int:
    """How many parameter-sized tensors the optimizer keeps between steps, for the memory estimate."""
    momentum = 1 if config.momentum > 0 else 0
    return {"adam": 2, "adamw": 2, "sgd": momentum, "rmsprop": 1 + momentum, "adagrad": 1}[config.optimizer]


def make_schedule(config: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int):
    """A per-step scheduler, so one-cycle and cosine are smooth even over one epoch."""
    _require(config.schedule, SCHEDULES, "schedule")
    return standalone.make_schedule(optimizer, total_steps, config.schedule, config.lr)


def squared_error(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """TF Playground's loss: half the squared difference between a network's one output and its target, averaged
    over the batch; a class's target is +1 for class 1 (blue) and -1 for class 0, a regression's its value."""
    targets = labels if labels.is_floating_point() else labels * 2 - 1
    return 0.5 * ((outputs[:, 0] - targets.to(outputs.dtype)) ** 2).mean()


ONE_OUTPUT_LOSSES = {"squared-error": squared_error}  # for a network with one output, not Build & train's classifiers


def make_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """outputs (N, classes), or (N, 1) for a one-output loss, and labels (N,) -> scalar loss."""
    if name in ONE_OUTPUT_LOSSES:
        return ONE_OUTPUT_LOSSES[name]
    _require(name, LOSSES, "loss")
    return standalone.LOSS_FUNCTIONS[name]


def predicted_classes(outputs):
    """Each row's class, from a torch or NumPy array of outputs: the largest, or with one output, 1 where it is
    above 0 (TF Playground's tanh output)."""
    return outputs.argmax(-1) if outputs.shape[-1] > 1 else (outputs[:, 0] > 0) * 1


def cross_entropy_numpy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """torch's cross_entropy on (N, classes) logits: the mean loss, and its gradient at the logits."""
    shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = np.add.reduce(exp, axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = float(np.add.reduce(np.log(total[:, 0]) - shifted[rows, labels])) / len(labels)
    exp /= total
    exp[rows, labels] -= 1
    exp /= len(labels)
    return loss, exp


def squared_error_numpy(outputs: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """squared_error on (N, 1) outputs: the mean loss, and its gradient at the outputs."""
    difference = outputs[:, 0] - (labels if labels.dtype.kind == "f" else labels * 2 - 1).astype(outputs.dtype)
    return 0.5 * float(np.dot(difference, difference)) / len(labels), (difference / len(labels))[:, None]


NUMPY_LOSSES = {"cross-entropy": cross_entropy_numpy, "squared-error": squared_error_numpy}  # the losses a model
# that steps itself in NumPy can use


class Rules:
    """torch.optim's update rules written out in NumPy, for parameters so small that torch's fixed cost per step is
    the whole step (a 2-D playground network, a descent's point): one optimizer per row of the parameters, stepped
    together. tests/test_optim.py checks each against torch.optim, step by step.

    Each is two running averages of the gradient g (with weight decay wd added to it, or AdamW's applied to the
    parameters) with some terms switched off:
        v = c v + d g²                    (RMSprop's and Adam's second moment; Adagrad's sum when c = d = 1)
        s = √v / √(1 - cᵗ) + eps          (the scale; 1 for SGD, Adam's bias correction alone)
        m = a m + b g                     (momentum, Adam's first moment; a = 0, b = 1 leave m = g)
        params -= lr · direction / s
    where direction is g + a m for Nesterov, m / (1 - aᵗ) for Adam, else m. RMSprop's momentum averages g / s
    instead, and then divides by 1. The coefficients are read from the optimizer make_optimizer builds for each row.
    """

    def __init__(self, configs: list[TrainConfig], shape: tuple[int, ...], dtype=np.float64):
        self.rows = rows = [self._coefficients(config) for config in configs]
        columns = np.array(rows, dtype=dtype).T.reshape(12, len(rows), *[1] * (len(shape) - 1))  # each broadcast
        self.lr, self.a, self.b, self.c, self.d, self.eps, self.wd = columns[:7]  # over a row's parameters
        self.decoupled, self.nesterov, self.adam, self.scaled, self.after = (_flag(f) for f in columns[7:])
        self.momentum = bool((self.a != 0).any() or (self.b != 1).any())  # which terms some row uses
        self.decays, self.any_scaled, self.any_after, self.any_nesterov = (
            bool(np.any(flag)) for flag in (self.wd, self.scaled, self.after, self.nesterov))
        self.lrs = [row[0] for row in rows]
        self.m, self.v = np.zeros(shape, dtype), np.zeros(shape, dtype)
        self.t = 0

    @staticmethod
    def _coefficients(config: TrainConfig) -> tuple[float, ...]:
        """(lr, a, b, c, d, eps, wd, decoupled, nesterov, adam, scaled, after) of one optimizer."""
        settings = make_optimizer(config, [torch.zeros(2, requires_grad=True)]).defaults
        lr, wd = settings["lr"], settings["weight_decay"]
        if config.optimizer == "sgd":
            return (lr, settings["momentum"], 1 - settings["dampening"], 0, 0, 0, wd, False, settings["nesterov"],
                    False, False, False)
        if config.optimizer in ("adam", "adamw"):
            (a, c), eps = settings["betas"], settings["eps"]
            return lr, a, 1 - a, c, 1 - c, eps, wd, config.optimizer == "adamw", False, True, True, False
        if config.optimizer == "rmsprop":  # not centred, as make_optimizer makes it
            momentum = settings["momentum"]
            return (lr, momentum, 1, settings["alpha"], 1 - settings["alpha"], settings["eps"], wd, False, False,
                    False, True, momentum > 0)
        return lr, 0, 1, 1, 1, settings["eps"], wd, False, False, False, True, False  # Adagrad, without lr decay

    def step(self, params: np.ndarray, grad: np.ndarray, lr: float | None = None) -> None:
        """Move every row of params (in place) by its optimizer's step on grad; lr, if given, is a schedule's
        current rate for every row."""
        lr = self.lr if lr is None else lr
        self.t += 1
        if self.decays:
            params *= _pick(self.decoupled, 1 - lr * self.wd, 1)
            grad = grad + _pick(self.decoupled, 0, self.wd) * params
        scale = 1
        if self.any_scaled:
            self.v = self.c * self.v + self.d * grad * grad
            correction2 = _pick(self.adam, 1 - self.c**self.t, 1)
            scale = _pick(self.scaled, np.sqrt(self.v) / np.sqrt(correction2) + self.eps, 1)
        pre = _pick(self.after, grad / scale, grad) if self.any_after else grad
        self.m = self.a * self.m + self.b * pre if self.momentum else pre
        direction = _pick(self.nesterov, pre + self.a * self.m, self.m) if self.any_nesterov else self.m
        if not self.any_scaled:  # SGD: nothing to divide by
            params -= lr * direction
            return
        correction1 = _pick(self.adam, 1 - self.a**self.t, 1)
        params -= lr / correction1 * (direction / (_pick(self.after, 1, scale) if self.any_after else scale))

    def state_dict(self) -> dict:
        return {"t": self.t, "m": torch.from_numpy(np.array(self.m)), "v": torch.from_numpy(np.array(self.v))}

    def load_state_dict(self, state: dict) -> None:
        self.t, self.m, self.v = state["t"], state["m"].numpy().copy(), state["v"].numpy().copy()


def _flag(column: np.ndarray) -> bool | np.ndarray:
    """A column of switches as one bool where every row agrees, so a step skips the terms no row uses."""
    column = column.astype(bool)
    return bool(column.all()) if column.all() or not column.any() else column


def _pick(flag: bool | np.ndarray, yes, no):
    return (yes if flag else no) if isinstance(flag, bool) else np.where(flag, yes, no)
