"""The optimizer race: 2 to 4 copies of one network, each with its own optimizer, stepped in lockstep on the same batches.

One background thread owns a race, so every lane sees the same starting weights, the same batches in the same order
and the same wall clock; the only difference between lanes is what the race is about.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import torch

from . import data, models, optim, training
from .config import DLCoreError, TrainConfig
from .evaluate import evaluate
from .runs import RunStore, home, save_checkpoint
from .sharing import optimizer_summary

MIN_LANES, MAX_LANES = 2, 4
LANE_FIELDS = ("optimizer", "lr", "momentum", "nesterov", "weight_decay")  # what may differ between lanes
PUBLISH_SECONDS = training.PUBLISH_SECONDS
RUN_NOTE = "Optimizer race against"  # how a lane's run message begins (the run board marks such runs)


def lanes(base: TrainConfig, settings: list[dict]) -> list[TrainConfig]:
    """One config per lane: the base with only the optimizer settings changed, each checked before anything runs."""
    if not MIN_LANES <= len(settings) <= MAX_LANES:
        raise DLCoreError(f"A race needs {MIN_LANES} to {MAX_LANES} optimizers; it has {len(settings)}.")
    configs = []
    for number, changes in enumerate(settings, 1):
        other = sorted(set(changes) - set(LANE_FIELDS))
        if other:
            raise DLCoreError(f"Lane {number} changes {', '.join(other)}; lanes may differ only in {', '.join(LANE_FIELDS)}.")
        try:
            config = base.with_changes(**changes)
            training.validate(config)
        except DLCoreError as exc:
            raise DLCoreError(f"Lane {number}: {exc}") from exc
        configs.append(config)
    names = [optimizer_summary(config) for config in configs]
    for number, name in enumerate(names, 1):
        if names.index(name) + 1 != number:
            raise DLCoreError(f"Lanes {names.index(name) + 1} and {number} are both {name}; change one of them.")
    return configs


@dataclass(frozen=True)
class LaneProgress:
    name: str
    config: TrainConfig
    status: str  # queued, running, done, stopped, diverged, failed
    message: str = ""
    step_losses: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)  # one dict per epoch, as Trainer's
    diverged_at: int | None = None  # the step whose loss was not finite
    accuracy: float | None = None  # final test accuracy
    seconds: float = 0.0  # time spent stepping this lane alone
    run_id: int | None = None  # where the finished lane is recorded

    def final_loss(self, steps_per_epoch: int) -> float | None:
        """The mean of the last tenth of an epoch's step losses: a fair end point for noisy curves."""
        finite = [loss for loss in self.step_losses if math.isfinite(loss)]
        if not finite or self.diverged_at is not None:
            return None
        tail = max(1, steps_per_epoch // 10)
        return sum(finite[-tail:]) / len(finite[-tail:])


@dataclass(frozen=True)
class RaceProgress:
    race_id: int
    status: str  # queued, running, done, stopped, failed
    lanes: tuple[LaneProgress, ...]
    message: str = ""
    device: str = ""
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    elapsed: float = 0.0
    eta: float | None = None
    queue_position: int | None = None
    student: str = ""

    @property
    def fraction(self) -> float:
        total = self.epochs * self.steps_per_epoch
        return min(self.step / total, 1.0) if total else 0.0

    @property
    def finished(self) -> bool:
        return self.status not in ("queued", "running")

    def reading(self) -> str:
        """One line on the outcome so far: who has the lowest loss, who diverged, who got worse."""
        if self.status == "queued":
            return f"Waiting to start (number {self.queue_position or 1} in the queue)."
        if self.status == "failed":
            return self.message
        if not any(lane.step_losses for lane in self.lanes):
            return "The first losses appear a moment after the race starts."
        scored = [(lane.final_loss(self.steps_per_epoch), lane) for lane in self.lanes]
        scored = sorted(((loss, lane) for loss, lane in scored if loss is not None), key=lambda item: item[0])
        sentences = []
        if scored:
            loss, best = scored[0]
            accuracy = f", test accuracy {best.accuracy:.1%}" if best.accuracy is not None else ""
            if not self.finished:
                sentences.append(f"So far {best.name} leads with loss {loss:.3f}")
            else:
                sentences.append(f"{best.name} reached the lowest loss ({loss:.3f}{accuracy})")
        else:
            sentences.append("Every optimizer diverged; lower the learning rates (about 0.001 for Adam, 0.01 to 0.1 for SGD)")
        diverged = [f"{lane.name} at step {lane.diverged_at}" for lane in self.lanes if lane.diverged_at is not None]
        if diverged and scored:
            sentences.append("diverged: " + ", ".join(diverged))
        worse = [lane.name for loss, lane in scored if loss >= lane.step_losses[0]]
        if worse and len(self.lanes[0].step_losses) >= self.steps_per_epoch:
            sentences.append("no better than at the start: " + ", ".join(worse))
        prefix = "Stopped early. " if self.status == "stopped" else ""
        return prefix + "; ".join(sentences) + "."


class _Lane:
    """One model with its optimizer, schedule and running totals; stepped only by the race's thread."""

    def __init__(self, config: TrainConfig, device: torch.device, total_steps: int):
        self.config = config
        self.name = optimizer_summary(config)
        with training._INIT_LOCK:  # same seed, same initial weights in every lane
            torch.manual_seed(config.seed)
            self.model = models.build(config.model).to(device)
        self.optimizer = optim.make_optimizer(config, self.model.parameters())
        self.schedule = optim.make_schedule(config, self.optimizer, total_steps)
        self.loss_fn = optim.make_loss(config.loss)
        self.pending: list[torch.Tensor] = []
        self.seconds = 0.0
        self.diverged_at: int | None = None
        self.loss_sum = self.correct = None

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        started = time.perf_counter()
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        detached = loss.detach()
        self.pending.append(detached)
        self.loss_sum += detached * len(y)
        self.correct += (logits.detach().argmax(dim=1) == y).sum()
        self.seconds += time.perf_counter() - started


class Race:
    """Trains the lanes in one background thread; progress() may be called from any thread at any time."""

    def __init__(self, race_id: int, configs: list[TrainConfig], student: str = "", store: RunStore | None = None):
        self.race_id = race_id
        self.configs = configs
        self.student = student.strip()[:40]
        self.store = store
        self._lock = threading.Lock()
        empty = tuple(LaneProgress(optimizer_summary(config), config, "queued") for config in configs)
        self._progress = RaceProgress(race_id, "queued", empty, epochs=configs[0].epochs, student=self.student)
        self._losses: list[list[float]] = [[] for _ in configs]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_finish = None  # called with the race after its final progress is published

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"race-{self.race_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def progress(self) -> RaceProgress:
        with self._lock:
            lanes = tuple(replace(lane, step_losses=list(losses), history=list(lane.history))
                          for lane, losses in zip(self._progress.lanes, self._losses))
            return replace(self._progress, lanes=lanes)

    def _publish(self, **changes) -> None:
        with self._lock:
            self._progress = replace(self._progress, **changes)

    def _publish_lane(self, index: int, **changes) -> None:
        with self._lock:
            lanes = list(self._progress.lanes)
            lanes[index] = replace(lanes[index], **changes)
            self._progress = replace(self._progress, lanes=tuple(lanes))

    def run(self) -> None:
        try:
            status, message = self._race()
        except DLCoreError as exc:
            status, message = "failed", str(exc)
        except Exception as exc:  # the race ends, the server does not
            status, message = "failed", f"The race failed unexpectedly ({type(exc).__name__}: {exc}); check the settings."
        self._publish(status=status, message=message, eta=0.0 if status == "done" else None)
        if self.on_finish is not None:
            self.on_finish(self)

    def _race(self) -> tuple[str, str]:
        base = self.configs[0]
        device = training.resolve_device(base.device)
        train_x, train_y, test_x, test_y = training.tensors_on(data.load(base.dataset), device)
        n = len(train_y)
        steps_per_epoch = math.ceil(n / base.batch_size)
        lanes = [_Lane(config, device, steps_per_epoch * base.epochs) for config in self.configs]
        run_ids = [self.store.create(config, self.student, status="running") if self.store else None for config in self.configs]
        for index, run_id in enumerate(run_ids):
            self._publish_lane(index, status="running", run_id=run_id)
        shuffle = torch.Generator(device="cpu").manual_seed(base.seed)
        self._publish(status="running", device=training.device_name(device), steps_per_epoch=steps_per_epoch)
        started = time.perf_counter()
        step = 0
        try:
            for epoch in range(base.epochs):
                order = torch.randperm(n, generator=shuffle).to(device, non_blocking=True)
                for lane in lanes:
                    lane.model.train()
                    lane.loss_sum = torch.zeros((), device=device)
                    lane.correct = torch.zeros((), device=device, dtype=torch.long)
                last_publish = time.perf_counter()
                for start in range(0, n, base.batch_size):
                    if self._stop.is_set() or all(lane.diverged_at is not None for lane in lanes):
                        break
                    index = order[start : start + base.batch_size]
                    x, y = train_x[index], train_y[index]
                    for lane in lanes:
                        if lane.diverged_at is None:
                            lane.step(x, y)
                    step += 1
                    if time.perf_counter() - last_publish >= PUBLISH_SECONDS:
                        last_publish = time.perf_counter()
                        self._flush(lanes, step, started)
                self._flush(lanes, step, started)
                if self._stop.is_set() or all(lane.diverged_at is not None for lane in lanes):
                    break
                for number, lane in enumerate(lanes):
                    if lane.diverged_at is None:
                        self._finish_epoch(number, lane, epoch, n, test_x, test_y)
                self._publish(epoch=epoch + 1)
            status = "stopped" if self._stop.is_set() else "done"
            for number, lane in enumerate(lanes):
                self._finish_lane(number, lane, status, run_ids[number], test_x, test_y)
        except BaseException as exc:
            for run_id in run_ids:
                if run_id is not None:
                    self.store.update(run_id, status="failed", message=f"The optimizer race failed ({type(exc).__name__}).")
            raise
        if status == "stopped":
            return status, f"Stopped after {step} steps; each optimizer keeps what it learned so far."
        return status, ""

    def _flush(self, lanes: list[_Lane], step: int, started: float) -> None:
        """Read every lane's pending losses back in one go; a lane with a non-finite loss leaves the race."""
        elapsed = time.perf_counter() - started
        total = self._progress.steps_per_epoch * self.configs[0].epochs
        for number, lane in enumerate(lanes):
            if not lane.pending:
                continue
            values = torch.stack(lane.pending).float().cpu().tolist()
            lane.pending.clear()
            first_bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
            if first_bad is not None:
                values = values[: first_bad + 1]  # the steps after the first NaN say nothing more
            with self._lock:
                self._losses[number].extend(values)
                if first_bad is not None:
                    lane.diverged_at = len(self._losses[number]) - len(values) + first_bad + 1
            if first_bad is not None:
                self._publish_lane(number, status="diverged", diverged_at=lane.diverged_at,
                                   message=training.diverged_message(lane.config))
            self._publish_lane(number, seconds=lane.seconds)
        self._publish(step=step, elapsed=elapsed, eta=elapsed / step * (total - step) if step else None)

    def _finish_epoch(self, number: int, lane: _Lane, epoch: int, n: int, test_x: torch.Tensor, test_y: torch.Tensor) -> None:
        result = evaluate(lane.model, test_x, test_y, test_x.device)
        rows = self._progress.lanes[number].history
        row = {
            "epoch": epoch + 1,
            "train_loss": lane.loss_sum.item() / n,
            "train_accuracy": lane.correct.item() / n,
            "test_loss": result.loss,
            "test_accuracy": result.accuracy,
            "samples_per_sec": n * (epoch + 1) / lane.seconds if lane.seconds else 0.0,
            "train_seconds": lane.seconds,
        }
        self._publish_lane(number, history=[*rows, row])

    def _finish_lane(self, number: int, lane: _Lane, status: str, run_id: int | None,
                     test_x: torch.Tensor, test_y: torch.Tensor) -> None:
        """The lane's final test score and its record in the runs store, as if it had been trained alone."""
        progress = self.progress()
        mine = progress.lanes[number]
        others = ", ".join(other.name for i, other in enumerate(progress.lanes) if i != number)
        note = f"{RUN_NOTE} {others}."
        if lane.diverged_at is not None:
            if run_id is not None:
                self.store.update(run_id, status="diverged", message=mine.message, device=progress.device,
                                  seconds=lane.seconds, history=_history(mine, progress))
            return
        evaluation = evaluate(lane.model, test_x, test_y, test_x.device)
        self._publish_lane(number, status=status, accuracy=evaluation.accuracy)
        if run_id is None:
            return
        model = lane.model.cpu().eval()
        checkpoint = save_checkpoint(self.store.checkpoint_path(run_id), model, lane.config)
        self.store.update(run_id, status=status, message=note, device=progress.device, seconds=lane.seconds,
                          history=_history(mine, progress), results=evaluation, checkpoint=str(checkpoint))


def _history(lane: LaneProgress, progress: RaceProgress) -> dict:
    return {"steps": lane.step_losses, "epochs": lane.history, "steps_per_epoch": progress.steps_per_epoch}


class RaceManager:
    """Every race in this process. Races take turns with runs for the server's training slots (training.Slots:
    DLCORE_MAX_JOBS at once, default 1), so a race waits behind a run and a run behind a race."""

    def __init__(self, store: RunStore, max_concurrent: int = 1, keep: int = 20, slots: training.Slots | None = None):
        self.store = store
        self.slots = slots or training.Slots(max_concurrent)
        self._keep = keep
        self._lock = threading.Lock()
        self._races: dict[int, Race] = {}
        self._owners: dict[int, str] = {}  # race id -> who sent it, for as long as the race is kept
        self._next_id = 1

    def submit(self, configs: list[TrainConfig], student: str = "", *, owner: str = training.LOCAL) -> int:
        """Queue a race of configs made by lanes(); returns its race id. A race that has to wait counts against
        its owner's share of the queue, as a run does (training.Slots)."""
        if not MIN_LANES <= len(configs) <= MAX_LANES:
            raise DLCoreError(f"A race needs {MIN_LANES} to {MAX_LANES} optimizers; it has {len(configs)}.")
        base = {f.name: getattr(configs[0], f.name) for f in fields(TrainConfig) if f.name not in LANE_FIELDS}
        for config in configs[1:]:
            if any(getattr(config, name) != value for name, value in base.items()):
                raise DLCoreError(f"Every lane must share the network, data and training settings; only {', '.join(LANE_FIELDS)} may differ.")

        def make() -> tuple[tuple, Callable[[], None]]:
            with self._lock:
                race_id = self._next_id
                self._next_id += 1
                race = Race(race_id, configs, student, self.store)
                race.on_finish = self._finished
                self._races[race_id] = race
                self._owners[race_id] = owner
            return ("race", race_id), race.start

        return self.slots.enqueue(owner, make)[1]

    def progress(self, race_id: int) -> RaceProgress | None:
        with self._lock:
            race = self._races.get(race_id)
        if race is None:
            return None
        progress = race.progress()
        position = self.slots.position(("race", race_id))
        return replace(progress, queue_position=position) if position else progress

    def races(self) -> list[int]:
        """Race ids, newest first."""
        with self._lock:
            return sorted(self._races, reverse=True)

    def controls(self, race_id: int, owner: str, teacher: bool = False) -> bool:
        """Whether this caller may stop the race: whoever sent it, or a teacher."""
        with self._lock:
            return teacher or self._owners.get(race_id) == owner

    def stop(self, race_id: int, owner: str = training.LOCAL, teacher: bool = False) -> None:
        if not self.controls(race_id, owner, teacher):
            raise DLCoreError(f"Only the student who started race #{race_id}, or the teacher, can stop it.")
        with self._lock:
            race = self._races.get(race_id)
        if race is None:
            return
        if self.slots.cancel(("race", race_id)):
            race._publish(status="stopped", message="Stopped before it started.")
        else:
            race.stop()

    def wait(self, race_id: int, timeout: float | None = None) -> RaceProgress | None:
        """Block until a race finishes (tests and scripts; pages poll progress instead)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            progress = self.progress(race_id)
            if progress is None or progress.finished or (deadline is not None and time.monotonic() > deadline):
                return progress
            time.sleep(0.05)

    def _finished(self, race: Race) -> None:
        self.slots.release(("race", race.race_id))
        live = set(self.slots.running("race") + self.slots.waiting("race"))
        with self._lock:
            done = [rid for rid in sorted(self._races) if rid not in live]
            for race_id in done[: max(0, len(done) - self._keep)]:
                del self._races[race_id]
                del self._owners[race_id]


_MANAGERS: dict[str, RaceManager] = {}
_MANAGERS_LOCK = threading.Lock()


def race_manager() -> RaceManager:
    """The process-wide race manager for $DLCORE_HOME, sharing the job manager's runs store and training slots."""
    key = str(home())
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            jobs = training.job_manager()
            _MANAGERS[key] = RaceManager(jobs.store, slots=jobs.slots)
        return _MANAGERS[key]
