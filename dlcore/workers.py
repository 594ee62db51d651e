"""Workers: where a job's loop runs, out of the web server's process and GIL.

A job (a run, a race) trains in a Host: in a process of its own (the default), in a Ray actor on a lab's machine
(DLCORE_RAY_ADDRESS), or, for a process that is itself one of a torchrun group, in a thread of that process. The
server keeps a stand-in, WorkerJob, that answers progress from the worker's latest report and hands what the worker
sends (each epoch's snapshot, the end with its weights) to whoever records it: the worker never touches the runs
store, so pages, the store and checkpoints stay on the app's server wherever the training happens. A worker that
dies (the OOM killer, a crash in a kernel) ends its job 'failed' with a sentence; the server carries on. A job
paused or held in line for a while is suspended: its worker packs the loop's state, which the server keeps on disk,
and exits, giving its memory back (a paused Fashion-MNIST run's worker held 423 MB of its own); resuming it starts a
new worker from that state, at the same step.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.context import ForkServerProcess, set_spawning_popen
from pathlib import Path

import torch

from .config import DLCoreError, TrainConfig
from .evaluate import Evaluation
from .runs import checkpoint_bytes

POLL_RUNNING = 0.1  # seconds between reports of a training job: the loop publishes losses at this pace too
POLL_IDLE = 0.5  # of a paused one: only to notice that its worker died
SUSPEND_SECONDS = 30.0  # a job paused or held this long packs its state and its worker exits (DLCORE_SUSPEND_SECONDS)
ANSWER_SECONDS = 60.0  # a worker that has not answered a call in this long is taken for lost
PASSED_ENV = ("DLCORE_", "XDG_CACHE_HOME")  # the settings a process worker takes from the server as the job starts


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to build a job: plain data, so it crosses to a process or a Ray actor."""

    kind: str  # "run" (training.Trainer) or "race" (race.Race)
    configs: tuple[TrainConfig, ...]
    number: int = 0  # a race's id
    student: str = ""
    pace: float = 0.0  # a watchable pace (a race's, an agent's): the least seconds its steps are spread over
    threads: int = 1  # torch threads the worker trains with
    env: dict = field(default_factory=dict)  # DLCORE_* settings (data folder, time limit) as the server has them
    resume: bytes | None = None  # a suspended loop's state, to go on from

    def build(self, on_finish: Callable | None = None, on_epoch: Callable | None = None, engine=None):
        """The job itself, unstarted: in a worker it trains; on the server it answers progress until it starts."""
        from . import race, training
        from .loop import Engine

        if self.kind == "run":
            return training.Trainer(self.configs[0], on_epoch=on_epoch, on_finish=on_finish, engine=engine or Engine(),
                                    resume=self.resume, pace=self.pace)
        job = race.Race(self.number, list(self.configs), self.student, pace=self.pace, resume=self.resume)
        job.on_finish = on_finish
        return job


@dataclass(frozen=True)
class Ending:
    """How a job ended, as its worker saw it: each lane's final score and weights (None where it has none)."""

    status: str
    message: str
    evaluations: tuple[Evaluation | None, ...]
    checkpoints: tuple[bytes | None, ...]  # safetensors files' bytes (runs.checkpoint_bytes)
    embeddings: tuple[bytes | None, ...] = ()  # where test digits live in each kept lane (inside.embedding_bytes)


@dataclass(frozen=True)
class Report:
    """What a worker says when polled: progress (step losses past those the server has), the strip's guesses,
    snapshots taken since the last report, and the ending once there is one."""

    progress: object  # training.Progress or race.RaceProgress
    known: tuple[int, ...]  # each lane's step losses the server had: progress carries those after them
    guesses: tuple[int, object] | None = None  # (step, the strip's guesses or drawings: inside.make_strip)
    snapshots: tuple[tuple[int, bytes, str], ...] = ()  # (epoch, weights as pictures, histograms)
    ending: Ending | None = None
    suspended: bytes | None = None  # the job's packed state, once it has suspended: the worker may exit


