"""The trainer (a background thread with live metrics, pause/stop and divergence) and the job manager."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from . import data, models, optim
from .config import DLCoreError, TrainConfig
from .evaluate import EVAL_BATCH, Evaluation, evaluate
from .runs import RunStore, check_weights, home, save_checkpoint

DEVICES = ("auto", "cpu", "cuda", "mps")
PUBLISH_SECONDS = 0.1  # how often step losses reach readers; also bounds GPU syncs to ~10 a second
_INIT_LOCK = threading.Lock()  # model init draws from torch's global RNG; one trainer at a time


# ---- devices -------------------------------------------------------------------------------------

def device_status() -> dict[str, str]:
    """Each device name -> '' when usable here, else the reason it is not."""
    cuda = "" if torch.cuda.is_available() else "no CUDA GPU was found on this server"
    mps_backend = getattr(torch.backends, "mps", None)
    mps = "" if mps_backend is not None and mps_backend.is_available() else "Apple MPS is only on Apple-silicon Macs"
    return {"cpu": "", "cuda": cuda, "mps": mps}


def resolve_device(name: str) -> torch.device:
    """'auto' picks the best present; asking for one that is absent is an error with the reason."""
    if name not in DEVICES:
        raise DLCoreError(f"Unknown device '{name}'; choose one of: {', '.join(DEVICES)}.")
    status = device_status()
    if name == "auto":
        name = next(d for d in ("cuda", "mps", "cpu") if not status[d])
    if status[name]:
        raise DLCoreError(f"Device {name} is not available: {status[name]}; choose cpu or auto.")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return {"mps": "Apple GPU (MPS)"}.get(device.type, "CPU")


_DEVICE_TENSORS: OrderedDict[tuple[int, str], tuple] = OrderedDict()
_DEVICE_TENSORS_LOCK = threading.Lock()


def tensors_on(dataset: data.Dataset, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Normalised (train_x, train_y, test_x, test_y) on a device, made once and shared by every run."""
    key = (id(dataset), str(device))
    with _DEVICE_TENSORS_LOCK:
        if key in _DEVICE_TENSORS:
            return _DEVICE_TENSORS[key][1]
        tensors = (
            dataset.normalized(dataset.train_images), dataset.train_labels,
            dataset.normalized(dataset.test_images), dataset.test_labels,
        )
        if device.type == "cuda":  # pinned host memory makes the one upload fast and asynchronous
            tensors = tuple(t.pin_memory().to(device, non_blocking=True) for t in tensors)
        else:
            tensors = tuple(t.to(device) for t in tensors)
        _DEVICE_TENSORS[key] = (dataset, tensors)  # holding the dataset keeps its id from being reused
        while len(_DEVICE_TENSORS) > 4:
            _DEVICE_TENSORS.popitem(last=False)
        return tensors


_DEFAULT_THREADS = torch.get_num_threads()


