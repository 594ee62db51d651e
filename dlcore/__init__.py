"""dlcore: the Deep Learning Playground's engine; everything the app shows is computed here."""

from .config import ConvBlock, DenseLayer, DLCoreError, ModelSpec, TrainConfig

__all__ = ["ConvBlock", "DenseLayer", "DLCoreError", "ModelSpec", "TrainConfig"]