class WorkerLost(Exception):
    """The worker process or actor is gone or no longer answers."""


class Host:
    """A job where it trains. Every method is called by the server through a handle; none blocks on training."""

    def __init__(self, spec: JobSpec, engine=None):
        if spec.env:  # the server's settings as they are now, not as they were when the forkserver started
            for name in [name for name in os.environ if name.startswith(PASSED_ENV)]:
                del os.environ[name]
            os.environ.update(spec.env)
        if torch.get_num_threads() != spec.threads:
            torch.set_num_threads(spec.threads)
        self._lock = threading.Lock()
        self._snapshots: list[tuple[int, bytes, str]] = []
        self._ending: Ending | None = None
        self.job = spec.build(on_finish=self._finish, on_epoch=self._epoch if spec.kind == "run" else None,
                              engine=engine)

    def start(self, paused: bool = False) -> None:
        self.job.start(paused)

    def pause(self) -> bool:
        return self.job.pause()

    def requeue(self) -> bool:
        return self.job.requeue()

    def resume(self) -> None:
        self.job.resume()

    def stop(self) -> None:
        self.job.stop()

    def suspend(self) -> bool:
        return self.job.suspend()

    def step_only(self, parts: tuple[str, ...]) -> None:
        self.job.step_only(parts)

    def threads(self) -> int:
        return torch.get_num_threads()

    def poll(self, known: tuple[int, ...]) -> Report:
        """The latest state, with each lane's step losses from index known[lane] on."""
        progress = _trimmed(self.job.progress(), known)
        with self._lock:
            snapshots, self._snapshots = tuple(self._snapshots), []
            ending = self._ending
        guesses = self.job.strip_guesses() if hasattr(self.job, "strip_guesses") else None
        suspended = self.job.loop.suspended
        return Report(progress, known, guesses, snapshots, ending, suspended)

    def _epoch(self, trainer) -> None:
        from . import inside

        taken = inside.snapshot(trainer.loop.epoch, trainer.loop.lanes[0].model, trainer.config)
        if taken is not None:
            with self._lock:
                self._snapshots.append((trainer.loop.epoch, *taken))

    def _finish(self, job, status: str, message: str) -> None:
        """In the job's thread, before its final status is published: its weights, made into files' bytes here, and
        where test digits live in each network (Inside the network's map), made here where the model already is."""
        from . import inside

        lanes = job.loop.lanes
        kept = [status in ("done", "stopped") and lane.evaluation is not None for lane in lanes]
        kept = [keep and all(lane.model is not other.model for other in lanes[:i])  # a GAN's lanes share one model
                for i, (lane, keep) in enumerate(zip(lanes, kept))]
        ending = Ending(
            status, message, tuple(lane.evaluation for lane in lanes),
            tuple(checkpoint_bytes(lane.model, lane.config) if keep else None for lane, keep in zip(lanes, kept)),
            tuple(inside.embedding_bytes(lane.model, lane.config) if keep and inside.embeds(lane.config) else None
                  for lane, keep in zip(lanes, kept)))
        with self._lock:
            self._ending = ending


def _trimmed(progress, known: tuple[int, ...]):
    """progress with each lane's step losses from known[lane] on: reports carry only what is new."""
    if hasattr(progress, "lanes"):
        lanes = tuple(replace(lane, step_losses=lane.step_losses[skip:])
                      for lane, skip in zip(progress.lanes, known + (0,) * len(progress.lanes)))
        return replace(progress, lanes=lanes)
    return replace(progress, step_losses=progress.step_losses[known[0] if known else 0:])


# ---- handles: how the server reaches a host -------------------------------------------------------------

class InlineHandle:
    """A host in this process: for a process that is itself a worker (a torchrun rank shares its process group)."""

    def __init__(self, spec: JobSpec, engine):
        self.host = Host(replace(spec, env={}, threads=torch.get_num_threads()), engine)

    def call(self, method: str, *args):
        return getattr(self.host, method)(*args)

    def close(self) -> None:
        pass


