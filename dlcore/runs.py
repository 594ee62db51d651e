"""The runs store (SQLite, WAL) and the safetensors checkpoints that hold each run's weights."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import socket
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_bytes

from . import disk, drawings, models, reinforcement, sequences
from .config import (IMAGE_SIZE, MAX_HIDDEN_LAYERS, MAX_UNITS, DenseLayer, DLCoreError, ModelSpec, TrainConfig, home,
                     student_name)
from .evaluate import Evaluation

ACTIVE = ("queued", "running", "paused")
FINISHED = ("done", "stopped", "diverged", "failed", "interrupted")
CHECKPOINT_FORMAT = "dlcore-1"
HEADER_SLACK_BYTES = 2**20  # a checkpoint's JSON header: tensor names, shapes and offsets, and the config
DTYPE_NAMES = {torch.float32: "F32", torch.int64: "I64"}  # safetensors' names of the dtypes a network here holds
NOT_SAFETENSORS = ("That file is not a safetensors weights file (pickled .pt/.pth files are refused because they can "
                   "run code).")


def _unallocated(spec: ModelSpec, dataset: str = models.DIGITS) -> torch.nn.Module:
    """The network on torch's meta device: every tensor's name, shape and dtype without a byte of weights, so that
    even a network far too big to build costs nothing to measure, or to check a file against."""
    with torch.device("meta"):
        return models.build(spec, dataset)


def weights_bytes(spec: ModelSpec, dataset: str = models.DIGITS) -> int:
    """The bytes of a network's saved weights (parameters and batch norm's statistics)."""
    return sum(tensor.numel() * tensor.element_size() for tensor in _unallocated(spec, dataset).state_dict().values())


def checkpoint_bound(spec: ModelSpec, dataset: str = models.DIGITS) -> int:
    """The most bytes a network's checkpoint file can take, known before it trains: what its run reserves of the
    disk budget until the real file is kept."""
    return weights_bytes(spec, dataset) + HEADER_SLACK_BYTES


LARGEST_MLP = ModelSpec("mlp", dense=tuple(DenseLayer(MAX_UNITS, batch_norm=True) for _ in range(MAX_HIDDEN_LAYERS)))
# The load cap follows the limits rather than a hand number: the largest MLP (124 MB) loads, and
# check_weights holds every other network, CNNs included, to the same size.
MAX_CHECKPOINT_BYTES = weights_bytes(LARGEST_MLP) + HEADER_SLACK_BYTES  # about 119 MiB

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    config TEXT NOT NULL,
    student TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    history TEXT NOT NULL DEFAULT '{}',
    results TEXT,
    checkpoint TEXT,
    seconds REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS snapshots (
    run INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    weights BLOB NOT NULL,
    histograms TEXT NOT NULL,
    PRIMARY KEY (run, epoch)
);
CREATE TABLE IF NOT EXISTS embeddings (
    run INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS drawings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    label TEXT NOT NULL,
    student TEXT NOT NULL DEFAULT '',
    sender TEXT NOT NULL DEFAULT '',
    pixels BLOB NOT NULL
);
"""
# Columns added after the first version, given to every database that lacks them as the store opens it.
_ADDED_COLUMNS = {
    "sender": "TEXT NOT NULL DEFAULT ''",  # who started or imported the run (a browser's identity): whose disk share
    "stored_bytes": "INTEGER NOT NULL DEFAULT 0",  # its checkpoint's bytes; while active, what its network may take
    "sha256": "TEXT",  # its checkpoint's content hash: a run with the very same weights links to that file
}
# The runs that take disk: those that kept weights, and active ones, for what they will keep.
_HOLDS_DISK = f"(status IN ({', '.join(repr(status) for status in ACTIVE)}) OR checkpoint IS NOT NULL)"


_log = logging.getLogger(__name__)

_WITHOUT_HISTORY = "id, created, updated, status, message, config, student, device, '{}' AS history, results, checkpoint, seconds"


