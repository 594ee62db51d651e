"""Gradient descent you can watch: 2-D loss surfaces, and the path each of the engine's optimizers takes on them.

Each optimizer has the settings of the one Build & train uses (optim.make_optimizer: the same torch.optim class and
options) and steps by torch.optim's update rule, moving one 2-D point instead of a network's weights. The rules
(optim.Rules) and each surface's gradient are written out in NumPy for a batch, every optimizer's point a row, so a
step of all six is a few array operations: stepping six torch.optim optimizers one by one, with autograd's
gradients, took a server 1 s of CPU for 500 steps, and 0.03 s now. tests/test_descent.py checks every path against
torch.optim's own steps and every gradient against autograd's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import optim, sharing
from .config import DescentConfig, DLCoreError, TrainConfig

Point = tuple[float, float]


@dataclass(frozen=True)
class Surface:
    title: str
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray]  # elementwise, on arrays or tensors of any shape
    gradient: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (d loss/dx, d loss/dy), likewise
    x_range: Point
    y_range: Point
    start: Point
    minima: tuple[Point, ...]  # where the loss is lowest (for the saddle: its two valleys)
    lrs: dict[str, float]  # a learning rate per optimizer that shows the surface's lesson
    note: str  # what to notice, for the page


SURFACES: dict[str, Surface] = {
    "bowl": Surface(
        "Ill-conditioned bowl", lambda x, y: 0.05 * x**2 + y**2,
        lambda x, y: (0.1 * x, 2 * y), (-10, 10), (-4, 4), (-9.0, 3.0), ((0.0, 0.0),),
        {"sgd": 0.9, "momentum": 0.1, "nesterov": 0.1, "adam": 0.5, "rmsprop": 0.1, "adagrad": 2.0},
        "Twenty times steeper across than along. A step size that suits the steep direction crawls along the flat "
        "one, and a larger one zig-zags across the valley: plain SGD bounces from wall to wall. Momentum averages "
        "the bounces away; Adam and RMSprop rescale each direction, so both directions move at the same pace.",
    ),
    "rosenbrock": Surface(
        "Rosenbrock's banana", lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        lambda x, y: (-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)), (-2, 2), (-1, 3), (-1.5, 2.0),
        ((1.0, 1.0),), {"sgd": 0.002, "momentum": 0.002, "nesterov": 0.001, "adam": 0.1, "rmsprop": 0.01,
                        "adagrad": 0.5},
        "A curved valley with steep walls and an almost flat floor. Every method reaches the floor in a few steps; "
        "the race is along it to the minimum at (1, 1). The walls cap the step size (SGD at 0.003 blows up), and "
        "so plain SGD creeps along the floor; momentum carries speed along it. RMSprop and Adagrad rattle between "
        "the walls.",
    ),
    "saddle": Surface(
        "Saddle", lambda x, y: x**2 + y**4 / 4 - y**2, lambda x, y: (2 * x, y**3 - 2 * y),
        (-2, 2), (-2, 2), (-1.8, 0.001),
        ((0.0, math.sqrt(2)), (0.0, -math.sqrt(2))), {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adam": 0.1,
                                                      "rmsprop": 0.05, "adagrad": 0.3},
        "The origin is a saddle: downhill in y, uphill in x. Starting almost on the ridge, the gradient across it is "
        "tiny, so SGD slides to the saddle and lingers there before escaping into a valley. RMSprop and Adam divide "
        "by the gradient's size, so the tiny push gets as big a step as any and they turn off the ridge early.",
    ),
    "himmelblau": Surface(
        "Himmelblau", lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
        lambda x, y: (4 * x * (x**2 + y - 11) + 2 * (x + y**2 - 7), 2 * (x**2 + y - 11) + 4 * y * (x + y**2 - 7)),
        (-5, 5), (-5, 5), (-0.3, -0.9),
        ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
        {"sgd": 0.005, "momentum": 0.002, "nesterov": 0.002, "adam": 0.1, "rmsprop": 0.05, "adagrad": 1.0},
        "Four minima, all equally low, and a hill between them. From this start, just off the hilltop, the SGD family "
        "rolls to the bottom-left minimum while Adam, RMSprop and Adagrad, which step in every direction at once, "
        "go top-left: the minimum you find depends on the path. Move the start and watch the basins change.",
    ),
}
TITLES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "adam": "Adam", "rmsprop": "RMSprop",
          "adagrad": "Adagrad"}
NEAR = 0.05  # a path has arrived once it is this close to a minimum
ESCAPED = 1e4  # a path this far out has blown up


def _train_config(name: str, lr: float) -> TrainConfig:
    """How each of the page's six names is one of the engine's optimizers."""
    if name in ("sgd", "momentum", "nesterov"):
        return TrainConfig(optimizer="sgd", lr=lr, momentum=0.0 if name == "sgd" else 0.9, nesterov=name == "nesterov")
    return TrainConfig(optimizer=name, lr=lr, momentum=0.0)


@dataclass(frozen=True)
class Path:
    optimizer: str
    lr: float
    points: np.ndarray  # (steps + 1, 2), the start first; shorter when it blew up
    losses: np.ndarray  # (steps + 1,)
    arrived_at: int | None  # the first step within NEAR of a minimum
    blew_up: bool

    @property
    def end(self) -> Point:
        return float(self.points[-1, 0]), float(self.points[-1, 1])

    def summary(self, surface: Surface) -> str:
        """Where the path ends and how fast it got there, in words."""
        if self.blew_up:
            return f"blew up after {len(self.points) - 1} steps: try a smaller learning rate"
        x, y = self.end
        where = f"ends at ({x:.2f}, {y:.2f}), loss {self.losses[-1]:.3g}"
        if self.arrived_at is None:
            return where + ", not at a minimum yet"
        minimum = min(surface.minima, key=lambda m: math.dist(m, self.end))
        return where + f", reached the minimum at ({minimum[0]:.2f}, {minimum[1]:.2f}) in {self.arrived_at} steps"


LINK_FIELDS = ("surface", "start", "steps", "optimizers", "lrs")  # a link's keys: the fields' own names


def to_link(config: DescentConfig) -> dict[str, str]:
    """What differs from the defaults, as an address's query, e.g. ?surface=rosenbrock&start=-1,2.5&lrs=adam:0.05."""
    return sharing.fields_link(config, LINK_FIELDS)


