"""Workers: jobs train in processes of their own; a killed worker fails its job alone; the server records all."""

from __future__ import annotations

import os
import signal
import time

import psutil
import torch

from dlcore import race, workers
from dlcore.runs import RunStore
from tests.test_jobs import LONG, config, manager, wait_for  # noqa: F401 (manager is a fixture)


def test_a_run_trains_in_a_process_of_its_own_and_the_server_records_it(manager):
    run_id = manager.submit(config(epochs=2))
    pid = wait_for(lambda: manager.trainer(run_id).pid)
    assert pid != os.getpid()
    progress = manager.wait(run_id, timeout=120)
    run = manager.store.get(run_id)
    assert (progress.status, run.status) == ("done", "done")
    assert len(progress.step_losses) == progress.step == 2 * progress.steps_per_epoch  # each loss once, in order
    assert run.history["steps"] == progress.step_losses and len(run.history["epochs"]) == 2
    assert run.checkpoint and os.path.getsize(run.checkpoint) > 0 and run.results.accuracy == run.accuracy
    assert manager.store.snapshot_histograms(run_id)  # the epochs' snapshots came back to the server
    assert manager.trainer(run_id).strip().guesses is not None
    wait_for(lambda: gone(pid), timeout=10)


def test_a_worker_killed_mid_run_fails_that_run_with_a_sentence_and_the_next_run_goes_on(manager):
    doomed = manager.submit(config(**LONG), owner="ada")
    following = manager.submit(config(epochs=1), owner="bob")
    wait_for(lambda: manager.progress(doomed).step > 20)
    os.kill(manager.trainer(doomed).pid, signal.SIGKILL)
    progress = manager.wait(doomed, timeout=30)
    assert progress.status == "failed"
    assert "SIGKILL" in progress.message and "\n" not in progress.message
    assert manager.store.get(doomed).status == "failed" and manager.store.get(doomed).message == progress.message
    assert manager.wait(following, timeout=120).status == "done"  # the slot was freed, the queue went on
    assert manager.active() == []


def test_a_paused_run_holds_in_its_worker_and_resumes_where_it_was(manager):
    run_id = manager.submit(config(**LONG))
    wait_for(lambda: manager.progress(run_id).step > 20)
    manager.pause(run_id)
    assert manager.progress(run_id).status == "paused"
    time.sleep(0.5)
    held = manager.progress(run_id).step
    time.sleep(0.5)
    assert manager.progress(run_id).step == held
    manager.resume(run_id)
    assert manager.progress(run_id).status == "running"
    wait_for(lambda: manager.progress(run_id).step > held)
    manager.stop(run_id)
    assert manager.wait(run_id, timeout=60).status == "stopped"
    assert manager.store.get(run_id).checkpoint  # a stopped run keeps what it learned


def test_stop_frees_the_slot_at_once_for_the_next_in_line(manager):
    first = manager.submit(config(**LONG), owner="ada")
    second = manager.submit(config(**LONG), owner="bob")
    wait_for(lambda: manager.progress(first).step > 20)
    asked = time.monotonic()
    manager.stop(first, owner="ada")
    assert manager.slots.running("run") == [second]
    wait_for(lambda: manager.progress(second).step > 0, timeout=30)
    assert time.monotonic() - asked < 30
    assert manager.wait(first, timeout=60).status == "stopped"


def test_a_race_trains_in_a_worker_and_each_lane_is_recorded_on_the_server(tiny_data_dir, dlcore_home):
    store = RunStore(dlcore_home)
    races = race.RaceManager(store)
    race_id = races.submit(race.lanes(config(epochs=1), [{"lr": 0.01}, {"lr": 0.001}]))
    progress = races.wait(race_id, timeout=120)
    assert progress.status == "done"
    for lane in progress.lanes:
        run = store.get(lane.run_id)
        assert run.status == "done" and run.checkpoint and run.history["steps"] == lane.step_losses
        assert len(lane.step_losses) == progress.steps_per_epoch


def test_a_job_that_cannot_start_fails_with_a_sentence(manager, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA_DIR", "/nowhere")
    run_id = manager.submit(config(dataset="mnist"))
    progress = manager.wait(run_id, timeout=60)
    assert progress.status == "failed" and "MNIST" in progress.message
    assert manager.store.get(run_id).status == "failed"


def test_a_host_trains_with_the_threads_its_job_was_given():
    before = torch.get_num_threads()
    try:
        workers.Host(workers.JobSpec("run", (config(),), threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_reports_carry_only_new_losses():
    progress = race.RaceProgress(1, "running", (race.LaneProgress("a", config(), "running", step_losses=[1, 2, 3]),
                                                race.LaneProgress("b", config(), "running", step_losses=[4, 5, 6])))
    trimmed = workers._trimmed(progress, (2, 1))
    assert [lane.step_losses for lane in trimmed.lanes] == [[3], [5, 6]]


def gone(pid: int) -> bool:
    """Exited, or a zombie; a process that exits while it is being looked at is gone too."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def suspended_after_pause(manager, run_id: int, monkeypatch) -> int:
    """Pause a run once it has trained a little; returns its step once its worker has packed its state and gone."""
    monkeypatch.setenv("DLCORE_SUSPEND_SECONDS", "0.3")
    wait_for(lambda: manager.progress(run_id).step > 50)
    pid = manager.trainer(run_id).pid
    manager.pause(run_id)
    wait_for(lambda: manager.trainer(run_id).suspended, timeout=30)
    wait_for(lambda: gone(pid), timeout=10)  # its memory went back to the system
    progress = manager.progress(run_id)
    assert progress.status == "paused" and len(progress.step_losses) == progress.step
    return progress.step


def test_a_run_paused_a_while_gives_its_worker_back_and_ends_as_if_never_paused(manager, monkeypatch, dlcore_home):
    settings = config(batch_size=1, epochs=2)  # 1,200 steps: the pause comes long before the end, however busy the machine
    alone = manager.wait(manager.submit(settings), timeout=120)
    run_id = manager.submit(settings)
    held = suspended_after_pause(manager, run_id, monkeypatch)
    assert len(list((dlcore_home / "suspended").rglob("*.pt"))) == 1
    time.sleep(0.5)
    assert manager.progress(run_id).step == held
    manager.resume(run_id)
    progress = manager.wait(run_id, timeout=120)
    assert progress.status == "done" and progress.step_losses == alone.step_losses  # the same steps, once each
    assert progress.history[-1]["test_accuracy"] == alone.history[-1]["test_accuracy"]
    assert manager.store.get(run_id).results.accuracy == manager.store.get(run_id - 1).results.accuracy
    assert not list((dlcore_home / "suspended").rglob("*.pt"))  # the state went with its new worker


def test_a_suspended_run_stopped_keeps_what_it_learned(manager, monkeypatch, dlcore_home):
    run_id = manager.submit(config(**LONG))
    held = suspended_after_pause(manager, run_id, monkeypatch)
    manager.stop(run_id)
    progress = manager.wait(run_id, timeout=60)
    assert progress.status == "stopped" and progress.step == held and f"after {held} steps" in progress.message
    assert manager.store.get(run_id).checkpoint and manager.store.get(run_id).results is not None
    assert not list((dlcore_home / "suspended").rglob("*.pt"))
