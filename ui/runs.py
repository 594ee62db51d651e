"""A run's curves and results, as Build & train and the run board show them."""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from ui import charts, literal, pictures
from ui.classroom import (bring_into_view, control, control_problem_ui, is_teacher, may_control, page_opened,
                          presenting, refusal, session_owner)
from ui.inside import link_ui

POLL_SECONDS = 0.5  # how often a page watching a live run asks the job manager (bench/ui_overhead.py too)
DIVERGED_ADVICE = (
    "What to try: lower the learning rate (about 0.001 suits Adam, 0.01 to 0.1 suits SGD); switch to Adam; "
    "add batch norm to the hidden layers; or use the one-cycle schedule, which warms the learning rate up."
)


def charts_ui(figures: list, key: str | None = None) -> None:
    """Charts side by side, one column each; a key keeps a polled chart's zoom from one poll to the next."""
    for i, (column, figure) in enumerate(zip(st.columns(len(figures)), figures)):
        column.plotly_chart(figure, key=f"{key}_{i}" if key else None, width="stretch", config=charts.CONFIG)


def mistakes_ui(run, classes: tuple[str, ...], cell: tuple[int, int] | None, limit: int = 60) -> None:
    """Misclassified test images, filtered by true and predicted class; cell is a clicked matrix cell."""
    from dlcore import data

    key = f"mistakes_{run.id}"
    anything = [None, *range(len(classes))]
    name = {None: "any", **dict(enumerate(classes))}.get
    if cell is not None and st.session_state.get(f"{key}_cell") != cell:
        st.session_state[f"{key}_cell"] = cell
        st.session_state[f"{key}_true"], st.session_state[f"{key}_pred"] = cell
    left, right, _ = st.columns([1, 1, 2])
    true_class = left.selectbox("True class", anything, format_func=name, key=f"{key}_true")
    predicted = right.selectbox("Predicted as", anything, format_func=name, key=f"{key}_pred")
    mistakes = run.results.mistakes(true_class, predicted)
    if not mistakes:
        st.caption("No test images were misread that way.")
        return
    shown = mistakes[:limit]
    images = data.test_images(run.config.dataset, [index for index, _, _ in shown])
    st.caption(f"{len(mistakes):,} misread test images; showing {len(images)}.")
    st.image(  # as data URLs, not media files: a rerun deletes those, sometimes before the browser has fetched them
        [pictures.data_url(Image.fromarray(np.kron(255 - image, np.ones((3, 3), dtype=np.uint8)))) for image in images],
        caption=[f"{classes[t]} → {classes[p]}" for _, t, p in shown[: len(images)]], width=84,
    )


TIME_HELP = ("Time spent training, pauses and scoring left out: what the setup costs, comparable between runs. The "
             "same on the run board, in Build & train's list and on the run's page, which also gives its whole time.")


def training_seconds(run) -> float | None:
    """The one duration a run is shown with: its training time, not its whole time, which adds scoring the test
    split and loading the data (they vary with the dataset and with what the server had loaded), and which runs
    listed without their history do not carry. None for an import: it never trained here."""
    from dlcore.export import IMPORT_NOTE

    return None if run.message.startswith(IMPORT_NOTE) else run.seconds


def time_column():
    """A table's column of training_seconds(run)."""
    return st.column_config.NumberColumn("training time", format="%.1f s", help=TIME_HELP)


def time_ui(column, run) -> None:
    """The run's training time, as every list shows it, and its whole time with the scoring in it where it was
    timed (runs recorded before then have their training time alone)."""
    seconds, history = training_seconds(run), run.history or {}
    whole = (f"{history['wall_seconds']:.1f} s in all, {history['evaluation_seconds']:.1f} s of it scoring"
             if "wall_seconds" in history else None)
    column.metric("Training time", "—" if seconds is None else f"{seconds:.1f} s", whole, delta_color="off",
                  delta_arrow="off", help=TIME_HELP)


GENERATIVE_PAGE = "app_pages/9_generative.py"
SEQUENCES_PAGE = "app_pages/11_sequences.py"
REINFORCEMENT_PAGE = "app_pages/14_reinforcement.py"


def generative_link_ui(run) -> None:
    """A generative run's results live on Generative models: a sentence and a link there, opened on the run."""
    loss = f"; test loss {run.results.loss:.1f}" if run.results is not None and run.config.model.kind != "gan" else ""
    st.info(f"Run #{run.id} ({run.config.model.summary()}) draws digits rather than naming them{loss}: its drawings, "
            "map and curves are on Generative models.", icon=":material/auto_awesome:")
    link_to_run(GENERATIVE_PAGE, "Open it on Generative models", ":material/auto_awesome:", run)


