"""Scoring the test split after each epoch: the old way (no_grad, 2048 a batch) against dlcore's evaluate
(inference_mode, batches sized to the CPU's cache), same process, same models, same 10,000 test digits.

Threads as a classroom server's training job has them (all cores but the web server's one). Each way is timed
three times per model, the best kept; both must give the same logits.

Usage: DLCORE_DATA_DIR=../shared/data python bench/evaluation.py
Last stdout line: {"ratio_cnn": ..., "ratio_simple-nn": ..., ...}
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from dlcore import data, jobs, models
from dlcore.devices import tensors_on
from dlcore.evaluate import eval_batch, predict_logits

OLD_BATCH = 2048


@torch.no_grad()
def old_logits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(images[i : i + OLD_BATCH]) for i in range(0, len(images), OLD_BATCH)]).float()


def best_of(runs: int, score) -> tuple[float, torch.Tensor]:
    times, logits = [], None
    for _ in range(runs):
        started = time.perf_counter()
        logits = score()
        times.append(time.perf_counter() - started)
    return min(times), logits


def main() -> None:
    torch.set_num_threads(jobs.training_threads(reserve=1))
    dataset = data.load("mnist-sample")
    _, _, test_x, _ = tensors_on(dataset, torch.device("cpu"))
    result = {"test_images": len(test_x), "threads": torch.get_num_threads()}
    for name in ("simple-nn", "cnn"):
        torch.manual_seed(0)
        model = models.build(models.preset(name))
        old, expected = best_of(3, lambda: old_logits(model, test_x))
        new, logits = best_of(3, lambda: predict_logits(model, test_x))
        assert torch.allclose(logits, expected, atol=1e-4), f"{name}: the two ways disagree"
        result.update({f"old_{name}_s": round(old, 3), f"new_{name}_s": round(new, 3),
                       f"batch_{name}": eval_batch(model, test_x[:1]), f"ratio_{name}": round(old / new, 2)})
        print(f"{name}: {old:.2f} s at {OLD_BATCH} a batch with no_grad, {new:.2f} s as dlcore scores now "
              f"({eval_batch(model, test_x[:1])} a batch, inference_mode): {old / new:.1f}x", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
