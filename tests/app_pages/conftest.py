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
