"""Attention: a transformer trained here, small enough for a lesson: on English text (the next character), on sorting
six digits (minGPT's lesson), or on digits (a vision transformer over 16 patches). Watch it learn, then look at what
every head attends to, how attention flows to the answer, what it learnt of positions, and how it fares against an
LSTM on the same text in the same seconds."""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from dlcore import DLCoreError, TrainConfig, attention, data, inside, jobs, predict, preprocess, sequences
from dlcore.config import MAX_BLOCKS, MAX_EPOCHS, MAX_HEADS, MAX_TEXT_CHARS, ModelSpec
from ui import charts, literal
from ui.attention import against_figure, head_figure, model_figure, next_figure, patches_figure, positions_figure
from ui.classroom import presenting
from ui.inside import strip_ui
from ui.runs import live_progress_ui, run_view_ui, submit_ui
from ui.status import usable_dataset_ui

TASKS = {"text": "Text: the next letter", "sort": "Sort six digits", "digits": "Digits (a vision transformer)"}
WIDTHS = (32, 64, 128, 256)
CANVAS = 200
TEXT_SOURCES = {"python": "Python's documentation", "own": "Your own text"}
DEFAULTS = {"att_task": "text", "att_text_source": "python"}

manager = jobs.job_manager()


def task_chosen() -> None:
    """A new task starts from its own first network and epochs (attention.PRESETS)."""
    spec, epochs = attention.PRESETS[st.session_state.att_task]
    st.session_state.update(att_blocks=spec.blocks, att_heads=spec.heads, att_width=spec.width,
                            att_context=spec.context, att_epochs=epochs)


def settings_ui() -> TrainConfig | None:
    """The task, the transformer's blocks, heads, width and (text) context, the epochs and the task's data, in one
    row with Start; Adam at attention.LR. None until Start, or when the settings cannot be used (a sentence says
    why)."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    if "att_blocks" not in st.session_state:
        task_chosen()
    if presenting():  # larger type: the row in two, so that nothing is cut short on a projector
        task_column, blocks_column, heads_column, width_column, epochs_column = st.columns(
            [2.4, 1, 1, 1, 1], vertical_alignment="bottom")
        data_column, context_column, start_column, _ = st.columns([2.4, 1, 1.4, 2.6], vertical_alignment="bottom")
    else:
        (task_column, blocks_column, heads_column, width_column, context_column, epochs_column, data_column,
         start_column) = st.columns([2.2, 0.9, 0.9, 0.9, 0.9, 0.9, 1.9, 1.1], vertical_alignment="bottom")
    task = task_column.selectbox("Task", list(TASKS), format_func=TASKS.get, key="att_task", on_change=task_chosen,
                                 help="What the transformer reads, and what it answers.")
    blocks = blocks_column.number_input("Blocks", 1, MAX_BLOCKS, key="att_blocks",
                                        help="Each block: attention, then a small MLP.")
    heads = heads_column.number_input("Heads", 1, MAX_HEADS, key="att_heads",
                                      help="Attention heads per block; each looks at the tokens in its own way.")
    width = width_column.selectbox("Width", WIDTHS, key="att_width", help="Numbers per token.")
    context = attention.PRESETS[task][0].context  # the task's own: a sorting decoder's tokens see the whole row
    if task == "text":
        st.session_state.setdefault("att_context", context)
        context = context_column.number_input("Context", 1, sequences.TEXT_STEPS, key="att_context",
                                              help="How many letters back (itself included) each letter may look.")
    epochs = epochs_column.number_input("Epochs", 1, MAX_EPOCHS, key="att_epochs")
    digits, text = "mnist-sample", None
    if task == "digits":
        digits = usable_dataset_ui(data_column, "att_dataset")
    elif task == "text":
        source = data_column.selectbox("Text", list(TEXT_SOURCES), format_func=TEXT_SOURCES.get, key="att_text_source")
        if source == "own":
            text = st.text_area("Your text", key="att_text", max_chars=MAX_TEXT_CHARS, height=120,
                                placeholder=f"Paste at least {sequences.MIN_TEXT_CHARS:,} characters of English.")
    if not start_column.button("Start", type="primary", icon=":material/play_arrow:", width="stretch"):
        return None
    try:
        spec = ModelSpec("transformer", dense=(), blocks=int(blocks), heads=int(heads), width=int(width),
                         context=int(context))
        return TrainConfig(dataset=attention.dataset_name(task, digits, text), model=spec, epochs=int(epochs),
                           lr=attention.LR)
    except DLCoreError as exc:
        st.error(literal(exc))
        return None


def transformer_runs() -> dict:
    """The server's transformer runs, newest first."""
    return {run.id: run for run in manager.store.list(with_history=False) if run.config.model.attention}


