"""Data-parallel training: the processes torchrun starts, each training one replica of the model on its share of
every batch, their gradients averaged by all-reduce (gloo on CPUs, NCCL on CUDA GPUs).

The loop (loop.py) stays the one loop: it asks a Group for its shard of each global batch, to wrap the model in
DistributedDataParallel, and to sum its metrics over the processes. `--batch-size` is the global batch: each of
N processes trains on about batch_size / N samples of it, so a run of N processes takes the same steps, with the
same learning-rate schedule, as one process with that batch size.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import data
from .config import MAX_BATCH_SIZE, DLCoreError, TrainConfig
from .devices import resolve_device

TIMEOUT_SECONDS = 300  # how long a collective waits for the others before giving up: local rank 0 may be downloading
JOIN_SECONDS = 60.0  # DLCORE_JOIN_SECONDS: how long a process waits for all the others to join; torchrun starts them
# within seconds of each other, so a minute is ample, and a wrong address or rank is said a minute later, not never
ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")  # what torchrun gives each process
MAX_WORLD = MAX_BATCH_SIZE  # every process needs a sample of each batch, so no group can be larger than the largest


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


@dataclass(frozen=True)
class Launch:
    """What the launcher told this process, each value checked: its place in the group and where the group meets."""

    rank: int
    world: int
    local_rank: int
    host: str  # MASTER_ADDR: where process 0 (or torchrun's agent) keeps the store the processes meet at
    port: int

    @property
    def where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def launch() -> Launch:
    """The launcher's variables, or a sentence naming the first one that cannot be right."""
    world = _env_int("WORLD_SIZE", 1, MAX_WORLD, "the processes in the group, each with a sample of every batch")
    rank = _env_int("RANK", 0, world - 1, f"this process's number in a group of WORLD_SIZE {world}")
    local_rank = _env_int("LOCAL_RANK", 0, world - 1, f"its number on this machine, in a group of {world}")
    port = _env_int("MASTER_PORT", 1, 65535, "the port the group meets at")
    host = os.environ["MASTER_ADDR"]
    if not host or len(host) > 253 or not host.isprintable() or any(char.isspace() for char in host):
        raise DLCoreError(f"The launcher's MASTER_ADDR must be a host name or address; it is {host[:40]!r}.")
    return Launch(rank=rank, world=world, local_rank=local_rank, host=host, port=port)


def _env_int(name: str, low: int, high: int, what: str) -> int:
    value = os.environ.get(name, "")
    if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
        raise DLCoreError(f"The launcher's {name} must be a whole number from {low:,} to {high:,} ({what}); "
                          f"it is {value[:20]!r}.")
    return int(value)


def join_seconds() -> float:
    """DLCORE_JOIN_SECONDS (default 60): how long a process waits for the others to join before it says so."""
    value = os.environ.get("DLCORE_JOIN_SECONDS", str(JOIN_SECONDS))
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 1 <= seconds <= 3600:
        raise DLCoreError(f"DLCORE_JOIN_SECONDS must be a number of seconds from 1 to 3,600; it is {value[:20]!r}.")
    return seconds


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
    world = launch().world
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
def joined(device_name: str):
    """Join the group torchrun started (NCCL for GPUs, gloo for CPUs) and leave it however the work ends.

    Joining ends within DLCORE_JOIN_SECONDS, with a sentence when the others did not all come; after that, every
    collective gives up after TIMEOUT_SECONDS, so a process whose partner died does not hang.
    """
    place = launch()
    if device_name == "mps":
        raise DLCoreError("Data-parallel training runs on CPUs (gloo) or CUDA GPUs (NCCL), not on Apple MPS; "
                          "choose --device cpu or cuda.")
    device = device_for(device_name, place.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL and the current-device defaults must agree with this process's GPU
    store = meet(place, join_seconds())
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, store=store, rank=place.rank, world_size=place.world,
                                timeout=timedelta(seconds=TIMEOUT_SECONDS))
    except (RuntimeError, ValueError) as exc:  # DistError and friends subclass RuntimeError
        raise DLCoreError(f"Process {place.rank} met the other {place.world - 1} at {place.where} but could not "
                          f"connect to them with {backend} ({str(exc).splitlines()[0][:200]}).") from exc
    try:
        yield Group(rank=place.rank, world=place.world, local_rank=place.local_rank, device=device)
    finally:
        dist.destroy_process_group()


