"""Issue 26's smnist goal on this machine's CPU: seconds of training until an LSTM reading digits row by row scores
>= 0.90 on mnist-sample's test digits (goal: within 3 minutes); the course's three 2x20 cells after the same epochs;
and how far back each cell's gradient reaches (grad_by_step: the first row's gradient over the last row's).

    python bench/sequences.py [--threads 2] [--epochs 1,2,4,8]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dlcore import data, sequences, training  # noqa: E402
from dlcore.config import TrainConfig  # noqa: E402

GOAL = 0.90


def trained(preset: str, epochs: int) -> tuple[training.Trainer, float]:
    config = TrainConfig(dataset="mnist-sample", model=sequences.PRESETS[preset], epochs=epochs, lr=sequences.LR,
                         device="cpu")
    trainer = training.Trainer(config)
    started = time.perf_counter()
    trainer.run()
    return trainer, time.perf_counter() - started


def reach(trainer: training.Trainer) -> float:
    grads = sequences.grad_by_step(trainer.model, *data.test_batch("mnist-sample", sequences.GRADIENT_DIGITS))
    return grads[0] / max(grads[-1], 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", default="1,2,4,8", help="tried in turn until the goal is met")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict = {}
    for epochs in map(int, args.epochs.split(",")):
        trainer, seconds = trained("lstm-128", epochs)
        accuracy = trainer.evaluation.accuracy
        print(f"lstm-128: {epochs} epochs in {seconds:.1f} s, test accuracy {accuracy:.3f}", flush=True)
        if accuracy >= GOAL:
            results["lstm-128"] = {"epochs": epochs, "seconds": round(seconds, 1), "accuracy": round(accuracy, 4)}
            break
    course_epochs = results.get("lstm-128", {}).get("epochs", epochs)
    for preset in ("simple-rnn", "simple-lstm", "simple-gru"):
        trainer, seconds = trained(preset, course_epochs)
        results[preset] = {"epochs": course_epochs, "seconds": round(seconds, 1),
                           "accuracy": round(trainer.evaluation.accuracy, 4), "first_over_last_row": reach(trainer)}
        print(f"{preset}: {results[preset]}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
