"""How often a fast run's live step-loss chart changes in a real browser: the goal is at least once a second.

Starts `streamlit run app.py` with a fresh DLCORE_HOME, opens Build & train in Debian's Chromium at 1366x768, starts
the starting MLP for 100 epochs (on mnist-sample, an epoch is well under a second here), waits for its first steps,
then counts the different step-loss charts the page drew over a window, read from Plotly's figure every 50 ms
(tests/e2e/flows.step_chart_changes). Then the same in presenter mode. Issue 14.3 counted 7 changes in 10 s before
the bar and step losses got a fragment of their own.

Usage: DLCORE_DATA_DIR=../shared/data python bench/live_chart_rate.py [--seconds 10]
Last stdout line: {"changes_per_s": ..., "presenter_changes_per_s": ..., "goal_per_s": 1}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.flows import app_button, open_train, start_run, step_chart_changes  # noqa: E402
from tests.e2e.harness import CHROMIUM_ARGS, AppServer, require_chromium  # noqa: E402

GOAL_PER_S = 1


def measure(browser, url: str, query: str, seconds: float) -> float:
    """Step-chart changes per second while a fast run trains."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        open_train(page, url, query)  # 100 epochs come in the setup link: presenter mode hides the settings
        start_run(page)
        page.get_by_test_id("stProgress").filter(has_text="samples/s").wait_for()
        changes = step_chart_changes(page, seconds)
        app_button(page, "Stop").click()
        return changes / seconds
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server = AppServer(Path(tempfile.mkdtemp()) / "home").start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
            rate = measure(browser, server.url, "?epochs=100", args.seconds)
            presenter = measure(browser, server.url, "?epochs=100&present=1", args.seconds)
            browser.close()
    finally:
        server.stop()
    print(f"step-loss chart changed {rate:.1f}/s ({presenter:.1f}/s in presenter mode); goal {GOAL_PER_S}/s",
          file=sys.stderr)
    print(json.dumps({"changes_per_s": round(rate, 2), "presenter_changes_per_s": round(presenter, 2),
                      "goal_per_s": GOAL_PER_S}))


if __name__ == "__main__":
    main()