@dataclass(frozen=True)
class Run:
    id: int
    created: float
    updated: float
    status: str
    message: str
    config: TrainConfig
    student: str
    device: str
    history: dict = field(repr=False)  # {"steps": [loss...], "epochs": [{...}, ...]}
    results: Evaluation | None = field(repr=False)
    checkpoint: str | None
    seconds: float

    @property
    def accuracy(self) -> float | None:
        """The test accuracy; None without results, and for a model that names no classes (an autoencoder, a GAN, an
        agent, whose score is its return)."""
        if self.results is None or self.config.model.generative or self.config.model.agent or \
                math.isnan(self.results.accuracy):
            return None
        return self.results.accuracy

    @property
    def label(self) -> str:
        """How a run is named in pickers: '#12 MLP 128-64 relu, adam, mnist-sample: 91.2%', or for an autoencoder
        its test loss per digit."""
        if self.results is not None and self.config.model.agent:
            accuracy = f": return {reinforcement.mean_return(self.results):.1f}"
        elif self.results is not None and sequences.is_task(self.config.dataset):  # its task's own measure
            (name, value), = sequences.metric(self.config.dataset, self.results).items()
            units = {"test_mse": " MSE", "val_nats_per_char": " nats per character"}
            accuracy = f": {value:.1%}" if name == "test_accuracy" else f": {value:.3g}{units[name]}"
        elif self.accuracy is not None:
            accuracy = f": {self.accuracy:.1%}"
        elif self.results is not None and self.config.model.kind == "gan":
            accuracy = f": its discriminator tells real from drawn {self.results.accuracy:.0%}"
        elif self.results is not None and self.config.model.generative:
            accuracy = f": loss {self.results.loss:.1f} per digit"
        else:
            accuracy = f" ({self.status})"
        who = f" by {self.student}" if self.student else ""
        if self.config.model.agent:
            return f"#{self.id} {reinforcement.setting_name(self.config)}, seed {self.config.seed}{who}{accuracy}"
        return f"#{self.id} {self.config.model.summary()}, {self.config.optimizer}, {self.config.dataset}{who}{accuracy}"


def _process_token(pid: int) -> str:
    """host:pid:start-time, so a recycled pid is not mistaken for the process that owned a run."""
    try:
        start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        start = "?"
    return f"{socket.gethostname()}:{pid}:{start}"


_OWNER = _process_token(os.getpid())


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    if host != socket.gethostname():
        return True  # another machine's run: not ours to judge
    pid_text, _, _start = rest.partition(":")
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return _process_token(pid) == owner


