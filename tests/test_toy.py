"""The 2-D playground's engine: TF Playground's datasets, the features, the network against PyTorch as the oracle,
the issue's accuracy targets, and the page's playground thread."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from dlcore import DLCoreError, jobs, loop, optim, toy
from dlcore.config import ToyConfig


@pytest.fixture(autouse=True)
def one_thread():
    """The policy the toy command runs under (a team of threads for a 10x8 matrix is slower, 5x on 2 cores)."""
    threads = torch.get_num_threads()
    jobs.tiny_work_threads()
    yield
    torch.set_num_threads(threads)


def points(**changes) -> toy.Points:
    return toy.make_points(ToyConfig(**changes))


def everything(p: toy.Points) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p.train_xy, p.test_xy]), np.concatenate([p.train_y, p.test_y])


def test_circle_is_tf_playgrounds_blue_disc_inside_an_orange_ring():
    xy, y = everything(points(dataset="circle"))
    r = np.hypot(xy[:, 0], xy[:, 1])
    assert len(y) == 500 and y.sum() == 250
    assert r[y == 1].max() <= 2.5 and r[y == 0].min() >= 3.5 and r.max() <= 5


def test_xor_labels_by_quadrant_with_a_gap_along_the_axes():
    xy, y = everything(points(dataset="xor"))
    assert np.abs(xy).min() >= 0.3 and np.abs(xy).max() <= 5.3
    assert (y == (xy[:, 0] * xy[:, 1] >= 0)).all()


def test_gauss_centres_and_tf_playgrounds_variance_scale():
    xy, y = everything(points(dataset="gauss", points=1000))
    assert np.allclose(xy[y == 1].mean(0), [2, 2], atol=0.15) and np.allclose(xy[y == 0].mean(0), [-2, -2], atol=0.15)
    assert xy[y == 1].var(0).mean() == pytest.approx(0.5, rel=0.2)
    noisy, labels = everything(points(dataset="gauss", points=1000, noise=50))
    assert noisy[labels == 1].var(0).mean() == pytest.approx(4.0, rel=0.2)


def test_spiral_arms_wind_out_to_radius_five_and_noise_is_uniform_in_its_units():
    xy, y = everything(points(dataset="spiral"))
    assert np.hypot(xy[:, 0], xy[:, 1]).max() < 5 and y.sum() == 250
    clean, noisy = points(dataset="spiral"), points(dataset="spiral", noise=50)
    shift = np.abs(everything(noisy)[0] - everything(clean)[0])
    assert 0.4 < shift.max() <= 0.5  # TF: uniform(-1, 1) x noise, noise 50 % -> at most 0.5


def test_plane_values_are_tf_playgrounds_x_plus_y_over_ten_and_noise_moves_the_value_not_the_point():
    xy, values = everything(points(dataset="plane"))
    assert values.dtype == np.float32 and np.abs(xy).max() <= 6 and np.allclose(values, xy.sum(1) / 10, atol=1e-6)
    noisy_xy, noisy = everything(points(dataset="plane", noise=50))
    assert np.array_equal(noisy_xy, xy) and not np.allclose(noisy, values)


def test_multi_gauss_is_six_signed_bumps_of_radius_two_each_point_taking_the_largest():
    xy, values = everything(points(dataset="multi-gauss", points=1000))
    distance = np.linalg.norm(xy[:, None] - toy.GAUSSIANS, axis=2)
    nearest = distance.argmin(1)
    near = distance.min(1) < 2
    assert np.allclose(values[near], toy.GAUSSIAN_SIGNS[nearest[near]] * (1 - distance.min(1)[near] / 2), atol=1e-5)
    assert np.all(values[~near] == 0) and values.max() > 0.8 and values.min() < -0.8


def test_a_regression_learns_its_values_with_a_linear_output_and_has_no_accuracy():
    result = toy.train(ToyConfig(dataset="plane", optimizer="sgd", lr=0.03, epochs=20))
    assert result["test_accuracy"] is None and result["test_loss"] < 0.01 and result["status"] == "done"
    net = toy.build(ToyConfig(dataset="plane"))
    assert net.shapes[-1] == (1, 2) and not net.tanh_output  # TF Playground's linear output: values may pass ±1


def test_a_regression_with_cross_entropy_is_refused_in_a_sentence():
    with pytest.raises(DLCoreError, match="^Plane is a regression: each point has a value, not a class, so it trains "
                                          "with squared error"):
        toy.train(ToyConfig(dataset="plane", loss="cross-entropy"))
    with pytest.raises(DLCoreError, match="Multi-gaussian is a regression"):
        toy.from_link({"dataset": "multi-gauss", "loss": "cross-entropy"})


def test_noise_flips_circle_labels_but_never_moves_points():
    clean, noisy = points(dataset="circle"), points(dataset="circle", noise=50)
    assert np.array_equal(everything(clean)[0], everything(noisy)[0])
    assert 0 < (everything(clean)[1] != everything(noisy)[1]).mean() < 0.5


def test_moons_fill_tf_playgrounds_square():
    xy, y = everything(points(dataset="moons"))
    assert xy[:, 0].min() == pytest.approx(-6, abs=0.01) and xy[:, 0].max() == pytest.approx(6, abs=0.01)
    assert y.sum() == 250


def test_the_split_follows_the_train_ratio_and_the_seed():
    p = points(train_ratio=0.3)
    assert (len(p.train_y), len(p.test_y)) == (150, 350)
    assert np.array_equal(points(seed=1).train_xy, points(seed=1).train_xy)
    assert not np.array_equal(points(seed=1).train_xy, points(seed=2).train_xy)


def test_features_are_computed_in_tf_playgrounds_order():
    xy = np.array([[1.0, 2.0]], dtype=np.float32)
    names = toy.used_features(ToyConfig(features=("sinx2", "x1", "x1x2", "x1")))
    assert names == ["x1", "x1x2", "sinx2"]
    assert np.allclose(toy.features(xy, names), [[1.0, 2.0, np.sin(2.0)]])


def reference(net: toy.ToyNet) -> nn.Sequential:
    """The same network written the usual way, holding copies of its weights."""
    activation = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "linear": nn.Identity}[net.activation]
    layers = []
    for i, (weight, bias) in enumerate(zip(net.weights, net.biases)):
        linear = nn.Linear(weight.shape[1], weight.shape[0])
        linear.weight.data, linear.bias.data = torch.tensor(weight), torch.tensor(bias)
        layers += [linear] + ([activation()] if i < len(net.weights) - 1 else [])
    return nn.Sequential(*layers)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
@pytest.mark.parametrize("regularization", ["none", "l1", "l2"])
@pytest.mark.parametrize("output", toy.OUTPUTS)
def test_the_network_and_its_gradient_match_pytorchs_own(activation, regularization, output):
    net = toy.ToyNet(3, (5, 4), activation, seed=1, regularization=regularization, reg_rate=0.1, output=output)
    oracle = reference(net)
    x, y = torch.randn(7, 3), torch.tensor([0, 1, 1, 0, 1, 0, 0])
    loss = "cross-entropy" if output == "logits" else "squared-error"
    if output == "tanh":  # TF Playground's classifier: one tanh output against +1 (blue) and -1
        oracle.append(nn.Tanh())
        criterion = lambda out, labels: 0.5 * ((out[:, 0] - (2 * labels - 1)) ** 2).mean()  # noqa: E731
    elif output == "linear":  # its regressor: one linear output against each point's value
        y = torch.rand(7) * 2 - 1
        criterion = lambda out, values: 0.5 * ((out[:, 0] - values) ** 2).mean()  # noqa: E731
    else:
        criterion = nn.functional.cross_entropy
    optim_loss = optim.make_loss(loss)
    optim_loss(net(x), y).backward()
    reference_loss = criterion(oracle(x), y)
    assert optim_loss(oracle(x), y).item() == pytest.approx(reference_loss.item())
    weights = [layer.weight for layer in oracle if isinstance(layer, nn.Linear)]
    if regularization == "l1":
        reference_loss = reference_loss + 0.1 * sum(w.abs().sum() for w in weights)
    elif regularization == "l2":
        reference_loss = reference_loss + 0.1 * sum((w * w).sum() for w in weights) / 2
    reference_loss.backward()
    assert torch.allclose(net(x), oracle(x), atol=1e-6)
    expected = torch.cat([t.grad.flatten() for layer in oracle if isinstance(layer, nn.Linear)
                          for t in (layer.weight, layer.bias)])
    assert torch.allclose(net.flat.grad, expected, atol=1e-5)


def test_the_first_weights_follow_the_seed():
    config = ToyConfig(hidden=(8, 8))
    assert torch.equal(toy.build(config).flat, toy.build(config).flat)
    assert not torch.equal(toy.build(config).flat, toy.build(config.with_changes(seed=1)).flat)


def test_a_short_run_learns_and_reports_the_clis_figures():
    result = toy.train(ToyConfig(dataset="gauss", epochs=5))
    assert result["test_accuracy"] > 0.95 and result["epochs"] == 5 and result["status"] == "done"
    assert 0 < result["test_loss"] < 0.7 and result["train_loss"] > 0 and result["seconds"] > 0


def test_an_unknown_optimizer_is_a_sentence():
    with pytest.raises(DLCoreError, match="Unknown optimizer 'lbfgs'"):
        toy.train(ToyConfig(optimizer="lbfgs"))


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["circle", "xor", "gauss"])
def test_two_layers_of_four_learn_the_simple_sets_as_tf_playground_does(dataset):
    """The issue's targets with Adam, on cross-entropy as the plain loop in bench/toy_speed.py trains."""
    result = toy.train(ToyConfig(dataset=dataset, hidden=(4, 4), lr=0.01, epochs=200, loss="cross-entropy"))
    assert result["test_accuracy"] >= 0.95


