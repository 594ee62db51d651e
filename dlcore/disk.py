"""How much disk the runs home may take: each student's share, the whole server's, and the free space always left,
so that a 121 kB upload repeated by one student cannot fill the class's disk. The runs store counts what each run
keeps and checks a new one against these limits as it records it (runs.RunStore.create)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .config import DLCoreError

MB = 2**20
STUDENT_MB = 1600  # one student's weights: 13 of the largest networks the limits allow, or about 300 CNNs
DRAWINGS_MB = 512  # the class's frozen drawings (drawings.freeze): a file per set a run trained on, each at most ~4 MB
FREE_MB = 2048  # always left free: SQLite's journal, the system's logs and everyone else need room too


@dataclass(frozen=True)
class Budget:
    """The most bytes of weights the runs home may hold: one student's (None for the teacher and the command line,
    who are bound by the server's alone), the whole server's, and the free space the disk must keep."""

    student: int | None
    server: int
    keep_free: int


def budget(root: Path, student: bool = True) -> Budget:
    """DLCORE_MAX_STUDENT_MB (unless student is False), DLCORE_MAX_HOME_MB (by default half the disk holding the
    runs) and DLCORE_MIN_FREE_MB, in bytes."""
    half_disk = shutil.disk_usage(root).total // 2 // MB
    return Budget(megabytes("DLCORE_MAX_STUDENT_MB", STUDENT_MB) * MB if student else None,
                  megabytes("DLCORE_MAX_HOME_MB", half_disk) * MB, megabytes("DLCORE_MIN_FREE_MB", FREE_MB) * MB)


def check(budget: Budget, adding: int, theirs: int, everyone: int, root: Path) -> None:
    """Refuse `adding` bytes of weights with a sentence when they would take the student (who keeps `theirs`) or the
    server (which keeps `everyone`) over budget, or leave less than the floor free on the disk holding root."""
    if budget.student is not None and theirs + adding > budget.student:
        raise DLCoreError(f"Your runs keep {_mb(theirs)} of weights on this server and this one needs {_mb(adding)} "
                          f"more, over the {_mb(budget.student)} each student may keep; ask the teacher to delete runs "
                          "you no longer need.")
    if everyone + adding > budget.server:
        raise DLCoreError(f"This server's runs keep {_mb(everyone)} of weights and this one needs {_mb(adding)} more, "
                          f"over the {_mb(budget.server)} the server keeps for runs (DLCORE_MAX_HOME_MB); the teacher "
                          "can delete old runs with `python -m dlcore delete`.")
    free = shutil.disk_usage(root).free
    if free - adding < budget.keep_free:
        raise DLCoreError(f"The disk holding the runs has {_mb(free)} free, and this run's {_mb(adding)} would leave "
                          f"less than the {_mb(budget.keep_free)} always kept free (DLCORE_MIN_FREE_MB); the teacher "
                          "can free some space.")


def megabytes(name: str, default: int) -> int:
    """A limit in megabytes from the environment, else its default."""
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return max(0, int(value))
    except ValueError:
        raise DLCoreError(f"{name} must be a whole number of megabytes; it is '{value[:20]}'.") from None


def _mb(count: int) -> str:
    return f"{count / MB:,.1f} MB" if count < 10 * MB else f"{count / MB:,.0f} MB"
