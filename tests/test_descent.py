"""Gradient descent on 2-D surfaces: the engine's optimizers, checked against the update rules written out."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from dlcore import DLCoreError, descent
from dlcore.config import DescentConfig


def test_plain_sgd_follows_the_update_rule_on_the_bowl():
    path = descent.descend(DescentConfig(surface="bowl", steps=3, optimizers=("sgd",), lrs={"sgd": 0.5}))[0]
    x, y = -9.0, 3.0
    for step in range(1, 4):
        x, y = x - 0.5 * 0.1 * x, y - 0.5 * 2 * y  # the gradient of 0.05x² + y²
        assert path.points[step] == pytest.approx([x, y])
    assert path.losses[-1] == pytest.approx(0.05 * x**2 + y**2)


ORACLES = {  # torch.optim itself, as Build & train makes each of the page's optimizers
    "sgd": lambda point, lr: torch.optim.SGD([point], lr=lr),
    "momentum": lambda point, lr: torch.optim.SGD([point], lr=lr, momentum=0.9),
    "nesterov": lambda point, lr: torch.optim.SGD([point], lr=lr, momentum=0.9, nesterov=True),
    "adam": lambda point, lr: torch.optim.Adam([point], lr=lr),
    "rmsprop": lambda point, lr: torch.optim.RMSprop([point], lr=lr),
    "adagrad": lambda point, lr: torch.optim.Adagrad([point], lr=lr),
}
TOO_LARGE = {"sgd": 1.5, "momentum": 3.0, "nesterov": 3.0, "adam": 9.0, "rmsprop": 10.0, "adagrad": 10.0}


def torch_optims_path(surface: descent.Surface, name: str, lr: float, steps: int) -> np.ndarray:
    """The points torch.optim's own optimizer visits, given the surface's gradient; the first escaped one last."""
    point = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
    optimizer = ORACLES[name](point, lr)
    points = [surface.start]
    for _ in range(steps):
        point.grad = torch.tensor(np.concatenate(surface.gradient(*point.detach().numpy()[:, None])))
        optimizer.step()
        points.append(tuple(point.detach().tolist()))
        if not all(abs(v) < descent.ESCAPED for v in points[-1]):
            break
    return np.array(points)


@pytest.mark.parametrize("lrs", ["the surface's", "too large"])
@pytest.mark.parametrize("name", list(descent.SURFACES))
def test_every_path_is_torch_optims_and_one_that_blows_up_leaves_the_others_alone(name, lrs):
    surface = descent.SURFACES[name]
    rates = surface.lrs if lrs == "the surface's" else TOO_LARGE
    for path in descent.descend(DescentConfig(surface=name, steps=300, lrs=rates)):
        oracle = torch_optims_path(surface, path.optimizer, rates[path.optimizer], 300)
        escaped = not all(abs(v) < descent.ESCAPED for v in oracle[-1])
        assert path.blew_up == escaped, path.optimizer
        assert path.points == pytest.approx(oracle[:-1] if escaped else oracle, rel=1e-9, abs=1e-12), path.optimizer
        assert path.losses == pytest.approx(surface.loss(*path.points.T), rel=1e-12)


def test_the_written_out_gradients_are_autograds():
    generator = np.random.default_rng(0)
    for name, surface in descent.SURFACES.items():
        xy = torch.tensor(generator.uniform((surface.x_range[0], surface.y_range[0]),
                                            (surface.x_range[1], surface.y_range[1]), (50, 2)), requires_grad=True)
        (autograd,) = torch.autograd.grad(surface.loss(xy[:, 0], xy[:, 1]).sum(), xy)
        written = np.stack(surface.gradient(*xy.detach().numpy().T), axis=1)
        assert written == pytest.approx(autograd.numpy(), rel=1e-12, abs=1e-12), name


def test_all_six_optimizers_cost_one_gradient_a_step(monkeypatch):
    surface, calls = descent.SURFACES["himmelblau"], []

    def counted(x, y):
        calls.append(len(x))
        return surface.gradient(x, y)

    monkeypatch.setitem(descent.SURFACES, "himmelblau", dataclasses.replace(surface, gradient=counted))
    descent.descend(DescentConfig(surface="himmelblau", steps=50))
    assert calls == [6] * 50  # one batch of six points a step, not six optimizers stepped one by one


def test_every_optimizer_starts_at_the_same_point_and_the_defaults_reach_a_minimum():
    for name, surface in descent.SURFACES.items():
        if name == "rosenbrock":
            continue  # its lesson is the long crawl along the floor
        for path in descent.descend(DescentConfig(surface=name)):
            assert tuple(path.points[0]) == surface.start
            assert path.arrived_at is not None and not path.blew_up, (name, path.optimizer)


def test_momentum_and_nesterov_differ_from_plain_sgd():
    ends = {p.optimizer: p.points[5] for p in descent.descend(DescentConfig(surface="bowl", steps=5, lrs={
        "sgd": 0.1, "momentum": 0.1, "nesterov": 0.1}))}
    assert not np.allclose(ends["sgd"], ends["momentum"]) and not np.allclose(ends["momentum"], ends["nesterov"])


def test_a_step_too_large_blows_up_and_is_said_so():
    path = descent.descend(DescentConfig(surface="bowl", optimizers=("sgd",), lrs={"sgd": 1.5}))[0]
    assert path.blew_up and len(path.points) < 201 and all(math.isfinite(v) for v in path.points.ravel())
    assert path.summary(descent.SURFACES["bowl"]).startswith("blew up after")


def test_himmelblaus_paths_end_in_different_minima():
    ends = {p.optimizer: p.end for p in descent.descend(DescentConfig(surface="himmelblau"))}
    assert ends["sgd"] == pytest.approx((-3.779310, -3.283186), abs=1e-3)
    assert ends["adam"] == pytest.approx((-2.805118, 3.131312), abs=1e-3)


def test_contours_cover_the_surfaces_box():
    xs, ys, losses = descent.contours("saddle", cells=50)
    assert (xs[0], xs[-1], ys[0], ys[-1]) == (-2, 2, -2, 2) and losses.shape == (50, 50)
    assert losses.min() == pytest.approx(-1, abs=0.01)


@pytest.mark.parametrize("changes, words", [
    ({"steps": 0}, "steps cannot be 0"), ({"start": (11.0, 0.0)}, "start[1] cannot be 11.0"),
    ({"lrs": {"sgd": 0.0}}, "cannot be 0.0"), ({"lrs": {"lbfgs": 0.1}}, "lrs.lbfgs"),
    ({"surface": "egg"}, "surface cannot be 'egg'"), ({"optimizers": ()}, "at least 1 item"),
])
def test_the_schema_refuses_what_a_student_could_send(changes, words):
    with pytest.raises(DLCoreError, match=words.replace("[", r"\[").replace("(", r"\(")):
        DescentConfig(**changes)


def test_a_link_names_what_differs_and_reads_back_the_same():
    config = DescentConfig(surface="rosenbrock", start=(-1.0, 2.5), steps=300, optimizers=("sgd", "adam"),
                           lrs={"adam": 0.05})
    query = descent.to_link(config)
    assert query == {"surface": "rosenbrock", "start": "-1,2.5", "steps": "300", "optimizers": "sgd,adam",
                     "lrs": "adam:0.05"}
    assert descent.from_link(query) == config and descent.to_link(DescentConfig()) == {}


@pytest.mark.parametrize("query, words", [
    ({"start": "5,5", "surface": "saddle"}, "off the saddle"), ({"lrs": "adam"}, "pairs such as sgd:0.01"),
    ({"steps": "1e9"}, "a whole number"), ({"optimizers": "sgd,evil"}, "cannot be 'evil'"),
    ({"lrs": "adam:0"}, "lrs.adam"), ({"start": "1" * 300}, "300 characters long"),
])
def test_a_link_a_student_could_send_is_refused_in_one_sentence(query, words):
    with pytest.raises(DLCoreError, match=words):
        descent.from_link(query)