def share_cpu(jobs: int = 1, reserve: int = 1) -> int:
    """Give training all cores but `reserve`, split between `jobs` runs at once; returns threads per run.

    For a web server that trains in its own process. torch's OpenMP threads spin at every barrier, so a
    busy thread that takes one of their cores stalls each parallel op: on 2 cores, simple-nn fell from
    52k to 5k samples/s beside one busy process, while one training thread kept 46k beside it.
    """
    threads = max(1, (_DEFAULT_THREADS - reserve) // max(1, jobs))
    torch.set_num_threads(threads)
    return threads


_PREPARING: set[tuple[str, str, str]] = set()


def prepare(dataset: str, device: str = "auto") -> None:
    """Load a dataset onto a device in the background, so a run started soon after trains at once.

    Pages call this as they draw; problems are left for the run itself to report.
    """
    key = (dataset, device, str(data.data_dir()))
    with _DEVICE_TENSORS_LOCK:
        if key in _PREPARING:
            return
        _PREPARING.add(key)

    def work() -> None:
        try:
            tensors_on(data.load(dataset), resolve_device(device))
        except Exception:
            pass  # a Start will say what is wrong
        finally:
            with _DEVICE_TENSORS_LOCK:
                _PREPARING.discard(key)

    threading.Thread(target=work, name=f"dlcore-prepare-{dataset}", daemon=True).start()


CHOICES = {  # each TrainConfig field that names something -> the registry of those names
    "dataset": data.DATASETS, "optimizer": optim.OPTIMIZERS, "schedule": optim.SCHEDULES, "loss": optim.LOSSES,
    "device": DEVICES,
}


def check_choice(field: str, value: str) -> None:
    if value not in CHOICES[field]:
        raise DLCoreError(f"Unknown {field} '{value}'; choose one of: {', '.join(CHOICES[field])}.")


def validate(config: TrainConfig) -> None:
    """Every check that can fail before any work is done, each with its own sentence; the schema (dlcore.config)
    has already checked each field's type and bounds, so what is left are names, combinations and cost."""
    for name in CHOICES:
        check_choice(name, getattr(config, name))
    models.validate(config.model)
    if config.nesterov and config.optimizer == "sgd" and config.momentum <= 0:
        raise DLCoreError("Nesterov momentum needs a momentum above 0; set momentum or turn Nesterov off.")
    check_memory(config)
    check_weights(config.model)


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


def check_memory(config: TrainConfig) -> models.MemoryEstimate:
    """Refuse a run whose estimated memory is over the budget, before anything is allocated."""
    estimate = models.estimate_memory(config.model, config.batch_size, optim.state_buffers(config), EVAL_BATCH)
    budget = memory_budget_mb()
    if estimate.total > budget * 2**20:
        parts = f"{estimate.weights / 2**20:,.0f} MB for weights and gradients, {estimate.activations / 2**20:,.0f} MB " \
                f"for one batch of {config.batch_size}'s activations"
        raise DLCoreError(f"This run would need about {estimate.total / 2**20:,.0f} MB ({parts}), over this server's "
                          f"{budget:,} MB per run; use fewer or smaller layers or a smaller batch.")
    return estimate


# ---- the trainer ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    """A consistent copy of a run's live state, cheap to take from any thread."""

    status: str  # queued, running, paused, done, stopped, diverged, failed
    message: str = ""
    device: str = ""
    epoch: int = 0  # epochs completed
    epochs: int = 0
    step: int = 0  # optimizer steps taken, over all epochs
    steps_per_epoch: int = 0
    step_losses: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)  # one dict per finished epoch
    samples_per_sec: float = 0.0
    elapsed: float = 0.0
    eta: float | None = None
    queue_position: int | None = None  # 1 = next to start

    @property
    def fraction(self) -> float:
        total = self.epochs * self.steps_per_epoch
        return min(self.step / total, 1.0) if total else 0.0

    @property
    def finished(self) -> bool:
        return self.status not in ("queued", "running", "paused")


def diverged_message(config: TrainConfig) -> str:
    hint = "a 10x lower learning rate" if config.lr > 1e-4 else "another optimizer such as Adam"
    return f"The loss became infinite or NaN (learning rate {config.lr:g} with {config.optimizer}); try {hint}."


