"""Generative models in a real browser: a 2-D VAE trains from Start, its map is drawn live, and a click on the
finished map draws what decodes there (a drawing placed on the map: tests/app_pages/test_generative.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
LAPTOP = {"width": 1366, "height": 768}


@pytest.mark.parametrize("present", ["0", "1"], ids=["plain", "presenter"])
def test_a_vae_trains_live_and_a_click_on_its_map_decodes_there(watched, app_server, present):
    page, _ = watched
    page.set_viewport_size(LAPTOP)
    page.goto(f"{app_server.url}/generative?present={present}")
    wait_rendered(page)
    epochs = page.get_by_label("Epochs")
    epochs.fill("10")
    epochs.press("Enter")
    wait_rendered(page)
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("The map as it learns")).to_be_visible(timeout=60_000)  # live, from the worker
    screenshot(page, f"generative-live-present-{present}")
    expect(page.get_by_text("Click anywhere on the map")).to_be_visible(timeout=120_000)  # finished
    wait_rendered(page)
    chart = page.locator(".js-plotly-plot").filter(has=page.locator(".nsewdrag")).first
    box = chart.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    expect(page.get_by_text("decodes to")).to_be_visible(timeout=30_000)
    screenshot(page, f"generative-map-present-{present}")
