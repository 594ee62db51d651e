"""The activation registry: the one list the Activation lab plots and the network builder offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .config import DLCoreError


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


def softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Probabilities from logits; a higher temperature flattens them, a lower one sharpens them."""
    if temperature <= 0:
        raise DLCoreError("The temperature must be above zero; try 1.0.")
    return torch.softmax(logits / temperature, dim=-1)


@dataclass(frozen=True)
class GradientFlow:
    """Per-layer measurements of one backward pass, first hidden layer first."""

    activation: str
    grad_norms: list[float]  # L2 norm of each linear layer's weight gradient, output layer last
    dead_share: list[float]  # per hidden layer: share of units that output exactly 0 for the whole batch

    @property
    def first_to_last(self) -> float:
        """How much smaller the first layer's gradient is than the last's (below 1 means vanishing)."""
        return self.grad_norms[0] / max(self.grad_norms[-1], 1e-30)


def gradient_flow(
    name: str, depth: int, width: int, images: torch.Tensor, labels: torch.Tensor, seed: int = 0, **params: float
) -> GradientFlow:
    """Push one real batch through a freshly initialised MLP (PyTorch's default init) and measure."""
    if not 1 <= depth <= 30:
        raise DLCoreError("Choose a depth between 1 and 30 hidden layers.")
    if not 1 <= width <= 1024:
        raise DLCoreError("Choose a width between 1 and 1024 units.")
    activation = get(name)
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    in_features = images[0].numel()
    for _ in range(depth):
        layers += [nn.Linear(in_features, width), activation.module(**params)]
        in_features = width
    layers.append(nn.Linear(in_features, 10))
    net = nn.Sequential(nn.Flatten(), *layers)

    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach())) for m in layers[1::2]]
    loss = nn.functional.cross_entropy(net(images), labels)
    loss.backward()
    for hook in hooks:
        hook.remove()

    grad_norms = [m.weight.grad.norm().item() for m in net if isinstance(m, nn.Linear)]
    dead_share = [(out == 0).all(dim=0).float().mean().item() for out in outputs]
    return GradientFlow(name, grad_norms, dead_share)
