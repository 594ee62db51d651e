"""Caches every session shares, bounded by the bytes they hold rather than by entries: one entry may be a network
of 400 kB or one of 119 MiB, so a count of entries bounds nothing (eight of the largest held a gigabyte per page)."""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable

import cachetools
import numpy as np
import torch
from torch import nn


def bounded(max_bytes: int, key: Callable = cachetools.keys.hashkey) -> Callable:
    """A decorator keeping results until they hold max_bytes (the least recently used go first); a result larger
    than that is returned but not kept. Callers asking for a result being made wait for it rather than make it
    again. The wrapped function's .cache says what it holds (currsize, in bytes, and maxsize)."""
    cache = cachetools.LRUCache(max_bytes, getsizeof=nbytes)
    return cachetools.cached(cache, key=key, condition=threading.Condition())


def nbytes(value) -> int:
    """The bytes a value holds in tensors and arrays, through modules, dataclasses and containers; other objects
    count their own size."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.nbytes
    if isinstance(value, nn.Module):
        return sum(tensor.nbytes for tensor in value.state_dict().values())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, field.name)) for field in dataclasses.fields(value))
    if isinstance(value, (list, tuple)):
        return sum(map(nbytes, value))
    if isinstance(value, dict):
        return sum(map(nbytes, value.values()))
    return sys.getsizeof(value)
