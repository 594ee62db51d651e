"""Build & train: design a network, train it in the background, watch it learn live, then read its mistakes."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from dlcore import DLCoreError, ModelSpec, TrainConfig, activations, devices, jobs, models, optim, sharing, validation
from dlcore.config import MAX_NAME_CHARS, ConvBlock, DenseLayer, bounds, student_name
from dlcore.runs import parse_run_id
from ui import charts, literal
from ui.classroom import (bring_into_view, control, control_problem_ui, is_teacher, keep_setup_in_address,
                          may_control, page_opened, presenting, refusal, remember_name, session_owner,
                          settings_container, setup_query)
from ui.inside import live_ui
from ui.runs import POLL_SECONDS, charts_ui, run_results_ui, time_column, training_seconds
from ui.status import available_choice_ui, dataset_reasons

PRESETS = {"simple-nn": "simple-nn (MLP 128-64)", "keras-mlp": "keras-mlp (MLP 128)",
           "cnn": "cnn (2 conv blocks, dense 128)", "scratch": "scratch (no hidden layers)"}
KINDS = {"mlp": "MLP: dense layers", "cnn": "CNN: conv blocks, then dense layers"}
LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0, 1000.0)
WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1)
BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048)
CONV_COLUMNS = ["channels", "kernel", "activation", "pool", "padding", "batch_norm"]
DENSE_COLUMNS = ["units", "activation", "dropout", "batch_norm"]
BOUNDED = {ConvBlock: ("channels",), DenseLayer: ("units", "dropout")}  # the layer tables' numbers, checked here
KEYS = {field: f"train_{field}" for field in sharing.SETTINGS.values()}  # every TrainConfig field but the model
SETUP_COLUMNS = {field: field.replace("_", " ") for field in KEYS}  # the comparison table's setup, field by field
PICK = "train_pick"  # the run picker; the address's ?run=N is the watched run's home
QUEUE_POLL_SECONDS = 1.0  # a run waiting in the queue has only its place in line to show
EPOCH_POLL_SECONDS = 2.0  # a live run's controls, per-epoch charts and digit strip (its steps: POLL_SECONDS)
DEVICE_TITLES = {"cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)"}
START = TrainConfig(model=models.preset("simple-nn"))  # what the page shows first; links name what differs


def open_link() -> None:
    """A setup link (dlcore.sharing) replaces the page's setup, once per link; what it could not use, and any key this
    page does not use, gets a note."""
    link = setup_query()
    if not link or link == st.session_state.get("train_link"):
        return
    setup = sharing.from_query(link, START)
    st.session_state["train_link"] = link
    st.session_state["train_link_note"] = " ".join(
        filter(None, (setup.note, sharing.unused_keys_note(link, sharing.KEYS))))
    st.session_state["train_config"] = setup.config
    for key in (*KEYS.values(), "train_preset"):
        st.session_state.pop(key, None)
    preset = next((name for name, spec in models.PRESETS.items() if spec == setup.config.model), None)
    st.session_state["train_from"] = preset or "scratch"
    use_model(setup.config.model)


def share_link_ui(config: TrainConfig) -> None:
    """Keep the setup in the address bar, and show it as a link to copy."""
    query = sharing.to_query(config, START)
    keep_setup_in_address(query)
    st.session_state["train_link"] = query
    address = (st.context.url or "").split("?")[0]
    st.caption("Share this setup: the link opens this network and these settings (the address bar holds it too).")
    st.code(f"{address}?{urlencode(query)}", language=None, wrap_lines=True)


manager = jobs.job_manager()


def limits(cls, field: str) -> dict:
    """A widget's bounds are the schema's, so no value the widget offers is refused and no link exceeds it."""
    low, high = bounds(cls, field)
    return {"min_value": low, "max_value": high}


def keep(**values) -> None:
    """Give widgets back their last values, which Streamlit forgets while the user is on another page."""
    for key, value in values.items():
        st.session_state.setdefault(key, value)


def use_model(model: ModelSpec) -> None:
    """Load new layer tables under new editor keys, so no stale edits land on them."""
    st.session_state["train_config"] = st.session_state["train_config"].with_changes(model=model)
    st.session_state["train_kind"] = model.kind
    st.session_state["train_tables"] = st.session_state.get("train_tables", 0) + 1


def use_activation() -> None:
    """The activation the Activation lab's "Use ... in my network" chose goes into every hidden layer, once."""
    if name := st.session_state.pop("use_activation", None):
        model = st.session_state["train_config"].model
        use_model(ModelSpec(model.kind, tuple(replace(block, activation=name) for block in model.conv),
                            tuple(replace(layer, activation=name) for layer in model.dense)))


