"""What one student importing the same small zip again and again costs the server: disk, then memory.

The zip is issue 22's: the largest MLP the limits allow (8 x 2,048 units with batch norm, 119 MiB of weights) with
every weight zero, which deflates to about 120 kB. One student (one browser identity) imports it until refused;
the bench prints each import's seconds and what the runs home then takes on disk (a file with several names counted
once). Then every imported run is opened in Inside the network (AppTest, in this process, as a server's sessions
would open them), printing the process's resident memory and the bytes the shared caches hold.

Usage: DLCORE_DATA_DIR=... python bench/repeated_import.py [--imports 14]
Last stdout line: {"zip_bytes": ..., "accepted": ..., "refused": "...", "home_mb": ..., "rss_gb": [...], "cache_mb": ...}
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def zero_largest_mlp() -> bytes:
    import torch
    from safetensors.torch import save

    from dlcore import TrainConfig, models, runs

    config = TrainConfig(dataset="mnist-sample", model=runs.LARGEST_MLP)
    with torch.device("meta"):
        shapes = models.build(config.model).state_dict()
    state = {name: torch.zeros(meta.shape, dtype=meta.dtype) for name, meta in shapes.items()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("run-1/run-1.safetensors", save(state, {"format": runs.CHECKPOINT_FORMAT,
                                                                  "config": config.to_json()}))
    return buffer.getvalue()


def disk_taken(folder: Path) -> int:
    return sum({path.stat().st_ino: path.stat().st_blocks * 512 for path in folder.rglob("*") if path.is_file()}.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--imports", type=int, default=14)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="dlcore-bench-"))
    os.environ["DLCORE_HOME"] = str(home)
    sys.path.insert(0, str(REPO))
    import psutil
    from streamlit.testing.v1 import AppTest

    from dlcore import DLCoreError, export, inside, predict

    upload = zero_largest_mlp()
    print(f"zip: {len(upload):,} bytes")
    accepted, refused = [], ""
    for number in range(1, args.imports + 1):
        started = time.perf_counter()
        try:
            accepted.append(export.import_weights(upload, "run-1.zip", student="Ada", owner="browser-ada"))
            what = f"run #{accepted[-1]}"
        except DLCoreError as exc:
            refused = what = f"refused: {exc}"
        print(f"import {number}: {time.perf_counter() - started:.1f} s, runs home {disk_taken(home) / 2**20:,.0f} MiB, "
              f"{what}", flush=True)
    process = psutil.Process()
    rss = [process.memory_info().rss / 2**30]
    for run_id in accepted:
        page = AppTest.from_file(str(REPO / "app_pages" / "4_inside_the_network.py"), default_timeout=600)
        page.query_params["run"] = str(run_id)
        page.run()
        rss.append(process.memory_info().rss / 2**30)
        print(f"opened #{run_id} in Inside the network: {rss[-1]:.2f} GiB resident", flush=True)
    cached = {name: cache.cache.currsize / 2**20 for name, cache in
              (("models", predict.shared), ("embeddings", inside.shared_embedding), ("first weights", inside.start_pictures))}
    print("caches: " + ", ".join(f"{name} {size:,.1f} MiB" for name, size in cached.items()))
    print(json.dumps({"zip_bytes": len(upload), "accepted": len(accepted), "refused": refused,
                      "home_mb": round(disk_taken(home) / 2**20), "rss_gb": [round(value, 2) for value in rss],
                      "cache_mb": {name: round(size, 1) for name, size in cached.items()}}))


if __name__ == "__main__":
    main()
