"""ModelSpec -> nn.Module, the shape and parameter count of every layer, its memory cost, and the seed presets."""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass
from math import prod

from torch import nn

from . import activations, attention, data, generative, reinforcement, sequences
from .config import IMAGE_SIZE, ConvBlock, DenseLayer, DLCoreError, ModelSpec

PRESETS: dict[str, ModelSpec] = {
    # The seed networks, reproduced exactly.
    "simple-nn": ModelSpec("mlp", dense=(DenseLayer(128), DenseLayer(64))),
    "keras-mlp": ModelSpec("mlp", dense=(DenseLayer(128),)),
    "cnn": ModelSpec("cnn", conv=(ConvBlock(32), ConvBlock(64, pool="max")), dense=(DenseLayer(128),)),
}
DIGITS = "mnist"  # what a network reads unless told: any digit dataset, 28x28 images of 10 classes
POOLS = typing.get_args(ConvBlock.__pydantic_fields__["pool"].annotation)  # the choices the schema allows
PADDINGS = typing.get_args(ConvBlock.__pydantic_fields__["padding"].annotation)


@dataclass(frozen=True)
class LayerRow:
    """One line of the model table: what the layer is, what comes out of it, what it costs."""

    name: str
    output_shape: tuple[int, ...]  # without the batch dimension
    parameters: int
    reuses: int | None = None  # how often its weights work for one image, when not at each position of its output
    # (a convolution's); a recurrent layer's at each step
    inner: int = 0  # numbers it keeps inside for backward, per example, beyond its output (a transformer block's)
    mixing: int = 0  # multiply-adds per example not by its weights (attention's queries times keys)


def preset(name: str) -> ModelSpec:
    try:
        return PRESETS[name]
    except KeyError:
        raise DLCoreError(f"Unknown preset '{name}'; choose one of: {', '.join(PRESETS)}.") from None


def validate(spec: ModelSpec, dataset: str = DIGITS) -> None:
    """Refuse specs that the schema's bounds allow but no network can be built from (for a dataset: a sequence
    task's shapes are its own), with one sentence."""
    if spec.agent or reinforcement.is_env(dataset):
        reinforcement.check_network(spec, dataset)
        for i, layer in enumerate(spec.dense, 1):
            _check_activation(layer.activation, f"Hidden layer {i}")
        return
    if spec.generative:
        generative.validate(spec)
    sequences.validate(spec, dataset)
    attention.validate(spec, dataset)
    if spec.sequence and spec.conv:
        raise DLCoreError(f"A recurrent network ({sequences.CELL_NAMES[spec.kind]}) reads the rows itself; remove its "
                          "conv blocks.")
    if spec.kind == "mlp" and spec.conv:
        raise DLCoreError("An MLP has no conv blocks; choose the cnn kind to use them.")
    if spec.kind == "cnn" and not spec.conv:
        raise DLCoreError("A CNN needs at least one conv block.")
    for i, layer in enumerate(spec.dense, 1):
        _check_activation(layer.activation, f"Hidden layer {i}")
    side = IMAGE_SIZE
    for i, block in enumerate(spec.conv, 1):
        _check_activation(block.activation, f"Conv block {i}")
        side = _conv_side(side, block)
        if side < 1:
            raise DLCoreError(f"Conv block {i} shrinks the image to nothing; use 'same' padding or fewer pooling layers.")


def build(spec: ModelSpec, dataset: str = DIGITS) -> nn.Module:
    """The network for a spec and the data it reads; a classifier's output is 10 logits per image of shape
    (N, 1, 28, 28), an autoencoder's the 784 pixel logits of its drawing (generative.AutoEncoder), a recurrent
    network's its task's answers (sequences.Task)."""
    if spec.generative:
        validate(spec)
        return generative.build(spec)
    return nn.Sequential(*(layer.make() for layer in _planned_layers(spec, dataset)))


def describe(spec: ModelSpec, dataset: str = DIGITS) -> list[LayerRow]:
    """Each layer's output shape and parameter count, worked out without allocating the network.

    A student can type a spec with hundreds of millions of weights; describing it must cost nothing.
    """
    return [layer.row for layer in _planned_layers(spec, dataset)]


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one training run of a network needs, by what holds them."""

    weights: int  # the parameters, and their gradients
    optimizer_state: int  # momentum and second-moment buffers, plus the foreach step's temporaries
    activations: int  # every layer's output kept for backward, and its gradient, for one batch
    evaluation: int  # consecutive layer outputs and the convolutions' workspace for one evaluation batch

    def total(self, lanes: int = 1) -> int:
        """For `lanes` copies of the network stepped one after another (an optimizer race), one batch at a time."""
        return lanes * (self.weights + self.optimizer_state) + max(self.activations, self.evaluation)


FLOAT_BYTES = 4


def estimate_memory(spec: ModelSpec, batch_size: int, optimizer_buffers: int, eval_batch: int,
                    dataset: str = DIGITS) -> MemoryEstimate:
    """An upper-end estimate of a run's memory from shapes alone, in well under a millisecond.

    optimizer_buffers: parameter-sized tensors the optimizer keeps (Adam 2, SGD with momentum 1). The factors
    were fitted to peak RSS measured for MLPs and CNNs at batch 64-2048 (the estimate came out 1-2x the
    measurement): training keeps each layer's output for backward and makes a gradient of the same size, the
    foreach step makes two parameter-sized temporaries, and evaluation needs about twice two layers' outputs.
    """
    rows = describe(spec, dataset)
    parameters = sum(row.parameters for row in rows)
    inputs = reinforcement.env_of(dataset).features if spec.agent else IMAGE_SIZE * IMAGE_SIZE
    sizes = [inputs] + [prod(row.output_shape) for row in rows]
    per_sample = sum(sizes) + sum(row.inner for row in rows)
    widest_pair = max(a + b for a, b in zip(sizes, sizes[1:]))
    return MemoryEstimate(
        weights=2 * parameters * FLOAT_BYTES,
        optimizer_state=(optimizer_buffers + 2) * parameters * FLOAT_BYTES,
        activations=3 * per_sample * batch_size * FLOAT_BYTES,
        evaluation=2 * widest_pair * eval_batch * FLOAT_BYTES,
    )


def multiply_adds(spec: ModelSpec, dataset: str = DIGITS) -> int:
    """Multiply-adds one image costs a forward pass: each layer's weights times the positions it slides over, plus
    one per output value; what a job's time and an import's scoring are estimated from."""
    return sum(row.parameters * (row.reuses or prod(row.output_shape[1:])) + prod(row.output_shape) + row.mixing
               for row in describe(spec, dataset))


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


@dataclass(frozen=True)
class _PlannedLayer:
    """A layer's table row and how to make its module, so the table and the network never disagree."""

    row: LayerRow
    make: Callable[[], nn.Module]


