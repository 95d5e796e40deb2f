"""M5 raw-waveform speech classifier (Dai et al., 2017, "Very deep
convolutional neural networks for raw waveforms").

Input 1x1x8000 (0.5 s at 16 kHz); 35 classes (Speech Commands v2).

conv1d(k=80, stride=4) + BN + ReLU + maxpool(4)
3 x [conv1d(k=3) + BN + ReLU + maxpool(4)]
global average pool -> linear(35) -> log_softmax

Widths follow the paper (128, 128, 256, 512).  ``global_pool="adaptive"``
uses AdaptiveAvgPool1d(1) (ONNX GlobalAveragePool); ``"avg"`` uses
F.avg_pool1d(x, x.shape[-1]) as in the torchaudio tutorial (ONNX AveragePool
with the traced length baked in as the kernel size).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._util import seeded_init

INPUT_SHAPE = (1, 1, 8000)
NUM_CLASSES = 35


def _block(cin, cout, k, stride=1):
    return [nn.Conv1d(cin, cout, kernel_size=k, stride=stride, bias=False),
            nn.BatchNorm1d(cout), nn.ReLU(inplace=True), nn.MaxPool1d(4)]


class M5(nn.Module):
    def __init__(self, n_input: int = 1, n_output: int = NUM_CLASSES,
                 widths=(128, 128, 256, 512), stride: int = 4,
                 global_pool: str = "adaptive"):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.features = nn.Sequential(
            *_block(n_input, w1, 80, stride),   # 8000 -> 1981 -> 495
            *_block(w1, w2, 3),                 # 495 -> 493 -> 123
            *_block(w2, w3, 3),                 # 123 -> 121 -> 30
            *_block(w3, w4, 3),                 # 30 -> 28 -> 7
        )
        if global_pool not in ("adaptive", "avg"):
            raise ValueError(global_pool)
        self.global_pool = global_pool
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(w4, n_output)

    def forward(self, x):
        x = self.features(x)
        if self.global_pool == "adaptive":
            x = self.pool(x)
        else:
            x = F.avg_pool1d(x, x.shape[-1])
        x = torch.flatten(x, 1)                 # (N, w4)
        return F.log_softmax(self.fc(x), dim=1)


def build(seed: int = 0, **kwargs) -> M5:
    return seeded_init(M5(**kwargs), seed)
