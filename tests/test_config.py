import json

import pytest

from dlcore import models
from dlcore.config import ConvBlock, DenseLayer, DLCoreError, ModelSpec, TrainConfig


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
