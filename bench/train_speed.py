"""One training epoch: the seed recipe (per-sample PIL + DataLoader) against dlcore's trainer, same process.

Both train simple-nn with SGD lr 0.01 on the same 60,000 Fashion-MNIST training images. The seed recipe
turns every image into a PIL image, then ToTensor + Normalize((0.5,), (0.5,)), as torchvision's MNIST
dataset does, batched by a shuffling DataLoader of 64. dlcore keeps the normalised images in one tensor
and indexes batches from it. Also measured: the matrix-multiply floor, the time the epoch's GEMMs alone
take at the device's measured peak.

--device cuda runs both on the GPU (the seed recipe copies each batch there, as its loop would). --amp bf16 and
--compile measure the engine's options (loop.Engine) against the plain engine, through the same Trainer, and add
their ratios: how much faster one epoch trains with them.

Usage: DLCORE_DATA_DIR=../shared/data python bench/train_speed.py [--device cuda] [--amp bf16] [--compile]
Last stdout line: {"ratio_b64": ..., "ratio_b512": ..., "samples_per_sec_b512": ..., ...}
"""

from __future__ import annotations

import argparse
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
from dlcore.devices import device_name, resolve_device
from dlcore.loop import AMP, Engine


class SeedDataset(Dataset):
    """torchvision's MNIST __getitem__: a PIL image per sample, then the transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i].numpy(), mode="L")), int(self.labels[i])


def seed_epoch(images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    torch.manual_seed(0)
    model = models.build(models.preset("simple-nn")).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = DataLoader(SeedDataset(images, labels), batch_size=64, shuffle=True)
    start = time.perf_counter()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    sync(device)
    return time.perf_counter() - start


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dlcore_epoch(batch_size: int, device: str, engine: Engine = Engine(), epochs: int = 1) -> float:
    """Training time of the last of `epochs` epochs through dlcore's Trainer (its test evaluation excluded): with
    torch.compile, a second epoch's, once the model is compiled."""
    config = TrainConfig(
        dataset="fashion-mnist", model=models.preset("simple-nn"), optimizer="sgd", lr=0.01, momentum=0.0,
        batch_size=batch_size, epochs=epochs, device=device,
    )
    trainer = training.Trainer(config, engine=engine)
    trainer.run()
    progress = trainer.progress()
    assert progress.status == "done", progress.message
    seconds = [row["train_seconds"] for row in progress.history]  # each the training time up to that epoch's end
    return seconds[-1] - (seconds[-2] if len(seconds) > 1 else 0.0)


def matmul_floor(samples: int, device: torch.device) -> tuple[float, float]:
    """Seconds the epoch's matrix multiplies need at the best FLOP/s this device reaches (and that peak)."""
    a, b = (torch.randn(2048, 2048, device=device) for _ in range(2))
    for _ in range(3):
        a @ b
    runs = 10 if device.type == "cpu" else 200
    sync(device)
    start = time.perf_counter()
    for _ in range(runs):
        a @ b
    sync(device)
    peak = runs * 2 * 2048**3 / (time.perf_counter() - start)
    dims = [784, 128, 64, 10]
    # forward x@W, backward dX (not for the first layer) and dW: 3 GEMMs per layer, 2 for the first
    flops_per_sample = sum(2 * i * o * (2 if k == 0 else 3) for k, (i, o) in enumerate(zip(dims, dims[1:])))
    return flops_per_sample * samples / peak, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--amp", choices=AMP, help="also measure autocast to this dtype")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile")
    args = parser.parse_args()
    if not os.environ.get("DLCORE_DATA_DIR"):
        sys.exit("Set DLCORE_DATA_DIR to the folder holding fashion-mnist/ (e.g. ../shared/data).")
    os.environ.setdefault("DLCORE_HOME", tempfile.mkdtemp(prefix="dlcore-bench-"))
    device = resolve_device(args.device)
    dataset = data.load("fashion-mnist")
    n = len(dataset.train_labels)
    seed = seed_epoch(dataset.train_images, dataset.train_labels, device)
    dlcore_epoch(512, args.device)  # warm-up: first optimizer construction, tensor cache, thread pools, CUDA context
    b64 = min(dlcore_epoch(64, args.device) for _ in range(2))
    b512 = min(dlcore_epoch(512, args.device) for _ in range(3))
    floor, peak = matmul_floor(n, device)
    result = {
        "device": device_name(device),
        "torch": torch.__version__,
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
        "samples_per_sec_b64": round(n / b64),
        "samples_per_sec_b512": round(n / b512),
    }
    print(f"{result['device']}: seed recipe {seed:.2f}s/epoch; dlcore b64 {b64:.3f}s ({n / b64:,.0f} samples/s), "
          f"b512 {b512:.3f}s ({n / b512:,.0f} samples/s); GEMM floor {floor:.3f}s at {peak / 1e9:.0f} GFLOP/s",
          file=sys.stderr)
    options = {}
    if args.amp:
        options[f"amp_{args.amp}"] = Engine(amp=args.amp)
    if args.compile:
        options["compile"] = Engine(compile=True)
    if args.amp and args.compile:
        options[f"amp_{args.amp}_compile"] = Engine(amp=args.amp, compile=True)
    for name, engine in options.items():
        epochs = 2 if engine.compile else 1
        dlcore_epoch(512, args.device, engine)  # warm-up: fills the compile caches
        for batch_size, plain in ((64, b64), (512, b512)):
            seconds = min(dlcore_epoch(batch_size, args.device, engine, epochs) for _ in range(2))
            result[f"{name}_b{batch_size}_samples_per_sec"] = round(n / seconds)
            result[f"{name}_b{batch_size}_ratio"] = round(plain / seconds, 2)
            print(f"  {name} b{batch_size}: {n / seconds:,.0f} samples/s, x{plain / seconds:.2f} the plain engine",
                  file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
