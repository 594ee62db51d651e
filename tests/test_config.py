import json

import pytest

from dlcore import models
from dlcore.config import (
    MAX_EPOCHS, MAX_LR, MAX_MOMENTUM, MAX_UNITS, ConvBlock, DenseLayer, DLCoreError, ModelSpec, TrainConfig, bounds,
)


def test_train_config_round_trips_through_json():
    config = TrainConfig(dataset="fashion-mnist", model=models.preset("cnn"), optimizer="sgd", lr=0.05,
                         nesterov=True, schedule="onecycle", loss="mse", batch_size=128, epochs=3, seed=7)
    again = TrainConfig.from_json(config.to_json())
    assert again == config
    assert isinstance(again.model.conv[0], ConvBlock) and isinstance(again.model.dense, tuple)


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        TrainConfig().lr = 1.0


def test_unknown_keys_are_ignored_so_old_runs_keep_loading():
    data = TrainConfig().to_dict()
    data["from_the_future"] = 1
    data["model"]["dense"][0]["colour"] = "blue"
    assert TrainConfig.from_dict(data) == TrainConfig()


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", json.dumps({"epochs": {"a": 1}, "model": 3})])
def test_bad_json_is_one_sentence(text):
    with pytest.raises(DLCoreError) as info:
        TrainConfig.from_json(text)
    assert str(info.value).endswith((".", ")."))


def test_with_changes_skips_unset_flags():
    config = TrainConfig().with_changes(lr=None, epochs=9)
    assert config.epochs == 9 and config.lr == TrainConfig().lr


def test_summary_names_the_network():
    assert ModelSpec("mlp", dense=(DenseLayer(128), DenseLayer(64))).summary() == "MLP 128-64 relu"
    assert models.preset("cnn").summary() == "CNN 32-64 / 128"


@pytest.mark.parametrize("changes, named", [
    ({"model": {"dense": [{"units": "16"}]}}, "model.dense[1].units cannot be '16'"),
    ({"lr": "0.001"}, "lr cannot be '0.001'"),
    ({"momentum": "fast"}, "momentum cannot be 'fast'"),
    ({"momentum": 5}, "momentum cannot be 5"),
    ({"epochs": True}, "epochs cannot be True"),
    ({"epochs": 0}, "epochs cannot be 0"),
    ({"batch_size": 10**6}, "batch_size cannot be 1000000"),
    ({"weight_decay": -1}, "weight_decay cannot be -1"),
    ({"nesterov": "yes"}, "nesterov cannot be 'yes'"),
    ({"optimizer": "'; import os"}, "optimizer cannot be"),
    ({"model": {"kind": "cnn", "conv": [{"channels": 8, "kernel": 4}]}}, "model.conv[1].kernel cannot be 4"),
    ({"model": {"dense": [{"units": 8, "dropout": 0.95}]}}, "model.dense[1].dropout cannot be 0.95"),
    ({"model": {"dense": [{}]}}, "model.dense[1].units is missing"),
    ({"model": []}, "model cannot be []"),
])
def test_every_way_in_checks_types_and_bounds_and_names_the_field(changes, named):
    data = {**TrainConfig().to_dict(), **changes}
    for make in (lambda: TrainConfig.from_json(json.dumps(data)), lambda: TrainConfig.from_dict(data)):
        with pytest.raises(DLCoreError, match="^The configuration's field ") as info:
            make()
        assert named in str(info.value) and str(info.value).endswith(".")


def test_costly_json_is_refused_with_a_sentence_before_it_costs_anything():
    digits = '{"seed": ' + "9" * 5000 + "}"  # Python's int() refuses 4,300+ digits with a ValueError
    with pytest.raises(DLCoreError, match="field seed cannot be '99999"):
        TrainConfig.from_json(digits)
    with pytest.raises(DLCoreError, match="nested too deeply"):
        TrainConfig.from_json('{"model": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(DLCoreError, match="characters long"):
        TrainConfig.from_json('{"dataset": "' + "x" * 200_000 + '"}')


def test_direct_construction_and_changes_are_checked_too():
    with pytest.raises(DLCoreError, match="dense layer's field units cannot be 5000"):
        DenseLayer(5000)
    with pytest.raises(DLCoreError, match="field lr cannot be -1"):
        TrainConfig().with_changes(lr=-1)
    assert TrainConfig(model={"dense": [{"units": 3}]}).model.dense == (DenseLayer(3),)


def test_bounds_come_from_the_schema():
    assert bounds(TrainConfig, "epochs") == (1, MAX_EPOCHS)
    assert bounds(TrainConfig, "momentum") == (0.0, MAX_MOMENTUM)
    assert bounds(TrainConfig, "lr") == (0.0, MAX_LR)  # above 0: the lower bound is open
    assert bounds(DenseLayer, "units") == (1, MAX_UNITS)
