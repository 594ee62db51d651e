"""Gradient descent on 2-D surfaces: the engine's optimizers, checked against the update rules written out."""

from __future__ import annotations

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


def test_adam_is_torchs_adam():
    path = descent.descend(DescentConfig(surface="rosenbrock", steps=20, optimizers=("adam",), lrs={"adam": 0.1}))[0]
    point = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    oracle = torch.optim.Adam([point], lr=0.1)
    for _ in range(20):
        oracle.zero_grad()
        ((1 - point[0]) ** 2 + 100 * (point[1] - point[0] ** 2) ** 2).backward()
        oracle.step()
    assert path.points[-1] == pytest.approx(point.detach().numpy())


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
