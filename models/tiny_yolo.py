"""Tiny YOLO-style two-scale detector, laid out like YOLOv3-tiny at half width.

Input 3x128x128.  Backbone of conv3x3+BN+LeakyReLU(0.1) blocks with maxpool;
the sixth maxpool is the YOLOv3-tiny stride-1 one (ZeroPad2d((0,1,0,1)) +
MaxPool2d(2, 1)), so the coarse grid is stride 32.

    c8-M-c16-M-c32-M-c64-M-c128[route]-M-c256-M1-c512-c128[route2]
        head 1 (stride 32): c256 -> conv1x1 -> A*(5+C)          (4x4 grid)
        route2 -> c64 1x1 -> Upsample(2, nearest) -> concat(route)
        head 2 (stride 16): c192 in -> c128 -> conv1x1 -> A*(5+C) (8x8 grid)

Outputs are raw head maps (N, A*(5+C), H, W); decoding is left to the app.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._util import seeded_init

INPUT_SHAPE = (1, 3, 128, 128)
NUM_ANCHORS = 3
NUM_CLASSES = 20


def cbl(cin, cout, k=3):
    """conv (no bias) + BN + LeakyReLU(0.1), 'same' padding."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=1, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.1, inplace=True))


class TinyYOLO(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES, num_anchors: int = NUM_ANCHORS,
                 width: int = 8):
        super().__init__()
        w = width
        out_ch = num_anchors * (5 + num_classes)
        self.num_classes, self.num_anchors = num_classes, num_anchors
        # stride-16 part of the backbone (ends with the route tensor)
        self.backbone16 = nn.Sequential(
            cbl(3, w), nn.MaxPool2d(2, 2),            # /2
            cbl(w, 2 * w), nn.MaxPool2d(2, 2),        # /4
            cbl(2 * w, 4 * w), nn.MaxPool2d(2, 2),    # /8
            cbl(4 * w, 8 * w), nn.MaxPool2d(2, 2),    # /16
            cbl(8 * w, 16 * w),                       # route (16w ch, /16)
        )
        self.backbone32 = nn.Sequential(
            nn.MaxPool2d(2, 2),                       # /32
            cbl(16 * w, 32 * w),
            nn.ZeroPad2d((0, 1, 0, 1)), nn.MaxPool2d(2, 1),  # stride-1 pool
            cbl(32 * w, 64 * w),
            cbl(64 * w, 16 * w, k=1),                 # route2
        )
        self.head32 = nn.Sequential(
            cbl(16 * w, 32 * w),
            nn.Conv2d(32 * w, out_ch, 1, bias=True))
        self.lateral = cbl(16 * w, 8 * w, k=1)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.head16 = nn.Sequential(
            cbl(8 * w + 16 * w, 16 * w),
            nn.Conv2d(16 * w, out_ch, 1, bias=True))

    def forward(self, x):
        route = self.backbone16(x)
        route2 = self.backbone32(route)
        y32 = self.head32(route2)
        up = self.upsample(self.lateral(route2))
        y16 = self.head16(torch.cat([up, route], dim=1))
        return y32, y16


def build(seed: int = 0, **kwargs) -> TinyYOLO:
    return seeded_init(TinyYOLO(**kwargs), seed)