def load_preset() -> None:
    name = st.session_state["train_from"] = st.session_state["train_preset"]
    use_model(ModelSpec("mlp", dense=()) if name == "scratch" else models.preset(name))


def switch_kind() -> None:
    kind, model = st.session_state["train_kind"], st.session_state["train_config"].model
    use_model(ModelSpec(kind, (model.conv or models.preset("cnn").conv) if kind == "cnn" else (), model.dense))


def layers_ui(kind: str) -> ModelSpec:
    """The conv and dense layer editors; a row that cannot be used raises DLCoreError with a sentence."""
    version = st.session_state.setdefault("train_tables", 0)
    if f"train_dense_{version}" not in st.session_state:  # first visit, or back from another page
        st.session_state["train_base"] = st.session_state["train_config"].model
    base, new = st.session_state["train_base"], st.session_state.get("default_activation", "relu")
    column = st.column_config
    common = {"activation": column.SelectboxColumn(options=activations.HIDDEN_ACTIVATIONS, default=new, required=True),
              "batch_norm": column.CheckboxColumn("batch norm", default=False)}
    conv = pd.DataFrame(columns=CONV_COLUMNS)
    if kind == "cnn":
        st.markdown("**Conv blocks**: convolution, batch norm, activation, then 2×2 pooling")
        conv = st.data_editor(pd.DataFrame([b.__dict__ for b in base.conv], columns=CONV_COLUMNS), num_rows="dynamic",
                              key=f"train_conv_{version}", width="stretch", column_config={
            "channels": column.NumberColumn(step=1, default=32, required=True),
            "kernel": column.SelectboxColumn(width="small", options=[1, 3, 5, 7], default=3, required=True),
            "pool": column.SelectboxColumn(width="small", options=list(models.POOLS), default="max", required=True),
            "padding": column.SelectboxColumn(width="small", options=list(models.PADDINGS), default="valid", required=True),
            **common})
    st.markdown("**Hidden dense layers**: the 10-way output layer is added after them")
    dense = st.data_editor(pd.DataFrame([d.__dict__ for d in base.dense], columns=DENSE_COLUMNS).astype({"units": "Int64"}),
                           num_rows="dynamic", key=f"train_dense_{version}", width="stretch", column_config={
        "units": column.NumberColumn(step=1, default=64, required=True),
        "dropout": column.NumberColumn(step=0.05, default=0.0, format="%.2f", required=True),
        **common})
    if new != "relu":
        st.caption(f"New layers use {activations.get(new).title}, chosen in the Activation lab.")
    return spec_from_tables(kind, conv, dense)


