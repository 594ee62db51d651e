"""Thirty students press Start within a minute while the teacher's long run trains: how long each waits.

Through the job manager the pages use (worker processes, one slot, as a 2-core classroom server has), twice on
the same arrivals: first come first served (turns longer than any run: yesterday's queue) and fair turns (20 s).
Prints, for the students' runs, the median and longest wait from Start to their first live point and to their
end, and the teacher's run's time; a JSON line last. Figures, not assertions: a busy machine decides them.

    python bench/turns.py                          # 30 students, default runs, the teacher's CNN
    python bench/turns.py --students 10 --within 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlcore import TrainConfig, jobs, models  # noqa: E402
from dlcore.runs import RunStore  # noqa: E402

FIRST_COME = 1e9  # a turn longer than any run: the queue as it was


def classroom(students: int, within: float, turn: float, teacher: TrainConfig, seed: int) -> dict:
    """One lesson: the teacher's run starts, then each student's default run arrives at a random moment."""
    manager = jobs.JobManager(RunStore(tempfile.mkdtemp(prefix="dlcore-turns-")),
                              slots=jobs.Slots(max_concurrent=1, turn_seconds=turn), reserve_cores=1)
    arrivals = sorted(random.Random(seed).uniform(0, within) for _ in range(students))
    began = time.monotonic()
    teacher_id = manager.submit(teacher, owner="teacher")
    submitted: dict[int, float] = {}
    first_point: dict[int, float] = {}
    ended: dict[int, float] = {}
    pending = list(arrivals)
    while len(ended) < students + 1:
        now = time.monotonic() - began
        while pending and pending[0] <= now:
            pending.pop(0)
            run_id = manager.submit(TrainConfig(), owner=f"student-{len(submitted)}")
            submitted[run_id] = now
        for run_id in [teacher_id, *submitted]:
            if run_id in ended:
                continue
            progress = manager.progress(run_id)
            if progress.step_losses and run_id not in first_point:
                first_point[run_id] = now
            if progress.finished:
                ended[run_id] = now
        time.sleep(0.1)
    first = [first_point.get(run_id, ended[run_id]) - at for run_id, at in submitted.items()]
    done = [ended[run_id] - at for run_id, at in submitted.items()]
    return {
        "turn_seconds": None if turn >= FIRST_COME else turn,
        "first_point_median": round(statistics.median(first), 1), "first_point_longest": round(max(first), 1),
        "done_median": round(statistics.median(done), 1), "done_longest": round(max(done), 1),
        "teacher_seconds": round(ended[teacher_id], 1), "lesson_seconds": round(max(ended.values()), 1),
        "statuses": sorted({manager.progress(run_id).status for run_id in ended}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--within", type=float, default=60.0, help="seconds over which the students press Start")
    parser.add_argument("--turn", type=float, default=jobs.TURN_SECONDS)
    parser.add_argument("--teacher-epochs", type=int, default=2, help="epochs of the teacher's CNN on the sample")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("DLCORE_HOME", tempfile.mkdtemp(prefix="dlcore-turns-home-"))
    teacher = TrainConfig(model=models.preset("cnn"), epochs=args.teacher_epochs)
    results = {}
    for name, turn in (("first_come", FIRST_COME), ("turns", args.turn)):
        results[name] = classroom(args.students, args.within, turn, teacher, args.seed)
        print(f"{name:>10}: to the first live point median {results[name]['first_point_median']} s, longest "
              f"{results[name]['first_point_longest']} s; to the end median {results[name]['done_median']} s, "
              f"longest {results[name]['done_longest']} s; the teacher's run {results[name]['teacher_seconds']} s",
              file=sys.stderr)
    print(json.dumps({"students": args.students, "within": args.within, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
