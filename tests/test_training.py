import math
import time

import pytest

from dlcore import devices, models, training, validation
from dlcore.config import DenseLayer, DLCoreError, ModelSpec, TrainConfig

TINY = TrainConfig(dataset="mnist", model=ModelSpec(dense=(DenseLayer(32),)), epochs=2, batch_size=32, device="cpu")


def _run(config):
    trainer = training.Trainer(config)
    trainer.run()
    return trainer, trainer.progress()


def test_trains_and_publishes_metrics(tiny_data_dir):
    trainer, progress = _run(TINY)
    assert progress.status == "done" and progress.message == ""
    assert progress.epoch == 2 and progress.step == 2 * math.ceil(600 / 32) == len(progress.step_losses)
    assert [row["epoch"] for row in progress.history] == [1, 2]
    assert progress.history[-1]["test_accuracy"] > 0.9  # the synthetic bars are easy
    assert progress.step_losses[-1] < progress.step_losses[0]
    assert progress.samples_per_sec > 0 and progress.fraction == 1.0 and progress.device == "CPU"
    assert trainer.evaluation.accuracy == progress.history[-1]["test_accuracy"]
    assert not next(trainer.model.parameters()).is_cuda


def test_same_seed_same_result_on_cpu(tiny_data_dir):
    config = TINY.with_changes(model=ModelSpec(dense=(DenseLayer(32, dropout=0.2),)))
    _, first = _run(config)
    _, second = _run(config)
    assert first.step_losses == second.step_losses and first.history[-1]["test_loss"] == second.history[-1]["test_loss"]
    _, other = _run(config.with_changes(seed=1))
    assert other.step_losses != first.step_losses


@pytest.mark.parametrize("optimizer, schedule, loss", [
    ("sgd", "onecycle", "mse"), ("adamw", "cosine", "cross-entropy"), ("rmsprop", "step", "cross-entropy"),
    ("adagrad", "constant", "mse"),
])
def test_every_optimizer_schedule_and_loss_trains(tiny_data_dir, optimizer, schedule, loss):
    lr = {"sgd": 0.1, "adagrad": 0.05}.get(optimizer, 0.003)
    _, progress = _run(TINY.with_changes(optimizer=optimizer, schedule=schedule, loss=loss, lr=lr))
    assert progress.status == "done" and progress.history[-1]["test_accuracy"] > 0.5


def test_cnn_trains(tiny_data_dir):
    spec = ModelSpec("cnn", conv=(models.ConvBlock(4, pool="max"),), dense=(DenseLayer(16),))
    _, progress = _run(TINY.with_changes(model=spec, epochs=1))
    assert progress.status == "done" and progress.history[0]["test_accuracy"] > 0.5


def test_absurd_learning_rate_diverges_with_advice(tiny_data_dir):
    trainer, progress = _run(TINY.with_changes(optimizer="sgd", lr=1000.0, epochs=3))
    assert progress.status == "diverged"
    assert "NaN" in progress.message and "lower learning rate" in progress.message
    assert trainer.evaluation is None


def test_pause_resume_and_stop_keep_what_was_learned(tiny_data_dir):
    trainer = training.Trainer(TINY.with_changes(epochs=100, batch_size=8))
    trainer.start()
    _wait_for(lambda: trainer.progress().step > 5)
    trainer.pause()
    _wait_for(lambda: trainer.progress().status == "paused")
    paused_at = trainer.progress().step
    time.sleep(0.5)
    assert trainer.progress().step <= paused_at + 1  # at most the step already in flight
    trainer.resume()
    _wait_for(lambda: trainer.progress().step > paused_at + 5)
    trainer.stop()
    trainer.join(30)
    progress = trainer.progress()
    assert progress.status == "stopped" and "keeps what it learned" in progress.message
    assert trainer.evaluation is not None and trainer.model is not None


def test_stop_while_paused(tiny_data_dir):
    trainer = training.Trainer(TINY.with_changes(epochs=100))
    trainer.start()
    _wait_for(lambda: trainer.progress().step > 0)
    trainer.pause()
    trainer.stop()
    trainer.join(30)
    assert trainer.progress().status == "stopped"


def test_missing_device_is_a_sentence():
    for name, reason in devices.device_status().items():
        if reason:
            with pytest.raises(DLCoreError, match=f"{name} is not available"):
                devices.resolve_device(name)
    assert devices.resolve_device("cpu").type == "cpu"
    assert devices.resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(DLCoreError, match="Unknown device"):
        devices.resolve_device("tpu")


def test_failure_inside_the_thread_becomes_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA_DIR", str(tmp_path / "none"))
    _, progress = _run(TINY)  # mnist cannot be found or fetched here
    assert progress.status == "failed" and "mnist-sample" in progress.message


@pytest.mark.parametrize("change, words", [
    ({"epochs": 0}, "field epochs"), ({"batch_size": 0}, "field batch_size"), ({"lr": -1.0}, "field lr"),
    ({"lr": float("nan")}, "field lr"), ({"weight_decay": -1.0}, "field weight_decay"), ({"optimizer": "x"}, "optimizer"),
    ({"dataset": "cifar"}, "dataset"), ({"loss": "hinge"}, "loss"), ({"device": "tpu"}, "device"),
])
def test_bad_configs_are_refused_before_training(change, words):
    with pytest.raises(DLCoreError, match=words):
        training.Trainer(TINY.with_changes(**change))


HUGE = TrainConfig(model=ModelSpec.from_dict({
    "kind": "cnn", "conv": [{"channels": 256, "padding": "same", "batch_norm": True}] * 4, "dense": [{"units": 2048}] * 8,
}), batch_size=8192)  # within every field's bounds, yet about 75 GB: it took the class server down


def test_a_run_over_the_memory_budget_is_refused_with_the_estimate_without_allocating(monkeypatch):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(DLCoreError, match=r"would need about [\d,.]+ [MG]B .* over this server's [\d,]+ MB per run; use fewer"):
        validation.validate(HUGE)
    assert time.perf_counter() - started < 1.0  # a page calls this on every edit
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: nothing near its size
    monkeypatch.setenv("DLCORE_MAX_RUN_MB", "100")
    with pytest.raises(DLCoreError, match="over this server's 100 MB"):
        validation.validate(TINY.with_changes(model=models.preset("cnn"), batch_size=1024))
    monkeypatch.setenv("DLCORE_MAX_RUN_MB", "lots")
    with pytest.raises(DLCoreError, match="DLCORE_MAX_RUN_MB must be a whole number"):
        validation.validate(TINY)


def test_the_default_budget_is_a_share_of_memory_split_between_concurrent_runs(monkeypatch):
    monkeypatch.delenv("DLCORE_MAX_RUN_MB", raising=False)
    one = validation.memory_budget_mb()
    monkeypatch.setenv("DLCORE_MAX_JOBS", "2")
    assert validation.memory_budget_mb() == one // 2 or one // 2 < 256
    validation.validate(TrainConfig(model=models.preset("cnn"), batch_size=512))  # the seed CNN at batch 512: about 0.9 GB


def _wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
