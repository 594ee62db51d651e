"""Build & train in a real browser: a small run trains to its results, a reload finds a live run, divergence explains."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.flows import FINISHED, app_button, open_train, set_epochs, start_run
from tests.e2e.harness import ALERT, screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

def test_a_small_run_trains_to_its_results(watched, app_server):
    page, _ = watched
    open_train(page, app_server.url)
    screenshot(page, "train-setup")
    set_epochs(page, 3)
    run_id = start_run(page)
    done = page.locator(ALERT).filter(has_text=FINISHED)
    expect(done).to_be_visible(timeout=600_000)
    assert f"Run #{run_id} " in done.inner_text()
    accuracy = float(re.search(r"([\d.]+)%", done.inner_text()).group(1))
    assert accuracy > 80, done.inner_text()  # 3 epochs of simple-nn on 4,000 digits reach about 90%
    expect(page.get_by_role("heading", name="Misread test images")).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Test accuracy")).to_contain_text(f"{accuracy:.2f}%")
    wait_rendered(page)
    screenshot(page, "train-results")


def test_a_reload_mid_run_reconnects_to_the_live_run(watched, app_server):
    page, _ = watched
    open_train(page, app_server.url)
    set_epochs(page, 100)  # long enough to be caught mid-run on a fast machine
    run_id = start_run(page)
    pause = page.get_by_role("button", name="Pause")
    expect(pause).to_be_enabled(timeout=60_000)
    pause.click()  # holds the run mid-way, so the reload below meets it live on any machine speed
    resume = page.get_by_role("button", name="Resume")
    expect(resume).to_be_visible()
    expect(page.get_by_test_id("stProgress")).to_contain_text("samples/s")
    # step loss, accuracy and loss per epoch; the weight histograms join them once an epoch has ended
    expect(page.get_by_test_id("stPlotlyChart").nth(2)).to_be_visible()
    screenshot(page, "train-live")

    page.reload()
    wait_rendered(page)
    expect(resume).to_be_visible()
    expect(page.get_by_test_id("stProgress")).to_contain_text("Paused")
    assert f"run={run_id}" in page.url
    resume.click()
    expect(pause).to_be_enabled(timeout=30_000)  # the resumed worker's first report, on a busy machine
    progress = page.get_by_test_id("stProgress")
    expect(progress).to_have_count(1)  # a rerun's old bar can linger a moment beside the new one (CI, under load)
    expect(progress).not_to_contain_text("Paused")
    step = progress.inner_text()
    expect(progress).not_to_have_text(step)  # the reconnected page follows it live
    app_button(page, "Stop").click()
    expect(page.locator(ALERT).filter(has_text=f"Run #{run_id} was stopped")).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="Test accuracy")).to_be_visible()


def test_a_diverging_run_says_why_and_the_page_keeps_working(watched, app_server):
    page, _ = watched
    open_train(page, app_server.url)
    set_epochs(page, 1)
    page.get_by_test_id("stSelectbox").filter(has_text="Optimizer").click()
    page.get_by_role("option", name=re.compile("^SGD")).click()
    wait_rendered(page)
    rate = page.get_by_test_id("stSlider").filter(has_text="Learning rate").get_by_role("slider")
    rate.focus()
    rate.press("End")  # the largest rate offered, 1000: plain SGD's loss overflows within a few steps
    expect(rate).to_have_attribute("aria-valuetext", "1000")
    wait_rendered(page)
    run_id = start_run(page)
    message = page.locator(ALERT).filter(has_text=f"Run #{run_id} diverged")
    expect(message).to_be_visible(timeout=300_000)
    assert "learning rate" in message.inner_text() and "Traceback" not in message.inner_text()
    expect(page.get_by_text("What to try")).to_be_visible()
    screenshot(page, "train-diverged")

    rate.focus()
    rate.press("Home")
    wait_rendered(page)
    expect(page.get_by_role("button", name="Start training")).to_be_enabled()

