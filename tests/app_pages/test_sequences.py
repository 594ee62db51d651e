"""Sequences in AppTest: Start trains an LSTM for real through the job manager; the finished run reads a test digit
row by row (the slider sets how many rows), and its gradient through the rows sits beside a plain RNN's."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from dlcore import TrainConfig, jobs
from dlcore.config import ModelSpec
from tests.app_pages.apptest import opened, rerun_until

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "11_sequences.py")


pytestmark = pytest.mark.usefixtures("trained_runs_page")


def titles(at) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"].get("title", {}).get("text", "") for chart in at.get("plotly_chart")]


def typed_array(value) -> np.ndarray:
    """An array as Plotly's JSON sends it: a list, or {dtype, bdata (base64), shape}."""
    if isinstance(value, dict):
        shape = [int(size) for size in str(value["shape"]).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape).astype(float)
    return np.array(value, dtype=float)


def reach_lines(at) -> list[str]:
    spec = next(json.loads(chart.proto.spec) for chart in at.get("plotly_chart")
                if json.loads(chart.proto.spec)["layout"]["title"]["text"].startswith("How strongly"))
    return [trace["name"] for trace in spec["data"]]


def test_start_trains_an_lstm_then_it_reads_a_digit_row_by_row():
    at = opened(PAGE)
    assert any("No recurrent network" in info.value for info in at.info)
    at.selectbox(key="seq_dataset").set_value("mnist")
    at.selectbox(key="seq_state").set_value(20)
    at.number_input(key="seq_epochs").set_value(2)
    at.button[0].click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["seq_run"]
    assert jobs.job_manager().store.get(run_id).config.model == ModelSpec("lstm", dense=(), state=20, cell_layers=1)
    rerun_until(at, lambda at: "Rows read: 28 of 28, and the state they left (a unit per line)" in titles(at))
    assert "Its answer, had the digit ended at each row" in titles(at)
    assert reach_lines(at) == [f"#{run_id} LSTM 1x20"]
    assert "Train GRU and RNN on the same data to compare." in at.caption[-1].value
    at.slider(key="seq_rows").set_value(5).run()
    assert "Rows read: 5 of 28, and the state they left (a unit per line)" in titles(at)
    rows = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("Rows read"))
    state = typed_array(rows["data"][1]["z"])
    assert np.isfinite(state[:, :5]).all() and np.isnan(state[:, 5:]).all()  # only the rows read have a state
    assert any(m.value.startswith("After row 5 it reads") for m in at.markdown)


def test_a_plain_rnns_gradient_is_drawn_beside_the_lstms():
    manager = jobs.job_manager()
    ids = {}
    for kind in ("rnn", "lstm"):
        ids[kind] = manager.submit(TrainConfig(dataset="mnist", model=ModelSpec(kind, dense=(), state=16, cell_layers=1),
                                               epochs=1, batch_size=64, lr=3e-3))
        assert manager.wait(ids[kind], timeout=120).status == "done"
    at = opened(PAGE, run=str(ids["lstm"]))
    assert at.session_state["seq_run"] == ids["lstm"]
    assert reach_lines(at) == [f"#{ids['lstm']} LSTM 1x16", f"#{ids['rnn']} RNN 1x16"]
    at.radio(key="seq_source").set_value("draw").run()
    assert not at.exception and any("Draw a digit to see it read" in info.value for info in at.info)


def test_presenter_mode_keeps_the_settings_row():
    at = opened(PAGE, present="1")
    assert at.segmented_control(key="seq_cell").value == "lstm" and at.button[0].label == "Start"


def test_a_memory_run_from_the_task_picker_fills_the_horizon_and_shows_its_gates():
    at = opened(PAGE)
    at.selectbox(key="seq_task").set_value("memory").run()
    assert at.number_input(key="seq_epochs").value == 15 and at.selectbox(key="seq_state").value == 64  # its own
    at.number_input(key="seq_delay").set_value(3)
    at.number_input(key="seq_epochs").set_value(2)
    at.selectbox(key="seq_state").set_value(20)
    at.button[0].click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["seq_run"]
    assert jobs.job_manager().store.get(run_id).config.dataset == "memory-3"
    rerun_until(at, lambda at: "Inside the first layer, step by step (a unit per line)" in titles(at))
    horizon = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                   if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("Memory horizon"))
    assert horizon["data"][0]["x"] == [3] and horizon["data"][0]["customdata"] == [run_id]  # the LSTM's point
    assert any("test accuracy" in m.value and "remember a letter for 3 steps" in m.value for m in at.markdown)


def test_a_text_run_writes_at_the_temperature_asked_and_own_text_too_short_is_a_sentence():
    manager = jobs.job_manager()
    run_id = manager.submit(TrainConfig(dataset="text", model=ModelSpec("gru", dense=(), state=16, cell_layers=1),
                                        epochs=1, batch_size=256, lr=3e-3))
    assert manager.wait(run_id, timeout=180).status == "done"
    at = opened(PAGE, run=str(run_id))
    assert any("nats per character" in m.value for m in at.markdown)
    first = at.code[0].value
    assert first.startswith("The ") and len(first) == 4 + 300
    at.slider(key="seq_temperature").set_value(1.5).run()
    assert at.code[0].value != first and not at.exception
    at.selectbox(key="seq_task").set_value("text").run()
    at.selectbox(key="seq_text_source").set_value("own").run()
    at.text_area(key="seq_text").input("far too short")
    at.button[0].click().run()
    assert "usable characters" in at.error[0].value and at.session_state["seq_run"] == run_id
