"""Caches bounded by bytes (dlcore.caches), and the ones the pages share: models, embeddings, first weights."""

import os

import numpy as np
import pytest

from dlcore import caches, inside, models, predict, runs
from dlcore.config import TrainConfig


def test_a_cache_keeps_results_up_to_its_bytes_dropping_the_least_recently_used_first():
    made = []

    @caches.bounded(3000)
    def block(name: str) -> np.ndarray:
        made.append(name)
        return np.zeros(1000, dtype=np.uint8)

    for name in "abcab":
        block(name)
    assert made == ["a", "b", "c"] and block.cache.currsize == 3000
    block("d")  # over the bound: "c" was used least recently
    assert made == ["a", "b", "c", "d"] and block.cache.currsize == 3000
    block("a"), block("b")
    block("c")
    assert made == ["a", "b", "c", "d", "c"]


def test_a_result_larger_than_the_bound_is_returned_but_not_kept():
    @caches.bounded(100)
    def block() -> np.ndarray:
        return np.ones(1000, dtype=np.uint8)

    assert block().sum() == 1000 and block.cache.currsize == 0


def test_a_loaded_model_counts_its_weights(tmp_path):
    config = TrainConfig(model=models.preset("cnn"))
    path = runs.save_checkpoint(tmp_path / "cnn.safetensors", models.build(config.model), config)
    weights = runs.weights_bytes(config.model)
    assert weights < caches.nbytes(predict.load(path)) < weights + 10_000  # and a few hundred bytes of settings


@pytest.mark.slow
def test_opening_many_of_the_largest_runs_keeps_every_cache_under_its_bytes(tiny_data_dir, tmp_path):
    config = TrainConfig(dataset="mnist", model=runs.LARGEST_MLP)
    first = runs.save_checkpoint(tmp_path / "run-1.safetensors", models.build(config.model).eval(), config)
    paths = [first]
    for number in range(2, 9):  # eight runs, as eight imports of the same upload would be
        paths.append(tmp_path / f"run-{number}.safetensors")
        os.link(first, paths[-1])
    shared = (predict.shared, inside.shared_embedding, inside.start_pictures)
    for cached in shared:
        cached.cache_clear()
    for seed, path in enumerate(paths):
        inside.shared_embedding(str(path))  # loads the model through predict.shared
        inside.start_pictures(config.with_changes(seed=seed).to_json())
    for cached in shared:
        assert 0 < cached.cache.currsize <= cached.cache.maxsize
    largest = runs.weights_bytes(config.model)
    assert len(predict.shared.cache) == predict.SHARED_MODELS_BYTES // largest == 4  # the four opened last
    assert predict.shared.cache.currsize > 4 * largest and (str(paths[-1]),) in predict.shared.cache