class RunStore:
    """Every run on this server; safe for many threads and processes writing at once."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root else home()
        self.checkpoints = self.root / "checkpoints"
        self.path = self.root / "runs.db"
        self.recovered_from: Path | None = None  # where a damaged database was set aside when this store opened
        try:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DLCoreError(f"Cannot create the runs folder {self.checkpoints} ({exc.strerror}); "
                              "set DLCORE_HOME to a writable folder.") from None
        try:
            self._open()
        except _Damaged as damage:
            self.recovered_from = self._set_aside()
            _log.warning("%s (%s)", self.notice, damage)
            self._open()
        self.mark_interrupted()

    @property
    def notice(self) -> str:
        """What the teacher should know about this store, in a sentence; empty when all is well."""
        if self.recovered_from is None:
            return ""
        return (f"The runs database {self.path} was damaged; it was kept as {self.recovered_from.name} and a fresh "
                "one started, so runs recorded before are not listed.")

    def _open(self) -> None:
        """Check an existing file first, read-only so that a damaged one and its WAL are kept exactly as they are
        (a cut-short copy or random bytes fail here, not on some later page); then create the tables."""
        try:
            if self.path.exists():
                with self._raw_connect(read_only=True) as db:
                    problems = [row[0] for row in db.execute("PRAGMA quick_check")]
                if problems != ["ok"]:
                    raise _Damaged(problems[0])
            with self._raw_connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                _add_columns(db)
        except sqlite3.Error as exc:
            if _code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                raise _Damaged(str(exc)) from exc
            raise DLCoreError(_fault_sentence(exc, self.path)) from exc

    def _set_aside(self) -> Path:
        """Move a damaged database and its WAL files out of the way, keeping them; returns the new name."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kept = self.path.with_name(f"{self.path.name}.broken-{stamp}")
        number = 1
        while kept.exists():  # never overwrite an earlier broken copy
            number += 1
            kept = self.path.with_name(f"{self.path.name}.broken-{stamp}-{number}")
        for suffix in ("", "-wal", "-shm"):  # SQLite's own naming, so the kept copy opens with its WAL
            source = self.path.with_name(self.path.name + suffix)
            if source.exists():
                source.replace(kept.with_name(kept.name + suffix))
        return kept

    @contextmanager
    def _raw_connect(self, read_only: bool = False):
        target = f"{self.path.resolve().as_uri()}?mode=ro" if read_only else self.path
        db = sqlite3.connect(target, timeout=30, isolation_level=None, uri=read_only)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _connect(self):
        """A connection whose SQLite faults (a full disk, a read-only folder) come out as one DLCoreError sentence."""
        try:
            with self._raw_connect() as db:
                yield db
        except sqlite3.Error as exc:
            raise DLCoreError(_fault_sentence(exc, self.path)) from exc

    @contextmanager
    def _write(self):
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # a full disk may already have rolled it back
                    db.execute("ROLLBACK")
                raise

    def create(self, config: TrainConfig, student: str = "", status: str = "queued", *, sender: str = "",
               reserve: int | None = None, budget: disk.Budget | None = None) -> int:
        """Record a run sent by `sender`; reserve is the bytes its weights will take (by default the most its network's
        can). With a budget, a run whose weights would not fit is refused with a sentence and nothing is recorded."""
        size = checkpoint_bound(config.model, config.dataset) if reserve is None else reserve
        return self._insert([(config, size)], student, status, sender, budget)[0]

    def create_all(self, configs: list[TrainConfig], student: str = "", status: str = "queued", *, sender: str = "",
                   budget: disk.Budget | None = None) -> list[int]:
        """Record several runs (a race's lanes) at once, their weights checked against the budget together."""
        return self._insert([(config, checkpoint_bound(config.model, config.dataset)) for config in configs], student, status, sender,
                            budget)

    def _insert(self, sized: list[tuple[TrainConfig, int]], student: str, status: str, sender: str,
                budget: disk.Budget | None) -> list[int]:
        """The check and the rows in one write transaction, so runs recorded at the same moment, from any process,
        cannot together pass a budget that each passes alone."""
        now = time.time()
        with self._write() as db:
            if budget is not None:
                disk.check(budget, sum(size for _, size in sized), *self._disk_used(db, sender), self.root)
            return [db.execute(
                "INSERT INTO runs (created, updated, status, config, student, owner, sender, stored_bytes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now, now, status, config.to_json(), student_name(student), _OWNER, sender, size),
            ).lastrowid for config, size in sized]

    def check_room(self, sender: str, adding: int, budget: disk.Budget) -> None:
        """Refuse now, with the budget's sentence, what create() would refuse: before an import's costly checks."""
        with self._connect() as db:
            disk.check(budget, adding, *self._disk_used(db, sender), self.root)

    @staticmethod
    def _disk_used(db: sqlite3.Connection, sender: str) -> tuple[int, int]:
        """(bytes the sender's runs take, bytes all runs take). Runs with the same weights share one file, so they
        count once for the server; for the student each counts, as each import asked for it."""
        theirs = db.execute(f"SELECT COALESCE(SUM(stored_bytes), 0) FROM runs WHERE sender = ? AND {_HOLDS_DISK}",
                            (sender,)).fetchone()[0]
        everyone = db.execute(f"SELECT COALESCE(SUM(size), 0) FROM (SELECT MAX(stored_bytes) AS size FROM runs "
                              f"WHERE {_HOLDS_DISK} GROUP BY COALESCE(sha256, id))").fetchone()[0]
        return theirs, everyone

    def keep_checkpoint(self, run_id: int, data: bytes) -> Path:
        """Write a run's checkpoint file, or, when another run kept the very same bytes, link its file (by content hash):
        the twin takes no more disk, and each run has a file of its own name, so deleting one leaves the other whole.
        The run then counts the checkpoint's real size."""
        digest = _content_digest(data)
        path = self.checkpoint_path(run_id)
        with self._connect() as db:
            twins = [Path(row[0]) for row in db.execute(
                "SELECT checkpoint FROM runs WHERE sha256 = ? AND checkpoint IS NOT NULL AND id != ?", (digest, run_id))]
        if not any(_link(twin, path, len(data)) for twin in twins):
            write_checkpoint(path, data)
        self.update(run_id, sha256=digest, stored_bytes=len(data))
        return path

    def delete(self, run_id: int) -> int:
        """Forget a run that is over: its row, its snapshots and embedding, and its checkpoint file, whose bytes stay on disk while a
        twin links them. Returns the bytes of disk freed."""
        with self._write() as db:
            row = db.execute("SELECT status, checkpoint FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise DLCoreError(f"There is no run #{run_id}; `python -m dlcore runs` lists them.")
            if row["status"] in ACTIVE:
                raise DLCoreError(f"Run #{run_id} is {row['status']}; stop it before deleting it.")
            db.execute("DELETE FROM snapshots WHERE run = ?", (run_id,))
            db.execute("DELETE FROM embeddings WHERE run = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        path = Path(row["checkpoint"]) if row["checkpoint"] else None
        if path is None or path.resolve().parent != self.checkpoints.resolve():  # a file this store did not write
            return 0
        try:
            kept = path.stat()
            path.unlink()
        except FileNotFoundError:
            return 0
        return kept.st_size if kept.st_nlink == 1 else 0

    def update(self, run_id: int, **fields) -> None:
        """Set columns of one run; dicts and evaluations are stored as JSON."""
        encoded = {k: _encode(v) for k, v in fields.items()}
        encoded["updated"] = time.time()
        assignments = ", ".join(f"{column} = ?" for column in encoded)
        with self._write() as db:
            db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*encoded.values(), run_id))

    def get(self, run_id: int) -> Run:
        if not 0 < run_id < 2**63:  # beyond SQLite's integers: no such run, not an OverflowError
            raise DLCoreError("There is no such run; `python -m dlcore runs` lists them.")
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise DLCoreError(f"There is no run #{run_id}; `python -m dlcore runs` lists them.")
        return _to_run(row)

    def list(self, statuses: tuple[str, ...] | None = None, limit: int = 500, with_history: bool = True) -> list[Run]:
        """Newest first. Tables of many runs leave out each run's history (its step losses: most of a row)."""
        self.mark_interrupted()
        query, args = f"SELECT {'*' if with_history else _WITHOUT_HISTORY} FROM runs", ()
        if statuses:
            query += f" WHERE status IN ({', '.join('?' * len(statuses))})"
            args = statuses
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [run for run in map(_readable_run, rows) if run is not None]

    def revision(self) -> tuple[int, float]:
        """(runs, last change): differs whenever a run is created or updated, so callers can cache list()."""
        self.mark_interrupted()
        with self._connect() as db:
            count, updated = db.execute("SELECT count(*), max(updated) FROM runs").fetchone()
        return count, updated or 0.0

    def latest_finished(self) -> Run | None:
        """The newest run that left usable weights."""
        for run in self.list(("done", "stopped")):
            if run.checkpoint and Path(run.checkpoint).is_file():
                return run
        return None

    def mark_interrupted(self) -> int:
        """Runs whose process died while they were active become 'interrupted'; returns how many."""
        with self._connect() as db:
            rows = db.execute(
                f"SELECT id, owner FROM runs WHERE status IN ({', '.join('?' * len(ACTIVE))})", ACTIVE
            ).fetchall()
        dead = [row["id"] for row in rows if not _owner_alive(row["owner"])]
        for run_id in dead:
            self.update(run_id, status="interrupted",
                        message="The server stopped while this run was active; start it again to train it.")
        return len(dead)

    def add_snapshot(self, run_id: int, epoch: int, weights: bytes, histograms: str) -> None:
        """What a run's network looked like after an epoch (dlcore.inside encodes it; here it is only kept)."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO snapshots (run, epoch, weights, histograms) VALUES (?, ?, ?, ?)",
                       (run_id, epoch, weights, histograms))

    def add_embedding(self, run_id: int, data: bytes) -> None:
        """Where test digits live in a finished run's last hidden layer, made by the process that trained it
        (dlcore.inside encodes it), so Inside the network opens without making it."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO embeddings (run, data) VALUES (?, ?)", (run_id, data))

    def embedding_bytes(self, run_id: int) -> bytes | None:
        with self._connect() as db:
            row = db.execute("SELECT data FROM embeddings WHERE run = ?", (run_id,)).fetchone()
        return bytes(row[0]) if row else None

    def snapshot_epochs(self, run_id: int) -> list[int]:
        with self._connect() as db:
            return [row[0] for row in db.execute("SELECT epoch FROM snapshots WHERE run = ? ORDER BY epoch", (run_id,))]

    def snapshot_weights(self, run_id: int, epoch: int) -> bytes | None:
        with self._connect() as db:
            row = db.execute("SELECT weights FROM snapshots WHERE run = ? AND epoch = ?", (run_id, epoch)).fetchone()
        return bytes(row[0]) if row else None

    def snapshot_histograms(self, run_id: int) -> list[tuple[int, str]]:
        """(epoch, histograms JSON) for each snapshot, oldest first, without the weights."""
        with self._connect() as db:
            rows = db.execute("SELECT epoch, histograms FROM snapshots WHERE run = ? ORDER BY epoch", (run_id,))
            return [(row[0], row[1]) for row in rows]

    def checkpoint_path(self, run_id: int) -> Path:
        return self.checkpoints / f"run-{run_id}.safetensors"

    # The class's drawings (dlcore.drawings) are kept here, beside the runs, so that their bounds are checked and a
    # drawing recorded in one write transaction, whichever process adds it, as a run's disk budget is.

    def add_drawing(self, label: str, image, student: str = "", sender: str = "") -> int:
        """Keep a drawing of a class's symbol as its 28x28 MNIST-style picture; refuse, with a sentence, what is not
        a drawing, a class past the limit, and a drawing past its student's (sender's) or the server's share."""
        label = drawings.clean_label(label)
        pixels = drawings.picture(image)
        with self._write() as db:
            classes = [row[0] for row in db.execute("SELECT DISTINCT label FROM drawings")]
            theirs = db.execute("SELECT count(*) FROM drawings WHERE sender = ?", (sender,)).fetchone()[0]
            everyone = db.execute("SELECT count(*) FROM drawings").fetchone()[0]
            drawings.check_room(label, classes, theirs if sender else None, everyone)
            return db.execute("INSERT INTO drawings (created, label, student, sender, pixels) VALUES (?, ?, ?, ?, ?)",
                              (time.time(), label, student_name(student), sender, pixels.tobytes())).lastrowid

    def drawings(self, label: str | None = None) -> list[drawings.Drawing]:
        """The class's drawings, oldest first; with a label, that class's alone."""
        query, args = "SELECT id, created, label, student, pixels FROM drawings", ()
        if label is not None:
            query, args = query + " WHERE label = ?", (label,)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY id", args).fetchall()
        return [drawings.Drawing(row["id"], row["created"], row["label"], row["student"],
                                 np.frombuffer(row["pixels"], dtype=np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
                for row in rows]

    def drawing_classes(self) -> dict[str, int]:
        """Each class's count of drawings, in the order its first was drawn: the order of a network's outputs."""
        with self._connect() as db:
            rows = db.execute("SELECT label, count(*) FROM drawings GROUP BY label ORDER BY min(id)").fetchall()
        return {label: count for label, count in rows}

    def remove_drawing(self, drawing_id: int, sender: str | None = None) -> None:
        """Forget one drawing: the teacher (sender None) any, a student only their own."""
        with self._write() as db:
            row = (db.execute("SELECT sender FROM drawings WHERE id = ?", (drawing_id,)).fetchone()
                   if 0 < drawing_id < 2**63 else None)  # beyond SQLite's integers: no such drawing
            if row is None:
                raise DLCoreError(f"There is no drawing #{drawing_id}; it may have been removed already.")
            if sender is not None and row["sender"] != sender:
                raise DLCoreError(f"Drawing #{drawing_id} is someone else's; you can remove only your own.")
            db.execute("DELETE FROM drawings WHERE id = ?", (drawing_id,))

    def remove_last_drawing(self, sender: str) -> str | None:
        """Forget the newest drawing a student (sender) added, their undo; its class, or None when they have none."""
        with self._write() as db:
            row = db.execute("SELECT id, label FROM drawings WHERE sender = ? ORDER BY id DESC LIMIT 1",
                             (sender,)).fetchone()
            if row is not None:
                db.execute("DELETE FROM drawings WHERE id = ?", (row["id"],))
        return row["label"] if row is not None else None

    def remove_class(self, label: str) -> int:
        """Forget every drawing of a class (the teacher's to do); returns how many there were."""
        with self._write() as db:
            removed = db.execute("DELETE FROM drawings WHERE label = ?", (label,)).rowcount
        if not removed:
            raise DLCoreError(f"There is no class '{label[:40]}' among the drawings; it may have been removed already.")
        return removed


class _Damaged(Exception):
    """The runs database file is not a sound SQLite database."""


def _add_columns(db: sqlite3.Connection) -> None:
    """Give a database the columns added since it was made; the weights an older one already keeps get their sizes,
    so that they count against the server's disk budget."""
    if set(_ADDED_COLUMNS) <= {row["name"] for row in db.execute("PRAGMA table_info(runs)")}:
        return
    db.execute("BEGIN IMMEDIATE")  # another process may be adding them at this moment
    try:
        present = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
        for name, declaration in _ADDED_COLUMNS.items():
            if name not in present:
                db.execute(f"ALTER TABLE runs ADD COLUMN {name} {declaration}")
        db.execute("CREATE INDEX IF NOT EXISTS runs_sha256 ON runs (sha256)")
        for row in db.execute("SELECT id, checkpoint FROM runs WHERE checkpoint IS NOT NULL").fetchall():
            with contextlib.suppress(OSError):
                db.execute("UPDATE runs SET stored_bytes = ? WHERE id = ?", (Path(row["checkpoint"]).stat().st_size, row["id"]))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _content_digest(data: bytes) -> str:
    """A checkpoint's hash by what it holds: safetensors writes its metadata in no fixed order, so the same weights
    and config can come out as different bytes; the header is hashed with its keys sorted, then the tensors."""
    size = int.from_bytes(data[:8], "little")
    digest = hashlib.sha256(json.dumps(json.loads(data[8 : 8 + size]), sort_keys=True).encode())
    digest.update(memoryview(data)[8 + size :])
    return digest.hexdigest()


def _link(twin: Path, path: Path, size: int) -> bool:
    """Give path the twin's file as a hard link, put in place at once; False when it cannot be (the twin is gone,
    was replaced, or the file system has no hard links)."""
    temporary = path.with_suffix(".link")
    try:
        if twin.stat().st_size != size:
            return False
        temporary.unlink(missing_ok=True)
        os.link(twin, temporary)
        temporary.replace(path)
    except OSError:
        return False
    return True


def _code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (Python gives the extended one, e.g. SQLITE_READONLY_DIRECTORY)."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def _fault_sentence(exc: sqlite3.Error, path: Path) -> str:
    """What a SQLite failure means for the person at the keyboard, and what to do about it."""
    code = _code(exc)
    if code == sqlite3.SQLITE_FULL:
        return f"The disk holding the runs database {path} is full; free some space and try again."
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_IOERR):
        return f"Cannot use the runs database {path} ({exc}); set DLCORE_HOME to a writable folder."
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return (f"The runs database {path} is damaged ({exc}); restart the app or run `python -m dlcore runs` "
                "to set it aside and start a fresh one.")
    return f"The runs database {path} failed ({exc}); try again in a moment."


def _encode(value):
    if hasattr(value, "to_dict"):  # an Evaluation, by what it does: a server that reloaded its code mid-run (a
        return json.dumps(value.to_dict())  # file edited) holds results made by the class it had before
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _readable_run(row: sqlite3.Row) -> Run | None:
    """A run, or None for one whose settings an older version stored without checking them: it is left out of
    lists, so one bad row cannot break the run board for the whole class (get() still says what is wrong)."""
    try:
        return _to_run(row)
    except DLCoreError:
        return None


def _to_run(row: sqlite3.Row) -> Run:
    return Run(
        id=row["id"], created=row["created"], updated=row["updated"], status=row["status"], message=row["message"],
        config=TrainConfig.from_json(row["config"]), student=row["student"], device=row["device"],
        history=json.loads(row["history"]),
        results=Evaluation.from_dict(json.loads(row["results"])) if row["results"] else None,
        checkpoint=row["checkpoint"], seconds=row["seconds"],
    )


def save_checkpoint(path: Path | str, model: torch.nn.Module, config: TrainConfig) -> Path:
    """Weights as safetensors, with the config in the file's metadata so the file stands alone."""
    return write_checkpoint(path, checkpoint_bytes(model, config))


def checkpoint_bytes(model: torch.nn.Module, config: TrainConfig) -> bytes:
    """A checkpoint file's bytes: what a worker (a process, or a Ray actor on another machine) sends back for the
    app's server to keep."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    return save_bytes(state, metadata={"format": CHECKPOINT_FORMAT, "config": config.to_json()})


def write_checkpoint(path: Path | str, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # never leave a half-written checkpoint behind
    return path


def check_weights(spec: ModelSpec, dataset: str = models.DIGITS) -> None:
    """Refuse a network whose checkpoint would be over the load cap: its weights could be saved but never loaded
    again, by Draw & classify, an export or an import."""
    size = weights_bytes(spec, dataset)
    if size + HEADER_SLACK_BYTES > MAX_CHECKPOINT_BYTES:
        raise DLCoreError(f"This network's weights would take {size / 2**20:,.0f} MiB, over the "
                          f"{MAX_CHECKPOINT_BYTES // 2**20} MiB of the largest MLP the limits allow; use fewer channels, "
                          "more pooling or smaller dense layers.")


def load_checkpoint_bytes(data: bytes, config: TrainConfig | None = None) -> tuple[torch.nn.Module, TrainConfig]:
    """A model from safetensors bytes; the config comes from the file unless given.

    The config's cost and the file's header (every tensor's name, dtype and shape) are checked against the network
    before any weights are read or allocated: a 1.6 kB file whose config names a 1.7 GB network is a sentence.
    """
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise DLCoreError(f"The weights file is {len(data) / 2**20:.0f} MiB, over the {MAX_CHECKPOINT_BYTES // 2**20} MiB limit.")
    declared, metadata = _read_header(data)
    if config is None:
        if "config" not in metadata:
            raise DLCoreError("The weights file has no configuration inside; upload its config JSON beside it.")
        config = TrainConfig.from_json(metadata["config"])
    check_weights(config.model, config.dataset)
    model = _unallocated(config.model, config.dataset)
    _check_fits(declared, model.state_dict())
    try:
        state = load_safetensors_bytes(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise DLCoreError(NOT_SAFETENSORS) from exc
    model.load_state_dict(state, strict=True, assign=True)  # the file's tensors become the weights: no second copy
    model.eval()
    return model, config


def load_checkpoint(path: Path | str) -> tuple[torch.nn.Module, TrainConfig]:
    path = Path(path)
    if not path.is_file():
        raise DLCoreError(f"There is no checkpoint at {path}; give a run id or a .safetensors path.")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise DLCoreError(f"{path} is over the {MAX_CHECKPOINT_BYTES // 2**20} MiB limit for weights.")
    return load_checkpoint_bytes(path.read_bytes())


def parse_run_id(text: str) -> int | None:
    """'12' or '#12' -> 12; None for anything else, '²', '-1' and 30-digit numbers included (SQLite's ids fit 18)."""
    match = re.fullmatch(r"#?([0-9]{1,18})", text.strip())
    return int(match.group(1)) if match else None


def resolve_checkpoint(reference: str, store: RunStore | None = None) -> Path:
    """A run id ('12' or '#12') or a path -> the checkpoint path."""
    run_id = parse_run_id(reference)
    if run_id is not None and not Path(reference).exists():
        run = (store or RunStore()).get(run_id)
        if not run.checkpoint:
            raise DLCoreError(f"Run #{run.id} has no saved weights (its status is {run.status}).")
        return Path(run.checkpoint)
    return Path(reference)


def _read_header(data: bytes) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]]:
    """({name: (dtype, shape)}, metadata) from a safetensors file's JSON header alone, without its tensors (the
    safetensors package reads a header by itself only from a file on disk; from bytes it loads everything)."""
    size = int.from_bytes(data[:8], "little")
    try:
        if len(data) < 8 or size > HEADER_SLACK_BYTES:
            raise ValueError("no header, or one longer than any checkpoint's")
        header = json.loads(data[8 : 8 + size])
        metadata = header.pop("__metadata__", None) or {}
        declared = {name: (entry["dtype"], tuple(entry["shape"])) for name, entry in header.items()}
        plain = all(isinstance(value, str) for value in metadata.values()) and all(
            isinstance(dtype, str) and all(type(side) is int for side in shape) for dtype, shape in declared.values())
        if not plain:
            raise ValueError("a field of the wrong type")
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise DLCoreError(NOT_SAFETENSORS) from exc
    return declared, metadata


def _check_fits(declared: dict[str, tuple[str, tuple[int, ...]]], expected: dict[str, torch.Tensor]) -> None:
    """Refuse a file whose tensors are not exactly the network's, naming the first that differs."""
    for name, tensor in expected.items():
        if name not in declared:
            _misfit(f"the file has no tensor '{name}'")
        dtype, shape = declared[name]
        if shape != tuple(tensor.shape):
            _misfit(f"'{name}' is {_cut(str(list(shape)))} in the file and {list(tensor.shape)} in the network")
        if dtype != DTYPE_NAMES[tensor.dtype]:
            _misfit(f"'{name}' is {_cut(dtype)} in the file and {DTYPE_NAMES[tensor.dtype]} in the network")
    for name in declared:
        if name not in expected:
            _misfit(f"the network has no tensor '{_cut(name)}', which the file holds")


def _misfit(problem: str) -> None:
    raise DLCoreError(f"The weights do not fit the configuration's network: {problem}.")


def _cut(text: str) -> str:
    """Text from an uploaded file, cut short to be quoted in a sentence."""
    return f"{text[:40]}…" if len(text) > 40 else text
