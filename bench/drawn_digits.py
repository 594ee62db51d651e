"""Are digits drawn on the canvas read as well as MNIST's own? The canvas-style digits study.

Real MNIST test digits are redrawn the way the Draw page sees them (preprocess.canvas_style: enlarged 3-9x,
thickened like a brush, placed anywhere on a 280x280 canvas, light-on-dark and dark-on-light) and a model
trained on mnist-sample (on all CPU cores but one, as the app's server trains) reads each three ways: the
original 28x28 digit, the redrawn digit through the MNIST-style preprocessing, and the redrawn digit squashed
to 28x28 (the naive resize). The issue's goal: MNIST-style accuracy >= 0.97 x original accuracy.

Usage: DLCORE_DATA_DIR=../shared/data python bench/drawn_digits.py [--models starter,cnn,simple-nn] [--count 2000]
Last stdout line: {"starter": {"ratio": ..., "original": ..., "mnist_style": ..., "naive": ...}, ...}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlcore import data, jobs, models, predict, runs, training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="starter,cnn,simple-nn", help="starter and/or preset names")
    parser.add_argument("--count", type=int, default=2000, help="test digits to redraw")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("DLCORE_HOME", tempfile.mkdtemp(prefix="dlcore-bench-"))
    threads = jobs.training_threads(reserve=1)  # train as the app's server does: all cores but one
    torch.set_num_threads(threads)

    dataset = data.load("mnist-sample")
    print(f"test digits: {args.count} of {dataset.test_source}; training on {threads} CPU thread(s)")
    images, labels = dataset.test_images[: args.count], dataset.test_labels[: args.count]
    figures = {}
    for name in args.models.split(","):
        config = predict.STARTER_CONFIG if name == "starter" else predict.STARTER_CONFIG.with_changes(
            model=models.preset(name), lr=1e-3, batch_size=64, epochs=5)
        started = time.perf_counter()
        trainer = training.Trainer(config)
        trainer.run()
        seconds = time.perf_counter() - started
        path = runs.save_checkpoint(Path(os.environ["DLCORE_HOME"]) / f"{name}.safetensors", trainer.model, config)
        study = predict.drawn_digits(predict.load(path), images, labels, seed=args.seed)
        figures[name] = {**study.to_dict(), "train_seconds": round(seconds, 1),
                         "test_accuracy_10k": trainer.evaluation.accuracy, "model": config.model.summary()}
        print(f"{name:<10} ({config.model.summary()}, trained in {seconds:.1f}s): original {study.original:.2%}, "
              f"drawn + MNIST-style {study.mnist_style:.2%} (ratio {study.ratio:.3f}), "
              f"drawn + naive resize {study.naive:.2%} (light-on-dark only {study.naive_light_on_dark:.2%})",
              flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