def meet(place: Launch, seconds: float) -> dist.Store:
    """The store the processes meet at, once every one of them is there, within `seconds`; else a sentence.

    torch's own waits overrun their timeout (a refused connection is retried after it) and log C++ stack traces,
    so each step that can be checked in Python is, first: MASTER_ADDR; that rank 0 can host the store there, or,
    for the others (and every rank under torchrun, whose agent hosts it), that the host answers; then every rank
    signing in once.
    """
    deadline = time.monotonic() + seconds
    addresses = _addresses(place)
    hosting = place.rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
    if hosting:
        _check_can_host(place, addresses)
    else:
        _wait_for_host(place, addresses, deadline, seconds)
    try:
        store = dist.TCPStore(place.host, place.port, place.world, is_master=hosting,
                              timeout=timedelta(seconds=_left(deadline)), wait_for_workers=False, multi_tenant=True)
        _wait_for_everyone(store, place, deadline, seconds)
    except dist.DistError as exc:  # the host went away, or what answered there is no store
        raise DLCoreError(f"Process {place.rank} could not join the group at {place.where} "
                          f"({str(exc).splitlines()[0][:200]}); start the processes again.") from exc
    store.set_timeout(timedelta(seconds=TIMEOUT_SECONDS))
    return store


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.1)


def _addresses(place: Launch) -> list[tuple]:
    try:
        found = socket.getaddrinfo(place.host, place.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else "not a host name"
        raise DLCoreError(f"The launcher's MASTER_ADDR {place.host[:60]!r} is no host this machine can find "
                          f"({reason}); give the address of the machine that runs RANK 0.") from None
    return [(family, address) for family, _, _, _, address in found]


def _check_can_host(place: Launch, addresses: list[tuple]) -> None:
    """Rank 0 keeps the store at MASTER_ADDR:MASTER_PORT: that must be this machine, and the port free."""
    failure = None
    for family, address in addresses:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the store does: a port in TIME_WAIT is free
            try:
                probe.bind(address)
                return
            except OSError as exc:
                failure = exc
    if failure.errno == errno.EADDRNOTAVAIL:
        raise DLCoreError(f"The launcher's MASTER_ADDR {place.host[:60]!r} is not this machine, yet RANK 0, which "
                          "hosts the group there, runs here; run RANK 0 on that machine, or give this one's address.")
    raise DLCoreError(f"Process 0 cannot host the group at {place.where} ({failure.strerror}); "
                      "choose another MASTER_PORT.")


def _wait_for_host(place: Launch, addresses: list[tuple], deadline: float, seconds: float) -> None:
    """Until the deadline, try to reach the process that hosts the store; a refused connection is tried again."""
    while True:
        for family, address in addresses:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.settimeout(min(_left(deadline), 1.0))
                try:
                    probe.connect(address)
                    return
                except OSError:
                    pass
        if time.monotonic() >= deadline:
            raise DLCoreError(f"Process {place.rank} of {place.world} waited {seconds:g} s for process 0 to host the "
                              f"group at {place.where}, and nothing answered there; {_ADVICE}")
        time.sleep(min(0.2, _left(deadline)))


def _wait_for_everyone(store: dist.Store, place: Launch, deadline: float, seconds: float) -> None:
    """Every rank signs in once under its own key; all agree on the group's size, and all are there by the deadline."""
    size = str(place.world)
    agreed = store.compare_set("dlcore/world", "", size).decode()
    if agreed != size:
        raise DLCoreError(f"Process {place.rank} was started for a group of {size} (WORLD_SIZE), another one for a "
                          f"group of {agreed}; {_SAME}.")
    if store.add(f"dlcore/rank/{place.rank}", 1) > 1:
        raise DLCoreError(f"Two processes were started as RANK {place.rank}; give each process its own RANK.")
    keys = [f"dlcore/rank/{rank}" for rank in range(place.world)]
    while not store.check(keys):  # polled, not store.wait: its timeout logs C++ warnings
        if time.monotonic() >= deadline:
            missing = [rank for rank, key in enumerate(keys) if not store.check([key])]
            named = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
            others = place.world - 1
            raise DLCoreError(f"Process {place.rank} of {place.world} waited {seconds:g} s for the other {others} "
                              f"process{'es' if others > 1 else ''} to join at {place.where}; "
                              f"{'process' if len(missing) == 1 else 'processes'} {named} never came; {_ADVICE}")
        time.sleep(min(0.1, _left(deadline)))

_SAME = ("start every process with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE (with torchrun, the same --nnodes "
         "and --rdzv-endpoint)")
_ADVICE = f"{_SAME}, or allow longer with DLCORE_JOIN_SECONDS."
