"""The 2-D playground: TF Playground's datasets and input features, a small network, and its trainer.

The points are drawn the way TF Playground draws them (same shapes, scales in [-6, 6], noise in its units), moons
the way scikit-learn's make_moons does, scaled to the same square. Training is the one loop (loop.Loop) with the
engine's optimizers and TF Playground's squared error on one tanh output (or cross-entropy on two logits); only the
network's arithmetic is special: these nets have a few dozen weights, so a step's cost is all per-operation
overhead. The forward and backward passes are NumPy on views of one flat parameter (each torch op costs
microseconds, a NumPy op on 10x8 numbers a fraction), and the loop steps such a network without torch
(numpy_gradient, then optim.Rules: torch.optim's update rules); for autograd, the same passes run as one autograd
node.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch
from torch import nn

from . import optim, sharing, tinysteps, validation
from .config import MAX_TOY_EPOCHS, TOY_FEATURES, DLCoreError, ToyConfig, TrainConfig
from .loop import Loop, diverged_message

EXTENT = 6.0  # every dataset lies in [-6, 6]², TF Playground's square
FEATURES: dict[str, str] = {  # name -> how the page labels it
    "x1": "x₁", "x2": "x₂", "x1sq": "x₁²", "x2sq": "x₂²", "x1x2": "x₁x₂", "sinx1": "sin x₁", "sinx2": "sin x₂",
}
DATASETS: dict[str, str] = {
    "circle": "Circle", "xor": "Exclusive or", "gauss": "Two gaussians", "spiral": "Spiral", "moons": "Moons",
    "plane": "Plane (regression)", "multi-gauss": "Multi-gaussian (regression)",
}
REGRESSION = ("plane", "multi-gauss")  # each point has a value in [-1, 1], not a class: a linear output fits it
ACTIVATIONS: dict[str, str] = {"tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid", "linear": "Linear"}
REGULARIZATIONS: dict[str, str] = {"none": "None", "l1": "L1", "l2": "L2"}
LOSSES: dict[str, str] = {"squared-error": "Squared error (TF Playground's)", "cross-entropy": "Cross-entropy"}
LOSS_NOTE = ("Squared error: TF Playground's one tanh output neuron, its sign the class, against +1 and -1. "
             "Cross-entropy: two outputs through a softmax, as Build & train's classifiers.")
INITS: dict[str, str] = {"playground": "TF Playground's", "pytorch": "PyTorch's nn.Linear"}
INIT_NOTE = "TF Playground's: each weight uniform in ±0.5, each bias 0.1. PyTorch's: both uniform in ±1/√fan-in."


# the points: (N, 2) float32 positions and (N,) int64 labels, 1 for TF Playground's blue class, 0 for orange; a
# regression's (N,) float32 values in [-1, 1] instead


def _circle(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    radius = 5.0
    inside = rng.uniform(0, radius * 0.5, n // 2)
    outside = rng.uniform(radius * 0.7, radius, n - n // 2)
    r = np.concatenate([inside, outside])
    angle = rng.uniform(0, 2 * math.pi, n)
    xy = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
    shifted = xy + rng.uniform(-radius, radius, (n, 2)) * noise  # noise moves the label, not the point
    return xy, (np.hypot(shifted[:, 0], shifted[:, 1]) < radius * 0.5).astype(np.int64)


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(-5, 5, (n, 2))
    xy += np.where(xy > 0, 0.3, -0.3)  # a gap along the axes
    shifted = xy + rng.uniform(-5, 5, (n, 2)) * noise
    return xy, (shifted[:, 0] * shifted[:, 1] >= 0).astype(np.int64)


def _gauss(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    variance = 0.5 + noise / 0.5 * 3.5  # TF's scale: noise 0 -> 0.5, noise 50 % -> 4
    half = n // 2
    positive = rng.normal(2, math.sqrt(variance), (half, 2))
    negative = rng.normal(-2, math.sqrt(variance), (n - half, 2))
    return np.concatenate([positive, negative]), np.repeat([1, 0], [half, n - half])


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    half = n // 2
    arms, labels = [], []
    for delta, label, count in ((0.0, 1, half), (math.pi, 0, n - half)):
        i = np.arange(count) / count
        r, t = i * 5, 1.75 * i * 2 * math.pi + delta
        arm = np.stack([r * np.sin(t), r * np.cos(t)], axis=1) + rng.uniform(-1, 1, (count, 2)) * noise
        arms.append(arm)
        labels.append(np.full(count, label))
    return np.concatenate(arms), np.concatenate(labels)


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's make_moons (noise is its Gaussian's deviation, in moon units), scaled by 4 to [-6, 6]."""
    outer, inner = n // 2, n - n // 2
    t_out, t_in = np.linspace(0, math.pi, outer), np.linspace(0, math.pi, inner)
    xy = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1), np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], 1)])
    xy += rng.normal(0, noise, xy.shape) if noise else 0
    return (xy - [0.5, 0.25]) * 4, np.repeat([0, 1], [outer, inner])