def live_ui(run_id: int, status: str) -> None:
    """A training run's progress, its loss step by step and what it does now; the page reruns when it ends."""
    trainer = manager.trainer(run_id)
    if trainer is None:
        return
    task = attention.task_name(trainer.config.dataset)
    progress = live_progress_ui(manager, run_id, status, "digits" if task == "digits" else "sequences")
    if progress is None:
        return
    chart, view = st.columns([1, 1.3], gap="medium")
    chart.plotly_chart(charts.loss_figure([("smoothed", progress.step_losses, progress.steps_per_epoch)],
                                          revision=run_id, presenter=presenting()),
                       key="att_live_loss", width="stretch", config=charts.CONFIG)
    with view:
        if task == "digits":
            strip_ui(trainer.strip(), data.info(trainer.config.dataset).classes)
            return
        reading = trainer.strip_guesses()
        if reading is None or reading[1] is None:
            st.caption("What it writes appears after its first seconds of training.")
            return
        step, seen = reading
        if task == "text":
            left, right = st.columns([3, 2], vertical_alignment="bottom")
            temperature = left.select_slider("Temperature", [str(t) for t in sequences.TEMPERATURES], value="0.8",
                                             key="att_live_temperature",
                                             help="Low: its likeliest letters, again and again. High: more surprise.")
            top = right.toggle(f"Top-{sequences.TOP_K} only", key="att_live_top",
                               help=f"Draw each letter from its {sequences.TOP_K} likeliest only.")
            st.caption(f"What it writes after “The ”, at step {step:,}:")
            st.code(seen["top_k" if top else "samples"][temperature], language=None, wrap_lines=True)
        elif task == "sort":
            rows = [f"`{row}` → **{written}**" + (" ✓" if written == "".join(sorted(row)) else " ✗")
                    for row, written in zip(sequences.LIVE_SORTS, seen["sorts"])]
            st.markdown(f"How it sorts now (step {step:,}):\n\n" + "\n".join(f"- {row}" for row in rows))


def headline(run) -> str:
    """A finished run's name and its task's score, in one line."""
    results = run.results
    if results is None:
        return f"**Run #{run.id}** {run.status}."
    task = attention.task_name(run.config.dataset)
    if task == "text":
        score = f"**{results.loss:.2f} nats per character** on held-out text ({results.accuracy:.0%} of its letters right)"
    elif task == "sort":
        score = (f"**{sequences.exact_share(run.checkpoint):.1%}** of held-out rows sorted exactly "
                 f"({results.accuracy:.1%} of digits)")
    else:
        score = f"test accuracy **{results.accuracy:.1%}**"
    return f"**Run #{run.id}: {run.config.model.summary()}** on {data.info(run.config.dataset).title} · {score}."


def finished_ui(run, runs: dict) -> None:
    """A finished run: what it makes of the student's own input, and what its heads attended to there."""
    try:
        classifier = predict.load(run.checkpoint)
    except DLCoreError as exc:
        st.error(literal(f"Run #{run.id} cannot be shown: {exc}"))
        return
    st.markdown(headline(run))
    task = attention.task_name(run.config.dataset)
    try:
        reading = {"text": text_ui, "sort": sort_ui, "digits": digit_ui}[task](run, classifier.model)
    except DLCoreError as exc:
        st.error(literal(exc))
        return
    if reading is None:
        return
    heads, everything, positions, *against = st.tabs(
        ["One head", "All heads", "Positions"] + (["Against the LSTM"] if task == "text" else []))
    with heads:
        head_ui(reading)
    with everything:
        st.plotly_chart(model_figure(reading.weights, presenting()), key="att_model", width="stretch",
                        config=charts.CONFIG)
        st.caption("Each small square is one head's attention matrix, a row per token reading and a column per token "
                   "read, as in the One head tab. Heads of one block often split the work.")
    with positions:
        similarity = attention.position_similarity(classifier.model)
        labels = reading.labels if len(reading.labels) == len(similarity) else \
            [str(position) for position in range(1, len(similarity) + 1)]
        st.plotly_chart(positions_figure(similarity, labels, presenting()), key="att_positions", width="stretch",
                        config=charts.CONFIG)
        st.caption("Attention alone does not know where a token sits: each position gets a learnt vector added. Here, "
                   "how alike those vectors came to be: near positions, and a digit's patches in one row or column, "
                   "often look alike.")
    if against:
        with against[0]:
            against_ui(run, runs)


