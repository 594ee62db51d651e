"""One training epoch: the seed recipe (per-sample PIL + DataLoader) against dlcore's trainer, same process.

Both train simple-nn with SGD lr 0.01 on the same 60,000 Fashion-MNIST training images. The seed recipe
turns every image into a PIL image, then ToTensor + Normalize((0.5,), (0.5,)), as torchvision's MNIST
dataset does, batched by a shuffling DataLoader of 64. dlcore keeps the normalised images in one tensor
and indexes batches from it. Also measured: the matrix-multiply floor, the time the epoch's GEMMs alone
take at the machine's measured peak.

Usage: DLCORE_DATA_DIR=../shared/data python bench/train_speed.py
Last stdout line: {"ratio_b64": ..., "ratio_b512": ..., ...}
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from dlcore import TrainConfig, data, models, training


class SeedDataset(Dataset):
    """torchvision's MNIST __getitem__: a PIL image per sample, then the transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i].numpy(), mode="L")), int(self.labels[i])


def seed_epoch(images: torch.Tensor, labels: torch.Tensor) -> float:
    torch.manual_seed(0)
    model = models.build(models.preset("simple-nn"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = DataLoader(SeedDataset(images, labels), batch_size=64, shuffle=True)
    start = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def dlcore_epoch(batch_size: int) -> float:
    """Training time of one epoch through dlcore's Trainer (its per-epoch test evaluation excluded)."""
    config = TrainConfig(
        dataset="fashion-mnist", model=models.preset("simple-nn"), optimizer="sgd", lr=0.01, momentum=0.0,
        batch_size=batch_size, epochs=1, device="cpu",
    )
    trainer = training.Trainer(config)
    trainer.run()
    progress = trainer.progress()
    assert progress.status == "done", progress.message
    return progress.history[0]["train_seconds"]


def matmul_floor(batch_size: int, samples: int) -> float:
    """Seconds the epoch's matrix multiplies need at the best GFLOP/s this machine reaches."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(3):
        a @ b
    runs = 10
    start = time.perf_counter()
    for _ in range(runs):
        a @ b
    peak = runs * 2 * 2048**3 / (time.perf_counter() - start)
    dims = [784, 128, 64, 10]
    # forward x@W, backward dX (not for the first layer) and dW: 3 GEMMs per layer, 2 for the first
    flops_per_sample = sum(2 * i * o * (2 if k == 0 else 3) for k, (i, o) in enumerate(zip(dims, dims[1:])))
    return flops_per_sample * samples / peak, peak


def main() -> None:
    if not os.environ.get("DLCORE_DATA_DIR"):
        sys.exit("Set DLCORE_DATA_DIR to the folder holding fashion-mnist/ (e.g. ../shared/data).")
    os.environ.setdefault("DLCORE_HOME", tempfile.mkdtemp(prefix="dlcore-bench-"))
    dataset = data.load("fashion-mnist")
    n = len(dataset.train_labels)
    seed = seed_epoch(dataset.train_images, dataset.train_labels)
    dlcore_epoch(512)  # warm-up: first optimizer construction, tensor cache, thread pools
    b64 = min(dlcore_epoch(64) for _ in range(2))
    b512 = min(dlcore_epoch(512) for _ in range(3))
    floor, peak = matmul_floor(512, n)
    result = {
        "samples": n,
        "threads": torch.get_num_threads(),
        "seed_epoch_s": round(seed, 3),
        "dlcore_b64_epoch_s": round(b64, 3),
        "dlcore_b512_epoch_s": round(b512, 3),
        "ratio_b64": round(seed / b64, 2),
        "ratio_b512": round(seed / b512, 2),
        "matmul_peak_gflops": round(peak / 1e9, 1),
        "matmul_floor_epoch_s": round(floor, 4),
        "b512_over_floor": round(b512 / floor, 2),
    }
    print(f"seed recipe {seed:.2f}s/epoch; dlcore b64 {b64:.3f}s, b512 {b512:.3f}s; "
          f"GEMM floor {floor:.3f}s at {peak / 1e9:.0f} GFLOP/s", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
