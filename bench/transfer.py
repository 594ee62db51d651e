"""Transfer learning's goal: from the cnn preset trained on mnist-sample, do frozen or fine-tuned transfer to
Fashion-MNIST with 10 examples of each class beat training the same network from scratch by 5 points of test
accuracy (median of 3 seeds), each run within 30 s on 2 cores?

Trains the source run through the job manager in a fresh runs home, then for each seed the three ways side by side
as one loop (transfer.configs: its recipe, as the page and the command line train), one torch thread each.

Usage: DLCORE_DATA_DIR=../shared/data python bench/transfer.py [--seeds 3] [--per-class 10] [--source-epochs 3]
Last stdout line: {"frozen": {"accuracies": [...], "median": ...}, ..., "seconds_per_run": ..., "goal_met": ...}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--source-epochs", type=int, default=3)
    args = parser.parse_args()
    os.environ["DLCORE_HOME"] = tempfile.mkdtemp(prefix="bench-transfer-")
    import torch

    from dlcore import jobs, models, transfer
    from dlcore.config import TrainConfig
    from dlcore.loop import Loop

    torch.set_num_threads(1)
    manager = jobs.job_manager()
    source = manager.submit(TrainConfig(dataset="mnist-sample", model=models.preset("cnn"), epochs=args.source_epochs,
                                        device="cpu"))
    manager.wait(source)
    print(f"source: run #{source}, {manager.store.get(source).accuracy:.1%} on mnist-sample", flush=True)
    accuracies, seconds = {mode: [] for mode in transfer.MODES}, []
    for seed in range(args.seeds):
        started = time.perf_counter()
        loop = Loop(transfer.configs(source, "fashion-mnist", args.per_class, seed, store=manager.store))
        loop.run()
        seconds.append((time.perf_counter() - started) / len(loop.lanes))
        for lane in loop.lanes:
            accuracies[lane.config.transfer].append(round(lane.evaluation.accuracy, 4))
        print(f"seed {seed}: " + ", ".join(f"{transfer.MODES[lane.config.transfer]} {lane.evaluation.accuracy:.3f}"
                                           for lane in loop.lanes) + f"; {seconds[-1]:.1f} s a run", flush=True)
    medians = {mode: statistics.median(values) for mode, values in accuracies.items()}
    best = max(medians["frozen"], medians["finetune"])
    print(json.dumps({**{mode: {"accuracies": accuracies[mode], "median": medians[mode]} for mode in accuracies},
                      "margin_over_scratch": round(best - medians["scratch"], 4),
                      "seconds_per_run": round(max(seconds), 1),
                      "goal_met": best - medians["scratch"] >= 0.05 and max(seconds) <= 30}))


if __name__ == "__main__":
    main()
