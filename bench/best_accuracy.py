"""A network trained to its best test accuracy: each epoch's accuracy against the wall time since the start.

What a user who moves to a GPU wants to know: how good the CNN gets on the full Fashion-MNIST, and how long
it takes to get there. Trains through dlcore's Trainer, the same one the app and the CLI use.

Usage: DLCORE_DATA_DIR=../shared/data python bench/best_accuracy.py --device cuda [--preset cnn] [--epochs 15]
Last stdout line: {"best_test_accuracy": ..., "best_epoch": ..., "seconds_to_best": ..., "epochs": [...]}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlcore import TrainConfig, devices, models, training  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=devices.DEVICES)
    parser.add_argument("--preset", default="cnn", choices=sorted(models.PRESETS))
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    if not os.environ.get("DLCORE_DATA_DIR"):
        sys.exit("Set DLCORE_DATA_DIR to the folder holding fashion-mnist/ (e.g. ../shared/data).")
    os.environ.setdefault("DLCORE_HOME", tempfile.mkdtemp(prefix="dlcore-best-"))
    config = TrainConfig(dataset=args.dataset, model=models.preset(args.preset), optimizer="adam", lr=args.lr,
                         schedule="cosine", batch_size=args.batch_size, epochs=args.epochs, device=args.device)
    start = time.perf_counter()
    walls: list[float] = []
    trainer = training.Trainer(config, on_epoch=lambda _: walls.append(time.perf_counter() - start))
    trainer.run()
    progress = trainer.progress()
    if progress.status != "done":
        sys.exit(f"The run ended '{progress.status}': {progress.message}")
    rows = [{"epoch": row["epoch"], "test_accuracy": row["test_accuracy"], "wall_s": round(wall, 2)}
            for row, wall in zip(progress.history, walls)]
    best = max(rows, key=lambda row: row["test_accuracy"])
    for row in rows:
        print(f"epoch {row['epoch']:3d}  test accuracy {row['test_accuracy']:.4f}  after {row['wall_s']:.1f} s",
              file=sys.stderr)
    print(json.dumps({"device": progress.device, "preset": args.preset, "dataset": args.dataset,
                      "batch_size": args.batch_size, "samples_per_sec": round(progress.samples_per_sec),
                      "best_test_accuracy": best["test_accuracy"], "best_epoch": best["epoch"],
                      "seconds_to_best": best["wall_s"], "total_seconds": round(time.perf_counter() - start, 2),
                      "epochs": rows}))


if __name__ == "__main__":
    main()
