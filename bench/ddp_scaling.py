"""Data-parallel scaling: training samples/s of one model under torchrun with 1, 2, 4... processes.

Each count launches `python -m torch.distributed.run --standalone --nproc-per-node N -m dlcore train --json`,
the command a user runs, and reads the samples/s its JSON reports (training time only: start-up, data loading and
evaluation excluded), the best of --repeats launches. The baseline is the same training in one plain process
(no torchrun, no DDP), measured the same way first.
Each process trains on --batch-per-process samples of every step (global batch N x that), as data-parallel
training is used: more processes, a bigger global batch.

On CPUs (gloo) the counts go up to the cores, and each of N processes gets cores // N torch threads, so every
count uses the whole machine; a plain process on one thread is measured too, the most each of them could give.
With --device cuda (NCCL) the counts go up to the GPUs, one process per GPU.

Usage: DLCORE_DATA_DIR=../shared/data python bench/ddp_scaling.py [--device cuda] [--preset cnn] [--epochs 2]
Last stdout line: {"device": ..., "baseline_samples_per_sec": ..., "runs": [{"processes": 1, ...}, ...]}
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def counts(limit: int) -> list[int]:
    """1, 2, 4... up to limit, and limit itself."""
    found = [1]
    while found[-1] * 2 <= limit:
        found.append(found[-1] * 2)
    return found + ([limit] if found[-1] != limit else [])


def best(flags: list[str], processes: int | None, threads: int | None, repeats: int) -> dict:
    """The fastest of `repeats` runs: other work on a shared machine only ever slows one down."""
    return max((train(flags, processes, threads) for _ in range(repeats)), key=lambda summary: summary["samples_per_sec"])


def train(flags: list[str], processes: int | None, threads: int | None) -> dict:
    """One training run's JSON summary; processes=None runs the plain CLI without torchrun."""
    env = dict(os.environ, DLCORE_HOME=tempfile.mkdtemp(prefix="dlcore-ddp-bench-"))
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    launcher = [] if processes is None else ["-m", "torch.distributed.run", "--standalone",
                                             f"--nproc-per-node={processes}"]
    result = subprocess.run([sys.executable, *launcher, "-m", "dlcore", "train", *flags, "--json"], cwd=REPO, env=env,
                            capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or len(lines) != 1:
        sys.exit(f"{processes or 'plain'} process run failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(lines[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--preset", default="simple-nn")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-per-process", type=int, default=128)
    parser.add_argument("--max-processes", type=int, help="default: the cores (cpu) or GPUs (cuda)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("DLCORE_DATA_DIR"):
        sys.exit("Set DLCORE_DATA_DIR to the folder holding fashion-mnist/ (e.g. ../shared/data).")
    import torch

    cores = os.cpu_count() or 1
    limit = args.max_processes or (torch.cuda.device_count() if args.device == "cuda" else cores)
    if limit < 1:
        sys.exit("No CUDA GPU here; run with --device cpu.")

    def flags(processes: int) -> list[str]:
        return ["--dataset", args.dataset, "--preset", args.preset, "--epochs", str(args.epochs), "--device",
                args.device, "--optimizer", "sgd", "--lr", "0.05", "--batch-size",
                str(args.batch_per_process * processes)]

    cpu_threads = (lambda processes: max(1, cores // processes)) if args.device == "cpu" else (lambda processes: None)
    baseline = best(flags(1), None, cpu_threads(1), args.repeats)
    base_rate = baseline["samples_per_sec"]
    print(f"{baseline['device']}: plain process {base_rate:,.0f} samples/s "
          f"(test accuracy {baseline['test_accuracy']:.2%})", file=sys.stderr)
    one_core = None
    if args.device == "cpu" and cores > 1:  # what each of `cores` one-thread processes could give at best
        one_core = best(flags(1), None, 1, args.repeats)["samples_per_sec"]
        print(f"CPU: plain process on 1 thread {one_core:,.0f} samples/s", file=sys.stderr)
    runs = []
    for processes in counts(limit):
        summary = best(flags(processes), processes, cpu_threads(processes), args.repeats)
        rate = summary["samples_per_sec"]
        runs.append({"processes": processes, "global_batch": args.batch_per_process * processes,
                     "threads_per_process": cpu_threads(processes), "samples_per_sec": rate,
                     "speedup": round(rate / base_rate, 2), "test_accuracy": summary["test_accuracy"]})
        print(f"{summary['device']}: {rate:,.0f} samples/s, x{rate / base_rate:.2f} the plain process "
              f"(test accuracy {summary['test_accuracy']:.2%})", file=sys.stderr)
    print(json.dumps({"device": baseline["device"], "preset": args.preset, "epochs": args.epochs, "cores": cores,
                      "batch_per_process": args.batch_per_process, "baseline_samples_per_sec": base_rate,
                      "one_thread_samples_per_sec": one_core, "runs": runs}))


if __name__ == "__main__":
    main()
