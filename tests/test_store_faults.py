"""Faults of the runs store become sentences: a damaged database is set aside, a home that cannot be written is
named, and a full disk ends the run 'failed' with the reason instead of leaving it 'running'."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import contextmanager

import pytest

from dlcore import cli, jobs, runs
from dlcore.config import DenseLayer, DLCoreError, ModelSpec, TrainConfig
from tests.app_pages.apptest import opened, rerun_until
from tests.conftest import REPO

TINY = TrainConfig(dataset="mnist", model=ModelSpec(dense=(DenseLayer(32),)), epochs=1, batch_size=32, device="cpu")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "dlcore", *args], cwd=REPO, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)


def _store_with_a_run(home) -> int:
    store = runs.RunStore(home)
    run_id = store.create(TrainConfig(), student="Ada")
    store.update(run_id, status="done", history={"steps": [0.5] * 2000})
    return run_id


def _kept(home) -> list:
    """The damaged databases set aside (without their -wal and -shm companions)."""
    return sorted(path.name for path in home.iterdir() if ".broken-" in path.name
                  and not path.name.endswith(("-wal", "-shm")))


def test_garbage_database_is_set_aside_with_its_wal_and_a_fresh_store_starts(dlcore_home, caplog):
    dlcore_home.mkdir()
    (dlcore_home / "runs.db").write_bytes(os.urandom(8192))
    (dlcore_home / "runs.db-wal").write_bytes(b"half a write-ahead log")
    store = runs.RunStore()
    assert store.list() == [] and store.get(store.create(TrainConfig())).status == "queued"
    assert store.recovered_from is not None and store.recovered_from.name in store.notice
    assert "damaged" in store.notice and "fresh one" in store.notice and store.notice in caplog.text
    assert _kept(dlcore_home) == [store.recovered_from.name]
    assert (dlcore_home / f"{store.recovered_from.name}-wal").read_bytes() == b"half a write-ahead log"
    assert runs.RunStore().notice == ""  # the fresh store is sound: the next open has nothing to say


def test_truncated_database_is_set_aside_and_keeps_what_it_had(dlcore_home):
    _store_with_a_run(dlcore_home)
    with sqlite3.connect(dlcore_home / "runs.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = (dlcore_home / "runs.db").stat().st_size
    os.truncate(dlcore_home / "runs.db", size // 2)
    store = runs.RunStore()
    assert store.recovered_from is not None and store.list() == []
    assert store.recovered_from.stat().st_size == size // 2  # kept as it was, for whoever wants to dig


def test_two_recoveries_in_one_second_keep_both_broken_copies(dlcore_home):
    dlcore_home.mkdir()
    for _ in range(2):
        (dlcore_home / "runs.db").write_bytes(b"not a database" * 100)
        (dlcore_home / "runs.db-wal").unlink(missing_ok=True)
        (dlcore_home / "runs.db-shm").unlink(missing_ok=True)
        assert runs.RunStore().recovered_from is not None
    assert len(_kept(dlcore_home)) == 2


def test_cli_says_what_happened_to_a_garbage_database_and_goes_on(dlcore_home):
    dlcore_home.mkdir()
    (dlcore_home / "runs.db").write_bytes(os.urandom(4096))
    result = _cli("runs")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "was damaged; it was kept as runs.db.broken-" in result.stderr and "No runs yet" in result.stdout
    assert len(_kept(dlcore_home)) == 1


def test_a_home_that_cannot_be_created_is_a_sentence(tmp_path, monkeypatch):
    """Tests run as root, who may write anywhere: a folder under a regular file fails for root too."""
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DLCORE_HOME", str(tmp_path / "a-file" / "dlcore"))
    with pytest.raises(DLCoreError, match="set DLCORE_HOME to a writable folder"):
        runs.RunStore()
    result = _cli("runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: Cannot create the runs folder") and "DLCORE_HOME" in result.stderr


def test_no_home_folder_at_all_is_a_sentence(monkeypatch):
    """Some containers run with no $HOME and no passwd entry; Path.home() then raises RuntimeError."""
    monkeypatch.delenv("DLCORE_HOME")

    def nowhere():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(runs.Path, "home", nowhere)
    with pytest.raises(DLCoreError, match="set DLCORE_HOME to a writable folder"):
        runs.home()


def test_a_database_that_cannot_be_opened_is_a_sentence(dlcore_home):
    (dlcore_home / "runs.db").mkdir(parents=True)  # what SQLite meets in a read-only folder: it cannot open the file
    with pytest.raises(DLCoreError, match="Cannot use the runs database .*set DLCORE_HOME to a writable folder"):
        runs.RunStore()


@contextmanager
def _disk_full(monkeypatch):
    """SQLite's own 'database or disk is full': from now on no connection may grow the database file."""
    connect = runs.RunStore._raw_connect

    @contextmanager
    def capped(store, **options):
        with connect(store, **options) as db:
            db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
            yield db

    monkeypatch.setattr(runs.RunStore, "_raw_connect", capped)
    yield


