"""Attention in a real browser: a vision transformer trains from Start, then a digit drawn on the page shows where
each head of its last block, and the rollout, looked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.flows import draw_until_shown
from tests.e2e.harness import screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
LAPTOP = {"width": 1366, "height": 768}
SEVEN = [[(50, 40), (150, 40), (90, 175)]]  # the page's canvas is 200 pixels square


@pytest.mark.parametrize("present", ["1"], ids=["presenter"])  # the larger layout; plain mode: AppTests, screenshots
def test_a_vision_transformer_trains_then_shows_where_its_heads_look_at_a_drawing(watched, app_server, present):
    page, _ = watched
    page.set_viewport_size(LAPTOP)
    page.goto(f"{app_server.url}/attention?present={present}")
    wait_rendered(page)
    page.get_by_test_id("stSelectbox").filter(has_text="Task").click()
    page.get_by_role("option", name="Digits (a vision transformer)").click()
    wait_rendered(page)
    epochs = page.get_by_label("Epochs")
    epochs.fill("1")
    epochs.press("Enter")
    wait_rendered(page)
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("Draw a digit to see where each head looks")).to_be_visible(timeout=120_000)
    page.locator("canvas.upper-canvas").wait_for()
    draw_until_shown(page, SEVEN, "Where its class token looked")
    expect(page.get_by_text("Where its class token looked")).to_be_visible()
    expect(page.get_by_text("rollout", exact=True)).to_be_visible()  # the picture of all blocks' attention
    expect(page.get_by_role("tab", name="All heads")).to_be_visible()
    screenshot(page, f"attention-drawn-present-{present}")
