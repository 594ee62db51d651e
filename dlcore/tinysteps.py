"""Many optimizer steps of a tiny network in one compiled call: the loop's fast path for the 2-D playground.

A 2-D network has a few dozen weights, so each NumPy call in a step (about 45 of them for 4-2) costs more than its
arithmetic, and TF Playground's engine, plain loops compiled by node, ran its lessons 1.2 to 7 times faster. Numba
compiles this module's loops once (cached on disk), and a call trains a run of batches: each point forward and
backward, the batch's mean gradient plus the weights' penalty, then the optimizer's update, with the same maths
as toy.ToyNet.numpy_gradient and optim.Rules (tests/test_tinysteps.py checks them against each other). Without
numba, `available` is False and the loop steps one batch at a time in NumPy as before.
"""

from __future__ import annotations

import math

import numpy as np

from .config import MAX_TOY_UNITS, TOY_FEATURES

try:
    from numba import njit
except ImportError:  # the NumPy steps still work
    njit = None


def _compiled(function):
    return njit(cache=True)(function) if njit is not None else function

ACTIVATIONS = {"tanh": 0, "relu": 1, "sigmoid": 2, "linear": 3}
OUTPUTS = {"tanh": 0, "linear": 1, "logits": 2}  # toy.OUTPUTS: squared error on one tanh or linear output, or
# cross-entropy on two logits
REGULARIZATIONS = {"none": 0, "l1": 1, "l2": 2}
MAX_WIDTH = max(MAX_TOY_UNITS, len(TOY_FEATURES), 2)  # the widest layer steps() keeps room for (it does not
# check: a wider network is stepped in NumPy, see fits())


def fits(sizes: np.ndarray) -> bool:
    """Whether steps() can train a network of these layer widths (inputs, hidden layers, outputs)."""
    return available and int(sizes.max()) <= MAX_WIDTH


@_compiled
def _activate(z: float, kind: int) -> float:
    if kind == 0:
        return math.tanh(z)
    if kind == 1:
        return z if z > 0 else 0.0
    if kind == 2:
        return 1.0 / (1.0 + math.exp(-z))
    return z


@_compiled
def _slope(a: float, kind: int) -> float:
    """The activation's derivative, from its output."""
    if kind == 0:
        return 1.0 - a * a
    if kind == 1:
        return 1.0 if a > 0 else 0.0
    if kind == 2:
        return a * (1.0 - a)
    return 1.0