_CONTEXT: multiprocessing.context.BaseContext | None = None
_CONTEXT_LOCK = threading.Lock()


def _context():
    """A forkserver that has imported torch and dlcore once: each worker is a fork of that quiet process, so it
    starts in milliseconds without inheriting the web server's threads (forking those can deadlock)."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            _CONTEXT = multiprocessing.get_context("forkserver")
            _CONTEXT.set_forkserver_preload(["dlcore.workers", "dlcore.training", "dlcore.race", "dlcore.inside"])
        return _CONTEXT


def warm_up() -> None:
    _context()
    forkserver.ensure_running()


def _preparation_without_main(name: str) -> dict:
    """What a new process is told of its parent, less the parent's __main__: multiprocessing has each child import
    it again, and a worker needs none of it (under Streamlit, __main__ is whichever page script is running: the
    worker would draw that page)."""
    data = spawn.get_preparation_data(name)
    data.pop("init_main_from_path", None)
    data.pop("init_main_from_name", None)
    return data


class _Popen(popen_forkserver.Popen):
    """popen_forkserver's launch (its preparation data comes from the module-wide function) with that data
    made by _preparation_without_main."""

    def _launch(self, process_obj):
        buffer = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(_preparation_without_main(process_obj._name), buffer)
            reduction.dump(process_obj, buffer)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        parent_w = os.dup(w)  # the child watches this end to learn that its parent is gone
        self.finalizer = util.Finalize(self, util.close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buffer.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class WorkerProcess(ForkServerProcess):
    """A forkserver child that does not import the server's __main__."""

    @staticmethod
    def _Popen(process_obj):
        return _Popen(process_obj)


