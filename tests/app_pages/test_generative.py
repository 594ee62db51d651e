"""Generative models in AppTest: Start trains a 2-D VAE for real through the job manager, the page shows its
drawings and map live, then the finished map, a click decoded, a drawing placed, and another run beside it."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st

from dlcore import TrainConfig, generative, inside, jobs
from dlcore.config import DenseLayer, ModelSpec
from tests.app_pages.apptest import opened, plain, rerun_until
from ui.inside import DRAWN

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "9_generative.py")


pytestmark = pytest.mark.usefixtures("trained_runs_page")


def charts(at) -> dict[str, dict]:
    return {chart.proto.id: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def pictures(at) -> list[str]:
    """The captions of the page's inline pictures (ui.generative.digits_ui)."""
    return [html.unescape(body.split("<figcaption", 1)[1].split(">", 1)[1].split("</figcaption>")[0])
            for body in (element.proto.body for element in at.get("html")) if "<figcaption" in body]


def titles(at) -> list[str]:
    return [spec["layout"].get("title", {}).get("text", "") for spec in charts(at).values()]


def test_start_trains_a_vae_and_shows_it_learn_then_its_map(monkeypatch):
    at = opened(PAGE)
    assert any("No autoencoder" in info.value for info in at.info)
    at.selectbox(key="gen_dataset").set_value("mnist")
    at.number_input(key="gen_epochs").set_value(3)
    at.selectbox(key="gen_width").set_value(64)
    at.button[0].click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["gen_run"]
    manager = jobs.job_manager()
    assert manager.store.get(run_id).config.model == ModelSpec("vae", dense=(DenseLayer(64),), latent=2)
    rerun_until(at, lambda at: "Where the test digits' codes lie" in titles(at))
    map_spec = next(spec for spec in charts(at).values() if spec["layout"]["title"]["text"].startswith("Where"))
    shown = sum(len(trace["x"]) for trace in map_spec["data"] if trace["type"] == "scattergl")
    assert shown == len(inside.map_digits("mnist")[1]) > 0  # every map digit, coloured by its class
    assert any("drawn again from their codes" in caption for caption in pictures(at))
    at.session_state["gen_point"] = (1.0, -1.0)  # what a click on the map leaves
    at.session_state[DRAWN] = np.pad(np.full((20, 4), 255, np.uint8), ((4, 4), (12, 12)))  # a 1 from Draw & classify
    at.run()
    at.radio(key="gen_source").set_value("drawn").run()
    assert not at.exception, at.exception
    captions = pictures(at)
    assert "your digit, drawn again" in captions and "what (1.0, -1.0) decodes to" in captions
    assert any(caption.startswith("From your digit to the point") for caption in captions)
    names = {trace.get("name") for spec in charts(at).values() for trace in spec["data"]}
    assert {"your drawing", "its spread", "decoded"} <= names


def test_an_autoencoder_beside_a_vae_and_a_code_too_big_for_a_map():
    manager = jobs.job_manager()
    ids = []
    for spec in (ModelSpec("ae", dense=(DenseLayer(16),), latent=2), ModelSpec("vae", dense=(DenseLayer(16),), latent=2),
                 ModelSpec("ae", dense=(DenseLayer(16),), latent=8)):
        ids.append(manager.submit(TrainConfig(dataset="mnist", model=spec, epochs=1, batch_size=64)))
        assert manager.wait(ids[-1], timeout=120).status == "done"
    at = opened(PAGE, run=str(ids[1]))
    assert at.session_state["gen_run"] == ids[1]
    assert at.selectbox(key="gen_other").value == ids[0]
    assert any(t.startswith(f"Run #{ids[0]}'s map (AE 16-2)") for t in titles(at))
    at.selectbox(key="gen_run").set_value(ids[2]).run()
    assert not at.exception, at.exception
    assert any("has no map to draw" in caption.value for caption in at.caption)
    assert generative.shared(manager.store.get(ids[2]).checkpoint).mapped is False


GAN = ModelSpec("gan", dense=(DenseLayer(32),), latent=8)


def test_a_gan_trains_live_with_its_parts_chosen_then_a_digit_model_reads_its_drawings():
    at = opened(PAGE)
    at.segmented_control(key="gen_kind").set_value("gan").run()
    assert at.number_input(key="gen_noise").value == 100 and at.number_input(key="gen_beta").disabled
    at.selectbox(key="gen_dataset").set_value("mnist")
    at.number_input(key="gen_noise").set_value(8)
    at.selectbox(key="gen_width").set_value(64)
    at.number_input(key="gen_epochs").set_value(30)
    at.button[0].click().run()
    run_id = at.session_state["gen_run"]
    manager = jobs.job_manager()
    config = manager.store.get(run_id).config
    assert config.model.kind == "gan" and config.lr == generative.GAN_LR
    rerun_until(at, lambda at: any("Drawn from the same 40 noise vectors" in caption for caption in pictures(at)))
    at.segmented_control(key="gen_stepping").set_value("generator").run()
    assert not at.exception, at.exception
    rerun_until(at, lambda at: manager.progress(run_id).stepping == ("generator",), timeout=30)
    manager.stop(run_id, teacher=True)
    manager.wait(run_id, timeout=60)
    at.run()
    assert any("Train a classifier on mnist" in caption.value for caption in at.caption)  # no judge yet
    judge = manager.submit(TrainConfig(dataset="mnist", model=ModelSpec(dense=(DenseLayer(16),)), epochs=1))
    assert manager.wait(judge, timeout=120).status == "done"
    st.cache_resource.clear()
    at.run()
    assert "Which classes it draws (the mode meter)" in titles(at)
    assert any(f"Run #{judge}" in caption.value and "reads 1,000 drawings" in caption.value for caption in at.caption)
    before = pictures(at)
    at.button(key="gen_more").click().run()
    assert not at.exception and at.session_state["gen_seed"] == 1
    assert any("Drawn from the same 40 noise vectors" in caption for caption in before)


def results_of_the_run_in_the_address() -> None:
    import streamlit as st

    from dlcore import jobs
    from ui.runs import run_results_ui

    run_results_ui(jobs.job_manager().store.get(int(st.query_params["run"])))


def test_a_generative_run_on_the_run_board_points_to_its_page():
    manager = jobs.job_manager()
    run_id = manager.submit(TrainConfig(dataset="mnist", model=ModelSpec("vae", dense=(DenseLayer(16),)), epochs=1))
    assert manager.wait(run_id, timeout=120).status == "done"
    at = opened(results_of_the_run_in_the_address, run=str(run_id))
    assert any("draws digits rather than naming them" in info.value for info in at.info)


def test_the_setup_lives_in_the_address_and_a_link_sets_it_saying_what_it_changed():
    at = opened(PAGE, kind="gan", hidden="300", epochs="40", latent="16", color="red")
    assert at.segmented_control(key="gen_kind").value == "gan" and at.number_input(key="gen_noise").value == 16
    assert at.selectbox(key="gen_width").value == 256 and at.number_input(key="gen_epochs").value == 40
    note = next(plain(info.value) for info in at.info if "offers" in plain(info.value))
    assert "256 is used" in note and "color=red" in note
    assert at.query_params["kind"] == "gan" and at.query_params["epochs"] == "40"
    at = opened(PAGE, kind="mlp")
    assert any("not one this page trains" in plain(info.value) for info in at.info)
    assert at.segmented_control(key="gen_kind").value == "vae"
