"""Every page test's sessions are browsers the server has named: AppTest carries no cookies, so each session is
handed a fresh signed identity (session_owner keeps it for the session). A test of a browser without one patches
ui.classroom._identity_cookie itself."""

from __future__ import annotations

import pytest

from dlcore import identity


@pytest.fixture(autouse=True)
def named_browsers(monkeypatch):
    monkeypatch.setattr("ui.classroom._identity_cookie", identity.issue)


@pytest.fixture(autouse=True)
def fresh_throttle(monkeypatch):
    """A test's wrong teacher keys slow only its own later guesses."""
    monkeypatch.setattr(identity, "TEACHER_KEY_GUESSES", identity.Throttle())


@pytest.fixture
def trained_runs_page(tiny_data_dir):
    """For pages that train real runs: empty page caches before, and every run stopped and ended after."""
    import streamlit as st

    from dlcore import jobs

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    manager = jobs.job_manager()
    for run_id in manager.active():
        manager.stop(run_id, teacher=True)
    for run_id in list(manager._trainers):
        manager.wait(run_id, timeout=30)
