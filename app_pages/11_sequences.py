"""Sequences: an RNN, an LSTM or a GRU reads a sequence one step at a time: a digit row by row, a sine wave, a letter
to remember, a sum written out, English text. Train one, watch it learn, then look inside: its state step by step, its
gates, how far back its gradient reaches, and (for memory) how long each kind of cell remembers."""

from __future__ import annotations

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from dlcore import DLCoreError, TrainConfig, data, inside, jobs, predict, preprocess, sequences
from dlcore.config import MAX_CELL_LAYERS, MAX_EPOCHS, MAX_TEXT_CHARS, ModelSpec, SequenceTask, bounds
from ui import charts, literal
from ui.classroom import presenting
from ui.runs import live_progress_ui, run_view_ui, submit_ui
from ui.sequences import answers_figure, gates_figure, horizon_figure, reach_figure, rows_figure, waves_figure
from ui.status import usable_dataset_ui

CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
TASKS = {"smnist": "Digits, row by row", "sine": "Sine: the next value", "memory": "Memory: a letter",
         "addition": "Addition", "text": "Text: the next letter"}
# each task's first settings (state, layers, epochs): what reaches its lesson in seconds to a minute or two here
TASK_SETTINGS = {"smnist": (64, 1, 4), "sine": (20, 2, 5), "memory": (64, 1, 15), "addition": (128, 1, 20),
                 "text": (256, 1, 2)}
STATES = (20, 64, 128, 256)
CANVAS = 200
TEXT_SOURCES = {"python": "Python's documentation", "own": "Your own text"}
DEFAULTS = {"seq_task": "smnist", "seq_cell": "lstm", "seq_state": 64, "seq_layers": 1, "seq_epochs": 4,
            "seq_delay": SequenceTask().delay, "seq_text_source": "python"}

manager = jobs.job_manager()


def task_chosen() -> None:
    """A new task starts from its own first settings."""
    state, layers, epochs = TASK_SETTINGS[st.session_state.seq_task]
    st.session_state.update(seq_state=state, seq_layers=layers, seq_epochs=epochs)


def settings_ui() -> tuple[TrainConfig | None, bool]:
    """The task, the cell, its state and layers, the epochs and the task's data, in one row with Start; Adam at
    sequences.LR. None for the config when the student's own text cannot be used (a sentence says why)."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    if presenting():  # larger type: the row in two, so that nothing is cut short on a projector
        task_column, cell_column, state_column, layers_column, epochs_column = st.columns(
            [2.1, 2.6, 1.1, 1, 1], vertical_alignment="bottom")
        data_column, start_column, _ = st.columns([2.1, 1.4, 4.3], vertical_alignment="bottom")
    else:
        task_column, cell_column, state_column, layers_column, epochs_column, data_column, start_column = st.columns(
            [2.1, 2.2, 1, 1, 1, 1.9, 1.2], vertical_alignment="bottom")
    task = task_column.selectbox("Task", list(TASKS), format_func=TASKS.get, key="seq_task", on_change=task_chosen,
                                 help="What the network reads, a step at a time, and what it answers.")
    cell = cell_column.segmented_control(
        "Cell", list(CELLS), format_func=CELLS.get, key="seq_cell",
        help="LSTM and GRU: gates decide what the state keeps. RNN: a plain state, squashed again every step.") or "lstm"
    state = state_column.selectbox("State", STATES, key="seq_state", help="Numbers the network carries from step to "
                                   "step (the course's: 20).")
    layers = layers_column.number_input("Layers", 1, MAX_CELL_LAYERS, key="seq_layers")
    epochs = epochs_column.number_input("Epochs", 1, MAX_EPOCHS, key="seq_epochs")
    digits, delay, text = "mnist-sample", SequenceTask().delay, None
    if task == "smnist":
        digits = usable_dataset_ui(data_column, "seq_dataset")
    elif task == "memory":
        low, high = bounds(SequenceTask, "delay")
        delay = data_column.number_input("Delay", low, high, key="seq_delay",
                                         help="Random digits between the letter and the question.")
    elif task == "text":
        source = data_column.selectbox("Text", list(TEXT_SOURCES), format_func=TEXT_SOURCES.get, key="seq_text_source")
        if source == "own":
            text = st.text_area("Your text", key="seq_text", max_chars=MAX_TEXT_CHARS, height=120,
                                placeholder=f"Paste at least {sequences.MIN_TEXT_CHARS:,} characters of English.")
    if presenting() and task in ("sine", "addition"):  # no data to choose: Start where the data would be
        start_column = data_column
    start = start_column.button("Start", type="primary", icon=":material/play_arrow:", width="stretch")
    if not start:
        return None, False
    spec = ModelSpec(cell, dense=(), state=int(state), cell_layers=int(layers))
    try:
        dataset = sequences.dataset_name(SequenceTask(task, int(delay)), digits, text)
    except DLCoreError as exc:
        st.error(literal(exc))
        return None, False
    return TrainConfig(dataset=dataset, model=spec, epochs=int(epochs), lr=sequences.LR,
                       loss="mse" if task == "sine" else "cross-entropy"), True


def sequence_runs() -> dict:
    """The server's recurrent runs, newest first."""
    return {run.id: run for run in manager.store.list(with_history=False) if run.config.model.sequence}


