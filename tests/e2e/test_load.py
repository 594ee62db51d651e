"""A class at once: bench/load.py's 20 sessions open every page while a run trains, on a server of its own.

The page times it reports are figures for the README, not assertions (a shared 2-core machine decides them);
what must hold is that no session sees an error and that the run under load ends as it did alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.e2e.harness import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_twenty_sessions_while_a_run_trains_see_no_errors_and_the_run_is_unchanged():
    done = subprocess.run([sys.executable, "bench/load.py", "--sessions", "20"], cwd=REPO, env=os.environ,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == [], result["errors"]
    assert result["page_loads"] == 20 * 6 and result["arrived_while_training"] >= 5  # the class came mid-run
    assert result["alone"]["status"] == result["under_load"]["status"] == "done"
    assert result["same_accuracy"], (result["alone"], result["under_load"])
