"""ModelSpec -> nn.Module, the shape and parameter count of every layer, and the seed presets."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import activations
from .config import (
    IMAGE_SIZE, MAX_CHANNELS, MAX_CONV_BLOCKS, MAX_HIDDEN_LAYERS, MAX_UNITS, NUM_CLASSES,
    ConvBlock, DenseLayer, DLCoreError, ModelSpec,
)

PRESETS: dict[str, ModelSpec] = {
    # The seed networks, reproduced exactly.
    "simple-nn": ModelSpec("mlp", dense=(DenseLayer(128), DenseLayer(64))),
    "keras-mlp": ModelSpec("mlp", dense=(DenseLayer(128),)),
    "cnn": ModelSpec("cnn", conv=(ConvBlock(32), ConvBlock(64, pool="max")), dense=(DenseLayer(128),)),
}
POOLS = ("none", "max", "avg")
PADDINGS = ("valid", "same")


@dataclass(frozen=True)
class LayerRow:
    """One line of the model table: what the layer is, what comes out of it, what it costs."""

    name: str
    output_shape: tuple[int, ...]  # without the batch dimension
    parameters: int


def preset(name: str) -> ModelSpec:
    try:
        return PRESETS[name]
    except KeyError:
        raise DLCoreError(f"Unknown preset '{name}'; choose one of: {', '.join(PRESETS)}.") from None


def validate(spec: ModelSpec) -> None:
    """Refuse specs that are malformed or too big for a shared classroom server, with one sentence."""
    if spec.kind not in ("mlp", "cnn"):
        raise DLCoreError(f"Unknown model kind '{spec.kind}'; choose mlp or cnn.")
    if spec.kind == "mlp" and spec.conv:
        raise DLCoreError("An MLP has no conv blocks; choose the cnn kind to use them.")
    if spec.kind == "cnn" and not spec.conv:
        raise DLCoreError("A CNN needs at least one conv block.")
    if len(spec.dense) > MAX_HIDDEN_LAYERS:
        raise DLCoreError(f"{len(spec.dense)} hidden layers is more than the limit of {MAX_HIDDEN_LAYERS}; remove some.")
    if len(spec.conv) > MAX_CONV_BLOCKS:
        raise DLCoreError(f"{len(spec.conv)} conv blocks is more than the limit of {MAX_CONV_BLOCKS}; remove some.")
    for i, layer in enumerate(spec.dense, 1):
        if not 1 <= layer.units <= MAX_UNITS:
            raise DLCoreError(f"Hidden layer {i} has {layer.units} units; use between 1 and {MAX_UNITS:,}.")
        if not 0 <= layer.dropout < 1:
            raise DLCoreError(f"Hidden layer {i} has dropout {layer.dropout}; use a value from 0 up to (not including) 1.")
        _check_activation(layer.activation, f"Hidden layer {i}")
    for i, block in enumerate(spec.conv, 1):
        if not 1 <= block.channels <= MAX_CHANNELS:
            raise DLCoreError(f"Conv block {i} has {block.channels} channels; use between 1 and {MAX_CHANNELS}.")
        if block.kernel not in (1, 3, 5, 7):
            raise DLCoreError(f"Conv block {i} has a {block.kernel}x{block.kernel} kernel; use 1, 3, 5 or 7.")
        if block.pool not in POOLS:
            raise DLCoreError(f"Conv block {i} has pooling '{block.pool}'; use one of {', '.join(POOLS)}.")
        if block.padding not in PADDINGS:
            raise DLCoreError(f"Conv block {i} has padding '{block.padding}'; use valid or same.")
        _check_activation(block.activation, f"Conv block {i}")
    side = IMAGE_SIZE
    for i, block in enumerate(spec.conv, 1):
        side = _conv_side(side, block)
        if side < 1:
            raise DLCoreError(f"Conv block {i} shrinks the image to nothing; use 'same' padding or fewer pooling layers.")


def build(spec: ModelSpec) -> nn.Sequential:
    """The network for a spec; its output is 10 logits per image of shape (N, 1, 28, 28)."""
    return nn.Sequential(*(module for _, module in _named_layers(spec)))


def describe(spec: ModelSpec) -> list[LayerRow]:
    """Each layer's output shape and parameter count, from a real forward pass on a dummy image."""
    rows = []
    x = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        for name, module in _named_layers(spec):
            module.eval()
            x = module(x)
            rows.append(LayerRow(name, tuple(x.shape[1:]), count_parameters(module)))
    return rows


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _check_activation(name: str, where: str) -> None:
    activation = activations.get(name)
    if not activation.elementwise:
        raise DLCoreError(f"{where} uses {activation.title}, which is for outputs; pick an elementwise activation.")


def _conv_side(side: int, block: ConvBlock) -> int:
    if block.padding == "valid":
        side = side - block.kernel + 1
    return side // 2 if block.pool != "none" else side


def _named_layers(spec: ModelSpec) -> list[tuple[str, nn.Module]]:
    """Readable names with modules, in order, so the table and the network never disagree."""
    validate(spec)
    layers: list[tuple[str, nn.Module]] = []
    channels = 1
    for i, block in enumerate(spec.conv, 1):
        layers.append((f"conv{i} {block.kernel}x{block.kernel}, {block.channels}",
                       nn.Conv2d(channels, block.channels, block.kernel, padding=block.padding)))
        if block.batch_norm:
            layers.append((f"batchnorm{i}", nn.BatchNorm2d(block.channels)))
        layers.append((f"{block.activation}", activations.get(block.activation).module()))
        if block.pool == "max":
            layers.append(("maxpool 2x2", nn.MaxPool2d(2)))
        elif block.pool == "avg":
            layers.append(("avgpool 2x2", nn.AvgPool2d(2)))
        channels = block.channels
    side = IMAGE_SIZE
    for block in spec.conv:
        side = _conv_side(side, block)
    layers.append(("flatten", nn.Flatten()))
    features = channels * side * side
    for i, layer in enumerate(spec.dense, 1):
        layers.append((f"dense{i} {layer.units}", nn.Linear(features, layer.units)))
        if layer.batch_norm:
            layers.append((f"batchnorm (dense{i})", nn.BatchNorm1d(layer.units)))
        layers.append((layer.activation, activations.get(layer.activation).module()))
        if layer.dropout > 0:
            layers.append((f"dropout {layer.dropout:g}", nn.Dropout(layer.dropout)))
        features = layer.units
    layers.append((f"output {NUM_CLASSES}", nn.Linear(features, NUM_CLASSES)))
    return layers