def live_ui(run_id: int, status: str) -> None:
    """A training run's progress, its loss step by step and what it does now; the page reruns when it ends."""
    trainer = manager.trainer(run_id)
    task = sequences.task_of(trainer.config.dataset) if trainer is not None else None
    unit = "digits" if task is None or task.name == "smnist" else "sequences"
    progress = live_progress_ui(manager, run_id, status, unit)
    if progress is None or task is None:
        return
    chart, view = st.columns([1, 1.3], gap="medium")  # the loss of every step: a text's epoch takes a minute
    chart.plotly_chart(charts.loss_figure([("smoothed", progress.step_losses, progress.steps_per_epoch)],
                                          revision=run_id, presenter=presenting()),
                       key="seq_live_loss", width="stretch", config=charts.CONFIG)
    reading = trainer.strip_guesses()
    with view:
        if reading is None or reading[1] is None:
            if task.name == "memory":
                horizon_ui()
            elif task.name != "smnist":
                st.caption("What it writes appears after its first seconds of training.")
            return
        task_view_ui(task, *reading)


def task_view_ui(task, step: int, view: dict) -> None:
    """What a training run writes now: text at a chosen temperature, its sums, its guesses at the next value."""
    if task.name == "text":
        temperature = st.select_slider("Temperature", [str(t) for t in sequences.TEMPERATURES], value="0.8",
                                       key="seq_live_temperature",
                                       help="Low: its likeliest letters, again and again. High: more surprise, fewer "
                                            "real words.")
        st.caption(f"What it writes after “The ”, at step {step:,}:")
        st.code(view["samples"][temperature], language=None, wrap_lines=True)
    elif task.name == "addition":
        rows = [f"{a} + {b} = **{written or '?'}**" + (" ✓" if written == str(a + b) else f" ✗ ({a + b})")
                for (a, b), written in zip(sequences.LIVE_SUMS, view["sums"])]
        st.markdown(f"What it writes now (step {step:,}):\n\n" + "\n".join(f"- {row}" for row in rows))
    elif task.name == "sine":
        st.plotly_chart(waves_figure(view["waves"], view["next"], view["guessed"], presenting()), key="seq_live_waves",
                        width="stretch", config=charts.CONFIG)


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


def headline(run) -> str:
    """A finished run's name and its task's score, in one line."""
    results = run.results
    task = sequences.task_of(run.config.dataset)
    if results is None:
        return f"**Run #{run.id}** {run.status}."
    if task.values:
        score = f"test error (MSE) **{results.loss:.4f}**"
    elif task.every_step:
        score = f"**{results.loss:.2f} nats per character** on held-out text ({results.accuracy:.0%} of its letters right)"
    else:
        score = f"test accuracy **{results.accuracy:.1%}**"
    title = data.info(run.config.dataset).title
    return f"**Run #{run.id}: {run.config.model.summary()}** on {title[0].lower()}{title[1:]} · {score}."


def finished_ui(run, runs: dict) -> None:
    """A finished run: what it does with the task's own input, its gates, and how far back its gradient reaches
    beside the newest run of each other cell on the same data."""
    try:
        classifier = predict.load(run.checkpoint)
    except DLCoreError as exc:
        st.error(literal(f"Run #{run.id} cannot be shown: {exc}"))
        return
    task = sequences.task_of(run.config.dataset)
    st.markdown(headline(run))
    try:
        {"smnist": digit_reading_ui, "text": writing_ui, "addition": sums_ui, "sine": waves_ui,
         "memory": memory_ui}[task.name](run, classifier.model)
        gates_ui(run, classifier.model)
    except DLCoreError as exc:
        st.error(literal(exc))
    reach_ui(run, runs, "row" if task.name == "smnist" else "step")


def digit_reading_ui(run, model) -> None:
    """A digit read row by row: a slider sets how many rows it has read."""
    classes = data.info(run.config.dataset).classes
    left, right = st.columns([2, 5], gap="medium")
    with left:
        digit = digit_ui(run.config.dataset)
        rows = st.slider("Rows read", 1, sequences.IMAGE_SIZE, sequences.IMAGE_SIZE, key="seq_rows",
                         help="Feed the digit a row at a time, top to bottom.")
    if digit is None:
        right.info("Draw a digit to see it read row by row.", icon=":material/draw:")
        return
    image, normalized = digit
    read = sequences.reading(model, normalized)
    answer = int(read.answers[rows - 1].argmax())
    with right:
        st.markdown(f"After row {rows} it reads **{classes[answer]}** ({read.answers[rows - 1][answer]:.0%}).")
        st.plotly_chart(rows_figure(image, read.states, rows, presenting()), key="seq_rows_figure", width="stretch",
                        config=charts.CONFIG)
        st.plotly_chart(answers_figure(read.answers, rows, classes, presenting()), key="seq_answers",
                        width="stretch", config=charts.CONFIG)


