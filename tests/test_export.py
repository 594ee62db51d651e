"""Export: the zip's standalone script rebuilds the very network, scores the weights as the playground did, and retrains
the run step for step, with nothing but torch."""

import importlib.util
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from dlcore import activations, data, export, models, optim, runs, training
from dlcore.config import ConvBlock, DenseLayer, DLCoreError, ModelSpec, TrainConfig

CNN = TrainConfig(
    dataset="mnist", epochs=1, batch_size=32, device="cpu", optimizer="sgd", lr=0.05, nesterov=True,
    schedule="onecycle", loss="mse",
    model=ModelSpec("cnn", conv=(ConvBlock(4, pool="max", batch_norm=True),), dense=(DenseLayer(16, "leaky-relu", 0.2),)),
)


def _train(config):
    manager = training.job_manager()
    run_id = manager.submit(config, student="Ada")
    manager.wait(run_id, timeout=120)
    return manager.store.get(run_id)


def _unpack(run, folder: Path) -> Path:
    name, content = export.bundle(run)
    assert name == f"run-{run.id}.zip"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == [f"run-{run.id}/run-{run.id}-config.json", f"run-{run.id}/run-{run.id}.py",
                                              f"run-{run.id}/run-{run.id}.safetensors"]
        archive.extractall(folder)
    return folder / f"run-{run.id}" / f"run-{run.id}.py"


def _script(path: Path, *args: str) -> dict:
    """Run an exported script as a user would, in a fresh interpreter with no dlcore on its path."""
    done = subprocess.run([sys.executable, "-I", str(path), *args, "--json"], capture_output=True, text=True,
                          timeout=180, cwd=path.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _module(text: str, tmp_path: Path, name: str = "exported"):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exported_script_scores_and_retrains_exactly_like_the_run(tiny_data_dir, tmp_path):
    run = _train(CNN)
    assert run.status == "done"
    script = _unpack(run, tmp_path)
    assert f"test accuracy {run.accuracy:.2%}" in script.read_text().splitlines()[0]
    scored = _script(script, "evaluate", "--data", str(tiny_data_dir))
    assert scored["accuracy"] == run.accuracy and scored["loss"] == pytest.approx(run.results.loss, rel=1e-6)
    assert scored["test_images"] == 200
    retrained = _script(script, "train", "--data", str(tiny_data_dir / "mnist"), "--out", str(tmp_path / "again.safetensors"))
    assert retrained["accuracy"] == run.accuracy
    model, config = runs.load_checkpoint(tmp_path / "again.safetensors")  # the playground reads what the script wrote
    assert config == CNN
    original, _ = runs.load_checkpoint(run.checkpoint)
    for name, tensor in original.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name


def test_sample_runs_export_with_their_held_out_digits(tmp_path, monkeypatch):
    monkeypatch.delenv("DLCORE_DATA_DIR", raising=False)
    run = _train(TrainConfig(dataset="mnist-sample", model=ModelSpec(dense=(DenseLayer(16),)), epochs=1,
                             batch_size=256, device="cpu"))
    script = _unpack(run, tmp_path)
    shutil.copy(data._sample_path(), script.parent)
    assert export.SAMPLE_FILE == data._sample_path().name
    scored = _script(script, "evaluate", "--data", str(script.parent))
    assert scored["accuracy"] == run.accuracy and scored["test_images"] == data.SAMPLE_TEST_SIZE


def test_missing_data_is_one_sentence(tiny_data_dir, tmp_path):
    script = _unpack(_train(CNN), tmp_path)
    done = subprocess.run([sys.executable, "-I", str(script), "evaluate", "--data", str(tmp_path / "nowhere")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.strip().startswith("error: the mnist IDX files are not in ")
    assert "--download" in done.stderr


@pytest.mark.parametrize("activation", activations.HIDDEN_ACTIVATIONS)
def test_script_builds_the_same_network(activation, tmp_path):
    spec = ModelSpec("cnn", conv=(ConvBlock(3, kernel=5, activation=activation, pool="avg", padding="same", batch_norm=True),
                                  ConvBlock(2, activation=activation, pool="max")),
                     dense=(DenseLayer(12, activation, 0.3, True), DenseLayer(5, activation)))
    module = _module(export.script(TrainConfig(model=spec)), tmp_path)
    torch.manual_seed(3)
    mine = module.build()
    torch.manual_seed(3)
    theirs = models.build(spec)
    assert str(mine) == str(theirs)
    for name, tensor in theirs.state_dict().items():
        assert torch.equal(tensor, mine.state_dict()[name]), name  # same constructors in the same order: same init


@pytest.mark.parametrize("changes", [
    {"optimizer": name} for name in optim.OPTIMIZERS
] + [{"optimizer": "sgd", "nesterov": True, "weight_decay": 1e-4}, {"optimizer": "rmsprop", "momentum": 0.0}])
def test_script_makes_the_same_optimizer(changes, tmp_path):
    config = TrainConfig(lr=0.02, **changes)
    module = _module(export.script(config), tmp_path)
    parameters = [torch.zeros(2, requires_grad=True)]
    mine = module.make_optimizer(parameters)
    theirs = optim.make_optimizer(config, parameters)
    assert type(mine) is type(theirs) and mine.defaults == theirs.defaults


@pytest.mark.parametrize("schedule", list(optim.SCHEDULES))
def test_script_makes_the_same_schedule(schedule, tmp_path):
    config = TrainConfig(schedule=schedule, lr=0.1)
    module = _module(export.script(config), tmp_path)
    rates = []
    for make in (lambda opt: module.make_schedule(opt, 20), lambda opt: optim.make_schedule(config, opt, 20)):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        scheduler = make(optimizer)
        trajectory = []
        for _ in range(20):
            optimizer.step()
            scheduler.step()
            trajectory.append(scheduler.get_last_lr()[0])
        rates.append(trajectory)
    assert rates[0] == rates[1]


@pytest.mark.parametrize("loss", list(optim.LOSSES))
def test_script_computes_the_same_loss(loss, tmp_path):
    module = _module(export.script(TrainConfig(loss=loss)), tmp_path)
    logits, labels = torch.randn(8, 10), torch.arange(8)
    assert torch.equal(module.loss_fn(logits, labels), optim.make_loss(loss)(logits, labels))


def test_script_reads_and_writes_safetensors_like_the_library(tmp_path):
    module = _module(export.script(TrainConfig()), tmp_path)
    tensors = {"w": torch.randn(3, 4), "n": torch.tensor(7), "b": torch.arange(5, dtype=torch.uint8)}
    module.write_safetensors(tensors, tmp_path / "mine.safetensors", {"format": "x"})
    from safetensors.torch import load_file, save_file

    loaded = load_file(str(tmp_path / "mine.safetensors"))
    save_file(tensors, str(tmp_path / "theirs.safetensors"))
    read = module.read_safetensors(tmp_path / "theirs.safetensors")
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor) and torch.equal(read[name], tensor)


def test_a_run_without_weights_cannot_be_exported(tiny_data_dir):
    run = _train(CNN.with_changes(lr=1000.0, epochs=3, loss="cross-entropy", schedule="constant"))
    assert run.status == "diverged"
    with pytest.raises(DLCoreError, match=rf"Run #{run.id} has no saved weights to export \(its status is diverged\)"):
        export.bundle(run)
