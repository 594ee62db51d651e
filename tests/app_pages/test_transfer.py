"""The Transfer learning page in Streamlit's AppTest: nothing to start from, the class's drawings, three ways trained
side by side to their confusion matrices, and Fashion-MNIST with few of each class."""

from __future__ import annotations

import pytest
import streamlit as st

from dlcore import data, race
from dlcore.runs import RunStore
from tests.app_pages.apptest import opened, plain, rerun_until
from tests.test_drawings import fill
from tests.test_transfer import finished_run

PAGE = "app_pages/13_transfer.py"


@pytest.fixture(autouse=True)
def fresh(tiny_data_dir):
    st.cache_data.clear()
    yield
    manager = race.race_manager()
    for race_id in manager.races():
        manager.stop(race_id, teacher=True)
        manager.wait(race_id, timeout=30)


def train_three_ways(at) -> None:
    next(b for b in at.button if b.label == "Train three ways").click().run()
    assert not at.exception, at.exception
    rerun_until(at, lambda at: any("read the test pictures best" in m.value for m in at.markdown), timeout=180)


def test_without_a_finished_digit_model_the_page_says_where_to_train_one():
    at = opened(PAGE)
    assert "no finished digit model" in at.info[0].value
    assert not [b for b in at.button if b.label == "Train three ways"]


def test_the_class_drawings_train_three_ways_to_a_confusion_matrix_and_a_link_to_read_new_ones():
    store = RunStore()
    source = finished_run(store)
    fill(store, {"star": 4, "heart": 4, "bar": 4}, student="Ada")
    at = opened(PAGE)
    assert "star** 4" in at.caption[1].value or any("star** 4" in c.value for c in at.caption)
    at.select_slider(key="transfer_per_class").set_value(2).run()
    train_three_ways(at)
    progress = race.race_manager().progress(at.session_state["transfer_race"])
    assert [lane.name for lane in progress.lanes] == ["Frozen features", "Fine-tuned", "From scratch"]
    runs = [store.get(lane.run_id) for lane in progress.lanes]
    assert {run.config.source_run for run in runs} == {source} and all(run.checkpoint for run in runs)
    assert at.radio(key="transfer_confusion").options == [lane.name for lane in progress.lanes]
    confusion = next(chart for chart in at.get("plotly_chart") if "Confusion matrix" in chart.proto.spec)
    assert all(f'"{name}"' in confusion.proto.spec for name in ("star", "heart", "bar"))
    assert '"ten"' not in confusion.proto.spec and len(runs[0].results.confusion) == 3  # its own classes, not ten
    curve = next(chart for chart in at.get("plotly_chart") if "How many examples" in chart.proto.spec)
    assert curve.proto.spec.count('"mode":"markers"') == 3


def test_adding_nothing_drawn_is_a_sentence_and_keeps_the_drawings():
    store = RunStore()
    finished_run(store)
    fill(store, {"star": 3})
    at = opened(PAGE)
    at.text_input(key="transfer_label").set_value("star").run()
    next(b for b in at.button if b.label == "Add this drawing").click().run()
    assert not at.exception and at.error, "an empty canvas must get a sentence"
    assert store.drawing_classes() == {"star": 3}


def test_too_few_drawings_is_refused_in_a_sentence_before_anything_trains():
    store = RunStore()
    finished_run(store)
    fill(store, {"star": 2, "heart": 2})
    at = opened(PAGE)
    next(b for b in at.button if b.label == "Train three ways").click().run()
    assert "star, heart have fewer; draw more" in plain(at.error[0].value)
    assert not race.race_manager().races()


def test_a_class_still_short_of_drawings_is_left_out_not_holding_up_the_rest():
    store = RunStore()
    finished_run(store)
    fill(store, {"star": 4, "heart": 4})
    fill(store, {"moon": 1}, student="Eve")
    at = opened(PAGE)
    at.select_slider(key="transfer_per_class").set_value(1).run()
    train_three_ways(at)
    assert "Left out for now, with fewer than 3 drawings: moon." in [plain(w.value) for w in at.warning]
    lane = race.race_manager().progress(at.session_state["transfer_race"]).lanes[0]
    assert data.info(store.get(lane.run_id).config.dataset).classes == ("star", "heart")


def test_fashion_mnist_with_few_of_each_class_trains_the_same_three_ways():
    store = RunStore()
    finished_run(store)
    at = opened(PAGE)
    at.radio(key="transfer_task").set_value("fashion-mnist").run()
    assert not at.text_input, "the drawings' form is for the class's own task"
    at.select_slider(key="transfer_per_class").set_value(1).run()
    train_three_ways(at)
    runs = [store.get(lane.run_id) for lane in race.race_manager().progress(at.session_state["transfer_race"]).lanes]
    assert {run.config.dataset for run in runs} == {"fashion-mnist"} and {run.config.per_class for run in runs} == {1}


def test_leave_one_student_out_tests_on_that_students_drawings_alone():
    store = RunStore()
    finished_run(store)
    fill(store, {"star": 4, "heart": 4}, student="Ada")
    fill(store, {"star": 2, "heart": 2}, student="Ben")
    at = opened(PAGE)
    at.toggle(key="transfer_loso").set_value(True).run()
    assert at.selectbox(key="transfer_hold_out").options == ["Ada", "Ben"]
    at.selectbox(key="transfer_hold_out").set_value("Ben").run()
    at.select_slider(key="transfer_per_class").set_value(2).run()
    train_three_ways(at)
    lane = race.race_manager().progress(at.session_state["transfer_race"]).lanes[0]
    tested = data.load(store.get(lane.run_id).config.dataset)
    assert len(tested.test_labels) == 4 and len(tested.train_labels) == 8  # Ben's four, against Ada's eight


def test_a_student_undoes_their_own_last_drawing_and_nobody_elses():
    store = RunStore()
    finished_run(store)
    fill(store, {"star": 3}, sender="browser-ada")
    at = opened(PAGE)
    undo = next(b for b in at.button if b.label == "Undo my last drawing")
    undo.click().run()
    assert store.drawing_classes() == {"star": 3} and "You have added no drawings to undo." in at.toast[0].value
    fill(store, {"heart": 3}, sender=at.session_state["session_owner"])  # as this browser added them
    next(b for b in at.button if b.label == "Undo my last drawing").click().run()
    assert store.drawing_classes() == {"star": 3, "heart": 2}
    assert "Removed your last drawing of heart." in [toast.value for toast in at.toast]