class Trainer:
    """Trains one config in a background thread; readers call progress() without blocking it."""

    def __init__(self, config: TrainConfig, on_epoch=None, on_finish=None):
        validate(config)
        self.config = config
        self._on_epoch = on_epoch  # called with the trainer after each epoch (in its thread)
        self._on_finish = on_finish  # called with the trainer before its final status is published
        self._lock = threading.Lock()
        self._progress = Progress("queued", epochs=config.epochs)
        self._step_losses: list[float] = []
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.model: nn.Module | None = None
        self.evaluation: Evaluation | None = None

    # control, from any thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"trainer-{id(self):x}", daemon=True)
        self._thread.start()

    def pause(self) -> bool:
        """Hold a running run between two steps, keeping its model; False when it is not running."""
        with self._lock:
            if self._progress.status != "running":
                return False
            self._resume.clear()
            self._progress = replace(self._progress, status="paused")
            return True

    def requeue(self) -> bool:
        """Mark a paused run as waiting for a slot again (the job manager's line); False when it is not paused."""
        with self._lock:
            if self._progress.status != "paused":
                return False
            self._progress = replace(self._progress, status="queued")
            return True

    def resume(self) -> None:
        """Go on from where the run was held; a run that never started is started by start() instead."""
        with self._lock:
            if self._progress.status in ("paused", "queued") and self.started:
                self._progress = replace(self._progress, status="running")
                self._resume.set()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def progress(self) -> Progress:
        with self._lock:
            return replace(self._progress, step_losses=list(self._step_losses), history=list(self._progress.history))

    def _publish(self, **changes) -> None:
        with self._lock:
            self._progress = replace(self._progress, **changes)

    # the work, in the trainer's thread
    def run(self) -> None:
        status, message = "failed", ""
        try:
            status, message = self._train()
        except DLCoreError as exc:
            message = str(exc)
        except Exception as exc:  # the run ends, the server does not
            message = f"Training failed unexpectedly ({type(exc).__name__}: {exc}); check the settings and try again."
        if self._on_finish is not None:
            try:
                self._on_finish(self, status, message)
            except DLCoreError as exc:
                status, message = "failed", str(exc)
            except Exception as exc:
                status, message = "failed", f"The run finished but could not be saved ({exc})."
        self._publish(status=status, message=message, eta=0.0 if status == "done" else None)

    def _train(self) -> tuple[str, str]:
        config = self.config
        device = resolve_device(config.device)
        train_x, train_y, test_x, test_y = tensors_on(data.load(config.dataset), device)
        with _INIT_LOCK:
            torch.manual_seed(config.seed)
            model = models.build(config.model).to(device)
        self.model = model
        optimizer = optim.make_optimizer(config, model.parameters())
        loss_fn = optim.make_loss(config.loss)
        n = len(train_y)
        steps_per_epoch = math.ceil(n / config.batch_size)
        schedule = optim.make_schedule(config, optimizer, steps_per_epoch * config.epochs)
        shuffle = torch.Generator(device="cpu").manual_seed(config.seed)
        self._publish(status="running", device=device_name(device), steps_per_epoch=steps_per_epoch)

        train_seconds, samples_done, step = 0.0, 0, 0
        for epoch in range(config.epochs):
            model.train()
            order = torch.randperm(n, generator=shuffle).to(device, non_blocking=True)
            pending: list[torch.Tensor] = []  # step losses not yet read back from the device
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            last_publish = epoch_start = time.perf_counter()
            for start in range(0, n, config.batch_size):
                if not self._resume.is_set():
                    paused_at = time.perf_counter()
                    self._resume.wait()
                    epoch_start += time.perf_counter() - paused_at
                if self._stop.is_set():
                    break
                index = order[start : start + config.batch_size]
                x, y = train_x[index], train_y[index]
                logits = model(x)
                loss = loss_fn(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                step += 1
                samples_done += len(y)
                detached = loss.detach()
                pending.append(detached)
                loss_sum += detached * len(y)
                correct += (logits.detach().argmax(dim=1) == y).sum()
                now = time.perf_counter()
                if now - last_publish >= PUBLISH_SECONDS:
                    last_publish = now
                    if not self._flush(pending, step, samples_done, train_seconds + now - epoch_start):
                        return "diverged", diverged_message(config)
            train_seconds += time.perf_counter() - epoch_start
            if not self._flush(pending, step, samples_done, train_seconds):
                return "diverged", diverged_message(config)
            if self._stop.is_set():
                break
            self._finish_epoch(epoch, model, loss_sum.item() / n, correct.item() / n, test_x, test_y, train_seconds)

        self.evaluation = evaluate(model, test_x, test_y, device)
        self.model = model.cpu().eval()
        if self._stop.is_set():
            return "stopped", f"Stopped after {step} steps; the model keeps what it learned so far."
        return "done", ""

    def _flush(self, pending: list[torch.Tensor], step: int, samples: int, train_seconds: float) -> bool:
        """Read pending step losses back, publish them, and say whether they are all finite."""
        if not pending:
            return True
        values = torch.stack(pending).float().cpu().tolist()
        pending.clear()
        rate = samples / train_seconds if train_seconds > 0 else 0.0
        remaining = (self._progress.steps_per_epoch * self.config.epochs - step) * self.config.batch_size
        with self._lock:
            self._step_losses.extend(values)
            self._progress = replace(
                self._progress, step=step, samples_per_sec=rate, elapsed=train_seconds,
                eta=remaining / rate if rate else None,
            )
        return all(math.isfinite(v) for v in values)

    def _finish_epoch(self, epoch: int, model: nn.Module, train_loss: float, train_accuracy: float,
                      test_x: torch.Tensor, test_y: torch.Tensor, train_seconds: float) -> None:
        result = evaluate(model, test_x, test_y, test_x.device)
        model.train()
        row = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "test_loss": result.loss,
            "test_accuracy": result.accuracy,
            "samples_per_sec": self._progress.samples_per_sec,
            "train_seconds": train_seconds,
        }
        with self._lock:
            self._progress = replace(self._progress, epoch=epoch + 1, history=[*self._progress.history, row])
        if self._on_epoch is not None:
            self._on_epoch(self)


