"""Inside the network in a real browser: a digit drawn on Draw & classify is followed through every layer, one drawn
on the page itself too, and the epoch slider scrubs the filters from the random start to the end of training."""

from __future__ import annotations

import math
import re

import pytest
from playwright.sync_api import expect

from dlcore.runs import RunStore
from tests.e2e.flows import draw, open_draw, reading
from tests.e2e.harness import SCREENSHOTS, wait_rendered
from tests.e2e.harness import screenshot as whole_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
RERUN = 30_000  # ms: a whole path's rerun on a busy 2-core machine takes seconds, past expect's 5 s default
LAPTOP = {"width": 1366, "height": 768}

ONE = [[(140, 40), (140, 240)]]
ZERO = [[(112 + 52 * math.sin(t / 24 * 2 * math.pi), 112 - 76 * math.cos(t / 24 * 2 * math.pi)) for t in range(26)]]


def network_reads(page):
    return page.get_by_test_id("stMarkdown").filter(has_text=re.compile(r"^The network reads"))


def starter_run(app_server) -> int:
    """The model digit_model trained, not one imported by test_draw.py."""
    return min(run.id for run in RunStore(app_server.home).list() if run.status == "done")


@pytest.mark.parametrize("present", ["0", "1"], ids=["plain", "presenter"])
def test_the_whole_canvas_is_in_view_on_a_laptop_screen(watched, app_server, digit_model, present):
    """Issue 23.4: at 1366x768 the canvas was half below the fold, and cut on the right by its column."""
    page, _ = watched
    page.set_viewport_size(LAPTOP)
    page.goto(f"{app_server.url}/inside_the_network?run={starter_run(app_server)}&present={present}")
    wait_rendered(page)
    page.get_by_text("Draw one here", exact=True).click()
    canvas = page.locator("canvas.upper-canvas")
    canvas.wait_for()
    wait_rendered(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"inside-canvas-laptop-present-{present}.png"))
    box = canvas.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= LAPTOP["height"], box
    column = page.get_by_test_id("stColumn").filter(has=canvas).bounding_box()  # the innermost: the canvas's own
    assert box["x"] >= column["x"] and box["x"] + box["width"] <= column["x"] + column["width"], (box, column)


def test_a_drawn_digit_goes_through_every_layer_and_the_filters_scrub(watched, app_server, digit_model):
    page, _ = watched
    open_draw(page, app_server.url)
    starter = starter_run(app_server)
    page.get_by_role("combobox", name="Model").click()  # not a run imported by test_draw.py: it has no epochs to scrub
    page.get_by_role("option", name=re.compile(rf"^#{starter} ")).click()
    wait_rendered(page)
    draw(page, ONE)
    expect(reading(page)).to_have_text("1")
    page.get_by_role("link", name="Layer by layer").click()
    page.wait_for_url(re.compile(r"/inside_the_network\?.*run=\d+"))
    wait_rendered(page)
    expect(page.get_by_role("radio", name="The digit from Draw & classify")).to_be_checked(timeout=RERUN)
    expect(network_reads(page)).to_contain_text("The network reads 1", timeout=RERUN)
    for layer in ("1. conv1 5x5, 8", "4. conv2 5x5, 16", "8. dense1 64", "10. output 10"):
        expect(page.get_by_text(layer, exact=True)).to_be_visible(timeout=RERUN)
    whole_page(page, "inside-drawn-one")

    page.get_by_text("Draw one here", exact=True).click()
    page.locator("canvas.upper-canvas").wait_for()
    draw(page, ZERO)
    expect(network_reads(page)).to_contain_text("The network reads 0", timeout=RERUN)

    epoch = page.get_by_test_id("stSlider").filter(has_text="After epoch").get_by_role("slider")
    epoch.scroll_into_view_if_needed()
    expect(epoch).to_have_attribute("aria-valuetext", "5", timeout=RERUN)  # the newest snapshot first
    epoch.focus()
    epoch.press("Home")
    expect(epoch).to_have_attribute("aria-valuetext", "0", timeout=RERUN)
    wait_rendered(page)
    for step in ("1", "2"):
        epoch.press("ArrowRight")
        expect(epoch).to_have_attribute("aria-valuetext", step, timeout=RERUN)
        wait_rendered(page)
    expect(page.get_by_text("conv1 5x5, 8: All 8 filters", exact=False)).to_be_visible(timeout=RERUN)
    whole_page(page, "inside-drawn-zero-epoch-2")

    embedding = page.locator(".st-key-inside_embedding")
    embedding.scroll_into_view_if_needed()
    point = embedding.locator(".scatterlayer .point").nth(40)
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.get_by_test_id("stImageCaption").filter(has_text=re.compile(r"^test digit \d+: a \d, read as \d$"))
           ).to_be_visible(timeout=RERUN)  # a clicked point shows its digit
