"""A class at once, in real browsers: a few sessions open every page while a run trains on the same server.

Trains one config alone through Build & train, then the same config again, and while it trains N sessions
(contexts in one headless Chromium, so N cookie jars and N Streamlit sessions) arrive one after another, load
the home page by URL and visit every page from the sidebar, then stay connected until the last one is done, so
that all N are open at once at the end. A page's time runs from the click (or the URL load) until its title is
drawn and its script has finished. Reports p50/p95 page times, the errors any session saw (console errors,
page errors, exception boxes, a session that could not go on), whether the run under load finished with the
same accuracy as alone (same seed: it must), and how much CPU the server itself used, since on one machine the
browsers compete with the server for the same cores.

On one machine the browsers, not the server, run out of CPU first (20 sessions on 2 cores gave p95 84 s while
the server used a quarter of a core), so this checks correctness with a few sessions; bench/load_protocol.py
measures what the server sustains, with a class of 30 speaking Streamlit's protocol.

Usage: [DLCORE_DATA_DIR=../shared/data] python bench/load.py [--sessions 3] [--epochs 60] [--arrival 1.0]
       (--url URL --home DIR [--pid PID] uses a running server and its DLCORE_HOME instead of starting one)
Last stdout line: {"p50_s": ..., "p95_s": ..., "over_limit": ..., "errors": [...], "same_accuracy": true, ...}
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from classroom import cpu_seconds, fresh_server, percentile, report_end, wait_for_run  # noqa: E402
from tests.e2e.harness import (  # noqa: E402  (classroom.py puts the repository on the path)
    CHROMIUM_ARGS, CONNECTED, EXCEPTION, EXTERNAL, REPO, SCRIPT_DONE, VIEWPORT, Watch, require_chromium,
)

PAGES = (REPO / "app.py").read_text().count("st.Page(") - (REPO / "app.py").read_text().count("visibility=\"hidden\"")
RENDER_LIMIT_S = 5.0  # the requirement for every page while a run trains


async def rendered(page, timeout: float = 120_000) -> None:
    await page.wait_for_selector(CONNECTED, state="attached", timeout=timeout)
    await page.get_by_role("heading", level=1).first.wait_for(timeout=timeout)
    await page.wait_for_selector(SCRIPT_DONE, state="attached", timeout=timeout)


async def reloaded_with_identity(page, timeout: float = 120.0) -> None:
    """A first visit gets its identity from the page, which then reloads once (ui/classroom.py): wait for the
    reloaded document, or the tour would read the sidebar of a page on its way out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if await page.evaluate("performance.getEntriesByType('navigation')[0].type") == "reload":
                return
        except Exception:  # the old document is going away under the call
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError("the page did not reload with its identity")


async def new_page(browser):
    context = await browser.new_context(viewport=VIEWPORT)
    await context.route(EXTERNAL, lambda route: route.abort("blockedbyclient"))
    page = await context.new_page()
    page.set_default_timeout(120_000)
    return page, Watch(page)


async def start_run(browser, url: str, epochs: int) -> int:
    """Start Build & train's default config with this many epochs, as a teacher would; returns the run id."""
    page, _ = await new_page(browser)
    await page.goto(f"{url}/build_and_train")
    await reloaded_with_identity(page)
    await rendered(page)
    field = page.get_by_label("Epochs")
    await field.fill(str(epochs))
    await field.press("Enter")
    await page.wait_for_selector(SCRIPT_DONE, state="attached")
    await page.get_by_role("button", name="Start training").click()
    await page.wait_for_url(re.compile(r"[?&]run=\d+"))
    run_id = int(re.search(r"[?&]run=(\d+)", page.url).group(1))
    await page.context.close()
    return run_id


class Class:
    """What the sessions share: their page times, their errors, and when the last one has finished its tour."""

    def __init__(self, sessions: int):
        self.sessions = sessions
        self.times: list[tuple[str, float, float]] = []  # (page, seconds, wall-clock end)
        self.errors: list[str] = []
        self.arrivals: list[float] = []  # wall-clock time each session asked for its first page
        self.toured = 0
        self.all_toured = asyncio.Event()

    def done_touring(self) -> None:
        self.toured += 1
        if self.toured == self.sessions:
            self.all_toured.set()


