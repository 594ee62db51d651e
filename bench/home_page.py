"""How soon a fresh server draws the home page: the goal is 3 s from the server being up.

Each repeat starts `streamlit run app.py` with a fresh DLCORE_HOME, waits for /_stcore/health to answer, then
opens the home page in Debian's Chromium and stops the clock when its title is drawn and its script has ended.
The baseline is the same measurement for a one-line Streamlit app (st.title only) started the same way in
this process, so the ratio shows what the playground adds to Streamlit's own first page.

Usage: python bench/home_page.py [--repeats 3]
Last stdout line: {"home_s": median seconds to the title, "home_script_done_s": ..., "baseline_s": ...,
                   "ratio": home / baseline, "goal_s": 3.0, ...}
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness import CHROMIUM_ARGS, SCRIPT_DONE, AppServer, new_page, require_chromium  # noqa: E402

GOAL_S = 3.0


def first_page_seconds(browser, script: str, root: Path) -> tuple[float, float]:
    """(seconds until the title is drawn, seconds until the script has ended) for a fresh server's first visit."""
    server = AppServer(root / "home", script=script).start()
    try:
        page, _ = new_page(browser, server.url)
        start = time.perf_counter()
        page.goto(server.url)
        page.get_by_role("heading", level=1).first.wait_for(timeout=120_000)
        drawn = time.perf_counter() - start
        page.wait_for_selector(SCRIPT_DONE, state="attached", timeout=120_000)
        done = time.perf_counter() - start
        page.context.close()
        return drawn, done
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {"home": [], "home_script_done": [], "baseline": []}
    with tempfile.TemporaryDirectory(prefix="dlcore-home-bench-") as tmp, sync_playwright() as playwright:
        minimal = Path(tmp) / "minimal_app.py"
        minimal.write_text('import streamlit as st\n\nst.title("Hello")\n')
        browser = playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        for i in range(args.repeats):
            drawn, done = first_page_seconds(browser, "app.py", Path(tmp) / f"home-{i}")
            times["home"].append(drawn)
            times["home_script_done"].append(done)
            times["baseline"].append(first_page_seconds(browser, str(minimal), Path(tmp) / f"baseline-{i}")[0])
            print(f"repeat {i + 1}: home drawn {drawn:.2f} s (script done {done:.2f} s), "
                  f"baseline {times['baseline'][-1]:.2f} s", file=sys.stderr)
        browser.close()
    median = {name: statistics.median(values) for name, values in times.items()}
    print(json.dumps({"home_s": round(median["home"], 2), "home_script_done_s": round(median["home_script_done"], 2),
                      "baseline_s": round(median["baseline"], 2), "ratio": round(median["home"] / median["baseline"], 2),
                      "goal_s": GOAL_S, "under_goal": median["home"] < GOAL_S,
                      "runs": {name: [round(t, 2) for t in values] for name, values in times.items()}}))


if __name__ == "__main__":
    main()
