"""The few Streamlit helpers that several pages share: engine warm-up, the sidebar status."""

from __future__ import annotations

import importlib
import threading

import streamlit as st


@st.cache_resource(show_spinner=False)
def warm_up_engine() -> threading.Thread:
    """Import torch in the background once per server, so the home page is drawn without waiting for it."""
    thread = threading.Thread(target=importlib.import_module, args=("dlcore.training",), daemon=True)
    thread.start()
    return thread


@st.cache_data(ttl=60, show_spinner=False)
def _status() -> tuple[str, str, list[tuple[str, str, bool, str]]]:
    from dlcore import data, training

    devices = training.device_status()
    device = training.device_name(training.resolve_device("auto"))
    why_cpu = "" if device != "CPU" else devices["cuda"]
    datasets = [(s.name, s.title, s.available, s.where if not s.available else s.test_source) for s in map(data.status, data.DATASETS)]
    return device, why_cpu, datasets


def sidebar_status() -> None:
    """Which device computes and which data is here, drawn last so the page itself never waits for torch."""
    device, why_cpu, datasets = _status()
    with st.sidebar:
        st.caption("Compute")
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
