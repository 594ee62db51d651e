"""Everything checked before a run is accepted, beyond each field's type and bounds (the schema in config.py):
names against their registries, combinations, and what a run may cost this server in memory, disk and time."""

from __future__ import annotations

import os

from . import data, models, optim, reinforcement, sequences, transfer
from .config import DLCoreError, TrainConfig
from .devices import DEVICES
from .evaluate import EVAL_BATCH
from .runs import check_weights

CHOICES = {  # each TrainConfig field that names something -> the registry of those names
    "optimizer": optim.OPTIMIZERS, "schedule": optim.SCHEDULES, "loss": optim.LOSSES,
    "device": DEVICES,
}


def check_choice(field: str, value: str) -> None:
    if field == "dataset":
        data.info(value)  # digits, or a sequence task's data (sequences.task_of)
    elif value not in CHOICES[field]:
        raise DLCoreError(f"Unknown {field} '{value}'; choose one of: {', '.join(CHOICES[field])}.")


def validate(config: TrainConfig) -> None:
    """Every check that can fail before any work is done, each with its own sentence; the schema (dlcore.config)
    has already checked each field's type and bounds, so what is left are names, combinations and cost."""
    for name in ("dataset", *CHOICES):
        check_choice(name, getattr(config, name))
    models.validate(config.model, config.dataset)
    if sequences.is_task(config.dataset) and sequences.task_of(config.dataset).values != (config.loss == "mse"):
        task = sequences.task_of(config.dataset)
        raise DLCoreError(f"The {task.name} task's answers are {'values' if task.values else 'classes'}: train it with "
                          f"{'mse' if task.values else 'cross-entropy'}.")
    if config.nesterov and config.optimizer == "sgd" and config.momentum <= 0:
        raise DLCoreError("Nesterov momentum needs a momentum above 0; set momentum or turn Nesterov off.")
    reinforcement.validate(config)
    check_memory(config)
    check_weights(config.model, config.dataset)
    transfer.check(config)


def memory_budget_mb() -> int:
    """DLCORE_MAX_RUN_MB, or a quarter of this machine's memory shared by the runs that may train at once
    (DLCORE_MAX_JOBS): what one run may take while the web server and the other runs keep theirs."""
    if value := os.environ.get("DLCORE_MAX_RUN_MB"):
        try:
            return max(1, int(value))
        except ValueError:
            raise DLCoreError(f"DLCORE_MAX_RUN_MB must be a whole number of megabytes; it is '{value[:20]}'.") from None
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(256, total // 4 // 2**20 // max(1, int(os.environ.get("DLCORE_MAX_JOBS", "1"))))


def check_memory(config: TrainConfig, lanes: int = 1) -> int:
    """Refuse a run (or a race of `lanes` copies of it, stepped one after another) whose estimated memory is over
    the budget, before anything is allocated; returns the estimate in bytes."""
    estimate = models.estimate_memory(config.model, config.batch_size, optim.state_buffers(config), EVAL_BATCH,
                                      config.dataset)
    total = estimate.total(lanes)
    budget = memory_budget_mb()
    if total > budget * 2**20:
        what = "This run" if lanes == 1 else f"This race of {lanes} copies of the network"
        parts = f"{_size(lanes * estimate.weights)} for weights and gradients, " \
                f"{_size(estimate.activations)} for one batch of {config.batch_size}'s activations"
        raise DLCoreError(f"{what} would need about {_size(total)} ({parts}), over this server's "
                          f"{budget:,} MB per run; use fewer or smaller layers or a smaller batch.")
    return total


def _size(count: int) -> str:
    return f"{count / 2**30:,.1f} GB" if count >= 10 * 2**30 else f"{count / 2**20:,.0f} MB"


def time_limit_seconds() -> float:
    """DLCORE_MAX_RUN_MINUTES (default 60) of training time, after which a run stops and keeps what it learned:
    the longest a class waits behind one student's run."""
    value = os.environ.get("DLCORE_MAX_RUN_MINUTES", "60")
    try:
        minutes = float(value)
    except ValueError:
        raise DLCoreError(f"DLCORE_MAX_RUN_MINUTES must be a number of minutes; it is '{value[:20]}'.") from None
    return max(minutes, 0.0) * 60