def _serve(connection, spec: JobSpec) -> None:
    """A worker process's main thread: answer the server's calls until it says close or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the CLI's to handle, not each worker's
    host = None
    try:
        host = Host(spec)
        connection.send(("ok", None))
        while True:
            method, args = connection.recv()
            if method == "close":
                break
            try:
                connection.send(("ok", getattr(host, method)(*args)))
            except DLCoreError as exc:
                connection.send(("error", str(exc)))
    except (EOFError, OSError):  # the server is gone: nobody is left to record the job
        if host is not None:
            host.stop()
    except Exception as exc:
        connection.send(("error", f"The worker could not start the job ({type(exc).__name__}: {exc})."))
    os._exit(0)  # torch's threads may still be inside an op: skip the interpreter's teardown


class ProcessHandle:
    """A host in a process of its own on this machine."""

    def __init__(self, spec: JobSpec):
        env = {name: value for name, value in os.environ.items() if name.startswith(PASSED_ENV)}
        ours, theirs = _context().Pipe()
        self._process = WorkerProcess(target=_serve, args=(theirs, replace(spec, env=env)),
                                       name="dlcore-worker", daemon=True)
        self._process.start()
        theirs.close()
        self._connection = ours
        self._lock = threading.Lock()
        self._answer()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def call(self, method: str, *args):
        with self._lock:
            try:
                self._connection.send((method, args))
            except (OSError, ValueError) as exc:
                raise WorkerLost(self._why()) from exc
            return self._answer()

    def _answer(self):
        try:
            if not self._connection.poll(ANSWER_SECONDS):
                raise WorkerLost(f"it did not answer for {ANSWER_SECONDS:.0f} s")
            kind, value = self._connection.recv()
        except (EOFError, OSError) as exc:
            raise WorkerLost(self._why()) from exc
        if kind == "error":
            raise DLCoreError(value)
        return value

    def _why(self) -> str:
        self._process.join(2)
        code = self._process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (the system may have run out of memory)" if name == "SIGKILL" else ""
            return f"its process was ended by {name}{hint}"
        return f"its process ended (exit code {code})" if code is not None else "its process stopped answering"

    def close(self) -> None:
        with self._lock:
            try:
                self._connection.send(("close", ()))
            except (OSError, ValueError):
                pass
            self._connection.close()
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()


class RayHandle:
    """A host in a Ray actor, on whichever machine of the cluster has the CPUs (see ray_address())."""

    def __init__(self, spec: JobSpec):
        import ray

        connect_ray()
        self._ray = ray
        # one core per job: a lab's machines train as many jobs at once as they have cores (DLCORE_MAX_JOBS)
        self._actor = _ray_host_class().options(num_cpus=1).remote(replace(spec, threads=1, env={}))
        self.call("threads")  # waits for the actor to be placed and built, and surfaces a failure to build it

    def call(self, method: str, *args):
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        try:
            return self._ray.get(self._actor.call.remote(method, *args), timeout=ANSWER_SECONDS)
        except RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), Exception) else exc
            if isinstance(cause, DLCoreError):
                raise DLCoreError(str(cause)) from None
            raise WorkerLost(f"its Ray actor failed ({type(cause).__name__})") from exc
        except RayActorError as exc:
            raise WorkerLost("its Ray actor died (its machine may have left the cluster)") from exc
        except GetTimeoutError as exc:
            raise WorkerLost(f"its Ray actor did not answer for {ANSWER_SECONDS:.0f} s") from exc

    def close(self) -> None:
        self._ray.kill(self._actor)


RAY_ADDRESS = "DLCORE_RAY_ADDRESS"
_RAY_HOST = None


def _ray_host_class():
    """The actor class, made on first use so that Ray is imported only by servers that use it."""
    global _RAY_HOST
    if _RAY_HOST is None:
        import ray

        @ray.remote
        class RayHost:
            def __init__(self, spec: JobSpec):
                self.host = Host(spec)

            def call(self, method: str, *args):
                return getattr(self.host, method)(*args)

        _RAY_HOST = RayHost
    return _RAY_HOST


def ray_address() -> str:
    return os.environ.get(RAY_ADDRESS, "").strip()


def dlcore_folder() -> str:
    """This package's folder: Ray ships it to each lab machine, which needs only the requirements installed."""
    return os.path.dirname(os.path.abspath(__file__))


def connect_ray() -> None:
    """Join the cluster named by DLCORE_RAY_ADDRESS once (a process that has joined one already keeps it)."""
    import ray

    if not ray.is_initialized():
        try:
            ray.init(address=ray_address(), log_to_driver=False, runtime_env={"py_modules": [dlcore_folder()]})
        except Exception as exc:
            raise DLCoreError(f"Could not join the Ray cluster at {RAY_ADDRESS}={ray_address()!r} "
                              f"({type(exc).__name__}); start it with `ray start --head`, or unset {RAY_ADDRESS}.") from exc


def launch(spec: JobSpec, engine=None):
    """A handle on a new host for spec: inline for a torchrun rank (its group lives in this process), a Ray actor when
    DLCORE_RAY_ADDRESS names a cluster, else a process of its own."""
    if engine is not None and engine.group is not None:
        return InlineHandle(spec, engine)
    if ray_address():
        return RayHandle(spec)
    return ProcessHandle(spec)


# ---- the server's stand-in ------------------------------------------------------------------------------

STARTING = "starting"  # a WorkerJob's handle while its worker starts
SUSPENDED = "suspended"  # while its state waits on disk, with no worker


def suspend_seconds() -> float:
    return float(os.environ.get("DLCORE_SUSPEND_SECONDS", SUSPEND_SECONDS))


def _suspended_folder() -> Path:
    """Where this server keeps suspended jobs' states: a folder per server process, the folders of processes that
    are gone removed (their jobs ended with them)."""
    from .runs import home

    root = home() / "suspended"
    mine = root / str(os.getpid())
    if not mine.exists():
        for folder in root.glob("*"):
            if folder.name.isdigit() and not _alive(int(folder.name)):
                shutil.rmtree(folder, ignore_errors=True)
        mine.mkdir(parents=True, exist_ok=True)
    return mine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

