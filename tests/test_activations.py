"""The activation registry against torch's reference functions, autograd slopes against finite differences,
and the gradient-flow measurement against what theory says it must show."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dlcore import activations
from dlcore.config import DLCoreError

# name -> (reference function of (x, **params), non-default parameters to check the wiring with)
REFERENCES = {
    "relu": (lambda x: F.relu(x), {}),
    "leaky-relu": (lambda x, slope=0.01: F.leaky_relu(x, slope), {"slope": 0.2}),
    "elu": (lambda x, alpha=1.0: F.elu(x, alpha), {"alpha": 2.5}),
    "selu": (lambda x: F.selu(x), {}),
    "gelu": (lambda x: F.gelu(x), {}),
    "silu": (lambda x: F.silu(x), {}),
    "mish": (lambda x: F.mish(x), {}),
    "softplus": (lambda x, beta=1.0: F.softplus(x, beta), {"beta": 3.0}),
    "sigmoid": (lambda x: torch.sigmoid(x), {}),
    "tanh": (lambda x: torch.tanh(x), {}),
    "hardtanh": (lambda x: F.hardtanh(x), {}),
    "hardswish": (lambda x: F.hardswish(x), {}),
    "softmax": (lambda x: F.softmax(x, dim=-1), {}),
}
# Where a piecewise function has a kink, a finite difference straddling it is meaningless.
KINKS = {"relu": [0], "leaky-relu": [0], "elu": [0], "selu": [0], "hardtanh": [-1, 1], "hardswish": [-3, 3]}
X = torch.linspace(-6, 6, 241, dtype=torch.float64)


def test_registry_is_the_issue_list_and_hidden_excludes_softmax():
    assert set(activations.ACTIVATIONS) == set(REFERENCES)
    assert "softmax" not in activations.HIDDEN_ACTIVATIONS
    assert len(activations.HIDDEN_ACTIVATIONS) == len(REFERENCES) - 1


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_match_torch_reference(name):
    reference, params = REFERENCES[name]
    activation = activations.get(name)
    torch.testing.assert_close(activation.module()(X), reference(X))
    if params:
        torch.testing.assert_close(activation.module(**params)(X), reference(X, **params))
        assert not torch.allclose(activation.module(**params)(X), activation.module()(X))


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_every_activation_explains_itself(name):
    activation = activations.get(name)
    assert activation.title and activation.output_range and activation.note.endswith(".")
    assert "\\" in activation.formula or "=" in activation.formula
    assert set(activation.params) <= set(activations.PARAMETERS)
    for param, default in activation.params.items():
        limits = activations.PARAMETERS[param]
        assert limits.low <= default <= limits.high


def test_output_ranges_hold_on_a_wide_grid():
    x = torch.linspace(-50, 50, 2001)
    assert activations.get("sigmoid").module()(x).min() >= 0
    assert activations.get("tanh").module()(x).abs().max() <= 1
    assert activations.get("elu").module(alpha=2.0)(x).min() >= -2.0
    assert activations.get("hardswish").module()(x).min() == pytest.approx(-0.375, abs=1e-3)
    assert activations.get("gelu").module()(x).min() == pytest.approx(-0.17, abs=0.01)


@pytest.mark.parametrize("name", activations.HIDDEN_ACTIVATIONS)
def test_autograd_derivative_matches_finite_differences(name):
    _, params = REFERENCES[name]
    h = 1e-6
    x = X + 0.0123  # keeps grid points off the kinks at integers
    far = torch.ones_like(x, dtype=torch.bool)
    for kink in KINKS.get(name, []):
        far &= (x - kink).abs() > 10 * h
    y, dy = activations.curve(name, x, **params)
    module = activations.get(name).module(**params)
    numeric = (module(x + h) - module(x - h)) / (2 * h)
    torch.testing.assert_close(dy[far], numeric[far], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(y, module(x))


def test_known_derivatives():
    _, dy = activations.curve("sigmoid", torch.tensor([0.0]))
    assert dy.item() == pytest.approx(0.25)
    _, dy = activations.curve("leaky-relu", torch.tensor([-2.0, 2.0]), slope=0.3)
    assert dy.tolist() == pytest.approx([0.3, 1.0])


def test_curve_points_are_plain_lists():
    x, y, dy = activations.curve_points("relu", -2, 2, points=5)
    assert x == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert y == [0.0, 0.0, 0.0, 1.0, 2.0]
    assert dy[0] == 0.0 and dy[-1] == 1.0
    assert all(type(v) is float for v in x + y + dy)


@pytest.mark.parametrize("low, high", [(1, 1), (2, -2), (float("nan"), 1), (0, float("inf"))])
def test_curve_points_reject_a_bad_range(low, high):
    with pytest.raises(DLCoreError, match="x range"):
        activations.curve_points("relu", low, high)


def test_curve_refuses_softmax_and_bad_parameters():
    with pytest.raises(DLCoreError, match="softmax"):
        activations.curve("softmax", X)
    with pytest.raises(DLCoreError, match="between"):
        activations.curve("softplus", X, beta=0.0)
    with pytest.raises(DLCoreError, match="no parameter"):
        activations.curve("relu", X, slope=0.1)
    with pytest.raises(DLCoreError, match="Unknown activation"):
        activations.get("swish2")


def test_softmax_temperature():
    logits = [2.0, 1.0, 0.0]
    plain = activations.probabilities(logits)
    assert sum(plain) == pytest.approx(1.0)
    reference = F.softmax(torch.tensor(logits, dtype=torch.float64), dim=0)
    torch.testing.assert_close(torch.tensor(plain, dtype=torch.float64), reference)
    sharp, flat = activations.probabilities(logits, 0.1), activations.probabilities(logits, 100.0)
    assert sharp[0] > 0.99
    assert max(flat) - min(flat) < 0.01
    assert activations.probabilities([1e4, 0.0]) == pytest.approx([1.0, 0.0])  # no overflow


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_softmax_rejects_bad_temperature(temperature):
    with pytest.raises(DLCoreError, match="temperature"):
        activations.probabilities([1.0, 2.0], temperature)
    with pytest.raises(DLCoreError, match="temperature"):
        activations.softmax(torch.tensor([1.0, 2.0]), temperature)


@pytest.mark.parametrize("logits", [[], [1.0, None], [1.0, float("nan")], [0.0] * 51])
def test_softmax_rejects_bad_logits(logits):
    with pytest.raises(DLCoreError, match="logit"):
        activations.probabilities(logits)


def test_random_logits_are_reproducible():
    first = activations.random_logits(10, seed=3)
    assert first == activations.random_logits(10, seed=3)
    assert first != activations.random_logits(10, seed=4)
    assert len(first) == 10 and len(set(first)) > 1


@pytest.fixture(scope="module")
def batch():
    from dlcore.data import sample_batch

    return sample_batch("mnist-sample", 64, seed=0)


def flow(batch, name, depth=20, **kwargs):
    images, labels = batch
    return activations.gradient_flow(name, depth, 64, images, labels, **kwargs)


def test_sigmoid_gradient_vanishes_and_relu_does_not(batch):
    sigmoid, relu = flow(batch, "sigmoid"), flow(batch, "relu")
    assert len(sigmoid.grad_norms) == 21 and sigmoid.depth == 20
    assert sigmoid.first_to_last < 1e-6  # orders of magnitude
    assert 0.1 < relu.first_to_last < 10
    assert "vanishes" in sigmoid.explain() and "Sigmoid, 20 hidden layers" in sigmoid.explain()
    assert "similar size" in relu.explain()
    shallow = flow(batch, "sigmoid", depth=2)
    assert shallow.first_to_last > 1e3 * sigmoid.first_to_last  # the shrinking grows with depth


def test_every_init_shows_sigmoid_vanishing(batch):
    for init in activations.INITS:
        assert flow(batch, "sigmoid", init=init).first_to_last < 1e-3, init


def test_pytorch_default_init_makes_even_relu_vanish_when_deep(batch):
    assert flow(batch, "relu", init="pytorch").first_to_last < 1e-3


def test_large_weights_make_tanh_explode(batch):
    exploding = flow(batch, "tanh", gain=3.0)
    assert exploding.first_to_last > 1e2
    assert "explodes" in exploding.explain()


def test_dead_units(batch):
    relu, leaky, sigmoid = flow(batch, "relu"), flow(batch, "leaky-relu"), flow(batch, "sigmoid")
    assert len(relu.dead_share) == 20
    assert all(0 <= share <= 1 for share in relu.dead_share)
    assert relu.dead_share[0] < 0.1  # real digits vary enough to wake almost every first-layer unit
    assert max(relu.dead_share) > 0.05  # deeper, the signal narrows and whole ReLU units go silent
    assert max(leaky.dead_share) == 0 and max(sigmoid.dead_share) == 0  # their outputs are never exactly 0
    assert "dead" in relu.explain() and "dead" not in sigmoid.explain()


def test_measurement_is_reproducible(batch):
    assert flow(batch, "gelu", depth=5) == flow(batch, "gelu", depth=5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depth": 1}, "depth"), ({"depth": 31}, "depth"), ({"width": 0}, "width"), ({"width": 5000}, "width"),
        ({"init": "zeros"}, "initialisation"), ({"gain": 0.0}, "weight scale"), ({"name": "softmax"}, "output"),
        ({"name": "nope"}, "Unknown activation"),
    ],
)
def test_gradient_flow_rejects_bad_settings(batch, kwargs, message):
    settings = {"name": "relu", "depth": 3, "width": 8, **kwargs}
    with pytest.raises(DLCoreError, match=message):
        name, depth, width = settings.pop("name"), settings.pop("depth"), settings.pop("width")
        activations.gradient_flow(name, depth, width, *batch, **settings)


def test_measure_gradient_flow_uses_real_digits():
    result = activations.measure_gradient_flow("relu", 3, 16, batch_size=32)
    assert len(result.grad_norms) == 4 and all(math.isfinite(v) and v > 0 for v in result.grad_norms)


def test_explain_handles_a_gradient_that_underflows():
    underflow = activations.GradientFlow("sigmoid", [0.0, 1e-3, 0.5], [0.0, 0.0])
    assert "exactly 0" in underflow.explain()
    nothing = activations.GradientFlow("relu", [0.0, 0.0, 0.0], [0.0, 1.0])
    assert "no layer gets any gradient" in nothing.explain()
