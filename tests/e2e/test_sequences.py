"""Sequences in a real browser: an LSTM trains from Start; the finished run reads a test digit row by row, fewer rows
when the slider says so, and a digit drawn on the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.flows import draw_until_shown
from tests.e2e.harness import screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
LAPTOP = {"width": 1366, "height": 768}
ONE = [[(100, 25), (100, 175)]]  # the page's canvas is 200 pixels square


@pytest.mark.parametrize("present", ["1"], ids=["presenter"])  # the larger layout; plain mode: AppTests, screenshots
def test_an_lstm_trains_then_reads_a_digit_row_by_row(watched, app_server, present):
    page, _ = watched
    page.set_viewport_size(LAPTOP)
    page.goto(f"{app_server.url}/sequences?present={present}")
    wait_rendered(page)
    epochs = page.get_by_label("Epochs")
    epochs.fill("1")
    epochs.press("Enter")
    wait_rendered(page)
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("Rows read: 28 of 28")).to_be_visible(timeout=120_000)  # trained, and reading
    expect(page.get_by_text("After row 28 it reads")).to_be_visible()
    screenshot(page, f"sequences-present-{present}")
    page.get_by_role("slider").first.focus()
    page.keyboard.press("Home")  # one row read
    expect(page.get_by_text("Rows read: 1 of 28")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("After row 1 it reads")).to_be_visible()
    page.get_by_text("Draw one here").click()
    page.locator("canvas.upper-canvas").wait_for()
    draw_until_shown(page, ONE, "After row 1 it reads")
    expect(page.get_by_text("Draw a digit to see it read")).to_be_hidden()
    screenshot(page, f"sequences-drawn-present-{present}")
