"""Transfer learning in a real browser: the class draws three symbols five times each on the page's canvas, trains
three ways from the starter model, and the best reads a new drawing on Draw & classify by its class's name."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.flows import draw, reading
from tests.e2e.harness import screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
LAPTOP = {"width": 1366, "height": 768}
SYMBOLS = {  # strokes on the page's 200-pixel canvas, moved a little each time as a hand would
    "circle": lambda d: [[(100 + d, 40), (150 + d, 60), (160 + d, 110), (130 + d, 155), (80 + d, 160), (45 + d, 115),
                          (55 + d, 60), (100 + d, 40)]],
    "cross": lambda d: [[(50 + d, 40), (150 + d, 160)], [(150 + d, 40), (50 + d, 160)]],
    "bar": lambda d: [[(100 + d, 30), (100 + d, 170)]],
}


def add_drawing(page, label: str, strokes, count: int) -> None:
    """Clear the canvas, draw, add; again while the drawing did not land (the canvas may miss a first stroke)."""
    for _ in range(3):
        page.get_by_role("button", name="Reset canvas & history").click()
        wait_rendered(page)
        draw(page, strokes)
        wait_rendered(page)
        page.wait_for_timeout(700)  # the canvas hands its pixels over a moment after the stroke, as a hand moves on
        page.get_by_role("button", name="Add this drawing").click()
        try:
            expect(page.get_by_text(re.compile(rf"\b{label} {count}\b"))).to_be_visible(timeout=10_000)
            return
        except AssertionError:
            continue
    raise AssertionError(f"drawing {count} of {label} never landed")


def test_the_class_draws_three_symbols_trains_three_ways_and_reads_a_new_drawing(watched, app_server, digit_model):
    page, _ = watched
    page.set_viewport_size(LAPTOP)
    page.goto(f"{app_server.url}/transfer")
    wait_rendered(page)
    page.locator("canvas.upper-canvas").wait_for()
    for label, symbol in SYMBOLS.items():
        field = page.get_by_label("Which class is it?")
        field.fill(label)
        field.press("Enter")
        wait_rendered(page)
        for number in range(5):
            add_drawing(page, label, symbol(6 * number - 12), number + 1)
    screenshot(page, "transfer-drawn")
    page.get_by_role("button", name="Train three ways").click()
    expect(page.get_by_text("read the test pictures best")).to_be_visible(timeout=240_000)
    for way in ("Frozen features", "Fine-tuned", "From scratch"):
        expect(page.get_by_test_id("stMetric").filter(has_text=way)).to_be_visible()
    screenshot(page, "transfer-trained")
    page.get_by_role("link", name="Try it in Draw & classify").click()
    page.wait_for_url(re.compile(r"draw_and_classify\?run=\d+"))
    wait_rendered(page)
    page.locator("canvas.upper-canvas").wait_for()
    for _ in range(3):  # the canvas may miss the first stroke after the page loads
        draw(page, [[(70, 60), (210, 220)], [(210, 60), (70, 220)]])  # a cross, on Draw & classify's 280 pixels
        try:
            expect(reading(page)).to_have_text(re.compile(r"^(circle|cross|bar)$"), timeout=15_000)
            break
        except AssertionError:
            continue
    expect(reading(page)).to_have_text(re.compile(r"^(circle|cross|bar)$"))
    screenshot(page, "transfer-reads")
