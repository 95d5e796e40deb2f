"""The real-world shelf: small models we generate in the families of the published models that
shipping products bundle (issue 16), so the suite covers their layer patterns without downloads.
Weights are seeded random (seeded_init); the point is the graph's shape, not accuracy.

- ``detector``: a depthwise-separable detector with multi-scale heads (MobileNet/SSD-lite style):
  stride-2 stem, depthwise 3x3 blocks at strides 1 and 2, SiLU written as ``x * sigmoid(x)`` (as
  YOLO-style exporters emit it), class and box heads at two scales, flattened, concatenated,
  sigmoid scores. 1x3x160x160 -> scores 1xAx4 and boxes 1xAx4.
- ``text_detector``: a DB-style text detector: a small backbone at strides 4/8/16, an FPN
  (1x1 laterals, nearest upsampling, sums, concatenation), a probability head of transposed
  convolutions, a threshold head, and the differentiable binarization
  ``1 / (1 + exp(-k (P - T)))``. 1x3x128x128 -> 1x1x128x128 (three maps).
- ``recognizer``: a CRNN text recognizer: conv/BN/ReLU/pool stack to height 1, a 2-layer
  bidirectional LSTM over the width, a linear classifier, log-softmax. 1x1x32x128 -> 32x1x37.
- ``byte_classifier``: a byte-histogram MLP content classifier: int64 bytes (0..255), one-hot by
  ``Equal`` against ``arange(256)`` + ``Cast``, a normalized histogram, an MLP, softmax.
  1x1024 int64 -> 1x8.
- the fifth family, the STFT + LSTM voice-activity detector with ``If`` on a sample-rate input,
  is ``models.vad``.

    from models.shelf import SHELF, export_shelf
    path = export_shelf("detector", "out/detector.onnx")
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ._util import seeded_init


class SiLU(nn.Module):
    """x * sigmoid(x), written out: the exporters' form of YOLO-style activations."""

    def forward(self, x):
        return x * torch.sigmoid(x)


def conv_bn_act(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, act: nn.Module | None = None):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
                         act if act is not None else nn.ReLU())


class DWBlock(nn.Module):
    """Depthwise 3x3 (stride s) + pointwise 1x1, each with BN and SiLU; a residual when shapes allow."""

    def __init__(self, cin: int, cout: int, s: int):
        super().__init__()
        self.dw = conv_bn_act(cin, cin, 3, s, groups=cin, act=SiLU())
        self.pw = conv_bn_act(cin, cout, 1, 1, act=SiLU())
        self.res = s == 1 and cin == cout

    def forward(self, x):
        y = self.pw(self.dw(x))
        return x + y if self.res else y


class Detector(nn.Module):
    ANCHORS = 4

    def __init__(self, classes: int = 4):
        super().__init__()
        self.stem = conv_bn_act(3, 16, 3, 2, act=SiLU())                         # /2
        self.stage1 = nn.Sequential(DWBlock(16, 24, 2), DWBlock(24, 24, 1))     # /4
        self.stage2 = nn.Sequential(DWBlock(24, 32, 2), DWBlock(32, 32, 1))     # /8
        self.stage3 = nn.Sequential(DWBlock(32, 64, 2), DWBlock(64, 64, 1))     # /16
        self.stage4 = nn.Sequential(DWBlock(64, 96, 2), DWBlock(96, 96, 1))     # /32
        self.classes = classes
        self.cls = nn.ModuleList(nn.Conv2d(c, self.ANCHORS * classes, 3, 1, 1) for c in (64, 96))
        self.box = nn.ModuleList(nn.Conv2d(c, self.ANCHORS * 4, 3, 1, 1) for c in (64, 96))

    def forward(self, x):
        x = self.stage2(self.stage1(self.stem(x)))
        f16 = self.stage3(x)
        f32 = self.stage4(f16)
        scores, boxes = [], []
        for f, cls, box in ((f16, self.cls[0], self.box[0]), (f32, self.cls[1], self.box[1])):
            n = f.shape[0]
            scores.append(cls(f).permute(0, 2, 3, 1).reshape(n, -1, self.classes))
            boxes.append(box(f).permute(0, 2, 3, 1).reshape(n, -1, 4))
        return torch.sigmoid(torch.cat(scores, 1)), torch.cat(boxes, 1)


