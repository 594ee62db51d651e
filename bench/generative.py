"""Issue 25's goals on mnist-sample, on this machine's CPU: seconds until a 2-D VAE's test codes read their class
with k-NN >= 0.55 (goal: within 60 s), the course's autoencoder (64-D code) reaching BCE <= 100 per digit, and the
course's GAN drawing digits a starter CNN reads with >= 90% confidence for >= 40% of 1,000 drawings, of >= 8
classes (goal: within 5 minutes).

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
from dlcore import generative, predict, training  # noqa: E402
from dlcore.config import TrainConfig  # noqa: E402

GOALS = {"vae-2d": ("latent_knn_accuracy", 0.55), "autoencoder": ("reconstruction_bce", 100.0),
         "gan": ("judge_confident_share", 0.4)}
EPOCHS = {"vae-2d": (5, 10, 20, 40), "autoencoder": (5, 10, 20, 40), "gan": (20, 40, 60, 80, 100)}
GAN_CLASSES = 8


def seconds_to_goal(preset: str, judge) -> dict:
    """Train the preset for more and more epochs (each run from the start, as a student would) until it meets its
    goal; the first that does, with its training seconds."""
    measure, goal = GOALS[preset]
    for epochs in EPOCHS[preset]:
        lr = generative.GAN_LR if preset == "gan" else TrainConfig().lr
        config = TrainConfig(dataset="mnist-sample", model=generative.PRESETS[preset], epochs=epochs, lr=lr,
                             device="cpu")
        started = time.perf_counter()
        trainer = training.Trainer(config)
        trainer.run()
        seconds = time.perf_counter() - started
        measured = generative.measures(trainer.model, config.dataset, judge, config.dataset)
        value = measured[measure]
        met = value <= goal if measure == "reconstruction_bce" else value >= goal
        if preset == "gan":
            met = met and measured["classes_covered"] >= GAN_CLASSES
            measure_text = f"classes {measured['classes_covered']}, "
        else:
            measure_text = ""
        print(f"{preset}: {epochs} epochs in {seconds:.1f} s, {measure_text}{measure} {value:.3f} "
              f"({'met' if met else 'not yet'})", flush=True)
        if met:
            return {"epochs": epochs, "seconds": round(seconds, 1), **measured, "goal": goal}
    return {"epochs": None, **measured, "goal": goal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("presets", nargs="*", help=f"which goals: {', '.join(GOALS)} (default: all)")
    args = parser.parse_args()
    if unknown := set(args.presets) - set(GOALS):
        parser.error(f"no goal for {', '.join(sorted(unknown))}; choose from {', '.join(GOALS)}")
    torch.set_num_threads(args.threads)
    judge = training.Trainer(predict.STARTER_CONFIG)  # reads the GAN's drawings, as `generate` does without --judge
    judge.run()
    figures = {preset: seconds_to_goal(preset, judge.model) for preset in args.presets or GOALS}
    figures["load"] = round(os.getloadavg()[0], 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
