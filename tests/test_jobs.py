"""The job manager: pause, resume and stop; the queue and its positions; runs watched by several sessions or none."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from dlcore import DLCoreError, TrainConfig, data, devices, disk, jobs, loop, models, race, training
from dlcore.runs import RunStore

LONG = dict(batch_size=1, epochs=50)  # 30,000 steps on the tiny data: long enough to pause and stop by hand


def config(**changes) -> TrainConfig:
    base = TrainConfig(dataset="mnist", model=models.preset("keras-mlp"), epochs=1, batch_size=64, device="cpu")
    return base.with_changes(**changes)


def wait_for(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting for a run")


def unchanged_step(manager: jobs.JobManager, run_id: int) -> int | None:
    step = manager.progress(run_id).step
    time.sleep(0.3)
    return step if manager.progress(run_id).step == step else None


@pytest.fixture
def manager(tiny_data_dir, dlcore_home):
    """A manager of its own (one run at a time); whatever is still active at the end is stopped."""
    run_jobs = jobs.JobManager(RunStore(dlcore_home), max_concurrent=1)
    yield run_jobs
    for run_id in run_jobs.active():
        run_jobs.stop(run_id, teacher=True)
    for run_id in list(run_jobs._trainers):
        run_jobs.wait(run_id, timeout=30)


def test_pause_holds_the_run_and_resume_continues_it(manager):
    run_id = manager.submit(config(**LONG))
    wait_for(lambda: manager.progress(run_id).step > 20)
    manager.pause(run_id)
    assert manager.progress(run_id).status == "paused"
    assert manager.store.get(run_id).status == "paused"
    held = wait_for(lambda: unchanged_step(manager, run_id), timeout=10)  # a step under way may still land
    time.sleep(0.5)
    assert manager.progress(run_id).step == held

    manager.resume(run_id)
    assert manager.progress(run_id).status == "running"
    wait_for(lambda: manager.progress(run_id).step > held)
    assert manager.store.get(run_id).status == "running"


def test_a_paused_run_gives_its_slot_to_the_next_and_resume_lines_it_up_again(manager):
    paused = manager.submit(config(**LONG), owner="ada")
    wait_for(lambda: manager.progress(paused).step > 20)
    following = manager.submit(config(**LONG), owner="bob")
    assert manager.progress(following).queue_position == 1
    manager.pause(paused, owner="ada")
    wait_for(lambda: manager.progress(following).step > 0)  # the slot went to the next in line
    held = wait_for(lambda: unchanged_step(manager, paused), timeout=10)
    losses = manager.progress(paused).step_losses
    assert manager.active() == [following, paused]

    manager.resume(paused, owner="ada")
    progress = manager.progress(paused)
    assert (progress.status, progress.queue_position, progress.step) == ("queued", 1, held)
    assert manager.store.get(paused).status == "queued"
    manager.stop(following, owner="bob")
    wait_for(lambda: manager.progress(paused).step > held)  # on from where it was, not from the start
    progress = manager.progress(paused)
    assert progress.status == "running" and progress.step_losses[: len(losses)] == losses
    assert manager.store.get(paused).status == "running"


def test_each_owner_has_a_small_share_of_the_queue(manager):
    manager.submit(config(**LONG), owner="ada")  # trains at once: not waiting
    waiting = [manager.submit(config(seed=seed), owner="ada") for seed in (1, 2)]
    with pytest.raises(DLCoreError, match="You already have 2 runs or races waiting or paused, the most one student "
                                          "may; stop one, or try again once one is training."):
        manager.submit(config(seed=3), owner="ada")
    assert len(manager.store.list()) == 3  # a refused run leaves no record
    manager.submit(config(seed=3), owner="bob")  # another student's share is their own
    manager.stop(waiting[0], owner="ada")
    manager.submit(config(seed=4), owner="ada")


def test_pausing_counts_against_the_share_so_no_one_pauses_past_it(manager):
    running = manager.submit(config(**LONG), owner="ada")
    for seed in (1, 2):
        manager.submit(config(seed=seed), owner="ada")
    wait_for(lambda: manager.progress(running).status == "running")
    with pytest.raises(DLCoreError, match="You already have 2 runs or races waiting or paused"):
        manager.pause(running, owner="ada")
    assert manager.progress(running).status == "running"
    manager.pause(running, owner="teacher", teacher=True)  # a teacher may free the slot regardless
    assert manager.progress(running).status == "paused"


def test_a_run_whose_weights_would_pass_its_students_disk_share_is_refused_before_it_starts(manager):
    spent = manager.store.create(config(), sender="browser-ada", reserve=disk.STUDENT_MB * disk.MB)  # a queued CNN's
    with pytest.raises(DLCoreError, match=r"^Your runs keep 1,600 MB of weights on this server and this one needs "
                                          r"1\.\d MB more, over the 1,600 MB each student may keep; ask the teacher"):
        manager.submit(config(), owner="browser-ada")
    assert [run.id for run in manager.store.list()] == [spent] and manager.active() == []
    manager.store.update(spent, status="failed")  # work that ended without weights keeps no disk
    run_id = manager.submit(config(), owner="browser-ada")
    assert manager.wait(run_id, timeout=120).status == "done"
    with manager.store._connect() as db:
        kept = db.execute("SELECT stored_bytes FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    assert kept == os.path.getsize(manager.store.get(run_id).checkpoint)  # the reservation became the file's size


def test_the_teacher_is_bound_by_the_servers_disk_budget_alone(manager, monkeypatch):
    manager.store.create(config(), sender="browser-ada", reserve=disk.STUDENT_MB * disk.MB)
    manager.submit(config(), owner="browser-ada", teacher=True)
    manager.submit(config(seed=1), owner=jobs.LOCAL)  # the command line, used by whoever runs the server
    monkeypatch.setenv("DLCORE_MAX_HOME_MB", "1600")
    with pytest.raises(DLCoreError, match=r"^This server's runs keep 1,60\d MB of weights and this one needs 1\.\d MB "
                                          r"more, over the 1,600 MB the server keeps for runs \(DLCORE_MAX_HOME_MB\)"):
        manager.submit(config(seed=2), owner="browser-ada", teacher=True)


def test_the_whole_queue_is_capped(tiny_data_dir, dlcore_home):
    run_jobs = jobs.JobManager(RunStore(dlcore_home), max_queue=2)
    ids = [run_jobs.submit(config(**LONG), owner=name) for name in ("ada", "bob", "cy")]
    try:
        with pytest.raises(DLCoreError, match=r"The queue is full \(2 runs and races are waiting\); try again when"):
            run_jobs.submit(config(), owner="dee")
    finally:
        for run_id in ids:
            run_jobs.stop(run_id, teacher=True)
        for run_id in ids:
            run_jobs.wait(run_id, timeout=30)


@pytest.mark.parametrize("owners, limits, accepted", [
    (["ada"] * 20, dict(max_waiting=2), 2),  # one student clicking from 20 tabs at once
    ([f"student-{i}" for i in range(20)], dict(max_queue=5), 5),  # a class at once, against the queue's cap
])
def test_submits_at_the_same_moment_cannot_overshoot_a_cap(tiny_data_dir, dlcore_home, owners, limits, accepted):
    run_jobs = jobs.JobManager(RunStore(dlcore_home), **limits)
    busy = run_jobs.submit(config(**LONG), owner="teacher")
    start = threading.Barrier(len(owners))

    def submit(owner: str) -> int | None:
        start.wait()
        try:
            return run_jobs.submit(config(), owner=owner)
        except DLCoreError:
            return None

    try:
        with ThreadPoolExecutor(len(owners)) as pool:
            ids = [run_id for run_id in pool.map(submit, owners) if run_id is not None]
        assert len(ids) == accepted and sorted(run_jobs.slots.waiting("run")) == sorted(ids)
    finally:
        for run_id in run_jobs.active():
            run_jobs.stop(run_id, teacher=True)
        run_jobs.wait(busy, timeout=30)


def test_only_the_owner_or_a_teacher_may_pause_resume_or_stop_a_run(manager):
    run_id = manager.submit(config(**LONG), owner="ada")
    wait_for(lambda: manager.progress(run_id).status == "running")
    assert manager.controls(run_id, "ada") and not manager.controls(run_id, "bob")
    assert manager.controls(run_id, "bob", teacher=True)
    for action in (manager.pause, manager.resume, manager.stop):
        with pytest.raises(DLCoreError, match=f"Only the student who started run #{run_id}, or the teacher, can pause"):
            action(run_id, owner="bob")
    assert manager.progress(run_id).status == "running"
    manager.pause(run_id, owner="bob", teacher=True)
    assert manager.progress(run_id).status == "paused"
    manager.stop(run_id, owner="bob", teacher=True)
    assert manager.wait(run_id, timeout=30).status == "stopped"


def test_stop_ends_the_run_and_keeps_what_it_learned(manager):
    run_id = manager.submit(config(**LONG))
    wait_for(lambda: manager.progress(run_id).step > 0)
    manager.stop(run_id)
    progress = manager.wait(run_id, timeout=30)
    assert progress.status == "stopped"
    assert progress.message.startswith("Stopped after")
    run = manager.store.get(run_id)
    assert run.status == "stopped" and run.results is not None and run.checkpoint
    assert manager.active() == []


def test_stopping_a_paused_run_ends_it(manager):
    run_id = manager.submit(config(**LONG))
    wait_for(lambda: manager.progress(run_id).step > 0)
    manager.pause(run_id)
    manager.stop(run_id)
    assert manager.wait(run_id, timeout=30).status == "stopped"


def test_runs_wait_in_order_and_know_their_place(manager):
    first = manager.submit(config(**LONG))
    second = manager.submit(config())
    third = manager.submit(config(seed=1))
    assert manager.active() == [first, second, third]
    assert manager.progress(first).queue_position is None
    assert manager.progress(second).queue_position == 1
    assert manager.progress(third).queue_position == 2
    assert manager.store.get(third).status == "queued"

    manager.stop(first)
    wait_for(lambda: manager.progress(second).queue_position is None)
    assert manager.progress(third).queue_position == 1
    assert manager.wait(second, timeout=60).status == "done"
    assert manager.wait(third, timeout=60).status == "done"
    assert manager.store.get(second).updated <= manager.store.get(third).updated


def test_a_waiting_run_can_leave_the_queue(manager):
    first = manager.submit(config(**LONG))
    waiting = manager.submit(config())
    manager.stop(waiting)
    progress = manager.progress(waiting)
    assert (progress.status, progress.message) == ("stopped", "Stopped before it started.")
    assert progress.step == 0
    assert manager.store.get(waiting).status == "stopped"
    assert manager.active() == [first]


def test_the_concurrency_setting_runs_more_at_once(tiny_data_dir, dlcore_home):
    run_jobs = jobs.JobManager(RunStore(dlcore_home), max_concurrent=2)
    ids = [run_jobs.submit(config(**LONG)) for _ in range(3)]
    try:
        assert [run_jobs.progress(i).queue_position for i in ids] == [None, None, 1]
    finally:
        for run_id in ids:
            run_jobs.stop(run_id)
        for run_id in ids:
            run_jobs.wait(run_id, timeout=30)


def test_two_sessions_watching_one_run_see_the_same_run(manager):
    run_id = manager.submit(config(epochs=2, batch_size=32))
    seen: dict[str, list[training.Progress]] = {"a": [], "b": []}

    def watch(name: str) -> None:  # a page polling, as each browser session's fragment does
        while not (seen[name] and seen[name][-1].finished):
            seen[name].append(manager.progress(run_id))
            time.sleep(0.02)

    watchers = [threading.Thread(target=watch, args=(name,)) for name in seen]
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        watcher.join(60)
    a, b = seen["a"][-1], seen["b"][-1]
    assert a.status == b.status == "done"
    assert a.step == b.step == 2 * 19 and a.step_losses == b.step_losses and a.history == b.history
    for polls in seen.values():
        steps = [progress.step for progress in polls]
        assert steps == sorted(steps) and len(polls) > 2


def test_a_run_keeps_going_when_its_session_goes_away(tiny_data_dir):
    """The process-wide manager owns the run; the page that started it only held its id."""
    session = {"run_id": jobs.job_manager().submit(config(epochs=2))}
    run_id = session.pop("run_id")
    del session  # the browser tab closed
    store = RunStore()
    run = wait_for(lambda: (r := store.get(run_id)).status == "done" and r, timeout=60)
    assert len(run.history["epochs"]) == 2 and run.results is not None
    assert jobs.job_manager() is jobs.job_manager()  # a new session finds the same manager
    # the store records the end a moment before the run's own status says it (workers.WorkerJob): wait for both
    assert wait_for(lambda: jobs.job_manager().progress(run_id).status == "done", timeout=10)


def test_an_absurd_learning_rate_diverges_with_advice(manager):
    run_id = manager.submit(config(optimizer="sgd", lr=1000.0, epochs=3))
    progress = manager.wait(run_id, timeout=60)
    assert progress.status == "diverged"
    assert "learning rate 1000 with sgd" in progress.message and "lower learning rate" in progress.message
    run = manager.store.get(run_id)
    assert (run.status, run.message) == ("diverged", progress.message)
    assert run.checkpoint is None and run.results is None


def test_a_server_leaves_a_core_and_splits_the_rest_between_jobs():
    default = jobs._DEFAULT_THREADS
    assert jobs.training_threads(1, reserve=1) == max(1, default - 1)
    assert jobs.training_threads(2, reserve=0) == max(1, default // 2)
    assert jobs.training_threads(64, reserve=1) == 1


@pytest.mark.parametrize("serving", [True, False])
def test_every_job_trains_with_the_managers_threads_without_anyone_asking(tiny_data_dir, serving):
    """A page that starts a run or a race, or the CLI, never sets threads: the manager's policy reaches each job's
    worker (a server leaves itself a core; the CLI uses them all)."""
    manager = jobs.job_manager(serving=serving)
    run_id = manager.submit(config(epochs=1))
    race_id = race.race_manager().submit(race.lanes(config(epochs=1), [{"lr": 0.01}, {"lr": 0.001}]))
    expected = jobs.training_threads(1, reserve=1 if serving else 0)
    assert manager.trainer(run_id).spec.threads == race.race_manager()._races[race_id].spec.threads == expected
    assert manager.wait(run_id, timeout=60).status == race.race_manager().wait(race_id, timeout=60).status == "done"
    assert manager.threads == expected


def test_prepare_loads_the_data_a_run_will_need_in_the_background(tiny_data_dir):
    dataset = data.load("mnist")  # loaded first, so the background thread uses this very object
    devices.prepare("mnist", "cpu")
    wait_for(lambda: (id(dataset), "cpu") in devices._DEVICE_TENSORS)
    assert devices.tensors_on(dataset, torch.device("cpu")) is devices._DEVICE_TENSORS[(id(dataset), "cpu")][1]
    devices.prepare("no-such-data", "cpu")  # a problem is left for Start to report, not raised here


def test_a_servers_warm_up_reads_the_dataset_every_page_opens_on(tiny_data_dir, monkeypatch):
    """A fresh server's first Inside the network spent half its time reading the 5,000 sample digits."""
    monkeypatch.setattr(jobs.workers, "warm_up", lambda: None)
    data._load.cache_clear()
    jobs._warm_up()
    assert data._load.cache_info().currsize == 1  # mnist-sample, read once; the page then finds it
    assert data.load("mnist-sample") is data.load(TrainConfig().dataset)
    monkeypatch.setattr(data, "load", lambda name: (_ for _ in ()).throw(DLCoreError("not here")))
    jobs._warm_up()  # a dataset that cannot be read is left for the page that asks for it to say so


