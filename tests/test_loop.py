"""The one training loop: its lanes, the time limit, and that dlcore steps an optimizer in exactly one place."""

import ast
import io
import threading
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from dlcore import loop, training
from dlcore.config import DenseLayer, ModelSpec, TrainConfig

REPO = Path(__file__).resolve().parents[1]
TINY = TrainConfig(dataset="mnist", model=ModelSpec(dense=(DenseLayer(16),)), epochs=2, batch_size=32, device="cpu")


def test_dlcore_has_exactly_one_training_step():
    """One zero_grad in the engine (the exported script, which stands alone, has its own; backward() elsewhere
    measures gradients, as the Activation lab and saliency do, without stepping an optimizer)."""
    calls = [
        path.name for path in sorted((REPO / "dlcore").glob("*.py")) if path.name != "standalone.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "zero_grad"
    ]
    assert calls == ["loop.py"]


def test_lanes_of_one_loop_share_first_weights_and_batches(tiny_data_dir):
    """Two lanes with the same settings are two identical runs: same first weights, same batches, same losses."""
    run = loop.Loop([TINY, TINY])
    assert run.run() == "done"
    first, second = run.lanes
    assert first.losses == second.losses and len(first.losses) == run.step == 2 * 19
    assert [row.test_accuracy for row in first.history] == [row.test_accuracy for row in second.history]
    assert first.evaluation.accuracy == second.evaluation.accuracy


def test_a_diverging_lane_leaves_and_the_others_go_on(tiny_data_dir):
    run = loop.Loop([TINY.with_changes(optimizer="sgd", lr=1000.0), TINY])
    assert run.run() == "done"
    wild, calm = run.lanes
    assert wild.diverged_at is not None and len(wild.losses) == wild.diverged_at and wild.evaluation is None
    assert calm.diverged_at is None and len(calm.history) == 2 and calm.evaluation is not None


def test_every_lane_diverging_ends_the_loop_as_diverged(tiny_data_dir):
    assert loop.Loop([TINY.with_changes(optimizer="sgd", lr=1000.0)]).run() == "diverged"


def test_a_run_past_the_servers_time_limit_stops_and_keeps_what_it_learned(tiny_data_dir, monkeypatch):
    monkeypatch.setenv("DLCORE_MAX_RUN_MINUTES", "0.002")  # 0.12 s of training
    trainer = training.Trainer(TINY.with_changes(epochs=100, batch_size=8))
    trainer.run()
    progress = trainer.progress()
    assert progress.status == "stopped" and progress.epoch < 100
    assert "limit of 0.002 minutes of training per run" in progress.message
    assert trainer.model is not None and trainer.evaluation is not None  # what it learned is kept


def test_a_loop_trains_given_tensors_and_model_without_a_named_dataset():
    """The 2-D playground's way in: its own points and network, the same lanes, batches and rows."""
    x = torch.tensor([[-1.0, -1.0], [1.0, 1.0]]).repeat(20, 1)
    y = torch.tensor([0, 1]).repeat(20)
    config = TrainConfig(dataset="toy", optimizer="sgd", lr=0.5, batch_size=8, epochs=1, device="cpu")
    trained = loop.Loop([config], tensors=(x, y, x, y), build=lambda: nn.Linear(2, 2), epochs=3)
    assert trained.run() == "done"
    lane = trained.lanes[0]
    assert isinstance(lane.model, nn.Linear) and [row.epoch for row in lane.history] == [1, 2, 3]
    assert lane.evaluation.accuracy == 1.0 and trained.steps_per_epoch == 5


def test_bf16_autocast_trains_through_the_same_lane(tiny_data_dir):
    """The engine's mixed precision changes how a step computes (other losses), not what the run learns."""
    plain, mixed = loop.Loop([TINY]), loop.Loop([TINY], engine=loop.Engine(amp="bf16"))
    assert plain.run() == mixed.run() == "done"
    assert plain.lanes[0].losses != mixed.lanes[0].losses
    assert mixed.lanes[0].evaluation.accuracy > 0.9 and plain.lanes[0].evaluation.accuracy > 0.9


