"""The Streamlit helpers that several pages share: engine warm-up, the sidebar, run charts and results, classroom tools."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os
import re
import secrets
import threading

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative


_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=\"'&;/@^%?,])")


_AUTOLINK = re.compile(r"(\\:(?=\\/\\/)|www(?=\\\.)|\\@)", re.IGNORECASE)  # where Markdown would start a link by itself


def literal(text) -> str:
    """Text a user chose (a name, a file name, a link's value, a message quoting one) as it was typed.

    Streamlit draws captions, alerts, headers and metric deltas as Markdown, where a name such as
    ![x](http://host/p.png) would become an image on every student's screen: every ASCII punctuation mark is
    escaped, as CommonMark allows, line breaks become spaces, and addresses are kept from turning into links.
    """
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(str(text).split()))
    return _AUTOLINK.sub("\\1\u2060", escaped)  # an invisible word joiner: no live link to wherever a student says


WARM_UP_DELAY_S = 2.0  # a fresh server's first page is drawn before torch's import competes with it for the GIL


@st.cache_resource(show_spinner=False)
def warm_up_engine() -> threading.Thread:
    """Import torch in the background once per server, a moment after the first page, which never waits for it.

    (A page that needs torch at once imports it itself; Python's import lock makes the two imports one.)
    """
    thread = threading.Timer(WARM_UP_DELAY_S, importlib.import_module, args=("dlcore.jobs",))
    thread.daemon = True
    thread.start()
    return thread


@st.cache_data(ttl=60, show_spinner=False)
def _status() -> tuple[str, str, list[tuple[str, str, bool, str]]]:
    from dlcore import data, devices

    status = devices.device_status()
    device = devices.device_name(devices.resolve_device("auto"))
    why_cpu = "" if device != "CPU" else status["cuda"]
    datasets = [(s.name, s.title, s.available, s.where if not s.available else s.test_source) for s in map(data.status, data.DATASETS)]
    return device, why_cpu, datasets


def sidebar_status() -> None:
    """Which device computes and which data is here; it never makes the page wait for torch.

    In a fresh server's first seconds torch is still being imported in the background: the sidebar says so,
    and shows the status from the next rerun on. (No polling fragment: a fragment run that overlaps a widget's
    rerun can lose that widget's new value.)
    """
    with st.sidebar:
        _status_ui()


def _status_ui() -> None:
    st.caption("Compute")
    if warm_up_engine().is_alive():
        st.markdown("Starting PyTorch…")
        st.caption("The device and data show here from your next click.")
        return
    device, why_cpu, datasets = _status()
    st.markdown(f"**{device}**" + (f"  \n{why_cpu}" if why_cpu else ""))
    st.caption("Data")
    full = {name: available for name, _, available, _ in datasets}
    if full.get("mnist"):
        st.markdown("**Full MNIST** (60,000 training digits)")
    else:
        st.markdown("**MNIST sample**: 5,000 real training digits")
        st.caption("Full MNIST was not found here; set DLCORE_DATA_DIR to a folder with its IDX files.")
    for name, title, available, detail in datasets:
        if name != "mnist" and name != "mnist-sample":
            st.markdown(f"{title}: {'available' if available else 'not found'}")
    if notice := _store_notice():
        st.warning(literal(notice), icon=":material/database:")


def _store_notice() -> str:
    """What the teacher must know about the runs store: a damaged database set aside, or a folder it cannot write."""
    from dlcore import DLCoreError, jobs

    try:
        return jobs.job_manager().store.notice
    except DLCoreError as exc:
        return str(exc)


# ---- who may pause and stop a run: the browser that started it, or the teacher ------------------------

TEACHER_KEY = "DLCORE_TEACHER_KEY"
XSRF_COOKIE = "_streamlit_xsrf"


def session_owner() -> str:
    """Who starts a run or race here, for pausing and stopping it: this browser, named by a secret it already holds.

    Streamlit's XSRF cookie carries a random token per browser, sent on every load and never put in an address: a
    reload or a second tab keeps control, a shared link gives none, and only a hash of it is kept. Without the
    cookie (XSRF protection off) the owner is this session, and a reload no longer controls its runs.
    """
    if "session_owner" not in st.session_state:
        cookie = st.context.cookies.get(XSRF_COOKIE)
        token = _xsrf_token(cookie) if isinstance(cookie, str) else b""  # not a string in AppTest, which has no browser
        st.session_state["session_owner"] = (
            "browser-" + hashlib.sha256(token).hexdigest()[:32] if token else "session-" + secrets.token_urlsafe(16))
    return st.session_state["session_owner"]


def _xsrf_token(cookie: str) -> bytes:
    """The token in an XSRF cookie ("2|mask|masked token|time"), whose mask changes on every page load."""
    parts = cookie.strip("\"'").split("|")
    try:
        mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
    except (IndexError, ValueError):
        return b""
    if parts[0] != "2" or not mask:
        return b""
    return bytes(byte ^ mask[i % len(mask)] for i, byte in enumerate(masked))


def is_teacher() -> bool:
    """Whether this session has entered the teacher key (DLCORE_TEACHER_KEY) in the sidebar."""
    return bool(os.environ.get(TEACHER_KEY)) and st.session_state.get("teacher_session", False)


def teacher_ui() -> None:
    """The sidebar's teacher key, shown when the server has one: a teacher may pause and stop anyone's run or race."""
    if not os.environ.get(TEACHER_KEY):
        return
    with st.sidebar:
        if is_teacher():
            st.caption("Teacher: you can pause and stop every run and race.")
            st.button("Leave teacher mode", icon=":material/logout:", key="teacher_leave", on_click=_leave_teacher_mode)
            return
        st.text_input("Teacher key", type="password", key="teacher_key", on_change=_check_teacher_key,
                      help="Lets this browser session pause and stop any student's run or race.")
        if problem := st.session_state.pop("teacher_problem", None):
            st.caption(literal(problem))


def _check_teacher_key() -> None:
    """The key is compared in constant time and not kept: the field is emptied either way."""
    entered, key = st.session_state["teacher_key"], os.environ.get(TEACHER_KEY, "")
    st.session_state["teacher_key"] = ""
    matches = bool(key) and hmac.compare_digest(entered.encode(), key.encode())
    st.session_state["teacher_session"] = matches
    if entered and not matches:
        st.session_state["teacher_problem"] = "That is not the teacher key."


def _leave_teacher_mode() -> None:
    st.session_state["teacher_session"] = False


# ---- runs: choosing one, its curves, its results (Build & train; any page that shows runs) -------

POLL_SECONDS = 0.5  # how often a page watching a live run asks the job manager (bench/ui_overhead.py too)
QUEUE_POLL_SECONDS = 1.0  # a run waiting in the queue has only its place in line to show
MAX_POINTS = 1000  # raw loss points sent to the browser per curve; longer series are thinned evenly
DEVICE_TITLES = {"cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)"}
_SPLIT_STYLE = {"train": "dot", "test": "solid"}


def available_choice_ui(label: str, titles: dict[str, str], reasons: dict[str, str], key: str) -> str:
    """A radio over the usable options; the unusable ones are listed greyed out below it with the reason."""
    usable = [name for name in titles if not reasons.get(name)]
    choice = st.radio(label, usable, format_func=titles.get, key=key, horizontal=True)
    for name in titles:
        if reasons.get(name):
            st.caption(f":material/block: ~~{titles[name]}~~ unavailable: {reasons[name]}")
    return choice


def dataset_reasons() -> tuple[dict[str, str], dict[str, str]]:
    """Dataset titles, and for each one missing here the sentence saying why (from the cached status)."""
    _, _, datasets = _status()
    return {name: title for name, title, _, _ in datasets}, {name: where for name, _, ok, where in datasets if not ok}


def recent_runs(store, limit: int = 100) -> list:
    """store.list(limit=limit), parsed once and shared by every session until a run changes.

    Parsing each run's step losses and mistakes takes milliseconds a run; a class rerunning the page
    would otherwise parse the whole list on every click. Callers must not modify what they get.
    """
    return _recent_runs(str(store.root), store.revision(), limit)


@st.cache_resource(max_entries=4, show_spinner=False)
def _recent_runs(root: str, revision: tuple[int, float], limit: int) -> list:
    """The shared list; revision is there only to be part of the cache key."""
    from dlcore.runs import RunStore

    return RunStore(root).list(limit=limit)


def run_picker_ui(runs: list, label: str, key: str, live: tuple[int, ...] = (), on_change=None) -> int | None:
    """A selectbox of runs by id, newest first, live ones marked; returns the chosen id or None."""
    labels = {run.id: run.label for run in runs}
    ids = list(labels)
    if st.session_state.get(key) is not None and st.session_state[key] not in labels:
        ids.insert(0, st.session_state[key])
    return st.selectbox(
        label, ids, key=key, on_change=on_change, placeholder="Choose a run",
        format_func=lambda run_id: ("● training now: " if run_id in live else "") + labels.get(run_id, f"#{run_id}"),
    )


def spec_from_tables(kind: str, conv: pd.DataFrame, dense: pd.DataFrame):
    """The ModelSpec the layer editors describe; an empty cell raises DLCoreError with a sentence."""
    from dlcore import DLCoreError, ModelSpec

    def records(table: pd.DataFrame, what: str) -> list[dict]:
        rows = table.to_dict("records")
        for i, row in enumerate(rows, 1):
            if any(pd.isna(value) for value in row.values()):
                raise DLCoreError(f"{what} {i} has an empty cell; fill it in or delete the row.")
        return rows

    blocks = [
        {**r, "channels": int(r["channels"]), "kernel": int(r["kernel"]), "batch_norm": bool(r["batch_norm"])}
        for r in records(conv, "Conv block")
    ]
    layers = [
        {**r, "units": int(r["units"]), "dropout": float(r["dropout"]), "batch_norm": bool(r["batch_norm"])}
        for r in records(dense, "Hidden layer")
    ]
    return ModelSpec.from_dict({"kind": kind, "conv": blocks if kind == "cnn" else [], "dense": layers})


def layer_table(spec) -> pd.DataFrame:
    """Each layer's output shape and parameter count (raises DLCoreError for a spec that cannot be built)."""
    return _layer_table(json.dumps(spec.to_dict()))


@st.cache_data(max_entries=200, show_spinner=False)
def _layer_table(spec_json: str) -> pd.DataFrame:
    from dlcore import ModelSpec, models

    rows = models.describe(ModelSpec.from_dict(json.loads(spec_json)))
    return pd.DataFrame({
        "layer": ["input", *(row.name for row in rows)],
        "output shape": ["1 × 28 × 28", *(" × ".join(map(str, row.output_shape)) for row in rows)],
        "parameters": [0, *(row.parameters for row in rows)],
    })


def live_run_ui(manager, run_id: int, queued: bool) -> None:
    """A live run's controls, progress and charts; run it in st.fragment(run_every=...) so only it redraws.

    When the run finishes, or leaves the queue, the whole page reruns to show what comes next.
    """
    progress = manager.progress(run_id)
    if progress is None or progress.finished or queued != (progress.queue_position is not None):
        st.rerun()
    if manager.controls(run_id, session_owner(), is_teacher()):
        run_controls_ui(manager, run_id, progress.status)
    else:
        st.caption("Only the student who started this run, or the teacher, can pause or stop it.")
    control_problem_ui()
    if queued:
        at_once = f"{manager.max_concurrent} run{'s' if manager.max_concurrent > 1 else ''}"
        again = f" It goes on from step {progress.step} when its turn comes." if progress.step else ""
        st.info(f"Waiting in the queue: number {progress.queue_position} in line. This server trains {at_once} at a "
                f"time.{again}", icon=":material/hourglass_top:")
        return
    if progress.status == "paused":
        st.info("Paused: its training slot went to the next run in line. Resume puts it back in the queue.",
                icon=":material/pause_circle:")
    if not progress.steps_per_epoch:
        st.info("Starting: loading the data and building the network.", icon=":material/hourglass_top:")
    else:
        epoch = min(progress.epoch + 1, progress.epochs)
        step = progress.step - (epoch - 1) * progress.steps_per_epoch
        eta = f" · about {progress.eta:.0f} s left" if progress.eta is not None else ""
        st.progress(progress.fraction, text=(
            f"{'Paused · ' if progress.status == 'paused' else ''}Epoch {epoch} of {progress.epochs} · "
            f"step {step} of {progress.steps_per_epoch} · "
            f"**{progress.samples_per_sec:,.0f} samples/s** on {progress.device}{eta}"
        ))
    for column, figure, name in zip(st.columns(3), live_figures(progress, revision=run_id), ("loss", "accuracy", "epochs")):
        column.plotly_chart(figure, key=f"live_{name}", width="stretch")


def run_controls_ui(manager, run_id: int, status: str) -> None:
    """Pause or Resume, and Stop: for the run's owner or a teacher."""
    pause, stop, _ = st.columns([1, 1, 5])
    if status == "paused":
        pause.button("Resume", icon=":material/play_arrow:", on_click=control, args=(manager.resume, run_id), width="stretch")
    else:
        pause.button("Pause", icon=":material/pause:", on_click=control, args=(manager.pause, run_id), width="stretch",
                     disabled=status != "running")
    stop.button("Stop", icon=":material/stop:", on_click=control, args=(manager.stop, run_id), width="stretch")


def control(action, number: int) -> None:
    """A control button's callback: pause, resume or stop as this session, a refusal kept to be shown."""
    from dlcore import DLCoreError

    try:
        action(number, session_owner(), is_teacher())
    except DLCoreError as exc:
        st.session_state["control_problem"] = str(exc)


def control_problem_ui() -> None:
    """The sentence a refused control left (not the owner, or a full queue), shown once."""
    if problem := st.session_state.pop("control_problem", None):
        st.error(literal(problem), icon=":material/block:")


def compare_runs_ui(runs: list, key: str) -> None:
    """Past runs in a table; the ones ticked are overlaid, loss against epochs so batch sizes compare."""
    if not runs:
        st.caption("Finished runs are listed here, so you can compare their curves.")
        return
    table = pd.DataFrame([{
        "run": r.id, "status": r.status, "model": r.config.model.summary(), "optimizer": r.config.optimizer,
        "lr": r.config.lr, "batch": r.config.batch_size, "epochs": r.config.epochs, "dataset": r.config.dataset,
        "test accuracy": r.accuracy, "seconds": round(r.seconds, 1), "device": r.device, "by": r.student,
    } for r in runs])
    picked = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="multi-row", key=key, width="stretch",
                          column_config={"test accuracy": st.column_config.NumberColumn(format="percent"),
                                         "lr": st.column_config.NumberColumn(format="%g")})
    chosen = [runs[i] for i in picked.selection.rows]
    if not chosen:
        st.caption("Tick runs in the first column to overlay their curves.")
        return
    histories = [(f"#{r.id}", r.history.get("epochs", [])) for r in chosen]
    steps = [(f"#{r.id}", r.history.get("steps", []), r.history.get("steps_per_epoch", 0)) for r in chosen]
    figures = [
        loss_figure(steps, per_epoch=True),
        epoch_figure(histories, "accuracy"),
        epoch_figure(histories, "loss"),
    ]
    for column, figure in zip(st.columns(3), figures):
        column.plotly_chart(figure, width="stretch")


def smoothed(values) -> np.ndarray:
    """The mean of the last few values at each step; the window grows with the series (5 to 200 steps)."""
    window = int(min(max(len(values) / 30, 5), 200))
    sums = np.cumsum(np.concatenate([[0.0], np.asarray(values, dtype=float)]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def _thinned(count: int) -> np.ndarray:
    return np.unique(np.linspace(0, count - 1, MAX_POINTS).astype(int)) if count > MAX_POINTS else np.arange(count)


def _figure(traces: list[dict], title: str, x_title: str, y_title: str, height: int = 300, revision=None,
            legend_at: str = "top", empty: str = "", **axes) -> go.Figure:
    """A chart made in one step from plain dicts (three times cheaper than adding traces one by one, which
    matters at several polls a second); the legend sits inside, in the corner the curves leave free."""
    layout = dict(
        title=title, height=height, margin=dict(l=10, r=10, t=40, b=10), uirevision=revision,
        xaxis=dict(title=x_title, **axes.get("xaxis", {})), yaxis=dict(title=y_title, **axes.get("yaxis", {})),
        legend=dict(x=1, y=1 if legend_at == "top" else 0, xanchor="right", yanchor=legend_at,
                    bgcolor="rgba(255,255,255,0.7)"),
    )
    if empty:
        layout["annotations"] = [dict(text=empty, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")]
        layout["xaxis"]["visible"] = layout["yaxis"]["visible"] = False
    return presentable(go.Figure({"data": traces, "layout": layout}))


def loss_figure(curves: list[tuple[str, list[float], int]], per_epoch: bool = False, revision=None) -> go.Figure:
    """Training loss per step: faint raw points under a smoothed line, one curve per (name, losses, steps/epoch).

    per_epoch puts runs with different batch sizes on one x axis measured in epochs.
    """
    traces = []
    for i, (name, losses, steps_per_epoch) in enumerate(curves):
        if not losses:
            continue
        values = np.asarray(losses, dtype=float)
        values[~np.isfinite(values)] = np.nan  # a diverged run's last loss is inf
        index = _thinned(len(values))
        x = (index + 1) / steps_per_epoch if per_epoch and steps_per_epoch else index + 1
        color = qualitative.Plotly[i % len(qualitative.Plotly)]
        if len(curves) == 1:
            traces.append(dict(type="scatter", x=x, y=values[index], mode="markers", name="each step",
                               marker=dict(size=3, color=color, opacity=0.3)))
        traces.append(dict(type="scatter", x=x, y=smoothed(values)[index], mode="lines", name=name or "smoothed",
                           line=dict(color=color, width=2)))
    return _figure(traces, "Training loss per step", "epoch" if per_epoch else "step", "loss", revision=revision,
                   empty="" if traces else "The first losses appear a moment after the run starts.")


def epoch_figure(histories: list[tuple[str, list[dict]]], metric: str, revision=None) -> go.Figure:
    """Train (dotted) and test (solid) accuracy or loss after each epoch, one colour per run."""
    traces = []
    for i, (name, rows) in enumerate(histories):
        for split in ("train", "test"):
            colour = i if len(histories) > 1 else int(split == "test")  # one run: train and test differ
            color = qualitative.Plotly[colour % len(qualitative.Plotly)]
            traces.append(dict(
                type="scatter", x=[row["epoch"] for row in rows], y=[row[f"{split}_{metric}"] for row in rows],
                mode="lines+markers", name=f"{name} {split}".strip(), line=dict(color=color, dash=_SPLIT_STYLE[split]),
            ))
    return _figure(traces, f"{metric.capitalize()} per epoch", "epoch", metric, revision=revision,
                   legend_at="bottom" if metric == "accuracy" else "top",
                   empty="" if any(rows for _, rows in histories) else "Appears after the first epoch.",
                   yaxis=dict(tickformat=".0%") if metric == "accuracy" else {})


def live_figures(progress, revision=None) -> list[go.Figure]:
    """The charts a watching page draws on each poll: step loss, then accuracy and loss per epoch."""
    return [
        loss_figure([("smoothed", progress.step_losses, progress.steps_per_epoch)], revision=revision),
        epoch_figure([("", progress.history)], "accuracy", revision=revision),
        epoch_figure([("", progress.history)], "loss", revision=revision),
    ]


def confusion_figure(confusion: list[list[int]], classes: tuple[str, ...]) -> go.Figure:
    """Correct answers in green on the diagonal, mistakes in red elsewhere, each cell with its count."""
    counts = np.asarray(confusion, dtype=float)
    diagonal = np.eye(len(classes), dtype=bool)
    names = list(classes)
    traces = [
        dict(type="heatmap", z=np.where(mask, counts, np.nan), x=names, y=names, colorscale=scale, showscale=False,
             texttemplate="%{z:.0f}", hoverinfo="skip")
        for mask, scale in ((diagonal, "Greens"), (~diagonal, "Reds"))
    ]
    true, predicted = np.divmod(np.arange(counts.size), len(classes))
    traces.append(dict(  # invisible points on the cells: heatmaps cannot be clicked, points can
        type="scatter", x=[names[p] for p in predicted], y=[names[t] for t in true], customdata=counts.flatten(),
        mode="markers", marker=dict(size=24, symbol="square", color="rgba(0,0,0,0)"),
        unselected=dict(marker=dict(opacity=0)), showlegend=False,
        hovertemplate="true %{y}, predicted %{x}: %{customdata:.0f}<extra></extra>",
    ))
    return _figure(traces, "Confusion matrix", "predicted", "true", height=460,
                   xaxis=dict(type="category", range=[-0.5, len(names) - 0.5]),
                   yaxis=dict(type="category", range=[len(names) - 0.5, -0.5]))


def per_class_figure(per_class: list[float], classes: tuple[str, ...]) -> go.Figure:
    bars = dict(type="bar", x=list(classes), y=per_class, text=[f"{a:.1%}" for a in per_class], textposition="outside")
    return _figure([bars], "Accuracy per class", "class", "accuracy", height=460,
                   xaxis=dict(type="category"), yaxis=dict(range=[0, 1.1], tickformat=".0%"))


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
    st.image(
        [np.kron(255 - image, np.ones((3, 3), dtype=np.uint8)) for image in images],
        caption=[f"{classes[t]} → {classes[p]}" for _, t, p in shown[: len(images)]],
    )


DIVERGED_ADVICE = (
    "What to try: lower the learning rate (about 0.001 suits Adam, 0.01 to 0.1 suits SGD); switch to Adam; "
    "add batch norm to the hidden layers; or use the one-cycle schedule, which warms the learning rate up."
)


def run_results_ui(run) -> None:
    """A finished run: what happened, its curves, its confusion matrix, per-class accuracy and its mistakes."""
    from dlcore import data

    if run.status == "diverged":
        st.error(f"Run #{run.id} diverged. {literal(run.message)}", icon=":material/trending_up:")
        st.markdown(DIVERGED_ADVICE)
    elif run.status in ("failed", "interrupted"):
        st.error(f"Run #{run.id} {run.status}. {literal(run.message)}")
    elif run.status == "stopped":
        st.warning(f"Run #{run.id} was stopped. {literal(run.message)}", icon=":material/stop_circle:")
    elif run.status == "done":
        st.success(f"Run #{run.id} finished: test accuracy **{run.accuracy:.2%}**.", icon=":material/check_circle:")
    else:
        st.info(f"Run #{run.id} is {run.status} in another process; its curves update after each epoch.")
    history = run.history or {}
    if run.results is not None:
        epochs = history.get("epochs")  # a run stopped inside its first epoch has none: estimate from its steps
        steps = len(history.get("steps", []))
        rate = epochs[-1]["samples_per_sec"] if epochs else steps * run.config.batch_size / max(run.seconds, 1e-9)
        columns = st.columns(4)
        columns[0].metric("Test accuracy", f"{run.results.accuracy:.2%}")
        columns[1].metric("Test loss", f"{run.results.loss:.3f}")
        columns[2].metric("Training time", f"{run.seconds:.1f} s")
        columns[3].metric(f"Samples/s on {run.device or 'CPU'}", f"{rate:,.0f}")
    curves = st.columns(3)
    figures = [
        loss_figure([("smoothed", history.get("steps", []), history.get("steps_per_epoch", 0))]),
        epoch_figure([("", history.get("epochs", []))], "accuracy"),
        epoch_figure([("", history.get("epochs", []))], "loss"),
    ]
    for column, figure in zip(curves, figures):
        column.plotly_chart(figure, width="stretch")
    if run.results is None:
        return
    classes = data.info(run.config.dataset).classes
    left, right = st.columns(2)
    event = left.plotly_chart(
        confusion_figure(run.results.confusion, classes), on_select="rerun", selection_mode="points",
        key=f"confusion_{run.id}", width="stretch",
    )
    right.plotly_chart(per_class_figure(run.results.per_class, classes), width="stretch")
    left.caption("Click a cell to see its test images below.")
    points = event.selection.points if event else []
    cell = (classes.index(str(points[0]["y"])), classes.index(str(points[0]["x"]))) if points else None
    st.subheader("Misread test images")
    mistakes_ui(run, classes, cell)


# ---- classroom: presenter mode, export, import ------------------------------------------------------

PRESENTER_FONT = 20  # chart text size on a projector
PRESENTER_CSS = """<style>
[class*="st-key-settings_"] { display: none !important; }
.stMainBlockContainer { max-width: 100%; }
.stMainBlockContainer p, .stMainBlockContainer li, .stMainBlockContainer label { font-size: 1.35rem !important; }
.stMainBlockContainer [data-testid="stMetricValue"], .stMainBlockContainer [data-testid="stMetricValue"] * {
    font-size: clamp(2rem, 2.6vw, 3.6rem) !important; font-weight: 700; line-height: 1.2; }
.stMainBlockContainer [data-testid="stMetricLabel"] *, .stMainBlockContainer [data-testid="stMetricDelta"] * {
    font-size: 1.5rem !important; }
.stMainBlockContainer [data-testid="stProgress"] p { font-size: 1.6rem !important; }
.stMainBlockContainer h1 { font-size: 3.2rem !important; }
</style>"""


def presenter_mode_ui() -> None:
    """The sidebar's presenter-mode toggle, kept in step with ?present=1 so a link opens a page ready for a projector.

    app.py calls it for every page: a link's present=1 or present=0 wins; a page change that drops the query
    keeps the mode and writes it back, so a reload stays in it.
    """
    query = st.query_params.get("present")
    if query is not None:
        st.session_state["presenting"] = query == "1"
    elif st.session_state.get("presenting"):
        st.query_params["present"] = "1"
    st.sidebar.toggle("Presenter mode", key="presenting", on_change=_present_in_url,
                      help="Hides the settings and enlarges text, numbers and charts for a projector. "
                           "Add ?present=1 to a page's address to open it this way.")
    if presenting():
        st.html(PRESENTER_CSS)


def _present_in_url() -> None:
    if st.session_state["presenting"]:
        st.query_params["present"] = "1"
    else:
        st.query_params.pop("present", None)


def presenting() -> bool:
    """The toggle's state; before the toggle is drawn (a page run on its own), what the link asks for."""
    if "presenting" in st.session_state:
        return bool(st.session_state["presenting"])
    return st.query_params.get("present") == "1"


def settings_container(name: str):
    """A container for settings, which presenter mode hides (by its key's CSS class)."""
    return st.container(key=f"settings_{name}")


def presentable(figure: go.Figure) -> go.Figure:
    """In presenter mode, chart text large enough to read from the back of a room, and a taller chart."""
    if presenting():  # Streamlit's chart theme sets tick and legend sizes itself, so those are named too
        figure.update_layout(font=dict(size=PRESENTER_FONT), height=int((figure.layout.height or 300) * 1.5),
                             title_font=dict(size=PRESENTER_FONT + 4), legend_font=dict(size=PRESENTER_FONT - 2))
        figure.update_xaxes(tickfont_size=PRESENTER_FONT - 2, title_font_size=PRESENTER_FONT)
        figure.update_yaxes(tickfont_size=PRESENTER_FONT - 2, title_font_size=PRESENTER_FONT)
    return figure


def export_button_ui(run, label: str = "Download weights and script") -> None:
    """The run's zip: safetensors weights, its config, and a standalone PyTorch script that rebuilds, evaluates and
    retrains it."""
    from dlcore import DLCoreError, export

    try:
        export.check_exportable(run)
    except DLCoreError as exc:
        st.caption(literal(exc))
        return
    name = export.bundle_name(run)
    st.download_button(label, lambda: export.bundle(run)[1], file_name=name, mime="application/zip",
                       icon=":material/download:", key=f"export_{run.id}", on_click="ignore",
                       help=f"{name}: the weights (.safetensors), the config (.json) and a script that needs only "
                            "torch and torchvision: `python run-N.py evaluate` scores the weights, `python run-N.py train` trains the same setup again.")


def import_ui(key: str) -> int | None:
    """Upload weights trained elsewhere; they are checked, scored and saved as a run. Returns its id once imported."""
    from dlcore import DLCoreError, export

    weights = st.file_uploader("Weights: a .safetensors file, or a .zip exported from a playground", key=f"{key}_weights")
    config = st.file_uploader("Its config (.json), if the weights file does not carry one", type=["json"],
                              key=f"{key}_config")
    if st.button("Import", icon=":material/upload:", disabled=weights is None, key=f"{key}_go"):
        try:
            run_id = export.import_weights(weights.getvalue(), weights.name, config.getvalue() if config else None,
                                           st.session_state.get("student_name", ""))
        except DLCoreError as exc:
            st.error(literal(exc), icon=":material/block:")
            return None
        st.success(f"Imported as run #{run_id}: pick it as the model in Draw & classify, or find it on the run board.",
                   icon=":material/check_circle:")
        return run_id
    return None
