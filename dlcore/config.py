"""Frozen configurations shared by the CLI, the UI and saved runs, and the constants of MNIST-like data."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace

IMAGE_SIZE = 28  # every dataset here is 28x28 grayscale, 10 classes
NUM_CLASSES = 10

# Limits that keep one student's typo from taking the class server down.
MAX_HIDDEN_LAYERS = 8
MAX_UNITS = 2048
MAX_CONV_BLOCKS = 4
MAX_CHANNELS = 256
MAX_EPOCHS = 100
MAX_BATCH_SIZE = 8192


class DLCoreError(Exception):
    """An error a user can cause; its message is one sentence saying what happened and what to do."""


@dataclass(frozen=True)
class DenseLayer:
    """One hidden fully connected layer; the 10-way output layer is implied."""

    units: int
    activation: str = "relu"
    dropout: float = 0.0
    batch_norm: bool = False


@dataclass(frozen=True)
class ConvBlock:
    """conv -> (batch norm) -> activation -> (pool); padding 'valid' as in the seed CNN."""

    channels: int
    kernel: int = 3
    activation: str = "relu"
    pool: str = "none"  # "none", "max" or "avg", always 2x2
    padding: str = "valid"  # "valid" or "same"
    batch_norm: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """An MLP (no conv blocks) or a CNN (conv blocks, then dense layers)."""

    kind: str = "mlp"  # "mlp" or "cnn"
    conv: tuple[ConvBlock, ...] = ()
    dense: tuple[DenseLayer, ...] = (DenseLayer(128), DenseLayer(64))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        data = _known_keys(cls, data)
        return cls(
            kind=data.get("kind", "mlp"),
            conv=tuple(ConvBlock(**_known_keys(ConvBlock, block)) for block in data.get("conv", ())),
            dense=tuple(DenseLayer(**_known_keys(DenseLayer, layer)) for layer in data.get("dense", ())),
        )

    def summary(self) -> str:
        """A short human name, e.g. 'MLP 128-64 relu' or 'CNN 32-64 / 128'."""
        hidden = "-".join(str(layer.units) for layer in self.dense) or "linear"
        if self.kind == "cnn":
            return f"CNN {'-'.join(str(b.channels) for b in self.conv)} / {hidden}"
        activations = sorted({layer.activation for layer in self.dense})
        return f"MLP {hidden} {','.join(activations)}".strip()


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; two equal configs give the same run on CPU."""

    dataset: str = "mnist-sample"
    model: ModelSpec = field(default_factory=ModelSpec)
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # SGD and RMSprop only
    nesterov: bool = False  # SGD only
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant, step, cosine, onecycle
    loss: str = "cross-entropy"  # or "mse" on one-hot targets
    batch_size: int = 64
    epochs: int = 5
    seed: int = 0
    device: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = dict(_known_keys(cls, data))
        if "model" in data:
            data["model"] = ModelSpec.from_dict(data["model"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DLCoreError(f"The configuration is not valid JSON ({exc.msg} at line {exc.lineno}).") from exc
        if not isinstance(data, dict):
            raise DLCoreError("The configuration must be a JSON object with fields such as 'dataset' and 'model'.")
        try:
            return cls.from_dict(data)
        except TypeError as exc:
            raise DLCoreError(f"The configuration has a field of the wrong shape: {exc}.") from exc

    def with_changes(self, **changes) -> "TrainConfig":
        """A copy with some fields replaced, ignoring the ones given as None (unset CLI flags)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _known_keys(cls, data: dict) -> dict:
    """Drop keys a newer or older version wrote, so saved runs and shared links keep loading."""
    if not isinstance(data, dict):
        raise DLCoreError(f"Expected a JSON object for {cls.__name__}, got {type(data).__name__}.")
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}
