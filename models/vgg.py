"""VGG-style CIFAR-size classifier (3x32x32 -> 10 logits).

Feature config (default) ``32-32-M-64-64-M-128-128-M``: each number is a
conv3x3(pad 1, with bias) + BatchNorm2d + ReLU block, ``M`` is maxpool 2x2.
Classifier: flatten(128*4*4) -> linear 256 -> ReLU -> dropout -> linear 10.

The conv layers keep their bias (as torchvision's vgg*_bn do) so BN folding
has to merge an existing bias, unlike the bias-free ResNet convs.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._util import seeded_init

INPUT_SHAPE = (1, 3, 32, 32)
NUM_CLASSES = 10
DEFAULT_CFG = (32, 32, "M", 64, 64, "M", 128, 128, "M")


class VGG(nn.Module):
    def __init__(self, cfg=DEFAULT_CFG, num_classes: int = NUM_CLASSES,
                 in_channels: int = 3, image_size: int = 32, hidden: int = 256,
                 dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        c, s = in_channels, image_size
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                s //= 2
            else:
                layers += [nn.Conv2d(c, v, kernel_size=3, padding=1, bias=True),
                           nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(1),
            nn.Linear(c * s * s, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def build(seed: int = 0) -> VGG:
    return seeded_init(VGG(), seed)