@pytest.fixture
def server(tiny_data_dir, dlcore_home):
    """Runs and races sharing one training slot, as on a server (with room for three waiting or paused each, so one
    student can have work in every state); whatever is still active at the end is stopped."""
    runs = jobs.JobManager(RunStore(dlcore_home), max_concurrent=1, max_waiting=3)
    races = race.RaceManager(runs.store, slots=runs.slots)
    yield runs, races
    jobs.clear_queue(runs, races)
    for owner in {work.owner for work in jobs.who_has_work(runs, races)}:
        jobs.stop_everything(owner, runs, races)
    for run_id in list(runs._trainers):
        runs.wait(run_id, timeout=30)
    for race_id in races.races():
        races.wait(race_id, timeout=30)


def a_race(**changes) -> list[TrainConfig]:
    return race.lanes(config(**changes), [{"lr": 0.01}, {"lr": 0.001}])


def test_who_has_work_groups_it_by_owner_with_the_names_they_gave(server):
    runs, races = server
    runs.submit(config(**LONG), "Ada", owner="browser-ada")
    runs.submit(config(), "Bob", owner="browser-bob")
    races.submit(a_race(), "Ada", owner="browser-ada")
    runs.submit(config(seed=1), "Cy", owner="anonymous")
    runs.submit(config(seed=2), "", owner="anonymous")
    assert runs.owner_of(runs.active()[0]) == "browser-ada" and runs.owner_of(999) is None
    assert races.owner_of(races.races()[0]) == "browser-ada" and races.owner_of(999) is None
    assert jobs.who_has_work(runs, races) == [
        jobs.StudentWork("browser-ada", ("Ada",), running=1, waiting=1),
        jobs.StudentWork("browser-bob", ("Bob",), waiting=1),
        jobs.StudentWork("anonymous", ("Cy", ""), waiting=2),
    ]


