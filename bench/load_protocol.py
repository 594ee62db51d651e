"""A class of 30 over Streamlit's own protocol: page times measured at the server, not in starved browsers.

Each simulated student is a websocket client speaking what the browser speaks (the installed streamlit's
BackMsg/ForwardMsg protobufs). As the frontend does, it takes the `_streamlit_xsrf` cookie from /_stcore/health
and offers it as the websocket's second subprotocol, opens the home page by its address, then every page as the
sidebar does (by page_script_hash), changes a few widgets on each (ids from the elements the server drew), and
keeps a page's fragments polling at the interval the server asks (auto_rerun), so the run board's change watch
and the teacher's live run view cost the server what they cost in class. Locust drives the students: its user
count, spawn rate and a time limit bound the load; each time from a request to its script_finished is a Locust
request, and a failed one carries the reason (an exception element, page_not_found, a disconnect, a timeout).

A teacher's session presses Build & train's Start training (the run trains in the server's job manager, as in
class) and watches it live: first alone, then the same run again while the class works, until the run has ended
and every student has been round every page at least once (or --max-seconds). Reports per-page p50/p95, the
errors, and the run's samples/s under load over alone, with the load average and the CPU the server used.

Students hold no identity from the server (see ui/classroom.py: a browser gets one from a script on its first
visit, which a protocol client does not run), so they are the one anonymous owner: they do not start runs. The
teacher's session is given one signed with the secret the bench's server was started with (tests/e2e/harness.py),
as a browser that has visited before.

--flood N measures the other side of that: N sessions without an identity, all at once, each press Start training
while a named browser's run holds the training slot; it reports how many runs they got queued (one student's
share, DLCORE_MAX_WAITING, is the most) and what the refused read.

Usage: [DLCORE_DATA_DIR=../shared/data] python bench/load_protocol.py [--students 30] [--setup QUERY] [--think 1 4]
       python bench/load_protocol.py --flood 100
Last stdout line: {"pages": {"activation_lab": {"p50_s": ..., "p95_s": ...}, ...}, "errors": [...], "speed_ratio": ...}
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything opens a socket: Locust's users are greenlets

import argparse  # noqa: E402
import http.cookiejar  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

import gevent  # noqa: E402
import websocket  # noqa: E402
from gevent.event import Event  # noqa: E402
from locust import User, between, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.exception import StopUser  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.Element_pb2 import Element  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from classroom import cpu_seconds, fresh_server, report_end, wait_for_run  # noqa: E402

from dlcore import identity  # noqa: E402
from tests.e2e.harness import browser_identity  # noqa: E402

PAGES = ("home", "activation_lab", "build_and_train", "draw_and_classify", "optimizer_race", "run_board")
# What a student tries on each page, by label: cheap controls and the expensive one (a fresh gradient measurement).
WIDGETS = {
    "activation_lab": ("Temperature T", "Initial weights", "Hidden layers"),
    "build_and_train": ("Optimizer", "Learning rate"),
    "draw_and_classify": ("Brush size",),
    "optimizer_race": ("Network", "Epochs"),
    "run_board": ("Find a student",),
}
FULL_RUN_ENDS = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR}
XSRF_COOKIE = "_streamlit_xsrf"


class Problem(Exception):
    """Something a student would have seen go wrong; Locust counts it as the request's failure."""


