"""The 2-D playground's four reference runs: a plain PyTorch loop against dlcore.toy, same process, one core.

The issue's targets (TF Playground's settings: x1, x2 alone, noise 0, half the points for training, batch 10):
circle, XOR and gauss with two layers of 4 tanh neurons, Adam 0.01, 200 epochs; spiral with six layers of 8,
Adam 0.003, 1,000 epochs. The plain loop is what a tutorial writes: nn.Sequential of nn.Linear and nn.Tanh, a
shuffling DataLoader of 10, cross-entropy, torch.optim.Adam, on the same points. Both score the same test half.

Usage: python bench/toy_speed.py [--quick]   (--quick: a tenth of the epochs)
Last stdout line: {"plain_seconds": ..., "toy_seconds": ..., "ratio": ..., "accuracies": {...}}
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dlcore import toy
from dlcore.config import ToyConfig

RUNS = [ToyConfig(dataset=name, hidden=(4, 4), lr=0.01, epochs=200) for name in ("circle", "xor", "gauss")] + [
    ToyConfig(dataset="spiral", hidden=(8,) * 6, lr=0.003, epochs=1000)]


def plain(config: ToyConfig) -> float:
    """The tutorial loop; returns the test accuracy."""
    train_x, train_y, test_x, test_y = toy._tensors(config, toy.make_points(config))
    torch.manual_seed(config.seed)
    layers, width = [], train_x.shape[1]
    for units in config.hidden:
        layers += [nn.Linear(width, units), nn.Tanh()]
        width = units
    model = nn.Sequential(*layers, nn.Linear(width, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batches = DataLoader(TensorDataset(train_x, train_y), batch_size=config.batch_size, shuffle=True)
    for _ in range(config.epochs):
        for x, y in batches:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    with torch.no_grad():
        return (model(test_x).argmax(1) == test_y).float().mean().item()


def main() -> None:
    torch.set_num_threads(1)  # the server's policy for a page's work (jobs.py); the same for both sides
    quick = "--quick" in sys.argv
    runs = [config.with_changes(epochs=config.epochs // 10) for config in RUNS] if quick else RUNS
    toy.train(runs[0].with_changes(epochs=2))  # imports and first calls paid before either clock starts
    plain(runs[0].with_changes(epochs=2))
    accuracies, plain_seconds, toy_seconds = {}, 0.0, 0.0
    for config in runs:
        started = time.perf_counter()
        plain_accuracy = plain(config)
        plain_seconds += time.perf_counter() - started
        started = time.perf_counter()
        result = toy.train(config)
        toy_seconds += time.perf_counter() - started
        accuracies[config.dataset] = {"plain": round(plain_accuracy, 3), "toy": round(result["test_accuracy"], 3)}
        print(f"{config.dataset:<7} plain {plain_accuracy:.3f}  toy {result['test_accuracy']:.3f}", file=sys.stderr)
    print(f"plain loop {plain_seconds:.1f} s, dlcore.toy {toy_seconds:.1f} s: {plain_seconds / toy_seconds:.1f}x",
          file=sys.stderr)
    print(json.dumps({"plain_seconds": round(plain_seconds, 2), "toy_seconds": round(toy_seconds, 2),
                      "ratio": round(plain_seconds / toy_seconds, 2), "accuracies": accuracies}))


if __name__ == "__main__":
    main()
