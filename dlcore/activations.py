"""The activation registry: the one list the Activation lab plots and the network builder offers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from .config import DLCoreError


@dataclass(frozen=True)
class Parameter:
    """A tunable activation parameter and the range in which it still gives a sensible function."""

    label: str
    low: float
    high: float
    step: float
    help: str


# Keyed by parameter name: each name belongs to one activation, so the lab can draw its slider from here.
PARAMETERS: dict[str, Parameter] = {
    "slope": Parameter("Negative slope a", 0.0, 1.0, 0.01, "How much of a negative input Leaky ReLU lets through."),
    "alpha": Parameter("α", 0.1, 3.0, 0.1, "The value ELU approaches for very negative inputs is -α."),
    "beta": Parameter("β", 0.1, 10.0, 0.1, "Larger β makes Softplus closer to ReLU."),
}


@dataclass(frozen=True)
class Activation:
    """A named activation with what a learner needs to read it: formula, range and when it is used."""

    name: str
    title: str
    make: Callable[..., nn.Module]  # keyword params -> module
    formula: str  # LaTeX
    output_range: str
    note: str
    params: dict[str, float] = field(default_factory=dict)  # name -> default
    elementwise: bool = True  # softmax acts on a whole vector

    def module(self, **params: float) -> nn.Module:
        unknown = set(params) - set(self.params)
        if unknown:
            raise DLCoreError(f"{self.title} has no parameter {', '.join(sorted(unknown))}.")
        for key, value in params.items():
            limits = PARAMETERS[key]
            if not limits.low <= value <= limits.high:
                raise DLCoreError(
                    f"{self.title}'s {limits.label} must be between {limits.low:g} and {limits.high:g}, not {value:g}."
                )
        return self.make(**{**self.params, **params})


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation(
            "relu", "ReLU", lambda: nn.ReLU(), r"\mathrm{ReLU}(x) = \max(0, x)", "[0, ∞)",
            "The default for hidden layers: cheap, and its gradient does not shrink for positive inputs.",
        ),
        Activation(
            "leaky-relu", "Leaky ReLU", lambda slope: nn.LeakyReLU(slope),
            r"\mathrm{LeakyReLU}(x) = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases}", "(-∞, ∞)",
            "ReLU with a small slope for negatives, so units cannot die.", {"slope": 0.01},
        ),
        Activation(
            "elu", "ELU", lambda alpha: nn.ELU(alpha),
            r"\mathrm{ELU}(x) = \begin{cases} x & x > 0 \\ \alpha\,(e^{x} - 1) & x \le 0 \end{cases}", "(-α, ∞)",
            "Smooth ReLU whose negative side pushes mean activations towards zero.", {"alpha": 1.0},
        ),
        Activation(
            "selu", "SELU", lambda: nn.SELU(),
            r"\mathrm{SELU}(x) = \lambda \begin{cases} x & x > 0 \\ \alpha\,(e^{x} - 1) & x \le 0 \end{cases},"
            r"\ \lambda \approx 1.0507,\ \alpha \approx 1.6733", "(-λα, ∞)",
            "Self-normalising nets: keeps activations near zero mean and unit variance in deep MLPs.",
        ),
        Activation(
            "gelu", "GELU", lambda: nn.GELU(), r"\mathrm{GELU}(x) = x\,\Phi(x)", "[≈-0.17, ∞)",
            "The transformer default (BERT, GPT): a smooth ReLU weighted by the Gaussian CDF.",
        ),
        Activation(
            "silu", "SiLU / Swish", lambda: nn.SiLU(), r"\mathrm{SiLU}(x) = x\,\sigma(x)", "[≈-0.28, ∞)",
            "Found by architecture search; used in EfficientNet and many modern CNNs.",
        ),
        Activation(
            "mish", "Mish", lambda: nn.Mish(), r"\mathrm{Mish}(x) = x \tanh(\mathrm{softplus}(x))", "[≈-0.31, ∞)",
            "A smooth, non-monotonic ReLU alternative used in YOLOv4.",
        ),
        Activation(
            "softplus", "Softplus", lambda beta: nn.Softplus(beta),
            r"\mathrm{Softplus}(x) = \frac{1}{\beta} \log(1 + e^{\beta x})", "(0, ∞)",
            "A smooth ReLU; also used where an output must stay positive (a variance, a rate).", {"beta": 1.0},
        ),
        Activation(
            "sigmoid", "Sigmoid", lambda: nn.Sigmoid(), r"\sigma(x) = \frac{1}{1 + e^{-x}}", "(0, 1)",
            "Outputs a probability; in deep hidden stacks its gradient (at most 1/4) vanishes.",
        ),
        Activation(
            "tanh", "Tanh", lambda: nn.Tanh(), r"\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}", "(-1, 1)",
            "Zero-centred sigmoid; classic in RNNs, still saturates for large inputs.",
        ),
        Activation(
            "hardtanh", "Hardtanh", lambda: nn.Hardtanh(), r"\mathrm{Hardtanh}(x) = \max(-1, \min(1, x))", "[-1, 1]",
            "A cheap piecewise-linear tanh, used on low-power hardware.",
        ),
        Activation(
            "hardswish", "Hard-swish", lambda: nn.Hardswish(),
            r"\mathrm{Hardswish}(x) = x\,\frac{\mathrm{ReLU6}(x + 3)}{6}", "[-0.375, ∞)",
            "A piecewise approximation of Swish made for mobile networks (MobileNetV3).",
        ),
        Activation(
            "softmax", "Softmax", lambda: nn.Softmax(dim=-1),
            r"\mathrm{softmax}(z)_i = \frac{e^{z_i / T}}{\sum_j e^{z_j / T}}", "(0, 1), summing to 1",
            "Turns a vector of scores (logits) into probabilities; the usual last step of a classifier.",
            elementwise=False,
        ),
    ]
}


HIDDEN_ACTIVATIONS = [name for name, a in ACTIVATIONS.items() if a.elementwise]

MIN_DEPTH, MAX_DEPTH = 2, 30  # hidden layers in the gradient-flow experiment
MAX_WIDTH = 1024
MAX_POINTS = 5000
MAX_LOGITS = 50

# How the gradient-flow MLP gets its first weights; biases start at zero except with PyTorch's own default.
INITS: dict[str, str] = {
    "he": "He (Kaiming) normal: the usual choice for ReLU-like networks",
    "glorot": "Glorot (Xavier) uniform: Keras's default",
    "pytorch": "PyTorch's nn.Linear default: weights and biases uniform in ±1/√fan-in",
}


def get(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise DLCoreError(
            f"Unknown activation '{name}'; choose one of: {', '.join(ACTIVATIONS)}."
        ) from None


def curve(name: str, x: torch.Tensor, **params: float) -> tuple[torch.Tensor, torch.Tensor]:
    """f(x) and f'(x) for an elementwise activation; the derivative comes from autograd, not a formula."""
    activation = get(name)
    if not activation.elementwise:
        raise DLCoreError(f"{activation.title} acts on a whole vector; use softmax() to see it.")
    x = x.detach().clone().requires_grad_(True)
    y = activation.module(**params)(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), dy


