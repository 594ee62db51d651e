"""Importing uploaded weights (dlcore.export.import_weights): good files become runs, everything else gets one sentence."""

import io
import json
import pickle
import threading
import zipfile

import pytest
import torch
from safetensors.torch import save as safetensors_bytes

from dlcore import data, export, jobs, models, predict, runs, validation
from dlcore.config import (
    MAX_CHANNELS, MAX_CONV_BLOCKS, MAX_HIDDEN_LAYERS, MAX_UNITS, ConvBlock, DenseLayer, DLCoreError, ModelSpec, TrainConfig,
)

CONFIG = TrainConfig(dataset="mnist", model=ModelSpec(dense=(DenseLayer(16),)), epochs=1, batch_size=32, device="cpu")


@pytest.fixture
def trained(tiny_data_dir):
    manager = jobs.job_manager()
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


def _zip(content: bytes, method=zipfile.ZIP_DEFLATED, name="run-1/run-1.safetensors") -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr(name, content)
    return bytearray(buffer.getvalue())


def _patch(raw: bytearray, local: int, central: int, value: int, size: int = 4) -> bytes:
    """Overwrite a field of the one member's local header and its central directory entry (offsets from each)."""
    for start, offset in ((raw.find(b"PK\x03\x04"), local), (raw.find(b"PK\x01\x02"), central)):
        raw[start + offset : start + offset + size] = value.to_bytes(size, "little")
    return bytes(raw)


def test_zip_that_inflates_past_the_limit_is_refused_while_reading(tiny_data_dir, monkeypatch):
    monkeypatch.setattr(export, "MAX_IMPORT_BYTES", 100_000)
    honest = bytes(_zip(bytes(5_000_000)))  # 5 MB of zeros in a 5 kB zip
    with pytest.raises(DLCoreError, match=r"run.zip unpacks to more than the 0 MiB limit for weights"):
        export.import_weights(honest, "run.zip")
    lying = _patch(_zip(bytes(5_000_000)), 22, 24, 1_000)  # the same zip, declaring 1 kB
    with pytest.raises(DLCoreError, match=r"run.zip is a damaged zip file \(run-1.safetensors fails its check\)"):
        export.import_weights(lying, "run.zip")
    assert runs.RunStore().list() == []


def test_declared_sizes_are_not_trusted(tiny_data_dir, monkeypatch):
    """A member declaring 4 GB is read until the limit, not refused or allocated from its word."""
    monkeypatch.setattr(export, "MAX_IMPORT_BYTES", 100_000)
    reads = []
    original = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: reads.append(n) or original(self, n))
    with pytest.raises(DLCoreError, match="unpacks to more than"):
        export.import_weights(_patch(_zip(bytes(5_000_000)), 22, 24, 2**32 - 1), "run.zip")
    assert reads and all(0 < n <= export.READ_CHUNK for n in reads)


