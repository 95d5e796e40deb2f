"""onnx2cedr model zoo: small plain-PyTorch reference networks.

``MODELS`` maps a model name to a :class:`ModelSpec`.  ``spec.build(seed)``
returns the network in ``eval()`` mode with deterministic random weights
(every BatchNorm has non-trivial running stats and affine parameters so BN
folding is really exercised).  Models with ``spec.train`` (LeNet-5) can be
trained deterministically; ``spec.trained(cache_path)`` returns the trained
network.  See ``models.export`` for ONNX export.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Tuple

import torch.nn as nn

from . import lenet5, m5, resnet, tiny_yolo, vgg
from ._util import count_params


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[..., nn.Module]          # build(seed=0) -> eval() module
    input_shape: Tuple[int, ...]             # example input, batch 1
    classifier: bool                         # single (N, classes) output
    output_names: Sequence[str]
    description: str = ""
    num_classes: Optional[int] = None
    train: Optional[Callable[..., nn.Module]] = None  # train(cache_path=...) -> eval() module
    input_name: str = "input"

    def trained(self, cache_path=None) -> nn.Module:
        if self.train is None:
            raise ValueError(f"model {self.name!r} has no trainer")
        return self.train(cache_path=cache_path)


MODELS = {
    "lenet5": ModelSpec(
        name="lenet5", build=lenet5.build, input_shape=lenet5.INPUT_SHAPE,
        classifier=True, output_names=("logits",), num_classes=10,
        train=lenet5.train,
        description="LeNet-5 (tanh/avgpool), trained on sklearn digits 32x32"),
    "vgg": ModelSpec(
        name="vgg", build=vgg.build, input_shape=vgg.INPUT_SHAPE,
        classifier=True, output_names=("logits",), num_classes=10,
        description="VGG-style CIFAR net 32-32-M-64-64-M-128-128-M, conv+BN+ReLU"),
    "m5": ModelSpec(
        name="m5", build=m5.build, input_shape=m5.INPUT_SHAPE,
        classifier=True, output_names=("log_probs",), num_classes=35,
        description="M5 1-D raw-waveform speech classifier, 8000 samples, 35 classes"),
    "resnet8": ModelSpec(
        name="resnet8", build=resnet.build, input_shape=resnet.INPUT_SHAPE,
        classifier=True, output_names=("logits",), num_classes=10,
        description="CIFAR ResNet-8 (16/32/64, 1 BasicBlock per stage)"),
    "tiny_yolo": ModelSpec(
        name="tiny_yolo", build=tiny_yolo.build, input_shape=tiny_yolo.INPUT_SHAPE,
        classifier=False, output_names=("yolo_s32", "yolo_s16"),
        num_classes=tiny_yolo.NUM_CLASSES,
        description="YOLOv3-tiny-style 2-scale detector, 3x128x128, LeakyReLU/upsample/concat"),
}


def get(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}") from None


__all__ = ["ModelSpec", "MODELS", "get", "count_params"]
