"""Shared fixtures: a fresh runs home per test, small synthetic datasets, and the real-data switch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    """GPU-marked tests run where there is a CUDA GPU and are skipped, saying so, everywhere else."""
    gpu_tests = [item for item in items if "gpu" in item.keywords]
    if not gpu_tests:
        return
    import torch  # only when GPU tests were collected: page tests keep their imports light

    if torch.cuda.is_available():
        return
    for item in gpu_tests:
        item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU; this machine has none"))


@pytest.fixture(autouse=True)
def dlcore_home(tmp_path, monkeypatch) -> Path:
    """Every test records its runs in its own folder, as a fresh server would."""
    home = tmp_path / "dlcore-home"
    monkeypatch.setenv("DLCORE_HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return home


@pytest.fixture(autouse=True)
def pytests_own_main():
    """AppTest runs a page (or app.py) as the __main__ module and leaves it there; a later test's spawned process then
    ran that page again as it started (Sequences' canvas, outside Streamlit, ended test_runs' writers with exit 1)."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def real_data_dir() -> Path:
    """The real MNIST/Fashion-MNIST folder, named by DLCORE_DATA_DIR as a user would; skips without it."""
    value = os.environ.get("DLCORE_DATA_DIR")
    if not value or not (Path(value) / "mnist").is_dir():
        pytest.skip("DLCORE_DATA_DIR does not point at the real data (CI sets it to ../shared/data)")
    return Path(value)


def write_idx(path: Path, array) -> None:
    """Write a uint8 array as a gzipped IDX file, the format MNIST ships in."""
    import gzip

    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def synthetic_digits(count: int, seed: int):
    """Learnable 28x28 images: class c is a bright horizontal bar at row 3+2c, plus noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(count, 28, 28))
    for i, label in enumerate(labels):
        row = 3 + 2 * label
        images[i, row : row + 2, 4:24] = 255
    return images.astype("uint8"), labels.astype("uint8")


@pytest.fixture
def tiny_data_dir(tmp_path, monkeypatch) -> Path:
    """A DLCORE_DATA_DIR whose 'mnist' and 'fashion-mnist' are 600 train / 200 test synthetic images."""
    root = tmp_path / "data"
    for name in ("mnist", "fashion-mnist"):
        folder = root / name
        folder.mkdir(parents=True)
        for prefix, count, seed in (("train", 600, 1), ("t10k", 200, 2)):
            images, labels = synthetic_digits(count, seed)
            write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
            write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    monkeypatch.setenv("DLCORE_DATA_DIR", str(root))
    return root
