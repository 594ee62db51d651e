"""Closed playground tabs: what N students who opened the 2-D playground, trained it and left still cost the server.

On a fresh server, N protocol-level sessions (bench/load_protocol.py's, one browser tab each) open /playground and
press Step, which gives each its network's thread; then all of them close. Reports the web server's threads before,
with the N tabs open, right after they closed, and how many seconds passed until it was back within 2 of where it
started (or that it was not, after --max-seconds).

Usage: python bench/closed_tabs.py [--sessions 111] [--max-seconds 120]
Last stdout line: {"sessions": N, "threads_before": ..., "threads_open": ..., "threads_closed": ...,
                   "threads_end": ..., "back_after_s": ... or null, "errors": [...]}
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_protocol import Problem, Session  # noqa: E402  (first: it patches sockets for gevent)

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import psutil  # noqa: E402
import websocket  # noqa: E402
from gevent.pool import Pool  # noqa: E402

from classroom import fresh_server  # noqa: E402

SLACK = 2  # threads the server starts and ends by itself (a script run's thread, a timer)
SETTLE_SECONDS = 15.0  # the warm-up tab's own thread ends about 11 s after it closed (dlcore.toy.AWAY_SECONDS + checks)


def train_a_step(client: Session) -> str:
    """One tab: the playground by its address, Step once; what went wrong, or ""."""
    try:
        client.connect()
        client.open_address("playground")
        client.click("Step")
    except (Problem, websocket.WebSocketException, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "; ".join(client.take_problems())


def settled_threads(server: psutil.Process, seconds: float = 3.0) -> int:
    """The server's thread count once it has stayed the same for `seconds` (a rerun's thread comes and goes)."""
    last, since = server.num_threads(), time.monotonic()
    while time.monotonic() - since < seconds:
        gevent.sleep(0.25)
        now = server.num_threads()
        if now != last:
            last, since = now, time.monotonic()
    return last


def measure(sessions: int, max_seconds: float, timeout: float) -> dict:
    with fresh_server("closed-tabs-server.log") as app:
        url = f"http://127.0.0.1:{app.port}"
        server = psutil.Process(app.process.pid)
        first = Session(url, timeout=180)  # a fresh server imports the page and torch once
        errors = [error for error in [train_a_step(first)] if error]
        first.close()
        gevent.sleep(SETTLE_SECONDS)
        before = settled_threads(server)
        clients = [Session(url, timeout) for _ in range(sessions)]
        outcomes = Pool(10).map(train_a_step, clients)  # ten tabs opening at a time, as a class arriving
        errors += [outcome for outcome in outcomes if outcome]
        opened = server.num_threads()
        for client in clients:
            client.close()
        closed_at = time.monotonic()
        closed = server.num_threads()
        back_after = None
        while time.monotonic() - closed_at < max_seconds:
            if server.num_threads() <= before + SLACK:
                back_after = round(time.monotonic() - closed_at, 1)
                break
            gevent.sleep(0.25)
        end = server.num_threads()
    return {"sessions": sessions, "threads_before": before, "threads_open": opened, "threads_closed": closed,
            "threads_end": end, "back_after_s": back_after, "max_seconds": max_seconds, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=111, help="tabs opened, trained a step and closed")
    parser.add_argument("--max-seconds", type=float, default=120, help="how long to wait for the threads to go")
    parser.add_argument("--timeout", type=float, default=120, help="seconds one request may take")
    args = parser.parse_args(argv)
    result = measure(args.sessions, args.max_seconds, args.timeout)
    print(f"{result['sessions']} tabs: threads {result['threads_before']} before, {result['threads_open']} with them "
          f"open, {result['threads_closed']} as they closed, {result['threads_end']} at the end; back within "
          f"{SLACK} after {result['back_after_s']} s" if result["back_after_s"] is not None else
          f"{result['sessions']} tabs: threads {result['threads_before']} before, still {result['threads_end']} "
          f"after {args.max_seconds:g} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