@pytest.mark.parametrize("damage, message", [
    (lambda raw: _patch(raw, 6, 8, 0x1, 2), "run.zip is password-protected; export it again without a password."),
    (lambda raw: _patch(raw, 8, 10, 99, 2), "run.zip is compressed in a way this server cannot read"),
    (lambda raw: _patch(raw, 14, 16, 0x12345678), r"run.zip is a damaged zip file \(run-1.safetensors fails its check\)"),
    (lambda raw: bytes(raw[: len(raw) // 2]), "run.zip is a damaged zip file; download the export again."),
])
def test_damaged_zips_are_one_sentence(tiny_data_dir, damage, message):
    with pytest.raises(DLCoreError, match=message):
        export.import_weights(damage(_zip(_weights(), zipfile.ZIP_STORED)), "run.zip")
    assert runs.RunStore().list() == []


def test_an_expensive_model_is_scored_on_a_fixed_subset(trained, monkeypatch):
    monkeypatch.setattr(export, "SCORE_MACS", 1)  # as if this MLP cost what the largest CNN does
    content = open(trained.checkpoint, "rb").read()
    first, second = (runs.RunStore().get(export.import_weights(content, "w.safetensors")) for _ in range(2))
    assert first.message == "Imported from w.safetensors; scored on 10 of the 200 test images."
    assert sum(map(sum, first.results.confusion)) == export.SCORE_AT_LEAST
    assert first.results == second.results  # the same images each time
    dataset = data.load("mnist")
    for index, true, _ in first.results.misclassified:  # the gallery finds each mistake in the whole test split
        assert dataset.test_labels[index] == true


def test_scoring_count_follows_the_cost_of_one_image():
    largest_cnn = ModelSpec("cnn", conv=tuple(ConvBlock(MAX_CHANNELS, kernel=7, padding="same") for _ in range(MAX_CONV_BLOCKS)),
                            dense=(DenseLayer(16),))
    assert export.scoring_count(TrainConfig(model=largest_cnn), 10_000) == export.SCORE_AT_LEAST
    assert export.scoring_count(TrainConfig(model=models.preset("simple-nn")), 10_000) == 10_000
    assert 1_000 < export.scoring_count(TrainConfig(model=models.preset("cnn")), 10_000) < 10_000


def test_a_network_whose_weights_could_not_be_loaded_again_is_refused():
    """The other side of the cap: a CNN within every layer limit and the memory budget, with 392 MiB of weights."""
    wide = ModelSpec("cnn", conv=(ConvBlock(64, padding="same"),), dense=(DenseLayer(MAX_UNITS),))
    with pytest.raises(DLCoreError, match=r"weights would take 392 MiB, over the 119 MiB of the largest MLP the limits allow"):
        validation.validate(TrainConfig(model=wide, optimizer="sgd", momentum=0.0))
    validation.validate(TrainConfig(model=runs.LARGEST_MLP))


def test_the_largest_legal_mlp_checkpoint_loads(tmp_path):
    """The load cap follows the limits: 8 x 2,048 units with batch norm (124 MB) loads, for Draw & classify too."""
    config = TrainConfig(model=runs.LARGEST_MLP)
    assert config.model == ModelSpec(dense=tuple(DenseLayer(MAX_UNITS, batch_norm=True) for _ in range(MAX_HIDDEN_LAYERS)))
    path = runs.save_checkpoint(tmp_path / "largest.safetensors", models.build(config.model), config)
    assert path.stat().st_size > 120e6 and path.stat().st_size <= runs.MAX_CHECKPOINT_BYTES
    classifier = predict.load(path)
    assert classifier.config == config and classifier.model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


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


def test_imports_are_read_one_at_a_time(tiny_data_dir, monkeypatch):
    """A second import waits for the one being read, and is told in a sentence only when the wait would be long."""
    content, imported = _weights(), []
    with export._one_import:  # an import being read
        second = threading.Thread(target=lambda: imported.append(export.import_weights(content, "second.safetensors")))
        second.start()
        second.join(timeout=1)
        assert second.is_alive() and not imported  # waiting its turn, not refused
        monkeypatch.setattr(export, "IMPORT_WAIT_SECONDS", 0.01)
        with pytest.raises(DLCoreError, match="^Other imports are being read on this server; try yours again in a minute.$"):
            export.import_weights(content, "third.safetensors")
    second.join()
    assert [run.message for run in runs.RunStore().list()] == ["Imported from second.safetensors."]


# ---- the disk an import takes ------------------------------------------------------------------------

def _zipped(weights: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("run-1/run-1.safetensors", weights)
    return buffer.getvalue()


def _zero_largest_mlp() -> bytes:
    """The issue's upload: the largest network the limits allow, every weight zero, zipped as an export is."""
    config = CONFIG.with_changes(model=runs.LARGEST_MLP)
    with torch.device("meta"):
        shapes = models.build(config.model).state_dict()
    state = {name: torch.zeros(meta.shape, dtype=meta.dtype) for name, meta in shapes.items()}
    return _zipped(safetensors_bytes(state, {"format": runs.CHECKPOINT_FORMAT, "config": config.to_json()}))


def _disk_taken(folder) -> int:
    """What a folder's files take on disk, a file with several names counted once."""
    return sum({path.stat().st_ino: path.stat().st_blocks * 512 for path in folder.iterdir()}.values())


@pytest.mark.slow
def test_one_student_importing_a_121_kb_zip_again_and_again_is_stopped_by_their_disk_share(tiny_data_dir, dlcore_home):
    upload = _zero_largest_mlp()
    assert len(upload) < 125_000  # of 119 MiB of weights
    for _ in range(13):
        export.import_weights(upload, "run-1.zip", student="Ada", owner="browser-ada")
    with pytest.raises(DLCoreError, match=r"^Your runs keep 1,5\d\d MB of weights on this server and this one needs 119 MB "
                                          r"more, over the 1,600 MB each student may keep; ask the teacher"):
        export.import_weights(upload, "run-1.zip", student="Ada", owner="browser-ada")
    assert len(runs.RunStore().list()) == 13
    assert _disk_taken(dlcore_home / "checkpoints") < runs.MAX_CHECKPOINT_BYTES  # thirteen runs, one file
    export.import_weights(upload, "run-1.zip", student="Bob", owner="browser-bob")  # a share of his own


def test_the_same_zip_imported_twice_takes_the_disk_once(tiny_data_dir, dlcore_home):
    upload = _zipped(_weights())
    first = runs.RunStore().get(export.import_weights(upload, "run-1.zip", owner="browser-ada"))
    once = _disk_taken(dlcore_home / "checkpoints")
    second = runs.RunStore().get(export.import_weights(upload, "run-1.zip", owner="browser-ada"))
    assert _disk_taken(dlcore_home / "checkpoints") == once > 0
    assert first.checkpoint != second.checkpoint and first.accuracy == second.accuracy


def test_an_export_imported_on_its_own_server_takes_no_more_disk(trained, dlcore_home):
    _, upload = export.bundle(trained)
    before = _disk_taken(dlcore_home / "checkpoints")
    imported = runs.RunStore().get(export.import_weights(upload, "run-1.zip"))
    assert _disk_taken(dlcore_home / "checkpoints") == before
    assert imported.id != trained.id and imported.accuracy == trained.accuracy


def test_an_import_is_refused_when_the_server_budget_or_the_free_space_is_spent(trained, monkeypatch):
    _, upload = export.bundle(trained)
    monkeypatch.setenv("DLCORE_MAX_HOME_MB", "0")
    with pytest.raises(DLCoreError, match=r"^This server's runs keep 0\.\d MB of weights and this one needs 0\.\d MB more, "
                                          r"over the 0\.0 MB the server keeps for runs \(DLCORE_MAX_HOME_MB\)"):
        export.import_weights(upload, "run-1.zip", teacher=True)
    monkeypatch.delenv("DLCORE_MAX_HOME_MB")
    monkeypatch.setenv("DLCORE_MIN_FREE_MB", str(10**9))  # a petabyte: more than any disk here has free
    with pytest.raises(DLCoreError, match=r"^The disk holding the runs has [\d,]+ MB free, and this run's 0\.\d MB would "
                                          r"leave less than the 1,000,000,000 MB always kept free"):
        export.import_weights(upload, "run-1.zip")
    assert [run.id for run in runs.RunStore().list()] == [trained.id]


def test_a_sequence_tasks_export_imports_and_is_scored_on_its_own_measure(tiny_data_dir):
    manager = jobs.job_manager()
    config = TrainConfig(dataset="sine", model=ModelSpec("gru", dense=(), state=8, cell_layers=1), loss="mse", epochs=1,
                         device="cpu")
    run_id = manager.submit(config)
    assert manager.wait(run_id, timeout=120).status == "done"
    trained = manager.store.get(run_id)
    name, content = export.bundle(trained)
    assert sorted(zipfile.ZipFile(io.BytesIO(content)).namelist()) == [
        f"run-{run_id}/run-{run_id}-config.json", f"run-{run_id}/run-{run_id}.safetensors"]  # no script
    imported = runs.RunStore().get(export.import_weights(content, name))
    assert imported.config == config and imported.accuracy is None
    assert imported.results.loss == pytest.approx(trained.results.loss, rel=1e-4)  # its MSE again, on this server
    assert imported.label.endswith(f"sine: {imported.results.loss:.3g} MSE")