def _plane(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """TF Playground's regressPlane: the value is (x + y) / 10 where noise has moved the point."""
    xy = rng.uniform(-EXTENT, EXTENT, (n, 2))
    shifted = xy + rng.uniform(-EXTENT, EXTENT, (n, 2)) * noise
    return xy, (shifted.sum(axis=1) / 10).astype(np.float32)


GAUSSIANS = np.array([[-4, 2.5], [0, 2.5], [4, 2.5], [-4, -2.5], [0, -2.5], [4, -2.5]])  # regressGaussian's six
GAUSSIAN_SIGNS = np.array([1, -1, 1, -1, 1, -1])


def _multi_gauss(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """TF Playground's regressGaussian: each of six bumps is ±1 at its centre, falling linearly to 0 at distance 2;
    a point takes the value largest in size (the first of equals)."""
    xy = rng.uniform(-EXTENT, EXTENT, (n, 2))
    shifted = xy + rng.uniform(-EXTENT, EXTENT, (n, 2)) * noise
    distance = np.linalg.norm(shifted[:, None, :] - GAUSSIANS, axis=2)
    values = GAUSSIAN_SIGNS * np.clip(1 - distance / 2, 0, 1)
    return xy, values[np.arange(n), np.abs(values).argmax(axis=1)].astype(np.float32)


_GENERATORS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral, "moons": _moons, "plane": _plane,
               "multi-gauss": _multi_gauss}


@dataclass(frozen=True)
class Points:
    """A dataset split as TF Playground splits it: shuffled, the first train_ratio of the points for training."""

    train_xy: np.ndarray  # (N_train, 2)
    train_y: np.ndarray  # (N_train,)
    test_xy: np.ndarray
    test_y: np.ndarray


def make_points(config: ToyConfig) -> Points:
    rng = np.random.default_rng(config.seed)
    xy, labels = _GENERATORS[config.dataset](config.points, config.noise / 100, rng)
    order = rng.permutation(len(labels))
    xy, labels = xy[order].astype(np.float32), labels[order]
    split = max(1, min(len(labels) - 1, int(len(labels) * config.train_ratio)))
    return Points(xy[:split], labels[:split], xy[split:], labels[split:])


def used_features(config: ToyConfig) -> list[str]:
    """The chosen features in TF Playground's order, each once."""
    return [name for name in TOY_FEATURES if name in config.features]


def features(xy: np.ndarray, names: list[str]) -> np.ndarray:
    """(N, 2) positions -> (N, len(names)) float32 inputs."""
    x1, x2 = xy[:, 0], xy[:, 1]
    columns = {"x1": lambda: x1, "x2": lambda: x2, "x1sq": lambda: x1 * x1, "x2sq": lambda: x2 * x2,
               "x1x2": lambda: x1 * x2, "sinx1": lambda: np.sin(x1), "sinx2": lambda: np.sin(x2)}
    return np.stack([columns[name]() for name in names], axis=1).astype(np.float32)


# the network: one flat parameter, read through NumPy views


def _activate(z: np.ndarray, name: str) -> None:
    """In place."""
    if name == "tanh":
        np.tanh(z, out=z)
    elif name == "relu":
        np.maximum(z, 0, out=z)
    elif name == "sigmoid":
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1
        np.reciprocal(z, out=z)


def _slope(a: np.ndarray, name: str) -> np.ndarray | float:
    """The activation's derivative, from its output."""
    if name == "tanh":
        return 1 - a * a
    if name == "relu":
        return a > 0
    if name == "sigmoid":
        return a * (1 - a)
    return 1.0


class _Pass(torch.autograd.Function):
    """The whole network as one autograd node: the forward and backward arithmetic in NumPy on the flat weights."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, flat: torch.Tensor, net: "ToyNet") -> torch.Tensor:
        outputs = net.layer_outputs(x.numpy())
        ctx.net, ctx.outputs = net, outputs
        return torch.from_numpy(outputs[-1])

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return None, torch.from_numpy(ctx.net.gradient(ctx.outputs, grad_output.numpy())), None


OUTPUTS = ("tanh", "linear", "logits")  # TF Playground's classifier and regressor outputs, and a softmax's two


class ToyNet(nn.Module):
    """inputs -> hidden layers -> the output: TF Playground's one tanh neuron (its sign the class, blue above 0) or
    for a regression one linear neuron, both trained with squared error, or 2 logits (orange, blue) for
    cross-entropy; its weights are one flat parameter."""

    def __init__(self, inputs: int, hidden: tuple[int, ...], activation: str, seed: int,
                 regularization: str = "none", reg_rate: float = 0.0, init: str = "playground", output: str = "tanh"):
        super().__init__()
        self.tanh_output = output == "tanh"
        outputs = 2 if output == "logits" else 1
        self.shapes = [(units, fan_in) for units, fan_in in zip([*hidden, outputs], [inputs, *hidden])]  # (out, in)
        self.activation, self.regularization, self.reg_rate = activation, regularization, reg_rate
        generator = torch.Generator().manual_seed(seed)  # seeded here, so a page can draw the first weights
        parts = []  # before the loop makes its lane
        for units, fan_in in self.shapes:
            if init == "playground":  # nn.ts: each weight Math.random() - 0.5, each bias 0.1
                parts += [torch.empty(units * fan_in).uniform_(-0.5, 0.5, generator=generator),
                          torch.full((units,), 0.1)]
            else:  # nn.Linear's default: uniform in ±1/√fan-in
                bound = 1 / math.sqrt(fan_in)
                parts.append(torch.empty(units * (fan_in + 1)).uniform_(-bound, bound, generator=generator))
        self.flat = nn.Parameter(torch.cat(parts))
        self._views(self.flat.detach().numpy())

    def _views(self, flat: np.ndarray) -> None:
        self.weights, self.biases, self.spans, start = [], [], [], 0
        for units, fan_in in self.shapes:
            middle, end = start + units * fan_in, start + units * (fan_in + 1)
            self.weights.append(flat[start:middle].reshape(units, fan_in))
            self.biases.append(flat[middle:end])
            self.spans.append((start, middle, end))
            start = end

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Pass.apply(x, self.flat, self)

    def layer_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """[inputs, each hidden layer's outputs, the network's output], each (N, width)."""
        outputs = [x]
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            z = outputs[-1] @ weight.T
            z += bias
            if i < len(self.weights) - 1:
                _activate(z, self.activation)
            elif self.tanh_output:
                np.tanh(z, out=z)
            outputs.append(z)
        return outputs

    def numpy_gradient(self, x: np.ndarray, y: np.ndarray, loss: str) -> tuple[float, int, np.ndarray]:
        """A batch's mean loss, its correctly classified points and the flat gradient, all in NumPy: what the loop
        steps such a small network with (loop.Lane.step), torch's per-operation cost being most of a step."""
        outputs = self.layer_outputs(x)
        value, grad = optim.NUMPY_LOSSES[loss](outputs[-1], y)
        correct = math.nan if y.dtype.kind == "f" else np.count_nonzero(optim.predicted_classes(outputs[-1]) == y)
        return value, correct, self.gradient(outputs, grad)

    def compiled_settings(self) -> tuple:
        """What tinysteps.steps reads of this network besides its weights: the layer widths and the codes of its
        activation, output and penalty, with the penalty's rate."""
        sizes = np.array([self.shapes[0][1], *(units for units, _ in self.shapes)], dtype=np.int64)
        output = "tanh" if self.tanh_output else "linear" if self.shapes[-1][0] == 1 else "logits"
        return (sizes, tinysteps.ACTIVATIONS[self.activation], tinysteps.OUTPUTS[output],
                tinysteps.REGULARIZATIONS[self.regularization], float(self.reg_rate))

    def numpy_logits(self, x: np.ndarray) -> np.ndarray:
        return self.layer_outputs(x)[-1]

    def gradient(self, outputs: list[np.ndarray], grad: np.ndarray) -> np.ndarray:
        """The flat gradient of the loss (whose gradient at the network's output is `grad`) plus the weights'
        penalty."""
        flat = np.empty(self.spans[-1][2], dtype=np.float32)
        if self.tanh_output:
            grad = grad * _slope(outputs[-1], "tanh")
        for i in range(len(self.weights) - 1, -1, -1):
            start, middle, end = self.spans[i]
            np.dot(grad.T, outputs[i], out=flat[start:middle].reshape(self.shapes[i]))
            np.add.reduce(grad, axis=0, out=flat[middle:end])
            if self.regularization == "l1":
                flat[start:middle] += self.reg_rate * np.sign(self.weights[i]).ravel()
            elif self.regularization == "l2":  # the gradient of rate·w²/2, TF Playground's L2
                flat[start:middle] += self.reg_rate * self.weights[i].ravel()
            if i:
                grad = grad @ self.weights[i]
                grad *= _slope(outputs[i], self.activation)
        return flat


def output(config: ToyConfig) -> str:
    """The network's output (OUTPUTS) for these settings."""
    return "logits" if config.loss == "cross-entropy" else "linear" if config.dataset in REGRESSION else "tanh"


def build(config: ToyConfig) -> ToyNet:
    return ToyNet(len(used_features(config)), config.hidden, config.activation, config.seed, config.regularization,
                  config.reg_rate, config.init, output(config))


def check(config: ToyConfig) -> None:
    """What the schema cannot say of one field alone, as a sentence."""
    validation.check_choice("optimizer", config.optimizer)
    if config.dataset in REGRESSION and config.loss != "squared-error":
        raise DLCoreError(f"{DATASETS[config.dataset].split(' (')[0]} is a regression: each point has a value, not a "
                          "class, so it trains with squared error, not cross-entropy.")


def lane_config(config: ToyConfig) -> TrainConfig:
    """What the loop and the optimizer read; the data and the network come from the toy config itself."""
    check(config)
    return TrainConfig(dataset=f"toy-{config.dataset}", optimizer=config.optimizer, lr=config.lr,
                       momentum=config.momentum, loss=config.loss, batch_size=min(config.batch_size, config.points), epochs=1,
                       seed=config.seed, device="cpu")


def _tensors(config: ToyConfig, points: Points) -> tuple[torch.Tensor, ...]:
    names = used_features(config)
    return (torch.from_numpy(features(points.train_xy, names)), torch.from_numpy(points.train_y),
            torch.from_numpy(features(points.test_xy, names)), torch.from_numpy(points.test_y))


LINK_FIELDS = [f.name for f in fields(ToyConfig) if f.name != "epochs"]  # a link's keys: the fields' own names


def to_link(config: ToyConfig) -> dict[str, str]:
    """The settings that differ from the defaults, as an address's query (lists with commas)."""
    return sharing.fields_link(config, LINK_FIELDS)


def from_link(query: dict[str, str]) -> ToyConfig:
    """A link's settings, each read as its field's type and checked by the schema; a DLCoreError names the first
    one that cannot be used."""
    config = sharing.fields_from_link(ToyConfig, query, LINK_FIELDS)
    check(config)  # the schema only keeps a name short and plain, and checks each field alone
    return config


def make_loop(config: ToyConfig, epochs: int, points: Points | None = None, resume: bytes | None = None) -> Loop:
    return Loop([lane_config(config)], tensors=_tensors(config, points or make_points(config)),
                build=lambda: build(config), epochs=epochs, resume=resume)


def train(config: ToyConfig) -> dict:
    """Train for config.epochs in this thread, as the command line does; the figures it prints."""
    started = time.perf_counter()
    loop = make_loop(config, config.epochs)
    status = loop.run()
    if status == "diverged":
        raise DLCoreError(diverged_message(loop.configs[0]))
    last = loop.lanes[0].history[-1]
    return {"test_accuracy": _accuracy(last.test_accuracy), "test_loss": last.test_loss, "train_loss": last.train_loss,
            "epochs": loop.epoch, "seconds": round(time.perf_counter() - started, 3), "status": status}


# the page's playground: one student's network, trained on request, a picture after each request


GRID = 60  # cells per side of the boundary picture (TF Playground draws 100; 60 looks the same at page size)
NEURON_GRID = 20  # cells per side of each neuron's own picture
IDLE_SECONDS = 600  # a playground nobody has asked anything of for this long ends its thread, its state kept
AWAY_SECONDS = 10.0  # and one whose page has been gone this long (its tab closed): a tab that lost its connection for
# a moment (Wi-Fi, a busy server) reconnects sooner, and 100 closed tabs cost the server no thread after it
KEPT_PLAYGROUNDS = 64  # the networks kept for browsers that come back (a reload): the most recently used
CHECK_SECONDS = 1.0  # how often a waiting playground asks whether its page is still there
PICTURE_SECONDS = 0.03  # while it plays, a new picture after this much training (and its rest): about 15 a second,
# more than the page asks for, so each of its redraws finds a new one
REST_SHARE = 1.0  # and a rest this long (relative) after each: a playing network takes at most half a core
_TRAINING = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))  # playgrounds training at once: the
# web server keeps a core, and a class pressing play together takes turns instead of slowing every page