# ---- the job manager -----------------------------------------------------------------------------

MAX_WAITING = 2  # runs and races one student may have waiting or paused: the next experiment lined up, not the class's turn
MAX_QUEUE = 200  # everything waiting or paused on a server, whoever sent it
LOCAL = "local"  # the owner of work this process submits for itself (the CLI, scripts); pages pass their session's


class Slots:
    """Which work trains now and which waits, first come first served; one per server, shared by runs and optimizer
    races, so DLCORE_MAX_JOBS holds across both and a teacher's race queues behind a student's run.

    Work is named by a key such as ("run", 12), sent by an owner (a browser session, or LOCAL) and started by a
    callable that must return at once (it starts a thread) and take no manager's lock; whoever started it calls
    release() when it ends. Each owner may have max_waiting pieces of work waiting or paused, everyone together
    max_queue; both are checked under the lock that adds the work, so submits at the same moment cannot overshoot.
    """

    def __init__(self, max_concurrent: int = 1, max_queue: int = MAX_QUEUE, max_waiting: int = MAX_WAITING):
        self.max_concurrent = max(1, max_concurrent)
        self.max_queue = max_queue
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._waiting: list[tuple[tuple, str, Callable[[], None]]] = []  # (key, owner, start), next first
        self._running: dict[tuple, str] = {}  # key -> owner
        self._paused: dict[tuple, str] = {}  # key -> owner: holding its state, not a slot

    def enqueue(self, owner: str, make: Callable[[], tuple[tuple, Callable[[], None]]]) -> tuple:
        """Line up owner's work, or refuse with a sentence when it would wait and owner's share or the queue is full.

        make() names and builds the work (key, start); it is called only once there is room, under the lock.
        Returns the key.
        """
        with self._lock:
            if self._waiting or len(self._running) >= self.max_concurrent:
                self._check_room(owner)
            key, start = make()
            self._waiting.append((key, owner, start))
            self._fill()
        return key

    def park(self, key: tuple, pause: Callable[[], bool], over_limits: bool = False) -> bool:
        """Give running work's slot to the next in line while pause() holds it; False when it was not running.

        Paused work counts as waiting, so nobody pauses their way past their share (a teacher may: over_limits).
        """
        with self._lock:
            if key not in self._running:
                return False
            if not over_limits:
                self._check_room(self._running[key])
            if not pause():
                return False
            self._paused[key] = self._running.pop(key)
            self._fill()
            return True

    def requeue(self, key: tuple, start: Callable[[], None]) -> bool:
        """Put paused work back at the end of the line; start() continues it when its turn comes."""
        with self._lock:
            if key not in self._paused:
                return False
            self._waiting.append((key, self._paused.pop(key), start))
            self._fill()
            return True

    def cancel(self, key: tuple) -> bool:
        """Take waiting or paused work out of the line; False when it is neither (running, or gone)."""
        with self._lock:
            if self._paused.pop(key, None) is not None:
                return True
            for i, (waiting, _, _) in enumerate(self._waiting):
                if waiting == key:
                    del self._waiting[i]
                    return True
        return False

    def release(self, key: tuple) -> None:
        with self._lock:
            self._running.pop(key, None)
            self._paused.pop(key, None)  # paused work can still end: stopped, or done at the very moment it paused
            self._fill()

    def position(self, key: tuple) -> int | None:
        """1 for the next to start; None when not waiting."""
        with self._lock:
            return next((i for i, (waiting, _, _) in enumerate(self._waiting, 1) if waiting == key), None)

    def running(self, kind: str) -> list[int]:
        """The numbers of the work of this kind ("run", "race") training now."""
        with self._lock:
            return [number for what, number in self._running if what == kind]

    def paused(self, kind: str) -> list[int]:
        with self._lock:
            return [number for what, number in self._paused if what == kind]

    def waiting(self, kind: str) -> list[int]:
        """The numbers of the work of this kind waiting, next first."""
        with self._lock:
            return [number for (what, number), _, _ in self._waiting if what == kind]

    def _check_room(self, owner: str) -> None:
        queued = len(self._waiting) + len(self._paused)
        if queued >= self.max_queue:
            raise DLCoreError(f"The queue is full ({queued} runs and races are waiting); try again when some have finished.")
        mine = sum(who == owner for _, who, _ in self._waiting) + sum(who == owner for who in self._paused.values())
        if mine >= self.max_waiting:
            raise DLCoreError(f"You already have {mine} runs or races waiting or paused, the most one student may; "
                              "stop one, or try again once one is training.")

    def _fill(self) -> None:
        while self._waiting and len(self._running) < self.max_concurrent:
            key, owner, start = self._waiting.pop(0)
            self._running[key] = owner
            start()


