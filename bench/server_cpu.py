"""What a page's run costs the web server's own process: CPU seconds while a browser watches it train.

A fresh `streamlit run app.py`; one named browser session (Streamlit's protocol, as bench/load_protocol.py speaks
it) opens Build & train with a setup link, presses Start and watches the live view until the run ends. Prints the
server process's CPU seconds over that time (its workers' are not its own), the run's wall time, and the CPU the
whole process tree took; a JSON line last.

    DLCORE_DATA_DIR=../shared/data python bench/server_cpu.py [--setup "dataset=fashion-mnist&epochs=3"]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_protocol import start_run  # noqa: E402 (it patches sockets for gevent first)

import psutil  # noqa: E402
from classroom import cpu_seconds, fresh_server, wait_for_run  # noqa: E402


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and every descendant alive now: read while the run is on, since a worker's
    process ends with its job."""
    total = 0.0
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", default="dataset=fashion-mnist&epochs=3")
    args = parser.parse_args(argv)
    with fresh_server("server-cpu-server.log") as server:
        url = f"http://127.0.0.1:{server.port}"
        pid = server.process.pid
        before, began = cpu_seconds(pid), time.monotonic()
        watcher, run_id = start_run(url, args.setup, 60)
        most_of_tree, run = 0.0, None
        while run is None:
            most_of_tree = max(most_of_tree, tree_cpu(pid))
            try:
                run = wait_for_run(server.home, run_id, timeout=0.5)
            except TimeoutError:
                pass
        server_seconds, wall = cpu_seconds(pid) - before, time.monotonic() - began
        watcher.close()
    result = {"setup": args.setup, "run": run, "server_cpu_seconds": round(server_seconds, 1),
              "wall_seconds": round(wall, 1), "tree_cpu_seconds_seen": round(most_of_tree, 1)}
    print(f"run #{run_id} {run['status']} in {wall:.1f} s: the web server's own process spent {server_seconds:.1f} "
          f"CPU seconds (the server and its workers: at least {most_of_tree:.1f})", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
