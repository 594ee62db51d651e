"""Sequences: an RNN, an LSTM or a GRU reads a digit one row at a time. Train one, then watch its state build up and
its answer change as the rows arrive, and see how far back each kind's gradient reaches."""

from __future__ import annotations

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from dlcore import DLCoreError, TrainConfig, data, inside, jobs, predict, preprocess, sequences
from dlcore.config import MAX_CELL_LAYERS, MAX_EPOCHS, ModelSpec
from ui import charts, literal
from ui.classroom import control, control_problem_ui, may_control, presenting
from ui.runs import ended_run_ui, live_progress_ui, picked_run_ui, submit_ui
from ui.sequences import answers_figure, reach_figure, rows_figure
from ui.status import usable_dataset_ui

CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
STATES = (20, 64, 128, 256)
CANVAS = 200
DEFAULTS = {"seq_cell": "lstm", "seq_state": 64, "seq_layers": 1, "seq_epochs": 4}

manager = jobs.job_manager()


def settings_ui() -> tuple[TrainConfig, bool]:
    """The cell, its state and layers, the epochs and the data, in one row with Start; Adam at sequences.LR."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    cell_column, state_column, layers_column, epochs_column, data_column, start_column = st.columns(
        [2.4, 1.2, 1.1, 1.1, 1.8, 1.3], vertical_alignment="bottom")
    cell = cell_column.segmented_control(
        "Cell", list(CELLS), format_func=CELLS.get, key="seq_cell",
        help="LSTM and GRU: gates decide what the state keeps. RNN: a plain state, squashed again every row.") or "lstm"
    state = state_column.selectbox("State", STATES, key="seq_state", help="Numbers the network carries from row to "
                                   "row (the course's: 20).")
    layers = layers_column.number_input("Layers", 1, MAX_CELL_LAYERS, key="seq_layers")
    epochs = epochs_column.number_input("Epochs", 1, MAX_EPOCHS, key="seq_epochs")
    dataset = usable_dataset_ui(data_column, "seq_dataset")
    start = start_column.button("Start", type="primary", icon=":material/play_arrow:", width="stretch")
    spec = ModelSpec(cell, dense=(), state=int(state), cell_layers=int(layers))
    return TrainConfig(dataset=dataset, model=spec, epochs=int(epochs), lr=sequences.LR), start


def sequence_runs() -> dict:
    """The server's recurrent runs, newest first."""
    return {run.id: run for run in manager.store.list(with_history=False) if run.config.model.sequence}


def live_ui(run_id: int, status: str) -> None:
    """A training run's progress and its accuracy per epoch; the page reruns when it ends."""
    progress = live_progress_ui(manager, run_id, status)
    if progress is None:
        return
    st.plotly_chart(charts.epoch_figure([("", progress.history)], "accuracy", run_id, presenting()),
                    key="seq_live_accuracy", width="stretch", config=charts.CONFIG)


def digit_ui(dataset: str):
    """A test digit or one drawn here, as (28x28 picture in [0, 255], normalised input); None without a drawing."""
    source = st.radio("Digit", ["test", "draw"], horizontal=True, key="seq_source",
                      format_func={"test": "A test digit", "draw": "Draw one here"}.get)
    info = data.info(dataset)
    if source == "test":
        label_column, nth_column = st.columns(2)
        label = label_column.selectbox("Class", range(len(info.classes)), format_func=lambda c: info.classes[c],
                                       key="seq_class")
        nth = nth_column.number_input("Which one", 1, inside.class_count(dataset, label), 1, key="seq_nth")
        image, _ = inside.test_digit(dataset, label, nth - 1)
        return image, inside.normalized(image, dataset)
    st.caption("Draw one digit, large.")  # a line of room for the canvas's toolbar, which shows above it
    canvas = st_canvas(stroke_width=15, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS, width=CANVAS,
                       drawing_mode="freedraw", return_image_data=True, key="seq_canvas")
    st.caption("Undo, redo and clear: above the canvas, while the mouse is over it.")
    if canvas.image_data is None:
        return None
    try:
        made = preprocess.mnist_style(canvas.image_data, info.mean, info.std)
    except preprocess.EmptyImageError:
        st.caption("Draw a digit on the black square.")
        return None
    return made.centred, made.normalized