@dataclass(frozen=True)
class Picture:
    """What the page draws after a request: the network's state as plain NumPy and lists, no tensors."""

    epoch: int
    boundary: np.ndarray  # (GRID, GRID) the output in [-1, 1] (blue +): p(blue) - p(orange) from 2 logits; rows
    # from y = -6 up, columns from x = -6
    neurons: list[np.ndarray]  # per hidden layer (units, NEURON_GRID, NEURON_GRID), each neuron's output
    inputs: np.ndarray  # (features, NEURON_GRID, NEURON_GRID): what each input feature looks like over the square
    weights: list[np.ndarray]  # per layer (out, in), the last one into the output (1 neuron, or 2 logits)
    biases: list[np.ndarray]
    train_loss: list[float] = field(default_factory=list)  # per epoch, from epoch 1
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: float | None = None  # None for a regression
    status: str = "ready"  # ready, training, done, stopped, diverged
    message: str = ""


def _square(cells: int) -> np.ndarray:
    """(cells², 2) centres of a cells x cells grid over [-6, 6]², row by row from y = -6."""
    axis = np.linspace(-EXTENT, EXTENT, cells, dtype=np.float32)
    x1, x2 = np.meshgrid(axis, axis)
    return np.stack([x1.ravel(), x2.ravel()], axis=1)