class TextDetector(nn.Module):
    def __init__(self, k: float = 50.0):
        super().__init__()
        self.k = k
        self.c2 = nn.Sequential(conv_bn_act(3, 16, 3, 2), conv_bn_act(16, 16, 3, 2))   # /4
        self.c3 = conv_bn_act(16, 32, 3, 2)                                           # /8
        self.c4 = conv_bn_act(32, 64, 3, 2)                                           # /16
        self.lat = nn.ModuleList(nn.Conv2d(c, 32, 1) for c in (16, 32, 64))
        self.smooth = nn.ModuleList(nn.Conv2d(32, 8, 3, 1, 1) for _ in range(3))
        self.prob = self._head()
        self.thresh = self._head()

    @staticmethod
    def _head():
        return nn.Sequential(conv_bn_act(24, 8, 3, 1), nn.ConvTranspose2d(8, 8, 2, 2), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.ConvTranspose2d(8, 1, 2, 2), nn.Sigmoid())

    def forward(self, x):
        c2 = self.c2(x)
        c3 = self.c3(c2)
        c4 = self.c4(c3)
        p4 = self.lat[2](c4)
        p3 = self.lat[1](c3) + nn.functional.interpolate(p4, scale_factor=2.0, mode="nearest")
        p2 = self.lat[0](c2) + nn.functional.interpolate(p3, scale_factor=2.0, mode="nearest")
        fuse = torch.cat([self.smooth[0](p2),
                          nn.functional.interpolate(self.smooth[1](p3), scale_factor=2.0, mode="nearest"),
                          nn.functional.interpolate(self.smooth[2](p4), scale_factor=4.0, mode="nearest")], 1)
        prob, thresh = self.prob(fuse), self.thresh(fuse)
        binary = torch.reciprocal(1 + torch.exp(-self.k * (prob - thresh)))
        return torch.cat([prob, thresh, binary], 1)


class Recognizer(nn.Module):
    def __init__(self, classes: int = 37, hidden: int = 48):
        super().__init__()
        self.cnn = nn.Sequential(
            conv_bn_act(1, 16), nn.MaxPool2d(2, 2),                  # 16 x 64
            conv_bn_act(16, 32), nn.MaxPool2d(2, 2),                 # 8 x 32
            conv_bn_act(32, 48), conv_bn_act(48, 48), nn.MaxPool2d((2, 1), (2, 1)),   # 4 x 32
            conv_bn_act(48, 64), nn.MaxPool2d((4, 1), (4, 1)))       # 1 x 32
        self.rnn = nn.LSTM(64, hidden, num_layers=2, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        f = self.cnn(x).squeeze(2).permute(2, 0, 1)   # T x N x C
        y, _ = self.rnn(f)
        return torch.log_softmax(self.fc(y), dim=2)


class ByteClassifier(nn.Module):
    def __init__(self, classes: int = 8):
        super().__init__()
        self.register_buffer("values", torch.arange(256, dtype=torch.int64))
        self.mlp = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, classes))

    def forward(self, x):
        onehot = (x.unsqueeze(-1) == self.values).to(torch.float32)   # N x L x 256
        hist = onehot.sum(1) / x.shape[1]
        return torch.softmax(self.mlp(torch.sqrt(hist)), dim=1)


@dataclass(frozen=True)
class ShelfModel:
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    input_name: str
    output_names: tuple[str, ...]
    dtype: str = "float32"

    def example(self, seed: int = 0) -> np.ndarray:
        """A realistic input: an image-like or audio-like float tensor, or bytes of a skewed text."""
        rng = np.random.default_rng(seed)
        if self.dtype == "int64":
            text = rng.choice(np.arange(32, 127), size=self.input_shape, p=None)
            noise = rng.integers(0, 256, size=self.input_shape)
            return np.where(rng.random(self.input_shape) < 0.9, text, noise).astype(np.int64)
        return rng.random(self.input_shape, dtype=np.float32) * 2 - 1


SHELF: dict[str, ShelfModel] = {
    "detector": ShelfModel(Detector, (1, 3, 160, 160), "image", ("scores", "boxes")),
    "text_detector": ShelfModel(TextDetector, (1, 3, 128, 128), "image", ("maps",)),
    "recognizer": ShelfModel(Recognizer, (1, 1, 32, 128), "image", ("log_probs",)),
    "byte_classifier": ShelfModel(ByteClassifier, (1, 1024), "bytes", ("probs",), dtype="int64"),
}


def export_shelf(name: str, path, seed: int = 0, opset: int = 17) -> str:
    """Export shelf model `name` (TorchScript exporter, fixed shapes, IR version <= 10) to path."""
    import onnx

    from .export import MAX_IR_VERSION, fix_ir_version

    spec = SHELF[name]
    torch.manual_seed(seed)
    model = seeded_init(spec.build(), seed).eval()
    x = torch.from_numpy(spec.example(seed))
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, dynamo=False, opset_version=opset, do_constant_folding=True,
                          input_names=[spec.input_name], output_names=list(spec.output_names))
    fix_ir_version(path, MAX_IR_VERSION)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return path