@pytest.mark.slow
def test_six_layers_of_eight_learn_the_spiral():
    """With Adam, squared error on one tanh output sat on a plateau at 0.62 for 2 of 6 seeds; cross-entropy
    reached 0.91-0.98."""
    result = toy.train(ToyConfig(dataset="spiral", hidden=(8,) * 6, lr=0.003, epochs=1000, loss="cross-entropy"))
    assert result["test_accuracy"] >= 0.90


TF_LESSONS = {  # TF Playground's settings (SGD 0.03 without momentum, batch 10, tanh, its first weights), and the
    # median test accuracy (a regression's test loss) its own engine reached on the points of seeds 0-4, from its
    # random first weights (bench/toy_speed.py --parity 10; README, Figures)
    "circle": (ToyConfig(dataset="circle", optimizer="sgd", lr=0.03, epochs=300), 1.0),
    "xor": (ToyConfig(dataset="xor", optimizer="sgd", lr=0.03, epochs=300), 0.988),
    "gauss": (ToyConfig(dataset="gauss", optimizer="sgd", lr=0.03, epochs=300), 1.0),
    "spiral": (ToyConfig(dataset="spiral", features=("x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2"),
                         hidden=(8,) * 6, optimizer="sgd", lr=0.03, epochs=1000), 0.972),
    "plane": (ToyConfig(dataset="plane", optimizer="sgd", lr=0.03, epochs=300), 0.0003),
    "multi-gauss": (ToyConfig(dataset="multi-gauss", optimizer="sgd", lr=0.03, epochs=300), 0.0205),
}