def link_to_run(page: str, label: str, icon: str, run) -> None:
    """A link to a page of its kind of run, opened on it (none for a page run on its own, without app.py's
    navigation)."""
    from streamlit.errors import StreamlitPageNotFoundError

    try:
        st.page_link(page, label=label, icon=icon, query_params={"run": str(run.id)})
    except StreamlitPageNotFoundError:
        pass


def submit_ui(manager, config, prefix: str, pace: float = 0.0) -> None:
    """Start on a page of one kind of run (its steps spread over at least `pace` seconds): the new run becomes the
    one it shows, or a sentence says why not."""
    from dlcore import DLCoreError

    try:
        st.session_state[f"{prefix}_run"] = manager.submit(config, st.session_state.get("student_name", ""),
                                                           owner=session_owner(), teacher=is_teacher(), pace=pace)
    except DLCoreError as exc:
        st.error(literal(refusal(exc)))


def picked_run_ui(manager, list_runs, prefix: str, nothing_yet: str, widths: list[float]):
    """The run a page of one kind of run shows, picked above it, in view when the page opens on a live one; the page
    stops with `nothing_yet` when there is none. Returns (its id, the runs, its progress while it is live or None,
    the columns beside the picker)."""
    runs = list_runs()
    run_id = watched_run(runs, prefix)
    if run_id is None:
        st.info(nothing_yet, icon=":material/info:")
        st.stop()
    progress = manager.progress(run_id)
    live = progress is not None and not progress.finished
    if not live and runs[run_id].status in ("queued", "running", "paused"):
        runs = list_runs()  # it ended while the list was read: its label says how
    picker, *beside = st.columns(widths, vertical_alignment="bottom")
    picker.selectbox("Run", list(runs), format_func=lambda rid: runs[rid].label, key=f"{prefix}_run",
                     label_visibility="collapsed")
    if live and page_opened():
        bring_into_view(f"{prefix}_run")  # the picker, at the live view's top (an empty container is not drawn)
    return run_id, runs, progress if live else None, beside


def run_view_ui(manager, list_runs, prefix: str, nothing_yet: str, live_ui, finished_ui, every: float) -> None:
    """A page of one kind of run, below its settings: the run picked, with Stop beside it while it is live (for its
    owner or the teacher) and live_ui(run_id, status) redrawn every `every` seconds; once it has ended,
    finished_ui(run, runs)."""
    run_id, runs, progress, (stop_column,) = picked_run_ui(manager, list_runs, prefix, nothing_yet, [5, 1.2])
    if progress is None:
        ended_run_ui(manager.store.get(run_id), finished_ui, runs)
        return
    if may_control(manager, run_id):
        stop_column.button("Stop", icon=":material/stop:", on_click=control, args=(manager.stop, run_id),
                           width="stretch", key=f"{prefix}_stop_{run_id}")
        control_problem_ui()
    st.fragment(run_every=every)(live_ui)(run_id, progress.status)


def live_progress_ui(manager, run_id: int, status: str, unit: str = "digits"):
    """A live run's progress bar (its speed in `unit` a second), or its place in the line; reruns the page when the
    run ends or changes status. Returns its progress, or None while it waits for a turn."""
    from dlcore import jobs

    progress = manager.progress(run_id)
    if progress is None or progress.finished or progress.status != status:
        st.rerun()
    if progress.queue_position is not None:
        st.info(jobs.waiting_sentence(progress, manager.slots), icon=":material/hourglass_top:")
        return None
    epoch = min(progress.epoch + 1, progress.epochs)
    st.progress(progress.fraction, f"Epoch {epoch} of {progress.epochs} · **{progress.samples_per_sec:,.0f} {unit}/s**"
                                   + (f" · about {jobs.duration(progress.eta)} left" if progress.eta is not None else ""))
    return progress


def ended_run_ui(run, finished_ui, runs: dict) -> None:
    """A run that is no longer live: how it failed, that it left no weights, or finished_ui(run, runs)."""
    if run.status in ("failed", "interrupted", "diverged"):
        st.error(f"Run #{run.id} {run.status}. {literal(run.message)}")
    elif not run.checkpoint:
        st.info(f"Run #{run.id} is {run.status}.")
    else:
        finished_ui(run, runs)


def watched_run(runs: dict, prefix: str) -> int | None:
    """The run a page of one kind of run shows (key `{prefix}_run`): the address's (?run=N) once, then its picker's."""
    from dlcore.runs import parse_run_id

    asked = parse_run_id(st.query_params.get("run", ""))
    if asked is not None and asked in runs and st.session_state.get(f"{prefix}_asked") != asked:
        st.session_state[f"{prefix}_asked"] = st.session_state[f"{prefix}_run"] = asked
    if st.session_state.get(f"{prefix}_run") not in runs:
        st.session_state[f"{prefix}_run"] = next(iter(runs), None)
    return st.session_state[f"{prefix}_run"]


