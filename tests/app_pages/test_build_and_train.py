"""Build & train in Streamlit's AppTest: build a network, train it, watch it, read its results, compare runs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from dlcore import devices, jobs, models
from tests.app_pages.apptest import opened, plain, rerun_until, send

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "2_build_and_train.py")
APP = str(Path(__file__).resolve().parents[2] / "app.py")
LONG = dict(preset="cnn", batch_size=16, epochs=100)  # minutes of work: still going when the test acts on it


@pytest.fixture(autouse=True)
def fresh_caches(tiny_data_dir):
    """Each test sees its own data folder, not the dataset status another test cached; the page's
    thread setting (training.share_cpu) is undone for the tests that follow."""
    st.cache_data.clear()
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    manager = jobs.job_manager()
    for run_id in manager.active():
        manager.stop(run_id, teacher=True)
    for run_id in list(manager._trainers):
        manager.wait(run_id, timeout=30)


def page(**query) -> AppTest:
    return opened(PAGE, timeout=120, **query)


def configure(at: AppTest, **settings) -> None:
    """Tiny, fast settings on the synthetic 'mnist'; keyword arguments override widgets by key."""
    at.radio(key="train_dataset").set_value("mnist")
    at.number_input(key="train_epochs").set_value(1)
    for key, value in settings.items():
        at.get_by_key(f"train_{key}").set_value(value)
    at.run()


def start(at: AppTest) -> int:
    next(b for b in at.button if b.label == "Start training").click()
    at.run()
    assert not at.exception, at.exception
    return int(at.query_params["run"])


def texts(elements) -> str:
    """The elements' text as a student reads it (Markdown's escapes, ui.literal's, taken out)."""
    return " ".join(str(element.value) for element in elements).replace("\\", "")


def labels(at: AppTest) -> set[str]:
    """The buttons a user can click."""
    return {button.label for button in at.button if not button.disabled}


def click(at: AppTest, label: str) -> None:
    next(b for b in at.button if b.label == label).click()
    at.run()


def test_the_starting_network_is_described_layer_by_layer():
    at = page()
    table = at.dataframe[1].value  # the editor comes first, then the layer table
    assert list(table["layer"]) == ["input", "flatten", "dense1 128", "relu", "dense2 64", "relu", "output 10"]
    expected = models.count_parameters(models.build(models.preset("simple-nn")))
    assert at.metric[0].value == f"{expected:,}"


def test_a_preset_sets_the_kind_and_the_table_follows():
    at = page()
    at.selectbox(key="train_preset").set_value("cnn").run()
    assert at.radio(key="train_kind").value == "cnn"
    assert [editor.key for editor in at.data_editor] == ["train_conv_1", "train_dense_1"]
    expected = models.count_parameters(models.build(models.preset("cnn")))
    assert at.metric[0].value == f"{expected:,}"
    table = at.dataframe[2].value
    assert table["layer"][1] == "conv1 3x3, 32" and table["output shape"][1] == "32 × 26 × 26"