@pytest.mark.slow
@pytest.mark.parametrize("dataset", list(TF_LESSONS))
def test_tf_playgrounds_settings_reach_what_its_engine_reaches(dataset):
    """Its lessons' results, run after run: one seed's first weights may sit on a plateau in either engine (TF's
    spiral reached 0.856 on seed 2's points, ours the circle 0.88 on seed 0's, 1.0 by epoch 600), so the medians
    over five seeds' points are compared; a regression's test loss within a quarter of its engine's."""
    config, tf_median = TF_LESSONS[dataset]
    results = [toy.train(config.with_changes(seed=seed)) for seed in range(5)]
    if dataset in toy.REGRESSION:
        losses = [result["test_loss"] for result in results]
        assert np.median(losses) <= tf_median * 1.25 + 0.0005, losses
    else:
        accuracies = [result["test_accuracy"] for result in results]
        assert np.median(accuracies) >= tf_median - 0.01, accuracies


def test_tf_playgrounds_first_weights_are_uniform_in_half_and_its_biases_a_tenth():
    net = toy.build(ToyConfig(hidden=(8, 8)))
    assert all(np.all(np.abs(w) <= 0.5) and w.std() > 0.2 for w in net.weights)
    assert all(np.all(b == np.float32(0.1)) for b in net.biases)
    pytorchs = toy.build(ToyConfig(hidden=(8, 8), init="pytorch"))
    assert np.abs(pytorchs.weights[1]).max() <= 1 / np.sqrt(8) and np.abs(pytorchs.biases[0]).max() < 1


