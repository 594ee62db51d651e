"""Draw & classify in a real browser: mouse strokes on the canvas are read as the digit drawn; bad files get a sentence."""

from __future__ import annotations

import io
import math
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.flows import draw, open_draw, picture_upload, reading
from tests.e2e.harness import ALERT, SCREENSHOTS, screenshot, wait_rendered

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ONE = [[(140, 40), (140, 240)]]
SEVEN = [[(70, 60), (210, 60), (120, 240)]]
LAPTOP = {"width": 1366, "height": 768}
READ_MS = 30_000  # a stroke's reading is a rerun of the page: seconds, not Playwright's default 5, on a busy machine
ZERO = [[(140 + 65 * math.sin(t / 24 * 2 * math.pi), 140 - 95 * math.cos(t / 24 * 2 * math.pi)) for t in range(26)]]


def test_drawn_one_and_zero_are_read_as_drawn(watched, app_server, digit_model):
    page, _ = watched
    open_draw(page, app_server.url)
    expect(page.locator(ALERT).filter(has_text="Draw a digit")).to_be_visible()  # an empty canvas gets no guess
    expect(reading(page)).to_have_count(0)

    draw(page, ONE)
    expect(reading(page)).to_have_text("1", timeout=READ_MS)
    wait_rendered(page)
    screenshot(page, "draw-one")

    page.get_by_role("button", name="Reset canvas & history").click()
    expect(page.locator(ALERT).filter(has_text="Draw a digit")).to_be_visible()
    draw(page, ZERO)
    expect(reading(page)).to_have_text("0", timeout=READ_MS)
    wait_rendered(page)
    screenshot(page, "draw-zero")


def _overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def _on_screen(box: dict) -> bool:
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= LAPTOP["width"] and \
        box["y"] + box["height"] <= LAPTOP["height"]


@pytest.mark.parametrize("query", ["", "?present=1"], ids=["plain", "presenter"])
def test_drawing_answer_and_why_share_a_laptop_screen(watched, app_server, digit_model, query):
    """At 1366x768, unscrolled, the canvas, the answer, the preprocessing steps and the saliency map are all in view,
    and the canvas's toolbar (shown while the mouse is over the canvas) covers none of the controls."""
    page, _ = watched
    page.set_viewport_size(LAPTOP)
    page.goto(f"{app_server.url}/draw_and_classify{query}")
    wait_rendered(page)
    canvas = page.locator("canvas.upper-canvas")
    draw(page, SEVEN)
    expect(reading(page)).to_have_text("7", timeout=READ_MS)
    wait_rendered(page)

    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] - 20, box["y"] + 20)
    toolbar = page.locator(".dc-toolbar")  # inside the component's open shadow root, which Playwright's CSS pierces
    expect(toolbar).to_have_css("opacity", "1")
    controls = {"brush slider": page.get_by_test_id("stSlider").filter(has_text="Brush size"),
                "model picker": page.get_by_test_id("stSelectbox").filter(has_text="Model"),
                "input choice": page.get_by_test_id("stRadio")}
    for name, control in controls.items():
        assert not _overlaps(toolbar.bounding_box(), control.bounding_box()), f"the canvas toolbar covers the {name}"
    shot = SCREENSHOTS / f"draw-laptop{query and '-presenter'}.png"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=shot)  # the window as the user sees it, not the whole page

    assert page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTop") == 0
    shown = {"canvas": canvas, "answer": reading(page), "probabilities": page.locator(".st-key-draw_probabilities"),
             "steps": page.get_by_test_id("stImage"), "saliency": page.locator(".st-key-draw_saliency")}
    expect(shown["steps"]).to_have_count(5)
    for name, parts in shown.items():
        for part in parts.all():
            assert _on_screen(part.bounding_box()), f"{name} is outside the 1366x768 window (see {shot})"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _upload(page, name: str, data: bytes) -> None:
    picture_upload(page).get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        {"name": name, "mimeType": "image/png", "buffer": data})


def test_bad_uploads_each_get_a_sentence_and_the_page_keeps_reading(watched, app_server, digit_model):
    page, watch = watched
    open_draw(page, app_server.url)
    page.get_by_test_id("stRadio").get_by_text("Upload", exact=True).click()
    picture_upload(page).get_by_test_id("stFileUploaderDropzoneInput").wait_for(state="attached")

    bar = Image.new("L", (120, 160), 255)
    bar.paste(0, (50, 20, 70, 140))  # a dark "1" on white paper, as a phone photo of a page would be
    good = _png(bar)
    bad = {
        "empty.png": (b"", "empty"),
        "cut.png": (good[: len(good) // 2], "damaged or cut short"),
        "huge.png": (_png(Image.new("L", (7072, 7072))), "megapixel"),  # 50 megapixels, only ~50 kB compressed
        "notes.png": (b"These are my lecture notes, not a picture.", "not an image"),
    }
    for name, (data, says) in bad.items():
        _upload(page, name, data)
        message = page.locator(ALERT).filter(has_text=name)
        expect(message).to_contain_text(says)
        assert "Traceback" not in message.inner_text() and len(message.inner_text()) < 200
        assert not watch.problems(), f"{name}: {watch.problems()}"
        if name == "huge.png":
            screenshot(page, "draw-upload-too-many-pixels")

    _upload(page, "one.png", good)
    expect(reading(page)).to_have_text("1", timeout=READ_MS)
    expect(page.locator(ALERT).filter(has_text="notes.png")).to_have_count(0)


def test_weights_from_elsewhere_are_imported_and_a_disguised_pickle_is_refused(watched, app_server, digit_model):
    import pickle

    from dlcore import export
    from dlcore.runs import RunStore

    page, watch = watched
    open_draw(page, app_server.url)
    page.get_by_test_id("stPopover").filter(has_text="Use weights trained elsewhere").click()
    weights_input = page.get_by_test_id("stFileUploader").filter(has_text="Weights:").get_by_test_id("stFileUploaderDropzoneInput")

    weights_input.set_input_files({"name": "model.safetensors", "mimeType": "application/octet-stream",
                                   "buffer": pickle.dumps({"weight": [0.0] * 10})})
    wait_rendered(page)
    page.get_by_role("button", name="Import").click()
    refusal = page.locator(ALERT).filter(has_text="safetensors")
    expect(refusal).to_be_visible()
    assert "Traceback" not in refusal.inner_text() and len(refusal.inner_text()) < 300
    screenshot(page, "draw-import-refused")

    starter = RunStore(app_server.home).latest_finished()
    name, content = export.bundle(starter)
    weights_input.set_input_files({"name": name, "mimeType": "application/zip", "buffer": content})
    expect(page.get_by_test_id("stFileChipName").filter(has_text=name)).to_be_visible()  # uploaded: a click made
    expect(page.get_by_test_id("stFileChipIconSpinner")).to_have_count(0)  # during the upload's rerun can be lost
    wait_rendered(page)
    page.get_by_role("button", name="Import").click()  # checked, then scored on the test split: seconds
    imported = page.locator(ALERT).filter(has_text="it is the model below now")  # the picker's, after the rerun
    expect(imported).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stPopoverBody")).to_have_count(0)  # closed, off the canvas
    run_id = re.search(r"run #(\d+)", imported.inner_text()).group(1)
    assert run_id != str(starter.id)
    expect(page.get_by_role("combobox", name="Model")).to_have_value(re.compile(rf"^#{run_id} CNN 8-16 / 64"))
    draw(page, ONE)
    expect(reading(page)).to_have_text("1", timeout=READ_MS)
    assert not watch.problems(), watch.problems()
