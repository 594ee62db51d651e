"""Optimizers, learning-rate schedules and losses, each looked up by the name a user types.

The schedules and losses themselves live in standalone.py, the exported script, so a run and its script share them.
"""

from __future__ import annotations

from typing import Callable

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


def make_optimizer(config: TrainConfig, parameters) -> torch.optim.Optimizer:
    """The optimizer for a config; foreach kernels keep the per-step Python overhead of many tensors small, while
    for one tensor (a 2-D network's flat weights, a descent's point) their grouping costs more than the step itself
    (Adam on a 6x8 network's 402 weights: 81 us a step with foreach, 47 us without)."""
    _require(config.optimizer, OPTIMIZERS, "optimizer")
    parameters = list(parameters)
    common = {"lr": config.lr, "weight_decay": config.weight_decay, "foreach": len(parameters) > 1}
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, momentum=config.momentum, nesterov=config.nesterov, **common)
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, **common)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, **common)
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


def make_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """logits (N, 10), labels (N,) -> scalar loss."""
    _require(name, LOSSES, "loss")
    return standalone.LOSS_FUNCTIONS[name]