def test_clearing_the_queue_takes_out_every_waiting_run_and_race_and_leaves_the_rest(server):
    runs, races = server
    running = runs.submit(config(**LONG), owner="browser-ada")
    waiting = [runs.submit(config(seed=seed), owner=f"browser-{seed}") for seed in range(3)]
    race_id = races.submit(a_race(), owner="browser-cy")
    assert jobs.clear_queue(runs, races) == 4
    assert runs.active() == [running] and not races.slots.waiting("race")
    assert {runs.store.get(run_id).message for run_id in waiting} == {"Stopped before it started."}
    assert races.progress(race_id).status == "stopped"
    assert jobs.clear_queue(runs, races) == 0


def test_stopping_everything_a_student_has_ends_their_running_paused_and_waiting_work_only(server):
    runs, races = server
    paused = runs.submit(config(**LONG), "Ada", owner="browser-ada")
    wait_for(lambda: runs.progress(paused).step > 0)
    others = runs.submit(config(**LONG), "Bob", owner="browser-bob")
    runs.pause(paused, teacher=True)  # Bob's run takes the slot
    waiting = runs.submit(config(), "Ada", owner="browser-ada")
    race_id = races.submit(a_race(), "Ada", owner="browser-ada")
    assert jobs.stop_everything("browser-ada", runs, races) == 3
    assert runs.wait(paused, timeout=30).status == "stopped" and runs.store.get(waiting).status == "stopped"
    assert races.progress(race_id).status == "stopped"
    assert runs.active() == [others] and runs.progress(others).status == "running"
    assert jobs.who_has_work(runs, races) == [jobs.StudentWork("browser-bob", ("Bob",), running=1)]
    assert jobs.stop_everything("browser-ada", runs, races) == 0


