"""Issue 26's goals on this machine's CPU, time to result:
- smnist: seconds of training until an LSTM reading digits row by row scores >= 0.90 on mnist-sample's test digits
  (goal: within 3 minutes); the course's three 2x20 cells after the same epochs, and how far back each cell's
  gradient reaches (grad_by_step: the first row's gradient over the last row's);
- text: an LSTM 1x256 on Python's documentation, epoch by epoch, until <= 2.0 nats per character on the held-out
  text (goal: within 3 minutes), and what it writes at temperature 0.5;
- memory: each cell at delay GOAL_DELAY over three seeds (goal: LSTM and GRU >= 0.95 where the RNN stays <= 0.5).

    python bench/sequences.py [--threads 2] [--epochs 1,2,4,8] [--goals smnist,text,memory]
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
from dlcore.config import ModelSpec, TrainConfig  # noqa: E402

GOAL = 0.90
TEXT_GOAL = 2.0  # nats per character
GOAL_DELAY, MEMORY_EPOCHS, SEEDS = 60, 15, (0, 1, 2)


def trained(preset: str, epochs: int) -> tuple[training.Trainer, float]:
    return trained_config(TrainConfig(dataset="mnist-sample", model=sequences.PRESETS[preset], epochs=epochs,
                                      lr=sequences.LR, device="cpu"))


def trained_config(config: TrainConfig) -> tuple[training.Trainer, float]:
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
    parser.add_argument("--goals", default="smnist,text,memory")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict = {}
    goals = args.goals.split(",")
    if "smnist" in goals:
        smnist(args, results)
    if "text" in goals:
        text(results)
    if "memory" in goals:
        memory(results)
    print(json.dumps(results))


def text(results: dict) -> None:
    config = TrainConfig(dataset="text", model=ModelSpec("lstm", dense=(), state=256, cell_layers=1), epochs=4,
                         lr=sequences.LR, device="cpu")
    reached = {}

    def on_epoch(trainer: training.Trainer) -> None:
        row = trainer.progress().history[-1]
        print(f"text LSTM 1x256: epoch {row['epoch']} at {row['train_seconds']:.0f} s of training, "
              f"{row['test_loss']:.3f} nats per character", flush=True)
        if row["test_loss"] <= TEXT_GOAL and not reached:
            reached.update(epoch=row["epoch"], seconds=round(row["train_seconds"], 1), nats=round(row["test_loss"], 3))
            trainer.stop()

    trainer = training.Trainer(config, on_epoch=on_epoch)
    trainer.run()
    reached["sample"] = sequences.samples(trainer.model.eval(), (0.5,), 300, seed=1)[0]
    print(reached["sample"], flush=True)
    results["text"] = reached


def memory(results: dict) -> None:
    found = {}
    for kind in ("rnn", "lstm", "gru"):
        for seed in SEEDS:
            config = TrainConfig(dataset=f"memory-{GOAL_DELAY}", model=ModelSpec(kind, dense=(), state=64, cell_layers=1),
                                 epochs=MEMORY_EPOCHS, lr=sequences.LR, seed=seed, device="cpu")
            trainer, seconds = trained_config(config)
            found.setdefault(kind, []).append(round(trainer.evaluation.accuracy, 3))
            print(f"memory-{GOAL_DELAY} {kind} seed {seed}: {trainer.evaluation.accuracy:.3f} in {seconds:.0f} s",
                  flush=True)
    results["memory"] = {"delay": GOAL_DELAY, "epochs": MEMORY_EPOCHS, **found,
                         "goal_met": min(found["lstm"] + found["gru"]) >= 0.95 and max(found["rnn"]) <= 0.5}


def smnist(args, results: dict) -> None:
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


if __name__ == "__main__":
    main()
