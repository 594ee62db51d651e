"""What this server has: torch warming up in the background, the compute device and the data, shown in the
sidebar and offered in the pages' choices."""

from __future__ import annotations

import importlib
import threading

import streamlit as st

from ui import literal
from ui.classroom import is_teacher, presenting

WARM_UP_DELAY_S = 2.0  # a fresh server's first page is drawn before torch's import competes with it for the GIL
WARM_UP_POLL_S = 1.0  # how often a first visitor's sidebar looks again while torch is imported
# server paths and setting names are for the teacher, who can act on them (a session with the teacher key); a student
# is told what it means for them
MISSING_HERE = "not on this server; the teacher can add it"
STORE_TROUBLE = "The runs store had a problem, so some runs may be missing; the server's log says why."


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

    In a fresh server's first seconds torch is still being imported in the background: the sidebar says so and
    checks again each second, by itself, until it can show the status in place. The next full rerun (the
    visitor's first click) draws the status without that fragment, so its timer stops there.
    """
    with st.sidebar:
        if warm_up_engine().is_alive():
            _starting_ui()
        else:
            _status_ui()


@st.fragment(run_every=WARM_UP_POLL_S)
def _starting_ui() -> None:
    """Draws the status itself once torch is in, never by rerunning the whole app from here: that rerun, meeting
    a page still being drawn, set Build & train's sliders to their first options (a first run trained at
    learning rate 1e-5 with batch 16)."""
    if not warm_up_engine().is_alive():
        _status_ui()
        return
    st.caption("Compute")
    st.markdown("Starting PyTorch…")
    st.caption("The device and data show here in a few seconds.")


def _status_ui() -> None:
    """The device and the data; in presenter mode without the server's technical hints, which are for whoever runs it."""
    technical = not presenting()
    st.caption("Compute")
    device, why_cpu, datasets = _status()
    st.markdown(f"**{device}**" + (f"  \n{why_cpu}" if why_cpu and technical else ""))
    st.caption("Data")
    full = {name: available for name, _, available, _ in datasets}
    if full.get("mnist"):
        st.markdown("**Full MNIST** (60,000 training digits)")
    else:
        st.markdown("**MNIST sample**: 5,000 real training digits")
        if technical:
            st.caption("Full MNIST was not found here; set DLCORE_DATA_DIR to a folder with its IDX files."
                       if is_teacher() else "Full MNIST is not on this server.")
    for name, title, available, detail in datasets:
        if name != "mnist" and name != "mnist-sample":
            st.markdown(f"{title}: {'available' if available else 'not found'}")
    if notice := _store_notice():
        st.warning(literal(notice) if is_teacher() else STORE_TROUBLE, icon=":material/database:")


def _store_notice() -> str:
    """What the teacher must know about the runs store: a damaged database set aside, or a folder it cannot write."""
    from dlcore import DLCoreError, jobs

    try:
        return jobs.job_manager().store.notice
    except DLCoreError as exc:
        return str(exc)


def dataset_reasons() -> tuple[dict[str, str], dict[str, str]]:
    """Dataset titles, and for each one missing here why: where it was looked for, for the teacher; that it is not
    on this server, for a student (from the cached status)."""
    _, _, datasets = _status()
    teacher = is_teacher()
    return ({name: title for name, title, _, _ in datasets},
            {name: where if teacher else MISSING_HERE for name, _, ok, where in datasets if not ok})


def usable_dataset_ui(column, key: str) -> str:
    """A select over the datasets on this server, the MNIST sample at first (a run's page sets the rest)."""
    titles, reasons = dataset_reasons()
    usable = [name for name in titles if not reasons.get(name)]
    if st.session_state.get(key) not in usable:
        st.session_state[key] = "mnist-sample" if "mnist-sample" in usable else usable[0]
    return column.selectbox("Data", usable, format_func=titles.get, key=key)


def available_choice_ui(label: str, titles: dict[str, str], reasons: dict[str, str], key: str) -> str:
    """A radio over the usable options; the unusable ones are listed greyed out below it with the reason (in
    presenter mode without it: a reason names the server's folders and settings, which are not the lesson)."""
    usable = [name for name in titles if not reasons.get(name)]
    choice = st.radio(label, usable, format_func=titles.get, key=key, horizontal=True)
    for name in titles:
        if reasons.get(name):
            why = "" if presenting() else f": {reasons[name]}"
            st.caption(f":material/block: ~~{titles[name]}~~ unavailable{why}")
    return choice