# ---- fair turns ----------------------------------------------------------------------------------------

class FakeJob:
    """A job the line takes turns with, recording what happened to it."""

    def __init__(self, left: float = 100.0, holdable: bool = True):
        self.seconds_left, self.holdable, self.events = left, holdable, []

    def start(self):
        self.events.append("start")

    def turn(self) -> jobs.Turn:
        def hold():
            if not self.holdable:
                return None
            self.events.append("held")
            return lambda: self.events.append("go on")
        return jobs.Turn(hold, lambda: self.seconds_left)


def line_up(slots: jobs.Slots, number: int, job: FakeJob, owner: str = "ada") -> tuple:
    return slots.enqueue(owner, lambda: (("run", number), job.start, job.turn()))


def over_its_turn(slots: jobs.Slots, key: tuple) -> None:
    slots._since[key] = time.monotonic() - slots.turn_seconds - 1


def test_work_whose_turn_is_over_goes_to_the_back_while_others_wait():
    slots = jobs.Slots(max_concurrent=1, turn_seconds=1000)
    long, short = FakeJob(600), FakeJob(7)
    line_up(slots, 1, long)
    over_its_turn(slots, ("run", 1))
    slots.take_turns()
    assert long.events == ["start"]  # nobody waits: it keeps its slot
    line_up(slots, 2, short, owner="bob")
    slots.take_turns()
    assert long.events == ["start", "held"] and short.events == ["start"]
    assert slots.running("run") == [2] and slots.waiting("run") == [1]
    slots.release(("run", 2))
    assert long.events == ["start", "held", "go on"] and slots.running("run") == [1]


