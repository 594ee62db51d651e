"""The job manager: the server's training slots, a fair queue for them, and the CPU policy every job follows."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from . import data, disk, generative, tinysteps, transfer, workers
from .config import DLCoreError, TrainConfig
from .loop import Engine
from .runs import RunStore, home
from .training import Progress
from .validation import validate
from .workers import JobSpec, WorkerJob

if TYPE_CHECKING:  # race.py imports this module; the teacher's tools only take a RaceManager as an argument
    from .race import RaceManager

_DEFAULT_THREADS = torch.get_num_threads()


def training_threads(max_concurrent: int = 1, reserve: int = 0) -> int:
    """All cores but `reserve`, split between the jobs that train at once: the torch threads each job uses.

    A web server reserves one. torch's OpenMP threads spin at every barrier, so a busy thread that takes one of
    their cores stalls each parallel op: on 2 cores, simple-nn fell from 52k to 5k samples/s beside one busy
    process, while one training thread kept 46k beside it.
    """
    return max(1, (_DEFAULT_THREADS - reserve) // max(1, max_concurrent))


def tiny_work_threads() -> None:
    """One torch thread for a process that only trains 2-D playground networks (the CLI's toy command): their ops
    are a few dozen numbers, and waking a team of OpenMP threads for each made a run 5x slower on 2 busy cores."""
    torch.set_num_threads(1)


MAX_WAITING = 2  # runs and races one student may have waiting or paused: the next experiment lined up, not the class's turn
MAX_QUEUE = 200  # everything waiting or paused on a server, whoever sent it
LOCAL = "local"  # the owner of work this process submits for itself (the CLI, scripts); pages pass their session's


TURN_SECONDS = 20.0  # while others wait, a job trains this long, then goes to the back of the line (DLCORE_TURN_SECONDS)
HELD_WORKERS = 4  # jobs held mid-turn keep their worker's memory: at most this many beyond the slots
ASSUMED_MACS_PER_SECOND = 8e9  # one core's training pace (simple-nn: 30k samples/s) until this server has measured its own
STARTING_SECONDS = 2.0  # a worker's start and its data's loading, before the first step


@dataclass(frozen=True)
class Turn:
    """How the line takes turns with one job: hold() pauses it for the back of the line and returns how to go on with
    it (None when it cannot be held now), left() says how many seconds of work it has left."""

    hold: Callable[[], Callable[[], None] | None]
    left: Callable[[], float]


@dataclass(frozen=True)
class Outlook:
    """What a waiting job is told: its place, when it should start, and the sizes (seconds of work) of what is ahead."""

    position: int  # 1 for the next to start
    starts_in: float  # seconds, as far as the estimates go
    ahead: tuple[tuple[str, float], ...]  # (kind, seconds of work left) of each job ahead, next first


class Slots:
    """Which work trains now and which waits, in turns; one per server, shared by runs and optimizer races, so
    DLCORE_MAX_JOBS holds across both.

    Work is named by a key such as ("run", 12), sent by an owner (a browser session, or LOCAL) and started by a
    callable that must return at once (it starts a worker) and take no manager's lock; whoever started it calls
    release() when it ends. While anyone waits, running work that has trained for a turn (turn_seconds) is held and
    goes to the back of the line, so a 7-second run never waits out a 10-minute one: a turn is one pause, not a
    copy of the model. Each owner may have max_waiting pieces of work waiting or paused (work sent to the back after
    its turn does not count: it did not ask to wait), everyone together max_queue; both are checked under the lock
    that adds the work, so submits at the same moment cannot overshoot.
    """

    def __init__(self, max_concurrent: int = 1, max_queue: int = MAX_QUEUE, max_waiting: int = MAX_WAITING,
                 turn_seconds: float | None = None):
        self.max_concurrent = max(1, max_concurrent)
        self.max_queue = max_queue
        self.max_waiting = max_waiting
        self.turn_seconds = turn_seconds if turn_seconds is not None else float(
            os.environ.get("DLCORE_TURN_SECONDS", TURN_SECONDS))
        self._lock = threading.RLock()
        self._waiting: list[tuple[tuple, str, Callable[[], None]]] = []  # (key, owner, start), next first
        self._running: dict[tuple, str] = {}  # key -> owner
        self._paused: dict[tuple, str] = {}  # key -> owner: holding its state, not a slot
        self._turns: dict[tuple, Turn] = {}
        self._since: dict[tuple, float] = {}  # when each running job's turn began
        self._held: set[tuple] = set()  # started work waiting to go on (sent back after its turn, or resumed)
        self._sent_back: set[tuple] = set()  # of which sent back after its turn: it did not ask to wait
        self._clock: threading.Thread | None = None

    def enqueue(self, owner: str, make: Callable[[], tuple[tuple, Callable[[], None], Turn | None]]) -> tuple:
        """Line up owner's work, or refuse with a sentence when it would wait and owner's share or the queue is full.

        make() names and builds the work (key, start, turn); it is called only once there is room, under the lock.
        Returns the key.
        """
        with self._lock:
            if self._waiting or len(self._running) >= self.max_concurrent:
                self._check_room(owner)
            key, start, turn = make()
            if turn is not None:
                self._turns[key] = turn
            self._waiting.append((key, owner, start))
            self._fill()
            self._keep_time()
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
            self._held.add(key)
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
                    self._held.discard(key)
                    self._sent_back.discard(key)
                    return True
        return False

    def release(self, key: tuple) -> None:
        """Work has ended (or stopped, keeping what it learned): its slot, or its place in line, goes."""
        with self._lock:
            self._running.pop(key, None)
            self._paused.pop(key, None)  # paused work can still end: stopped, or done at the very moment it paused
            self._waiting = [item for item in self._waiting if item[0] != key]  # held work can end while it waits
            self._held.discard(key)
            self._sent_back.discard(key)
            self._turns.pop(key, None)
            self._since.pop(key, None)
            self._fill()

    def position(self, key: tuple) -> int | None:
        """1 for the next to start; None when not waiting."""
        with self._lock:
            return next((i for i, (waiting, _, _) in enumerate(self._waiting, 1) if waiting == key), None)

    def outlook(self, key: tuple) -> Outlook | None:
        """When waiting work should start: each slot frees when its work ends or its turn does (someone waits),
        and each job ahead then trains for a turn at most before the next; None when the work is not waiting."""
        with self._lock:
            position = self.position(key)
            if position is None:
                return None
            now = time.monotonic()
            frees = sorted(min(self._left(running), max(0.0, self.turn_seconds - (now - self._since.get(running, now))))
                           for running in self._running)
            frees += [0.0] * (self.max_concurrent - len(frees))
            ahead = []
            for waiting, _, _ in self._waiting[: position - 1]:
                left = self._left(waiting)
                ahead.append((waiting[0], left))
                frees[0] += min(left, self.turn_seconds)
                frees.sort()
            return Outlook(position, frees[0], tuple(ahead))

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

    def held(self) -> list[tuple]:
        """The keys of started work waiting for its next turn."""
        with self._lock:
            return list(self._held)

    def take_turns(self) -> None:
        """Send running work whose turn is over to the back of the line while others wait. Work held mid-turn keeps
        its worker, so a fresh job takes a turn from it only while few are held (HELD_WORKERS)."""
        with self._lock:
            now = time.monotonic()
            for key in list(self._running):
                if not self._waiting:
                    break
                turn = self._turns.get(key)
                if turn is None or now - self._since.get(key, now) < self.turn_seconds:
                    continue
                if self._waiting[0][0] not in self._held and len(self._held) + len(self._paused) >= HELD_WORKERS:
                    continue
                go_on = turn.hold()
                if go_on is None:
                    self._since[key] = now  # it could not be held now (it is ending): it keeps its slot a turn more
                    continue
                self._waiting.append((key, self._running.pop(key), go_on))
                self._held.add(key)
                self._sent_back.add(key)
            self._fill()

    def _left(self, key: tuple) -> float:
        turn = self._turns.get(key)
        return turn.left() if turn is not None else self.turn_seconds

    def _keep_time(self) -> None:
        """One thread per server checks turns twice a second, from the first piece of work on."""
        if self._clock is None:
            self._clock = threading.Thread(target=self._tick, name="dlcore-turns", daemon=True)
            self._clock.start()

    def _tick(self) -> None:
        while True:
            time.sleep(0.5)
            self.take_turns()

    def _check_room(self, owner: str) -> None:
        queued = len(self._waiting) + len(self._paused)
        if queued >= self.max_queue:
            raise DLCoreError(f"The queue is full ({queued} runs and races are waiting); try again when some have finished.")
        mine = sum(who == owner and key not in self._sent_back for key, who, _ in self._waiting)
        mine += sum(who == owner for who in self._paused.values())
        if mine >= self.max_waiting:
            raise DLCoreError(f"You already have {mine} runs or races waiting or paused, the most one student may; "
                              "stop one, or try again once one is training.")

    def _fill(self) -> None:
        while self._waiting and len(self._running) < self.max_concurrent:
            key, owner, start = self._waiting.pop(0)
            self._running[key] = owner
            self._since[key] = time.monotonic()
            self._held.discard(key)
            self._sent_back.discard(key)
            start()


def estimate_seconds(config: TrainConfig, lanes: int = 1) -> float:
    """Seconds a job of this config should take here, before it has trained a step: its multiply-adds (three per
    weight use to train, one to score) at the pace this server has measured (or an assumed one), plus a start."""
    from . import data, models, reinforcement
    from .loop import EPOCH_TEST_IMAGES

    sizes = data.sizes(config.dataset)
    macs = models.multiply_adds(config.model, config.dataset) * lanes
    train = config.epochs * sizes[0] * 3 * macs * reinforcement.step_cost(config)
    score = (config.epochs * min(EPOCH_TEST_IMAGES, sizes[1]) + sizes[1]) * macs
    return STARTING_SECONDS + (train + score) / _PACE.macs_per_second


class _Pace:
    """The multiply-adds per second this server's jobs have trained at lately (a moving average)."""

    def __init__(self):
        self.macs_per_second = ASSUMED_MACS_PER_SECOND

    def saw(self, config: TrainConfig, samples_per_sec: float, lanes: int = 1) -> None:
        from . import models, reinforcement

        if samples_per_sec > 0:
            measured = samples_per_sec * 3 * models.multiply_adds(config.model, config.dataset) * lanes * \
                reinforcement.step_cost(config)
            self.macs_per_second = 0.7 * self.macs_per_second + 0.3 * measured


_PACE = _Pace()


def waiting_sentence(progress, slots: Slots) -> str:
    """What a waiting run or race is told: its place, when it should start, the sizes ahead (never whose), and how
    turns work here."""
    when = f", starting in about {duration(progress.starts_in)}" if progress.starts_in is not None else ""
    ahead = ", ".join(f"a {kind} of about {duration(left)}" for kind, left in progress.ahead)
    ahead = f" Ahead of it: {ahead}." if ahead else ""
    at_once = f"{slots.max_concurrent} job{'s' if slots.max_concurrent > 1 else ''}"
    again = f" It goes on from step {progress.step} when its turn comes." if progress.step else ""
    return (f"Waiting: number {progress.queue_position} in line{when}.{ahead} This server trains {at_once} at a time, "
            f"in turns of {slots.turn_seconds:g} s while others wait.{again}")


def duration(seconds: float) -> str:
    """Seconds as a person says them when estimating: 7 s, 12 min, 1.5 h."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def waiting_as(progress, outlook: Outlook | None):
    """A job's progress with its place in line, start estimate and what is ahead of it, while it waits."""
    if outlook is None:
        return progress
    return replace(progress, queue_position=outlook.position, starts_in=outlook.starts_in, ahead=outlook.ahead)


def job_turn(job: WorkerJob, on_hold: Callable[[], None], go_on: Callable[[], None], lanes: int = 1) -> Turn:
    """A WorkerJob's turns: held is paused and marked waiting (on_hold records it); its work left is its ETA once it
    trains, else the estimate."""

    def hold() -> Callable[[], None] | None:
        if not (job.pause() and job.requeue()):
            return None
        on_hold()
        return go_on

    def left() -> float:
        progress = job.progress()
        if not progress.step:
            return estimate_seconds(job.config, lanes)
        _PACE.saw(job.config, getattr(progress, "samples_per_sec", 0.0), lanes)
        return progress.eta if progress.eta is not None else estimate_seconds(job.config, lanes) * (1 - progress.fraction)

    return Turn(hold, left)


def wait_for_end(progress: Callable, timeout: float | None = None):
    """Poll a job's progress() until it has finished, is unknown (None) or the timeout has passed; its last answer."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        answer = progress()
        if answer is None or answer.finished or (deadline is not None and time.monotonic() > deadline):
            return answer
        time.sleep(0.05)


def disk_budget(store: RunStore, owner: str, teacher: bool = False) -> disk.Budget:
    """What a run, race or import may add to the runs home: the server's budget, and its owner's share unless that is
    the teacher or this process itself (the command line, used by whoever runs the server)."""
    return disk.budget(store.root, student=not teacher and owner != LOCAL)


class JobManager:
    """Owns every run this server trains: a queue, a few running at once, each in a worker (workers.py), all
    recorded in the store here."""

    def __init__(self, store: RunStore, max_concurrent: int = 1, max_queue: int = MAX_QUEUE,
                 max_waiting: int = MAX_WAITING, keep_finished: int = 100, slots: Slots | None = None,
                 reserve_cores: int = 0):
        self.store = store
        self.slots = slots or Slots(max_concurrent, max_queue, max_waiting)
        self.threads = training_threads(self.slots.max_concurrent, reserve_cores)  # job_manager() applies it
        self._keep_finished = keep_finished
        self._lock = threading.Lock()
        self._trainers: OrderedDict[int, WorkerJob] = OrderedDict()  # live and recently finished
        self._owners: dict[int, str] = {}  # run id -> who sent it, for as long as its trainer is kept

    @property
    def max_concurrent(self) -> int:
        return self.slots.max_concurrent

    def submit(self, config: TrainConfig, student: str = "", *, owner: str = LOCAL, teacher: bool = False,
               engine: Engine = Engine(), pace: float = 0.0) -> int:
        """Record a run as queued and start it as soon as a slot is free, its steps spread over at least `pace`
        seconds (an agent's watchable speed); returns its run id.

        A run that has to wait is refused with a sentence when its owner already has their share waiting or
        paused, or the queue is full; so is any run whose weights would not fit the disk budget (disk_budget, with
        its network's size). Nothing is recorded then.
        """
        validate(config)
        transfer.check_source(config, self.store)

        def make() -> tuple[tuple, Callable[[], None], Turn]:
            run_id = self.store.create(config, student, sender=owner, budget=disk_budget(self.store, owner, teacher))
            trainer = WorkerJob(JobSpec("run", (config,), threads=self.threads, pace=pace),
                                on_epoch=lambda job, *taken: self._record_epoch(run_id, job, *taken),
                                on_finish=lambda job, *end: self._record_finish(run_id, job, *end),
                                engine=engine if engine.group is not None else None)
            with self._lock:
                self._trainers[run_id] = trainer
                self._owners[run_id] = owner
            turn = job_turn(trainer, on_hold=lambda: self.store.update(run_id, status="queued"),
                            go_on=lambda: self._continue(run_id, trainer))
            return ("run", run_id), lambda: self._start(run_id, trainer), turn

        return self.slots.enqueue(owner, make)[1]

    def _start(self, run_id: int, trainer: WorkerJob) -> None:
        self.store.update(run_id, status="running")
        trainer.start()

    def _continue(self, run_id: int, trainer: WorkerJob) -> None:
        self.store.update(run_id, status="running")
        trainer.resume()

    def progress(self, run_id: int) -> Progress | None:
        """Live progress of a run this process owns (None for runs it does not know)."""
        with self._lock:
            trainer = self._trainers.get(run_id)
        if trainer is None:
            return None
        return waiting_as(trainer.progress(), self.slots.outlook(("run", run_id)))

    def trainer(self, run_id: int) -> WorkerJob | None:
        with self._lock:
            return self._trainers.get(run_id)

    def active(self) -> list[int]:
        """Run ids running, paused or waiting, in that order."""
        return sorted(self.slots.running("run")) + sorted(self.slots.paused("run")) + self.slots.waiting("run")

    def controls(self, run_id: int, owner: str, teacher: bool = False) -> bool:
        """Whether this caller may pause, resume or stop the run: whoever sent it, or a teacher."""
        with self._lock:
            return teacher or self._owners.get(run_id) == owner

    def _controlled(self, run_id: int, owner: str, teacher: bool) -> WorkerJob | None:
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
            trainer.cancel("Stopped before it started.")
            self.store.update(run_id, status="stopped", message="Stopped before it started.")
        else:
            self.slots.release(("run", run_id))  # the slot is the next job's now; this one keeps what it learned as it ends
            trainer.stop()

    def step_only(self, run_id: int, parts: tuple[str, ...], owner: str = LOCAL, teacher: bool = False) -> None:
        """Train only some parts of a GAN (its discriminator, its generator, or both) from its next batch on, as GAN
        Lab's step buttons do; a sentence when the run is not training."""
        if not parts or not set(parts) <= set(generative.PARTS):
            raise DLCoreError(f"Choose which to train: {' or '.join(generative.PARTS)}, or both.")
        trainer = self._controlled(run_id, owner, teacher)
        if trainer is None or not trainer.step_only(parts):
            raise DLCoreError(f"Run #{run_id} is not training now; choose what it trains once it is.")

    def wait(self, run_id: int, timeout: float | None = None) -> Progress | None:
        """Block until a run finishes (for the CLI and tests; pages poll progress instead)."""
        return wait_for_end(lambda: self.progress(run_id), timeout)

    def _record_epoch(self, run_id: int, trainer: WorkerJob, epoch: int, weights: bytes, histograms: str) -> None:
        progress = trainer.progress()
        self.store.add_snapshot(run_id, epoch, weights, histograms)
        self.store.update(run_id, device=progress.device, seconds=progress.elapsed,
                          history=_history(progress))

    def _record_finish(self, run_id: int, trainer: WorkerJob, status: str, message: str,
                       ending: workers.Ending | None) -> None:
        try:
            progress = trainer.progress()
            kept = status in ("done", "stopped") and ending is not None and ending.checkpoints[0] is not None
            checkpoint = str(self.store.keep_checkpoint(run_id, ending.checkpoints[0])) if kept else None
            if kept and ending.embeddings and ending.embeddings[0] is not None:
                self.store.add_embedding(run_id, ending.embeddings[0])
            self.store.update(
                run_id, status=status, message=message, device=progress.device, seconds=progress.elapsed,
                history=_history(progress), results=ending.evaluations[0] if kept else None, checkpoint=checkpoint,
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

    def owner_of(self, run_id: int) -> str | None:
        """Who sent the run (None once it is forgotten): the teacher's tools group work by it."""
        with self._lock:
            return self._owners.get(run_id)


def _not_saved(exc: Exception) -> str:
    """Why a run's end could not be recorded, as a sentence that names a full disk when that is the cause."""
    if isinstance(exc, DLCoreError):
        return f"The run ended but could not be recorded. {exc}"
    if getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in str(exc):
        return "The run ended but its weights could not be saved: the disk is full; free some space and train again."
    return f"The run ended but its weights could not be saved ({type(exc).__name__}: {exc or 'no details'})."


def _history(progress: Progress) -> dict:
    """What the store keeps of a run's curves; steps_per_epoch lets runs with other batch sizes share an x axis.
    (The run's `seconds` are its training time; scoring the test split and the whole run's time are kept here.)"""
    kept = {"steps": progress.step_losses, "epochs": progress.history, "steps_per_epoch": progress.steps_per_epoch,
            "evaluation_seconds": progress.evaluating, "wall_seconds": progress.wall}
    if progress.parts:  # a GAN's discriminator and generator, epoch by epoch
        kept["parts"] = {part: rows for part, rows in progress.parts}
    return kept


_MANAGERS: dict[str, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def job_manager(serving: bool = True) -> JobManager:
    """The process-wide manager for $DLCORE_HOME; DLCORE_MAX_JOBS runs may train at once (default 1), and each
    student may have DLCORE_MAX_WAITING runs and races waiting or paused (default 2).

    A process serving pages (the default) leaves the web server a core, so every page stays live while a job
    trains, and pays torch.optim's import before the first Start; the CLI (serving=False) trains on every core and
    starts no warm-up thread, which would abort the interpreter if it were still inside torch at exit.
    """
    key = str(home())
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = JobManager(RunStore(key), max_concurrent=int(os.environ.get("DLCORE_MAX_JOBS", "1")),
                                        max_waiting=int(os.environ.get("DLCORE_MAX_WAITING", str(MAX_WAITING))),
                                        reserve_cores=1 if serving else 0)
            if torch.get_num_threads() != _MANAGERS[key].threads:
                # torch's intra-op threads are one setting for the process, which the threads started later (every
                # job's) follow; setting it inside a job's own thread instead made training 3x slower on 2 cores.
                torch.set_num_threads(_MANAGERS[key].threads)
            if serving:
                threading.Thread(target=_warm_up, name="dlcore-warm-up", daemon=True).start()
        return _MANAGERS[key]


def _warm_up() -> None:
    """Start the workers' forkserver (it imports torch and dlcore once, a few seconds) before the first Start, ready
    the 2-D playground's compiled steps before its first Play, and read the dataset every page opens on: a fresh
    server's first Inside the network spent half its time reading the 5,000 sample digits. One that cannot be read
    is left to the page that asks for it, which says why."""
    if not workers.ray_address():
        workers.warm_up()
    tinysteps.warm_up()
    try:
        data.load(TrainConfig().dataset)
    except (DLCoreError, OSError):
        pass



# ---- the teacher's tools, built on the managers' public methods -------------------------------------------------

@dataclass(frozen=True)
class StudentWork:
    """What one owner has on the server now, as a teacher sees it: the names they gave, never the owner itself."""

    owner: str  # a browser's identity: kept to stop their work, never shown
    names: tuple[str, ...]  # the student names on their runs and races, as typed ("" when none was given)
    running: int = 0
    paused: int = 0
    waiting: int = 0


def who_has_work(runs: JobManager, races: RaceManager) -> list[StudentWork]:
    """Every owner with runs or races training, paused or waiting, the first to have started listed first."""
    found: dict[str, dict] = {}
    for state, _, owner, name in _active_work(runs, races):
        work = found.setdefault(owner, {"names": {}, "running": 0, "paused": 0, "waiting": 0})
        work["names"][name] = None
        work[state] += 1
    return [StudentWork(owner, tuple(work.pop("names")), **work) for owner, work in found.items()]


def clear_queue(runs: JobManager, races: RaceManager) -> int:
    """Take every waiting run and race out of the line, as Stop does for a waiting one; running and paused work
    keeps its place. Returns how many were taken out."""
    held = set(runs.slots.held())  # work waiting for its next turn has started: it is not the queue
    waiting = [("run", run_id) for run_id in runs.slots.waiting("run") if ("run", run_id) not in held]
    waiting += [("race", race_id) for race_id in races.slots.waiting("race") if ("race", race_id) not in held]
    for kind, number in waiting:
        (runs if kind == "run" else races).stop(number, teacher=True)
    return len(waiting)


def stop_everything(owner: str, runs: JobManager, races: RaceManager) -> int:
    """Stop every run and race one owner has running, paused or waiting; returns how many. The waiting go first,
    so stopping a running one does not hand its slot to the same student's next."""
    theirs = [work for _, work, who, _ in _active_work(runs, races) if who == owner]
    for kind, number in reversed(theirs):
        (runs if kind == "run" else races).stop(number, teacher=True)
    return len(theirs)


def _active_work(runs: JobManager, races: RaceManager) -> list[tuple[str, tuple[str, int], str, str]]:
    """(state, (kind, number), owner, student name) for each run and race, running first, then paused, then waiting
    in line order; work that ended while being listed is left out."""
    listed = []
    for state in ("running", "paused", "waiting"):
        for run_id in getattr(runs.slots, state)("run"):
            owner = runs.owner_of(run_id)
            if owner is not None:
                listed.append((state, ("run", run_id), owner, _run_student(runs, run_id)))
        for race_id in getattr(races.slots, state)("race"):
            owner, progress = races.owner_of(race_id), races.progress(race_id)
            if owner is not None and progress is not None:
                listed.append((state, ("race", race_id), owner, progress.student))
    return listed


def _run_student(runs: JobManager, run_id: int) -> str:
    try:
        return runs.store.get(run_id).student
    except DLCoreError:  # gone from the store (a damaged database set aside): the run still has an owner
        return ""
