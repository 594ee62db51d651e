"""dlcore.inside: layer outputs against PyTorch itself, capped pictures and snapshots, histograms, the strip, the
embedding, and the snapshots a real run records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dlcore import DLCoreError, data, evaluate, inside, jobs, loop, models, predict, runs
from dlcore.config import MAX_CHANNELS, MAX_CONV_BLOCKS, ConvBlock, DenseLayer, ModelSpec, TrainConfig

CNN_BN = ModelSpec("cnn", conv=(ConvBlock(8, batch_norm=True, pool="max"), ConvBlock(16, pool="avg", batch_norm=True)),
                   dense=(DenseLayer(32, dropout=0.2, batch_norm=True),))


def built(spec: ModelSpec, seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return models.build(spec).eval()


@pytest.mark.parametrize("spec", [*models.PRESETS.values(), CNN_BN, ModelSpec("mlp", dense=())], ids=str)
def test_every_layer_is_traced_in_order_and_the_output_is_the_models(spec):
    model, config = built(spec), TrainConfig(model=spec)
    x = np.random.default_rng(0).normal(size=(28, 28)).astype(np.float32)
    path = inside.trace(model, config, x)
    rows = models.describe(spec)
    assert [(layer.name, layer.shape) for layer in path.layers] == [(row.name, row.output_shape) for row in rows]
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(x).reshape(1, 1, 28, 28)), dim=1)[0]
    np.testing.assert_allclose(path.probabilities, expected.numpy(), atol=1e-6)
    assert path.prediction == int(expected.argmax())
    for layer in path.layers:
        strength = layer.strengths()
        assert list(strength[layer.order]) == sorted(strength, reverse=True)
        assert len(layer.top_units()) == min(inside.TOP_UNITS, layer.shape[0])
    assert path.features.shape == (rows[-2].output_shape[0],)


def test_the_cli_json_names_each_layer_with_its_shape_and_strongest_units():
    spec = models.preset("cnn")
    answer = inside.trace(built(spec), TrainConfig(model=spec), np.zeros((28, 28), np.float32)).to_dict()
    json.dumps(answer)  # plain JSON types only
    assert answer["layers"][0]["shape"] == [32, 26, 26]
    assert [layer["name"] for layer in answer["layers"]][-1] == "output 10"
    assert set(answer) == {"prediction", "probabilities", "layers"}
    assert set(answer["layers"][0]["top_units"][0]) == {"unit", "value"}


def test_pictures_are_the_weights_capped():
    mlp = models.preset("simple-nn")
    model = built(mlp)
    (units,) = inside.pictures(model, TrainConfig(model=mlp))
    assert units.images.shape == (inside.MAX_PICTURES, 28, 28) and units.total == 128
    np.testing.assert_array_equal(units.images[3].reshape(-1), model[1].weight[3].detach().numpy())
    wide = ModelSpec("cnn", conv=(ConvBlock(MAX_CHANNELS), ConvBlock(MAX_CHANNELS)), dense=())
    first, second = inside.pictures(built(wide), TrainConfig(model=wide))
    assert first.images.shape == (inside.MAX_FILTERS, 1, 3, 3) and first.inputs == 1
    assert second.images.shape == (inside.MAX_FILTERS, inside.MAX_FILTER_INPUTS, 3, 3) and second.inputs == MAX_CHANNELS


def test_snapshots_round_trip_within_a_quantisation_step():
    spec = CNN_BN
    found = inside.pictures(built(spec), TrainConfig(model=spec))
    back = inside.decode(inside.encode(found))
    for before, after in zip(found, back):
        assert (before.layer, before.total, before.inputs) == (after.layer, after.total, after.inputs)
        step = (before.images.max() - before.images.min()) / 255
        np.testing.assert_allclose(after.images, before.images, atol=step / 2 + 1e-6)


def test_a_damaged_snapshot_is_a_sentence():
    with pytest.raises(inside.DLCoreError, match="damaged"):
        inside.decode(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")


LARGEST_CNN = ModelSpec("cnn", conv=tuple(ConvBlock(MAX_CHANNELS, kernel=7, padding="same") for _ in range(MAX_CONV_BLOCKS)),
                        dense=(DenseLayer(16),))


@pytest.mark.parametrize("spec", [runs.LARGEST_MLP, LARGEST_CNN], ids=["largest-mlp", "largest-cnn"])
def test_the_largest_networks_keep_a_small_store(spec):
    model, config = built(spec), TrainConfig(model=spec, epochs=100)
    weights = inside.encode(inside.pictures(model, config))
    histograms = json.dumps([h.to_dict() for h in inside.histograms(model, config)])
    per_epoch = len(weights) + len(histograms)
    kept = sum(inside.keeps(epoch, 100) for epoch in range(1, 101))
    assert per_epoch < 100_000
    assert kept <= inside.MAX_SNAPSHOTS and inside.keeps(100, 100)
    assert kept * per_epoch < 4_000_000  # a whole run's snapshots, at most


def test_keeps_every_epoch_of_short_runs_and_thins_long_ones():
    assert all(inside.keeps(epoch, 10) for epoch in range(1, 11))
    kept = [epoch for epoch in range(1, 100) if inside.keeps(epoch, 99)]
    assert len(kept) <= inside.MAX_SNAPSHOTS and kept[-1] == 99 and kept[0] == 3


def test_histograms_count_every_weight_and_every_units_gradient():
    spec = models.preset("simple-nn")
    model, config = built(spec), TrainConfig(model=spec)
    before = inside.histograms(model, config)
    assert all(h.gradient_counts == [] and h.gradient_norm is None for h in before)
    model.train()
    torch.nn.functional.cross_entropy(model(torch.randn(8, 1, 28, 28)), torch.arange(8)).backward()
    after = inside.histograms(model, config)
    assert [h.layer for h in after] == ["dense1 128", "dense2 64", "output 10"]
    for h, linear in zip(after, [model[1], model[3], model[5]]):
        assert sum(h.weight_counts) == linear.weight.numel()
        assert sum(h.gradient_counts) == linear.out_features
        assert h.gradient_norm == pytest.approx(linear.weight.grad.norm().item())
        assert h.weight_range == pytest.approx((linear.weight.min().item(), linear.weight.max().item()))


def test_change_is_nothing_at_the_start_and_what_training_moved_after():
    """Issue 23.4: the CNN preset's filters looked the same at epoch 0 and 3; their change since the start is what
    shows learning."""
    spec = models.preset("cnn")
    config = TrainConfig(model=spec, seed=3)
    start = inside.pictures(inside.first_weights(config), config)
    assert all(item.largest == 0 for item in inside.change(start, start))
    model = inside.first_weights(config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.nn.functional.cross_entropy(model(torch.randn(16, 1, 28, 28)), torch.arange(16) % 10).backward()
    optimizer.step()
    moved = inside.change(inside.pictures(model, config), start)
    assert [item.layer for item in moved] == ["conv1 3x3, 32", "conv2 3x3, 64"]
    for item, before, layer in zip(moved, start, [model[0], model[2]]):
        assert item.largest > 0 and (item.total, item.inputs) == (before.total, before.inputs)
        np.testing.assert_allclose(item.images + before.images, layer.weight.detach()[:inside.MAX_FILTERS,
                                   :inside.MAX_FILTER_INPUTS].numpy(), atol=1e-6)


def test_first_weights_are_the_runs_start_and_leave_the_random_state_alone():
    config = TrainConfig(model=CNN_BN, seed=7)
    state = torch.random.get_rng_state()
    remade = inside.first_weights(config)
    assert torch.equal(torch.random.get_rng_state(), state)
    lane = loop.Lane(config, torch.device("cpu"), total_steps=1)
    for name, tensor in lane.model.state_dict().items():
        assert torch.equal(tensor, remade.state_dict()[name]), name


def test_embedding_places_test_digits_and_projects_any_digit(tiny_data_dir):
    spec = models.preset("simple-nn")
    model, config = built(spec), TrainConfig(model=spec, dataset="mnist")
    state = torch.random.get_rng_state()
    placed = inside.embedding(model, config)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert placed.points.shape == (200, 2) and len(placed.labels) == 200  # the synthetic split holds 200
    first = inside.trace(model, config, inside.normalized(data.test_images("mnist", [int(placed.indices[5])])[0], "mnist"))
    np.testing.assert_allclose(placed.project(first.features), placed.points[5], atol=1e-4)
    np.testing.assert_array_equal(inside.embedding(model, config).points, placed.points)
    assert 0 < sum(placed.explained) <= 1
    assert 0 <= placed.misread_nearer_their_reading() <= 1


def test_embedding_places_the_first_hundred_test_digits_of_each_class(real_data_dir):
    """Issue 23.4: the 1,000 digits each epoch is scored on, in batches that fit a CPU's cache; 2,000 spread over the
    split took 15 s to place for the CNN preset on a busy server."""
    spec = models.preset("simple-nn")
    config = TrainConfig(model=spec, dataset="mnist-sample")
    placed = inside.embedding(built(spec), config)
    labels = data.load("mnist-sample").test_labels
    assert len(labels) == 10_000  # the real test split
    np.testing.assert_array_equal(placed.indices, evaluate.first_of_each_class(labels, 100).sort().values.numpy())
    assert np.bincount(placed.labels).tolist() == [100] * 10


def test_a_finished_run_keeps_its_embedding_so_the_page_does_not_make_it(tiny_data_dir, monkeypatch):
    """Issue 23.4: placing the test digits was a second and a half of opening Inside the network on a quiet machine;
    the worker that trained the run makes it as the run ends, where the model already is."""
    manager = jobs.JobManager(runs.RunStore())
    config = TrainConfig(dataset="mnist", model=models.preset("simple-nn"), epochs=1, batch_size=32, device="cpu")
    run_id = manager.submit(config)
    assert manager.wait(run_id, timeout=120).status == "done"
    run = manager.store.get(run_id)
    monkeypatch.setattr(inside, "shared_embedding", lambda checkpoint: pytest.fail("made again on the server"))
    kept = inside.run_embedding(manager.store, run)
    classifier = predict.load(run.checkpoint)
    made = inside.embedding(classifier.model, classifier.config)
    np.testing.assert_allclose(kept.points, made.points, atol=1e-4)
    np.testing.assert_array_equal(kept.indices, made.indices)
    assert kept.explained == pytest.approx(made.explained)
    manager.store.delete(run_id)
    assert manager.store.embedding_bytes(run_id) is None


def test_a_damaged_stored_embedding_is_made_again_from_the_weights(tiny_data_dir, monkeypatch):
    spec = models.preset("simple-nn")
    good = inside.embedding_bytes(built(spec), TrainConfig(model=spec, dataset="mnist"))
    assert inside.embedding_from_bytes(good).points.shape == (200, 2)
    for damaged in (b"not safetensors", good[: len(good) // 2]):
        with pytest.raises(DLCoreError, match="stored embedding"):
            inside.embedding_from_bytes(damaged)


def test_embedding_places_fewer_digits_for_costly_networks():
    assert inside.embed_count(TrainConfig(model=models.preset("simple-nn"))) == inside.EMBED_POINTS
    assert inside.embed_count(TrainConfig(model=LARGEST_CNN)) == 200


def test_a_run_records_a_snapshot_each_epoch_and_reads_its_strip(tiny_data_dir):
    manager = jobs.JobManager(runs.RunStore())
    config = TrainConfig(dataset="mnist", model=CNN_BN, epochs=2, batch_size=32, device="cpu")
    run_id = manager.submit(config)
    assert manager.wait(run_id, timeout=120).status == "done"
    assert manager.store.snapshot_epochs(run_id) == [1, 2]
    pictures = inside.stored_pictures(manager.store, run_id, 2)
    assert [p.layer for p in pictures] == ["conv1 3x3, 8", "conv2 3x3, 16"]
    history = inside.stored_histograms(manager.store, run_id)
    assert [epoch for epoch, _ in history] == [1, 2]
    assert all(h.gradient_counts for h in history[-1][1])
    strip = manager.trainer(run_id).strip()
    assert len(strip.labels) == 2 * 10 and strip.labels == sorted(strip.labels)
    assert strip.guesses is not None and len(strip.guesses) == 20 and strip.step > 0
    with pytest.raises(inside.DLCoreError, match="no snapshot"):
        inside.stored_pictures(manager.store, run_id, 3)
