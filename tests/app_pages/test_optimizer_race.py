"""The Optimizer race page in Streamlit's AppTest: start a race, watch it end, read the outcome, export a lane."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from dlcore import TrainConfig, jobs, models, race
from tests.app_pages.apptest import opened, rerun_until

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "5_optimizer_race.py")
APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(autouse=True)
def fresh_caches(tiny_data_dir):
    """Each test sees its own data folder; the page's thread setting (training.share_cpu) is undone afterwards."""
    st.cache_data.clear()
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    manager = race.race_manager()
    for race_id in manager.races():
        manager.stop(race_id, teacher=True)
        manager.wait(race_id, timeout=30)


def page(**query) -> AppTest:
    return opened(PAGE, timeout=120, **query)


def start_tiny_race(at: AppTest) -> None:
    at.radio(key="race_dataset").set_value("mnist")
    at.slider(key="race_epochs").set_value(1)
    at.select_slider(key="race_batch").set_value(16)  # enough steps for the reckless lane to diverge
    at.toggle(key="race_pace").set_value(False)
    at.run()  # Start's callback takes the settings its button was drawn with: a browser's toggle reruns first
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    assert race.race_manager()._races[race.race_manager().races()[0]].spec.pace == 0


def test_empty_page_invites_a_race():
    at = page()
    assert at.info[0].value.startswith("No race on this server yet") and "lanes set above" in at.info[0].value
    assert [b.label for b in at.button] == ["Start the race"]


def test_a_race_runs_to_a_reading_and_its_lanes_become_runs():
    at = page()
    start_tiny_race(at)
    rerun_until(at, lambda at: at.success and "reached the lowest loss" in at.success[0].value)
    reading = at.success[0].value
    assert reading.startswith(("SGD", "Adam")) and "test accuracy" in reading
    assert [m.label for m in at.metric] == ["SGD lr 0.01", "SGD lr 0.01 m 0.9", "Adam lr 0.001", "SGD lr 5 m 0.9"]
    loss_chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [trace["name"] for trace in loss_chart["data"] if trace["mode"] == "lines"] == [m.label for m in at.metric]
    diverged = [m.label for m in at.metric if m.value == "diverged"]  # issue 23.5: it was a 1-pixel spike
    assert diverged == ["SGD lr 5 m 0.9"]
    crosses = [trace["text"][0] for trace in loss_chart["data"] if trace["mode"] == "markers+text"]
    assert [cross.rsplit(" at step ", 1)[0] for cross in crosses] == ["SGD lr 5 m 0.9 diverged"]
    assert all(json.loads(chart.proto.config) == {"displayModeBar": False} for chart in at.get("plotly_chart"))
    stored = jobs.job_manager().store.list()
    assert len(stored) == 4 and all(run.student == "" for run in stored)
    downloads = at.get("download_button")
    finished = [run for run in stored if run.checkpoint]
    assert len(downloads) == len(finished) >= 3


def test_the_starting_race_is_paced_to_be_watched():
    """Issue 14.6: the starting race trained in about 2 s, over before anyone could watch it."""
    at = page()
    at.radio(key="race_dataset").set_value("mnist")
    next(b for b in at.button if b.label == "Start the race").click().run()
    started = race.race_manager()._races[race.race_manager().races()[0]]
    assert at.toggle(key="race_pace").value and started.spec.pace == race.WATCHABLE_SECONDS >= 20


def test_presenter_mode_keeps_the_numbers_and_enlarges_the_charts():
    at = page(present="1")
    start_tiny_race(at)
    rerun_until(at, lambda at: at.success)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["font"]["size"] == 20 and len(at.metric) == 4
    assert json.loads(page().get("plotly_chart")[0].proto.spec)["layout"].get("font", {}).get("size") != 20


def labels(at: AppTest) -> set[str]:
    return {button.label for button in at.button}


def test_only_the_session_that_started_a_race_or_a_teacher_can_stop_it(monkeypatch):
    monkeypatch.setenv("DLCORE_TEACHER_KEY", "chalk-and-talk")
    manager = race.race_manager()
    owner = page()
    owner.selectbox(key="race_network").set_value("cnn")
    owner.slider(key="race_epochs").set_value(10)
    owner.select_slider(key="race_batch").set_value(16)
    start_tiny_race(owner)
    started = manager.races()[0]
    next(b for b in owner.button if b.label == "Stop race").click().run()
    assert manager.wait(started, timeout=60).status == "stopped"

    long_race = race.lanes(TrainConfig(dataset="mnist", model=models.preset("cnn"), epochs=100, batch_size=8),
                           [{"lr": 0.001}, {"lr": 0.01}])
    race_id = manager.submit(long_race, owner="ada")  # someone else's race, shown to every session first
    other = page()
    assert "Stop race" not in labels(other)
    assert "Only the student who started this race, or the teacher, can stop it." in \
        " ".join(c.value for c in other.caption).replace("\\", "")

    teacher = AppTest.from_file(APP, default_timeout=120)
    teacher.switch_page("app_pages/5_optimizer_race.py").run()
    teacher.text_input(key="teacher_key").input("chalk-and-talk").run()
    assert teacher.session_state["race_id"] == race_id and "Stop race" in labels(teacher)
    next(b for b in teacher.button if b.label == "Stop race").click().run()
    assert manager.wait(race_id, timeout=60).status == "stopped"


def test_a_race_link_sets_up_the_race_and_the_address_follows_the_settings():
    """Issue 23.3: the optimizer race had no link."""
    at = page(net="cnn", epochs="3", batch_size="128", pace="0", lanes="sgd_0.1_0.9,adamw_0.003_0.9")
    assert at.selectbox(key="race_network").value == "cnn" and at.slider(key="race_epochs").value == 3
    assert at.select_slider(key="race_batch").value == 128 and at.toggle(key="race_pace").value is False
    assert not at.warning
    assert at.query_params["lanes"] == "sgd_0.1_0.9,adamw_0.003_0.9"
    at.slider(key="race_epochs").set_value(4).run()
    assert at.query_params["epochs"] == "4" and at.query_params["net"] == "cnn"
    assert at.slider(key="race_epochs").value == 4  # the page's own address is not taken for a new link


def test_a_race_link_names_what_it_could_not_use_and_races_the_rest():
    at = page(net="resnet", epochs="3", lanes="sgd_0.01_0,sgd_0.01_0", colour="red")
    note = at.warning[0].value.replace("\\", "")
    assert "net ('resnet')" in note and "Lanes 1 and 2 are both SGD lr 0.01" in note and "colour=red" in note
    assert at.slider(key="race_epochs").value == 3 and at.selectbox(key="race_network").value == "simple-nn"
    assert at.query_params["lanes"] == race.to_link(race.RaceSetup())["lanes"]  # the starting lanes
    at.slider(key="race_epochs").set_value(2).run()
    assert not at.warning  # the note goes once the settings move on from the link
