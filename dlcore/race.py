"""The optimizer race: 2 to 4 copies of one network, each with its own optimizer, stepped in lockstep on the same batches.

One background thread owns a race, so every lane sees the same starting weights, the same batches in the same order
and the same wall clock; the only difference between lanes is what the race is about.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

from typing import Mapping

from . import jobs, models, sharing, transfer
from .config import DLCoreError, TrainConfig
from .loop import Fraction, Lane, LoopJob, diverged_message
from .runs import RunStore, home, student_name
from .sharing import lane_name
from .validation import check_memory, validate
from .workers import JobSpec, WorkerJob

MIN_LANES, MAX_LANES = 2, 4
LANE_FIELDS = ("optimizer", "lr", "momentum", "nesterov", "weight_decay", "transfer", "seed")  # what lanes may differ in
RUN_NOTE = "Optimizer race against"  # how a lane's run message begins (the run board marks such runs)
TRANSFER_NOTE = "Transfer learning beside"  # and a transfer comparison's
SEEDS_NOTE = "Trained beside"  # and an agent's seeds'


def lane_note(config: TrainConfig) -> str:
    """How a lane's run message begins, by what its race compared."""
    return TRANSFER_NOTE if config.source_run else SEEDS_NOTE if config.model.agent else RUN_NOTE
LEAD_WINDOWS = 3  # tenths of an epoch a lane must lead in a row before the reading names it
WATCHABLE_SECONDS = 25.0  # a race at a watchable pace lasts at least this long: the default race trains in ~2 s
NETWORKS = ("simple-nn", "keras-mlp", "cnn")  # the presets a race is run on
EPOCHS = (1, 10)
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
START_LANES = (  # plain SGD crawls, momentum helps, Adam races ahead, a huge step size blows up
    {"optimizer": "sgd", "lr": 0.01, "momentum": 0.0},
    {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9},
    {"optimizer": "adam", "lr": 0.001, "momentum": 0.9},
    {"optimizer": "sgd", "lr": 5.0, "momentum": 0.9},
)


@dataclass(frozen=True)
class RaceSetup:
    """What the race page sets up, as a link writes it: `?net=cnn&epochs=3&lanes=sgd_0.01_0,adam_0.001_0.9`, each
    lane optimizer_lr_momentum; the other keys are Build & train's (the schema's field names)."""

    network: str = "simple-nn"
    dataset: str = "mnist-sample"  # four networks at once: the small set keeps it brisk
    epochs: int = 2
    batch_size: int = 64
    paced: bool = True
    lanes: tuple[dict, ...] = START_LANES
    note: str = ""  # one sentence when part of the link could not be used

    def base(self) -> TrainConfig:
        return TrainConfig(dataset=self.dataset, model=models.preset(self.network), epochs=self.epochs,
                           batch_size=self.batch_size)


LINK_KEYS = ("net", "dataset", "epochs", "batch_size", "pace", "lanes")


def to_link(setup: RaceSetup) -> dict[str, str]:
    """The query parameters that differ from the starting race; lanes are always named, so a link says what races."""
    start, query = RaceSetup(), {}
    for key, name in (("net", "network"), ("dataset", "dataset"), ("epochs", "epochs"), ("batch_size", "batch_size")):
        if getattr(setup, name) != getattr(start, name):
            query[key] = str(getattr(setup, name))
    if setup.paced != start.paced:
        query["pace"] = "1" if setup.paced else "0"
    query["lanes"] = ",".join(f"{lane['optimizer']}_{lane['lr']:g}_{lane['momentum']:g}" for lane in setup.lanes)
    return query


def from_link(params: Mapping[str, str | list[str]]) -> RaceSetup:
    """The race a link describes: each part that cannot be used is left at the starting race and named, with its
    reason, in the setup's note; lanes that cannot race together (too few, twice the same) are left whole."""
    link = sharing.canonical(params)
    start, changes, problems = RaceSetup(), {}, {}

    def take(key: str, name: str, read) -> None:
        if key in link and len(link[key]) > sharing.MAX_VALUE_LENGTH:
            problems[key] = f"longer than {sharing.MAX_VALUE_LENGTH} characters"
        elif key in link:
            try:
                changes[name] = read(link[key])
            except (DLCoreError, ValueError) as exc:
                problems[key] = sharing.reason(exc)

    take("net", "network", lambda text: _one_of(text, NETWORKS, "network"))
    take("dataset", "dataset", lambda text: _checked_dataset(sharing.read_value(text, str)))
    take("epochs", "epochs", lambda text: _within(int(text), *EPOCHS, "epochs"))
    take("batch_size", "batch_size", lambda text: _one_of(int(text), BATCH_SIZES, "batch size"))
    take("pace", "paced", lambda text: sharing.read_value(text, bool))
    take("lanes", "lanes", _lanes)
    setup = replace(start, **changes)
    if "lanes" in changes:
        try:
            lanes(setup.base(), list(setup.lanes))
        except DLCoreError as exc:
            problems["lanes"] = sharing.reason(exc)
            setup = replace(setup, lanes=start.lanes)
    return replace(setup, note=sharing.problems_note(link, problems) if problems else "")


