"""What the load benchmarks share: a fresh app server to load, and the runs store read as a second process would.

bench/load.py (browsers) and bench/load_protocol.py (Streamlit's websocket protocol) both start the app the way
the e2e tests do, train one run alone and the same run under load, and compare the two.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness import AppServer  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"  # a started server's log is kept here (gitignored) to explain errors


@contextmanager
def fresh_server(log_name: str):
    """`streamlit run app.py` on a free port with a fresh DLCORE_HOME; its log is kept as bench/out/<log_name>."""
    with tempfile.TemporaryDirectory(prefix="dlcore-load-") as tmp:
        server = AppServer(Path(tmp) / "home").start()
        try:
            yield server
        finally:
            server.stop()
            OUT.mkdir(parents=True, exist_ok=True)
            (OUT / log_name).write_text(server.log())


def wait_for_run(home: Path, run_id: int, timeout: float = 1800) -> dict:
    """Poll the runs store, as a second process may, until the run has ended; returns what it recorded."""
    from dlcore.runs import FINISHED, RunStore

    store = RunStore(home)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = store.get(run_id)
        if run.status in FINISHED:
            rows = run.history.get("epochs") or [{}]
            return {"run": run_id, "status": run.status, "accuracy": run.accuracy, "seconds": round(run.seconds, 2),
                    "samples_per_sec": round(rows[-1].get("samples_per_sec", 0)), "ended": run.updated}
        time.sleep(0.2)
    raise TimeoutError(f"run #{run_id} did not finish within {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[max(0, round(share * len(ordered)) - 1)], 3)


def report_end(result: dict) -> int:
    """What both load benchmarks end with: the errors, then the whole result as JSON on the last line."""
    print(f"errors: {len(result['errors'])}")
    for error in result["errors"][:20]:
        print(f"  {error}")
    print(json.dumps(result))
    return 0
