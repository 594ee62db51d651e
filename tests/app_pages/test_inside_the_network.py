"""Inside the network in AppTest: every seed preset and a custom CNN with batch norm, trained for real on the
synthetic digits, show a digit's path, their weights epoch by epoch, histograms and the embedding."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dlcore import TrainConfig, jobs, models, sequences
from dlcore.config import ConvBlock, DenseLayer, ModelSpec
from tests.app_pages.apptest import opened, plain, rerun_until
from ui.charts import CLASS_COLOURS
from ui.inside import DRAWN

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "4_inside_the_network.py")
CNN_BN = ModelSpec("cnn", conv=(ConvBlock(8, batch_norm=True, pool="max"), ConvBlock(16, pool="avg", batch_norm=True)),
                   dense=(DenseLayer(32, dropout=0.2, batch_norm=True),))
NETWORKS = {**models.PRESETS, "custom-cnn-bn": CNN_BN, "simple-lstm": sequences.PRESETS["simple-lstm"]}


pytestmark = pytest.mark.usefixtures("trained_runs_page")


def trained(spec: ModelSpec, epochs: int = 2) -> int:
    manager = jobs.job_manager()
    run_id = manager.submit(TrainConfig(dataset="mnist", model=spec, epochs=epochs, batch_size=32))
    assert manager.wait(run_id, timeout=120).status == "done"
    return run_id


def layer_titles(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**") and ". " in m.value.split("**")[1]]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def pictures(at: AppTest, alt: str) -> list[str]:
    """The pictures drawn as HTML whose alt text starts with `alt`."""
    return [html.proto.body for html in at.get("html") if f'alt="{alt}' in html.proto.body]


def tooltips(picture: str) -> list[str]:
    return re.findall(r'<div title="([^"]*)"', picture)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_a_finished_run_shows_its_path_its_weights_by_epoch_and_its_embedding(name):
    spec = NETWORKS[name]
    run_id = trained(spec)
    at = opened(PAGE, run=str(run_id))
    assert at.selectbox(key="inside_run").value == run_id
    rows = models.describe(spec)
    titles = layer_titles(at)
    assert [title.split("**")[1] for title in titles] == [f"{i}. {row.name}" for i, row in enumerate(rows, 1)]
    assert at.radio(key="inside_source").value == "test"  # nothing drawn yet in this session
    slider = at.select_slider(key="inside_epoch")
    assert slider.options == ["0", "1", "2"] and slider.value == 2
    before = pictures(at, "")
    slider.set_value(0).run()
    assert not at.exception
    assert pictures(at, "") != before or spec.sequence  # the random start's weights are other pictures (a recurrent
    # layer's are not drawn as pictures: the page says so)
    assert at.selectbox(key="inside_histogram").options
    assert any(chart["layout"].get("title", {}).get("text", "").endswith("of the variation") for chart in charts(at))
    assert "of them lie nearer the middle of the class they were read as" in " ".join(c.value for c in at.caption)
    if spec.sequence:  # the state after each row, the rows across
        assert any(chart["layout"]["xaxis"].get("title", {}).get("text") == "after row" for chart in charts(at))


def test_the_filters_show_what_changed_since_epoch_0():
    """Issue 23.4: the CNN preset's 3x3 filters looked the same at epoch 0 and 3. The page opens on their change since
    the random start: nothing at epoch 0, something after training."""
    run_id = trained(models.preset("cnn"))
    at = opened(PAGE, run=str(run_id))
    assert at.radio(key="inside_view").value == "change"

    def filters() -> tuple[list[str], str]:
        """conv1's hover texts, one per filter, and its caption."""
        (picture,) = pictures(at, "conv1 3x3, 32 weights")
        caption = next(m.value for m in at.markdown if m.value.startswith("**conv1 3x3, 32**"))
        return tooltips(picture), caption

    hovers, caption = filters()
    assert len(hovers) == 32 and all(text.split(": ")[1].startswith("changed by") for text in hovers)
    assert any(text.split(": ")[1] != "changed by 0.000 to 0.000" for text in hovers)
    moved = float(caption.split("moved by up to ")[1].split(" ")[0])
    assert moved > 0
    at.select_slider(key="inside_epoch").set_value(0).run()
    hovers, caption = filters()
    assert {text.split(": ")[1] for text in hovers} == {"changed by 0.000 to 0.000"}
    assert "moved by up to 0.000 from a random start" in caption
    at.radio(key="inside_view").set_value("weights").run()
    hovers, _ = filters()
    assert all(text.split(": ")[1].startswith("from -0.") for text in hovers)  # the random start's own weights


def test_a_damaged_snapshot_is_a_sentence_when_scrubbed_to():
    """The weights are a fragment of their own: its reruns pass no error on to app.py, so the page says it."""
    import sqlite3

    run_id = trained(models.preset("keras-mlp"))
    with sqlite3.connect(jobs.job_manager().store.path) as db:
        db.execute("UPDATE snapshots SET weights = ? WHERE run = ? AND epoch = 1", (b"damaged", run_id))
    at = opened(PAGE, run=str(run_id))
    at.select_slider(key="inside_epoch").set_value(1).run()
    assert not at.exception
    assert "A stored snapshot of this run is damaged" in plain(at.warning[0].value)


def test_the_embedding_colours_each_class_from_the_one_palette():
    """Issue 23.4: 4 and 9 had nearly the same colour."""
    at = opened(PAGE, run=str(trained(models.preset("simple-nn"), epochs=1)))
    embedding = next(chart for chart in charts(at) if chart["layout"].get("title", {}).get("text", "").endswith(
        "of the variation"))
    colours = {trace["legendgroup"]: trace["marker"]["color"] for trace in embedding["data"] if "legendgroup" in trace}
    assert colours == {str(c): CLASS_COLOURS[c] for c in range(10)}