def from_link(query: dict[str, str]) -> DescentConfig:
    """A link's settings, checked by the schema; a DLCoreError names the first that cannot be used, and a start off
    the surface is one."""
    config = sharing.fields_from_link(DescentConfig, query, LINK_FIELDS)
    if config.start is not None:
        surface = SURFACES[config.surface]
        (x0, x1), (y0, y1) = surface.x_range, surface.y_range
        if not (x0 <= config.start[0] <= x1 and y0 <= config.start[1] <= y1):
            raise DLCoreError(f"The start ({config.start[0]:g}, {config.start[1]:g}) is off the {surface.title.lower()}:"
                              f" x must be from {x0:g} to {x1:g} and y from {y0:g} to {y1:g}.")
    return config


def descend(config: DescentConfig) -> list[Path]:
    """Every chosen optimizer from the same start, config.steps steps each, all stepped together."""
    surface = SURFACES[config.surface]
    start = config.start or surface.start
    rules = optim.Rules([_train_config(name, config.lrs.get(name, surface.lrs[name])) for name in config.optimizers],
                        (len(config.optimizers), 2))
    points = np.empty((config.steps + 1, len(config.optimizers), 2))  # (step, optimizer, x and y)
    points[0] = start
    with np.errstate(over="ignore", invalid="ignore"):  # a row that blows up goes on in inf and NaN; _path cuts it
        for step in range(config.steps):
            points[step + 1] = points[step]
            rules.step(points[step + 1], np.stack(surface.gradient(*points[step].T), axis=1))
        losses = surface.loss(points[..., 0], points[..., 1])
    return [_path(surface, name, rules.lrs[i], points[:, i], losses[:, i]) for i, name in enumerate(config.optimizers)]


def _path(surface: Surface, name: str, lr: float, points: np.ndarray, losses: np.ndarray) -> Path:
    """One row of the batch as a path: cut before the first point that blew up, and its arrival found."""
    escaped = ~(np.abs(points) < ESCAPED).all(axis=1)  # NaN compares False too
    blew_up = bool(escaped.any())
    if blew_up:
        points, losses = points[: escaped.argmax()], losses[: escaped.argmax()]
    near = np.min([np.hypot(*(points[1:] - m).T) for m in surface.minima], axis=0) < NEAR  # the start does not count
    arrived_at = int(near.argmax()) + 1 if near.any() else None
    return Path(name, lr, points, losses, arrived_at, blew_up)


def contours(name: str, cells: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface on a cells x cells grid: x values, y values, and (cells, cells) losses, rows by y."""
    surface = SURFACES[name]
    xs, ys = np.linspace(*surface.x_range, cells), np.linspace(*surface.y_range, cells)
    grid_x, grid_y = np.meshgrid(xs, ys)
    return xs, ys, surface.loss(grid_x, grid_y)
