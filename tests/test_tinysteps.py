"""The 2-D playground's compiled steps against the NumPy steps they replace (which tests/test_toy.py checks against
torch.optim and autograd): every optimizer, output, activation and penalty, a last batch shorter than the rest."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcore import loop, tinysteps, toy
from dlcore.config import ToyConfig

pytestmark = pytest.mark.skipif(not tinysteps.available, reason="numba is not installed")


def lanes(config: ToyConfig, **changes) -> tuple[loop.Lane, loop.Lane]:
    train = toy.lane_config(config).with_changes(**changes)
    compiled, stepped = (loop.Lane(train, torch.device("cpu"), 100, lambda: toy.build(config)) for _ in range(2))
    assert compiled.compiled and stepped.compiled
    return compiled, stepped


@pytest.mark.parametrize("optimizer, lr, momentum, decay, nesterov", [
    ("sgd", 0.03, 0.0, 0.0, False), ("sgd", 0.03, 0.9, 0.0, True), ("adam", 0.01, 0.0, 0.0, False),
    ("adamw", 0.01, 0.0, 0.01, False), ("rmsprop", 0.001, 0.9, 0.0, False), ("adagrad", 0.03, 0.0, 0.001, False),
])
@pytest.mark.parametrize("dataset, loss, activation, regularization", [
    ("spiral", "squared-error", "tanh", "none"), ("xor", "cross-entropy", "relu", "l1"),
    ("multi-gauss", "squared-error", "sigmoid", "l2"), ("circle", "squared-error", "linear", "l2"),
])
def test_an_epoch_of_compiled_steps_ends_where_the_numpy_steps_do(optimizer, lr, momentum, decay, nesterov, dataset,
                                                                   loss, activation, regularization):
    config = ToyConfig(dataset=dataset, loss=loss, activation=activation, regularization=regularization,
                       reg_rate=0.003 if regularization != "none" else 0.0, hidden=(8, 5), features=("x1", "x2", "sinx1"),
                       optimizer=optimizer, lr=lr, momentum=momentum, batch_size=7, points=200)
    compiled, stepped = lanes(config, weight_decay=decay, nesterov=nesterov)
    x, y = (t.numpy() for t in toy._tensors(config, toy.make_points(config))[:2])
    order = np.random.default_rng(0).permutation(len(y))
    for _ in range(3):  # epochs: the optimizer's state carries over
        compiled.compiled_steps(x, y, order, 0, len(y), 7)
        for first in range(0, len(y), 7):
            index = order[first : first + 7]
            stepped.step(x[index], y[index], len(index))
    assert compiled.steps == stepped.steps == 3 * 15  # 100 training points: 14 batches of 7 and one of 2
    assert np.allclose(compiled.model.flat.detach().numpy(), stepped.model.flat.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert np.allclose(compiled.take_pending().numpy(), stepped.take_pending().numpy(), rtol=1e-4, atol=1e-5,
                       equal_nan=True)
    assert compiled.rules.t == stepped.rules.t


def test_the_loop_trains_an_epoch_in_one_call_and_learns_as_the_numpy_steps_do(monkeypatch):
    config = ToyConfig(dataset="xor", optimizer="sgd", lr=0.03, epochs=30)
    fast = toy.train(config)
    monkeypatch.setattr(tinysteps, "available", False)
    slow = toy.train(config)
    assert fast["test_accuracy"] == slow["test_accuracy"]
    assert fast["test_loss"] == pytest.approx(slow["test_loss"], rel=1e-3)


def test_a_network_wider_than_its_buffers_is_stepped_in_numpy():
    assert tinysteps.fits(np.array([7, 8, 8, 1])) and not tinysteps.fits(np.array([2, tinysteps.MAX_WIDTH + 1, 1]))


def test_a_scheduled_rate_steps_batch_by_batch():
    """The compiled steps take one rate for a whole run of batches: a schedule that changes it keeps the NumPy steps."""
    config = ToyConfig()
    lane = loop.Lane(toy.lane_config(config).with_changes(schedule="cosine"), torch.device("cpu"), 100,
                     lambda: toy.build(config))
    assert lane.rules is not None and not lane.compiled
