import pytest
import torch
from torch import nn

from dlcore import models
from dlcore.config import MAX_HIDDEN_LAYERS, MAX_UNITS, ConvBlock, DenseLayer, DLCoreError, ModelSpec


def _seed_simple_nn():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


def _seed_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10),
    )


@pytest.mark.parametrize("name, seed", [("simple-nn", _seed_simple_nn), ("cnn", _seed_cnn)])
def test_presets_reproduce_the_seed_networks(name, seed):
    torch.manual_seed(3)
    ours = models.build(models.preset(name))
    torch.manual_seed(3)
    theirs = seed()
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    ours.load_state_dict(theirs.state_dict())  # same layer order and names
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(ours(x), theirs(x))


def test_keras_mlp_is_784_128_10():
    assert [r.output_shape for r in models.describe(models.preset("keras-mlp")) if r.parameters] == [(128,), (10,)]
    assert models.count_parameters(models.build(models.preset("keras-mlp"))) == 784 * 128 + 128 + 128 * 10 + 10


def test_describe_reports_shapes_and_parameters():
    rows = models.describe(models.preset("cnn"))
    shapes = {r.name: r.output_shape for r in rows}
    assert shapes["conv1 3x3, 32"] == (32, 26, 26)
    assert shapes["maxpool 2x2"] == (64, 12, 12)
    assert rows[-1].output_shape == (10,)
    assert sum(r.parameters for r in rows) == models.count_parameters(models.build(models.preset("cnn"))) == 1_199_882


def test_options_build_working_layers():
    spec = ModelSpec("cnn", conv=(ConvBlock(8, 5, "gelu", "avg", "same", True),),
                     dense=(DenseLayer(32, "tanh", 0.2, True),))
    net = models.build(spec)
    kinds = {type(m) for m in net}
    assert {nn.BatchNorm2d, nn.AvgPool2d, nn.GELU, nn.Dropout, nn.BatchNorm1d, nn.Tanh} <= kinds
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("spec, words", [
    (ModelSpec(dense=tuple(DenseLayer(8) for _ in range(MAX_HIDDEN_LAYERS + 1))), "limit"),
    (ModelSpec(dense=(DenseLayer(MAX_UNITS + 1),)), "units"),
    (ModelSpec(dense=(DenseLayer(0),)), "units"),
    (ModelSpec(dense=(DenseLayer(8, dropout=1.0),)), "dropout"),
    (ModelSpec(dense=(DenseLayer(8, "softmax"),)), "elementwise"),
    (ModelSpec(dense=(DenseLayer(8, "nope"),)), "Unknown activation"),
    (ModelSpec("cnn"), "at least one conv"),
    (ModelSpec("cnn", conv=tuple(ConvBlock(4, 7, pool="max") for _ in range(3))), "shrinks"),
    (ModelSpec("cnn", conv=(ConvBlock(4, 4),)), "kernel"),
    (ModelSpec("rnn"), "kind"),
])
def test_bad_specs_are_refused_with_a_sentence(spec, words):
    with pytest.raises(DLCoreError, match=words):
        models.build(spec)


def test_unknown_preset():
    with pytest.raises(DLCoreError, match="simple-nn"):
        models.preset("resnet")