def curve_points(
    name: str, low: float, high: float, points: int = 401, **params: float
) -> tuple[list[float], list[float], list[float]]:
    """x, f(x) and f'(x) on an even grid as plain lists, ready to plot without touching torch."""
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise DLCoreError(f"The x range must go from a smaller to a larger number, not {low:g} to {high:g}.")
    if not 2 <= points <= MAX_POINTS:
        raise DLCoreError(f"Choose between 2 and {MAX_POINTS} points.")
    x = torch.linspace(low, high, points, dtype=torch.float64)
    y, dy = curve(name, x, **params)
    return x.tolist(), y.tolist(), dy.tolist()


def softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Probabilities from logits; a higher temperature flattens them, a lower one sharpens them."""
    if not temperature > 0 or not math.isfinite(temperature):
        raise DLCoreError("The temperature must be a number above zero; try 1.0.")
    return torch.softmax(logits / temperature, dim=-1)


def probabilities(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    """softmax() for a plain list of logits, as typed into the lab."""
    if not 1 <= len(logits) <= MAX_LOGITS:
        raise DLCoreError(f"Give between 1 and {MAX_LOGITS} logits.")
    values = [float("nan") if v is None else float(v) for v in logits]
    if not all(math.isfinite(v) for v in values):
        raise DLCoreError("Every logit must be a number; fill in or delete the empty row.")
    return softmax(torch.tensor(values, dtype=torch.float64), temperature).tolist()


def random_logits(count: int, seed: int, scale: float = 2.0) -> list[float]:
    """Reproducible normally distributed logits, rounded so they read well in a table."""
    if not 1 <= count <= MAX_LOGITS:
        raise DLCoreError(f"Give between 1 and {MAX_LOGITS} logits.")
    generator = torch.Generator().manual_seed(seed)
    return [round(v, 2) for v in (torch.randn(count, generator=generator, dtype=torch.float64) * scale).tolist()]


@dataclass(frozen=True)
class GradientFlow:
    """Per-layer measurements of one backward pass, first hidden layer first."""

    activation: str
    grad_norms: list[float]  # L2 norm of each linear layer's weight gradient, output layer last
    dead_share: list[float]  # per hidden layer: share of units that output exactly 0 for the whole batch

    @property
    def depth(self) -> int:
        return len(self.dead_share)

    @property
    def first_to_last(self) -> float:
        """How much smaller the first layer's gradient is than the last's (below 1 means vanishing)."""
        return self.grad_norms[0] / max(self.grad_norms[-1], 1e-30)

    def explain(self) -> str:
        """What the measurement shows, in words a learner can check against the chart."""
        first, last, ratio = self.grad_norms[0], self.grad_norms[-1], self.first_to_last
        sentences = [f"{get(self.activation).title}, {self.depth} hidden layers: "]
        if last == 0:
            sentences[0] += "no layer gets any gradient, because every unit before the output layer is dead."
        elif first == 0:
            sentences[0] += (
                "the first layer's gradient is exactly 0 (too small even for float32): it vanished completely "
                "on the way back, so the first layers cannot learn at all."
            )
        elif ratio < 1e-2:
            sentences[0] += (
                f"the first layer's gradient is {_scientific(ratio)} of the last layer's "
                f"({-math.log10(ratio):.0f} orders of magnitude smaller): it vanishes on the way back, "
                "so the first layers would barely learn."
            )
        elif ratio > 1e2:
            sentences[0] += (
                f"the first layer's gradient is {_scientific(ratio)} times the last layer's: it explodes on the way "
                "back, so the first layers would take wild steps."
            )
        else:
            sentences[0] += (
                f"the first layer's gradient is {ratio:.2g} times the last layer's: the gradient reaches every "
                "layer at a similar size."
            )
        largest = max(self.grad_norms)
        if largest > 1e3:
            sentences.append(
                f"Every gradient is large (up to {_scientific(largest)}): a usual learning rate would throw the "
                "weights far off."
            )
        elif 0 < largest < 1e-4:
            sentences.append(
                f"Every gradient is tiny (at most {_scientific(largest)}): the whole network would barely move."
            )
        most_dead = max(self.dead_share)
        if most_dead >= 0.05:
            sentences.append(
                f"Up to {most_dead:.0%} of a layer's units are dead (zero for every digit in the batch) and pass "
                "no gradient back."
            )
        return " ".join(sentences)


def _scientific(value: float) -> str:
    """1.2×10⁻⁶ rather than 1.2e-06; plain digits between 0.01 and 1000."""
    if 1e-2 <= value < 1e3:
        return f"{value:.3g}"
    exponent = math.floor(math.log10(value))
    mantissa = value / 10**exponent
    superscript = str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"{mantissa:.1f}×10{superscript}"


def gradient_flow(
    name: str, depth: int, width: int, images: torch.Tensor, labels: torch.Tensor, seed: int = 0,
    init: str = "he", gain: float = 1.0, **params: float,
) -> GradientFlow:
    """Push one real batch through a freshly initialised MLP and measure each layer's gradient and dead units.

    Every activation gets the same weights for a given init, so only the activation differs between runs.
    """
    if not MIN_DEPTH <= depth <= MAX_DEPTH:
        raise DLCoreError(f"Choose a depth between {MIN_DEPTH} and {MAX_DEPTH} hidden layers.")
    if not 1 <= width <= MAX_WIDTH:
        raise DLCoreError(f"Choose a width between 1 and {MAX_WIDTH} units.")
    if init not in INITS:
        raise DLCoreError(f"Unknown initialisation '{init}'; choose one of: {', '.join(INITS)}.")
    if not 0 < gain <= 10:
        raise DLCoreError("The weight scale must be above 0 and at most 10; try 1.")
    activation = get(name)
    if not activation.elementwise:
        raise DLCoreError(f"{activation.title} is for the output layer; pick an elementwise activation.")
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    in_features = images[0].numel()
    for _ in range(depth):
        layers += [nn.Linear(in_features, width), activation.module(**params)]
        in_features = width
    layers.append(nn.Linear(in_features, 10))
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for linear in linears:
            if init == "he":
                nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            elif init == "glorot":
                nn.init.xavier_uniform_(linear.weight)
            if init != "pytorch":
                nn.init.zeros_(linear.bias)
            linear.weight.mul_(gain)
    net = nn.Sequential(nn.Flatten(), *layers)

    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach())) for m in layers[1::2]]
    loss = nn.functional.cross_entropy(net(images), labels)
    loss.backward()
    for hook in hooks:
        hook.remove()

    grad_norms = [m.weight.grad.norm().item() for m in linears]
    dead_share = [(out == 0).all(dim=0).float().mean().item() for out in outputs]
    return GradientFlow(name, grad_norms, dead_share)


def measure_gradient_flow(
    name: str, depth: int, width: int, dataset: str = "mnist-sample", batch_size: int = 256, seed: int = 0,
    init: str = "he", gain: float = 1.0, **params: float,
) -> GradientFlow:
    """gradient_flow() on a reproducible batch of real digits, for callers that hold no tensors."""
    from .data import sample_batch

    images, labels = sample_batch(dataset, batch_size, seed)
    return gradient_flow(name, depth, width, images, labels, seed, init, gain, **params)
