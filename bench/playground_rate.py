"""How often the 2-D playground's boundary is redrawn in a real browser while it plays: the goal is 4 a second.

Starts `streamlit run app.py` with a fresh DLCORE_HOME, opens the playground in Debian's Chromium at 1366x768,
presses Play, lets it warm up, then counts the different boundary pictures the page showed over a window, sampled
every 20 ms inside the page (tests/e2e/flows.boundary_redraws). Then the same in presenter mode (larger pictures).
The epochs trained per second come with it, from the page's epoch counter.

With --with-cnn, another student's CNN trains meanwhile: a second browser starts the `cnn` preset on Build & train
(its worker process beside the server, as a class has it), and the playground is measured once it trains; the
issue's goal there is 4 a second.

Usage: python bench/playground_rate.py [--seconds 5] [--with-cnn]
Last stdout line: {"redraws_per_s": ..., "presenter_redraws_per_s": ..., "epochs_per_s": ..., "goal_per_s": 4}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.flows import (app_button, boundary_redraws, open_playground, open_train, playground_epoch,  # noqa: E402
                              start_run)
from tests.e2e.harness import CHROMIUM_ARGS, AppServer, require_chromium  # noqa: E402

GOAL_PER_S = 4


def measure(browser, url: str, query: str, seconds: float) -> tuple[float, float]:
    """(redraws per second, epochs per second) while playing."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        open_playground(page, url, query)
        page.get_by_role("button", name="Play").click()
        page.wait_for_function("() => parseInt(document.querySelector('[data-testid=stMetricValue]').innerText) >= 3")
        page.wait_for_timeout(1000)
        before = playground_epoch(page)
        redraws = boundary_redraws(page, seconds)
        epochs = playground_epoch(page) - before
        page.get_by_role("button", name="Pause").click()
        return redraws / seconds, epochs / seconds
    finally:
        context.close()


def cnn_training(browser, url: str):
    """Another student's page: the cnn preset started on Build & train and training (its progress bar drawn)."""
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.set_default_timeout(180_000)
    open_train(page, url, "?net=cnn&epochs=20")
    start_run(page)
    page.get_by_test_id("stProgress").first.wait_for()
    return page


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--with-cnn", action="store_true", help="while another student's CNN trains on the server")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server = AppServer(Path(tempfile.mkdtemp()) / "home").start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
            student = cnn_training(browser, server.url) if args.with_cnn else None
            rate, epochs = measure(browser, server.url, "", args.seconds)
            presenter, _ = measure(browser, server.url, "?present=1", args.seconds)
            if student is not None:
                app_button(student, "Stop").click()
                student.context.close()
            browser.close()
    finally:
        server.stop()
    busy = " while a CNN trained" if args.with_cnn else ""
    print(f"boundary redrawn {rate:.1f}/s ({presenter:.1f}/s in presenter mode){busy}, {epochs:.0f} epochs/s; goal "
          f"{GOAL_PER_S}/s", file=sys.stderr)
    print(json.dumps({"redraws_per_s": round(rate, 2), "presenter_redraws_per_s": round(presenter, 2),
                      "epochs_per_s": round(epochs, 1), "goal_per_s": GOAL_PER_S, "with_cnn": args.with_cnn}))


if __name__ == "__main__":
    main()
