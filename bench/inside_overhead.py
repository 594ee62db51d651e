"""What Inside the network costs the run it watches: per-epoch snapshots and the live strip of test digits.

Both paths train the same config in this one process through the same job manager, with torch's default threads,
and alternate after one unmeasured warm-up run (as bench/ui_overhead.py does):
  bare    the run with snapshots and the strip switched off (dlcore.inside.record and the strip reader stubbed)
  inside  the run as the server trains it (a snapshot each epoch, the strip read every STRIP_SECONDS) while a page
          polls it every POLL_SECONDS the way Build & train's live view does: the strip's picture, encoded as PNG as st.image does, and after each
          epoch, the stored histograms and their figures
The figures compared: training samples/s (what the page reports; the per-epoch snapshot falls outside it, with the
evaluation) and each run's wall-clock seconds (which includes the snapshots), medians over the repeats.

Usage: DLCORE_DATA_DIR=../shared/data python bench/inside_overhead.py [--preset cnn] [--epochs 2] [--repeats 3]
Last stdout line: {"ratio": inside over bare samples/s, "wall_ratio": bare over inside seconds, "hook_share": the
share of the inside runs' wall time the training thread spent reading the strip and storing snapshots, ...};
goal: ratio >= 0.95. On a shared, busy machine single runs vary by 30%; hook_share is the steadier figure.
"""

from __future__ import annotations

import argparse
import io
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DLCORE_HOME", tempfile.mkdtemp(prefix="dlcore-bench-"))

import plotly.io
from PIL import Image

from dlcore import TrainConfig, data, inside, jobs, models
from ui.inside import histogram_figures, strip_image
from ui.runs import POLL_SECONDS


HOOK_SECONDS = [0.0]  # time the training thread spent in the strip reader and the snapshots, over every inside run


@contextlib.contextmanager
def timed_hooks():
    """Count the seconds the training thread spends reading the strip and storing snapshots: a figure the machine's
    load barely moves, unlike two runs' speeds."""
    record, read = inside.record, inside.StripReader.read

    def timed(function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                HOOK_SECONDS[0] += time.perf_counter() - started
        return wrapper

    inside.record, inside.StripReader.read = timed(record), timed(read)
    try:
        yield
    finally:
        inside.record, inside.StripReader.read = record, read


@contextlib.contextmanager
def switched_off():
    """No snapshots and no strip readings: the run as it trained before this page existed."""
    record, read = inside.record, inside.StripReader.read
    inside.record = lambda *args, **kwargs: None
    inside.StripReader.read = lambda *args, **kwargs: None
    try:
        yield
    finally:
        inside.record, inside.StripReader.read = record, read


def run(manager: jobs.JobManager, config: TrainConfig, watch: bool) -> tuple[float, float]:
    """(training samples/s, wall seconds) of one run, polled like the live view when `watch`."""
    started = time.perf_counter()
    run_id = manager.submit(config)
    trainer, next_poll, seen = manager.trainer(run_id), time.perf_counter(), -1
    while True:
        trainer.join(timeout=max(0.0, next_poll - time.perf_counter()))  # returns at once when the run ends
        if (progress := manager.progress(run_id)).finished:
            break
        if time.perf_counter() < next_poll:
            continue
        next_poll += POLL_SECONDS
        if watch:
            Image.fromarray(strip_image(trainer.strip(), data.info(config.dataset).classes)).save(io.BytesIO(), "PNG")
            if progress.epoch != seen:  # the page reads the store's histograms again only after an epoch
                seen, history = progress.epoch, inside.stored_histograms(manager.store, run_id)
                if history:
                    for figure in histogram_figures(history, history[-1][1][0].layer, inside.gradient_edges()):
                        plotly.io.to_json(figure, validate=False)
    if progress.status != "done":
        sys.exit(f"the run ended {progress.status}: {progress.message}")
    return progress.samples_per_sec, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist" if data.status("mnist").available else "mnist-sample")
    parser.add_argument("--preset", default="cnn", choices=list(models.PRESETS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="runs per path, alternating")
    args = parser.parse_args()

    config = TrainConfig(dataset=args.dataset, model=models.preset(args.preset), epochs=args.epochs,
                         batch_size=args.batch_size, device="cpu")
    manager = jobs.job_manager(serving=False)

    def bare() -> tuple[float, float]:
        with switched_off():
            return run(manager, config, watch=False)

    def watched() -> tuple[float, float]:
        with timed_hooks():
            return run(manager, config, watch=True)

    paths = {"bare": bare, "inside": watched}
    paths["inside"]()  # warm-up: data in memory, thread pools, plotly
    HOOK_SECONDS[0] = 0.0
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for i in range(args.repeats):
        for name in list(paths) if i % 2 == 0 else list(paths)[::-1]:
            results[name].append(paths[name]())
        print(f"repeat {i + 1}: " + ", ".join(f"{name} {results[name][-1][0]:,.0f} samples/s in {results[name][-1][1]:.1f} s"
                                              for name in paths), file=sys.stderr)
    rate = {name: statistics.median(r for r, _ in values) for name, values in results.items()}
    wall = {name: statistics.median(s for _, s in values) for name, values in results.items()}
    print(json.dumps({
        "dataset": args.dataset, "preset": args.preset, "epochs": args.epochs, "batch_size": args.batch_size,
        "bare_samples_per_sec": round(rate["bare"], 1), "inside_samples_per_sec": round(rate["inside"], 1),
        "bare_seconds": round(wall["bare"], 2), "inside_seconds": round(wall["inside"], 2),
        "ratio": round(rate["inside"] / rate["bare"], 3), "wall_ratio": round(wall["bare"] / wall["inside"], 3),
        "hook_share": round(HOOK_SECONDS[0] / sum(s for _, s in results["inside"]), 4),
    }))


if __name__ == "__main__":
    main()
