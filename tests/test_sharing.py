"""Setup links: every valid setup survives the round trip, links stay short, bad links fall back with a sentence."""

import pytest

from dlcore import models, sharing
from dlcore.config import ConvBlock, DenseLayer, ModelSpec, TrainConfig

CUSTOM = TrainConfig(
    dataset="fashion-mnist", optimizer="sgd", lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-5,
    schedule="onecycle", loss="mse", batch_size=128, epochs=3, seed=7, device="cpu",
    model=ModelSpec("cnn",
                    conv=(ConvBlock(32, kernel=5, activation="leaky-relu", pool="max", padding="same", batch_norm=True),
                          ConvBlock(8, activation="gelu", pool="avg")),
                    dense=(DenseLayer(128, "leaky-relu", 0.25, True), DenseLayer(10, "tanh"))),
)


@pytest.mark.parametrize("config", [
    TrainConfig(), CUSTOM, TrainConfig(model=models.preset("cnn"), lr=3e-4),
    TrainConfig(model=ModelSpec(dense=())), TrainConfig(model=ModelSpec(dense=(DenseLayer(2048, "softplus", 0.5),))),
])
def test_round_trip(config):
    shared = sharing.from_query(sharing.to_query(config))
    assert shared.config == config and shared.note == ""


def test_links_are_short_and_readable():
    assert sharing.to_query(TrainConfig(model=models.preset("cnn"), optimizer="sgd", lr=0.1)) == {
        "net": "cnn", "opt": "sgd", "lr": "0.1"}
    query = sharing.to_query(CUSTOM)
    assert query["conv"] == "32-k5-leaky-relu-max-same-bn_8-gelu-avg"
    assert query["dense"] == "128-leaky-relu-d0.25-bn_10-tanh"
    assert query["nesterov"] == "1" and query["wd"] == "1e-05" and "seed" in query


def test_only_changes_from_the_base_are_written():
    base = TrainConfig(dataset="mnist", epochs=3)
    assert sharing.to_query(base.with_changes(lr=0.01), base) == {"net": "simple-nn", "lr": "0.01"}
    assert sharing.from_query({"net": "simple-nn", "lr": "0.01"}, base).config == base.with_changes(lr=0.01)


def test_unreadable_parts_fall_back_with_one_note():
    shared = sharing.from_query({"net": "cnn", "lr": "fast", "epochs": "2.5", "present": "1"})
    assert shared.config == TrainConfig(model=models.preset("cnn"))
    assert shared.note == "This link's lr ('fast') and epochs ('2.5') could not be read, so those settings are back to the starting setup."


@pytest.mark.parametrize("params, named", [
    ({"dense": "128-wobble", "opt": "sgd"}, "dense ('128-wobble')"),
    ({"net": "resnet", "opt": "sgd"}, "net ('resnet')"),
    ({"conv": "x", "dense": "8", "opt": "sgd"}, "conv ('x') and dense ('8')"),
])
def test_bad_network_parts_are_named(params, named):
    shared = sharing.from_query(params)
    assert shared.config == TrainConfig(optimizer="sgd")
    assert named in shared.note


@pytest.mark.parametrize("params, reason", [
    ({"dense": "99999"}, "99999 units"),
    ({"opt": "lion"}, "Unknown optimizer 'lion'"),
    ({"opt": "sgd", "momentum": "-1"}, "momentum"),
    ({"lr": "nan"}, "learning rate"),
    ({"conv": "8-k7-max_8-k7-max_8-k7", "dense": "8"}, "shrinks the image"),
])
def test_invalid_setup_gives_the_starting_setup_and_the_reason(params, reason):
    base = TrainConfig(epochs=2)
    shared = sharing.from_query(params, base)
    assert shared.config == base
    assert shared.note.startswith("This link's setup was not used") and reason in shared.note


def test_a_missing_device_falls_back(monkeypatch):
    from dlcore import training

    monkeypatch.setattr(training, "device_status", lambda: {"cpu": "", "cuda": "no CUDA GPU was found", "mps": "no"})
    shared = sharing.from_query({"device": "cuda", "epochs": "2"})
    assert shared.config == TrainConfig(epochs=2) and "cuda is not here (no CUDA GPU was found)" in shared.note


def test_overlong_values_are_refused_and_lists_use_the_last_value():
    shared = sharing.from_query({"dense": "8_" * 200 + "8", "lr": ["0.1", "0.2"]})
    assert shared.config.lr == 0.2 and shared.config.model == TrainConfig().model
    assert "dense" in shared.note and "…" in shared.note


def test_summaries():
    assert sharing.optimizer_summary(CUSTOM) == "SGD lr 0.05 m 0.8 Nesterov wd 1e-05"
    assert sharing.optimizer_summary(TrainConfig()) == "Adam lr 0.001"
    assert sharing.summary(TrainConfig(epochs=1)) == "MLP 128-64 relu · Adam lr 0.001 · batch 64 · 1 epoch"
    assert "onecycle" in sharing.summary(CUSTOM) and "mse loss" in sharing.summary(CUSTOM)
