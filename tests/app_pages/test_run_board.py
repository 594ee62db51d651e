"""The Run board in Streamlit's AppTest: every run listed, filters, the best highlighted, presenter mode's leaderboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dlcore import jobs, models, race
from dlcore.config import DenseLayer, ModelSpec, TrainConfig
from dlcore.evaluate import Evaluation
from dlcore.runs import save_checkpoint
from tests.app_pages.apptest import opened, plain, rerun_until
from ui.classroom import ANONYMOUS

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


@pytest.fixture
def teacher(monkeypatch):
    """A session that entered the teacher key; whatever it left running or waiting is stopped afterwards."""
    monkeypatch.setenv("DLCORE_TEACHER_KEY", "chalk-and-talk")
    yield
    manager = jobs.job_manager()
    jobs.clear_queue(manager, race.race_manager())
    for work in jobs.who_has_work(manager, race.race_manager()):
        jobs.stop_everything(work.owner, manager, race.race_manager())
    for run_id in list(manager._trainers):
        manager.wait(run_id, timeout=30)


def as_teacher() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["teacher_session"] = True
    at.run()
    assert not at.exception, at.exception
    return at


def teacher_rows(at: AppTest) -> list[tuple[str, str]]:
    """(whose, counts) per row of the teacher's list."""
    names = [plain(m.value) for m in at.markdown if "st-key" not in m.value]
    return list(zip(names, [c.value for c in at.caption if c.value[0].isdigit()]))


def test_only_the_teacher_sees_who_has_work(teacher):
    jobs.job_manager().submit(MLP.with_changes(batch_size=1, epochs=50), "Ada", owner="browser-ada")
    assert "Teacher: who has work" not in [h.value for h in page().subheader]  # the key is set, not entered
    at = as_teacher()
    assert "Teacher: who has work" in [h.value for h in at.subheader]
    assert teacher_rows(at) == [("Ada", "1 training")] and at.button(key="clear_queue").disabled


def test_the_teacher_stops_all_of_one_students_work_and_clears_the_queue(teacher):
    manager, races = jobs.job_manager(), race.race_manager()
    long = MLP.with_changes(batch_size=1, epochs=50)
    manager.submit(long, "Ada", owner="browser-ada")
    manager.submit(long, "Bob", owner="browser-bob")  # trains once Ada's work is stopped, while the rest waits
    manager.submit(MLP.with_changes(seed=1), "Ada", owner="browser-ada")
    manager.submit(MLP.with_changes(seed=2), "", owner=ANONYMOUS)
    races.submit(race.lanes(MLP, [{"lr": 0.01}, {"lr": 0.001}]), "Cy", owner=ANONYMOUS)
    at = as_teacher()
    assert teacher_rows(at) == [("Ada", "1 training, 1 waiting"), ("Bob", "1 waiting"),
                                ("Browsers without an identity (they share one student's place)", "2 waiting")]
    shown = " ".join(str(e.value) for e in (*at.markdown, *at.caption)) + " ".join(b.key for b in at.button)
    assert "browser-" not in shown  # owners are never shown, not even in a widget's key

    at.button[0].click().run()  # Ada's Stop all
    assert "Stopped 2 runs and races: Ada." in [plain(s.value) for s in at.success]
    rerun_until(at, lambda at: teacher_rows(at)[0][0] == "Bob")  # a running run takes a moment to stop
    at.button(key="clear_queue").click().run()
    assert "Took 2 runs and races out of the queue." in [plain(s.value) for s in at.success]
    assert teacher_rows(at) == [("Bob", "1 training")]


