"""GAN lab in a real browser: play and watch the generator's samples move, pause, step the discriminator alone, and
a new dataset from the Data popover starting a fresh GAN with the address following."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.flows import boundary_redraws, playground_epoch
from tests.e2e.harness import screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PICTURE = "real points and the generator's samples"


def settled_epoch(page) -> int:
    """The epoch once two readings a second apart agree: the rerun that pauses may still be drawing."""
    held = playground_epoch(page)
    for _ in range(30):
        page.wait_for_timeout(1000)
        now, held = held, playground_epoch(page)
        if now == held:
            return held
    raise AssertionError("the epoch never stopped moving")


def test_play_pause_step_and_a_new_dataset(watched, app_server):
    page, _ = watched
    page.goto(f"{app_server.url}/gan_lab")
    wait_rendered(page)
    page.get_by_role("img", name=PICTURE).wait_for()
    assert playground_epoch(page) == 0
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.wait_for_function("() => parseInt([...document.querySelectorAll('[data-testid=stMetricValue]')][0].innerText"
                           ".replace(/,/g, '')) >= 20", timeout=60_000)
    assert boundary_redraws(page, 3.0, PICTURE) >= 2  # the samples move while it plays
    screenshot(page, "gan-lab-playing")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Step")).to_be_enabled(timeout=30_000)
    held = settled_epoch(page)
    page.get_by_text("D only", exact=True).click()
    page.get_by_role("button", name="Step").click()
    expect(page.get_by_test_id("stMetric").filter(has_text="Epoch")).to_contain_text(f"{held + 1:,}", timeout=30_000)
    page.get_by_role("button", name="Data").click()
    page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name="Two gaussians").click()
    page.keyboard.press("Escape")
    page.wait_for_url("**dataset=gauss**")
    expect(page.get_by_test_id("stMetric").filter(has_text="Epoch")).to_contain_text("0")
    expect(page.get_by_text("Two gaussians, orange points")).to_be_visible()
