"""How the page tests drive Streamlit's AppTest: open a page with a URL query, and rerun as a browser would."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]


def plain(text: str) -> str:
    """What a user reads in an element whose text the page passed through ui.literal (escaped Markdown)."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u2060", "")


def opened(source: str | Callable, timeout: float = 120, **query) -> AppTest:
    """A page file under the repo (or a function standing in for one) after its first run, which must not raise."""
    if callable(source):
        at = AppTest.from_function(source, default_timeout=timeout)
    else:
        at = AppTest.from_file(str(REPO / source), default_timeout=timeout)
    at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def send(at: AppTest, key: str, wire_value: str) -> None:
    """Rerun with a selectbox's value as a browser sends it, an option's label: one the page may no longer show.

    AppTest always sends the label of the value it holds, so the browser's message is built here.
    """
    states = at._tree.get_widget_states()
    for state in states.widgets:
        if state.id == at.selectbox(key=key).id:
            state.string_value = wire_value
    at._run(states)
    assert not at.exception, at.exception


def rerun_until(at: AppTest, condition: Callable[[AppTest], bool], timeout: float = 90.0) -> None:
    """What a live fragment does in a browser: rerun until the page shows what the test waits for."""
    deadline = time.monotonic() + timeout
    while not condition(at):
        assert time.monotonic() < deadline, "the page never showed it"
        time.sleep(0.2)
        at.run()
        assert not at.exception, at.exception