def text_ui(run, model) -> attention.Reading:
    """A prompt of the student's: its next letter's probabilities, and the transformer writing on from it."""
    prompt_column, length_column, temperature_column, top_column, again_column = st.columns(
        [2.4, 1.1, 1.8, 1.1, 1.7] if not presenting() else [2.2, 1.2, 1.7, 1.1, 2.2], vertical_alignment="bottom")
    prompt = prompt_column.text_input("Prompt", "The value of the ", max_chars=200, key="att_prompt",
                                      help=f"It reads the last {sequences.TEXT_STEPS} letters.")
    length = length_column.number_input("Letters", 20, sequences.MAX_SAMPLE_CHARS, 300, step=50, key="att_length")
    temperature = temperature_column.slider("Temperature", 0.1, 2.0, 0.8, 0.1, key="att_temperature",
                                            help="Low: its likeliest letters, again and again. High: more surprise.")
    top_k = top_column.number_input("Top-k", 0, len(sequences.TEXT_ALPHABET), 0, key="att_top_k",
                                    help="Draw each letter from its k likeliest only; 0: from all.")
    if again_column.button("Write again", icon=":material/refresh:", width="stretch"):
        st.session_state.att_draw = st.session_state.get("att_draw", 0) + 1
    reading, nexts = attention.read_text(model, prompt)
    left, right = st.columns([1, 2], gap="medium")
    left.plotly_chart(next_figure(nexts, presenting()), key="att_next", width="stretch", config=charts.CONFIG)
    written = sequences.writing(run.checkpoint, float(temperature), int(length), prompt,
                                st.session_state.get("att_draw", 0), int(top_k))
    right.code(sequences.clean_text(prompt) + written, language=None, wrap_lines=True, height=300)
    return reading


def sort_ui(run, model) -> attention.Reading:
    """Six digits of the student's, sorted by the transformer."""
    row_column, answer_column = st.columns([1, 3], vertical_alignment="bottom")
    row = row_column.text_input("Six digits", "316402", max_chars=sequences.SORT_DIGITS, key="att_row")
    reading = attention.read_sort(model, row)
    verdict = "right" if reading.answer == "".join(sorted(row)) else f"wrong: in order they are {''.join(sorted(row))}"
    answer_column.markdown(f"It reads `{row}=` and writes **{reading.answer}** ({verdict}), a digit at a time, reading "
                           "back what it wrote. In the One head tab, the rows from `=` on show which digit each step "
                           "looked at to write the next.")
    return reading


def digit_ui(run, model) -> attention.Reading | None:
    """A test digit or one drawn here; where each head of the last block, and all blocks together, looked."""
    info = data.info(run.config.dataset)
    left, right = st.columns([2, 5], gap="medium")
    with left:
        source = st.radio("Digit", ["draw", "test"], horizontal=True, key="att_source",
                          format_func={"test": "A test digit", "draw": "Draw one here"}.get)
        if source == "test":
            label_column, nth_column = st.columns(2)
            label = label_column.selectbox("Class", range(len(info.classes)), format_func=lambda c: info.classes[c],
                                           key="att_class")
            nth = nth_column.number_input("Which one", 1, inside.class_count(run.config.dataset, label), 1,
                                          key="att_nth")
            image, _ = inside.test_digit(run.config.dataset, label, nth - 1)
            normalized = inside.normalized(image, run.config.dataset)
        else:
            st.caption("Draw one digit, large.")  # a line of room for the canvas's toolbar, which shows above it
            canvas = st_canvas(stroke_width=15, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS,
                               width=CANVAS, drawing_mode="freedraw", return_image_data=True, key="att_canvas")
            if canvas.image_data is None:
                right.info("Draw a digit to see where each head looks.", icon=":material/draw:")
                return None
            try:
                made = preprocess.mnist_style(canvas.image_data, info.mean, info.std)
            except preprocess.EmptyImageError:
                right.info("Draw a digit on the black square to see where each head looks.", icon=":material/draw:")
                return None
            image, normalized = made.centred, made.normalized
    reading, probabilities = attention.read_digit(model, normalized, info.classes)
    weights = attention.class_attention(reading.weights)
    block = len(weights)
    pictures = [(f"head {h + 1}", weights[-1, h]) for h in range(weights.shape[1])]
    pictures.append(("rollout", attention.patch_picture(attention.rollout(reading.weights)[0, 1:])))
    with right:
        best = int(np.argmax(probabilities))
        st.markdown(f"It reads **{info.classes[best]}** ({probabilities[best]:.0%}). Where its class token looked in "
                    f"block {block}, head by head, and through every block together (rollout):")
        st.plotly_chart(patches_figure(np.asarray(image), pictures, presenting()), key="att_patches", width="stretch",
                        config=charts.CONFIG)
        st.caption("Brighter patches gave more to the answer. The rollout follows attention through all blocks, "
                   "counting what each token keeps of itself.")
    return reading