def test_a_playground_steps_plays_and_lets_go():
    playground = toy.Playground(ToyConfig(dataset="xor", hidden=(4, 3)))
    first = playground.latest()
    assert first.epoch == 0 and first.boundary.shape == (toy.GRID, toy.GRID)
    assert [layer.shape for layer in first.neurons] == [(4, toy.NEURON_GRID, toy.NEURON_GRID), (3, 20, 20)]
    assert [w.shape for w in first.weights] == [(4, 2), (3, 4), (1, 3)] and first.inputs.shape == (2, 20, 20)
    stepped = playground.step()
    assert stepped.epoch == 1 and len(stepped.train_loss) == len(stepped.test_loss) == 1
    assert not np.array_equal(stepped.boundary, first.boundary)
    playground.play(lease=0.3)
    time.sleep(0.5)
    played = playground.latest()
    assert played.epoch > 1 and played.test_accuracy is not None
    paused = playground.pause()
    assert paused.status == "ready" and paused.epoch >= played.epoch
    time.sleep(0.2)
    assert playground.latest().epoch == paused.epoch  # a paused playground trains no more
    playground.close()
    playground._thread.join(5)
    assert not playground._thread.is_alive()


def test_play_after_a_step_stops_when_its_lease_runs_out():
    """A Step asks for one epoch with no time limit; Play after it took that limit over, and a reloaded page, shown
    paused, had a network training on unseen to the last epoch."""
    playground = toy.Playground(ToyConfig())
    try:
        playground.step()
        playground.play(lease=0.3)
        time.sleep(1.0)
        held = playground.latest().epoch
        time.sleep(0.6)
        assert playground.latest().epoch == held > 1
    finally:
        playground.close()


def test_a_playground_whose_page_is_gone_lets_its_thread_go(monkeypatch):
    """Issue 22: 111 opened and closed playground tabs kept 119 threads for 10 minutes. A page away for less than
    AWAY_SECONDS (a reconnecting tab) keeps its thread; one away longer lets the thread go, and the network, its state
    packed, goes on from where it was when a page (a reload) asks again (issue 24)."""
    monkeypatch.setattr(toy, "AWAY_SECONDS", 1.0)
    monkeypatch.setattr(toy, "CHECK_SECONDS", 0.05)
    page_open = threading.Event()
    page_open.set()
    playground = toy.Playground(ToyConfig(hidden=(2,)), present=page_open.is_set)
    assert playground.step().epoch == 1
    page_open.clear()
    time.sleep(0.3)
    page_open.set()
    time.sleep(1.2)
    assert playground._thread.is_alive() and playground.step().epoch == 2  # back in time: the same network
    thread, weights = playground._thread, playground.latest().weights
    page_open.clear()
    thread.join(30)
    assert not thread.is_alive() and playground._thread is None and not playground.finished
    playground.attend(lambda: True)  # the reloaded page
    again = playground.step()
    assert again.epoch == 3 and again.status == "ready" and not np.array_equal(again.weights[0], weights[0])
    same = toy.Playground(ToyConfig(hidden=(2,)))  # never suspended: three epochs give the same weights
    for _ in range(3):
        expected = same.step()
    assert all(np.allclose(a, b) for a, b in zip(again.weights, expected.weights))
    playground.close()
    same.close()


def test_a_browsers_playground_is_kept_for_its_reload_and_the_oldest_beyond_the_bound_are_closed(monkeypatch):
    monkeypatch.setattr(toy, "KEPT_PLAYGROUNDS", 2)
    config = ToyConfig(hidden=(2,))
    grounds = {owner: toy.Playground(config) for owner in ("ada", "bo", "cy")}
    for owner, ground in grounds.items():
        toy.keep(owner, ground)
    assert toy.kept("ada", config) is None and grounds["ada"].closed  # the least recently used went
    assert toy.kept("bo", config) is grounds["bo"] and toy.kept("cy", ToyConfig(hidden=(3,))) is None  # other settings
    for ground in grounds.values():
        ground.close()
    assert toy.kept("cy", config) is None