def test_a_full_disk_is_a_sentence_and_leaves_the_store_as_it_was(dlcore_home, monkeypatch):
    store = runs.RunStore()
    run_id = store.create(TrainConfig())
    with _disk_full(monkeypatch):
        with pytest.raises(DLCoreError, match="is full; free some space"):
            store.update(run_id, history={"steps": [0.25] * 20000})
        assert store.get(run_id).history == {} and store.get(run_id).status == "queued"


def test_a_run_whose_results_do_not_fit_ends_failed_with_the_reason(tiny_data_dir, dlcore_home, monkeypatch):
    manager = jobs.JobManager(runs.RunStore())
    with _disk_full(monkeypatch):
        run_id = manager.submit(TINY.with_changes(epochs=2, batch_size=8))  # a history of 150 steps: a page
        progress = manager.wait(run_id, timeout=120)
    assert progress.status == "failed" and "full; free some space" in progress.message
    run = manager.store.get(run_id)
    assert run.status == "failed" and "full; free some space" in run.message


def test_a_checkpoint_that_hits_a_full_disk_ends_the_run_failed(tiny_data_dir, dlcore_home, monkeypatch):
    def no_space(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runs, "write_checkpoint", no_space)
    manager = jobs.JobManager(runs.RunStore())
    run_id = manager.submit(TINY)
    progress = manager.wait(run_id, timeout=120)
    assert progress.status == "failed" and "the disk is full; free some space" in progress.message
    run = manager.store.get(run_id)
    assert run.status == "failed" and run.message == progress.message and run.checkpoint is None


def test_cli_training_onto_a_full_disk_prints_the_reason(tiny_data_dir, dlcore_home, monkeypatch, capsys):
    runs.RunStore()  # the tables exist; only the run's own rows must grow
    with _disk_full(monkeypatch):
        code = cli.main(["train", "--dataset", "mnist", "--epochs", "2", "--batch-size", "8", "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and json.loads(out.strip().splitlines()[-1])["status"] == "failed"
    error = [line for line in err.splitlines() if line.startswith("error:")]
    assert error and "full; free some space" in error[0]


def test_cli_says_why_even_when_the_end_of_a_run_cannot_be_recorded_at_all(tiny_data_dir, monkeypatch, capsys):
    """A disk too full for even the short 'failed' write: the store still says 'running', the trainer knows why."""
    update = runs.RunStore.update

    def no_room_for_the_end(store, run_id, **fields):
        if "message" in fields:
            raise DLCoreError("The disk holding the runs database is full; free some space and try again.")
        update(store, run_id, **fields)

    monkeypatch.setattr(runs.RunStore, "update", no_room_for_the_end)
    assert cli.main(["train", "--dataset", "mnist", "--epochs", "1", "--batch-size", "32"]) == 1
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert error == ["error: The run ended but could not be recorded. The disk holding the runs database is full; "
                     "free some space and try again."]


def _sidebar():
    from ui.status import sidebar_status

    sidebar_status()


def test_the_sidebar_says_a_damaged_database_was_set_aside(dlcore_home, monkeypatch):
    """To the teacher, with where it was kept; a student is told what it means for them, without the server's paths
    (issue 23.6)."""
    from ui.status import STORE_TROUBLE

    dlcore_home.mkdir()
    (dlcore_home / "runs.db").write_bytes(os.urandom(4096))
    jobs._MANAGERS.pop(str(dlcore_home), None)
    at = opened(_sidebar, timeout=60)
    rerun_until(at, lambda at: any(w.value == STORE_TROUBLE for w in at.sidebar.warning))
    assert not any(str(dlcore_home) in w.value for w in at.sidebar.warning)
    monkeypatch.setenv("DLCORE_TEACHER_KEY", "chalk-and-talk")
    at.session_state["teacher_session"] = True  # as the sidebar's key field leaves a teacher's session
    rerun_until(at, lambda at: any("was damaged" in w.value for w in at.sidebar.warning))


def test_a_page_whose_runs_folder_cannot_be_created_shows_the_sentence(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DLCORE_HOME", str(tmp_path / "a-file" / "dlcore"))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.switch_page("app_pages/6_run_board.py").run()
    assert not at.exception, at.exception
    assert any("Cannot create the runs folder" in e.value and "writable folder" in e.value for e in at.error)
