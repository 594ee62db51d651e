import gzip

import pytest
import torch

from dlcore import data
from dlcore.config import DLCoreError
from tests.conftest import write_idx


def test_loads_idx_files_from_the_data_dir(tiny_data_dir):
    dataset = data.load("mnist")
    assert dataset.train_images.shape == (600, 28, 28) and dataset.train_images.dtype == torch.uint8
    assert dataset.test_labels.shape == (200,) and dataset.test_labels.dtype == torch.int64
    assert set(dataset.train_labels.tolist()) == set(range(10))
    assert dataset.source == str(tiny_data_dir / "mnist")


def test_uncompressed_idx_files_are_read_too(tiny_data_dir):
    folder = tiny_data_dir / "fashion-mnist"
    for packed in list(folder.glob("*.gz")):
        packed.with_suffix("").write_bytes(gzip.decompress(packed.read_bytes()))
        packed.unlink()
    assert len(data.load("fashion-mnist").train_labels) == 600


def test_normalized_uses_the_dataset_statistics(tiny_data_dir):
    dataset = data.load("mnist")
    x = dataset.normalized(dataset.train_images[:5])
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    expected = (dataset.train_images[:5].float() / 255 - 0.1307) / 0.3081
    torch.testing.assert_close(x[:, 0], expected)


def test_missing_dataset_without_network_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DLCoreError) as info:
        data.load("fashion-mnist", download=False)
    message = str(info.value)
    assert "empty" in message and "mnist-sample" in message and message.count("\n") == 0


def test_failed_download_names_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setitem(data.DATASETS, "fashion-mnist",
                        data.DatasetInfo("fashion-mnist", "Fashion-MNIST", data.DIGITS, 0.5, 0.5, ("http://127.0.0.1:9/",)))
    with pytest.raises(DLCoreError, match="could not be downloaded.*use mnist-sample"):
        data.load("fashion-mnist")


def test_status_reports_missing_and_present(tiny_data_dir):
    present = data.status("mnist")
    assert present.available and present.train_size == 600 and present.test_size == 200
    (tiny_data_dir / "mnist" / "train-images-idx3-ubyte.gz").unlink()
    data._load.cache_clear()
    missing = data.status("mnist")
    assert not missing.available and "not found" in missing.where


def test_corrupt_idx_file_is_reported(tiny_data_dir):
    data._load.cache_clear()
    (tiny_data_dir / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DLCoreError, match="not a readable IDX file"):
        data.load("mnist")


def test_truncated_idx_file_is_reported(tiny_data_dir):
    data._load.cache_clear()
    path = tiny_data_dir / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-28]))
    with pytest.raises(DLCoreError, match=r"not a readable IDX file \(its header promises 156,800 bytes of data and it holds 156,772\)"):
        data.load("mnist")


def test_mismatched_idx_files_are_reported(tiny_data_dir):
    data._load.cache_clear()
    write_idx(tiny_data_dir / "mnist" / "train-labels-idx1-ubyte.gz", torch.zeros(7, dtype=torch.uint8).numpy())
    with pytest.raises(DLCoreError, match="do not match"):
        data.load("mnist")


def test_sample_is_the_real_5000_digits_held_out_without_the_test_split(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA_DIR", str(tmp_path / "nothing"))
    dataset = data.load("mnist-sample")
    assert len(dataset.train_labels) == 4000 and len(dataset.test_labels) == 1000
    assert torch.bincount(dataset.test_labels).tolist() == [100] * 10
    assert "held-out" in dataset.test_source
    assert dataset.train_images.float().mean() / 255 == pytest.approx(0.13, abs=0.02)  # real MNIST ink


def test_sample_uses_the_real_test_split_when_found(real_data_dir):
    dataset = data.load("mnist-sample")
    assert len(dataset.train_labels) == 5000 and len(dataset.test_labels) == 10000
    assert "real MNIST test split" in dataset.test_source


def test_sample_batch_is_reproducible():
    x1, y1 = data.sample_batch("mnist-sample", 32, seed=4)
    x2, y2 = data.sample_batch("mnist-sample", 32, seed=4)
    assert x1.shape == (32, 1, 28, 28) and torch.equal(x1, x2) and torch.equal(y1, y2)


def test_unknown_dataset():
    with pytest.raises(DLCoreError, match="choose one of: mnist, fashion-mnist, mnist-sample"):
        data.load("cifar")