@pytest.mark.gpu
def test_a_run_trains_on_the_gpu_and_hands_back_a_cpu_model(tiny_data_dir):
    on_cpu, on_gpu = training.Trainer(TINY), training.Trainer(TINY.with_changes(device="cuda"))
    on_cpu.run()
    on_gpu.run()
    progress = on_gpu.progress()
    assert progress.status == "done" and progress.device == torch.cuda.get_device_name(0)
    assert {parameter.device.type for parameter in on_gpu.model.parameters()} == {"cpu"}
    assert progress.samples_per_sec > 0 and len(progress.step_losses) == progress.step
    assert abs(on_gpu.evaluation.accuracy - on_cpu.evaluation.accuracy) <= 0.05


@pytest.mark.gpu
@pytest.mark.parametrize("engine", [loop.Engine(amp="bf16"), loop.Engine(compile=True),
                                    loop.Engine(amp="bf16", compile=True)], ids=["bf16", "compile", "both"])
def test_engine_options_train_on_the_gpu(tiny_data_dir, engine):
    run = loop.Loop([TINY.with_changes(device="cuda")], engine=engine)
    assert run.run() == "done"
    assert run.lanes[0].evaluation.accuracy > 0.9


def test_scoring_the_test_split_is_a_phase_with_its_own_progress_time_and_share_of_the_eta(tiny_data_dir, monkeypatch):
    """While each epoch's test split is scored the loop says so and how far it is; the first epoch's scoring time
    counts in the ETA of the epochs left; and a run that ends with its last epoch is not scored twice."""
    seen, etas, scorings = [], [], []
    real = loop.evaluate

    def slow(model, images, labels, device, on_batch=None):
        scorings.append(1)
        time.sleep(0.3)
        return real(model, images, labels, device, lambda done, total: (on_batch(done, total), seen.append(
            (run.phase, run.scored))))

    monkeypatch.setattr(loop, "evaluate", slow)
    run = loop.Loop([TINY.with_changes(epochs=3)])
    assert run.run(on_epoch=lambda it: etas.append(it.eta())) == "done"
    assert seen and all(phase == "evaluating" for phase, _ in seen) and seen[-1][1][0] == seen[-1][1][1]
    assert run.phase == "training" and len(scorings) == 3  # three epochs, three scorings: the last is the final one
    assert run.evaluating >= 0.9 and run.wall >= run.elapsed + run.evaluating
    assert etas[0] >= 2 * 0.3  # two epochs' scoring left after the first
    assert run.lanes[0].evaluation.accuracy == run.lanes[0].history[-1].test_accuracy


def split(test_size: int) -> tuple[torch.Tensor, ...]:
    """200 random training images and a test split of test_size whose classes come in a shuffled order; each test
    image's pixels hold its index, so a scored subset says which images it took."""
    generator = torch.Generator().manual_seed(0)
    test_y = (torch.arange(test_size) % 10)[torch.randperm(test_size, generator=generator)]
    test_x = torch.arange(test_size, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 28, 28)
    return torch.randn(200, 1, 28, 28, generator=generator), torch.randint(0, 10, (200,), generator=generator), test_x, test_y


def test_each_epoch_is_scored_on_the_first_100_test_images_of_each_class_in_test_order():
    """The same stratified 1,000 for every run, whatever the model; a class with fewer gives what it has."""
    _, _, test_x, test_y = split(3000)
    short = (test_y == 9).nonzero().flatten()[40:]
    test_y[short] = 0  # class 9 keeps only its first 40 images
    x, y = loop.epoch_test_split(test_x, test_y)
    chosen = x[:, 0, 0, 0].long()
    assert chosen.tolist() == sorted(chosen.tolist())
    assert torch.bincount(y, minlength=10).tolist() == [100] * 9 + [40] and torch.equal(test_y[chosen], y)
    for digit in range(10):
        assert torch.equal(chosen[y == digit], (test_y == digit).nonzero().flatten()[:100])
    again_x, again_y = loop.epoch_test_split(test_x.clone(), test_y.clone())
    assert torch.equal(again_x, x) and torch.equal(again_y, y)


def test_a_test_split_of_at_most_1000_images_is_scored_whole_each_epoch():
    """The 2-D playground's points and mnist-sample's 1,000 held-out digits: nothing to gain from a subset."""
    _, _, test_x, test_y = split(loop.EPOCH_TEST_IMAGES)
    x, y = loop.epoch_test_split(test_x, test_y)
    assert x is test_x and y is test_y