def _blueness(outputs: np.ndarray) -> np.ndarray:
    """In [-1, 1], positive for blue: the one output itself (a regression's clipped), or p(blue) - p(orange) from 2
    logits."""
    return np.clip(outputs[:, 0], -1, 1) if outputs.shape[1] == 1 else np.tanh((outputs[:, 1] - outputs[:, 0]) / 2)


def picture(net: ToyNet, names: list[str], epoch: int, history=(), **state) -> Picture:
    fine = net.layer_outputs(features(_square(GRID), names))[-1]
    coarse = net.layer_outputs(features(_square(NEURON_GRID), names))
    side = (NEURON_GRID, NEURON_GRID)
    return Picture(
        epoch=epoch, boundary=_blueness(fine).reshape(GRID, GRID),
        neurons=[layer.T.reshape(-1, *side) for layer in coarse[1:-1]], inputs=coarse[0].T.reshape(-1, *side),
        weights=[w.copy() for w in net.weights], biases=[b.copy() for b in net.biases],
        train_loss=[row.train_loss for row in history], test_loss=[row.test_loss for row in history],
        test_accuracy=_accuracy(history[-1].test_accuracy) if history else None, **state)


def _accuracy(value: float) -> float | None:
    """None for a regression, whose points have no class to get right (the loop's accuracy is NaN)."""
    return None if math.isnan(value) else value


