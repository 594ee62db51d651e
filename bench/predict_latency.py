"""From the canvas image to probabilities: how long the Draw page waits for the model, on CPU.

For simple-nn, cnn and the starter CNN, each loaded from a safetensors checkpoint the way the page loads
it, this times (median and 95th percentile over many repeats, after a warm-up):
  canvas_to_probabilities  the canvas's 280x280 RGBA array -> MNIST-style preprocessing -> softmax (the goal: < 50 ms)
  with_png_decode          the same, starting from the PNG the browser sends (what CanvasResult.image_data decodes)
  page_reading             predict.read: MNIST-style and naive readings, as the page computes on every stroke
  saliency                 the input gradient shown under the prediction
Weights are left at their initial values: the time does not depend on what they are. Each is timed with
torch's default threads and with one thread (what a server gets after training.share_cpu on 2 cores).
The goal is checked on the medians; the 95th percentiles show how much a busy machine adds.

Usage: python bench/predict_latency.py [--repeats 200]
Last stdout line: {"goal_ms": 50, "simple-nn": {"canvas_to_probabilities_ms": ..., ...}, ...}
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from PIL import Image

from dlcore import data, models, predict, preprocess, runs

GOAL_MS = 50


def timed(function, repeats: int) -> tuple[float, float]:
    """(median, 95th percentile) in milliseconds."""
    for _ in range(5):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    digit = data.load("mnist-sample").test_images[0].numpy()
    canvas = preprocess.canvas_style(digit, np.random.default_rng(0), variant=0)  # white ink, transparent background
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    png = buffer.getvalue()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; canvas {canvas.shape}, PNG {len(png):,} bytes")

    figures: dict = {"goal_ms": GOAL_MS}
    folder = Path(tempfile.mkdtemp(prefix="dlcore-latency-"))
    specs = {"simple-nn": models.preset("simple-nn"), "cnn": models.preset("cnn"), "starter": predict.STARTER_CONFIG.model}
    default_threads = torch.get_num_threads()
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        for name, spec in specs.items():
            config = predict.STARTER_CONFIG.with_changes(model=spec)
            path = runs.save_checkpoint(folder / f"{name}.safetensors", models.build(spec).eval(), config)
            classifier = predict.load(path)
            steps, guess = predict.classify(classifier, canvas)
            rows = {
                "canvas_to_probabilities": lambda: predict.classify(classifier, canvas),
                "with_png_decode": lambda: predict.classify(classifier, np.asarray(Image.open(io.BytesIO(png)))),
                "page_reading": lambda: predict.read(classifier, canvas),
                "saliency": lambda: predict.saliency(classifier, steps.normalized, guess.prediction),
            }
            key = name if threads == default_threads else f"{name}@1thread"
            figures[key] = {}
            for row, function in rows.items():
                median, p95 = timed(function, args.repeats)
                figures[key][f"{row}_ms"] = round(median, 2)
                figures[key][f"{row}_p95_ms"] = round(p95, 2)
            row = figures[key]
            print(f"{key:<17} canvas -> probabilities {row['canvas_to_probabilities_ms']:.1f} ms median "
                  f"(p95 {row['canvas_to_probabilities_p95_ms']:.1f}); from PNG {row['with_png_decode_ms']:.1f} ms; "
                  f"page reading {row['page_reading_ms']:.1f} ms; saliency {row['saliency_ms']:.1f} ms", flush=True)
    figures["under_goal"] = all(row["canvas_to_probabilities_ms"] < GOAL_MS
                                for key, row in figures.items() if isinstance(row, dict))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