@pytest.mark.parametrize("test_size, scorings", [(2000, [1000, 1000, 2000]), (500, [500, 500])])
def test_epoch_rows_are_scored_on_the_subset_and_the_final_evaluation_on_the_whole_split(monkeypatch, test_size,
                                                                                          scorings):
    """Two epochs: each scored on its subset, then the whole split once; a small split's last epoch score is the
    final one, not scored twice."""
    scored, real = [], loop.evaluate
    monkeypatch.setattr(loop, "evaluate", lambda model, images, *rest: scored.append(len(images)) or
                        real(model, images, *rest))
    run = loop.Loop([TINY], tensors=split(test_size))
    assert run.run() == "done"
    lane = run.lanes[0]
    assert scored == scorings and [row.test_images for row in lane.history] == scorings[:2]
    assert sum(map(sum, lane.evaluation.confusion)) == test_size
    assert (run.test_images, run.epoch_test_images) == (test_size, scorings[0])


def test_the_eta_counts_each_epochs_subset_and_the_final_whole_split(monkeypatch):
    """Scoring costs 0.5 ms an image here: after the first of three epochs, two subsets (1 s) and the whole split
    (1 s) are left, not three whole splits nor two subsets alone; after the last, the whole split alone. (What the
    ETA says beyond the training left at the current speed, which a busy machine makes noisy.)"""
    real = loop.evaluate

    def slow(model, images, *rest):
        time.sleep(0.0005 * len(images))
        return real(model, images, *rest)

    monkeypatch.setattr(loop, "evaluate", slow)
    scoring = []
    run = loop.Loop([TINY.with_changes(epochs=3)], tensors=split(2000))
    training_left = lambda it: (it.steps_per_epoch * it.epochs - it.step) * TINY.batch_size / it.samples_per_sec  # noqa: E731
    assert run.run(on_epoch=lambda it: scoring.append(it.eta() - training_left(it))) == "done"
    assert 1.9 <= scoring[0] <= 2.3 and 0.95 <= scoring[-1] <= 1.15


def test_before_anything_is_scored_the_eta_counts_the_scoring_to_come_at_a_third_of_the_training_pace(monkeypatch):
    """Issue 23.5: the first epoch's ETA left scoring out (30 s said with 60 s left). Three epochs' subsets and the
    whole split are still to score, each image at SCORING_COST of a training sample's time."""
    monkeypatch.setattr(loop, "PUBLISH_SECONDS", 0.0)  # publish after every step, so the first epoch is seen
    seen = []
    run = loop.Loop([TINY.with_changes(epochs=3)], tensors=split(2000))
    training_left = lambda it: (it.steps_per_epoch * it.epochs - it.step) * TINY.batch_size / it.samples_per_sec  # noqa: E731
    assert run.run(on_publish=lambda it: seen.append((it.epoch, it.eta() - training_left(it), it.samples_per_sec))) == "done"
    epoch, scoring, speed = seen[0]
    assert epoch == 0 and scoring == pytest.approx((3 * 1000 + 2000) * loop.SCORING_COST / speed)


def test_a_stop_while_an_epoch_is_scored_abandons_that_scoring_at_the_next_batch():
    """A conv layer of 64 maps makes the CPU score in batches of 64, so the 1,000 images take 16 batches; the stop
    comes after the second, and the run goes straight to its final scoring of the whole split."""
    batches, real = [], loop.evaluate

    def watched(model, images, labels, device, on_batch):
        def on(done: int, total: int) -> None:
            batches.append((len(images), done, total))
            if len(images) == 1000 and done == 2:
                run.stop()
            on_batch(done, total)
        return real(model, images, labels, device, on)

    build = lambda: nn.Sequential(nn.Conv2d(1, 64, 3), nn.Flatten(), nn.Linear(64 * 26 * 26, 10))  # noqa: E731
    run = loop.Loop([TINY.with_changes(epochs=3)], tensors=split(2000), build=build)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "evaluate", watched)
        assert run.run() == "stopped"
    subset = [done for images, done, _ in batches if images == 1000]
    assert subset == [1, 2] and batches[0][2] == 16
    assert [done for images, done, total in batches if images == 2000] == list(range(1, batches[-1][2] + 1))
    lane = run.lanes[0]
    assert run.step == run.steps_per_epoch and lane.history == [] and run.epoch == 0
    assert sum(map(sum, lane.evaluation.confusion)) == 2000 and run.phase == "training"