class WorkerJob:
    """A job as the server sees it: the same controls and progress as a LoopJob, its loop in a worker.

    on_epoch(job, epoch, weights, histograms) is called for each snapshot the worker sends, and
    on_finish(job, status, message, ending) once, before the final status is published (ending is None when the
    worker was lost); a DLCoreError from on_finish makes the job 'failed' with its sentence. Both run in the
    job's watcher thread on the server.
    """

    def __init__(self, spec: JobSpec, on_finish: Callable | None = None, on_epoch: Callable | None = None,
                 engine=None):
        self.spec = spec
        self.config = spec.configs[0]
        self._on_finish, self._on_epoch, self._engine = on_finish, on_epoch, engine
        self._local = spec.build()  # never started: answers progress until the worker does
        self._lock = threading.Lock()
        self._handle = None
        self._report: object | None = None  # the latest progress, step losses merged
        self._losses: list[list[float]] = [[] for _ in spec.configs]
        self._guesses: tuple[int, object] | None = None
        self._final: tuple[str, str] | None = None  # (status, message) once the end is recorded
        self._asked: str | None = None  # "pause", "requeue" or "stop", asked for while the worker was starting
        self._controlling = threading.RLock()  # one control at a time, and none while a new worker takes them
        self._controls = 0  # controls carried out: a report asked for before the latest one has an older status
        self._ended = threading.Event()
        self.ending: Ending | None = None
        self._device: str | None = None  # where the worker should train, until it says
        self._suspended: Path | bytes | None = None  # a suspended job's state (its file), until a worker has it
        self._wake = threading.Event()  # a control for a suspended job: its watcher starts a worker again

    @property
    def started(self) -> bool:
        return self._handle is not None

    @property
    def suspended(self) -> bool:
        """Paused or held with no worker: its state waits on disk."""
        return self._handle == SUSPENDED

    @property
    def pid(self) -> int | None:
        """The worker process's id, for a process worker."""
        return getattr(self._handle, "pid", None)

    def start(self) -> None:
        """Start the worker and its watcher; returns at once (starting a process takes a moment, in the watcher)."""
        with self._lock:
            self._handle = STARTING
        threading.Thread(target=self._watch, name=f"dlcore-watch-{id(self):x}", daemon=True).start()

    def _launch(self) -> bool:
        try:
            state = self._suspended.read_bytes() if isinstance(self._suspended, Path) else self._suspended
            spec = replace(self.spec, resume=state) if state is not None else self.spec
            handle = launch(spec, self._engine)
        except DLCoreError as exc:
            self._end("failed", str(exc), None)
            return False
        except Exception as exc:  # WorkerLost, or the system refusing a process: the server goes on
            self._end("failed", f"The job could not start in a worker: {exc or type(exc).__name__}.", None)
            return False
        with self._controlling:  # controls asked for while the worker was starting are carried out now, in order
            asked = self._asked
            try:
                handle.call("start", asked is not None)
                if asked in ("requeue", "stop"):
                    handle.call(asked)
            except (DLCoreError, WorkerLost) as exc:
                handle.close()
                self._end("failed", f"The job could not start in a worker: {exc}.", None)
                return False
            with self._lock:
                self._handle, self._asked = handle, None
        self._forget_suspended()
        return True

    def _forget_suspended(self) -> None:
        if isinstance(self._suspended, Path):
            self._suspended.unlink(missing_ok=True)
        self._suspended = None

    def _call(self, method: str, *args):
        with self._lock:
            handle = self._handle
        if not hasattr(handle, "call"):
            return None  # never started, or ended
        try:
            return handle.call(method, *args)
        except WorkerLost:
            return None  # the watcher notices and ends the job with its sentence

    def _starting(self, asked: str | None, unless: tuple = ()) -> bool:
        """While the worker starts, a control is kept for it (not over `unless`); True while it is starting."""
        with self._lock:
            if self._handle != STARTING:
                return False
            if self._asked not in unless:
                self._asked = asked
            return True

    def _wake_suspended(self, asked: str | None) -> bool:
        """A suspended job's watcher starts a worker from its state, which carries out `asked`; False when the job
        is not suspended."""
        with self._lock:
            if self._handle != SUSPENDED:
                return False
            self._handle, self._asked = STARTING, asked
        self._wake.set()
        return True

    def _status(self) -> str | None:
        with self._lock:
            return self._report.status if self._report is not None else None

    # control, from any thread
    def pause(self) -> bool:
        with self._controlling:
            if self._handle == SUSPENDED:
                return False
            if self._starting("pause", unless=("stop",)):
                return True
            return self._now(bool(self._call("pause")), "paused")

    def requeue(self) -> bool:
        with self._controlling:
            if self._handle == SUSPENDED:
                return self._now(self._status() == "paused", "queued")
            if self._starting("requeue", unless=(None, "stop")):
                return self._asked == "requeue"
            return self._now(bool(self._call("requeue")), "queued")

    def resume(self) -> None:
        with self._controlling:
            if self._wake_suspended(None):
                self._now(True, "running")
            elif not self._starting(None, unless=("stop",)):
                self._now(self._call("resume") is not False, "running")

    def _now(self, done: bool, status: str) -> bool:
        """A control's effect, seen at once rather than at the next report."""
        with self._lock:
            self._controls += 1
            if done and self._report is not None and self._final is None:
                self._report = replace(self._report, status=status)
        return done

    def stop(self) -> None:
        with self._controlling:
            if not self._wake_suspended("stop") and not self._starting("stop"):
                self._call("stop")

    def step_only(self, parts: tuple[str, ...]) -> bool:
        """Train only these parts of a GAN from its next batch on; False when its worker is not training it now
        (waiting, starting, or suspended: it goes on with both)."""
        with self._controlling:
            with self._lock:
                working = hasattr(self._handle, "call") and self._final is None
            if working:
                self._call("step_only", tuple(parts))
            return working

    def cancel(self, message: str) -> None:
        """End a job that never started."""
        self._local.cancel(message)
        with self._lock:
            self._final = ("stopped", message)
        self._ended.set()

    def join(self, timeout: float | None = None) -> None:
        self._ended.wait(timeout)

    def progress(self):
        with self._lock:
            report, final = self._report, self._final
            if report is not None:
                report = _merged(report, self._losses)
        if report is None:
            progress = self._local.progress()
            if self._handle is not None and final is None:  # its worker is starting
                progress = replace(progress, status={"pause": "paused", "requeue": "queued"}.get(self._asked, "running"))
        else:
            progress = report
            if final is None and progress.finished:  # ended in the worker, not yet recorded here
                progress = replace(progress, status="running")
        if not progress.device and self._handle is not None:  # the worker has not said yet
            if self._device is None:
                self._device = _expected_device(self.config)
            progress = replace(progress, device=self._device)
        if final is not None:
            status, message = final
            progress = replace(progress, status=status, message=message,
                               eta=0.0 if status == "done" else None, **_at_rest(progress))
        return progress

    def strip_guesses(self) -> tuple[int, object] | None:
        with self._lock:
            return self._guesses

    def strip(self):
        """The fixed test digits and what the worker's model made of them last."""
        from .inside import make_strip

        return make_strip(self.config.dataset, self.strip_guesses())

    # the watcher, one thread per started job
    def _watch(self) -> None:
        while self._launch() and self._follow():
            self._wake.wait()  # suspended, until a control asks for a worker again
            self._wake.clear()

    def _follow(self) -> bool:
        """Poll the worker until the job ends (False) or is suspended (True), its worker closed either way."""
        held_since = None
        while True:
            try:
                with self._lock:
                    asked_at, known = self._controls, tuple(len(losses) for losses in self._losses)
                report = self._handle.call("poll", known)
            except (WorkerLost, DLCoreError) as exc:
                self._end("failed", f"The worker training this job stopped unexpectedly: {exc}. The server and the "
                                    "other runs carry on; start it again, perhaps with a smaller network or batch.", None)
                self._handle.close()
                return False
            try:
                self._take(report, asked_at)
            except Exception as exc:  # the server could not keep an epoch (a full disk): the job ends here
                self._call("stop")
                self._end("failed", str(exc) if isinstance(exc, DLCoreError) else
                          f"Training failed unexpectedly ({type(exc).__name__}: {exc}); check the settings and try again.",
                          None)
                self._handle.close()
                return False
            if report.ending is not None:
                self._end(report.ending.status, report.ending.message, report.ending)
                self._handle.close()  # the worker exits: its memory goes back to the system
                return False
            if report.suspended is not None:
                self._put_away(report.suspended)
                return True
            held = report.progress.status in ("paused", "queued")
            held_since = (held_since or time.monotonic()) if held else None
            if held and time.monotonic() - held_since >= suspend_seconds() and self._engine is None:
                self._call("suspend")  # its state comes with a report, then the worker is closed
            time.sleep(POLL_IDLE if held else POLL_RUNNING)

    def _put_away(self, state: bytes) -> None:
        """Keep a suspended job's state on disk and let its worker exit; a control that came meanwhile (a resume
        after the worker was asked to suspend) starts a worker again at once."""
        try:
            descriptor, name = tempfile.mkstemp(suffix=".pt", dir=_suspended_folder())
            with os.fdopen(descriptor, "wb") as file:
                file.write(state)
            kept: Path | bytes = Path(name)
        except OSError:  # a full or read-only disk: the server's memory holds it rather than the job be lost
            kept = state
        with self._controlling:
            self._suspended = kept
            with self._lock:
                handle, self._handle = self._handle, SUSPENDED
                going_on = self._report is not None and self._report.status == "running"
            handle.close()
            if going_on:
                self._wake_suspended(None)

    def _take(self, report: Report, asked_at: int) -> None:
        with self._lock:
            for losses, new, start in zip(self._losses, _new_losses(report.progress), report.known):
                losses.extend(new[len(losses) - start:])
            stale = asked_at != self._controls and self._report is not None
            self._report = replace(report.progress, status=self._report.status) if stale else report.progress
            if report.guesses is not None:
                self._guesses = report.guesses
        if self._on_epoch is not None:
            for epoch, weights, histograms in report.snapshots:
                self._on_epoch(self, epoch, weights, histograms)

    def _end(self, status: str, message: str, ending: Ending | None) -> None:
        self._forget_suspended()
        self.ending = ending
        if self._on_finish is not None:
            try:
                self._on_finish(self, status, message, ending)
            except DLCoreError as exc:
                status, message = "failed", str(exc)
            except Exception as exc:
                status, message = "failed", f"The job ended but could not be recorded ({type(exc).__name__}: {exc})."
        with self._lock:
            self._final = (status, message)
        self._ended.set()


def _expected_device(config: TrainConfig) -> str:
    """The device a starting worker will train on, as far as this server can tell (a Ray worker says for itself)."""
    from .devices import device_name, resolve_device

    try:
        return device_name(resolve_device(config.device))
    except DLCoreError:
        return ""


def _new_losses(progress) -> list[list[float]]:
    if hasattr(progress, "lanes"):
        return [lane.step_losses for lane in progress.lanes]
    return [progress.step_losses]


def _merged(progress, losses: list[list[float]]):
    if hasattr(progress, "lanes"):
        return replace(progress, lanes=tuple(replace(lane, step_losses=list(mine))
                                             for lane, mine in zip(progress.lanes, losses)))
    return replace(progress, step_losses=list(losses[0]))


def _at_rest(progress) -> dict:
    """A finished job's progress has no phase under way."""
    return {"phase": "training"} if hasattr(progress, "phase") else {}