def finished_ui(run, runs: dict) -> None:
    """A finished run: a digit read row by row (a slider sets how many), and how far back its gradient reaches
    beside the newest run of each other cell on the same data."""
    try:
        classifier = predict.load(run.checkpoint)
    except DLCoreError as exc:
        st.error(literal(f"Run #{run.id} cannot be shown: {exc}"))
        return
    classes = data.info(run.config.dataset).classes
    st.markdown(f"**Run #{run.id}: {run.config.model.summary()}** on {run.config.dataset} · test accuracy "
                f"**{run.accuracy:.1%}**." if run.accuracy is not None else f"**Run #{run.id}** {run.status}.")
    left, right = st.columns([2, 5], gap="medium")
    with left:
        digit = digit_ui(run.config.dataset)
        rows = st.slider("Rows read", 1, sequences.STEPS, sequences.STEPS, key="seq_rows",
                         help="Feed the digit a row at a time, top to bottom.")
    if digit is None:
        right.info("Draw a digit to see it read row by row.", icon=":material/draw:")
    else:
        image, normalized = digit
        read = sequences.reading(classifier.model, normalized)
        answer = int(read.answers[rows - 1].argmax())
        with right:
            st.markdown(f"After row {rows} it reads **{classes[answer]}** ({read.answers[rows - 1][answer]:.0%}).")
            st.plotly_chart(rows_figure(image, read.states, rows, presenting()), key="seq_rows_figure", width="stretch",
                            config=charts.CONFIG)
            st.plotly_chart(answers_figure(read.answers, rows, classes, presenting()), key="seq_answers",
                            width="stretch", config=charts.CONFIG)
    reach_ui(run, runs)


def reach_ui(run, runs: dict) -> None:
    """This run's gradient through the rows beside the newest finished run of each other cell on its data."""
    st.subheader("How far back the gradient reaches")
    compared = [run]
    for kind in CELLS:
        other = next((r for r in runs.values() if r.config.model.kind == kind and r.id != run.id and r.checkpoint
                      and r.status in ("done", "stopped") and r.config.dataset == run.config.dataset), None)
        if other is not None and kind != run.config.model.kind:
            compared.append(other)
    try:
        lines = [(f"#{r.id} {r.config.model.summary()}", list(sequences.gradient_reach(r.checkpoint))) for r in compared]
    except DLCoreError as exc:
        st.error(literal(exc))
        return
    st.plotly_chart(reach_figure(lines, presenting()), key="seq_reach", width="stretch", config=charts.CONFIG)
    missing = [CELLS[kind] for kind in CELLS if kind not in {r.config.model.kind for r in compared}]
    st.caption("The loss's gradient with respect to each row's pixels, over 200 test digits, as a share of the last "
               "row's. A plain RNN's fades fast towards the first rows, so it learns little from them; gates let an "
               "LSTM's and a GRU's reach back." + (f" Train {' and '.join(missing)} on the same data to compare."
                                                    if missing else ""))


st.title("Sequences")
if not presenting():
    st.caption("A recurrent network reads a digit one row at a time, carrying a state of a few numbers from row to "
               "row, and answers after the last. Train one, then feed it a digit row by row.")
config, start = settings_ui()
if start:
    submit_ui(manager, config, "seq")
run_id, runs, progress, (stop_column,) = picked_run_ui(
    manager, sequence_runs, "seq", "No recurrent network has been trained on this server yet: press Start.", [5, 1.2])
if progress is not None:
    if may_control(manager, run_id):
        stop_column.button("Stop", icon=":material/stop:", on_click=control, args=(manager.stop, run_id),
                           width="stretch", key=f"seq_stop_{run_id}")
        control_problem_ui()
    st.fragment(run_every=inside.STRIP_SECONDS)(live_ui)(run_id, progress.status)
else:
    ended_run_ui(manager.store.get(run_id), finished_ui, runs)