def test_work_that_cannot_be_held_now_keeps_its_slot_for_another_turn():
    slots = jobs.Slots(max_concurrent=1, turn_seconds=1000)
    ending = FakeJob(holdable=False)
    line_up(slots, 1, ending)
    line_up(slots, 2, FakeJob(), owner="bob")
    over_its_turn(slots, ("run", 1))
    slots.take_turns()
    assert slots.running("run") == [1] and time.monotonic() - slots._since[("run", 1)] < 5


def test_a_waiting_job_is_told_when_it_starts_and_the_sizes_ahead_of_it():
    slots = jobs.Slots(max_concurrent=1, turn_seconds=20)
    line_up(slots, 1, FakeJob(600))
    line_up(slots, 2, FakeJob(7), owner="bob")
    line_up(slots, 3, FakeJob(300), owner="cy")
    outlook = slots.outlook(("run", 3))
    assert outlook.position == 2 and outlook.ahead == (("run", 7),)
    assert 26 <= outlook.starts_in <= 27  # the running job's turn (20 s), then the 7-second run
    assert slots.outlook(("run", 1)) is None
    slots.release(("run", 1))
    assert slots.outlook(("run", 3)).starts_in <= 7


def test_work_sent_to_the_back_does_not_count_against_its_owners_share():
    slots = jobs.Slots(max_concurrent=1, turn_seconds=1000, max_waiting=1)
    line_up(slots, 1, FakeJob())
    line_up(slots, 2, FakeJob(), owner="bob")
    over_its_turn(slots, ("run", 1))
    slots.take_turns()
    assert slots.waiting("run") == [1]
    line_up(slots, 3, FakeJob())  # ada's one waiting run of her own
    with pytest.raises(DLCoreError, match="1 runs or races waiting"):
        line_up(slots, 4, FakeJob())


