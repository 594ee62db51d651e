"""Optimizer race: one network, 2 to 4 optimizers, the same first weights and the same batches, curves overlaid live."""

import pandas as pd
import streamlit as st

from dlcore import DLCoreError, optim, race, sharing
from ui import literal
from ui.classroom import (bring_into_view, export_button_ui, is_teacher, keep_setup_in_address, page_opened, refusal,
                          session_owner, setup_query)
from ui.lanes import live_ui, stop_ui
from ui.runs import POLL_SECONDS
from ui.status import available_choice_ui, dataset_reasons

NETWORKS = {"simple-nn": "simple-nn (MLP 128-64)", "keras-mlp": "keras-mlp (MLP 128)", "cnn": "cnn (2 conv blocks)"}

manager = race.race_manager()


def open_link() -> None:
    """A race link (race.from_link) sets up the race, once per link; what it could not use, and any key this page does
    not use, gets a note."""
    query = setup_query()
    if not query or query == st.session_state.get("race_link"):
        return
    setup = race.from_link(query)
    st.session_state["race_link"] = query
    st.session_state["race_link_note"] = " ".join(filter(None, (setup.note, sharing.unused_keys_note(query, race.LINK_KEYS))))
    st.session_state["race_link_setup"] = race.to_link(setup)  # the note stays until the settings move on from it
    st.session_state.update(race_network=setup.network, race_dataset=setup.dataset, race_epochs=setup.epochs,
                            race_batch=setup.batch_size, race_pace=setup.paced, race_start_lanes=setup.lanes)
    st.session_state.pop("race_lanes", None)  # the lanes table starts again from the link's lanes


def settings_ui() -> race.RaceSetup:
    """What every lane shares, the pace, then the table of lanes, one row per optimizer."""
    titles, missing = dataset_reasons()
    start = race.RaceSetup()
    st.session_state.setdefault("race_dataset", start.dataset)
    network, dataset, rhythm = st.columns(3)
    preset = network.selectbox("Network", race.NETWORKS, format_func=NETWORKS.get, key="race_network")
    with dataset:
        chosen = available_choice_ui("Dataset", titles, missing, key="race_dataset")
    epochs = rhythm.slider("Epochs", *race.EPOCHS, start.epochs, key="race_epochs")
    batch_size = rhythm.select_slider("Batch size", race.BATCH_SIZES, start.batch_size, key="race_batch")
    watchable = rhythm.toggle(f"Watchable pace (at least {race.WATCHABLE_SECONDS:.0f} s)", value=start.paced,
                              key="race_pace",
                              help="Spreads the race over the time a room needs to follow it; off, it runs as fast as "
                                   "this server trains (the starting race takes about 2 s on a laptop).")
    st.markdown("**Lanes**: one row per optimizer (2 to 4). Momentum counts for SGD and RMSprop only.")
    lanes = st.data_editor(
        pd.DataFrame(list(st.session_state.get("race_start_lanes", start.lanes))), num_rows="dynamic", key="race_lanes",
        width="stretch", column_config={
            "optimizer": st.column_config.SelectboxColumn("optimizer", options=list(optim.OPTIMIZERS), required=True, default="adam"),
            "lr": st.column_config.NumberColumn("learning rate", min_value=1e-6, max_value=1000.0, format="%g", required=True, default=0.001),
            "momentum": st.column_config.NumberColumn("momentum", min_value=0.0, max_value=0.99, step=0.05, format="%.2f", required=True, default=0.9),
        })
    if lanes.isna().any().any():
        raise DLCoreError("A lane has an empty cell; fill it in or delete the row.")
    rows = tuple({"optimizer": r["optimizer"], "lr": float(r["lr"]), "momentum": float(r["momentum"])}
                 for r in lanes.to_dict("records"))
    return race.RaceSetup(preset, chosen, epochs, batch_size, watchable, rows)


def start(setup: race.RaceSetup) -> None:
    try:
        pace = race.WATCHABLE_SECONDS if setup.paced else 0.0
        st.session_state["race_id"] = manager.submit(race.lanes(setup.base(), list(setup.lanes)),
                                                     st.session_state.get("student_name", ""), owner=session_owner(),
                                                     teacher=is_teacher(), pace=pace)
        st.session_state["race_started"] = True
    except DLCoreError as exc:
        st.session_state["race_problem"] = refusal(exc)


st.title("Optimizer race")
st.caption("The same network starts from the same weights in every lane and sees the same batches in the same order; "
           "only the optimizer differs. Watch which one gets the loss down fastest, and which one blows up.")
open_link()
note = st.empty()  # filled once it is known whether the settings moved on from the link
with st.container(key="race_settings"):  # in presenter mode too: which lanes race is the lesson
    try:
        setup = settings_ui()
        link = st.session_state["race_link"] = race.to_link(setup)
        keep_setup_in_address(link)
        if link != st.session_state.get("race_link_setup"):
            st.session_state.pop("race_link_note", None)
    except DLCoreError as exc:
        setup = None
        st.error(literal(exc))
if link_note := st.session_state.get("race_link_note"):
    note.warning(literal(link_note))
st.button("Start the race", type="primary", icon=":material/sports_score:", disabled=setup is None, on_click=start,
          args=(setup,))
if name := st.session_state.get("student_name"):
    st.caption(f"Each lane is saved as a run by {literal(name)} (your name, set in Build & train).")
if problem := st.session_state.pop("race_problem", None):
    st.error(literal(problem))

race_ids = manager.races()
if st.session_state.get("race_id") not in race_ids:
    st.session_state["race_id"] = race_ids[0] if race_ids else None
if st.session_state["race_id"] is None:
    st.info("No race on this server yet: start one with the lanes set above.")
else:
    if len(race_ids) > 1:
        st.selectbox("Race", race_ids, key="race_id", format_func=lambda i: f"Race #{i}: " + ", ".join(
            lane.name for lane in manager.progress(i).lanes))
    live = not manager.progress(st.session_state["race_id"]).finished
    with st.container(key="race_view"):
        if live:
            stop_ui(st.session_state["race_id"])
        st.fragment(run_every=POLL_SECONDS if live else None)(live_ui)(st.session_state["race_id"], "race")
    if st.session_state.pop("race_started", False) or (live and page_opened()):
        bring_into_view("race_view")
    finished = [lane for lane in manager.progress(st.session_state["race_id"]).lanes if lane.run_id and lane.accuracy is not None]
    if not live and finished:
        st.caption("Each lane is saved as a run: find them on the run board, use them in Draw & classify, or take one home.")
        for column, lane in zip(st.columns(len(finished)), finished):
            with column:
                export_button_ui(manager.store.get(lane.run_id), label=f"Export {lane.name}")
