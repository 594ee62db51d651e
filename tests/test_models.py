import pytest
import torch
from torch import nn

from dlcore import models
from dlcore.config import (
    MAX_CHANNELS, MAX_CONV_BLOCKS, MAX_HIDDEN_LAYERS, MAX_UNITS, ConvBlock, DenseLayer, DLCoreError, ModelSpec,
)


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
    ({"dense": [{"units": 8}] * (MAX_HIDDEN_LAYERS + 1)}, "at most 8"),
    ({"dense": [{"units": MAX_UNITS + 1}]}, "dense.1..units"),
    ({"dense": [{"units": 0}]}, "units"),
    ({"dense": [{"units": 8, "dropout": 1.0}]}, "dropout"),
    ({"dense": [{"units": 8, "activation": "softmax"}]}, "elementwise"),
    ({"dense": [{"units": 8, "activation": "nope"}]}, "Unknown activation"),
    ({"kind": "cnn"}, "at least one conv"),
    ({"kind": "cnn", "conv": [{"channels": 4, "kernel": 7, "pool": "max"}] * 3}, "shrinks"),
    ({"kind": "cnn", "conv": [{"channels": 4, "kernel": 4}]}, "kernel"),
    ({"kind": "vit"}, "kind"),
    ({"dense": [{"units": "16"}]}, "valid integer"),
])
def test_bad_specs_are_refused_with_a_sentence(spec, words):
    with pytest.raises(DLCoreError, match=words):
        models.build(ModelSpec.from_dict(spec))


def test_describe_agrees_with_the_network_it_builds_and_allocates_nothing():
    spec = ModelSpec.from_dict({"kind": "cnn", "conv": [
        {"channels": 8, "kernel": 5, "activation": "gelu", "pool": "avg", "padding": "same", "batch_norm": True},
        {"channels": 4, "pool": "max"}], "dense": [{"units": 32, "activation": "tanh", "dropout": 0.2, "batch_norm": True}]})
    x, shapes = torch.zeros(1, 1, 28, 28), []
    net = models.build(spec).eval()
    for module in net:
        x = module(x)
        shapes.append(tuple(x.shape[1:]))
    rows = models.describe(spec)
    assert [r.output_shape for r in rows] == shapes
    assert [r.parameters for r in rows] == [models.count_parameters(m) for m in net]
    biggest = _largest_legal_spec()  # 442M weights: building it would take gigabytes
    assert sum(r.parameters for r in models.describe(biggest)) > 400_000_000


def _largest_legal_spec() -> ModelSpec:
    return ModelSpec.from_dict({"kind": "cnn", "conv": [{"channels": MAX_CHANNELS, "padding": "same", "batch_norm": True}] * MAX_CONV_BLOCKS,
                                "dense": [{"units": MAX_UNITS}] * MAX_HIDDEN_LAYERS})


def test_memory_estimate_grows_with_batch_and_optimizer_state_and_is_near_a_real_step():
    small = models.estimate_memory(models.preset("simple-nn"), 64, 2, 2048)
    assert models.estimate_memory(models.preset("simple-nn"), 512, 2, 2048).activations == 8 * small.activations
    assert models.estimate_memory(models.preset("simple-nn"), 64, 0, 2048).optimizer_state < small.optimizer_state
    huge = models.estimate_memory(_largest_legal_spec(), 8192, 2, 2048)
    assert huge.total() > 50 * 2**30  # the measurement: about 75 GB, which took the server down
    weights = 442_213_642 * 4
    assert 2 * weights <= huge.weights + huge.optimizer_state


def test_unknown_preset():
    with pytest.raises(DLCoreError, match="simple-nn"):
        models.preset("resnet")
