"""The Run board in Streamlit's AppTest: every run listed, filters, the best highlighted, presenter mode's leaderboard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dlcore import jobs
from dlcore.config import DenseLayer, ModelSpec, TrainConfig
from dlcore.evaluate import Evaluation
from tests.app_pages.apptest import opened

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "6_run_board.py")
MLP = TrainConfig(dataset="mnist", model=ModelSpec(dense=(DenseLayer(16),)), epochs=1, batch_size=64, device="cpu")


@pytest.fixture(autouse=True)
def fresh_caches(tiny_data_dir):
    st.cache_data.clear()


def record(config: TrainConfig, accuracy: float | None, student: str = "", status: str = "done") -> int:
    """A finished run in the store, as training leaves it, without spending time training."""
    store = jobs.job_manager().store
    run_id = store.create(config, student)
    results = Evaluation(accuracy, 0.3, [accuracy] * 10, [[0] * 10] * 10, []) if accuracy is not None else None
    store.update(run_id, status=status, results=results, seconds=1.5, device="CPU")
    return run_id


def page(**query) -> AppTest:
    return opened(PAGE, timeout=60, **query)


def board(at: AppTest):
    return at.dataframe[0].value


def test_empty_board_says_how_to_fill_it():
    at = page()
    assert "No runs yet" in at.info[0].value and not at.dataframe


def test_every_run_is_listed_and_the_best_per_dataset_highlighted():
    record(MLP, 0.91, "Ada")
    best = record(MLP, 0.95, "Grace")
    record(MLP.with_changes(dataset="fashion-mnist", optimizer="sgd"), 0.82, "Alan")
    record(MLP, None, "Linus", status="diverged")
    at = page()
    table = board(at)
    assert list(table["student"]) == ["Linus", "Alan", "Grace", "Ada"]  # newest first until a header is clicked
    assert table.loc[table["run"] == best, "setup"].item() == "MLP 16 relu · Adam lr 0.001 · batch 64 · 1 epoch"
    assert [(m.label, m.value) for m in at.metric] == [("Best on Fashion-MNIST", "82.00%"), ("Best on MNIST", "95.00%")]
    assert at.metric[1].proto.delta == f"run #{best} by Grace"
    styles = at.dataframe[0].proto.arrow_data.styler.styles
    assert "font-weight: bold" in styles and set(re.findall(r"_row(\d+)_col0\b", styles)) == {"1", "2"}  # Alan, Grace


def test_filters_narrow_the_board_and_its_best():
    record(MLP, 0.91, "Ada")
    record(MLP, 0.95, "Grace")
    record(MLP.with_changes(optimizer="sgd"), 0.5, "Ada", status="stopped")
    at = page()
    at.text_input(key="board_search").input("ada").run()
    assert list(board(at)["student"]) == ["Ada", "Ada"] and at.metric[0].value == "91.00%"
    at.multiselect(key="board_statuses").select("stopped").run()
    assert list(board(at)["status"]) == ["stopped"] and at.metric[0].value == "50.00%"
    at.text_input(key="board_search").input("Grace").run()
    assert board(at).empty and not at.metric
    for key in ("board_datasets", "board_statuses"):  # Enter adds the typed match, not "Select N matches"
        assert at.multiselect(key=key).proto.select_all == 0


def test_presenter_mode_shows_a_big_leaderboard_and_hides_the_filters():
    for i in range(12):
        record(MLP, 0.5 + i / 100, f"student {i}")
    at = page(present="1")
    assert not at.dataframe and at.table
    leaders = at.table[0].value
    assert len(leaders) == 10 and list(leaders["student"])[:2] == ["student 11", "student 10"]
    assert list(leaders["place"])[:3] == [1, 2, 3]
    assert at.metric[0].value == "61.00%"


def test_a_real_run_can_be_exported_from_the_board():
    manager = jobs.job_manager()
    run_id = manager.submit(MLP, "Ada")
    manager.wait(run_id, timeout=60)
    at = page()
    assert int(board(at)["run"][0]) == run_id and board(at)["accuracy"][0] > 0.5


def test_ties_are_all_highlighted_and_the_first_to_get_there_is_credited():
    first = record(MLP, 0.9, "Ada")
    record(MLP, 0.9, "Grace")
    at = page()
    assert at.metric[0].proto.delta == f"run #{first} by Ada"
    styles = at.dataframe[0].proto.arrow_data.styler.styles
    assert set(re.findall(r"_row(\d+)_col0\b", styles)) == {"0", "1"}


def test_race_lanes_and_imports_are_marked_and_filter_by_their_status():
    store = jobs.job_manager().store
    for message in ("Optimizer race against Adam lr 0.001.", "Imported from mine.safetensors.", ""):
        store.update(record(MLP, 0.8), message=message)
    at = page()
    assert list(board(at)["status"]) == ["done", "done · imported", "done · race"]
    at.multiselect(key="board_statuses").select("done").run()
    assert len(board(at)) == 3
