"""Issue 25's goals on mnist-sample, on this machine's CPU: seconds until a 2-D VAE's test codes read their class
with k-NN >= 0.55 (goal: within 60 s), and the course's autoencoder (64-D code) reaching BCE <= 100 per digit.

    DLCORE_DATA_DIR=../shared/data python bench/generative.py [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dlcore import generative, training  # noqa: E402
from dlcore.config import TrainConfig  # noqa: E402

GOALS = {"vae-2d": ("latent_knn_accuracy", 0.55, 60.0), "autoencoder": ("reconstruction_bce", 100.0, None)}
EPOCHS = (5, 10, 20, 40)


def seconds_to_goal(preset: str) -> dict:
    """Train the preset for more and more epochs (each run from the start, as a student would) until it meets its
    goal; the first that does, with its training seconds."""
    measure, goal, _ = GOALS[preset]
    for epochs in EPOCHS:
        config = TrainConfig(dataset="mnist-sample", model=generative.PRESETS[preset], epochs=epochs, device="cpu")
        started = time.perf_counter()
        trainer = training.Trainer(config)
        trainer.run()
        seconds = time.perf_counter() - started
        value = generative.measures(trainer.model, config.dataset)[measure]
        met = value >= goal if measure == "latent_knn_accuracy" else value <= goal
        print(f"{preset}: {epochs} epochs in {seconds:.1f} s, {measure} {value:.3f} ({'met' if met else 'not yet'})")
        if met:
            return {"epochs": epochs, "seconds": round(seconds, 1), measure: round(value, 3), "goal": goal}
    return {"epochs": None, measure: round(value, 3), "goal": goal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    figures = {preset: seconds_to_goal(preset) for preset in GOALS}
    figures["load"] = round(os.getloadavg()[0], 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
