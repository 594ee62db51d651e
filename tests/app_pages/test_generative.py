"""Generative models in AppTest: Start trains a 2-D VAE for real through the job manager, the page shows its
drawings and map live, then the finished map, a click decoded, a drawing placed, and another run beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st

from dlcore import TrainConfig, generative, inside, jobs
from dlcore.config import DenseLayer, ModelSpec
from tests.app_pages.apptest import opened, rerun_until
from ui.inside import DRAWN

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "9_generative.py")


@pytest.fixture(autouse=True)
def fresh_caches(tiny_data_dir):
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    manager = jobs.job_manager()
    for run_id in manager.active():
        manager.stop(run_id, teacher=True)
    for run_id in list(manager._trainers):
        manager.wait(run_id, timeout=30)


def charts(at) -> dict[str, dict]:
    return {chart.proto.id: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


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
    assert any("drawn again from their codes" in caption for image in at.image for caption in image.captions)
    at.session_state["gen_point"] = (1.0, -1.0)  # what a click on the map leaves
    at.session_state[DRAWN] = np.pad(np.full((20, 4), 255, np.uint8), ((4, 4), (12, 12)))  # a 1 from Draw & classify
    at.run()
    at.radio(key="gen_source").set_value("drawn").run()
    assert not at.exception, at.exception
    captions = [caption for image in at.image for caption in image.captions]
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