def test_a_paced_loop_spreads_its_steps_over_the_pace_and_counts_the_waits_as_no_training(tiny_data_dir):
    """A race at a watchable pace (issue 14.6): 38 tiny steps, a few hundredths of a second of work, take 3 s.

    One torch thread, as a classroom server's job has on 2 cores: a busy machine wakes a second one slowly.
    """
    run = loop.Loop([TINY], pace=3.0)
    etas = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert run.run(on_epoch=lambda it: etas.append(it.eta())) == "done"
    finally:
        torch.set_num_threads(threads)
    assert run.wall >= 3.0 and run.elapsed <= run.wall - 1.0  # the waits are not training, so samples/s stay true
    assert etas[0] >= 1.2  # after the first of two epochs, about half the pace is left


def suspended_midway(configs: list[TrainConfig], after_steps: int, monkeypatch) -> bytes:
    """A loop paused right after a given step (by its own thread, so however busy the machine), then suspended: the
    state it packs."""
    paused = loop.Loop(configs)
    step = loop.Lane.step

    def stepped(lane, *args):
        step(lane, *args)
        if lane is paused.lanes[0] and lane.steps == after_steps:
            paused.pause()

    monkeypatch.setattr(loop.Lane, "step", stepped)
    thread = threading.Thread(target=paused.run)
    thread.start()
    deadline = time.monotonic() + 60
    while paused.step < after_steps and time.monotonic() < deadline:
        time.sleep(0.001)
    paused.suspend()
    thread.join(60)
    monkeypatch.setattr(loop.Lane, "step", step)
    assert paused.suspended is not None and paused.step == after_steps
    return paused.suspended


@pytest.mark.parametrize("changes", [
    dict(optimizer="adam", schedule="onecycle"),
    dict(optimizer="sgd", momentum=0.9, nesterov=True, schedule="step"),
    dict(optimizer="rmsprop", schedule="cosine", epochs=3),
])
def test_a_suspended_loop_goes_on_from_its_state_exactly_as_if_never_paused(tiny_data_dir, changes, monkeypatch):
    """Mid-epoch, with dropout and batch norm (the random generators and running statistics come back too)."""
    config = TINY.with_changes(model=ModelSpec(dense=(DenseLayer(16, dropout=0.3, batch_norm=True),)), **changes)
    whole = loop.Loop([config])
    assert whole.run() == "done"
    state = suspended_midway([config], after_steps=25, monkeypatch=monkeypatch)  # the first epoch has 19 steps: this is inside the second
    again = loop.Loop([config], resume=state)
    assert again.run() == "done"
    mine, theirs = again.lanes[0], whole.lanes[0]
    assert mine.losses == theirs.losses and again.step == whole.step
    assert [row.test_accuracy for row in mine.history] == [row.test_accuracy for row in theirs.history]
    for name, tensor in theirs.model.state_dict().items():
        assert torch.equal(mine.model.state_dict()[name], tensor), name
    assert mine.evaluation.accuracy == theirs.evaluation.accuracy


def test_a_race_is_suspended_and_resumed_lane_by_lane(tiny_data_dir, monkeypatch):
    configs = [TINY, TINY.with_changes(optimizer="sgd", lr=0.1)]
    whole = loop.Loop(configs)
    whole.run()
    again = loop.Loop(configs, resume=suspended_midway(configs, after_steps=5, monkeypatch=monkeypatch))
    assert again.run() == "done"
    assert [lane.losses for lane in again.lanes] == [lane.losses for lane in whole.lanes]


def test_a_state_is_read_with_torch_loads_weights_only_and_a_running_loop_is_not_suspended(tiny_data_dir):
    job = training.Trainer(TINY.with_changes(epochs=50, batch_size=1))
    assert not job.suspend()  # never started
    job.start()
    deadline = time.monotonic() + 60
    while job.loop.step < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not job.suspend()  # running: only paused or held work packs its state
    assert job.pause() and job.suspend()
    job.join(60)
    state = torch.load(io.BytesIO(job.loop.suspended), weights_only=True)  # tensors and plain values only
    assert state["step"] == job.loop.step and job.progress().status == "paused"