def test_a_playgrounds_first_picture_is_the_loops_first_weights():
    """The page draws epoch 0 before any thread starts; the loop's lane must start from the very same weights."""
    config = ToyConfig(hidden=(3,), seed=5)
    torch.manual_seed(123)  # whatever torch's global generator holds, the network seeds itself
    lane = loop.Lane(toy.lane_config(config), torch.device("cpu"), 1, lambda: toy.build(config))
    first = toy.Playground(config).latest()
    assert np.array_equal(np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(first.weights, first.biases)]),
                          lane.model.flat.detach().numpy())


def test_a_link_holds_what_differs_from_the_defaults_and_reads_back_the_same():
    config = ToyConfig(dataset="spiral", hidden=(8, 8), features=("x1", "x2", "sinx1"), lr=0.003, train_ratio=0.7)
    query = toy.to_link(config)
    assert query == {"dataset": "spiral", "train_ratio": "0.7", "features": "x1,x2,sinx1", "hidden": "8,8",
                     "lr": "0.003"}
    assert toy.from_link(query) == config and toy.to_link(ToyConfig()) == {}
    assert toy.from_link({"hidden": ""}).hidden == ()


@pytest.mark.parametrize("query, words", [
    ({"noise": "abc"}, "noise cannot be 'abc': it should be a whole number"),
    ({"hidden": "a,b"}, "a list with commas"), ({"lr": "inf"}, "finite number"),
    ({"seed": "1" * 300}, "300 characters long"), ({"dataset": "rings"}, "dataset cannot be 'rings'"),
    ({"optimizer": "foo"}, "Unknown optimizer 'foo'"),  # the page's selectbox dropped it without a word
])
def test_a_link_a_student_could_send_is_refused_in_one_sentence(query, words):
    with pytest.raises(DLCoreError, match=words.replace("(", r"\(")):
        toy.from_link(query)


@pytest.mark.parametrize("optimizer, lr, momentum, decay, loss, dataset", [
    ("sgd", 0.03, 0.0, 0.0, "squared-error", "spiral"), ("sgd", 0.03, 0.0, 0.0, "cross-entropy", "spiral"),
    ("sgd", 0.03, 0.9, 0.0, "squared-error", "spiral"), ("adam", 0.03, 0.0, 0.0, "cross-entropy", "spiral"),
    ("adamw", 0.03, 0.0, 0.01, "squared-error", "multi-gauss"), ("adagrad", 0.03, 0.0, 0.0, "squared-error", "spiral"),
    ("rmsprop", 0.001, 0.9, 0.0, "squared-error", "plane"),  # (RMSprop's steps are lr whatever the gradient)
])
def test_a_toy_lane_steps_in_numpy_to_the_weights_torch_steps_it_to(optimizer, lr, momentum, decay, loss, dataset):
    """The loop's fast path (the network's own NumPy gradient and optim.Rules) against the same lane stepped by
    autograd and torch.optim, batch after batch."""
    config = ToyConfig(dataset=dataset, hidden=(8, 8), features=("x1", "x2", "sinx1"), optimizer=optimizer, lr=lr,
                       momentum=momentum, loss=loss)
    train = toy.lane_config(config).with_changes(weight_decay=decay)
    fast, slow = (loop.Lane(train, torch.device("cpu"), 100, lambda: toy.build(config)) for _ in range(2))
    assert fast.rules is not None
    slow.rules = None
    x, y = toy._tensors(config, toy.make_points(config))[:2]
    for first in range(0, 250, 10):
        for lane in (fast, slow):
            lane.step(x[first : first + 10], y[first : first + 10], 10)
    assert np.allclose(fast.model.flat.detach().numpy(), slow.model.flat.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert np.allclose(fast.take_pending().numpy(), slow.take_pending().numpy(), rtol=1e-4, atol=1e-5, equal_nan=True)