def metric_shown(run) -> tuple[str, str]:
    """A finished run's headline score as (label, value): an agent's greedy return, a sequence task's own
    (sequences.metric), else accuracy."""
    from dlcore import reinforcement, sequences

    if run.results is None:
        return "Test accuracy", "none"
    if run.config.model.agent:
        return "Greedy return", f"{reinforcement.mean_return(run.results):.1f}"
    (name, value), = sequences.metric(run.config.dataset, run.results).items()
    if name == "test_accuracy":
        return "Test accuracy", f"{value:.2%}"
    return ("Test error (MSE)", f"{value:.4f}") if name == "test_mse" else ("Nats per character", f"{value:.3f}")


def score_sentence(run) -> str:
    label, value = metric_shown(run)
    return f"{label.lower()} **{value}**"


def run_results_ui(run) -> None:
    """A finished run: what happened, its curves, its confusion matrix, per-class accuracy and its mistakes."""
    from dlcore import data

    if run.config.model.generative:
        generative_link_ui(run)
        return
    if run.status == "diverged":
        st.error(f"Run #{run.id} diverged. {literal(run.message)}", icon=":material/trending_up:")
        st.markdown(DIVERGED_ADVICE)
    elif run.status in ("failed", "interrupted"):
        st.error(f"Run #{run.id} {run.status}. {literal(run.message)}")
    elif run.status == "stopped":
        st.warning(f"Run #{run.id} was stopped. {literal(run.message)}", icon=":material/stop_circle:")
    elif run.status == "done":
        st.success(f"Run #{run.id} finished: {score_sentence(run)}.", icon=":material/check_circle:")
    if run.config.model.agent and run.checkpoint:
        link_to_run(REINFORCEMENT_PAGE, "Watch it on Reinforcement learning: its episodes, its values, its seeds",
                    ":material/sports_esports:", run)
    if run.config.model.sequence and run.checkpoint:
        link_to_run(SEQUENCES_PAGE, "Look inside it on Sequences: its state, its gates, how far back it learns",
                   ":material/view_timeline:", run)
    if run.status not in ("diverged", "failed", "interrupted", "stopped", "done"):
        st.info(f"Run #{run.id} is {run.status} in another process; its curves update after each epoch.")
    history = run.history or {}
    if run.results is not None and not data.reads_images(run.config.dataset):  # a sequence task: no pictures, no classes
        columns = st.columns(3)
        columns[0].metric(*metric_shown(run))
        time_ui(columns[1], run)
        columns[2].metric(f"Trained on {run.device or 'CPU'}", run.config.model.summary())
        charts_ui(charts.history_figures(history, presenting()))
        return
    if run.results is not None:
        epochs = history.get("epochs")  # a run stopped inside its first epoch has none: estimate from its steps
        steps = len(history.get("steps", []))
        rate = epochs[-1]["samples_per_sec"] if epochs else steps * run.config.batch_size / max(run.seconds, 1e-9)
        columns = st.columns(4)
        columns[0].metric("Test accuracy", f"{run.results.accuracy:.2%}")
        columns[1].metric("Test loss", f"{run.results.loss:.3f}")
        time_ui(columns[2], run)
        columns[3].metric(f"Samples/s on {run.device or 'CPU'}", f"{rate:,.0f}")
        if run.checkpoint:
            link_ui(run.id, "See inside this network: a digit's path, its filters forming, where digits live")
    charts_ui(charts.history_figures(history, presenting()))
    if run.results is not None:
        confusion_ui(run)


def confusion_ui(run) -> None:
    """A finished classifier's confusion matrix beside its accuracy per class; a click on a cell shows the test
    pictures it misread that way below."""
    from dlcore import data

    classes = data.info(run.config.dataset).classes
    firsts: dict[tuple[int, int], int] = {}  # each misread cell's first test picture
    for index, true, predicted in run.results.misclassified:
        firsts.setdefault((true, predicted), index)
    images = data.test_images(run.config.dataset, list(firsts.values())) if firsts else []
    thumbnails = {cell: pictures.data_url(Image.fromarray(255 - image)) for cell, image in zip(firsts, images)}
    left, right = st.columns(2)
    event = left.plotly_chart(
        charts.confusion_figure(run.results.confusion, classes, presenting(), thumbnails), on_select="rerun",
        selection_mode="points", key=f"confusion_{run.id}", width="stretch", config=charts.CONFIG,
    )
    right.plotly_chart(charts.per_class_figure(run.results.per_class, classes, presenting()), width="stretch",
                       config=charts.CONFIG)
    left.caption("Each misread cell shows one picture it misread so; click a cell to see them all below.")
    points = event.selection.points if event else []
    cell = (classes.index(str(points[0]["y"])), classes.index(str(points[0]["x"]))) if points else None
    st.subheader("Misread test images")
    mistakes_ui(run, classes, cell)
