"""THE training loop: lanes, each a model with its optimizer, schedule, loss and metrics, stepped on shared batches.

A run is a loop of one lane; an optimizer race is a loop of several lanes that start from the same weights and see
the same batches in the same order. Pause, stop, the time limit, divergence and the metrics are handled here once,
for both; training.py and race.py only publish what the loop did and record it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from . import data, generative, models, optim, reinforcement, tinysteps, transfer
from .config import NUM_CLASSES, DLCoreError, TrainConfig
from .devices import device_name, resolve_device, tensors_on
from .evaluate import Evaluation, evaluate, evaluate_numpy, first_of_each_class
from .validation import time_limit_seconds

if TYPE_CHECKING:
    from .distributed import Group

PUBLISH_SECONDS = 0.1  # how often step losses reach readers; also bounds GPU syncs to ~10 a second
GROUP_READ_STEPS = 50  # processes training together read back every this many steps, all at the same step
AMP = ("bf16",)  # the autocast dtypes an engine may use: bfloat16 needs no loss scaling
INIT_LOCK = threading.Lock()  # model init draws from torch's global RNG: one lane (or page remaking one) at a time
# each epoch is scored on this many test images, the same 100 of each class in every run, and the whole split once at
# the end: scoring all 10,000 after every epoch took 40% of a CNN's run on a CPU (bench/scoring_share.py), and 1,000
# images put an epoch's accuracy within about a point of the whole split's (the standard error at 90% is 0.95 points)
EPOCH_TEST_IMAGES = 1000
# before the first epoch is scored, an image's scoring is taken to cost this share of training on it: one forward pass
# where training makes a forward and a backward pass (about two more). Measured on a CPU: 0.34-0.36 for the CNN;
# 0.03-0.34 for the small MLP, whose steps at small batches are bound by Python, not by multiply-adds.
SCORING_COST = 1 / 3


@dataclass(frozen=True)
class EpochRow:
    """One finished epoch of one lane, as the charts and the runs store keep it."""

    epoch: int
    train_loss: float  # the mean of the epoch's step losses, weighted by batch size
    train_accuracy: float  # on the batches as they were trained, so with dropout on
    test_loss: float
    test_accuracy: float
    test_images: int  # how many test images the test scores are on: the epoch's share of the split (epoch_test_split)
    samples_per_sec: float  # training samples per second of the loop's training time (pauses, evaluation excluded)
    train_seconds: float
    test_return: float = math.nan  # an agent's: the mean return of its greedy episodes (reinforcement.evaluate)
    train_return: float = math.nan  # and of its training episodes that ended in the epoch (exploring as it went)
    best_return: float = math.nan  # the best training episode's so far

    def to_dict(self) -> dict:
        return asdict(self)


class Fraction:
    """For progress records (a run's, a race's): the share of their steps done, for progress bars."""

    step: int
    epochs: int
    steps_per_epoch: int

    @property
    def fraction(self) -> float:
        total = self.epochs * self.steps_per_epoch
        return min(self.step / total, 1.0) if total else 0.0


@dataclass(frozen=True)
class Engine:
    """How a loop computes, not what it learns, so none of it is in a run's config: mixed precision, compilation,
    and the processes that share each batch (distributed.py)."""

    amp: str | None = None  # "bf16": forward pass and loss autocast to bfloat16; None keeps float32
    compile: bool = False  # torch.compile the model the steps train (evaluation stays eager)
    group: Group | None = None  # data-parallel processes, each training on its shard of every batch

    def __post_init__(self):
        if self.amp is not None and self.amp not in AMP:
            raise DLCoreError(f"Unknown mixed precision '{self.amp}'; choose one of: {', '.join(AMP)}.")


def epoch_test_split(test_x: torch.Tensor, test_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The test images each epoch is scored on: a split of at most EPOCH_TEST_IMAGES whole, else the first
    EPOCH_TEST_IMAGES / NUM_CLASSES of each class, in test order, so every run's curves are on the same images."""
    if len(test_y) <= EPOCH_TEST_IMAGES:
        return test_x, test_y
    if test_y.dim() > 1 or test_y.is_floating_point():  # a sequence task's answers, not classes: the first ones
        return test_x[:EPOCH_TEST_IMAGES], test_y[:EPOCH_TEST_IMAGES]
    chosen = first_of_each_class(test_y, EPOCH_TEST_IMAGES // NUM_CLASSES).sort().values
    return test_x[chosen], test_y[chosen]


class _Abandoned(Exception):
    """Raised between an epoch's scoring batches when a stop is asked: the final scoring follows at once."""


def diverged_message(config: TrainConfig) -> str:
    hint = "a 10x lower learning rate" if config.lr > 1e-4 else "another optimizer such as Adam"
    return f"The loss became infinite or NaN (learning rate {config.lr:g} with {config.optimizer}); try {hint}."


class Lane:
    """One model with its optimizer, schedule, loss and running totals; stepped only by its loop's thread."""

    def __init__(self, config: TrainConfig, device: torch.device, total_steps: int,
                 build: Callable[[], nn.Module] | None = None, engine: Engine = Engine(), part: str | None = None,
                 model: nn.Module | None = None):
        self.config = config
        self.group = engine.group
        self.part = part  # which part of a shared model this lane trains (a GAN's discriminator or generator)
        if model is not None:  # the lane before it built the model they share
            self.model = model
        else:
            with INIT_LOCK:  # the same seed gives the same first weights, in every lane and every run
                torch.manual_seed(config.seed)
                self.model = build() if build is not None else models.build(config.model, config.dataset)
                transfer.start_from_source(self.model, config)  # a transfer run's weights from its source run
                self.model = self.model.to(device)
        generative.use_dataset(self.model, config.dataset)
        self.agent = reinforcement.prepare(self.model, config, total_steps)  # an environment's: the network acting
        # a model that gives its own objective (an autoencoder: how well it draws the batch again; a GAN's part:
        # how well it fools or sees through the other) trains on it, not on the config's loss against labels
        self._objective = self.agent.objective if self.agent else getattr(self.model, "objective", None)
        if part is not None:
            self._objective = functools.partial(self._objective, part=part)
        self.net = self.group.wrap(self.model) if self.group else self.model  # what steps train; shares the weights
        if engine.compile:
            self.net = torch.compile(self.net)
        self._autocast = (functools.partial(torch.autocast, device.type, dtype=torch.bfloat16) if engine.amp
                          else contextlib.nullcontext)
        self.optimizer = optim.make_optimizer(
            config, self.model.parameters_of(part) if part is not None else self.model.parameters(),
            getattr(self.model, "ADAM_BETAS", None))
        self.schedule = optim.make_schedule(config, self.optimizer, total_steps)
        self.loss_fn = optim.make_loss(config.loss)
        # a model that computes its own gradient in NumPy (a 2-D playground network: a few hundred weights, where
        # torch's autograd and optimizer cost ten times the arithmetic) is stepped in NumPy by the same optimizer's
        # rules, its one flat parameter updated in place; the schedule still sets the rate
        # (so is an agent's Q-table that learns online: reinforcement.TableAgent, whose TD loss is its own)
        self.rules: optim.Rules | None = None
        self._stepper = self.agent if self.agent is not None else self.model
        if (hasattr(self._stepper, "numpy_gradient") and (self.agent or config.loss in optim.NUMPY_LOSSES)
                and device.type == "cpu" and engine == Engine()):
            self._flat = self._stepper.flat.detach().numpy()
            self.rules = optim.Rules([config], self._flat.shape, self._flat.dtype)
        # and such a model that says what a compiled step needs (a 2-D network) takes a run of batches in one call
        # (tinysteps), when numba is there and nothing changes the rate between steps
        self._settings = self.model.compiled_settings() if hasattr(self.model, "compiled_settings") else None
        self.compiled = (self.rules is not None and self._settings is not None and tinysteps.fits(self._settings[0])
                         and config.schedule == "constant")
        if self.compiled:
            self._coefficients = np.array(self.rules.rows[0], dtype=np.float64)
        self._targets: tuple[np.ndarray, np.ndarray] | None = None  # labels as float32 for the compiled steps
        self.losses: list[float] = []  # every step's loss read back so far, cut after the first non-finite one
        self.history: list[EpochRow] = []
        self.diverged_at: int | None = None  # the step whose loss was not finite
        self.evaluation: Evaluation | None = None  # the final test results
        self.seconds = 0.0  # time spent stepping this lane alone: what one optimizer's step costs
        self.steps = 0
        self._scored: tuple[int, torch.Tensor, Evaluation] | None = None  # the last score: after which step, on what
        # what each step leaves on the device until a read-back brings it all back at once: a GPU is neither waited
        # for nor given more than the step's own kernels (the epoch's totals are summed on the CPU)
        self._pending: list[torch.Tensor] = []  # each step's mean loss
        self._pending_correct: list[torch.Tensor] = []  # each step's correctly classified samples
        self._shares: list[float] = []  # each step's part of its batch, in this process
        self._batches: list[int] = []  # each taken step's batch size, until its values are read
        self._epoch_loss = self._epoch_correct = 0.0  # the epoch's summed loss (mean times batch) and correct samples
        self._epoch_samples = 0  # and the samples this lane stepped on (a GAN's part may sit out some batches)

    @property
    def training(self) -> bool:
        return self.diverged_at is None

    def state(self) -> dict:
        """Everything the lane needs to go on exactly where it is, between two steps (read back first)."""
        optimizer = self.rules if self.rules is not None else self.optimizer
        return {"model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "losses": list(self.losses),
                "history": [row.to_dict() for row in self.history], "diverged_at": self.diverged_at,
                "seconds": self.seconds, "steps": self.steps,
                "epoch_totals": (self._epoch_loss, self._epoch_correct, self._epoch_samples)}

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        (self.rules if self.rules is not None else self.optimizer).load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.losses = list(state["losses"])
        self.history = [EpochRow(**row) for row in state["history"]]
        self.diverged_at, self.seconds, self.steps = state["diverged_at"], state["seconds"], state["steps"]
        self._epoch_loss, self._epoch_correct, self._epoch_samples = state["epoch_totals"]

    def begin_epoch(self) -> None:
        self.model.train()
        for layer in getattr(self.model, "frozen_layers", ()):  # a frozen transfer's features: as in inference
            layer.eval()
        self._epoch_loss = self._epoch_correct = 0.0
        self._epoch_samples = 0

    def step(self, x: torch.Tensor, y: torch.Tensor, batch: int) -> None:
        """One optimizer step on one batch of `batch` samples, of which this process has (x, y): the only training
        step in dlcore (the export script has its own)."""
        started = time.perf_counter()
        if self.rules is not None:
            self._numpy_step(x, y, batch)
            self.seconds += time.perf_counter() - started
            return
        with self._autocast():
            logits = self.net(x) if self._objective is None else None
            loss = self.loss_fn(logits, y) if logits is not None else self._objective(x)
        if loss is None:  # an agent's step that only acted (reinforcement.Agent): the rate still follows the steps
            with warnings.catch_warnings():  # torch's hint that its optimizer's step() should come first
                warnings.simplefilter("ignore", UserWarning)
                self.schedule.step()
            self.seconds += time.perf_counter() - started
            return
        share = len(y) / batch
        # DDP averages the processes' gradients; weighting each by its share of the batch makes that average the
        # gradient of the whole batch's mean loss, as one process would take it, even when shards differ in size
        # (the weight is exactly 1 for one process, and for equal shards)
        weight = share * (self.group.world if self.group else 1)
        self.optimizer.zero_grad(set_to_none=True)
        (loss * weight if weight != 1 else loss).backward()
        self.optimizer.step()
        self.schedule.step()
        self._pending.append(loss.detach())
        self._pending_correct.append(torch.tensor(math.nan) if logits is None or y.is_floating_point()  # nothing to
                                     else (optim.predicted_classes(logits.detach()) == y)  # name, or values; a
                                     .reshape(len(y), -1).float().mean(dim=1).sum())  # sequence's steps in part
        self._shares.append(share)
        self._batches.append(batch)
        self.steps += 1
        self.seconds += time.perf_counter() - started

    def _numpy_step(self, x: torch.Tensor, y: torch.Tensor, batch: int) -> None:
        """Lane.step's arithmetic for a model that steps itself: the same loss, optimizer and schedule, in NumPy."""
        loss, correct, grad = self._stepper.numpy_gradient(np.asarray(x), np.asarray(y), self.config.loss)
        self.rules.step(self._flat, grad, self.optimizer.param_groups[0]["lr"])
        if self.config.schedule != "constant":  # which never changes the rate, and costs as much as the arithmetic
            with warnings.catch_warnings():  # torch's hint that its optimizer's step() should come first
                warnings.simplefilter("ignore", UserWarning)
                self.schedule.step()
        self._pending.append(loss)
        self._pending_correct.append(correct)
        self._shares.append(1.0)
        self._batches.append(batch)
        self.steps += 1

    def compiled_steps(self, x: np.ndarray, y: np.ndarray, order: np.ndarray, first: int, last: int,
                       batch: int) -> None:
        """The steps on batches order[first:last], batch points at a time, in one compiled call: the same maths as
        _numpy_step's, without NumPy's fixed cost per call (a 2-D network's step is a few dozen numbers)."""
        started = time.perf_counter()
        if self._targets is None or self._targets[0] is not y:
            self._targets = (y, y.astype(np.float32))
        count = -(-(last - first) // batch)
        losses, correct = np.empty(count), np.empty(count)
        rules, (sizes, activation, output, penalty, rate) = self.rules, self._settings
        rules.t = tinysteps.steps(self._flat, sizes, x, self._targets[1], order, first, last, batch, activation,
                                  output, penalty, rate, self._coefficients, rules.m, rules.v, rules.t, rules.lrs[0],
                                  losses, correct)
        self._pending.extend(losses.tolist())
        self._pending_correct.extend(correct.tolist())
        self._shares.extend([1.0] * count)
        self._batches.extend([batch] * (count - 1) + [last - first - batch * (count - 1)])
        self.steps += count
        self.seconds += time.perf_counter() - started

    def take_pending(self) -> torch.Tensor:
        """The steps not read back yet, as one float32 tensor (2, steps) on the device: each step's loss weighted
        by this process's share of its batch (so that a group's sum is the batch's mean loss), and its correct
        samples."""
        if not self._pending:
            return torch.zeros((2, 0), device=next(self.model.parameters()).device)
        if self.rules is not None:  # plain numbers
            taken = torch.tensor([self._pending, self._pending_correct], dtype=torch.float32)
            self._pending.clear()
            self._pending_correct.clear()
            self._shares.clear()
            return taken
        losses = torch.stack(self._pending).float()
        if any(share != 1 for share in self._shares):
            losses = losses * torch.tensor(self._shares, device=losses.device)
        taken = torch.stack([losses, torch.stack(self._pending_correct).float()])
        self._pending.clear()
        self._pending_correct.clear()
        self._shares.clear()
        return taken

    def read_losses(self, taken: torch.Tensor) -> list[float]:
        """Bring taken steps back from the device in one go and add them to the epoch's totals; a non-finite loss
        ends this lane's training."""
        losses, correct = taken.cpu().tolist()
        batches = self._batches[: len(losses)]
        del self._batches[: len(losses)]
        first_bad = next((i for i, value in enumerate(losses) if not math.isfinite(value)), None)
        if first_bad is not None:
            losses = losses[: first_bad + 1]  # the steps after the first NaN say nothing more
            self.diverged_at = len(self.losses) + first_bad + 1
        self._epoch_loss += sum(loss * batch for loss, batch in zip(losses, batches))
        self._epoch_correct += sum(correct[: len(losses)])
        self._epoch_samples += sum(batches[: len(losses)])
        return losses

    def score(self, test_x: torch.Tensor, test_y: torch.Tensor, on_batch=None) -> Evaluation:
        """The model's score on test images, computed once per state of its weights: a run whose test split is
        scored whole after each epoch, and ends with its last epoch, is not scored twice."""
        if self._scored is None or self._scored[0] != self.steps or self._scored[1] is not test_x:
            self._scored = (self.steps, test_x, self._evaluate(test_x, test_y, on_batch))
        return self._scored[2]

    def _evaluate(self, test_x: torch.Tensor, test_y: torch.Tensor, on_batch) -> Evaluation:
        if self.agent is not None:  # its greedy episodes, one "test image" each
            return reinforcement.evaluate(self.model, self.config, len(test_x), on_batch)
        if self._objective is not None:
            return generative.evaluate(self.model, test_x, on_batch, self.part)
        if self.rules is None:
            return evaluate(self.model, test_x, test_y, test_x.device, on_batch)
        logits = self.model.numpy_logits(test_x.numpy())  # a few hundred points: one batch
        if on_batch is not None:
            on_batch(1, 1)
        return evaluate_numpy(logits, test_y.numpy(), self.config.loss)

    def end_epoch(self, epoch: int, samples_per_sec: float, train_seconds: float, result: Evaluation,
                  test_images: int) -> EpochRow:
        """The epoch's row: its training totals over the samples it stepped on (of every process, as read back), and
        its score on `test_images` test images."""
        return EpochRow(
            epoch=epoch, train_loss=self._epoch_loss / self._epoch_samples if self._epoch_samples else math.nan,
            train_accuracy=self._epoch_correct / self._epoch_samples if self._epoch_samples else math.nan,
            test_loss=result.loss, test_accuracy=result.accuracy, test_images=test_images,
            samples_per_sec=samples_per_sec, train_seconds=train_seconds,
            test_return=reinforcement.mean_return(result) if result.returns else math.nan,
            **(self.agent.epoch_returns() if self.agent else {}),
        )


class Loop:
    """Trains lanes that share a dataset, batch size, epochs and seed, in the calling thread.

    Any thread may pause, resume or stop it and read its state under `lock`; the loop itself never blocks on a
    reader. Lanes are made when it starts, so a queued run holds no model. Data that is no named dataset (the 2-D
    playground's points) comes as `tensors` (train_x, train_y, test_x, test_y), a model that is no ModelSpec's
    from `build`, and `epochs` may go past a TrainConfig's bound (a 2-D network's epoch is a few milliseconds).
    With a group of processes (the engine's), each trains on its shard of every batch, and a stop, the time limit
    or a non-finite loss takes effect in all of them at the same step. Each epoch is scored on a fixed share of the
    test split (epoch_test_split), and the whole split once, at the end. A pace (seconds) spreads the steps over at
    least that long, so a room can watch a fast race unfold; the waits count as neither training time nor pauses.
    A paused loop can be suspended: it packs its state (`suspended`, bytes) and ends, so the process holding it can
    exit; a loop made with that state (`resume`) goes on at the same step, with the same batches, as if never paused.
    """

    def __init__(self, configs: list[TrainConfig], tensors: tuple[torch.Tensor, ...] | None = None,
                 build: Callable[[], nn.Module] | None = None, epochs: int | None = None, engine: Engine = Engine(),
                 pace: float = 0.0, resume: bytes | None = None):
        self.configs = configs
        self.resume_from = resume
        self.suspended: bytes | None = None  # the packed state, once suspended
        self.tensors, self.build = tensors, build
        self.epochs = epochs or configs[0].epochs
        self.engine = engine
        self.pace = pace
        # samples a step takes from the training data: a batch; one environment step for an agent, whose batches
        # come from its replay buffer
        self.stride = 1 if reinforcement.is_env(configs[0].dataset) else configs[0].batch_size
        self.lock = threading.Lock()
        self.lanes: list[Lane] = []
        self.device = ""  # the device's name, once known
        self.epoch = 0  # epochs completed
        self.step = 0  # batches trained, over all epochs
        self.steps_per_epoch = 0
        self.samples = 0  # training samples each lane has seen
        self.elapsed = 0.0  # training time so far: pauses and evaluation excluded
        self.evaluating = 0.0  # time spent scoring test images so far
        self.wall = 0.0  # time since the loop started, pauses excluded: loading, training and scoring
        self.phase = "training"  # or "evaluating": scoring each epoch's test images, and the whole split at the end
        self.scored = (0, 0)  # the current evaluation's batches scored, and in all (every lane's together)
        self.scoring = 0  # the test images the current evaluation scores
        self.test_images = 0  # in the whole test split, once loaded
        self.epoch_test_images = 0  # in each epoch's share of it (epoch_test_split)
        self.timed_out = False
        self._trained = 0.0  # the training time of the epochs finished
        self._per_image: float | None = None  # the first epoch's scoring time per test image: later scorings' pace
        self._began = self._paused = 0.0
        self._limit = time_limit_seconds()  # read when the job is made, so a queued run keeps the limit it was given
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._suspend = threading.Event()
        self.stepping = frozenset(generative.PARTS)  # the parts of a shared model (a GAN's) that take their steps
        self._agreed_stop = False  # a group's processes stop when all have heard of a stop, at a read-back

    # control, from any thread
    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()

    def step_only(self, parts: tuple[str, ...]) -> None:
        """From the next batch on, step only these parts of a GAN (its discriminator, its generator, or both)."""
        chosen = frozenset(parts) & frozenset(generative.PARTS)
        if not chosen:
            raise DLCoreError(f"Choose which to train: {' or '.join(generative.PARTS)}, or both.")
        self.stepping = chosen

    @property
    def packable(self) -> bool:
        """Whether suspend() can pack this loop: not a group's processes, nor an agent's, whose environment and
        replay buffer are no tensors of a state dict; those pause instead."""
        return self.engine.group is None and not reinforcement.is_env(self.configs[0].dataset)

    def suspend(self) -> None:
        """End at the next step with the state packed (packable), else stay paused."""
        if self.packable:
            self._suspend.set()
            self._resume.set()

    @property
    def samples_per_sec(self) -> float:
        return self.samples / self.elapsed if self.elapsed else 0.0

    def eta(self) -> float | None:
        """Seconds left: training at the current speed, then scoring the test images left (each epoch's, and the
        whole split at the end where an epoch's are fewer) at the first epoch's pace per image (while the first is
        scored, at its pace so far; before, at SCORING_COST of the training pace)."""
        if not self.samples_per_sec:
            return None
        training = (self.steps_per_epoch * self.epochs - self.step) * self.stride / self.samples_per_sec
        if self.pace:
            training = max(training, self.pace * (1 - self.fraction_done))
        done, total = self.scored if self.phase == "evaluating" and self.scored[1] else (0, 1)
        scored = done / total * self.scoring
        images = (self.epochs - self.epoch) * self.epoch_test_images - scored
        if self.epoch_test_images < self.test_images:
            images += self.test_images
        per_image = self._per_image
        if per_image is None:
            per_image = self.evaluating / scored if scored else SCORING_COST / self.samples_per_sec
        return training + images * per_image

    @property
    def fraction_done(self) -> float:
        total = self.steps_per_epoch * self.epochs
        return self.step / total if total else 0.0

    # the work, in the loop's thread
    def run(self, on_epoch=None, on_publish=None) -> str:
        """Train every lane to the end; 'done', 'stopped' (by a user or the time limit), 'diverged' (every lane) or
        'suspended' (its state in `suspended`).

        on_epoch(loop) is called after each epoch's evaluation, and on_publish(loop) each time step losses are
        published (about every PUBLISH_SECONDS, between two steps), both in this thread.
        """
        base, group = self.configs[0], self.engine.group
        self._began = time.perf_counter()
        device = group.device if group else resolve_device(base.device)
        if device.type == "cuda" and device.index is not None:
            torch.cuda.set_device(device)  # each thread has its own current GPU: nothing implicit lands on GPU 0
        train_x, train_y, test_x, test_y = (
            tuple(t.to(device) for t in self.tensors) if self.tensors else tensors_on(data.load(base.dataset), device))
        if base.per_class:  # few-shot: the same few of each class in every lane
            chosen = transfer.few_per_class(train_y.cpu(), base.per_class, base.seed).to(train_y.device)
            train_x, train_y = train_x[chosen], train_y[chosen]
        epoch_x, epoch_y = epoch_test_split(test_x, test_y)
        n = group.usable(len(train_y), self.stride) if group else len(train_y)
        self.steps_per_epoch = math.ceil(n / self.stride)
        lanes = [lane for config in self.configs
                 for lane in self._lanes(config, device, self.steps_per_epoch * self.epochs)]
        in_numpy = all(lane.rules is not None for lane in lanes)  # their batches are taken as NumPy views: a torch
        if in_numpy:  # index costs more than such a step's arithmetic
            train_x, train_y = train_x.numpy(), train_y.numpy()
        compiled = in_numpy and not group and not self.pace and all(lane.compiled for lane in lanes)  # an epoch's
        # batches in one call per lane: pauses, stops and read-backs come between epochs (a 2-D epoch is a few ms)
        shuffle = torch.Generator(device="cpu").manual_seed(base.seed)  # every process shuffles the same way
        first_epoch, first_batch = (self._unpack(lanes, shuffle, device) if self.resume_from is not None
                                    else (1, 0))
        with self.lock:
            self.lanes = lanes
            self.device = device_name(device) + (f", {group.label}" if group else "")
            self.test_images, self.epoch_test_images = len(test_y), len(epoch_y)
        for epoch in range(first_epoch, self.epochs + 1):
            shuffled = shuffle.get_state()  # what a suspended loop keeps: the generator this epoch's order came from
            order = torch.randperm(len(train_y), generator=shuffle)[:n].to(device, non_blocking=True)
            if in_numpy:
                order = order.numpy()
            if epoch != first_epoch or not first_batch:
                for lane in lanes:
                    lane.begin_epoch()
            else:
                for lane in lanes:
                    lane.model.train()
            started = last_read = time.perf_counter()
            for first in range(first_batch if epoch == first_epoch else 0, n, self.stride):
                if not self._resume.is_set():
                    paused_at = time.perf_counter()
                    self._resume.wait()
                    started += time.perf_counter() - paused_at
                    self._paused += time.perf_counter() - paused_at
                if self._suspend.is_set() and not self._stopping():
                    self._read_back(self._trained + time.perf_counter() - started)
                    self.suspended = self._pack(epoch, first, shuffled, time.perf_counter() - started)
                    return "suspended"
                if self._stopping() or not any(lane.training for lane in lanes):
                    break
                if compiled:
                    for lane in lanes:
                        if lane.training:
                            lane.compiled_steps(train_x, train_y, order, first, n, base.batch_size)
                    taken, samples = -(-(n - first) // base.batch_size), n - first
                else:
                    index = order[first : first + self.stride]
                    mine = group.shard(index) if group else index
                    x, y = train_x[mine], train_y[mine]
                    for lane in lanes:
                        if lane.training and (lane.part is None or lane.part in self.stepping):
                            lane.step(x, y, len(index))
                    taken, samples = 1, len(index)
                now = time.perf_counter()
                with self.lock:
                    self.step += taken
                    self.samples += samples
                if self.pace:
                    paced = self._keep_pace()
                    started += paced - now  # waiting for the pace is not training
                    now = paced
                if (self.step % GROUP_READ_STEPS == 0) if group else (now - last_read >= PUBLISH_SECONDS):
                    last_read = now
                    self._read_back(self._trained + now - started)
                    if on_publish is not None:
                        on_publish(self)
                if compiled:  # the epoch's batches are trained
                    break
            if device.type == "cuda":  # the epoch's time includes the kernels still queued, not just their launch
                torch.cuda.synchronize(device)
            self._trained += time.perf_counter() - started
            self._read_back(self._trained)
            if self._stopping() or not any(lane.training for lane in lanes):
                break
            scoring = [lane for lane in lanes if lane.training]
            results = self._score(scoring, epoch_x, epoch_y, stoppable=True)
            if results is None:  # stopped while scoring
                break
            if self._per_image is None:
                self._per_image = self.evaluating / len(epoch_y)
            with self.lock:
                for lane, result in zip(scoring, results):
                    lane.history.append(lane.end_epoch(epoch, self.samples_per_sec, self._trained, result,
                                                       len(epoch_y)))
                self.epoch = epoch
            if on_epoch is not None:
                on_epoch(self)
        scoring = [lane for lane in lanes if lane.training]
        for lane, result in zip(scoring, self._score(scoring, test_x, test_y)):
            lane.evaluation = result
            lane.model = lane.model.cpu().eval()
        if not any(lane.training for lane in lanes):
            return "diverged"
        return "stopped" if self._stopping() else "done"

    def _lanes(self, config: TrainConfig, device: torch.device, total_steps: int) -> list[Lane]:
        """A config's lanes: one; or a GAN's two, its discriminator's and its generator's, sharing its model and
        stepped in that order on every batch."""
        if config.model.kind != "gan":
            return [Lane(config, device, total_steps, self.build, self.engine)]
        first = Lane(config, device, total_steps, self.build, self.engine, part=generative.PARTS[0])
        return [first, *(Lane(config, device, total_steps, engine=self.engine, part=part, model=first.model)
                         for part in generative.PARTS[1:])]

    def _pack(self, epoch: int, first: int, shuffled: torch.Tensor, epoch_seconds: float) -> bytes:
        """The loop's state between two steps, as torch.save's bytes of tensors and plain values only (so that
        torch.load(weights_only=True) reads it back): where it is, every lane's state, the random generators."""
        state = {"epoch": epoch, "first": first, "shuffle": shuffled, "rng": torch.get_rng_state(),
                 "done": self.epoch, "step": self.step, "samples": self.samples, "elapsed": self.elapsed,
                 "evaluating": self.evaluating, "wall": self.wall, "trained": self._trained + epoch_seconds,
                 "per_image": self._per_image, "lanes": [lane.state() for lane in self.lanes]}
        if self.lanes and next(self.lanes[0].model.parameters()).is_cuda:
            state["cuda_rng"] = torch.cuda.get_rng_state()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()

    def _unpack(self, lanes: list[Lane], shuffle: torch.Generator, device: torch.device) -> tuple[int, int]:
        """Put a suspended loop's state back into new lanes; returns the epoch and the batch's first index it was at."""
        state = torch.load(io.BytesIO(self.resume_from), map_location=device, weights_only=True)
        self.resume_from = None  # its bytes are not kept for the rest of the run
        for lane, kept in zip(lanes, state["lanes"], strict=True):
            lane.restore(kept)
        shuffle.set_state(state["shuffle"].cpu())
        torch.set_rng_state(state["rng"].cpu())
        if "cuda_rng" in state and device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu())
        self.epoch, self.step, self.samples = state["done"], state["step"], state["samples"]
        self.elapsed, self.evaluating, self.wall = state["elapsed"], state["evaluating"], state["wall"]
        self._trained, self._per_image = state["trained"], state["per_image"]
        self._began = time.perf_counter() - self.wall  # the pace goes on from where it was
        return state["epoch"], state["first"]

    def _stopping(self) -> bool:
        """One process stops as soon as asked; a group's processes stop together, once a read-back has agreed."""
        return self._agreed_stop if self.engine.group else self._stop.is_set()

    def _keep_pace(self) -> float:
        """Wait (stoppably) until this step's share of the pace has passed; returns the time it ends."""
        schedule = self._began + self._paused + self.pace * self.fraction_done
        ahead = schedule - time.perf_counter()
        if ahead > 0:
            self._stop.wait(ahead)
        return time.perf_counter()

    def _score(self, lanes: list[Lane], test_x: torch.Tensor, test_y: torch.Tensor,
               stoppable: bool = False) -> list[Evaluation] | None:
        """Each lane's score on test images, as a phase of its own: its batches counted for progress bars and its
        time kept apart from training's (a CNN on CPU takes seconds to score 10,000 digits). A stoppable scoring
        (an epoch's) is abandoned, returning None, at the first batch after a stop is asked."""
        began, before = time.perf_counter(), self.evaluating

        def counted(number: int):
            def on_batch(done: int, total: int) -> None:
                now = time.perf_counter()
                with self.lock:
                    self.scored = (number * total + done, len(lanes) * total)
                    self.evaluating = before + now - began
                    self.wall = now - self._began - self._paused
                if stoppable and self._stopping():
                    raise _Abandoned
            return on_batch

        with self.lock:
            self.phase, self.scored, self.scoring = "evaluating", (0, 0), len(test_y)
        try:
            return [lane.score(test_x, test_y, counted(number)) for number, lane in enumerate(lanes)]
        except _Abandoned:
            return None
        finally:
            now = time.perf_counter()
            with self.lock:
                self.phase = "training"
                self.evaluating = before + now - began
                self.wall = now - self._began - self._paused

    def _read_back(self, elapsed: float) -> None:
        """Publish every lane's new losses and the time trained so far; past the time limit, stop."""
        pending = [lane.take_pending() for lane in self.lanes]
        if self.engine.group:
            pending = self._agree(pending, elapsed)
        values = [lane.read_losses(taken) for lane, taken in zip(self.lanes, pending)]
        with self.lock:
            for lane, new in zip(self.lanes, values):
                lane.losses.extend(new)
            self.elapsed = elapsed
            self.wall = time.perf_counter() - self._began - self._paused
        if elapsed > self._limit:
            self.timed_out = True
            self._stop.set()

    def _agree(self, pending: list[torch.Tensor], elapsed: float) -> list[torch.Tensor]:
        """One all-reduce sums the processes' steps (losses weighted by their shares of the batch, correct samples)
        and their stop requests, so every process reads the same, and stops, or diverges, at the same step."""
        group = self.engine.group
        asked = torch.tensor([self._stop.is_set(), elapsed > self._limit], dtype=torch.float32, device=group.device)
        summed = group.sum(torch.cat([asked, *(taken.to(group.device).flatten() for taken in pending)]))
        stop, over = summed[:2].tolist()
        if stop or over:
            self._agreed_stop, self.timed_out = True, self.timed_out or over > 0
            self._stop.set()
        parts = summed[2:].split([taken.numel() for taken in pending])
        return [part.view(taken.shape) for part, taken in zip(parts, pending)]


class LoopJob:
    """A loop in a background thread, with the status readers see: queued, running, paused, then how it ended.

    A run (training.Trainer) and a race (race.Race) are both one: subclasses say what to record when the loop ends.
    """

    def __init__(self, configs: list[TrainConfig], engine: Engine = Engine(), pace: float = 0.0,
                 resume: bytes | None = None):
        self.loop = Loop(configs, engine=engine, pace=pace, resume=resume)
        self._lock = threading.Lock()
        self._status, self._message = "queued", ""
        self._thread: threading.Thread | None = None

    # control, from any thread
    def start(self, paused: bool = False) -> None:
        """Train in a thread of its own; paused, it holds before its first step until resumed. It is running from
        here on, so a pause that comes before the thread's first line still holds it."""
        with self._lock:
            if paused:
                self.loop.pause()
            self._status = "paused" if paused else "running"
        self._thread = threading.Thread(target=self.run, name=f"{type(self).__name__}-{id(self):x}", daemon=True)
        self._thread.start()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def pause(self) -> bool:
        """Hold a running job between two steps, keeping its models; False when it is not running."""
        with self._lock:
            if self._status != "running":
                return False
            self.loop.pause()
            self._status = "paused"
            return True

    def requeue(self) -> bool:
        """Mark a paused job as waiting for a slot again (the job manager's line); False when it is not paused."""
        with self._lock:
            if self._status != "paused":
                return False
            self._status = "queued"
            return True

    def resume(self) -> None:
        """Go on from where the job was held; a job that never started is started by start() instead."""
        with self._lock:
            if self._status in ("paused", "queued") and self.started:
                self._status = "running"
                self.loop.resume()

    def stop(self) -> None:
        self.loop.stop()

    def suspend(self) -> bool:
        """Have a paused or held job pack its state and end its thread (loop.suspended); False when it is neither."""
        with self._lock:
            if self._status not in ("paused", "queued") or not self.started:
                return False
            self.loop.suspend()
            return self.loop.packable

    def cancel(self, message: str) -> None:
        """End a job that never started."""
        with self._lock:
            self._status, self._message = "stopped", message

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # the work, in the job's thread
    def run(self) -> None:
        with self._lock:
            if self._status == "queued":  # run here, not through start()
                self._status = "running"
        try:
            status = self.loop.run(on_epoch=self._epoch_done, on_publish=self._published)
            if status == "suspended":  # nothing ended: whoever suspended it takes loop.suspended
                return
            message = self._ending(status)
            self._record(status, message)
        except DLCoreError as exc:
            status, message = "failed", str(exc)
        except Exception as exc:  # the job ends, the server does not
            status = "failed"
            message = f"Training failed unexpectedly ({type(exc).__name__}: {exc}); check the settings and try again."
        try:
            self._finished(status, message)
        except DLCoreError as exc:
            status, message = "failed", str(exc)
        except Exception as exc:
            status, message = "failed", f"The job ended but could not be recorded ({type(exc).__name__}: {exc})."
        with self._lock:
            self._status, self._message = status, message

    def _ending(self, status: str) -> str:
        """The sentence a job's end leaves, for the user and the runs store."""
        if status == "diverged":
            return diverged_message(self.loop.configs[0])
        if status != "stopped":
            return ""
        kept = "the model keeps" if len(self.loop.configs) == 1 else "each optimizer keeps"
        if self.loop.timed_out:
            return (f"Stopped after {self.loop.step} steps, at this server's limit of {time_limit_seconds() / 60:g} "
                    f"minutes of training per run; {kept} what it learned so far.")
        return f"Stopped after {self.loop.step} steps; {kept} what it learned so far."

    def _epoch_done(self, loop: Loop) -> None:
        """After each epoch's evaluation, in the job's thread."""

    def _published(self, loop: Loop) -> None:
        """Each time step losses are published (about 10 times a second), between two steps, in the job's thread."""

    def _record(self, status: str, message: str) -> None:
        """Keep what the loop did before the final status is published; a DLCoreError makes the job 'failed'."""

    def _finished(self, status: str, message: str) -> None:
        """After recording, before the final status is published: where the job manager frees the slot."""
