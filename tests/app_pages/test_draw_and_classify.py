"""Draw & classify in AppTest. AppTest cannot move a mouse, so a drawing is put where the canvas component
keeps its value (session state under the canvas key, a PNG data URL as the browser sends it); the page then
reads it through the real st_canvas call."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from dlcore import jobs, predict, preprocess, runs, training
from tests.app_pages.apptest import opened, plain
from tests.test_preprocess import as_rgba_canvas, seven

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "3_draw_and_classify.py")
CANVAS_KEY = "draw_canvas"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The starter network after two epochs on the 5,000 sample digits: a few seconds, and it reads digits.

    One thread, as the app's server trains: torch's spinning threads crawl when the machine is busy."""
    config = predict.STARTER_CONFIG.with_changes(epochs=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = training.Trainer(config)
        trainer.run()
    finally:
        torch.set_num_threads(threads)
    return runs.save_checkpoint(tmp_path_factory.mktemp("draw") / "starter.safetensors", trainer.model, config)


@pytest.fixture
def model_run(trained) -> runs.Run:
    store = runs.RunStore()
    run_id = store.create(predict.STARTER_CONFIG)
    store.update(run_id, status="done", checkpoint=str(trained))
    return store.get(run_id)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def draw(at: AppTest, picture: np.ndarray, strokes: int = 1) -> AppTest:
    """What the canvas component sends after a stroke: its Fabric objects and the rendered PNG."""
    url = "data:image/png;base64," + base64.b64encode(png(picture)).decode()
    objects = [{"type": "path"}] * strokes
    at.session_state[CANVAS_KEY] = {"drawing": {"raw": {"objects": objects, "background": "#000000"}, "data": url},
                                    "backgroundFit": None}
    at.run()
    assert not at.exception, at.exception
    return at


def page(**query) -> AppTest:
    return opened(PAGE, timeout=60, **query)


def reading(at: AppTest) -> str | None:
    metrics = [m for m in at.metric if m.label == "The model reads"]
    return metrics[0].value if metrics else None


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


@pytest.fixture
def keep_threads():
    """The starter button gives training all cores but one (training.share_cpu); later tests get theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_without_a_model_one_click_trains_the_starter(tiny_data_dir, monkeypatch, keep_threads):
    monkeypatch.setattr(predict, "STARTER_CONFIG", predict.STARTER_CONFIG.with_changes(dataset="mnist", epochs=1))
    at = page()
    assert "no trained model" in at.info[0].value and not at.selectbox
    at.button[0].click().run()
    run_id = at.session_state["starter_run"]
    assert jobs.job_manager().store.get(run_id).config.dataset == "mnist"
    ended = jobs.job_manager().wait(run_id, timeout=60)
    assert ended.status == "done", ended.message
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox[0].value == run_id and at.selectbox[0].options[0].startswith(f"#{run_id} CNN 8-16 / 64")
    assert "Draw a digit" in at.info[0].value


def test_empty_canvas_gets_no_guess(model_run):
    at = page()
    assert "Draw a digit" in at.info[0].value and reading(at) is None and not charts(at)
    draw(at, np.zeros((280, 280, 4), dtype=np.uint8), strokes=0)  # drawn, then cleared with the toolbar
    assert "Draw a digit" in at.info[0].value and reading(at) is None


def test_a_drawn_seven_is_read_with_every_step_shown(model_run):
    picture = as_rgba_canvas(seven(top=120, left=40, scale=5))
    at = draw(page(), picture)
    expected = predict.read(predict.load(model_run.checkpoint), picture)
    assert reading(at) == "7" == expected.prediction.label
    assert at.metric[0].delta == f"{expected.prediction.confidence:.1%} confident"

    probabilities, saliency = charts(at)
    bars = probabilities["data"][0]
    assert bars["type"] == "bar" and len(bars["y"]) == 10 and sum(bars["y"]) == pytest.approx(1, abs=1e-5)
    heat, outline = saliency["data"]
    assert (heat["type"], outline["type"]) == ("heatmap", "contour")
    assert heat["z"]["shape"] == outline["z"]["shape"] == "28, 28"  # Plotly sends arrays as typed binary
    assert outline["contours"]["coloring"] == "none"  # the digit as a line over the heat, not a layer washing it out
    colours = [colour for _, colour in heat["colorscale"]]
    assert colours[0] == "#000000" and not [c for c in colours if re.fullmatch(r"#0000[0-9]{2}", c) and c != "#000000"], \
        "Streamlit's chart theme recolours #000001-#000099 as its own placeholders"
    assert len(at.image) == 5
    assert plain(next(c.value for c in at.caption if "→" in c.value)) == \
        "grayscale → not inverted → cropped → into 20x20 (14x20) → centred in 28x28"

    at.toggle(key="draw_naive").set_value(True).run()
    assert at.image[-1].captions == ["the whole picture squashed to 28x28"]
    assert f"would read **{expected.naive_prediction.label}**" in at.markdown[-1].value


def test_a_dot_is_read_but_doubted(model_run):
    """A softmax names a class for anything: a single dab of the brush gets a reading and a sentence that says why
    not to trust it (it used to be read as a confident 0)."""
    dot = np.zeros((280, 280), dtype=np.uint8)
    dot[130:148, 130:148] = 255
    at = draw(page(), as_rgba_canvas(dot))
    assert reading(at) is not None
    assert plain(at.warning[0].value).startswith("This looks like a dot, not a digit")
    at = draw(page(), as_rgba_canvas(seven(top=60, left=80, scale=6)))
    assert not [w for w in at.warning if "looks like a dot" in plain(w.value)]


def test_uploads_are_read_and_bad_files_get_a_sentence(model_run):
    at = page()
    at.radio(key="draw_source").set_value("Upload").run()
    assert reading(at) is None and "Draw a digit" in at.info[0].value

    at.file_uploader(key="draw_upload").set_value(("notes.png", b"not a picture at all", "image/png")).run()
    assert not at.exception and reading(at) is None
    assert plain(at.error[0].value).startswith("notes.png is not an image")

    paper = np.dstack([255 - seven(size=500, top=60, left=200, scale=12)] * 3)  # dark ink on white paper
    at.file_uploader(key="draw_upload").set_value(("seven.png", png(paper), "image/png")).run()
    assert not at.exception and not at.error and reading(at) == "7"
    assert any(plain(caption.value).startswith("grayscale → inverted → cropped") for caption in at.caption)


def test_an_upload_is_decoded_once_not_on_every_rerun(model_run, monkeypatch):
    calls = []

    def counted(data, name="The file"):
        calls.append(name)
        return decode(data, name)

    decode = preprocess.decode
    monkeypatch.setattr(preprocess, "decode", counted)
    at = page()
    at.radio(key="draw_source").set_value("Upload").run()
    paper = np.dstack([255 - seven(size=500, top=60, left=200, scale=12)] * 3)
    at.file_uploader(key="draw_upload").set_value(("seven.png", png(paper), "image/png")).run()
    at.toggle(key="draw_naive").set_value(True).run()
    at.run()
    assert not at.exception and reading(at) == "7" and calls == ["seven.png"]

    at.file_uploader(key="draw_upload").set_value(("notes.png", b"not a picture", "image/png")).run()
    at.run()
    assert "not an image" in plain(at.error[0].value) and calls == ["seven.png", "notes.png"]


def test_picker_lists_finished_runs_latest_first(model_run, trained):
    store = runs.RunStore()
    newer = store.create(predict.STARTER_CONFIG.with_changes(epochs=2))
    store.update(newer, status="stopped", checkpoint=str(trained))
    store.update(store.create(predict.STARTER_CONFIG), status="failed")
    at = page()
    picker = at.selectbox(key="draw_model")
    assert picker.value == newer
    assert picker.options == [store.get(newer).label, model_run.label]


def test_a_link_to_a_run_picks_it_and_a_bad_one_says_so(model_run, trained):
    store = runs.RunStore()
    newer = store.create(predict.STARTER_CONFIG.with_changes(epochs=2))
    store.update(newer, status="done", checkpoint=str(trained))
    at = page(run=str(model_run.id))
    assert at.selectbox(key="draw_model").value == model_run.id and not at.warning
    at.selectbox(key="draw_model").set_value(newer).run()
    assert at.selectbox(key="draw_model").value == newer  # the link picks once; the student's choice then holds
    at = page(run="12abc")
    assert at.selectbox(key="draw_model").value == newer and "'12abc' is not a finished model" in plain(at.warning[0].value)


def test_a_newest_model_that_cannot_load_is_a_sentence_not_an_exception(model_run, tmp_path):
    store = runs.RunStore()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not weights")
    newest = store.create(predict.STARTER_CONFIG)
    store.update(newest, status="done", checkpoint=str(broken))
    at = page()
    assert at.selectbox(key="draw_model").value == newest
    assert "cannot be used" in plain(at.error[0].value) and "not a safetensors weights file" in plain(at.error[0].value)
    at.selectbox(key="draw_model").set_value(model_run.id).run()
    assert not at.exception and not at.error
