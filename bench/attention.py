"""Issue 27's goals on this machine's CPU, time to result, each task with its own first settings (attention.PRESETS)
trained through the one loop, scored after every epoch:
- digits: a vision transformer on mnist-sample until >= 0.88 on the real test split (goal: within 3 minutes);
- sort: six digits put in order, until >= 0.95 of held-out rows are sorted exactly (goal: within 2 minutes);
- text: a decoder on Python's documentation until <= 2.0 nats per character on the held-out text (goal: within 3
  minutes); beside it, the Sequences page's LSTM 1x256 for the same seconds (the page's comparison).

    python bench/attention.py [--threads 2] [--goals digits,sort,text] [--against-lstm]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dlcore import attention, sequences, training  # noqa: E402
from dlcore.config import ModelSpec, TrainConfig  # noqa: E402

GOALS = {"digits": ("test_accuracy", 0.88, 180), "sort": ("exact", 0.95, 120), "text": ("val_nats_per_char", 2.0, 180)}
MAX_EPOCHS = 30


def reached(task: str, trainer: training.Trainer, dataset: str) -> float:
    """The goal's number after an epoch: the epoch's score (on the loop's fixed test subset), or for sort the share
    of all held-out rows sorted exactly."""
    if task == "sort":
        model = trainer.loop.lanes[0].model
        model.eval()
        share = sequences.exact(model, dataset)
        model.train()
        return share
    epoch = trainer.progress().history[-1]
    return epoch["test_loss"] if task == "text" else epoch["test_accuracy"]


def time_to_goal(task: str) -> dict:
    """Epoch by epoch, the seconds of training until the goal is met (or MAX_EPOCHS pass)."""
    metric, bound, allowed = GOALS[task]
    spec, _ = attention.PRESETS[task]
    dataset = attention.dataset_name(task)
    met_at, epochs = None, []

    def epoch_done(trainer: training.Trainer) -> None:
        nonlocal met_at
        value = reached(task, trainer, dataset)
        seconds = time.perf_counter() - started
        epochs.append((round(seconds, 1), round(value, 4)))
        print(f"  {task} epoch {len(epochs)}: {metric} {value:.4f} after {seconds:.1f} s", flush=True)
        if (value <= bound if metric == "val_nats_per_char" else value >= bound) and met_at is None:
            met_at = seconds
            trainer.stop()

    config = TrainConfig(dataset=dataset, model=spec, epochs=MAX_EPOCHS, lr=attention.LR, device="cpu")
    trainer = training.Trainer(config, on_epoch=epoch_done)
    started = time.perf_counter()
    trainer.run()
    final = trainer.evaluation  # the whole test split, scored once at the end
    return {"task": task, "model": spec.summary(), "metric": metric, "goal": bound, "allowed_seconds": allowed,
            "seconds_to_goal": None if met_at is None else round(met_at, 1), "epochs": epochs,
            "whole_test_split": {"accuracy": round(final.accuracy, 4), "loss": round(final.loss, 4)},
            "met": met_at is not None and met_at <= allowed}


def lstm_for(seconds: float) -> dict:
    """The Sequences page's text LSTM trained for the same seconds: its held-out nats per character."""
    config = TrainConfig(dataset="text", model=ModelSpec("lstm", dense=(), state=256, cell_layers=1), epochs=MAX_EPOCHS,
                         lr=sequences.LR, device="cpu")
    started, epochs = time.perf_counter(), []

    def epoch_done(trainer: training.Trainer) -> None:
        elapsed = time.perf_counter() - started
        epochs.append((round(elapsed, 1), round(trainer.progress().history[-1]["test_loss"], 4)))
        print(f"  lstm epoch {len(epochs)}: {epochs[-1][1]:.4f} nats per character after {elapsed:.1f} s", flush=True)
        if elapsed >= seconds:
            trainer.stop()

    trainer = training.Trainer(config, on_epoch=epoch_done)
    trainer.run()
    return {"model": config.model.summary(), "epochs": epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--goals", default="digits,sort,text")
    parser.add_argument("--against-lstm", action="store_true", help="also train the LSTM for the text's seconds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for task in args.goals.split(","):
        results[task] = time_to_goal(task)
        print(json.dumps(results[task]), flush=True)
    if args.against_lstm and "text" in results:
        results["lstm"] = lstm_for(results["text"]["epochs"][-1][0])
        print(json.dumps(results["lstm"]), flush=True)
    print(json.dumps({task: result.get("met") for task, result in results.items()}))


if __name__ == "__main__":
    main()