def test_picking_another_test_digit_sends_it_through():
    run_id = trained(models.preset("cnn"))
    at = opened(PAGE, run=str(run_id))
    maps = {}
    for label in (1, 7):
        at.selectbox(key="inside_class").set_value(label).run()
        assert not at.exception
        drawn = pictures(at, "feature maps")
        assert len(drawn) == 5  # conv, relu, conv, relu, pool
        assert drawn[0].count('title="channel ') == 32
        maps[label] = drawn[0]
        (units, _) = pictures(at, "units")  # dense1 and its ReLU
        assert len(tooltips(units)) == 128 and all(re.fullmatch(r"unit \d+: -?\d+\.\d{3}", t) for t in tooltips(units))
    assert maps[1] != maps[7]
    # pictures, not charts: a chart each cost the browser a relayout on every drawing, and a fresh tab seconds more
    titles = [chart["layout"].get("title", {}).get("text", "") for chart in charts(at)]
    assert len(titles) == 4 and titles[1].endswith("of the variation")  # probabilities, embedding, two histograms


def test_the_digit_drawn_on_draw_and_classify_is_offered_first():
    run_id = trained(models.preset("simple-nn"))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["run"] = str(run_id)
    digit = np.zeros((28, 28), np.float32)
    digit[4:24, 12:16] = 255.0  # a '1'
    at.session_state[DRAWN] = digit
    at.run()
    assert not at.exception
    assert at.radio(key="inside_source").value == "drawn"
    assert "The network reads" in " ".join(m.value for m in at.markdown)


def test_a_running_run_shows_its_newest_snapshot():
    manager = jobs.job_manager()
    run_id = manager.submit(TrainConfig(dataset="mnist", model=models.preset("cnn"), epochs=100, batch_size=16))
    rerun = opened(PAGE, run=str(run_id))
    rerun_until(rerun, lambda at: at.get("select_slider") and len(at.select_slider(key="inside_epoch").options) > 1)
    manager.pause(run_id)
    rerun.run()
    assert "is training: a digit goes through it once it has finished" in plain(rerun.info[0].value)
    slider = rerun.select_slider(key="inside_epoch")
    assert str(slider.value) == slider.options[-1]  # it follows the newest epoch


@pytest.mark.parametrize("address", ["abc", "99999", "²", "1" * 30])
def test_an_address_that_names_no_usable_run_breaks_nothing(address):
    trained(models.preset("keras-mlp"), epochs=1)
    at = opened(PAGE, run=address)
    assert not at.exception
    picked = at.selectbox(key="inside_run")
    if address == "99999":
        assert "There is no run #99999" in plain(at.warning[0].value)
        assert picked.format_func(99999) == "#99999"  # not "(training now)": no such run trains
    else:  # a link that names no run says so, on every rerun (a fresh server reruns the first page by itself)
        assert "is not a run number" in plain(at.warning[0].value)
        at.run()
        assert "is not a run number" in plain(at.warning[0].value)


def test_build_and_train_shows_the_strip_and_the_histograms_while_a_run_trains():
    manager = jobs.job_manager()
    run_id = manager.submit(TrainConfig(dataset="mnist", model=CNN_BN, epochs=100, batch_size=16))
    at = opened(str(Path(PAGE).parent / "2_build_and_train.py"), run=str(run_id))

    def shown(at: AppTest) -> bool:
        return any("right: green frames right" in plain(c.value) for c in at.caption) and \
            bool(at.get("selectbox")) and any(box.key == "live_histogram" for box in at.selectbox)

    rerun_until(at, shown)
    strips = [html.proto.body for html in at.get("html") if "test digits as the model reads them" in html.proto.body]
    # one picture of 20 digits, inline: a media file redrawn every 2 s was gone before the browser fetched it
    assert len(strips) == 1 and 'src="data:image/png;base64,' in strips[0] and not at.image
    assert at.selectbox(key="live_histogram").options[0] == "conv1 3x3, 8"
    manager.stop(run_id)


def test_a_run_without_snapshots_shows_its_final_weights(tmp_path):
    """An imported run, or one trained before snapshots were kept: no slider, its checkpoint's weights."""
    import torch

    from dlcore import runs

    config = TrainConfig(dataset="mnist", model=models.preset("keras-mlp"))
    torch.manual_seed(0)
    store = jobs.job_manager().store
    run_id = store.create(config)
    path = runs.save_checkpoint(tmp_path / "imported.safetensors", models.build(config.model).eval(), config)
    store.update(run_id, status="done", checkpoint=str(path))
    at = opened(PAGE, run=str(run_id))
    captions = " ".join(plain(c.value) for c in at.caption)
    assert "kept no snapshots per epoch" in captions and "this run kept none" in captions
    assert not at.get("select_slider")
    assert any(m.value.startswith("**dense1 128**: What each of the first 36 of 128 units") for m in at.markdown)


def test_picking_another_model_puts_it_in_the_address():
    first, second = trained(models.preset("keras-mlp"), epochs=1), trained(models.preset("simple-nn"), epochs=1)
    at = opened(PAGE)
    assert "run" not in at.query_params  # a visit alone leaves the address as it was
    assert at.selectbox(key="inside_run").value == second  # the newest first
    at.selectbox(key="inside_run").set_value(first).run()
    assert not at.exception
    assert at.query_params["run"] == str(first)