def test_edited_layers_use_the_default_activation_and_bad_ones_get_a_sentence():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["default_activation"] = "gelu"
    at.run()
    at.session_state["train_dense_0"] = {
        "edited_rows": {0: {"units": 32}},
        "added_rows": [{"units": 16, "activation": "gelu", "dropout": 0.1, "batch_norm": True}],
        "deleted_rows": [1],
    }
    at.run()
    assert not at.exception and not at.error
    assert list(at.dataframe[1].value["layer"]) == [
        "input", "flatten", "dense1 32", "relu", "dense2 16", "batchnorm (dense2)", "gelu", "dropout 0.1", "output 10"]
    assert any("GELU" in caption.value for caption in at.caption)

    at.session_state["train_dense_0"] = {"edited_rows": {0: {"units": 0}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert plain(at.error[0].value) == "Hidden layer 1 cannot have 0 units: this server allows 1 to 2,048; change it."
    assert next(b for b in at.button if b.label == "Start training").disabled

    at.session_state["train_dense_0"] = {"edited_rows": {}, "added_rows": [{"units": 16}], "deleted_rows": []}
    at.run()
    assert plain(at.error[0].value) == "Hidden layer 3 has an empty cell; fill it in or delete the row."


def test_a_layer_size_out_of_bounds_is_refused_with_a_sentence_not_clamped_by_the_browser():
    """Issue 14.5: with bounds on its columns the browser's editor turned 100000 units into 2048 and dropped a 0
    without a word; the page gets the number as typed and says what it refuses until it is changed."""
    at = page()
    editor = json.loads(at.dataframe[0].proto.columns)
    assert not {"min_value", "max_value"} & set(editor["units"]["type_config"]) and "dropout" in editor
    at.session_state["train_dense_0"] = {"edited_rows": {0: {"units": 100000}}, "added_rows": [], "deleted_rows": []}
    at.run()
    refusal = "Hidden layer 1 cannot have 100,000 units: this server allows 1 to 2,048; change it."
    assert plain(at.error[0].value) == refusal
    at.text_input(key="train_student").input("Ada").run()  # another edit elsewhere: the refusal stays
    assert plain(at.error[0].value) == refusal
    at.session_state["train_dense_0"] = {"edited_rows": {0: {"units": 2048}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.error and not next(b for b in at.button if b.label == "Start training").disabled


def test_missing_data_and_devices_are_shown_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCORE_DATA_DIR", str(tmp_path / "empty"))
    at = page()
    assert at.radio(key="train_dataset").options == ["MNIST sample (5,000 digits)"]
    captions = texts(at.caption)
    assert "~~MNIST~~ unavailable" in captions and "~~Fashion-MNIST~~ unavailable" in captions
    reasons = devices.device_status()
    for name, title in (("cuda", "CUDA GPU"), ("mps", "Apple GPU (MPS)")):
        if reasons[name]:
            assert f"~~{title}~~ unavailable: {reasons[name]}" in captions
        else:
            assert title in at.radio(key="train_device").options


def test_server_paths_and_setting_names_are_for_the_teacher_alone(monkeypatch, tmp_path):
    """Issue 23.6: students read where the server looked for MNIST and which setting to change; a student is told
    the dataset is not on this server, the teacher (who entered the key) still sees where and how."""
    empty = tmp_path / "empty"
    monkeypatch.setenv("DLCORE_DATA_DIR", str(empty))
    monkeypatch.setenv("DLCORE_TEACHER_KEY", "chalk-and-talk")
    student = AppTest.from_file(APP, default_timeout=120)
    student.switch_page("app_pages/2_build_and_train.py").run()
    rerun_until(student, lambda at: "MNIST sample" in texts(at.sidebar.markdown))  # torch warms up first
    shown = texts([*student.caption, *student.sidebar.caption, *student.sidebar.markdown])
    assert "~~MNIST~~ unavailable: not on this server; the teacher can add it" in shown
    assert "Full MNIST is not on this server." in shown
    assert str(empty) not in shown and "DLCORE" not in shown
    teacher = AppTest.from_file(APP, default_timeout=120)
    teacher.switch_page("app_pages/2_build_and_train.py").run()
    teacher.sidebar.text_input(key="teacher_key").input("chalk-and-talk").run()
    shown = texts([*teacher.caption, *teacher.sidebar.caption])
    assert f"was not found in {empty}/mnist" in shown and "set DLCORE_DATA_DIR to a folder with its IDX files" in shown


def test_a_run_trains_and_its_results_are_shown():
    at = page()
    configure(at, optimizer="sgd", lr=1e-5)  # barely learns, so there are mistakes to show
    run_id = start(at)
    assert at.selectbox(key="train_pick").value == run_id
    rerun_until(at, lambda at: at.success)
    assert at.success[0].value.startswith(f"Run #{run_id} finished: test accuracy")
    assert [m.label for m in at.metric][1:] == ["Test accuracy", "Test loss", "Training time", "Samples/s on CPU"]
    run = jobs.job_manager().store.get(run_id)  # issue 23.6: the training time, as the lists say; the whole time beside
    assert at.metric[3].value == f"{run.seconds:.1f} s" and run.history["evaluation_seconds"] > 0
    assert at.metric[3].proto.delta == (f"{run.history['wall_seconds']:.1f} s in all, "
                                        f"{run.history['evaluation_seconds']:.1f} s of it scoring")
    assert run.history["wall_seconds"] >= run.seconds + run.history["evaluation_seconds"]
    listed = at.dataframe[-1]  # Compare runs
    assert listed.value["seconds"].tolist() == [run.seconds] and listed.proto.placeholder == "—"
    assert json.loads(listed.proto.columns)["seconds"]["label"] == "training time"
    assert len(at.get("plotly_chart")) == 5  # step loss, accuracy, loss, confusion matrix, per-class accuracy
    assert all(json.loads(chart.proto.config) == {"displayModeBar": False} for chart in at.get("plotly_chart"))
    gallery = at.image[0].proto.imgs
    assert len(gallery) > 0 and "→" in gallery[0].caption

    run = jobs.job_manager().store.get(run_id)
    true, predicted = run.results.misclassified[0][1:]
    at.selectbox(key=f"mistakes_{run_id}_true").set_value(true)
    at.selectbox(key=f"mistakes_{run_id}_pred").set_value(predicted).run()
    assert len(at.image[0].proto.imgs) == len(run.results.mistakes(true, predicted))
    assert all(img.caption == f"{true} → {predicted}" for img in at.image[0].proto.imgs)

    at.query_params.pop("run")  # what a visit to another page leaves in the address bar
    at.run()
    assert at.query_params["run"] == str(run_id) and at.success


def test_a_run_finishing_keeps_its_address_and_the_pickers_value():
    """Issue 14: the run's label changes as it finishes; the address keeps ?run=N, whatever label a browser sends."""
    at = page()
    configure(at)
    run_id = start(at)
    picker = at.selectbox(key="train_pick")
    label_while_live = picker.options[picker.index]
    jobs.job_manager().wait(run_id, timeout=60)
    at.run()
    assert at.query_params["run"] == str(run_id) and at.selectbox(key="train_pick").value == run_id
    assert label_while_live not in at.selectbox(key="train_pick").options
    send(at, "train_pick", label_while_live)  # a browser that had not yet drawn the new label
    assert at.query_params["run"] == str(run_id) and at.selectbox(key="train_pick").value == run_id
    assert at.success[0].value.startswith(f"Run #{run_id} finished")


def test_the_watched_run_survives_a_page_change_and_an_unknown_one_is_named():
    app = AppTest.from_file(APP, default_timeout=120)
    app.switch_page("app_pages/2_build_and_train.py")
    app.run()
    configure(app)
    run_id = start(app)
    jobs.job_manager().wait(run_id, timeout=60)
    app.switch_page("app_pages/6_run_board.py")
    app.query_params.clear()  # a page change drops the address's query
    app.run()
    app.switch_page("app_pages/2_build_and_train.py")
    app.run()
    assert app.query_params["run"] == str(run_id) and app.selectbox(key="train_pick").value == run_id

    unknown = page(run="999")
    assert "999" in plain(unknown.warning[0].value)
    assert "run" not in unknown.query_params and unknown.selectbox(key="train_pick").value is None
    assert not any("999" in option for option in unknown.selectbox(key="train_pick").options)
    unknown.run()
    assert not unknown.warning and "run" not in unknown.query_params


@pytest.mark.parametrize("address", ["9" * 23, "9" * 5000, "²", "-1", "<script>"])
def test_a_run_address_that_is_no_run_id_breaks_nothing(address):
    """A 23-digit id used to raise SQLite's OverflowError on every rerun of the session, '²' passed isdigit()."""
    at = page(run=address)
    assert not at.exception and at.selectbox(key="train_pick").value is None
    at.run()
    assert not at.exception


def test_other_sessions_find_the_live_run_but_only_its_owner_controls_it():
    first = page()
    configure(first, **LONG)
    run_id = start(first)
    rerun_until(first, lambda at: "Stop" in labels(at))

    linked = page(run=str(run_id))  # another browser given the run's link: it finds the run, it does not own it
    assert linked.selectbox(key="train_pick").value == run_id
    rerun_until(linked, lambda at: at.get("progress"))
    assert not labels(linked) & {"Pause", "Resume", "Stop"}
    assert "Only the student who started this run, or the teacher, can pause or stop it." in texts(linked.caption)

    other = page()  # another student, no link: offered the live run
    assert "training or waiting on this server" in texts(other.info)
    options = other.selectbox(key="train_pick").options
    assert options == [f"● training now: #{run_id} CNN 32-64 / 128, adam, mnist (running)"]
    other.selectbox(key="train_pick").set_value(run_id).run()
    assert other.query_params["run"] == str(run_id)
    rerun_until(other, lambda at: at.get("progress"))
    assert "samples/s** on CPU" in other.get("progress")[0].proto.text
    assert len(other.get("plotly_chart")) in (3, 5)  # the live curves, and two histograms once an epoch has ended
    assert not labels(other) & {"Pause", "Resume", "Stop"}

    rerun_until(first, lambda at: "Pause" in labels(at))
    click(first, "Pause")
    assert jobs.job_manager().progress(run_id).status == "paused"
    assert first.get("progress")[0].proto.text.startswith("Paused · Epoch")
    assert "its training slot went to the next run in line" in texts(first.info)
    click(first, "Resume")
    assert jobs.job_manager().progress(run_id).status == "running"

    click(first, "Stop")
    rerun_until(first, lambda at: at.warning)
    assert plain(first.warning[0].value).startswith(f"Run #{run_id} was stopped.")
    assert first.metric[1].label == "Test accuracy"  # a stopped run still shows what it learned
    rerun_until(linked, lambda at: at.warning)


def test_the_teacher_key_in_the_sidebar_shows_the_controls_of_every_run(monkeypatch):
    student = page()
    configure(student, **LONG)
    run_id = start(student)
    assert not AppTest.from_file(APP, default_timeout=120).run().sidebar.text_input  # no teacher key on this server
    monkeypatch.setenv("DLCORE_TEACHER_KEY", "chalk-and-talk")
    teacher = AppTest.from_file(APP, default_timeout=120)
    teacher.switch_page("app_pages/2_build_and_train.py")
    teacher.query_params["run"] = str(run_id)
    teacher.run()
    rerun_until(teacher, lambda at: at.get("progress"))
    assert "Stop" not in labels(teacher)

    teacher.text_input(key="teacher_key").input("chalk").run()
    assert "That is not the teacher key." in texts(teacher.sidebar.caption) and "Stop" not in labels(teacher)
    teacher.text_input(key="teacher_key").input("chalk-and-talk").run()
    assert "Teacher: you can pause and stop every run and race." in texts(teacher.sidebar.caption)
    assert not teacher.sidebar.text_input and teacher.session_state["teacher_key"] == ""  # the key is not kept
    rerun_until(teacher, lambda at: {"Pause", "Stop"} <= labels(at))
    click(teacher, "Stop")
    assert jobs.job_manager().wait(run_id, timeout=60).status == "stopped"


def test_scoring_the_test_split_shows_as_its_own_phase_with_its_own_progress(monkeypatch):
    """Issue 14.2: the bar sat at 'step 79 of 79' for 16 s while the test split was scored. Issue 23.5: the bar then
    fell back to the scoring's share (~10 %); it keeps the training done, and the text says how far scoring is."""
    at = page()
    configure(at, **LONG)
    run_id = start(at)
    rerun_until(at, lambda at: at.get("progress"))  # drawn once the run has its steps: it is training
    real = jobs.JobManager.progress

    def first_of_four_epochs_scored_half(self, number):
        progress = real(self, number)
        return replace(progress, epochs=4, step=progress.steps_per_epoch, phase="evaluating", scored=(6, 12),
                       scoring=1000, eta=40.0)

    monkeypatch.setattr(jobs.JobManager, "progress", first_of_four_epochs_scored_half)
    at.run()
    bar = at.get("progress")[0].proto
    assert bar.value == 25  # one epoch of four trained, not the scoring's 50 %
    assert "Epoch 1 of 4 trained · **scoring 1,000 test images: 50%** (batch 6 of 12) · about 40 s left" in bar.text
    charts = at.get("plotly_chart")  # issue 23.5: Plotly's toolbar covered the live charts' titles
    assert len(charts) >= 3 and all(json.loads(chart.proto.config) == {"displayModeBar": False} for chart in charts)
    jobs.job_manager().stop(run_id, teacher=True)


def test_browsers_without_an_identity_share_one_students_place_and_are_told_to_reload(monkeypatch):
    """Issue 21: 100 cookieless sessions queued 188 runs; now together they have one student's share."""
    named = page()
    configure(named, **LONG)
    running = start(named)
    monkeypatch.setattr("ui.classroom._identity_cookie", lambda: None)
    waiting = []
    for _ in range(2):
        at = page()
        configure(at)
        waiting.append(start(at))
    refused = page()
    configure(refused)
    click(refused, "Start training")
    assert texts(refused.error) == ("You already have 2 runs or races waiting or paused, the most one student may; stop "
                                    "one, or try again once one is training. This browser has no identity from the "
                                    "server yet: reload the page, with cookies allowed.")
    assert jobs.job_manager().active() == [running, *waiting]


def test_a_second_run_waits_in_the_queue_and_says_where():
    first = page()
    configure(first, **LONG)
    running = start(first)
    second = page()
    configure(second)
    waiting = start(second)
    assert "Waiting: number 1 in line, starting in about" in texts(second.info)
    jobs.job_manager().stop(running, teacher=True)
    rerun_until(second, lambda at: at.success)
    assert second.success[0].value.startswith(f"Run #{waiting} finished")


def test_a_diverging_run_says_why_and_what_to_try():
    at = page()
    configure(at, optimizer="sgd", lr=1000.0)
    start(at)
    rerun_until(at, lambda at: at.error)
    assert "diverged" in plain(at.error[0].value) and "learning rate 1000 with sgd" in plain(at.error[0].value)
    assert "What to try" in texts(at.markdown)


def test_past_runs_are_listed_and_ticked_ones_overlaid():
    manager = jobs.job_manager()
    at = page()
    configure(at)
    first = start(at)
    manager.wait(first, timeout=60)
    at.select_slider(key="train_batch_size").set_value(128).run()
    second = start(at)
    manager.wait(second, timeout=60)
    at.run()
    table = at.dataframe(key="train_compare").value
    assert list(table["run"]) == [second, first] and list(table["batch size"]) == [128, 64]
    charts = len(at.get("plotly_chart"))
    at.session_state["train_compare"] = {"selection": {"rows": [0, 1], "columns": []}}
    at.run()
    assert len(at.get("plotly_chart")) == charts + 3
    overlay = at.get("plotly_chart")[-3]
    assert f'"#{second}"' in overlay.proto.spec and f'"#{first}"' in overlay.proto.spec


# ---- shareable setups and presenter mode -----------------------------------------------------------

def test_a_setup_link_opens_that_setup_and_the_address_follows_edits():
    at = page(net="cnn", opt="sgd", lr="0.05", momentum="0.9", epochs="3", batch="128")
    assert at.radio(key="train_kind").value == "cnn" and at.selectbox(key="train_preset").value == "cnn"
    assert at.selectbox(key="train_optimizer").value == "sgd" and at.select_slider(key="train_lr").value == 0.05
    assert at.number_input(key="train_epochs").value == 3 and at.select_slider(key="train_batch_size").value == 128
    assert not at.warning
    at.number_input(key="train_epochs").set_value(4).run()
    assert at.query_params["epochs"] == "4" and at.query_params["net"] == "cnn"
    assert at.number_input(key="train_epochs").value == 4  # the page's own address is not taken for a new link
    assert any("epochs=4" in code.value for code in at.code)


def test_links_use_the_schemas_field_names_and_name_each_key_the_page_does_not_use():
    """Issue 23.3: `dataset=fashion-mnist` trained on the MNIST sample without a word, since the page read only
    `data=`; today's short keys are still read, and the address is written in field names."""
    at = page(dataset="fashion-mnist", optimizer="sgd", batch_size="128", colour="red", noise="5")
    assert at.session_state["train_config"].dataset == "fashion-mnist"
    assert at.selectbox(key="train_optimizer").value == "sgd" and at.select_slider(key="train_batch_size").value == 128
    note = plain(at.warning[0].value)
    assert "does not use colour=red, noise=5" in note
    assert at.query_params["dataset"] == "fashion-mnist" and at.query_params["batch_size"] == "128"
    assert "colour" not in at.query_params and "batch" not in at.query_params
    older = page(data="fashion-mnist", opt="sgd", batch="128")
    assert older.session_state["train_config"].dataset == "fashion-mnist" and not older.warning
    assert older.query_params["optimizer"] == "sgd" and "opt" not in older.query_params


def test_coming_back_to_the_page_puts_its_setup_back_in_the_address():
    at = page(net="cnn", epochs="3")
    at.query_params.clear()  # what Streamlit's navigation leaves after a visit to another page
    at.run()
    assert at.query_params["net"] == "cnn" and at.query_params["epochs"] == "3"
    assert at.number_input(key="train_epochs").value == 3


def test_a_bad_link_falls_back_to_the_starting_setup_with_a_note():
    at = page(net="resnet-152", epochs="3")
    assert "could not be used" in plain(at.warning[0].value) and "net ('resnet-152')" in plain(at.warning[0].value)
    assert at.selectbox(key="train_preset").value == "simple-nn" and at.number_input(key="train_epochs").value == 3
    at.run()
    assert not at.warning and not at.exception


def test_a_link_beyond_a_widgets_bounds_is_named_and_leaves_the_address():
    at = page(opt="sgd", momentum="5", lr="abc", epochs="3")  # momentum=5 raised above the slider's maximum
    note = plain(at.warning[0].value)
    assert "momentum ('5')" in note and "lr ('abc')" in note and "0.99" in note
    assert at.slider(key="train_momentum").value == 0.9 and at.selectbox(key="train_optimizer").value == "sgd"
    assert "momentum" not in at.query_params and "lr" not in at.query_params and at.query_params["epochs"] == "3"


def test_a_network_too_big_for_the_server_is_refused_before_anything_is_allocated(monkeypatch):
    import resource

    huge = "_".join(["256-same-bn"] * 4)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    at = page(conv=huge, dense="_".join(["2048"] * 8), batch="8192")
    assert "would need about" in plain(at.warning[0].value) and "MB" in plain(at.warning[0].value)
    assert at.radio(key="train_kind").value == "mlp"  # the starting setup
    monkeypatch.setenv("DLCORE_MAX_RUN_MB", "300")
    at.selectbox(key="train_preset").set_value("cnn").run()
    at.select_slider(key="train_batch_size").set_value(2048).run()
    assert any("would need about" in plain(error.value) and "300 MB" in plain(error.value) for error in at.error)
    assert next(b for b in at.button if b.label == "Start training").disabled
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 1_000_000  # KiB; the network is ~9 GB


def test_presenter_mode_hides_the_settings_but_says_what_is_trained():
    at = page(present="1", epochs="2")
    assert any("MLP 128-64 relu" in markdown.value and "2 epochs" in markdown.value for markdown in at.markdown)
    assert [b.label for b in at.button if b.label == "Start training"]


def test_presenter_mode_describes_the_run_on_screen_with_a_table_and_counts_that_grow():
    """Issue 14.4: the setup line named the form's 'MLP 128-64 … 5 epochs' while a CNN run was shown, the layer
    table stayed small, and the confusion matrix's counts did not grow with the rest."""
    from dlcore import TrainConfig

    manager = jobs.job_manager()
    cnn = manager.submit(TrainConfig(dataset="mnist", model=models.preset("cnn"), epochs=1, batch_size=128))
    manager.wait(cnn, timeout=120)
    at = page(present="1", run=str(cnn))
    lines = [plain(markdown.value) for markdown in at.markdown if "Run #" in markdown.value]
    assert lines == [f"Run #{cnn}: **CNN 32-64 / 128 · Adam lr 0.001 · batch 128 · 1 epoch** on MNIST"]
    assert not any("MLP 128-64" in markdown.value for markdown in at.markdown)
    layers = at.table[0].value  # text, which presenter mode enlarges, not a grid drawn on a canvas
    assert list(layers["layer"])[1:4] == ["conv1 3x3, 32", "relu", "conv2 3x3, 64"]
    assert not any("output shape" in frame.value.columns for frame in at.dataframe)
    confusion = next(json.loads(chart.proto.spec) for chart in at.get("plotly_chart")
                     if "Confusion" in json.loads(chart.proto.spec)["layout"]["title"]["text"])
    assert {trace.get("textfont", {}).get("size") for trace in confusion["data"][:2]} == {20}


@pytest.mark.gpu
def test_a_run_on_the_gpu_shows_the_gpus_name_and_its_samples_per_second():
    at = page()
    configure(at, device="cuda")
    run_id = start(at)
    rerun_until(at, lambda at: at.success)
    assert at.success[0].value.startswith(f"Run #{run_id} finished")
    (speed,) = [m for m in at.metric if m.label == f"Samples/s on {torch.cuda.get_device_name(0)}"]
    assert float(speed.value.replace(",", "")) > 0


def test_a_students_name_is_kept_in_the_address_across_reloads_page_changes_and_races():
    """Issue 14.8: the name cleared on every reload, so later runs and race lanes were anonymous."""
    from dlcore import race

    app = AppTest.from_file(APP, default_timeout=120)
    app.switch_page("app_pages/2_build_and_train.py")
    app.run()
    app.text_input(key="train_student").input("  Ada   Lovelace ").run()
    assert app.query_params["name"] == "Ada Lovelace"
    app.switch_page("app_pages/6_run_board.py")
    app.query_params.clear()  # a page change drops the address's query: the session writes the name back
    app.run()
    assert app.query_params["name"] == "Ada Lovelace"

    reloaded = AppTest.from_file(APP, default_timeout=120)  # a reload: a new session with the address's query
    reloaded.switch_page("app_pages/2_build_and_train.py")
    reloaded.query_params.update(name="Ada Lovelace")
    reloaded.run()
    assert reloaded.text_input(key="train_student").value == "Ada Lovelace"
    configure(reloaded)
    run_id = start(reloaded)
    assert jobs.job_manager().store.get(run_id).student == "Ada Lovelace"

    racing = AppTest.from_file(APP, default_timeout=120)
    racing.switch_page("app_pages/5_optimizer_race.py")
    racing.query_params.update(name="Ada Lovelace")
    racing.run()
    racing.radio(key="race_dataset").set_value("mnist")
    next(b for b in racing.button if b.label == "Start the race").click().run()
    manager = race.race_manager()
    race_id = manager.races()[0]
    assert manager.progress(race_id).student == "Ada Lovelace"
    manager.stop(race_id, teacher=True)
    manager.wait(race_id, timeout=60)

    forged = AppTest.from_file(APP, default_timeout=120)  # an address is untrusted text, cleaned as runs store names
    forged.switch_page("app_pages/2_build_and_train.py")
    forged.query_params.update(name="\u202eEve\u200b\n<b>x</b>" + "y" * 100)
    forged.run()
    cleaned = forged.text_input(key="train_student").value
    assert cleaned == forged.query_params["name"] == ("Eve <b>x</b>" + "y" * 100)[:40]


def test_sessions_without_an_identity_control_no_run_not_even_their_shared_owners(monkeypatch):
    """They share one owner for the queue; were that ownership enough to control, any client could stop the runs
    of every browser whose cookies are blocked."""
    monkeypatch.setattr("ui.classroom._identity_cookie", lambda: None)
    first = page()
    configure(first, **LONG)
    run_id = start(first)
    rerun_until(first, lambda at: at.get("progress"))
    assert not labels(first) & {"Pause", "Resume", "Stop"}
    assert "Only the student who started this run, or the teacher, can pause or stop it." in texts(first.caption)
    jobs.job_manager().stop(run_id, teacher=True)


@pytest.mark.parametrize("wrong_by", range(10))
def test_the_strips_fashion_captions_each_stay_under_their_own_digit(wrong_by):
    """Issue 23.5: Fashion-MNIST's names ran into each other ("T-shirt/topT-shirt/top"). Every class read right,
    then every class read wrong: no caption crosses the middle of the gap between two digits, none is cut off."""
    import numpy as np

    from dlcore import data
    from dlcore.inside import Strip
    from ui.inside import RIGHT, WRONG, strip_image

    labels = [i // 2 for i in range(20)]
    guesses = [(label + wrong_by) % 10 for label in labels]
    picture = strip_image(Strip(np.zeros((20, 28, 28), dtype=np.uint8), labels, guesses),
                          data.info("fashion-mnist").classes)
    frames = (picture == RIGHT).all(axis=-1) | (picture == WRONG).all(axis=-1)
    ink = (picture < 200).any(axis=-1) & ~frames.any(axis=1, keepdims=True)  # in the caption rows only
    columns = np.flatnonzero(frames.any(axis=0))
    edges = np.flatnonzero(np.diff(columns) > 1)  # where one digit's frame ends and the next one's begins
    middles = (columns[edges] + columns[edges + 1]) // 2
    assert len(middles) == 9 and not ink[:, middles].any()
    assert ink.any() and not ink[-1].any()