def writing_ui(run, model) -> None:
    """The network writes: how it starts, how many letters, at what temperature; Write again draws anew."""
    prime_column, length_column, temperature_column, again_column = st.columns([2.2, 1.3, 2.3, 1.6],
                                                                               vertical_alignment="bottom")
    prime = prime_column.text_input("It starts with", "The ", max_chars=100, key="seq_prime")
    length = length_column.number_input("Letters", 20, sequences.MAX_SAMPLE_CHARS, 300, step=50, key="seq_length")
    temperature = temperature_column.slider("Temperature", 0.1, 2.0, 0.8, 0.1, key="seq_temperature",
                                            help="Low: its likeliest letters, again and again. High: more surprise, "
                                                 "fewer real words.")
    if again_column.button("Write again", icon=":material/refresh:", width="stretch"):
        st.session_state.seq_draw = st.session_state.get("seq_draw", 0) + 1
    written = sequences.writing(run.checkpoint, float(temperature), int(length), prime,
                                st.session_state.get("seq_draw", 0))
    st.code(sequences.clean_text(prime) + written, language=None, wrap_lines=True)


def sums_ui(run, model) -> None:
    """A sum of the student's for it to write, and how many held-out sums it writes exactly right."""
    a_column, b_column, answer_column = st.columns([1, 1, 3], vertical_alignment="bottom")
    top = 10 ** sequences.ADDITION_DIGITS - 1
    a = a_column.number_input("a", 0, top, 12, key="seq_a")
    b = b_column.number_input("b", 0, top, 34, key="seq_b")
    written = sequences.answer_sums(model, [(int(a), int(b))])[0]
    verdict = "right" if written == str(a + b) else f"wrong: it is {a + b}"
    exact = sequences.exact_share(run.checkpoint)
    answer_column.markdown(f"It reads `{sequences.addition_question(int(a), int(b))}` and writes **{written or '?'}** "
                           f"({verdict}). Of the 1,000 held-out sums it writes **{exact:.1%}** exactly right.")


def waves_ui(run, model) -> None:
    view = sequences.live_view(model, run.config.dataset)
    st.plotly_chart(waves_figure(view["waves"], view["next"], view["guessed"], presenting()), key="seq_waves",
                    width="stretch", config=charts.CONFIG)


def memory_ui(run, model) -> None:
    horizon_ui()


def horizon_ui() -> None:
    """Every finished memory run of the class as a point: accuracy against the delay, per cell."""
    points = sequences.memory_horizon(manager.store.list(("done", "stopped"), with_history=False))
    st.plotly_chart(horizon_figure(points, CELLS, 1 / len(sequences.MEMORY_SYMBOLS), presenting()), key="seq_horizon",
                    width="stretch", config=charts.CONFIG)
    kinds = {point.cell for point in points}
    missing = [name for kind, name in CELLS.items() if kind not in kinds]
    st.caption("Each point is a finished memory run on this server; train the same cell at other delays to fill the "
               "chart together." + (f" No {' or '.join(missing)} run yet." if missing else ""))


def gates_ui(run, model) -> None:
    """The first layer's gates and state over one test sequence."""
    sequence, labels = sequences.example(run.config.dataset)
    st.plotly_chart(gates_figure(sequences.gates(model, sequence), labels, presenting()), key="seq_gates",
                    width="stretch", config=charts.CONFIG)
    if run.config.model.kind == "lstm":
        st.caption("An LSTM's input gate lets a step in, its forget gate (near 1) keeps what the cell holds, its output "
                   "gate shows it. Look for units whose forget gate stays open for many steps.")
    elif run.config.model.kind == "gru":
        st.caption("A GRU's update gate near 1 keeps the state as it was; its reset gate decides how much of the old "
                   "state the new candidate sees.")
    else:
        st.caption("A plain RNN has no gates: every step squashes the old state with the new input.")


def reach_ui(run, runs: dict, unit: str) -> None:
    """This run's gradient through the steps beside the newest finished run of each other cell on its data."""
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
    st.plotly_chart(reach_figure(lines, presenting(), unit), key="seq_reach", width="stretch", config=charts.CONFIG)
    missing = [CELLS[kind] for kind in CELLS if kind not in {r.config.model.kind for r in compared}]
    st.caption(f"The gradient of the loss of the last answer with respect to each {unit}'s input, over 200 test "
               f"sequences, as a share of the last {unit}'s. A plain RNN's fades fast towards the first {unit}s, so it "
               "learns little from them; gates let an LSTM's and a GRU's reach back."
               + (f" Train {' and '.join(missing)} on the same data to compare." if missing else ""))


st.title("Sequences")
if not presenting():
    st.caption("A recurrent network reads a sequence one step at a time, carrying a state of a few numbers from step "
               "to step: a digit row by row, a wave, a letter to remember, a sum, English. Train one, then look inside.")
config, start = settings_ui()
if start and config is not None:
    submit_ui(manager, config, "seq")
run_view_ui(manager, sequence_runs, "seq", "No recurrent network has been trained on this server yet: press Start.",
            live_ui, finished_ui, inside.STRIP_SECONDS)