def spec_from_tables(kind: str, conv: pd.DataFrame, dense: pd.DataFrame):
    """The ModelSpec the layer editors describe; an empty cell, or a number out of its bounds, raises DLCoreError
    with a sentence. (The editors' columns carry no bounds: a browser would clamp 100000 units to the maximum, or
    drop a 0, without a word.)"""
    from dlcore import DLCoreError, ModelSpec

    def records(table: pd.DataFrame, what: str, cls) -> list[dict]:
        rows = table.to_dict("records")
        for i, row in enumerate(rows, 1):
            if any(pd.isna(value) for value in row.values()):
                raise DLCoreError(f"{what} {i} has an empty cell; fill it in or delete the row.")
            for name in BOUNDED[cls]:
                low, high = bounds(cls, name)
                if not low <= row[name] <= high:
                    raise DLCoreError(f"{what} {i} cannot have {row[name]:,g} {name}: this server allows {low:g} "
                                      f"to {high:,g}; change it.")
        return rows

    blocks = [
        {**r, "channels": int(r["channels"]), "kernel": int(r["kernel"]), "batch_norm": bool(r["batch_norm"])}
        for r in records(conv, "Conv block", ConvBlock)
    ]
    layers = [
        {**r, "units": int(r["units"]), "dropout": float(r["dropout"]), "batch_norm": bool(r["batch_norm"])}
        for r in records(dense, "Hidden layer", DenseLayer)
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


def with_value(options: tuple, field: str) -> list:
    """A slider's options, plus the value a link or a saved setup chose for its field when it is not among them."""
    return sorted({*options, st.session_state[KEYS[field]]})


def settings_ui(model: ModelSpec) -> TrainConfig:
    """One widget per TrainConfig field, each keyed train_<field>; they start from the saved setup."""
    titles, missing = dataset_reasons()
    reasons = devices.device_status()
    best_device = next(name for name in ("cuda", "mps", "cpu") if not reasons[name])
    usable = saved.with_changes(dataset=saved.dataset if saved.dataset not in missing else "mnist-sample",
                                device=saved.device if saved.device in reasons else best_device)
    keep(**{key: getattr(usable, field) for field, key in KEYS.items()})
    data_column, optimizer_column, other_column = st.columns(3)
    with data_column:
        available_choice_ui("Dataset", titles, missing, key=KEYS["dataset"])
        st.select_slider("Batch size", with_value(BATCH_SIZES, "batch_size"),
                         key=KEYS["batch_size"])
        st.number_input("Epochs", **limits(TrainConfig, "epochs"), key=KEYS["epochs"])
    with optimizer_column:
        optimizer = st.selectbox("Optimizer", list(optim.OPTIMIZERS), format_func=optim.OPTIMIZERS.get,
                                 key=KEYS["optimizer"])
        st.select_slider("Learning rate", with_value(LEARNING_RATES, "lr"),
                         format_func="{:g}".format, key=KEYS["lr"])
        st.slider("Momentum (SGD, RMSprop)", **limits(TrainConfig, "momentum"), step=0.01, key=KEYS["momentum"],
                  disabled=optimizer not in ("sgd", "rmsprop"))
        st.checkbox("Nesterov momentum (SGD)", key=KEYS["nesterov"], disabled=optimizer != "sgd")
        st.select_slider("Weight decay", with_value(WEIGHT_DECAYS, "weight_decay"),
                         format_func="{:g}".format, key=KEYS["weight_decay"])
    with other_column:
        st.selectbox("Learning-rate schedule", list(optim.SCHEDULES), format_func=optim.SCHEDULES.get,
                     key=KEYS["schedule"])
        st.selectbox("Loss", list(optim.LOSSES), format_func=optim.LOSSES.get, key=KEYS["loss"])
        st.number_input("Seed", **limits(TrainConfig, "seed"), key=KEYS["seed"])
        available_choice_ui("Device", DEVICE_TITLES, reasons, key=KEYS["device"])
    config = TrainConfig(model=model, **{field: st.session_state[key] for field, key in KEYS.items()})
    st.session_state["train_config"] = config
    return config


def watch(run_id: int | None) -> None:
    """Follow a run: the address names it, so a reload or a shared link comes back to it."""
    if run_id is None:
        st.query_params.pop("run", None)
    else:
        st.query_params["run"] = str(run_id)


def pick() -> None:
    """The picker's choice goes to the address. Anything but a run id is not a choice: the label a run had before
    its status changed, which a browser can send back, never replaces ?run=N."""
    picked = st.session_state[PICK]
    if picked is None or isinstance(picked, int):
        watch(picked)


def watched_run() -> int | None:
    """The run the address names; after a page change, whose address has no ?run, the picker (kept for the
    session) names it again. The picker's value is set from the address before it is drawn."""
    query = parse_run_id(st.query_params.get("run", ""))
    if query is not None:
        st.session_state[PICK] = query
    run_id = st.session_state.get(PICK)
    if run_id is not None and query is None:
        watch(run_id)
    return run_id


def forget(problem: str) -> None:
    """A run that cannot be shown (not in this store) gets a sentence and leaves the address and the picker."""
    st.warning(literal(problem))
    watch(None)
    st.session_state[PICK] = None


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


def run_picker_ui(runs: list, watched: int | None, live: tuple[int, ...]) -> int | None:
    """A selectbox of runs by id, newest first (the watched one too, however old), live ones marked; returns the
    chosen id or None."""
    labels = {run.id: run.label for run in runs}
    ids = list(labels)
    if watched is not None and watched not in labels:
        ids.insert(0, watched)
    return st.selectbox(
        "Run", ids, index=None, key=PICK, on_change=pick, placeholder="Choose a run", persist_state="session",
        format_func=lambda run_id: ("● training now: " if run_id in live else "") + labels.get(run_id, f"#{run_id}"),
    )


def live_run_ui(manager, run_id: int, queued: bool, status: str) -> None:
    """A live run's progress and charts; run it in st.fragment(run_every=...) so only it redraws.

    The progress bar and the step losses have news several times a second and redraw in a fragment of their own
    (live_steps_ui); the rest changes once an epoch, and redrawing it on every poll held a fast run's live chart
    to fewer than one change a second. When the run finishes, leaves the queue or is paused or resumed (by anyone),
    the whole page reruns to show what comes next and the controls that fit.
    """
    progress = manager.progress(run_id)
    if (progress is None or progress.finished or queued != (progress.queue_position is not None)
            or progress.status != status):
        st.rerun()
    # Every state draws the same slots in the same order (a block stays a block, an element an element): a fragment
    # rerun that changes what stands at a position races the browser's last update ("'setIn' cannot be called").
    with st.container():
        if queued:
            st.info(jobs.waiting_sentence(progress, manager.slots), icon=":material/hourglass_top:")
        elif progress.status == "paused":
            st.info("Paused: its training slot went to the next run in line. Resume puts it back in the queue.",
                    icon=":material/pause_circle:")
    if queued:
        return
    st.fragment(run_every=POLL_SECONDS)(live_steps_ui)(manager, run_id)
    charts_ui([charts.epoch_figure([("", progress.history)], metric, run_id, presenting()) for metric in ("accuracy", "loss")],
              key="live_epochs")
    with st.container():
        live_ui(manager, run_id)


def live_steps_ui(manager, run_id: int) -> None:
    """The progress bar and the step-loss chart, polled on their own."""
    progress = manager.progress(run_id)
    if progress is None or progress.finished:
        st.rerun()
    with st.container():
        if not progress.steps_per_epoch:
            st.info("Starting: loading the data and building the network.", icon=":material/hourglass_top:")
        else:
            st.progress(*progress_bar(progress))
    figure = charts.loss_figure([("smoothed", progress.step_losses, progress.steps_per_epoch)], revision=run_id,
                                presenter=presenting())
    st.plotly_chart(figure, key="live_steps", width="stretch", config=charts.CONFIG)


def progress_bar(progress) -> tuple[float, str]:
    """The bar's value, the share of training steps done (it holds still while test images are scored), and its
    text: the step and speed, or, while test images are scored, how far that scoring has got."""
    epoch = min(progress.epoch + 1, progress.epochs)
    eta = f" · about {jobs.duration(progress.eta)} left" if progress.eta is not None else ""
    paused = "Paused · " if progress.status == "paused" else ""
    if progress.phase == "evaluating":
        done, total = progress.scored
        return progress.fraction, (f"{paused}Epoch {epoch} of {progress.epochs} trained · **scoring {progress.scoring:,} "
                                   f"test images: {done / max(total, 1):.0%}** (batch {done} of {total}){eta}")
    step = progress.step - (epoch - 1) * progress.steps_per_epoch
    return progress.fraction, (f"{paused}Epoch {epoch} of {progress.epochs} · step {step} of {progress.steps_per_epoch}"
                               f" · **{progress.samples_per_sec:,.0f} samples/s** on {progress.device}{eta}")


def presenter_summary_ui(network, setup, run_id: int | None, config: TrainConfig) -> None:
    """In presenter mode the layer table and the setup line describe the run on screen, not the hidden form's
    setup, which they describe only while no run is shown; the table is drawn as text, which grows with the mode."""
    title = "Ready to train"
    if run_id is not None:
        try:
            config, title = manager.store.get(run_id).config, f"Run #{run_id}"
        except DLCoreError:
            pass  # a run that cannot be shown is named below the picker
    setup.markdown(f"{title}: **{sharing.summary(config)}** on {dataset_reasons()[0][config.dataset]}")
    table = layer_table(config.model)
    network.table(table.style.format({"parameters": "{:,}"}).hide(axis="index"))
    network.metric("Trainable parameters", f"{table['parameters'].sum():,}")


def run_controls_ui(manager, run_id: int, status: str) -> None:
    """Pause or Resume, and Stop, for the run's owner or a teacher; drawn by the page, outside the fragments that
    redraw the run, whose reruns on a busy server replaced the buttons faster than a click could land (CI: Stop
    "detached from the DOM" for 30 s)."""
    if not may_control(manager, run_id):
        st.caption("Only the student who started this run, or the teacher, can pause or stop it.")
        control_problem_ui()
        return
    pause, stop, _ = st.columns([1, 1, 5])
    if status == "paused":
        pause.button("Resume", icon=":material/play_arrow:", on_click=control, args=(manager.resume, run_id), width="stretch",
                     key=f"resume_{run_id}")
    else:
        pause.button("Pause", icon=":material/pause:", on_click=control, args=(manager.pause, run_id), width="stretch",
                     disabled=status != "running", key=f"pause_{run_id}")
    stop.button("Stop", icon=":material/stop:", on_click=control, args=(manager.stop, run_id), width="stretch",
                key=f"stop_{run_id}")  # the run in the key: a replayed click stops the run it was pressed for
    control_problem_ui()


def compare_runs_ui(runs: list, key: str) -> None:
    """Past runs in a table; the ones ticked are overlaid, loss against epochs so batch sizes compare."""
    if not runs:
        st.caption("Finished runs are listed here, so you can compare their curves.")
        return
    table = pd.DataFrame([{
        "run": r.id, "status": r.status, "model": r.config.model.summary(),
        **{column: getattr(r.config, field) for field, column in SETUP_COLUMNS.items()},
        "test accuracy": r.accuracy, "seconds": training_seconds(r), "ran on": r.device, "by": r.student,
    } for r in runs])
    columns = {"test accuracy": st.column_config.NumberColumn(format="percent"), "seconds": time_column(),
               **{SETUP_COLUMNS[field]: st.column_config.NumberColumn(format="%g") for field in ("lr", "weight_decay")}}
    picked = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="multi-row", key=key, width="stretch",
                          column_config=columns, placeholder="—")
    chosen = [runs[i] for i in picked.selection.rows]
    if not chosen:
        st.caption("Tick runs in the first column to overlay their curves.")
        return
    histories = [(f"#{r.id}", r.history.get("epochs", [])) for r in chosen]
    steps = [(f"#{r.id}", r.history.get("steps", []), r.history.get("steps_per_epoch", 0)) for r in chosen]
    charts_ui(charts.curve_figures(steps, histories, per_epoch=True, presenter=presenting()))

