"""The optimizer race: lanes share weights and batches, each trains as it would alone, and the reading says who won."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import torch

from dlcore import disk, jobs, race, runs, training
from dlcore.config import DenseLayer, DLCoreError, ModelSpec, TrainConfig
from dlcore.runs import RunStore

BASE = TrainConfig(dataset="mnist", model=ModelSpec(dense=(DenseLayer(32),)), epochs=1, batch_size=32, device="cpu")
STEPS = 19  # 600 synthetic training images in batches of 32


def _race(settings, base=BASE, **manager):
    manager = race.RaceManager(RunStore(), **manager)
    race_id = manager.submit(race.lanes(base, settings), student="Ada")
    return manager, manager.wait(race_id, timeout=120)


def test_lanes_share_start_and_batches_and_a_diverged_lane_drops_out(tiny_data_dir):
    manager, progress = _race([{"optimizer": "adam", "lr": 0.003}, {"optimizer": "sgd", "lr": 0.1, "momentum": 0.0},
                               {"optimizer": "sgd", "lr": 1000.0}])
    adam, sgd, wild = progress.lanes
    assert progress.status == "done" and progress.step == STEPS and progress.epoch == 1
    assert adam.step_losses[0] == sgd.step_losses[0] == wild.step_losses[0]  # same first weights, same first batch
    assert len(adam.step_losses) == len(sgd.step_losses) == STEPS and adam.step_losses[1] != sgd.step_losses[1]
    assert wild.status == "diverged" and wild.diverged_at == len(wild.step_losses) < STEPS
    assert "lower learning rate" in wild.message and wild.accuracy is None
    assert adam.accuracy > 0.9 and [row["epoch"] for row in adam.history] == [1]
    reading = progress.reading()
    assert reading.startswith("Adam lr 0.003 reached the lowest loss (") and "test accuracy" in reading
    assert f"diverged: SGD lr 1000 m 0.9 at step {wild.diverged_at}" in reading
    stored = {run.id: run for run in manager.store.list()}
    assert stored[adam.run_id].status == "done" and stored[adam.run_id].accuracy == adam.accuracy
    assert stored[adam.run_id].student == "Ada" and "Optimizer race against SGD lr 0.1" in stored[adam.run_id].message
    assert stored[adam.run_id].checkpoint and stored[adam.run_id].history["steps"] == adam.step_losses
    assert stored[wild.run_id].status == "diverged" and stored[wild.run_id].checkpoint is None


def test_a_lane_trains_exactly_as_it_would_alone(tiny_data_dir):
    settings = [{"optimizer": "rmsprop", "lr": 0.001}, {"optimizer": "sgd", "lr": 0.05, "nesterov": True}]
    _, progress = _race(settings, base=BASE.with_changes(schedule="cosine"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the race's worker trained: sums split over other thread counts round otherwise
    try:
        for lane in progress.lanes:
            trainer = training.Trainer(lane.config)
            trainer.run()
            assert lane.step_losses == trainer.progress().step_losses
            assert lane.accuracy == trainer.evaluation.accuracy
    finally:
        torch.set_num_threads(threads)


def test_stop_keeps_what_each_lane_learned(tiny_data_dir):
    manager = race.RaceManager(RunStore())
    race_id = manager.submit(race.lanes(BASE.with_changes(epochs=100, batch_size=8),
                                        [{"optimizer": "adam"}, {"optimizer": "adagrad", "lr": 0.01}]))
    deadline = time.monotonic() + 60
    while manager.progress(race_id).step < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    manager.stop(race_id)
    progress = manager.wait(race_id, timeout=60)
    assert progress.status == "stopped" and "keeps what it learned" in progress.message
    assert all(lane.status == "stopped" and lane.accuracy is not None for lane in progress.lanes)
    assert progress.reading().startswith("Stopped early. ")
    assert {run.status for run in manager.store.list()} == {"stopped"}


def test_races_wait_their_turn(tiny_data_dir):
    manager = race.RaceManager(RunStore(), max_concurrent=1)
    configs = race.lanes(BASE.with_changes(epochs=100, batch_size=8), [{"lr": 0.001}, {"lr": 0.01}])
    first, second = manager.submit(configs), manager.submit(configs)
    waiting = manager.progress(second)
    assert waiting.status == "queued" and waiting.queue_position == 1
    assert waiting.reading().startswith("Waiting to start (number 1 in the queue, starting in about ")
    assert manager.races() == [second, first]
    manager.stop(second)
    assert manager.progress(second).status == "stopped"
    manager.stop(first)
    assert manager.wait(first, timeout=60).status == "stopped"


@pytest.mark.parametrize("settings, message", [
    ([{"lr": 0.1}], "needs 2 to 4 optimizers; it has 1"),
    ([{"lr": 0.1}] * 5, "it has 5"),
    ([{"lr": 0.1}, {"epochs": 3}], "Lane 2 changes epochs; lanes may differ only in"),
    ([{"lr": 0.1}, {"lr": -1.0}], "Lane 2: The configuration's field lr cannot be -1.0"),
    ([{"lr": 0.1}, {"optimizer": "lion"}], "Lane 2: Unknown optimizer 'lion'"),
    ([{"optimizer": "sgd", "momentum": 0.0, "nesterov": True}, {"lr": 0.1}], "Lane 1: Nesterov momentum needs"),
    ([{"optimizer": "sgd", "momentum": -1.0}, {"lr": 0.1}], "Lane 1: The configuration's field momentum cannot be -1.0"),
    ([{"lr": 0.1}, {"lr": 0.01}, {"lr": 0.1}], "Lanes 1 and 3 are both Adam lr 0.1; change one of them."),
])
def test_lane_settings_are_checked_first(settings, message):
    with pytest.raises(DLCoreError, match=message):
        race.lanes(BASE, settings)


def test_lanes_must_share_everything_but_the_optimizer():
    with pytest.raises(DLCoreError, match="Every lane must share"):
        race.RaceManager(RunStore()).submit([BASE, BASE.with_changes(batch_size=64)])


def test_reading_names_a_lane_that_got_worse():
    lanes = (race.LaneProgress("Adam lr 0.001", BASE, "done", step_losses=[2.3, 1.0, 0.5, 0.4], accuracy=0.91),
             race.LaneProgress("SGD lr 5", BASE, "done", step_losses=[2.3, 2.4, 2.6, 2.5]))
    progress = race.RaceProgress(1, "done", lanes, steps_per_epoch=4, epochs=1, step=4)
    assert progress.reading() == ("Adam lr 0.001 reached the lowest loss (0.400, test accuracy 91.0%); "
                                  "no better than at the start: SGD lr 5.")
    live = race.RaceProgress(1, "running", lanes, steps_per_epoch=40, epochs=1, step=4)
    assert live.reading() == "Too early to name a leader after 4 steps."


def test_a_leader_is_named_only_once_it_has_led_for_a_while():
    """Three tenths of an epoch in a row: noisy curves that cross every few steps name nobody."""
    steady = race.LaneProgress("Adam lr 0.001", BASE, "running", step_losses=[2.0 - 0.1 * i for i in range(12)])
    slow = race.LaneProgress("SGD lr 0.01", BASE, "running", step_losses=[2.1 - 0.05 * i for i in range(12)])
    live = race.RaceProgress(1, "running", (steady, slow), steps_per_epoch=40, epochs=1, step=12)
    assert live.reading() == "So far Adam lr 0.001 leads with loss 1.050."
    zig = race.LaneProgress("Adam lr 0.001", BASE, "running", step_losses=[1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    zag = race.LaneProgress("SGD lr 0.01", BASE, "running", step_losses=[1.5] * 12)
    crossing = race.RaceProgress(1, "running", (zig, zag), steps_per_epoch=40, epochs=1, step=12)
    assert crossing.reading() == "No clear leader yet: Adam lr 0.001 and SGD lr 0.01 keep trading places."
    wild = race.LaneProgress("SGD lr 5", BASE, "diverged", step_losses=[2.3, float("inf")], diverged_at=2)
    with_a_diverged_lane = race.RaceProgress(1, "running", (steady, slow, wild), steps_per_epoch=40, epochs=1, step=12)
    assert with_a_diverged_lane.reading() == ("So far Adam lr 0.001 leads with loss 1.050; diverged: SGD lr 5 at step 2.")


def test_reading_when_every_lane_diverged():
    lanes = tuple(race.LaneProgress(name, BASE, "diverged", step_losses=[2.3, float("nan")], diverged_at=2)
                  for name in ("SGD lr 50", "SGD lr 100"))
    reading = race.RaceProgress(1, "done", lanes, steps_per_epoch=4, epochs=1, step=2).reading()
    assert reading.startswith("Every optimizer diverged; lower the learning rates")


def test_races_and_runs_take_turns_for_the_same_training_slot(tiny_data_dir):
    run_jobs = jobs.JobManager(RunStore(), max_concurrent=1)
    races = race.RaceManager(run_jobs.store, slots=run_jobs.slots)
    long_run = run_jobs.submit(BASE.with_changes(epochs=100, batch_size=8))
    race_id = races.submit(race.lanes(BASE, [{"optimizer": "adam"}, {"optimizer": "sgd", "lr": 0.1}]))
    next_run = run_jobs.submit(BASE)
    assert races.progress(race_id).queue_position == 1 and run_jobs.progress(next_run).queue_position == 2
    assert races.progress(race_id).status == "queued" and "number 1 in the queue" in races.progress(race_id).reading()
    run_jobs.stop(long_run)
    assert races.wait(race_id, timeout=120).status == "done"
    assert run_jobs.wait(next_run, timeout=120).status == "done"
    assert [run_jobs.slots.running(kind) + run_jobs.slots.waiting(kind) for kind in ("run", "race")] == [[], []]


LONG_RACE = BASE.with_changes(epochs=100, batch_size=8)


def stop_all(races: race.RaceManager) -> None:
    for race_id in races.races():
        races.stop(race_id, teacher=True)
        races.wait(race_id, timeout=60)


def test_a_waiting_race_counts_in_its_owners_share_with_their_runs(tiny_data_dir):
    run_jobs = jobs.JobManager(RunStore(), max_waiting=2)
    races = race.RaceManager(run_jobs.store, slots=run_jobs.slots)
    configs = race.lanes(LONG_RACE, [{"lr": 0.001}, {"lr": 0.01}])
    try:
        races.submit(configs, owner="ada")  # trains at once
        races.submit(configs, owner="ada")
        run_jobs.submit(BASE, owner="ada")
        with pytest.raises(DLCoreError, match="You already have 2 runs or races waiting or paused"):
            races.submit(configs, owner="ada")
        assert races.races() == [2, 1]  # the refused race was never made
        races.submit(configs, owner="bob")
    finally:
        stop_all(races)
        for run_id in run_jobs.active():
            run_jobs.stop(run_id, teacher=True)


def test_submitting_races_at_the_same_moment_cannot_overshoot_the_queue(tiny_data_dir):
    races = race.RaceManager(RunStore(), slots=jobs.Slots(max_queue=3))
    configs = race.lanes(LONG_RACE, [{"lr": 0.001}, {"lr": 0.01}])
    races.submit(configs, owner="teacher")
    start = threading.Barrier(20)

    def submit(owner: str) -> int | None:
        start.wait()
        try:
            return races.submit(configs, owner=owner)
        except DLCoreError as exc:
            assert str(exc).startswith("The queue is full (3 runs and races are waiting)")
            return None

    try:
        with ThreadPoolExecutor(20) as pool:
            accepted = [i for i in pool.map(submit, [f"student-{i}" for i in range(20)]) if i is not None]
        assert len(accepted) == 3 and sorted(races.slots.waiting("race")) == sorted(accepted)
    finally:
        stop_all(races)


def test_a_races_lanes_count_together_against_the_disk_share(tiny_data_dir):
    races = race.RaceManager(RunStore())
    lane = runs.checkpoint_bound(LONG_RACE.model)
    spent = races.store.create(LONG_RACE, sender="ada", reserve=disk.STUDENT_MB * disk.MB - lane - 1)  # room for one
    with pytest.raises(DLCoreError, match="over the 1,600 MB each student may keep"):
        races.submit(race.lanes(LONG_RACE, [{"lr": 0.001}, {"lr": 0.01}]), owner="ada")
    assert races.races() == [] and [run.id for run in races.store.list()] == [spent]


def test_a_waiting_races_lanes_are_recorded_and_stopped_with_it(tiny_data_dir):
    races = race.RaceManager(RunStore(), slots=jobs.Slots(max_concurrent=1))
    configs = race.lanes(LONG_RACE, [{"lr": 0.001}, {"lr": 0.01}])
    try:
        races.submit(configs, owner="teacher")
        waiting = races.submit(configs, "Ada", owner="ada")
        lanes = [lane.run_id for lane in races.progress(waiting).lanes]
        assert [races.store.get(run_id).status for run_id in lanes] == ["queued", "queued"]
        races.stop(waiting, owner="ada")
        assert {races.store.get(run_id).message for run_id in lanes} == {"Stopped before it started."}
        assert {races.store.get(run_id).status for run_id in lanes} == {"stopped"}
    finally:
        stop_all(races)


def test_only_the_owner_or_a_teacher_may_stop_a_race(tiny_data_dir):
    races = race.RaceManager(RunStore())
    race_id = races.submit(race.lanes(LONG_RACE, [{"lr": 0.001}, {"lr": 0.01}]), owner="ada")
    assert races.controls(race_id, "ada") and races.controls(race_id, "bob", teacher=True)
    assert not races.controls(race_id, "bob")
    with pytest.raises(DLCoreError, match=f"Only the student who started race #{race_id}, or the teacher, can stop it."):
        races.stop(race_id, owner="bob")
    assert not races.progress(race_id).finished
    races.stop(race_id, owner="bob", teacher=True)
    assert races.wait(race_id, timeout=60).status == "stopped"


def test_a_race_link_round_trips_and_names_only_what_differs_from_the_starting_race():
    setup = race.RaceSetup("cnn", "fashion-mnist", 3, 128, False, ({"optimizer": "sgd", "lr": 1e-05, "momentum": 0.0},
                                                                    {"optimizer": "adam", "lr": 0.001, "momentum": 0.9}))
    query = race.to_link(setup)
    assert query == {"net": "cnn", "dataset": "fashion-mnist", "epochs": "3", "batch_size": "128", "pace": "0",
                     "lanes": "sgd_1e-05_0,adam_0.001_0.9"}
    assert race.from_link(query) == setup
    assert race.to_link(race.RaceSetup()) == {"lanes": "sgd_0.01_0,sgd_0.01_0.9,adam_0.001_0.9,sgd_5_0.9"}
    assert race.from_link({"data": "fashion-mnist", "batch": "32"}).batch_size == 32  # older links' short keys


@pytest.mark.parametrize("params, named", [
    ({"lanes": "sgd_0.01_0"}, "A race needs 2 to 4 optimizers; the link has 1"),
    ({"lanes": "sgd_0.01,adam_0.1_0"}, "lanes ('sgd_0.01,adam_0.1_0'): not readable"),
    ({"lanes": "sgd_1e400_0,adam_0.1_0"}, "Lane 1:"),
    ({"lanes": ",".join(["adam_0.1_0"] * 80)}, "longer than 200 characters"),
    ({"epochs": "0"}, "epochs must be from 1 to 10"), ({"batch_size": "100"}, "batch size must be one of"),
    ({"pace": "maybe"}, "pace ('maybe'): not readable"), ({"dataset": "imagenet"}, "dataset ('imagenet')"),
])
def test_each_part_of_a_race_link_that_cannot_be_used_is_named_and_left_at_the_start(params, named):
    setup = race.from_link(params)
    assert named in setup.note and setup.note.startswith("Part of this link could not be used")
    assert replace(setup, note="") == race.RaceSetup()
