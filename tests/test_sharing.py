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


def test_links_are_short_and_readable_in_the_schemas_field_names():
    assert sharing.to_query(TrainConfig(model=models.preset("cnn"), optimizer="sgd", lr=0.1)) == {
        "net": "cnn", "optimizer": "sgd", "lr": "0.1"}
    query = sharing.to_query(CUSTOM)
    assert query["conv"] == "32-k5-leaky-relu-max-same-bn_8-gelu-avg"
    assert query["dense"] == "128-leaky-relu-d0.25-bn_10-tanh"
    assert query["nesterov"] == "1" and query["weight_decay"] == "1e-05" and "seed" in query


def test_older_short_keys_are_read_as_their_fields_and_a_fields_own_key_wins():
    shared = sharing.from_query({"data": "fashion-mnist", "opt": "sgd", "wd": "0.01", "batch": "32"})
    assert (shared.config.dataset, shared.config.optimizer, shared.config.weight_decay, shared.config.batch_size) == (
        "fashion-mnist", "sgd", 0.01, 32)
    assert sharing.from_query({"opt": "sgd", "optimizer": "adamw"}).config.optimizer == "adamw"


def test_keys_a_page_does_not_use_are_named_in_one_sentence():
    assert sharing.unused_keys_note({"lr": "0.1", "present": "1", "run": "3"}, sharing.KEYS) == ""
    note = sharing.unused_keys_note({"colour": "red", "data": "spiral"}, ("lr",))
    assert note == "This page does not use colour=red, dataset=spiral from the link, so they were left out."
    many = sharing.unused_keys_note({f"k{i}": "x" * 300 for i in range(8)}, ())
    assert "and 3 more" in many and len(many) < 400  # long or many keys stay one readable sentence


def test_only_changes_from_the_base_are_written():
    base = TrainConfig(dataset="mnist", epochs=3)
    assert sharing.to_query(base.with_changes(lr=0.01), base) == {"net": "simple-nn", "lr": "0.01"}
    assert sharing.from_query({"net": "simple-nn", "lr": "0.01"}, base).config == base.with_changes(lr=0.01)


def test_unreadable_parts_fall_back_with_one_note():
    shared = sharing.from_query({"net": "cnn", "lr": "fast", "epochs": "2.5", "present": "1"})
    assert shared.config == TrainConfig(model=models.preset("cnn"))
    assert shared.note == ("Part of this link could not be used, so those settings are back to the starting setup: "
                           "lr ('fast'): not readable; epochs ('2.5'): not readable.")


@pytest.mark.parametrize("params, named", [
    ({"dense": "128-wobble", "opt": "sgd"}, "dense ('128-wobble')"),
    ({"net": "resnet", "opt": "sgd"}, "net ('resnet')"),
    ({"conv": "x", "dense": "8", "opt": "sgd"}, "conv ('x'): not readable; dense ('8'): not readable"),
])
def test_bad_network_parts_are_named(params, named):
    shared = sharing.from_query(params)
    assert shared.config == TrainConfig(optimizer="sgd")
    assert named in shared.note


@pytest.mark.parametrize("params, reason", [
    ({"dense": "99999"}, "dense ('99999'): The dense layer's field units cannot be 99999"),
    ({"opt": "lion"}, "optimizer ('lion'): Unknown optimizer 'lion'"),
    ({"momentum": "-1"}, "momentum ('-1'): The configuration's field momentum cannot be -1.0"),
    ({"momentum": "5"}, "momentum ('5'): The configuration's field momentum cannot be 5.0"),
    ({"lr": "nan"}, "lr ('nan'): The configuration's field lr cannot be nan"),
    ({"seed": "9" * 150}, "seed ('9999999999999999999999999999999999999999…'): The configuration's field seed"),
    ({"conv": "8-k7-max_8-k7-max_8-k7", "dense": "8"}, "shrinks the image"),
    ({"data": "<img src=x>"}, "dataset ('<img src=x>'): not readable"),
])
def test_each_unusable_part_is_named_with_its_reason_and_left_at_the_start(params, reason):
    base = TrainConfig(epochs=2)
    shared = sharing.from_query({**params, "epochs": "3"}, base)
    assert shared.config == base.with_changes(epochs=3)  # what could be used is used
    assert shared.note.startswith("Part of this link could not be used") and reason in shared.note


@pytest.mark.parametrize("params, reason", [
    ({"opt": "sgd", "momentum": "0", "nesterov": "1"}, "Nesterov momentum needs a momentum above 0"),
    ({"conv": "256-same-bn_256-same-bn_256-same-bn_256-same-bn", "dense": "_".join(["2048"] * 8), "batch": "8192"},
     "This run would need about"),
])
def test_a_combination_that_cannot_train_gives_the_starting_setup_and_the_reason(params, reason):
    base = TrainConfig(epochs=2)
    shared = sharing.from_query(params, base)
    assert shared.config == base
    assert shared.note.startswith("This link's setup was not used") and reason in shared.note


def test_a_missing_device_falls_back(monkeypatch):
    from dlcore import devices

    monkeypatch.setattr(devices, "device_status", lambda: {"cpu": "", "cuda": "no CUDA GPU was found", "mps": "no"})
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