class Session:
    """One browser tab's Streamlit session, over the websocket and messages the frontend uses."""

    def __init__(self, url: str, timeout: float, named: str = ""):
        self.url, self.timeout = url, timeout
        self.named = named  # the identity cookie a browser that visited before would send; "" for none
        self.pages: dict[str, str] = {}  # url path ("home" for "") -> page_script_hash, from the navigation message
        self.page_hash = ""
        self.query_string = ""
        self.widgets: dict[str, Element] = {}  # label -> the widget's element as last drawn: its id and options
        self.states: dict[str, WidgetState] = {}  # what this student set on the current page, sent with each rerun
        self.problems: list[str] = []
        self.refusals: list[str] = []  # the error boxes the page showed (a refused Start)
        self.finished = Event()
        self.polls: dict[str, tuple[float, gevent.Greenlet]] = {}  # fragment id -> interval, greenlet asking for it
        self.closed: str | None = None
        self.ws = None
        self.fragment_reruns = 0
        self.received = 0  # bytes of every message the server sent

    def connect(self) -> None:
        """Take the XSRF cookie as the page load does, then open the stream with it as the frontend does."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(f"{self.url}/_stcore/health", timeout=self.timeout).read()
        xsrf = next(cookie.value for cookie in jar if cookie.name == XSRF_COOKIE)
        cookies = f"{XSRF_COOKIE}={xsrf}" + (f"; {identity.COOKIE}={self.named}" if self.named else "")
        self.ws = websocket.create_connection(
            self.url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit", xsrf],
            cookie=cookies, origin=self.url, timeout=self.timeout)
        self.ws.settimeout(None)  # the reader waits as long as the page stays open
        gevent.spawn(self._read)

    def close(self) -> None:
        self._stop_polls()
        if self.ws is not None and self.closed is None:
            self.closed = "closed by the student"
            self.ws.close()

    def open_address(self, page: str, query: str = "") -> float:
        """A page opened by its address: by name, as the frontend sends it before it knows the pages' hashes."""
        self._leave_page(query)
        self.page_hash = ""
        return self._rerun(page_name="" if page == "home" else page)

    def open(self, page: str) -> float:
        """A page opened from the sidebar: by its hash, with no query string and no widget state of the last page."""
        if page not in self.pages:
            raise Problem(f"no page {page!r} in the navigation the server sent")
        self._leave_page("")
        self.page_hash = self.pages[page]
        return self._rerun()

    def change(self, label: str, rng: random.Random) -> float:
        """Set one widget of the current page to another value, as the student's click or drag does."""
        if label not in self.widgets:
            raise Problem(f"no widget labelled {label!r} on this page")
        self.states[label] = new_value(self.widgets[label], rng)
        return self._rerun()

    def set(self, label: str, **value) -> float:
        """Set one widget of the current page to a chosen value, given as its WidgetState field (double_value=0.5)."""
        if label not in self.widgets:
            raise Problem(f"no widget labelled {label!r} on this page")
        element = self.widgets[label]
        self.states[label] = WidgetState(id=getattr(element, element.WhichOneof("type")).id, **value)
        return self._rerun()

    def click(self, label: str) -> float:
        """Press a button: its trigger goes with this one rerun only, as in the browser."""
        if label not in self.widgets:
            raise Problem(f"no button labelled {label!r} on this page")
        return self._rerun(trigger=WidgetState(id=self.widgets[label].button.id, trigger_value=True))

    def take_problems(self) -> list[str]:
        found, self.problems = self.problems, []
        return found

    def _leave_page(self, query: str) -> None:
        self._stop_polls()
        self.states.clear()
        self.widgets.clear()
        self.query_string = query

    def _rerun(self, trigger: WidgetState | None = None, **fields) -> float:
        """Ask for a full script run and wait for its script_finished; returns the seconds from request to it."""
        self.finished.clear()
        start = time.perf_counter()
        self._send(trigger, **fields)
        if not self.finished.wait(self.timeout):
            raise Problem(f"no script_finished within {self.timeout:g} s")
        if self.closed:
            raise Problem(f"disconnected: {self.closed}")
        return time.perf_counter() - start

    def _send(self, trigger: WidgetState | None = None, **fields) -> None:
        if self.closed:
            raise Problem(f"disconnected: {self.closed}")
        message = BackMsg()
        state = message.rerun_script
        state.query_string, state.page_script_hash = self.query_string, self.page_hash
        state.widget_states.widgets.extend([*self.states.values(), *([trigger] if trigger else [])])
        for name, value in fields.items():
            setattr(state, name, value)
        self.ws.send_binary(message.SerializeToString())

    def _read(self) -> None:
        try:
            while True:
                message, data = ForwardMsg(), self.ws.recv()
                self.received += len(data)
                message.ParseFromString(data)
                self._take(message)
        except Exception as exc:  # the socket ended: by close() above, or the server dropped this student
            if self.closed is None:
                self.closed = f"{type(exc).__name__}: {exc}"
            self._stop_polls()
            self.finished.set()

    def _take(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "new_session" and not message.metadata.run.fragment_ids:
            self._stop_polls()  # the frontend drops its fragment timers when a full run starts; the run re-asks
        elif kind == "navigation":
            self.pages = {page.url_pathname or "home": page.page_script_hash for page in message.navigation.app_pages}
            self.page_hash = message.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = message.page_info_changed.query_string
        elif kind == "page_not_found":
            self.problems.append(f"page not found: {message.page_not_found.page_name!r}")
        elif kind == "auto_rerun":
            fragment, interval = message.auto_rerun.fragment_id, message.auto_rerun.interval
            if self.polls.get(fragment, (None,))[0] != interval:  # the same interval again keeps the timer going
                self._stop_polls([fragment])
                self.polls[fragment] = interval, gevent.spawn(self._poll, fragment, interval)
        elif kind == "stop_auto_rerun":
            self._stop_polls(message.stop_auto_rerun.fragment_ids)
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            element = message.delta.new_element
            widget = getattr(element, element.WhichOneof("type"))
            if element.HasField("exception"):
                self.problems.append(f"exception element: {widget.type}: {widget.message[:200]}")
            elif element.HasField("alert") and widget.format == widget.ERROR:
                self.refusals.append(widget.body)
            elif getattr(widget, "id", "") and getattr(widget, "label", ""):
                self.widgets[widget.label] = element
        elif kind == "script_finished" and message.script_finished in FULL_RUN_ENDS:
            self.finished.set()

    def _poll(self, fragment: str, interval: float) -> None:
        """A fragment's timer, as the frontend's setInterval; a dropped connection ends it (the reader says why)."""
        while self.closed is None:
            gevent.sleep(interval)
            try:
                self._send(fragment_id=fragment, is_auto_rerun=True)
            except (Problem, websocket.WebSocketException, OSError):
                return
            self.fragment_reruns += 1

    def _stop_polls(self, fragments=None) -> None:
        for fragment in list(self.polls if fragments is None else fragments):
            if fragment in self.polls:
                self.polls.pop(fragment)[1].kill(block=False)


def new_value(element: Element, rng: random.Random) -> WidgetState:
    """Another value for a slider, select slider, selectbox or text input, encoded as its widget state is."""
    kind = element.WhichOneof("type")
    widget = getattr(element, kind)
    state = WidgetState(id=widget.id)
    if kind == "slider" and widget.options:
        state.string_array_value.data.append(rng.choice(widget.options))
    elif kind == "slider":
        steps = round((widget.max - widget.min) / widget.step)
        state.double_array_value.data.append(widget.min + rng.randint(0, steps) * widget.step)
    elif kind == "selectbox":
        state.string_value = rng.choice(widget.options)
    elif kind == "text_input":
        state.string_value = rng.choice("aeiou") + rng.choice("nrst")
    else:
        raise Problem(f"no way to change a {kind} widget")
    return state


class Student(User):
    """Arrives on the home page by its address, then goes round every page and tries a few widgets on each."""

    wait_time = between(1, 4)  # a student reads before the next click; main() sets it from --think
    timeout = 60.0

    def on_start(self) -> None:
        self.rng = random.Random(id(self))
        self.session = Session(self.host, self.timeout)
        SESSIONS.append(self.session)
        try:
            self.session.connect()
        except Exception as exc:  # a student who cannot connect is an error to report, and leaves
            self.report("connect", "stream", 0.0, exc)
            raise StopUser() from exc
        self.measure("open", "home", lambda: self.session.open_address("home"))

    @task
    def tour(self) -> None:
        for page in (*PAGES[1:], PAGES[0]):
            self.wait()
            self.measure("open", page, lambda: self.session.open(page))
            for label in WIDGETS.get(page, ()):
                self.wait()
                self.measure("change", page, lambda: self.session.change(label, self.rng))
        TOURED.add(id(self))

    def measure(self, kind: str, page: str, action) -> None:
        start = time.perf_counter()
        try:
            action()
            problems = self.session.take_problems()
            failure = Problem("; ".join(problems)) if problems else None
        except (Problem, websocket.WebSocketException, OSError) as exc:
            failure = exc
        self.report(kind, page, time.perf_counter() - start, failure)
        if self.session.closed:
            raise StopUser()

    def report(self, kind: str, page: str, seconds: float, failure: Exception | None) -> None:
        self.environment.events.request.fire(request_type=kind, name=page, response_time=seconds * 1000,
                                             response_length=0, exception=failure, context={})

    def on_stop(self) -> None:
        self.session.close()


SESSIONS: list[Session] = []  # every student's session, closed when the class ends however it ended
TOURED: set[int] = set()  # the students who have been round every page at least once


def start_run(url: str, setup: str, timeout: float) -> tuple[Session, int]:
    """The teacher: Build & train opened with a setup link, Start training; returns the session, left open to
    watch the run live as a projector would, and the run's id."""
    teacher = Session(url, timeout, named=browser_identity())
    teacher.connect()
    teacher.open_address("build_and_train", setup)
    teacher.click("Start training")
    run = parse_qs(teacher.query_string).get("run")
    problems = teacher.take_problems()
    if not run or problems:
        raise RuntimeError(f"Start training gave no run (address ?{teacher.query_string}): {problems}")
    return teacher, int(run[0])


def warm_up(url: str, timeout: float) -> None:
    """One visit to every page first, so the class times pages rather than a fresh server's imports."""
    visitor = Session(url, timeout)
    visitor.connect()
    visitor.open_address("home")
    for page in PAGES[1:]:
        visitor.open(page)
    visitor.close()
    if problems := visitor.take_problems():
        raise RuntimeError(f"the app fails before any load: {problems}")


def class_works(url: str, home: Path, run_id: int, students: int, spawn_rate: float, max_seconds: float) -> tuple:
    """Locust's students work until the run has ended and each has been round every page, or the time is up;
    returns Locust's environment, the seconds they worked and how many requests they had made when the run ended."""
    environment = Environment(user_classes=[Student], events=events, host=url)
    runner = environment.create_local_runner()
    runner.start(students, spawn_rate=spawn_rate)
    began = time.monotonic()
    watcher = gevent.spawn(wait_for_run, home, run_id, max_seconds)
    while_training = None
    while time.monotonic() - began < max_seconds:
        if watcher.ready() and while_training is None:
            while_training = environment.stats.total.num_requests
        if watcher.ready() and len(TOURED) >= students:
            break
        gevent.sleep(0.5)
    runner.quit()
    for session in SESSIONS:
        session.close()
    if while_training is None:  # the run outlasted the class
        while_training = environment.stats.total.num_requests
    return environment, time.monotonic() - began, while_training


def page_times(environment) -> dict:
    """Per page and kind of request: count, p50/p95/max in seconds (Locust keeps times to 2 significant digits)."""
    table = {}
    for (name, kind), entry in sorted(environment.stats.entries.items()):
        if not entry.num_requests:
            continue
        table.setdefault(name, {})[kind] = {
            "count": entry.num_requests, "failures": entry.num_failures,
            "p50_s": entry.get_response_time_percentile(0.5) / 1000,
            "p95_s": entry.get_response_time_percentile(0.95) / 1000, "max_s": round(entry.max_response_time / 1000, 3)}
    return table


def measure(students: int, setup: str, think: tuple[float, float], spawn_rate: float, max_seconds: float,
            timeout: float) -> dict:
    """On a fresh server: warm up, the run alone, then the same run while the class works."""
    Student.wait_time, Student.timeout = between(*think), timeout
    with fresh_server("load-protocol-server.log") as server:
        url = f"http://127.0.0.1:{server.port}"  # the traffic stays on this machine
        warm_up(url, timeout=180)
        began, server_cpu = time.monotonic(), cpu_seconds(server.process.pid)
        teacher, run_id = start_run(url, setup, timeout)
        alone = wait_for_run(server.home, run_id)
        alone_cores = (cpu_seconds(server.process.pid) - server_cpu) / (time.monotonic() - began)
        teacher.close()
        teacher, run_id = start_run(url, setup, timeout)
        load_before, server_cpu, own_cpu = os.getloadavg(), cpu_seconds(server.process.pid), cpu_seconds(os.getpid())
        environment, seconds, while_training = class_works(url, server.home, run_id, students, spawn_rate, max_seconds)
        server_cpu, own_cpu = cpu_seconds(server.process.pid) - server_cpu, cpu_seconds(os.getpid()) - own_cpu
        loaded = wait_for_run(server.home, run_id)
        teacher_problems, teacher_polls = teacher.take_problems(), teacher.fragment_reruns
        teacher.close()
    errors = [f"{error.method} {error.name}: {error.error} (x{error.occurrences})"
              for error in environment.stats.errors.values()]
    errors += [f"teacher's live view: {problem}" for problem in teacher_problems]
    errors += [f"student crashed: {crash['msg']} (x{crash['count']})"
               for crash in environment.runner.exceptions.values()]
    total = environment.stats.total
    return {
        "students": students, "think_s": list(think), "spawn_rate": spawn_rate, "load_phase_s": round(seconds, 1),
        "requests": total.num_requests, "requests_while_training": while_training,
        "fragment_reruns": {"teacher": teacher_polls, "students": sum(session.fragment_reruns for session in SESSIONS)},
        "p50_s": total.get_response_time_percentile(0.5) / 1000,
        "p95_s": total.get_response_time_percentile(0.95) / 1000,
        "pages": page_times(environment),
        "pages_reached": sorted({name for (name, kind) in environment.stats.entries if kind == "open"
                                 and environment.stats.entries[(name, kind)].num_requests
                                 > environment.stats.entries[(name, kind)].num_failures}),
        "errors": errors, "alone": alone, "under_load": loaded,
        "speed_ratio": round(loaded["samples_per_sec"] / alone["samples_per_sec"], 3),
        "same_accuracy": alone["accuracy"] == loaded["accuracy"],
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
        "server_cores_busy": round(server_cpu / seconds, 2), "server_cores_busy_alone": round(alone_cores, 2),
        "load_generator_cores_busy": round(own_cpu / seconds, 2),
        "cores": os.cpu_count(),
    }


def flood(sessions: int, setup: str, timeout: float) -> dict:
    """On a fresh server, a named browser's run takes the training slot; then `sessions` clients without an identity
    each open Build & train (a cheap one-epoch setup) and press Start training at once. Returns how many runs they
    got recorded, the server's queue share, and the sentences the refused read."""
    from dlcore.runs import RunStore

    with fresh_server("load-protocol-flood-server.log") as server:
        url = f"http://127.0.0.1:{server.port}"
        holder, held = start_run(url, setup, timeout)  # it trains through the flood: every Start below must wait
        began = time.monotonic()
        clients = [Session(url, timeout) for _ in range(sessions)]
        outcomes = gevent.joinall([gevent.spawn(press_start, client) for client in clients])
        seconds = time.monotonic() - began
        recorded = [run.id for run in RunStore(server.home).list(with_history=False) if run.id != held]
        still_training = RunStore(server.home).get(held).status == "running"
        for client in (holder, *clients):
            client.close()
    refusals = sorted({re.sub(r"\\(.)", r"\1", text) for client in clients for text in client.refusals})  # Markdown unescaped
    return {"sessions": sessions, "seconds": round(seconds, 1), "queued": sum(outcome.value == "queued" for outcome in outcomes),
            "refused": sum(outcome.value == "refused" for outcome in outcomes), "recorded_runs": len(recorded),
            "held_slot_throughout": still_training, "refusals": refusals,
            "errors": [f"{outcome.value}" for outcome in outcomes if outcome.value not in ("queued", "refused")]}


def press_start(client: Session) -> str:
    """One client without an identity: Build & train with a one-epoch setup, Start training; what came of it."""
    try:
        client.connect()
        client.open_address("build_and_train", "epochs=1")
        client.click("Start training")
    except (Problem, websocket.WebSocketException, OSError) as exc:
        return f"failed: {exc}"
    if problems := client.take_problems():
        return f"failed: {problems}"
    return "queued" if parse_qs(client.query_string).get("run") else "refused" if client.refusals else "nothing shown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--setup", default="epochs=100&batch_size=16",
                        help="the run's Build & train setup link (its query string); the default network on "
                             "mnist-sample, about 26 s alone on 2 cores: long enough that a class of 30 tours every "
                             "page while it trains, and small batches make it the run most sensitive to page load")
    parser.add_argument("--think", type=float, nargs=2, default=(1.0, 4.0), metavar=("MIN", "MAX"),
                        help="seconds a student reads before the next click, drawn evenly between the two")
    parser.add_argument("--spawn-rate", type=float, default=3.0, help="students arriving per second")
    parser.add_argument("--max-seconds", type=float, default=600, help="the class stops then even if the run has not")
    parser.add_argument("--timeout", type=float, default=60, help="seconds a request may wait for script_finished")
    parser.add_argument("--flood", type=int, metavar="N", help="instead of a class: N sessions without an identity "
                                                               "press Start training at once (--setup: the run that "
                                                               "holds the slot meanwhile)")
    args = parser.parse_args(argv)
    if args.flood:
        result = flood(args.flood, args.setup, args.timeout)
        print(f"{result['sessions']} sessions without an identity pressed Start within {result['seconds']} s: "
              f"{result['queued']} queued, {result['refused']} refused, {result['recorded_runs']} runs recorded; "
              f"the named run held the slot throughout: {result['held_slot_throughout']}")
        for sentence in result["refusals"]:
            print(f"  refused: {sentence}")
        return report_end(result)
    result = measure(args.students, args.setup, tuple(args.think), args.spawn_rate, args.max_seconds, args.timeout)
    print(f"{result['requests']} requests ({result['requests_while_training']} while the run trained) by "
          f"{result['students']} students over {result['load_phase_s']} s "
          f"(think {args.think[0]:g}-{args.think[1]:g} s); all: p50 {result['p50_s']} s, p95 {result['p95_s']} s; "
          f"fragment reruns asked by the server: {result['fragment_reruns']}")
    for page, kinds in result["pages"].items():
        print(f"  {page:18} " + "; ".join(f"{kind} x{t['count']}: p50 {t['p50_s']} s, p95 {t['p95_s']} s, max "
                                          f"{t['max_s']} s" for kind, t in kinds.items()))
    print(f"run alone:      {result['alone']}")
    print(f"run under load: {result['under_load']}; samples/s ratio {result['speed_ratio']}, "
          f"same accuracy: {result['same_accuracy']}")
    print(f"server busy {result['server_cores_busy']} (run alone: {result['server_cores_busy_alone']}) and load "
          f"generator {result['load_generator_cores_busy']} of {result['cores']} cores; load average before "
          f"{result['load_average']['before']}, after {result['load_average']['after']}")
    return report_end(result)


if __name__ == "__main__":
    sys.exit(main())
