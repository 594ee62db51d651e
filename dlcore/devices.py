"""Which devices exist here, and the datasets' tensors placed on them once for every run."""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch

from . import data
from .config import DLCoreError

DEVICES = ("auto", "cpu", "cuda", "mps")


def device_status() -> dict[str, str]:
    """Each device name -> '' when usable here, else the reason it is not."""
    cuda = "" if torch.cuda.is_available() else "no CUDA GPU was found on this server"
    mps_backend = getattr(torch.backends, "mps", None)
    mps = "" if mps_backend is not None and mps_backend.is_available() else "Apple MPS is only on Apple-silicon Macs"
    return {"cpu": "", "cuda": cuda, "mps": mps}


def resolve_device(name: str) -> torch.device:
    """'auto' picks the best present; asking for one that is absent is an error with the reason."""
    if name not in DEVICES:
        raise DLCoreError(f"Unknown device '{name}'; choose one of: {', '.join(DEVICES)}.")
    status = device_status()
    if name == "auto":
        name = next(d for d in ("cuda", "mps", "cpu") if not status[d])
    if status[name]:
        raise DLCoreError(f"Device {name} is not available: {status[name]}; choose cpu or auto.")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return {"mps": "Apple GPU (MPS)"}.get(device.type, "CPU")


_DEVICE_TENSORS: OrderedDict[tuple[int, str], tuple] = OrderedDict()
_DEVICE_TENSORS_LOCK = threading.Lock()


def tensors_on(dataset: data.Dataset, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Normalised (train_x, train_y, test_x, test_y) on a device, made once and shared by every run."""
    key = (id(dataset), str(device))
    with _DEVICE_TENSORS_LOCK:
        if key in _DEVICE_TENSORS:
            return _DEVICE_TENSORS[key][1]
        tensors = dataset.tensors()
        if device.type == "cuda":  # pinned host memory makes the one upload fast and asynchronous
            tensors = tuple(t.pin_memory().to(device, non_blocking=True) for t in tensors)
        else:
            tensors = tuple(t.to(device) for t in tensors)
        _DEVICE_TENSORS[key] = (dataset, tensors)  # holding the dataset keeps its id from being reused
        while len(_DEVICE_TENSORS) > 4:
            _DEVICE_TENSORS.popitem(last=False)
        return tensors


_PREPARING: set[tuple[str, str, str]] = set()


def prepare(dataset: str, device: str = "auto") -> None:
    """Load a dataset onto a device in the background, so a run started soon after trains at once.

    Pages call this as they draw; problems are left for the run itself to report.
    """
    key = (dataset, device, str(data.data_dir()))
    with _DEVICE_TENSORS_LOCK:
        if key in _PREPARING:
            return
        _PREPARING.add(key)

    def work() -> None:
        try:
            tensors_on(data.load(dataset), resolve_device(device))
        except Exception:
            pass  # a Start will say what is wrong
        finally:
            with _DEVICE_TENSORS_LOCK:
                _PREPARING.discard(key)

    threading.Thread(target=work, name=f"dlcore-prepare-{dataset}", daemon=True).start()
