"""Build & train: design a network, train it in the background, watch it learn live, then read its mistakes."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

import ui
from dlcore import DLCoreError, ModelSpec, TrainConfig, activations, devices, jobs, models, optim, sharing, validation
from dlcore.config import ConvBlock, DenseLayer, bounds

PRESETS = {"simple-nn": "simple-nn (MLP 128-64)", "keras-mlp": "keras-mlp (MLP 128)",
           "cnn": "cnn (2 conv blocks, dense 128)", "scratch": "scratch (no hidden layers)"}
KINDS = {"mlp": "MLP: dense layers", "cnn": "CNN: conv blocks, then dense layers"}
LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0, 1000.0)
WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1)
BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048)
CONV_COLUMNS = ["channels", "kernel", "activation", "pool", "padding", "batch_norm"]
DENSE_COLUMNS = ["units", "activation", "dropout", "batch_norm"]
SETTING_KEYS = ("train_dataset", "train_batch", "train_epochs", "train_optimizer", "train_lr", "train_momentum",
                "train_nesterov", "train_decay", "train_schedule", "train_loss", "train_seed", "train_device")
START = TrainConfig(model=models.preset("simple-nn"))  # what the page shows first; links name what differs


def open_link() -> None:
    """A setup link (dlcore.sharing) replaces the page's setup, once per link; what it could not use gets a note."""
    link = {key: value for key, value in st.query_params.to_dict().items() if key in sharing.KEYS}
    if not link or link == st.session_state.get("train_link"):
        return
    setup = sharing.from_query(link, START)
    st.session_state["train_link"] = link
    st.session_state["train_link_note"] = setup.note
    st.session_state["train_config"] = setup.config
    for key in (*SETTING_KEYS, "train_preset"):
        st.session_state.pop(key, None)
    preset = next((name for name, spec in models.PRESETS.items() if spec == setup.config.model), None)
    st.session_state["train_from"] = preset or "scratch"
    use_model(setup.config.model)


def share_link_ui(config: TrainConfig) -> None:
    """Keep the setup in the address bar, and show it as a link to copy."""
    query = sharing.to_query(config, START)
    if query != st.session_state.get("train_link"):
        for key in sharing.KEYS:
            if key not in query:
                st.query_params.pop(key, None)
        st.query_params.update(query)
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
            "channels": column.NumberColumn(**limits(ConvBlock, "channels"), step=1, default=32, required=True),
            "kernel": column.SelectboxColumn(width="small", options=[1, 3, 5, 7], default=3, required=True),
            "pool": column.SelectboxColumn(width="small", options=list(models.POOLS), default="max", required=True),
            "padding": column.SelectboxColumn(width="small", options=list(models.PADDINGS), default="valid", required=True),
            **common})
    st.markdown("**Hidden dense layers**: the 10-way output layer is added after them")
    dense = st.data_editor(pd.DataFrame([d.__dict__ for d in base.dense], columns=DENSE_COLUMNS).astype({"units": "Int64"}),
                           num_rows="dynamic", key=f"train_dense_{version}", width="stretch", column_config={
        "units": column.NumberColumn(**limits(DenseLayer, "units"), step=1, default=64, required=True),
        "dropout": column.NumberColumn(**limits(DenseLayer, "dropout"), step=0.05, default=0.0, format="%.2f", required=True),
        **common})
    if new != "relu":
        st.caption(f"New layers use {activations.get(new).title}, chosen in the Activation lab.")
    return ui.spec_from_tables(kind, conv, dense)


def with_value(options: tuple, value) -> list:
    """A slider's options, plus the value a link or a saved setup chose when it is not among them."""
    return sorted({*options, value})


def settings_ui(model: ModelSpec) -> TrainConfig:
    titles, missing = ui.dataset_reasons()
    reasons = devices.device_status()
    best_device = next(name for name in ("cuda", "mps", "cpu") if not reasons[name])
    keep(train_dataset=saved.dataset if saved.dataset not in missing else "mnist-sample", train_batch=saved.batch_size,
         train_epochs=saved.epochs, train_optimizer=saved.optimizer, train_lr=saved.lr, train_momentum=saved.momentum,
         train_nesterov=saved.nesterov, train_decay=saved.weight_decay, train_schedule=saved.schedule, train_loss=saved.loss,
         train_seed=saved.seed, train_device=saved.device if saved.device in reasons else best_device)
    data_column, optimizer_column, other_column = st.columns(3)
    with data_column:
        dataset = ui.available_choice_ui("Dataset", titles, missing, key="train_dataset")
        batch_size = st.select_slider("Batch size", with_value(BATCH_SIZES, st.session_state["train_batch"]),
                                      key="train_batch")
        epochs = st.number_input("Epochs", **limits(TrainConfig, "epochs"), key="train_epochs")
    with optimizer_column:
        optimizer = st.selectbox("Optimizer", list(optim.OPTIMIZERS), format_func=optim.OPTIMIZERS.get,
                                 key="train_optimizer")
        lr = st.select_slider("Learning rate", with_value(LEARNING_RATES, st.session_state["train_lr"]),
                              format_func="{:g}".format, key="train_lr")
        momentum = st.slider("Momentum (SGD, RMSprop)", **limits(TrainConfig, "momentum"), step=0.01, key="train_momentum",
                             disabled=optimizer not in ("sgd", "rmsprop"))
        nesterov = st.checkbox("Nesterov momentum (SGD)", key="train_nesterov", disabled=optimizer != "sgd")
        weight_decay = st.select_slider("Weight decay", with_value(WEIGHT_DECAYS, st.session_state["train_decay"]),
                                        format_func="{:g}".format, key="train_decay")
    with other_column:
        schedule = st.selectbox("Learning-rate schedule", list(optim.SCHEDULES), format_func=optim.SCHEDULES.get,
                                key="train_schedule")
        loss = st.selectbox("Loss", list(optim.LOSSES), format_func=optim.LOSSES.get, key="train_loss")
        seed = st.number_input("Seed", **limits(TrainConfig, "seed"), key="train_seed")
        device = ui.available_choice_ui("Device", ui.DEVICE_TITLES, reasons, key="train_device")
    config = TrainConfig(dataset=dataset, model=model, optimizer=optimizer, lr=lr, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay, schedule=schedule, loss=loss, batch_size=batch_size, epochs=epochs,
                         seed=seed, device=device)
    st.session_state["train_config"] = config
    return config