def picked(at: AppTest, row: int) -> AppTest:
    """The board with one row ticked, as a click in its first column leaves it."""
    at.session_state["board_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_diverged_run_reads_a_dash_and_offers_nothing_it_has_no_weights_for():
    """Issue 23.6: its accuracy read "None", and it offered to read handwriting in Draw & classify."""
    done = record(MLP, 0.9, "Ada")
    store = jobs.job_manager().store
    store.update(done, checkpoint=str(store.checkpoint_path(done)))
    record(MLP, None, "Linus", status="diverged")
    at = AppTest.from_file(str(Path(PAGE).parents[1] / "app.py"), default_timeout=60)  # the app knows the page linked
    at.switch_page("app_pages/6_run_board.py").run()
    assert at.dataframe[0].proto.placeholder == "—" and board(at)["accuracy"].isna().tolist() == [True, False]
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["status"]["width"] >= 150  # "interrupted · imported" whatever the first rows hold
    links = lambda at: [link.proto.label for link in at.get("page_link")]  # noqa: E731
    assert "Read a drawing with this model in Draw & classify" not in links(picked(at, 0))
    assert "Read a drawing with this model in Draw & classify" in links(picked(at, 1))


def test_a_run_shows_one_duration_its_training_time_on_the_board_and_on_its_page():
    """Issue 23.6: the board said 120.3 s (training) where the run's page said 206.2 s (from start to end)."""
    store = jobs.job_manager().store
    run_id = record(MLP, 0.9, "Ada")
    store.update(run_id, seconds=120.3, history={"steps": [2.3, 1.0], "epochs": [], "steps_per_epoch": 2,
                                                 "evaluation_seconds": 80.0, "wall_seconds": 206.2})
    imported = record(MLP, 0.8, "Grace")
    store.update(imported, message="Imported from mine.safetensors.", seconds=0.0)
    at = page()
    assert json.loads(at.dataframe[0].proto.columns)["seconds"]["label"] == "training time"
    assert board(at)["seconds"].isna().tolist() == [True, False] and board(at)["seconds"][1] == 120.3  # imports: no training
    (metric,) = [m for m in picked(at, 1).metric if "time" in m.label.lower()]
    assert (metric.label, metric.value, metric.proto.delta) == ("Training time", "120.3 s", "206.2 s in all, 80.0 s of it scoring")


def in_order(at: AppTest) -> list:
    """Every element and block of the main area, top to bottom."""
    def walk(node):
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)
    return list(walk(at.main))


def test_the_import_box_sits_above_the_board_and_names_the_importing_student(tmp_path):
    """Issue 23.6: the box sat below the whole selected run, and an import from a session that had not typed a name
    in Build & train was recorded without one: the box asks for it, and a name typed there is the student's."""
    record(MLP, 0.9, "Ada")
    at = AppTest.from_file(str(Path(PAGE).parents[1] / "app.py"), default_timeout=60)
    at.switch_page("app_pages/6_run_board.py")
    at.query_params.update(name="Ada")
    at.run()
    order = in_order(at)
    box = next(i for i, node in enumerate(order) if node.type == "expander" and node.label == "Import weights trained elsewhere")
    assert box < next(i for i, node in enumerate(order) if node.type == "dataframe")
    assert at.text_input(key="board_import_student").value == "Ada"
    at.text_input(key="board_import_student").input("  Grace  Hopper ").run()
    assert at.session_state["student_name"] == at.query_params["name"] == "Grace Hopper"
    assert at.text_input(key="board_import_student").value == "Grace Hopper"
    config = MLP.with_changes(dataset="mnist")
    weights = save_checkpoint(tmp_path / "from-home.safetensors", models.build(config.model), config).read_bytes()
    at.file_uploader(key="board_import_weights").set_value(("from-home.safetensors", weights, "application/octet-stream")).run()
    at.button(key="board_import_go").click().run()
    imported = jobs.job_manager().store.list(with_history=False)[0]
    assert imported.message.startswith("Imported from from-home.safetensors") and imported.student == "Grace Hopper"
    assert f"Imported as run #{imported.id} by Grace Hopper" in plain(at.success[0].value)


def test_sequence_task_runs_show_their_own_score_and_no_pictures():
    sine = jobs.job_manager().store.create(TrainConfig(dataset="sine", model=ModelSpec("lstm", dense=()), loss="mse"),
                                           "Ada")
    jobs.job_manager().store.update(sine, status="done", results=Evaluation(float("nan"), 0.0123, [], [], []),
                                    seconds=2.0, device="CPU")
    text = jobs.job_manager().store.create(TrainConfig(dataset="text", model=ModelSpec("gru", dense=())), "Grace")
    jobs.job_manager().store.update(text, status="done", results=Evaluation(0.41, 1.93, [], [], []), seconds=3.0,
                                    device="CPU")
    at = page()
    assert not at.exception and list(board(at)["run"]) == [text, sine]
    for row, label, value in ((1, "Test error (MSE)", "0.0123"), (0, "Nats per character", "1.930")):
        picked(at, row)
        assert (label, value) in [(m.label, m.value) for m in at.metric]
        assert not any("Misread" in header.value for header in at.subheader)
    assert plain(at.subheader[0].value).endswith("text by Grace: 1.93 nats per character")