async def student(browser, url: str, index: int, room: Class, delay: float) -> None:
    """One session: the home page by URL, every page from the sidebar, then connected until all have toured."""
    await asyncio.sleep(delay)
    page, watch = await new_page(browser)
    try:
        start = time.perf_counter()
        room.arrivals.append(time.time())
        await page.goto(url)
        await reloaded_with_identity(page)
        await rendered(page)
        room.times.append(("home (URL)", time.perf_counter() - start, time.time()))
        links = page.locator('[data-testid="stSidebarNav"] a')
        names = [(await links.nth(i).inner_text()).splitlines()[-1].strip() for i in range(await links.count())]
        if len(names) != PAGES:
            room.errors.append(f"session {index}: the sidebar listed {len(names)} of the app's {PAGES} pages")
        for name in names[1:]:
            before = await page.get_by_role("heading", level=1).first.inner_text()
            start = time.perf_counter()
            await links.filter(has_text=name).first.click()
            await page.wait_for_function(
                "before => { const h = document.querySelector('h1'); return h && h.innerText !== before; }",
                arg=before, timeout=120_000)
            await page.wait_for_selector(SCRIPT_DONE, state="attached")
            room.times.append((name, time.perf_counter() - start, time.time()))
            boxes = await page.locator(EXCEPTION).all_inner_texts()
            room.errors.extend(f"session {index}, {name}: exception box: {text[:200]}" for text in boxes)
    except Exception as exc:  # a session that could not go on is an error to report, not a crash of the bench
        room.errors.append(f"session {index}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    finally:
        room.done_touring()
    await room.all_toured.wait()
    room.errors.extend(f"session {index}: {problem}" for problem in watch.errors)
    await page.context.close()


async def measure(url: str, home: Path, sessions: int, epochs: int, arrival: float, pid: int | None) -> dict:
    """The run alone, then the same run while the class arrives; the server must already be warm."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        alone = await asyncio.to_thread(wait_for_run, home, await start_run(browser, url, epochs))
        loaded_id = await start_run(browser, url, epochs)
        room = Class(sessions)
        began, cpu = time.time(), cpu_seconds(pid) if pid else None
        await asyncio.gather(*(student(browser, url, i, room, arrival * i) for i in range(sessions)))
        ended = time.time()
        cpu = cpu_seconds(pid) - cpu if pid else None
        loaded = await asyncio.to_thread(wait_for_run, home, loaded_id)
        await browser.close()

    seconds = [t for _, t, _ in room.times]
    by_page: dict[str, list[float]] = {}
    for name, t, _ in room.times:
        by_page.setdefault(name, []).append(t)
    return {
        "sessions": sessions,
        "arrival_s": arrival,
        "page_loads": len(seconds),
        "p50_s": round(statistics.median(seconds), 3) if seconds else None,
        "p95_s": percentile(seconds, 0.95) if seconds else None,
        "max_s": round(max(seconds), 3) if seconds else None,
        "over_limit": sum(1 for t in seconds if t > RENDER_LIMIT_S),
        "p95_by_page_s": {name: percentile(ts, 0.95) for name, ts in by_page.items()},
        "loads_while_training": sum(1 for _, _, at in room.times if at <= loaded["ended"]),
        "arrived_while_training": sum(1 for at in room.arrivals if at <= loaded["ended"]),
        "load_phase_s": round(ended - began, 1),
        "server_cores_busy": round(cpu / (ended - began), 2) if cpu is not None else None,
        "cores": os.cpu_count(),
        "errors": room.errors,
        "alone": alone,
        "under_load": loaded,
        "same_accuracy": alone["accuracy"] == loaded["accuracy"],
    }


async def on_fresh_server(sessions: int, epochs: int, arrival: float) -> dict:
    """Start a server with a fresh DLCORE_HOME, visit it once (torch's import), measure, stop, keep its log."""
    from playwright.async_api import async_playwright

    with fresh_server("load-server.log") as server:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
            page, _ = await new_page(browser)
            await page.goto(server.url)
            await rendered(page, timeout=180_000)
            await browser.close()
        return await measure(server.url, server.home, sessions, epochs, arrival, server.process.pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60, help="of Build & train's default network and data")
    parser.add_argument("--arrival", type=float, default=1.0, help="seconds between two sessions' first visits")
    parser.add_argument("--url", help="a running, already visited server (with --home) instead of a fresh one")
    parser.add_argument("--home", type=Path, help="that server's DLCORE_HOME")
    parser.add_argument("--pid", type=int, help="that server's process id, to report the CPU it used")
    args = parser.parse_args(argv)
    if args.url:
        result = asyncio.run(measure(args.url, args.home, args.sessions, args.epochs, args.arrival, args.pid))
    else:
        result = asyncio.run(on_fresh_server(args.sessions, args.epochs, args.arrival))
    print(f"{result['page_loads']} page loads by {result['sessions']} sessions arriving {args.arrival:g} s apart, "
          f"over {result['load_phase_s']} s; {result['arrived_while_training']} sessions arrived and "
          f"{result['loads_while_training']} loads were done while the run trained")
    print(f"page time p50 {result['p50_s']} s, p95 {result['p95_s']} s, max {result['max_s']} s; "
          f"{result['over_limit']} over {RENDER_LIMIT_S:g} s; by page (p95): {result['p95_by_page_s']}")
    print(f"server busy {result['server_cores_busy']} of {result['cores']} cores during the load; the rest went to "
          "the browsers on this machine")
    print(f"run alone:      {result['alone']}")
    print(f"run under load: {result['under_load']}; same accuracy: {result['same_accuracy']}")
    return report_end(result)


if __name__ == "__main__":
    sys.exit(main())
