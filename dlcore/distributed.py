"""Data-parallel training: the processes torchrun starts, each training one replica of the model on its share of
every batch, their gradients averaged by all-reduce (gloo on CPUs, NCCL on CUDA GPUs).

The loop (loop.py) stays the one loop: it asks a Group for its shard of each global batch, to wrap the model in
DistributedDataParallel, and to sum its metrics over the processes. `--batch-size` is the global batch: each of
N processes trains on about batch_size / N samples of it, so a run of N processes takes the same steps, with the
same learning-rate schedule, as one process with that batch size.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import data
from .config import DLCoreError, TrainConfig
from .devices import resolve_device

TIMEOUT_SECONDS = 300  # how long a process waits for the others at a rendezvous or a collective before giving up
ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")  # what torchrun gives each process


@dataclass(frozen=True)
class Group:
    """This process's place among the processes training one model together."""

    rank: int  # 0 records the run and prints; the others only train
    world: int  # how many processes
    local_rank: int  # this process's number on its machine: its GPU
    device: torch.device

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's contiguous part of a global batch (indices); parts differ in size by at most one."""
        return batch.tensor_split(self.world)[self.rank]

    def usable(self, samples: int, batch_size: int) -> int:
        """The samples an epoch trains on: a last batch too small to give every process one sample is left out."""
        tail = samples % batch_size
        return samples - tail if 0 < tail < self.world else samples

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model whose backward pass averages gradients over the processes (DDP broadcasts rank 0's weights)."""
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The element-wise sum over the processes, the same on every one (in place, and returned)."""
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        """Wait until every process has come here (NCCL is told this process's GPU, so it creates no other)."""
        if self.device.type == "cuda":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    @property
    def label(self) -> str:
        return f"{self.world} processes" if self.world > 1 else "1 process"


def launched() -> bool:
    """Whether torchrun (or another launcher that sets its variables) started this process."""
    return all(name in os.environ for name in ENV)


def _env_int(name: str) -> int:
    value = os.environ.get(name, "")
    if not value.isdigit():
        raise DLCoreError(f"The launcher's {name} must be a whole number; it is '{value[:20]}'.")
    return int(value)


def device_for(name: str, local_rank: int) -> torch.device:
    """The device one process trains on: its own GPU (by local rank) on CUDA, else the CPU; gloo cannot do MPS."""
    if resolve_device(name).type != "cuda":
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise DLCoreError(f"Process {local_rank} on this machine has no GPU of its own: there are {count}; "
                          f"start at most {count} processes per machine (--nproc-per-node {count}).")
    return torch.device("cuda", local_rank)


def check(config: TrainConfig) -> None:
    """What a group adds to a config's own checks, before joining it: each process needs a sample of each batch."""
    world = _env_int("WORLD_SIZE")
    if config.batch_size < world:
        raise DLCoreError(f"A batch of {config.batch_size} cannot be shared by {world} processes; "
                          f"use --batch-size {world} or more (it is the global batch).")


def load_in_turn(dataset: str, group: Group) -> None:
    """Local rank 0 reads (or downloads) the dataset first, so the processes of one machine never fetch it at once."""
    if group.local_rank == 0:
        data.load(dataset)
    group.barrier()
    data.load(dataset)


@contextlib.contextmanager
def joined(device_name: str, timeout_s: float = TIMEOUT_SECONDS):
    """Join the group torchrun started (NCCL for GPUs, gloo for CPUs) and leave it however the work ends.

    Every rendezvous and collective gives up after timeout_s, so a process whose partner died does not hang.
    """
    rank, world, local_rank = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK")
    if device_name == "mps":
        raise DLCoreError("Data-parallel training runs on CPUs (gloo) or CUDA GPUs (NCCL), not on Apple MPS; "
                          "choose --device cpu or cuda.")
    device = device_for(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL and the current-device defaults must agree with this process's GPU
    try:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError) as exc:  # DistStoreError and friends subclass RuntimeError
        raise DLCoreError(f"Process {rank} could not join the other {world - 1} within {timeout_s:g}s "
                          f"({type(exc).__name__}); check that every process was started with the same "
                          "--nnodes and --rdzv-endpoint.") from exc
    try:
        yield Group(rank=rank, world=world, local_rank=local_rank, device=device)
    finally:
        dist.destroy_process_group()
