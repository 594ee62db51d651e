"""Importing uploaded weights (dlcore.export.import_weights): good files become runs, everything else gets one sentence."""

import io
import json
import pickle

import pytest
import torch
from safetensors.torch import save as safetensors_bytes

from dlcore import export, models, runs, training
from dlcore.config import DenseLayer, DLCoreError, ModelSpec, TrainConfig

CONFIG = TrainConfig(dataset="mnist", model=ModelSpec(dense=(DenseLayer(16),)), epochs=1, batch_size=32, device="cpu")


@pytest.fixture
def trained(tiny_data_dir):
    manager = training.job_manager()
    run_id = manager.submit(CONFIG)
    manager.wait(run_id, timeout=120)
    return manager.store.get(run_id)


def _weights(config=CONFIG, metadata=True) -> bytes:
    torch.manual_seed(0)
    state = {name: tensor.contiguous() for name, tensor in models.build(config.model).state_dict().items()}
    return safetensors_bytes(state, {"format": runs.CHECKPOINT_FORMAT, "config": config.to_json()} if metadata else None)


def test_good_file_is_recorded_scored_and_usable(trained):
    content = open(trained.checkpoint, "rb").read()
    run_id = export.import_weights(content, "uploads/run-1.safetensors", student="Grace")
    run = runs.RunStore().get(run_id)
    assert run.status == "done" and run.message == "Imported from run-1.safetensors."
    assert run.student == "Grace" and run.config == CONFIG and run.accuracy == trained.accuracy
    assert runs.RunStore().latest_finished().id == run_id  # so Draw & classify offers it first
    model, config = runs.load_checkpoint(run.checkpoint)
    assert config == CONFIG and model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_exported_zip_is_accepted(trained):
    _, content = export.bundle(trained)
    run = runs.RunStore().get(export.import_weights(content, "run-1.zip"))
    assert run.config == CONFIG and run.accuracy == trained.accuracy


def test_config_json_beside_weights_without_one(tiny_data_dir):
    run_id = export.import_weights(_weights(metadata=False), "bare.safetensors", config_json=CONFIG.to_json().encode())
    assert runs.RunStore().get(run_id).config == CONFIG


def test_missing_dataset_still_imports_without_a_score(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA_DIR", str(tmp_path / "empty"))
    config = CONFIG.with_changes(dataset="fashion-mnist")
    run = runs.RunStore().get(export.import_weights(_weights(config), "fashion.safetensors"))
    assert run.status == "done" and run.results is None
    assert run.message == "Imported from fashion.safetensors; fashion-mnist is not here to score it."


def _torch_save(**kwargs) -> bytes:
    buffer = io.BytesIO()
    torch.save(models.build(CONFIG.model).state_dict(), buffer, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("content, message", [
    (_torch_save(), "is a pickled PyTorch file \\(torch.save\\), refused because loading it can run code"),
    (_torch_save(_use_new_zipfile_serialization=False), "not a safetensors weights file \\(pickled .pt/.pth files are refused"),
    (pickle.dumps({"0.weight": [1.0]}), "not a safetensors weights file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a safetensors weights file"),
    (b"", "not a safetensors weights file"),
])
def test_pickles_and_other_files_are_refused(tiny_data_dir, content, message):
    with pytest.raises(DLCoreError, match=message):
        export.import_weights(content, "model.safetensors")
    assert runs.RunStore().list() == []


def test_oversize_is_refused_before_reading(tiny_data_dir, monkeypatch):
    monkeypatch.setattr(export, "MAX_IMPORT_BYTES", 1000)
    with pytest.raises(DLCoreError, match=r"big.safetensors is 0.0 MiB, over the 0 MiB limit for weights."):
        export.import_weights(bytes(1001), "big.safetensors")


def test_zip_that_unpacks_too_large_is_refused(trained, monkeypatch):
    _, content = export.bundle(trained)
    monkeypatch.setattr(export, "MAX_IMPORT_BYTES", len(content) + 10)
    with pytest.raises(DLCoreError, match="unpacks to more than"):
        export.import_weights(content, "run.zip")


def test_wrong_shapes_are_refused(tiny_data_dir):
    other = CONFIG.with_changes(model=ModelSpec(dense=(DenseLayer(32),)))
    with pytest.raises(DLCoreError, match="The weights do not fit the configuration's network"):
        export.import_weights(_weights(metadata=False), "w.safetensors", config_json=other.to_json())


@pytest.mark.parametrize("config_json, message", [
    (None, "has no configuration inside; upload its config JSON beside it"),
    ("{not json", "The configuration is not valid JSON"),
    (json.dumps({"dataset": "cifar"}), "Unknown dataset 'cifar'"),
])
def test_a_missing_or_bad_config_is_refused(tiny_data_dir, config_json, message):
    with pytest.raises(DLCoreError, match=message):
        export.import_weights(_weights(metadata=False), "w.safetensors", config_json=config_json)


def test_nan_weights_are_refused(tiny_data_dir):
    state = {name: tensor.contiguous() for name, tensor in models.build(CONFIG.model).state_dict().items()}
    state["1.weight"][0, 0] = float("nan")
    content = safetensors_bytes(state, {"config": CONFIG.to_json()})
    with pytest.raises(DLCoreError, match="holds NaN or infinite weights"):
        export.import_weights(content, "nan.safetensors")
