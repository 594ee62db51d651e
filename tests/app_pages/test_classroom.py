"""ui.classroom's identities in AppTest: who owns a session, the cookie a browser without one is given, throttled
teacher keys."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlcore import identity
from tests.app_pages.apptest import opened, plain

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def owner_page():
    import streamlit as st

    from ui.classroom import identity_ui, session_owner

    identity_ui()
    st.write(session_owner())


def owner(monkeypatch, cookie) -> AppTest:
    """A session whose connection sent this identity cookie, after its first run."""
    monkeypatch.setattr("ui.classroom._identity_cookie", lambda: cookie)
    return opened(owner_page)


def test_a_valid_identity_names_the_browser_across_reloads_and_tabs(monkeypatch):
    token = identity.issue()
    first, reload = owner(monkeypatch, token), owner(monkeypatch, token)
    assert first.markdown[0].value == reload.markdown[0].value == f"browser-{token.split('.')[0]}"
    assert owner(monkeypatch, identity.issue()).markdown[0].value not in (first.markdown[0].value, "anonymous")
    assert not first.get("html")  # nothing to set: no reload


@pytest.mark.parametrize("cookie", [None, "", "junk", "a" * 5000, "x" * 22 + "." + "A" * 43])
def test_a_missing_or_forged_cookie_is_the_one_shared_anonymous_owner(monkeypatch, cookie):
    assert owner(monkeypatch, cookie).markdown[0].value == "anonymous"


def test_another_servers_identity_is_anonymous_here(monkeypatch):
    assert owner(monkeypatch, identity.issue(b"another server's secret")).markdown[0].value == "anonymous"


def test_a_browser_without_an_identity_is_given_one_signed_and_kept_for_the_session(monkeypatch):
    at = owner(monkeypatch, None)
    script = at.get("html")[0].proto.body
    token = re.search(r'"dlcore_id=([^"]+)"', script).group(1)
    assert identity.verify(token) is not None
    assert "Path=/; Max-Age=34560000; SameSite=Strict" in script and "sessionStorage" in script
    at.run()
    assert at.get("html")[0].proto.body == script  # a rerun offers the same token: the reload presents it


def test_wrong_teacher_keys_from_every_session_wait_for_each_other(monkeypatch):
    monkeypatch.setenv("DLCORE_TEACHER_KEY", "chalk-and-talk")
    sessions = [AppTest.from_file(APP, default_timeout=120).run() for _ in range(3)]
    began = time.monotonic()
    guesses = [threading.Thread(target=lambda at=at: at.sidebar.text_input(key="teacher_key").input("guess").run())
               for at in sessions]
    for thread in guesses:
        thread.start()
    for thread in guesses:
        thread.join()
    assert time.monotonic() - began >= 3  # the second waited 1 s, the third 2 s
    for at in sessions:
        assert "That is not the teacher key." in [plain(c.value) for c in at.sidebar.caption]
    sessions[0].sidebar.text_input(key="teacher_key").input("chalk-and-talk").run()
    assert "Teacher: you can pause and stop every run and race." in [c.value for c in sessions[0].sidebar.caption]