open_link()
saved: TrainConfig = st.session_state.setdefault("train_config", START)
use_activation()

st.title("Build & train")
st.caption("Stack layers, pick how to train them, and watch a real PyTorch network learn. Training runs on the "
           "server: switching pages or reloading this one neither stops nor loses it.")
if note := st.session_state.pop("train_link_note", ""):  # above the fold: what the link could not do
    st.warning(literal(note), icon=":material/link_off:")

st.header("1. Network", divider="gray")
keep(train_preset=st.session_state.get("train_from", "simple-nn"), train_kind=saved.model.kind)
builder, summary = st.columns([3, 2], gap="large")
with builder, settings_container("network"):
    start_from, kind = st.columns(2)
    start_from.selectbox("Start from", list(PRESETS), format_func=PRESETS.get, key="train_preset", on_change=load_preset)
    kind.radio("Kind", list(KINDS), format_func=KINDS.get, key="train_kind", on_change=switch_kind)
    try:
        spec = layers_ui(st.session_state["train_kind"])
        table, problem = layer_table(spec), None
    except DLCoreError as exc:
        spec, problem = None, str(exc)
network_slot = st.container() if presenting() else summary.container()  # presenting: the run on screen's, full width
if not presenting():
    with network_slot:
        if problem:
            st.error(literal(problem), icon=":material/error:")
        else:
            st.dataframe(table, hide_index=True, width="stretch",
                         column_config={"parameters": st.column_config.NumberColumn(format="localized")})
            st.metric("Trainable parameters", f"{table['parameters'].sum():,}")