def head_ui(reading: attention.Reading) -> None:
    """One head's attention matrix over the input, the block and head picked beside it."""
    blocks, heads = reading.weights.shape[:2]
    pick, chart = st.columns([1, 4], gap="medium")
    block = pick.number_input("Block", 1, blocks, blocks, key="att_block")
    head = pick.number_input("Head", 1, heads, 1, key="att_head")
    block, head = min(int(block), blocks), min(int(head), heads)
    pick.caption("Each row is a token reading, each column a token read; a row's shades sum to 100%."
                 + (" Patches are named by row and column." if reading.labels[0] == "CLS" else ""))
    chart.plotly_chart(head_figure(reading.weights[block - 1, head - 1], reading.labels,
                                   f"Block {block}, head {head}", presenting()),
                       key="att_head_figure", width="stretch", config=charts.CONFIG)


def against_ui(run, runs: dict) -> None:
    """This run beside the newest finished recurrent run on the same text, against seconds of training."""
    finished = ("done", "stopped")
    recurrent = next((r for r in manager.store.list(finished, with_history=False)
                      if r.config.model.sequence and r.config.dataset == run.config.dataset and r.results), None)
    compared = [manager.store.get(run.id)] + ([manager.store.get(recurrent.id)] if recurrent else [])
    lines = [(f"#{r.id} {r.config.model.summary()}", *training_curve(r.history)) for r in compared]
    st.plotly_chart(against_figure(lines, presenting()), key="att_against", width="stretch", config=charts.CONFIG)
    if recurrent is None:
        st.caption("Train an LSTM on the same text on the Sequences page to see the two side by side.")
    else:
        st.caption("Thin lines: the training loss as it went; dots: held-out text after each epoch. Both read the same "
                   "64-letter windows; the transformer reads all of a window's letters at once.")


def training_curve(history: dict) -> tuple[list[float], list[float], list[tuple[float, float]]]:
    """A run's smoothed step losses against its training seconds (each epoch's steps spread over its seconds), and
    its epochs' held-out scores as (seconds, nats per character)."""
    epochs, losses = history.get("epochs", []), history.get("steps", [])
    per_epoch = max(int(history.get("steps_per_epoch") or 1), 1)
    ends = [0.0] + [float(e.get("train_seconds") or 0.0) for e in epochs]
    seconds = [ends[min(i // per_epoch, len(ends) - 2)] + (ends[min(i // per_epoch + 1, len(ends) - 1)]
               - ends[min(i // per_epoch, len(ends) - 2)]) * ((i % per_epoch) + 1) / per_epoch
               for i in range(len(losses))] if len(ends) > 1 else []
    tests = [(float(e.get("train_seconds") or 0.0), float(e["test_loss"])) for e in epochs if "test_loss" in e]
    return seconds, charts.smoothed(losses).tolist()[: len(seconds)], tests


st.title("Attention")
if not presenting():
    st.caption("A transformer reads all of its input at once: each token asks every other (a query against their "
               "keys) and takes a mix of what they hold. Train one on text, on sorting, or on digits, then look at "
               "what each head attends to. Pretrained BERT cannot be downloaded on a class's machines; these are "
               "trained here, in seconds to minutes.")
config = settings_ui()
if config is not None:
    submit_ui(manager, config, "att")
run_view_ui(manager, transformer_runs, "att", "No transformer has been trained on this server yet: press Start.",
            live_ui, finished_ui, inside.STRIP_SECONDS)
