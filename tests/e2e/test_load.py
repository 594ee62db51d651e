"""A class at once in real browsers: bench/load.py's sessions (2 here, 3 by default there) open every page while a
run trains, on a server of its own.

A check of correctness, kept small: on one machine the browsers starve before the server does, so how much the
server sustains is measured over its protocol instead (test_load_protocol.py, bench/load_protocol.py). What must
hold here is that no session sees an error and that the run under load ends as it did alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.e2e.harness import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_browser_sessions_while_a_run_trains_see_no_errors_and_the_run_is_unchanged():
    done = subprocess.run([sys.executable, "bench/load.py", "--sessions", "2", "--epochs", "30"], cwd=REPO, env=os.environ,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == [], result["errors"]
    pages = (REPO / "app.py").read_text().count("st.Page(") - (REPO / "app.py").read_text().count("visibility=\"hidden\"")  # each session opens every page once
    assert result["page_loads"] == 2 * pages and result["arrived_while_training"] >= 2  # the class came mid-run
    assert result["alone"]["status"] == result["under_load"]["status"] == "done"
    assert result["same_accuracy"], (result["alone"], result["under_load"])