class Playground:
    """One student's network, trained by the one loop in a thread of its own, a few epochs per request.

    The page asks for one epoch (a step) or, while playing, renews a lease of time; the loop's thread trains whole
    epochs until the request is met, drawing a Picture as it goes, then waits for the next request, so a paused
    playground costs nothing and a playing one stops soon after its page does. `present` says whether that page is
    still open (the web server knows; dlcore does not): once it has said no for AWAY_SECONDS, or nothing was asked
    for IDLE_SECONDS, the loop is suspended (its state packed) and the thread ends; the next request goes on from
    that state in a new thread, so a page that comes back (a reload: attend) finds the network where it was.
    """

    def __init__(self, config: ToyConfig, present: Callable[[], bool] = lambda: True):
        self.config = config
        self._present = present
        self.points = self._make_points()
        self._loop = self._new_loop()
        self._cond = threading.Condition()
        self._until_epoch, self._until_time = 0, 0.0
        self._asked = self._closed = self._idle = self._left = False
        self._holding = False  # whether this playground's thread holds one of the training slots
        self._drawn = 0.0  # when the thread last drew a picture
        self._thread: threading.Thread | None = None
        self._picture = self._first_picture()

    @property
    def epoch(self) -> int:
        return self._picture.epoch

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def finished(self) -> bool:
        return self._picture.status in ("done", "stopped", "diverged")

    def latest(self) -> Picture:
        return self._picture

    def step(self, wait: float = 30.0) -> Picture:
        """Train one more epoch; the picture after it (or the latest one, if it takes longer than `wait`)."""
        with self._cond:
            self._ask(max(self._loop.epoch, self._picture.epoch) + 1, math.inf)  # a resumed loop learns its epoch as it starts
            self._cond.wait_for(lambda: not self._asked, timeout=wait)
            return self._picture

    def play(self, lease: float) -> Picture:
        """Keep training for `lease` seconds more, without waiting: the latest picture, drawn while it trains.

        A page that stops asking (its tab closed) stops costing anything a lease later."""
        with self._cond:
            until = time.perf_counter() + lease
            if self._asked and self._until_epoch == MAX_TOY_EPOCHS:  # a lease under way is only ever lengthened;
                until = max(self._until_time, until)  # a Step's request (no time limit) is not one
            self._ask(MAX_TOY_EPOCHS, until)
            return self._picture

    def pause(self, wait: float = 5.0) -> Picture:
        """Stop after the epoch under way; the picture the network stopped at."""
        with self._cond:
            if self._asked:
                self._until_time = 0.0
                self._cond.wait_for(lambda: not self._asked, timeout=wait)
            return self._picture

    def attend(self, present: Callable[[], bool]) -> None:
        """A new page shows this playground (the same browser, reloaded): its presence is the one that counts."""
        with self._cond:
            self._present = present

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # what a kind of playground (a network, a GAN: point_gan) trains and draws
    def _make_points(self) -> Points:
        return make_points(self.config)

    def _new_loop(self, resume: bytes | None = None) -> Loop:
        return make_loop(self.config, MAX_TOY_EPOCHS, self.points, resume=resume)

    def _first_picture(self):
        return picture(build(self.config), used_features(self.config), 0)  # the same first weights the loop's lane draws

    def _draw(self, lanes: list, epoch: int, **state):
        return picture(lanes[0].model, used_features(self.config), epoch, lanes[0].history, **state)

    def _ask(self, until_epoch: int, until_time: float) -> None:
        """Under the condition: train until either mark; the thread starts at the first request."""
        if self.finished or self._closed:
            return
        self._until_epoch, self._until_time, self._asked = until_epoch, until_time, True
        self._cond.notify_all()
        if self._thread is None:
            self._thread = threading.Thread(target=self._train, name=f"playground-{id(self):x}", daemon=True)
            self._thread.start()

    # in the playground's thread
    def _train(self) -> None:
        _TRAINING.acquire()
        self._holding = True
        try:
            status = self._loop.run(on_epoch=self._epoch_done)
        except DLCoreError as exc:
            status, message = "stopped", str(exc)
        else:
            message = self._ending(status)
        finally:
            if self._holding:
                _TRAINING.release()
        lanes = self._loop.lanes
        with self._cond:
            if status == "suspended":  # the thread goes; the network stays, to go on from its state when asked
                self._loop = self._new_loop(resume=self._loop.suspended)
                self._thread, self._asked, self._idle, self._left = None, False, False, False
                self._cond.notify_all()
                return
            if lanes and status != "diverged":
                self._picture = self._draw(lanes, self._loop.epoch, status=status, message=message)
            else:
                self._picture = replace(self._picture, status=status, message=message)
            self._asked = False
            self._cond.notify_all()

    def _ending(self, status: str) -> str:
        if status == "diverged":
            return diverged_message(self._loop.configs[0])
        if status == "done":
            return f"Trained the most epochs a playground may ({MAX_TOY_EPOCHS:,}); reset to start again."
        if self._loop.timed_out:
            return "Stopped at this server's limit of training time per run; reset to start again."
        return "Stopped."

    def _epoch_done(self, loop: Loop) -> None:
        """After each epoch: a new picture every PICTURE_SECONDS while the request lasts; once it is met, the last
        picture, then wait for the next request."""
        now = time.perf_counter()
        if loop.epoch < self._until_epoch and now < self._until_time:
            if now - self._drawn >= PICTURE_SECONDS:
                with self._cond:
                    self._picture = self._draw(loop.lanes, loop.epoch, status="training")
                _TRAINING.release()  # a turn for any other playground waiting for a slot, and a pause as long as
                time.sleep(PICTURE_SECONDS * REST_SHARE)  # the training, so the page and its browser keep up
                _TRAINING.acquire()
                self._drawn = time.perf_counter()
            return
        with self._cond:
            self._picture = self._draw(loop.lanes, loop.epoch, status="ready")
            self._asked = False
            self._cond.notify_all()
            _TRAINING.release()
            self._holding = False
            self._wait_for_request()
            if self._closed:
                loop.stop()
                return
            if self._idle or self._left:
                loop.suspend()
                return
        _TRAINING.acquire()
        self._holding = True

    def _wait_for_request(self) -> None:
        """Under the condition: until the page asks again, its page has been gone AWAY_SECONDS, or IDLE_SECONDS pass."""
        now = seen = time.monotonic()
        idle_until = now + IDLE_SECONDS
        while not self._cond.wait_for(lambda: self._asked or self._closed, timeout=CHECK_SECONDS):
            now = time.monotonic()
            if self._present():
                seen = now
            self._left = now - seen >= AWAY_SECONDS
            self._idle = now >= idle_until
            if self._left or self._idle:
                return


# ---- networks kept for the browsers they belong to -------------------------------------------------------------

_kept: OrderedDict[str, Playground] = OrderedDict()
_kept_lock = threading.Lock()


def keep(owner: str, playground: Playground) -> None:
    """Remember `owner`'s playground (a browser's signed identity), so a reload finds it; the least recently used
    beyond KEPT_PLAYGROUNDS is closed and forgotten."""
    with _kept_lock:
        _kept[owner] = playground
        _kept.move_to_end(owner)
        while len(_kept) > KEPT_PLAYGROUNDS:
            _, dropped = _kept.popitem(last=False)
            dropped.close()


def kept(owner: str, config: ToyConfig) -> Playground | None:
    """`owner`'s playground if it has these settings and is not closed."""
    with _kept_lock:
        playground = _kept.get(owner)
        if playground is not None:
            _kept.move_to_end(owner)
    return playground if playground is not None and playground.config == config and not playground.closed else None