@_compiled
def steps(flat, sizes, x, y, order, first, last, batch, activation, output, regularization, reg_rate,
           coefficients, m, v, t, lr, losses, corrects):
    """Train batches order[first:last] in batch-sized slices; each step's mean loss and correct points into
    losses/corrects (NaN for a regression's values); returns the optimizer's step count after them.

    flat: the weights, layer by layer (out x in) then the biases, as toy.ToyNet lays them out; sizes: inputs,
    each hidden layer's width, outputs; coefficients: one optim.Rules row (lr, a, b, c, d, eps, wd, decoupled,
    nesterov, adam, scaled, after); m, v: its running averages, updated in place with flat.
    """
    layers = len(sizes) - 1
    starts = np.zeros(layers + 1, np.int64)  # where each layer's weights begin; its biases follow them
    for i in range(layers):
        starts[i + 1] = starts[i] + sizes[i + 1] * (sizes[i] + 1)
    acts = np.zeros((layers + 1, MAX_WIDTH), np.float32)
    delta = np.zeros(MAX_WIDTH, np.float32)
    below = np.zeros(MAX_WIDTH, np.float32)
    grad = np.zeros(flat.shape[0], np.float32)
    a, b, c, d, eps, wd = coefficients[1], coefficients[2], coefficients[3], coefficients[4], coefficients[5], coefficients[6]
    decoupled, nesterov, adam = coefficients[7] != 0, coefficients[8] != 0, coefficients[9] != 0
    scaled, after = coefficients[10] != 0, coefficients[11] != 0
    momentum = a != 0 or b != 1
    step = 0
    for begin in range(first, last, batch):
        end = min(begin + batch, last)
        count = end - begin
        grad[:] = 0
        total, right = 0.0, 0
        for k in range(begin, end):
            point = order[k]
            for i in range(sizes[0]):
                acts[0, i] = x[point, i]
            for layer in range(layers):
                fan_in, units, start = sizes[layer], sizes[layer + 1], starts[layer]
                bias = start + units * fan_in
                for j in range(units):
                    z = flat[bias + j]
                    for i in range(fan_in):
                        z += flat[start + j * fan_in + i] * acts[layer, i]
                    if layer < layers - 1:
                        acts[layer + 1, j] = _activate(z, activation)
                    elif output == 0:
                        acts[layer + 1, j] = math.tanh(z)
                    else:
                        acts[layer + 1, j] = z
            out = acts[layers]
            if output == 2:  # cross-entropy on two logits: softmax minus the one-hot label
                top = max(out[0], out[1])
                e0, e1 = math.exp(out[0] - top), math.exp(out[1] - top)
                label = int(y[point])
                total += math.log(e0 + e1) - (out[label] - top)
                delta[0], delta[1] = e0 / (e0 + e1), e1 / (e0 + e1)
                delta[label] -= 1.0
                right += 1 if (1 if out[1] > out[0] else 0) == label else 0
            else:  # half the squared error against +1/-1 for a class, or the value
                target = y[point] if output == 1 else 2.0 * y[point] - 1.0
                difference = out[0] - target
                total += 0.5 * difference * difference
                delta[0] = difference * (1.0 - out[0] * out[0]) if output == 0 else difference
                right += 1 if (out[0] > 0) == (y[point] > 0.5) else 0
            for layer in range(layers - 1, -1, -1):
                fan_in, units, start = sizes[layer], sizes[layer + 1], starts[layer]
                bias = start + units * fan_in
                for j in range(units):
                    grad[bias + j] += delta[j]
                    for i in range(fan_in):
                        grad[start + j * fan_in + i] += delta[j] * acts[layer, i]
                if layer:
                    for i in range(fan_in):
                        s = 0.0
                        for j in range(units):
                            s += flat[start + j * fan_in + i] * delta[j]
                        below[i] = s * _slope(acts[layer, i], activation)
                    for i in range(fan_in):
                        delta[i] = below[i]
        losses[step] = total / count
        corrects[step] = math.nan if output == 1 else right
        grad /= count
        if regularization:
            for layer in range(layers):
                start = starts[layer]
                for w in range(start, start + sizes[layer + 1] * sizes[layer]):
                    if regularization == 1:
                        grad[w] += reg_rate * (1.0 if flat[w] > 0 else -1.0 if flat[w] < 0 else 0.0)
                    else:
                        grad[w] += reg_rate * flat[w]
        t += 1  # optim.Rules.step, for one row
        correction1 = 1.0 - a**t if adam else 1.0
        correction2 = 1.0 - c**t if adam else 1.0
        for w in range(flat.shape[0]):
            g = grad[w]
            if wd != 0:
                if decoupled:
                    flat[w] *= 1 - lr * wd
                else:
                    g += wd * flat[w]
            scale = 1.0
            if scaled:
                v[w] = c * v[w] + d * g * g
                scale = math.sqrt(v[w]) / math.sqrt(correction2) + eps
            pre = g / scale if after else g
            m[w] = a * m[w] + b * pre if momentum else pre
            direction = pre + a * m[w] if nesterov else m[w]
            if not scaled:
                flat[w] -= lr * direction
            else:
                flat[w] -= lr / correction1 * (direction / (1.0 if after else scale))
        step += 1
    return t


available = njit is not None  # without numba, steps() is plain Python: far slower than NumPy, so not used


def warm_up() -> None:
    """Compile steps (or load it from numba's cache) on a one-neuron network, so a first Play does not wait for it
    (a few seconds the first time, over a second from the cache)."""
    if available:
        flat = np.zeros(4, np.float32)
        steps(flat, np.array([1, 1, 1], np.int64), np.zeros((1, 1), np.float32), np.zeros(1, np.float32),
              np.zeros(1, np.int64), 0, 1, 1, 0, 0, 0, 0.0, np.zeros(12), np.zeros(4, np.float32),
              np.zeros(4, np.float32), 0, 0.0, np.empty(1), np.empty(1))
