"""What a change of a learning rate on Gradient descent costs the server and a classmate, before and after.

Two fresh `streamlit run app.py` side by side: this checkout, and --against (by default the last commit that stepped
six torch.optim optimizers one by one and sent every path so far in every animation frame) unpacked by `git archive`.
On each, over Streamlit's own protocol (bench/load_protocol.py's sessions): one session opens Gradient descent at 500
steps and changes Adam's learning rate --changes times; the server process's CPU seconds, the bytes the session
received and the seconds to script_finished, per change. Then a classmate changes the Activation lab's temperature
(a whole rerun of that page) --changes times alone, and as often again while --students sessions each change a
learning rate every --think seconds: the classmate's median seconds. Prints both servers' figures and after/before.

    DLCORE_DATA_DIR=../shared/data python bench/descent_cost.py [--against REV] [--changes 10] [--students 3]
Last stdout line: {"before": {...}, "after": {...}, "after_over_before": {...}}
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_protocol import Session  # noqa: E402 (it patches sockets for gevent first)

import gevent  # noqa: E402
from classroom import cpu_seconds  # noqa: E402
from gevent.event import Event  # noqa: E402

from tests.e2e.harness import REPO, AppServer  # noqa: E402

BEFORE = "174d42b2f6a635ca70293f7544dea528db835892"
TIMEOUT = 300  # seconds a rerun may take before the bench gives up: the old page took 2-3 s alone
STEPS = 500  # the most the page allows, as in the issue
SETTLE = 20  # seconds for a fresh server's start-up work (torch imported in the background) to end before measuring


def descent_session(url: str) -> Session:
    """A student on Gradient descent with the steps at their most; Adam's learning rate is the one changed."""
    session = Session(url, TIMEOUT)
    session.connect()
    session.open_address("gradient_descent")
    session.set("Steps", double_array_value={"data": [STEPS]})
    return session


def new_rate(student: int, change: int) -> dict:
    """A learning rate no session has asked for yet, so that no change is answered from the shared cache."""
    return {"double_value": round(0.5 + 1e-5 * (1000 * student + change), 5)}


def keep_changing(url: str, student: int, think: float, stop: Event) -> None:
    session = descent_session(url)
    change = 0
    while not stop.is_set():
        change += 1
        session.set("Adam lr", **new_rate(student, change))
        stop.wait(think)
    session.close()


def classmate_seconds(session: Session, changes: int, first: int) -> float:
    """The median seconds of the Activation lab's reruns, each with another temperature."""
    return statistics.median(session.set("Temperature T", double_array_value={"data": [round(0.1 * t, 1)]})
                             for t in range(first, first + changes))


def measure(root: Path, changes: int, students: int, think: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="dlcore-descent-") as tmp:
        server = AppServer(Path(tmp) / "home", root=root).start()
        try:
            url, pid = f"http://127.0.0.1:{server.port}", server.process.pid
            student = descent_session(url)
            student.set("Adam lr", **new_rate(99, 0))  # the first optimizer imports torch._dynamo: not a change's cost
            gevent.sleep(SETTLE)
            cpu, received, seconds = cpu_seconds(pid), student.received, []
            for change in range(1, changes + 1):
                seconds.append(student.set("Adam lr", **new_rate(99, change)))
            cpu, received = cpu_seconds(pid) - cpu, student.received - received
            student.close()
            classmate = Session(url, TIMEOUT)
            classmate.connect()
            classmate.open_address("activation_lab")
            alone = classmate_seconds(classmate, changes, 11)
            stop = Event()
            others = [gevent.spawn(keep_changing, url, k, think, stop) for k in range(students)]
            gevent.sleep(think + 5)  # they have opened the page and are changing rates
            loaded = classmate_seconds(classmate, changes, 11 + changes)
            stop.set()
            gevent.joinall(others, timeout=TIMEOUT, raise_error=True)
            classmate.close()
        finally:
            server.stop()
    return {"cpu_seconds_per_change": round(cpu / changes, 3), "bytes_per_change": round(received / changes),
            "seconds_per_change": round(statistics.median(seconds), 3), "classmate_alone_s": round(alone, 3),
            "classmate_with_students_s": round(loaded, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=BEFORE, help="the commit to compare with (default: %(default).10s)")
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--students", type=int, default=3, help="sessions changing learning rates meanwhile")
    parser.add_argument("--think", type=float, default=1.0, help="seconds each waits between its changes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dlcore-before-") as before_root:
        archive = subprocess.run(["git", "archive", args.against], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", before_root], input=archive, check=True)
        result = {"before": measure(Path(before_root), args.changes, args.students, args.think),
                  "after": measure(REPO, args.changes, args.students, args.think)}
    result["after_over_before"] = {key: round(value / result["before"][key], 3)
                                   for key, value in result["after"].items()}
    result.update(against=args.against, students=args.students, think_s=args.think, steps=STEPS)
    for key in result["after"]:
        print(f"{key:28} before {result['before'][key]:>10}   after {result['after'][key]:>10}   "
              f"ratio {result['after_over_before'][key]}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
