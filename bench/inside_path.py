"""A drawn digit's whole path on Inside the network, on CPU: how long the page takes from the canvas to its figures.

For each network (the seed presets, the starter CNN, a CNN with batch norm, and the widest CNN the limits allow, to
show the caps at work) loaded from a safetensors checkpoint the way the page loads it, this times (median and 95th
percentile over many repeats, after a warm-up):
  path_ms      the canvas's 280x280 RGBA array -> MNIST-style preprocessing -> every layer's output
               (inside.trace) -> every layer's figure (ui.inside.path_figures) -> the JSON st.plotly_chart sends,
               validated as Streamlit does. The goal: < 200 ms.
  trace_ms     the model part alone.
Weights are left at their initial values: the time does not depend on what they are. Each is timed with torch's
default threads and with one thread (what a server's page thread gets beside a training run on 2 cores).

Usage: python bench/inside_path.py [--repeats 30]
Last stdout line: {"goal_ms": 200, "cnn": {"path_ms": ..., ...}, ..., "under_goal": true}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import plotly.io
import plotly.tools
import torch

from bench.predict_latency import timed
from dlcore import data, inside, models, predict, preprocess, runs
from dlcore.config import MAX_CHANNELS, ConvBlock, DenseLayer, ModelSpec
from ui.inside import path_figures

GOAL_MS = 200
NETWORKS = {
    **models.PRESETS,
    "starter": predict.STARTER_CONFIG.model,
    "cnn-batchnorm": ModelSpec("cnn", conv=(ConvBlock(32, batch_norm=True), ConvBlock(64, pool="max", batch_norm=True)),
                               dense=(DenseLayer(128, batch_norm=True, dropout=0.2),)),
    "widest-cnn": ModelSpec("cnn", conv=(ConvBlock(MAX_CHANNELS, padding="same"), ConvBlock(MAX_CHANNELS, pool="max")),
                            dense=(DenseLayer(128),)),
}


def whole_path(classifier: predict.Classifier, canvas: np.ndarray) -> int:
    """What the page does when the drawing changes; returns the bytes of chart JSON it sends."""
    steps = preprocess.mnist_style(canvas, classifier.info.mean, classifier.info.std)
    path = inside.trace(classifier.model, classifier.config, steps.normalized)
    sent = 0
    for _, _, figure in path_figures(path, classifier.info.classes):
        if figure is not None:
            checked = plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True)
            sent += len(plotly.io.to_json(checked, validate=False))
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    digit = data.load("mnist-sample").test_images[0].numpy()
    canvas = preprocess.canvas_style(digit, np.random.default_rng(0), variant=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; canvas {canvas.shape}")
    figures: dict = {"goal_ms": GOAL_MS}
    folder = Path(tempfile.mkdtemp(prefix="dlcore-inside-"))
    default_threads = torch.get_num_threads()
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        for name, spec in NETWORKS.items():
            config = predict.STARTER_CONFIG.with_changes(model=spec)
            classifier = predict.load(runs.save_checkpoint(folder / f"{name}.safetensors", models.build(spec).eval(), config))
            steps = preprocess.mnist_style(canvas, classifier.info.mean, classifier.info.std)
            path_ms, path_p95 = timed(lambda: whole_path(classifier, canvas), args.repeats)
            trace_ms, _ = timed(lambda: inside.trace(classifier.model, classifier.config, steps.normalized), args.repeats)
            key = name if threads == default_threads else f"{name}@1thread"
            figures[key] = {"path_ms": round(path_ms, 1), "path_p95_ms": round(path_p95, 1),
                            "trace_ms": round(trace_ms, 1), "chart_kib": round(whole_path(classifier, canvas) / 1024)}
            print(f"{key:<22} whole path {path_ms:6.1f} ms median (p95 {path_p95:6.1f}); model alone {trace_ms:5.1f} ms; "
                  f"{figures[key]['chart_kib']:,} KiB of charts", flush=True)
    figures["under_goal"] = all(row["path_ms"] < GOAL_MS for row in figures.values() if isinstance(row, dict))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