def _one_of(value, options: tuple, what: str):
    if value not in options:
        raise DLCoreError(f"The {what} must be one of {', '.join(map(str, options))}.")
    return value


def _within(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise DLCoreError(f"A race's {what} must be from {low} to {high}.")
    return value


def _checked_dataset(name: str) -> str:
    validate(TrainConfig(dataset=name))
    return name


def _lanes(text: str) -> tuple[dict, ...]:
    """'sgd_0.01_0,adam_0.001_0.9' -> each lane's optimizer, learning rate and momentum."""
    found = []
    for token in text.split(","):
        optimizer, lr, momentum = token.split("_")
        found.append({"optimizer": sharing.read_value(optimizer, str), "lr": float(lr), "momentum": float(momentum)})
    if not MIN_LANES <= len(found) <= MAX_LANES:
        raise DLCoreError(f"A race needs {MIN_LANES} to {MAX_LANES} optimizers; the link has {len(found)}.")
    return tuple(found)


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
            validate(config)
        except DLCoreError as exc:
            raise DLCoreError(f"Lane {number}: {exc}") from exc
        configs.append(config)
    names = [lane_name(config) for config in configs]
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

    def final_loss(self, steps_per_epoch: int, upto: int | None = None) -> float | None:
        """The mean of the last tenth of an epoch's step losses (before step `upto`): a fair point for noisy curves."""
        losses = self.step_losses[:upto]
        finite = [loss for loss in losses if math.isfinite(loss)]
        if not finite or (self.diverged_at is not None and self.diverged_at <= len(losses)):
            return None
        tail = max(1, steps_per_epoch // 10)
        return sum(finite[-tail:]) / len(finite[-tail:])


@dataclass(frozen=True)
class RaceProgress(Fraction):
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
    starts_in: float | None = None  # as a run's (training.Progress)
    ahead: tuple[tuple[str, float], ...] = ()
    student: str = ""

    @property
    def finished(self) -> bool:
        return self.status not in ("queued", "running")

    def reading(self) -> str:
        """One line on the outcome so far: who has the lowest loss, who diverged, who got worse."""
        if self.status == "queued":
            when = f", starting in about {jobs.duration(self.starts_in)}" if self.starts_in is not None else ""
            return f"Waiting to start (number {self.queue_position or 1} in the queue{when})."
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
                sentences.append(self._leader(best, loss))
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


    def _leader(self, best: LaneProgress, loss: float) -> str:
        """Who leads mid-race, named only once they have led for LEAD_WINDOWS tenths of an epoch in a row: noisy
        curves cross each other many times a second, and a leader that changes with every poll tells nothing."""
        window = max(1, self.steps_per_epoch // 10)
        racing = [lane for lane in self.lanes if lane.diverged_at is None]  # a diverged lane's losses stop growing
        steps = min(len(lane.step_losses) for lane in racing)
        if steps < LEAD_WINDOWS * window:
            return f"Too early to name a leader after {steps} steps"
        leaders = []
        for upto in range(steps, steps - LEAD_WINDOWS * window, -window):
            scored = [(lane.final_loss(self.steps_per_epoch, upto), lane.name) for lane in racing]
            leaders.append(min((item for item in scored if item[0] is not None), default=(None, ""))[1])
        if set(leaders) == {best.name}:
            return f"So far {best.name} leads with loss {loss:.3f}"
        trading = " and ".join(dict.fromkeys(name for name in leaders if name))
        return f"No clear leader yet: {trading} keep trading places"


class Race(LoopJob):
    """The lanes of one race in one loop; progress() may be called from any thread at any time. It records nothing:
    it trains in a worker (workers.py), and RaceManager keeps each lane as a run on the server."""

    def __init__(self, race_id: int, configs: list[TrainConfig], student: str = "", pace: float = 0.0,
                 resume: bytes | None = None):
        super().__init__(configs, pace=pace, resume=resume)
        self.race_id = race_id
        self.configs = configs
        self.student = student_name(student)
        self.names = [lane_name(config) for config in configs]
        self.on_finish = None  # on_finish(race, status, message), before its final status is published

    def progress(self) -> RaceProgress:
        loop = self.loop
        with self._lock, loop.lock:
            status = self._status
            if loop.lanes:
                lanes = tuple(self._lane_progress(number, lane, status) for number, lane in enumerate(loop.lanes))
            else:
                lanes = tuple(LaneProgress(name, config, status) for name, config in zip(self.names, self.configs))
            return RaceProgress(
                self.race_id, status, lanes, message=self._message, device=loop.device, epoch=loop.epoch,
                epochs=self.configs[0].epochs, step=loop.step, steps_per_epoch=loop.steps_per_epoch,
                elapsed=loop.elapsed, eta=0.0 if status == "done" else loop.eta() if status == "running" else None,
                student=self.student,
            )

    def _lane_progress(self, number: int, lane: Lane, status: str) -> LaneProgress:
        diverged = lane.diverged_at is not None
        return LaneProgress(
            self.names[number], lane.config, "diverged" if diverged else status,
            message=diverged_message(lane.config) if diverged else "", step_losses=list(lane.losses),
            history=[row.to_dict() for row in lane.history], diverged_at=lane.diverged_at,
            accuracy=lane.evaluation.accuracy if lane.evaluation else None, seconds=lane.seconds,
        )

    def _ending(self, status: str) -> str:
        return "" if status == "diverged" else super()._ending(status)  # each lane says why it diverged

    def _finished(self, status: str, message: str) -> None:
        if self.on_finish is not None:
            self.on_finish(self, status, message)


def _history(lane: LaneProgress, progress: RaceProgress) -> dict:
    return {"steps": lane.step_losses, "epochs": lane.history, "steps_per_epoch": progress.steps_per_epoch}


class RaceManager:
    """Every race of this server. Races take turns with runs for the server's training slots (jobs.Slots:
    DLCORE_MAX_JOBS at once, default 1), so a race waits behind a run and a run behind a race; each trains in a
    worker (workers.py), and its lanes are recorded here as runs."""

    def __init__(self, store: RunStore, max_concurrent: int = 1, keep: int = 20, slots: jobs.Slots | None = None,
                 threads: int = 1):
        self.store = store
        self.slots = slots or jobs.Slots(max_concurrent)
        self.threads = threads
        self._keep = keep
        self._lock = threading.Lock()
        self._races: dict[int, WorkerJob] = {}
        self._owners: dict[int, str] = {}  # race id -> who sent it, for as long as the race is kept
        self._run_ids: dict[int, list[int]] = {}  # race id -> each lane's run, recorded as the race is queued
        self._next_id = 1

    def submit(self, configs: list[TrainConfig], student: str = "", *, owner: str = jobs.LOCAL, teacher: bool = False,
               pace: float = 0.0) -> int:
        """Queue a race of configs made by lanes(), its steps spread over at least `pace` seconds; returns its race id.
        A race that has to wait counts against its owner's share of the queue, as a run does (jobs.Slots), and its
        lanes' weights together against the disk budget (jobs.disk_budget)."""
        if not MIN_LANES <= len(configs) <= MAX_LANES:
            raise DLCoreError(f"A race needs {MIN_LANES} to {MAX_LANES} optimizers; it has {len(configs)}.")
        base = {f.name: getattr(configs[0], f.name) for f in fields(TrainConfig) if f.name not in LANE_FIELDS}
        for config in configs[1:]:
            if any(getattr(config, name) != value for name, value in base.items()):
                raise DLCoreError(f"Every lane must share the network, data and training settings; only {', '.join(LANE_FIELDS)} may differ.")
        check_memory(configs[0], lanes=len(configs))
        transfer.check_source(configs[0], self.store)

        def make() -> tuple[tuple, Callable[[], None], jobs.Turn]:
            run_ids = self.store.create_all(configs, student, sender=owner, budget=jobs.disk_budget(self.store, owner, teacher))
            with self._lock:
                race_id = self._next_id
                self._next_id += 1
                spec = JobSpec("race", tuple(configs), number=race_id, student=student, pace=pace, threads=self.threads)
                race = WorkerJob(spec, on_finish=self._record)
                self._races[race_id] = race
                self._owners[race_id] = owner
                self._run_ids[race_id] = run_ids
            turn = jobs.job_turn(race, on_hold=lambda: None, go_on=race.resume, lanes=len(configs))
            return ("race", race_id), lambda: self._start(race_id, race), turn

        return self.slots.enqueue(owner, make)[1]

    def _start(self, race_id: int, race: WorkerJob) -> None:
        with self._lock:
            run_ids = self._run_ids[race_id]
        for run_id in run_ids:
            self.store.update(run_id, status="running")
        race.start()

    def progress(self, race_id: int) -> RaceProgress | None:
        with self._lock:
            race = self._races.get(race_id)
            run_ids = self._run_ids.get(race_id)
        if race is None:
            return None
        progress = race.progress()
        if run_ids:
            progress = replace(progress, lanes=tuple(replace(lane, run_id=run_id)
                                                     for lane, run_id in zip(progress.lanes, run_ids)))
        return jobs.waiting_as(progress, self.slots.outlook(("race", race_id)))

    def races(self) -> list[int]:
        """Race ids, newest first."""
        with self._lock:
            return sorted(self._races, reverse=True)

    def controls(self, race_id: int, owner: str, teacher: bool = False) -> bool:
        """Whether this caller may stop the race: whoever sent it, or a teacher."""
        with self._lock:
            return teacher or self._owners.get(race_id) == owner

    def stop(self, race_id: int, owner: str = jobs.LOCAL, teacher: bool = False) -> None:
        if not self.controls(race_id, owner, teacher):
            raise DLCoreError(f"Only the student who started race #{race_id}, or the teacher, can stop it.")
        with self._lock:
            race = self._races.get(race_id)
        if race is None:
            return
        if self.slots.cancel(("race", race_id)) and not race.started:
            race.cancel("Stopped before it started.")
            with self._lock:
                run_ids = self._run_ids.get(race_id, [])
            for run_id in run_ids:
                self.store.update(run_id, status="stopped", message="Stopped before it started.")
        else:
            self.slots.release(("race", race_id))  # the slot is free now; the race keeps what it learned as it ends
            race.stop()

    def wait(self, race_id: int, timeout: float | None = None) -> RaceProgress | None:
        """Block until a race finishes (tests and scripts; pages poll progress instead)."""
        return jobs.wait_for_end(lambda: self.progress(race_id), timeout)

    def _record(self, race: WorkerJob, status: str, message: str, ending) -> None:
        """Each lane becomes a run in the store, as if it had been trained alone."""
        race_id = race.spec.number
        try:
            with self._lock:
                run_ids = self._run_ids.get(race_id, [])
            progress = race.progress()
            if ending is None or status == "failed":
                for run_id in run_ids:
                    what = {TRANSFER_NOTE: "transfer comparison", SEEDS_NOTE: "seeds' run"}.get(
                        lane_note(race.spec.configs[0]), "optimizer race")
                    self.store.update(run_id, status="failed", message=f"The {what} failed: {message}")
                return
            names = [lane.name for lane in progress.lanes]
            for number, (run_id, lane) in enumerate(zip(run_ids, progress.lanes)):
                history = _history(lane, progress)
                if lane.diverged_at is not None or ending.checkpoints[number] is None:
                    self.store.update(run_id, status="diverged", message=lane.message, device=progress.device,
                                      seconds=lane.seconds, history=history)
                    continue
                others = ", ".join(name for i, name in enumerate(names) if i != number)
                checkpoint = self.store.keep_checkpoint(run_id, ending.checkpoints[number])
                if ending.embeddings and ending.embeddings[number] is not None:
                    self.store.add_embedding(run_id, ending.embeddings[number])
                self.store.update(run_id, status="stopped" if status == "stopped" else "done",
                                  message=f"{lane_note(lane.config)} {others}.", device=progress.device, seconds=lane.seconds,
                                  history=history, results=ending.evaluations[number], checkpoint=str(checkpoint))
        finally:
            self._finished(race_id)

    def _finished(self, race_id: int) -> None:
        self.slots.release(("race", race_id))
        live = set(self.slots.running("race") + self.slots.waiting("race"))
        with self._lock:
            done = [rid for rid in sorted(self._races) if rid not in live]
            for old in done[: max(0, len(done) - self._keep)]:
                del self._races[old]
                del self._owners[old]
                self._run_ids.pop(old, None)

    def owner_of(self, race_id: int) -> str | None:
        """Who sent the race (None once it is forgotten): the teacher's tools group work by it."""
        with self._lock:
            return self._owners.get(race_id)


_MANAGERS: dict[str, RaceManager] = {}
_MANAGERS_LOCK = threading.Lock()


def race_manager() -> RaceManager:
    """The process-wide race manager for $DLCORE_HOME, sharing the job manager's runs store and training slots."""
    key = str(home())
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            manager = jobs.job_manager()
            _MANAGERS[key] = RaceManager(manager.store, slots=manager.slots, threads=manager.threads)
        return _MANAGERS[key]