def watch(run_id: int | None) -> None:
    """Follow a run in this session and in the address bar, so a reload comes back to it."""
    st.session_state["train_run_id"] = run_id
    if run_id is None:
        st.query_params.pop("run", None)
    else:
        st.query_params["run"] = str(run_id)


open_link()
saved: TrainConfig = st.session_state.setdefault("train_config", START)

st.title("Build & train")
st.caption("Stack layers, pick how to train them, and watch a real PyTorch network learn. Training runs on the "
           "server: switching pages or reloading this one neither stops nor loses it.")

st.header("1. Network", divider="gray")
keep(train_preset=st.session_state.get("train_from", "simple-nn"), train_kind=saved.model.kind)
builder, summary = st.columns([3, 2], gap="large")
with builder, ui.settings_container("network"):
    start_from, kind = st.columns(2)
    start_from.selectbox("Start from", list(PRESETS), format_func=PRESETS.get, key="train_preset", on_change=load_preset)
    kind.radio("Kind", list(KINDS), format_func=KINDS.get, key="train_kind", on_change=switch_kind)
    try:
        spec = layers_ui(st.session_state["train_kind"])
        table, problem = ui.layer_table(spec), None
    except DLCoreError as exc:
        spec, problem = None, str(exc)
with summary:
    if problem:
        st.error(ui.literal(problem), icon=":material/error:")
    else:
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={"parameters": st.column_config.NumberColumn(format="localized")})
        st.metric("Trainable parameters", f"{table['parameters'].sum():,}")

st.header("2. Training", divider="gray")
if note := st.session_state.pop("train_link_note", ""):
    st.warning(ui.literal(note), icon=":material/link_off:")
with ui.settings_container("training"):
    config = settings_ui(spec or saved.model)
    share_link_ui(config)
if ui.presenting():
    st.markdown(f"**{sharing.summary(config)}** on {ui.dataset_reasons()[0][config.dataset]}")
try:
    too_big = None
    validation.check_memory(config)  # from shapes alone: a huge spec costs nothing until someone trains it
except DLCoreError as exc:
    too_big = str(exc)
    st.error(ui.literal(too_big), icon=":material/memory:")
devices.prepare(config.dataset, config.device)  # so Start trains at once
keep(train_student=st.session_state.get("student_name", ""))
name_column, button_column = st.columns([2, 1], vertical_alignment="bottom")
with name_column, ui.settings_container("student"):
    student = st.session_state["student_name"] = st.text_input(
        "Your name (optional, shown in the runs list)", key="train_student", max_chars=40)
if button_column.button("Start training", type="primary", icon=":material/play_arrow:",
                        disabled=spec is None or too_big is not None, width="stretch"):
    try:
        watch(manager.submit(config, student, owner=ui.session_owner()))
    except DLCoreError as exc:
        st.error(ui.literal(exc))
if spec is None:
    st.caption("Fix the network above to start training.")

st.header("3. Watch", divider="gray")
runs = ui.recent_runs(manager.store)
if "train_run_id" not in st.session_state and st.query_params.get("run", "").isdigit():
    st.session_state["train_run_id"] = int(st.query_params["run"])
active = manager.active()
st.session_state["train_pick"] = st.session_state.get("train_run_id")
run_id = ui.run_picker_ui(runs, "Run", key="train_pick", live=tuple(active),
                          on_change=lambda: watch(st.session_state["train_pick"]))
if run_id is None and active:
    st.info(f"{len(active)} run{'s are' if len(active) > 1 else ' is'} training or waiting on this server; "
            "choose one above to watch it.")
if run_id is not None and st.query_params.get("run") != str(run_id):
    watch(run_id)  # back from another page: the address bar names the run again, for a reload
progress = manager.progress(run_id) if run_id is not None else None
if progress is not None and not progress.finished:
    queued = progress.queue_position is not None
    st.fragment(run_every=ui.QUEUE_POLL_SECONDS if queued else ui.POLL_SECONDS)(ui.live_run_ui)(manager, run_id, queued)
elif run_id is not None:
    try:
        ui.run_results_ui(manager.store.get(run_id))
    except DLCoreError as exc:
        st.warning(ui.literal(exc))
        watch(None)

st.header("4. Compare runs", divider="gray")
ui.compare_runs_ui(runs, key="train_compare")