def test_fresh_work_takes_turns_only_while_few_workers_are_held(monkeypatch):
    monkeypatch.setattr(jobs, "HELD_WORKERS", 1)
    slots = jobs.Slots(max_concurrent=1, turn_seconds=1000)
    line_up(slots, 1, FakeJob())
    line_up(slots, 2, FakeJob(), owner="bob")
    over_its_turn(slots, ("run", 1))
    slots.take_turns()  # run 1 is held; run 2 trains
    slots.release(("run", 2))
    line_up(slots, 3, FakeJob(), owner="cy")  # run 1 trains again, run 3 is next
    line_up(slots, 4, FakeJob(), owner="dee")
    over_its_turn(slots, ("run", 1))
    slots.take_turns()  # run 1 is held again for fresh run 3
    assert slots.running("run") == [3] and slots.waiting("run") == [4, 1]
    over_its_turn(slots, ("run", 3))
    slots.take_turns()
    assert slots.running("run") == [3]  # holding run 3 for fresh run 4 would hold a second worker


def test_a_short_run_finishes_while_a_long_one_waits_its_next_turn(tiny_data_dir, dlcore_home):
    manager = jobs.JobManager(RunStore(dlcore_home), slots=jobs.Slots(max_concurrent=1, turn_seconds=1.0))
    long = manager.submit(config(**LONG), owner="ada")
    wait_for(lambda: manager.progress(long).step > 20)
    short = manager.submit(config(epochs=1), owner="bob")
    waiting = manager.progress(short)  # read once: the long run's turn may be over, so the short may start at once
    assert waiting.queue_position is None or (waiting.starts_in is not None and waiting.ahead == ())
    assert manager.wait(short, timeout=120).status == "done"
    held = manager.progress(long)
    assert held.step < held.epochs * held.steps_per_epoch  # the short run did not wait out the long one
    wait_for(lambda: manager.progress(long).status == "running" and manager.store.get(long).status == "running")
    manager.stop(long, owner="ada")
    assert manager.wait(long, timeout=60).status == "stopped"


def test_resumed_work_counts_against_its_owners_share():
    slots = jobs.Slots(max_concurrent=1, turn_seconds=1000, max_waiting=1)
    line_up(slots, 1, FakeJob())
    line_up(slots, 2, FakeJob(), owner="bob")
    assert slots.park(("run", 1), lambda: True, over_limits=True)  # bob's run trains
    slots.requeue(("run", 1), lambda: None)  # resumed by its owner: it waits, and counts
    with pytest.raises(DLCoreError, match="1 runs or races waiting"):
        line_up(slots, 3, FakeJob())
    assert slots.held() == [("run", 1)]