def _planned_layers(spec: ModelSpec, dataset: str) -> list[_PlannedLayer]:
    """Every layer in order, with its output shape (without the batch) and its parameter count."""
    validate(spec, dataset)
    if spec.generative:
        return [_PlannedLayer(LayerRow(name, shape, parameters), make)
                for part in generative.plan(spec) for name, shape, parameters, make in part]
    layers: list[_PlannedLayer] = []

    def add(name: str, shape: tuple[int, ...], parameters: int, make: Callable[[], nn.Module]) -> None:
        reuses = shape[0] if len(shape) == 2 else None  # a layer at each of a sequence's answering steps
        layers.append(_PlannedLayer(LayerRow(name, shape, parameters, reuses), make))

    if spec.agent:  # a state's numbers in, each action's value out; a table has no bias, a value per cell alone
        width = reinforcement.env_of(dataset).features
        table = spec.kind == "q-table"
        for i, layer in enumerate(spec.dense, 1):
            add(f"dense{i} {layer.units}", (layer.units,), width * layer.units + layer.units,
                lambda f=width, u=layer.units: nn.Linear(f, u))
            add(layer.activation, (layer.units,), 0, activations.get(layer.activation).module)
            width = layer.units
        actions = len(reinforcement.env_of(dataset).actions)
        add(f"{'table' if table else 'output'} {actions}", (actions,), width * actions + (0 if table else actions),
            lambda f=width: reinforcement.value_layer(f, actions, table))
        return layers
    channels, side, classes = 1, IMAGE_SIZE, len(data.info(dataset).classes)  # a new task's classes (drawings)
    steps = spec.sequence or spec.attention  # a network of steps: its head answers at each answering step
    shaped = (lambda width: (width,)) if not steps else functools.partial(sequences.answer_shape, dataset)
    if steps:
        planner = sequences if spec.sequence else attention
        layers += [_PlannedLayer(row, make) for row, make in planner.plan(spec, dataset)]
        classes = sequences.task_of(dataset).outputs
    for i, block in enumerate(spec.conv, 1):
        conv_side = side - block.kernel + 1 if block.padding == "valid" else side
        shape = (block.channels, conv_side, conv_side)
        add(f"conv{i} {block.kernel}x{block.kernel}, {block.channels}", shape,
            channels * block.channels * block.kernel**2 + block.channels,
            lambda c=channels, b=block: nn.Conv2d(c, b.channels, b.kernel, padding=b.padding))
        if block.batch_norm:
            add(f"batchnorm{i}", shape, 2 * block.channels, lambda b=block: nn.BatchNorm2d(b.channels))
        add(block.activation, shape, 0, activations.get(block.activation).module)
        side = _conv_side(side, block)
        pooled = (block.channels, side, side)
        if block.pool == "max":
            add("maxpool 2x2", pooled, 0, lambda: nn.MaxPool2d(2))
        elif block.pool == "avg":
            add("avgpool 2x2", pooled, 0, lambda: nn.AvgPool2d(2))
        channels = block.channels
    features = spec.state if spec.sequence else spec.width if spec.attention else channels * side * side
    if not steps:
        add("flatten", (features,), 0, nn.Flatten)
    for i, layer in enumerate(spec.dense, 1):
        shape = shaped(layer.units)
        add(f"dense{i} {layer.units}", shape, features * layer.units + layer.units,
            lambda f=features, u=layer.units: nn.Linear(f, u))
        if layer.batch_norm:
            add(f"batchnorm (dense{i})", shape, 2 * layer.units, lambda u=layer.units: nn.BatchNorm1d(u))
        add(layer.activation, shape, 0, activations.get(layer.activation).module)
        if layer.dropout > 0:
            add(f"dropout {layer.dropout:g}", shape, 0, lambda p=layer.dropout: nn.Dropout(p))
        features = layer.units
    add(f"output {classes}", shaped(classes), features * classes + classes, lambda f=features: nn.Linear(f, classes))
    return layers
