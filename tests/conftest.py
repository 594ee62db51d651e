"""Shared fixtures: a fresh runs home per test, small synthetic datasets, and the real-data switch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def dlcore_home(tmp_path, monkeypatch) -> Path:
    """Every test records its runs in its own folder, as a fresh server would."""
    home = tmp_path / "dlcore-home"
    monkeypatch.setenv("DLCORE_HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return home


@pytest.fixture
def real_data_dir() -> Path:
    """The real MNIST/Fashion-MNIST folder, named by DLCORE_DATA_DIR as a user would; skips without it."""
    value = os.environ.get("DLCORE_DATA_DIR")
    if not value or not (Path(value) / "mnist").is_dir():
        pytest.skip("DLCORE_DATA_DIR does not point at the real data (CI sets it to ../shared/data)")
    return Path(value)
