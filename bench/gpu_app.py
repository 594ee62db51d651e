"""Build & train on a GPU server, driven as a browser drives it (Streamlit's AppTest): what the page shows.

A teacher's GPU server must show the GPU's name and its samples/s on the run it trains. This starts the CNN
on Fashion-MNIST from the page with the device the page picks by itself, follows it live, and prints what a
student reads: the live line (device and samples/s) and the finished run's metrics.

Usage: DLCORE_DATA_DIR=../shared/data python bench/gpu_app.py [--epochs 2]
Last stdout line: {"device_default": ..., "live": ..., "metrics": {...}}
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

from tests.app_pages.apptest import opened, plain  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("DLCORE_DATA_DIR"):
        sys.exit("Set DLCORE_DATA_DIR to the folder holding fashion-mnist/ (e.g. ../shared/data).")
    os.environ.setdefault("DLCORE_HOME", tempfile.mkdtemp(prefix="dlcore-gpu-app-"))
    at = opened("app_pages/2_build_and_train.py", timeout=300)
    device_default = at.get_by_key("train_device").value
    at.radio(key="train_dataset").set_value("fashion-mnist")
    at.get_by_key("train_preset").set_value("cnn")
    at.run()
    at.number_input(key="train_epochs").set_value(args.epochs)
    at.run()
    next(b for b in at.button if b.label == "Start training").click()
    at.run()
    live = ""
    deadline = time.monotonic() + 600
    while not at.success and time.monotonic() < deadline:
        lines = [plain(bar.proto.text) for bar in at.get("progress") if "samples/s" in bar.proto.text]
        live = lines[-1] if lines else live
        time.sleep(0.5)
        at.run()
    metrics = {m.label: m.value for m in at.metric}
    print(json.dumps({"device_default": device_default, "live": live,
                      "finished": at.success[0].value if at.success else None, "metrics": metrics}))


if __name__ == "__main__":
    main()