st.header("2. Training", divider="gray")
with settings_container("training"):
    config = settings_ui(spec or saved.model)
    share_link_ui(config)
setup_slot = st.container()
try:
    too_big = None
    validation.check_memory(config)  # from shapes alone: a huge spec costs nothing until someone trains it
except DLCoreError as exc:
    too_big = str(exc)
    st.error(literal(too_big), icon=":material/memory:")
devices.prepare(config.dataset, config.device)  # so Start trains at once
keep(train_student=st.session_state.get("student_name", ""))
name_column, button_column = st.columns([2, 1], vertical_alignment="bottom")
with name_column, settings_container("student"):
    student = student_name(st.text_input("Your name (optional, shown in the runs list; kept in the address)",
                                         key="train_student", max_chars=MAX_NAME_CHARS))
    remember_name(student)
started = False
if button_column.button("Start training", type="primary", icon=":material/play_arrow:",
                        disabled=spec is None or too_big is not None, width="stretch"):
    try:
        watch(manager.submit(config, student, owner=session_owner(), teacher=is_teacher()))
        started = True
    except DLCoreError as exc:
        st.error(literal(refusal(exc)))
if spec is None:
    st.caption("Fix the network above to start training.")

st.container(key="watch").header("3. Watch", divider="gray")
runs = [run for run in recent_runs(manager.store)  # not Generative models' nor Reinforcement learning's
        if not run.config.model.generative and not run.config.model.agent]
active = manager.active()
picker = st.container()  # drawn once the watched run is known to exist
run_id = watched_run()
progress = manager.progress(run_id) if run_id is not None else None
run = None
if run_id is not None and (progress is None or progress.finished):
    try:
        run = manager.store.get(run_id)
    except DLCoreError as exc:
        forget(str(exc))
        run_id = None
with picker:
    run_id = run_picker_ui(runs, run_id, live=tuple(active))
if presenting():
    presenter_summary_ui(network_slot, setup_slot, run_id, config)
live = progress is not None and not progress.finished
if started or (page_opened() and (live or (presenting() and run_id is not None))):
    bring_into_view("watch")
if run_id is None and active:
    st.info(f"{len(active)} run{'s are' if len(active) > 1 else ' is'} training or waiting on this server; "
            "choose one above to watch it.")
if run is not None:
    run_results_ui(run)
elif run_id is not None:
    queued = progress.queue_position is not None
    run_controls_ui(manager, run_id, progress.status)
    st.fragment(run_every=QUEUE_POLL_SECONDS if queued else EPOCH_POLL_SECONDS)(live_run_ui)(
        manager, run_id, queued, progress.status)

st.header("4. Compare runs", divider="gray")
compare_runs_ui(runs, key="train_compare")