class JobManager:
    """Owns every background run in this process: a queue, a few running at once, all recorded in the store."""

    def __init__(self, store: RunStore, max_concurrent: int = 1, max_queue: int = MAX_QUEUE,
                 max_waiting: int = MAX_WAITING, keep_finished: int = 100, slots: Slots | None = None):
        self.store = store
        self.slots = slots or Slots(max_concurrent, max_queue, max_waiting)
        self._keep_finished = keep_finished
        self._lock = threading.Lock()
        self._trainers: OrderedDict[int, Trainer] = OrderedDict()  # live and recently finished
        self._owners: dict[int, str] = {}  # run id -> who sent it, for as long as its trainer is kept

    @property
    def max_concurrent(self) -> int:
        return self.slots.max_concurrent

    def submit(self, config: TrainConfig, student: str = "", *, owner: str = LOCAL) -> int:
        """Record a run as queued and start it as soon as a slot is free; returns its run id.

        A run that has to wait is refused with a sentence when its owner already has their share waiting or
        paused, or the queue is full; nothing is recorded then.
        """
        validate(config)

        def make() -> tuple[tuple, Callable[[], None]]:
            run_id = self.store.create(config, student)
            trainer = Trainer(config, on_epoch=lambda t: self._record_epoch(run_id, t),
                              on_finish=lambda t, status, message: self._record_finish(run_id, t, status, message))
            with self._lock:
                self._trainers[run_id] = trainer
                self._owners[run_id] = owner
            return ("run", run_id), lambda: self._start(run_id, trainer)

        return self.slots.enqueue(owner, make)[1]

    def _start(self, run_id: int, trainer: Trainer) -> None:
        self.store.update(run_id, status="running")
        trainer.start()

    def _continue(self, run_id: int, trainer: Trainer) -> None:
        self.store.update(run_id, status="running")
        trainer.resume()

    def progress(self, run_id: int) -> Progress | None:
        """Live progress of a run this process owns (None for runs it does not know)."""
        with self._lock:
            trainer = self._trainers.get(run_id)
        position = self.slots.position(("run", run_id))
        if trainer is None:
            return None
        progress = trainer.progress()
        return replace(progress, queue_position=position) if position else progress

    def trainer(self, run_id: int) -> Trainer | None:
        with self._lock:
            return self._trainers.get(run_id)

    def active(self) -> list[int]:
        """Run ids running, paused or waiting, in that order."""
        return sorted(self.slots.running("run")) + sorted(self.slots.paused("run")) + self.slots.waiting("run")

    def controls(self, run_id: int, owner: str, teacher: bool = False) -> bool:
        """Whether this caller may pause, resume or stop the run: whoever sent it, or a teacher."""
        with self._lock:
            return teacher or self._owners.get(run_id) == owner

    def _controlled(self, run_id: int, owner: str, teacher: bool) -> Trainer | None:
        if not self.controls(run_id, owner, teacher):
            raise DLCoreError(f"Only the student who started run #{run_id}, or the teacher, can pause or stop it.")
        return self.trainer(run_id)

    def pause(self, run_id: int, owner: str = LOCAL, teacher: bool = False) -> None:
        """Hold a running run where it is and give its slot to the next in line; resume() puts it back in line."""
        trainer = self._controlled(run_id, owner, teacher)
        if trainer is not None and self.slots.park(("run", run_id), trainer.pause, over_limits=teacher):
            self.store.update(run_id, status="paused")

    def resume(self, run_id: int, owner: str = LOCAL, teacher: bool = False) -> None:
        """Line a paused run up again; it goes on from where it was as soon as a slot is free."""
        trainer = self._controlled(run_id, owner, teacher)
        if trainer is not None and trainer.requeue():
            self.store.update(run_id, status="queued")
            self.slots.requeue(("run", run_id), lambda: self._continue(run_id, trainer))

    def stop(self, run_id: int, owner: str = LOCAL, teacher: bool = False) -> None:
        """Stop a run that has started (it keeps what it learned) or take a waiting one out of the queue."""
        trainer = self._controlled(run_id, owner, teacher)
        if trainer is None:
            return
        if self.slots.cancel(("run", run_id)) and not trainer.started:
            trainer._publish(status="stopped", message="Stopped before it started.")
            self.store.update(run_id, status="stopped", message="Stopped before it started.")
        else:
            trainer.stop()

    def wait(self, run_id: int, timeout: float | None = None) -> Progress | None:
        """Block until a run finishes (for the CLI and tests; pages poll progress instead)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            progress = self.progress(run_id)
            if progress is None or progress.finished:
                return progress
            if deadline is not None and time.monotonic() > deadline:
                return progress
            time.sleep(0.05)

    def _record_epoch(self, run_id: int, trainer: Trainer) -> None:
        progress = trainer.progress()
        self.store.update(run_id, device=progress.device, seconds=progress.elapsed,
                          history=_history(progress))

    def _record_finish(self, run_id: int, trainer: Trainer, status: str, message: str) -> None:
        try:
            progress = trainer.progress()
            checkpoint = None
            if status in ("done", "stopped") and trainer.model is not None:
                checkpoint = str(save_checkpoint(self.store.checkpoint_path(run_id), trainer.model, trainer.config))
            self.store.update(
                run_id, status=status, message=message, device=progress.device, seconds=progress.elapsed,
                history=_history(progress),
                results=trainer.evaluation if status in ("done", "stopped") else None, checkpoint=checkpoint,
            )
        except Exception as exc:  # a full disk, most likely: the run must not stay 'running' in the store
            reason = _not_saved(exc)
            for shrink in ({}, {"history": {}}):  # if the reason does not fit beside the curves, the curves give way
                with contextlib.suppress(DLCoreError):
                    self.store.update(run_id, status="failed", message=reason, **shrink)
                    break
            raise DLCoreError(reason) from exc
        finally:
            self.slots.release(("run", run_id))
            self._forget_old()

    def _forget_old(self) -> None:
        active = set(self.active())
        with self._lock:
            finished = [rid for rid in self._trainers if rid not in active]
            for run_id in finished[: max(0, len(finished) - self._keep_finished)]:
                del self._trainers[run_id]
                self._owners.pop(run_id, None)


def _not_saved(exc: Exception) -> str:
    """Why a run's end could not be recorded, as a sentence that names a full disk when that is the cause."""
    if isinstance(exc, DLCoreError):
        return f"The run ended but could not be recorded. {exc}"
    if getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in str(exc):
        return "The run ended but its weights could not be saved: the disk is full; free some space and train again."
    return f"The run ended but its weights could not be saved ({type(exc).__name__}: {exc or 'no details'})."


def _history(progress: Progress) -> dict:
    """What the store keeps of a run's curves; steps_per_epoch lets runs with other batch sizes share an x axis."""
    return {"steps": progress.step_losses, "epochs": progress.history, "steps_per_epoch": progress.steps_per_epoch}


_MANAGERS: dict[str, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def job_manager(warm_up: bool = True) -> JobManager:
    """The process-wide manager for $DLCORE_HOME; DLCORE_MAX_JOBS runs may train at once (default 1), and each
    student may have DLCORE_MAX_WAITING runs and races waiting or paused (default 2)."""
    key = str(home())
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = JobManager(RunStore(key), max_concurrent=int(os.environ.get("DLCORE_MAX_JOBS", "1")),
                                        max_waiting=int(os.environ.get("DLCORE_MAX_WAITING", str(MAX_WAITING))))
            if warm_up:  # the CLI says no: a thread still inside torch when the interpreter exits aborts it
                threading.Thread(target=_warm_up, name="dlcore-warm-up", daemon=True).start()
        return _MANAGERS[key]


def _warm_up() -> None:
    """Pay torch.optim's one-off import cost (about 1.5 s) before the first Start, not after it."""
    optim.make_optimizer(TrainConfig(), [torch.zeros(1, requires_grad=True)])
