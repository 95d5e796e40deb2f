"""Small ResNet-style and MobileNet-style float CNNs (random weights, seeded) for the int8 figures of
bench/quant_bench.py: the layer kinds a QDQ model of either family carries (Conv + Relu, residual Add,
MaxPool, depthwise Conv, GlobalAveragePool, Flatten, Gemm), at 56x56 and 32-96 channels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Net:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.k = [], [], 0

    def _name(self, kind: str) -> str:
        self.k += 1
        return f"{kind}{self.k}"

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1, relu: bool = True) -> str:
        n = self._name("conv")
        w = self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / (cin // group * k * k))
        b = self.rng.standard_normal(cout) * 0.05
        self.inits += [numpy_helper.from_array(w.astype(np.float32), f"{n}_w"),
                       numpy_helper.from_array(b.astype(np.float32), f"{n}_b")]
        p = k // 2
        self.nodes.append(helper.make_node("Conv", [x, f"{n}_w", f"{n}_b"], [n], name=n, kernel_shape=[k, k],
                                           strides=[stride, stride], pads=[p] * 4, group=group))
        return self.relu(n) if relu else n

    def relu(self, x: str) -> str:
        n = self._name("relu")
        self.nodes.append(helper.make_node("Relu", [x], [n], name=n))
        return n

    def add(self, a: str, b: str) -> str:
        n = self._name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [n], name=n))
        return n

    def head(self, x: str, c: int, classes: int = 10) -> str:
        self.nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"),
                       helper.make_node("Flatten", ["gap"], ["flat"], name="flat")]
        w = self.rng.standard_normal((classes, c)) * np.sqrt(1.0 / c)
        self.inits += [numpy_helper.from_array(w.astype(np.float32), "fc_w"),
                       numpy_helper.from_array(np.zeros(classes, np.float32), "fc_b")]
        self.nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["y"], name="fc", transB=1))
        return "y"

    def save(self, path: Path, shape) -> Path:
        g = helper.make_graph(self.nodes, path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[0], 10])], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        onnx.save(m, str(path))
        return path


def resnet_style(path: Path, size: int = 56) -> Path:
    """Conv 3->32 + Relu, MaxPool 2x2, two basic blocks at 32 channels, a strided block to 64 (1x1
    projection), GlobalAveragePool, Gemm."""
    n = _Net(1)
    x = n.conv("x", 3, 32, 3)
    n.nodes.append(helper.make_node("MaxPool", [x], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]))
    x = "pool"
    for _ in range(2):
        y = n.conv(n.conv(x, 32, 32, 3), 32, 32, 3, relu=False)
        x = n.relu(n.add(y, x))
    y = n.conv(n.conv(x, 32, 64, 3, stride=2), 64, 64, 3, relu=False)
    x = n.relu(n.add(y, n.conv(x, 32, 64, 1, stride=2, relu=False)))
    n.head(x, 64)
    return n.save(path, [1, 3, size, size])


def mobilenet_style(path: Path, size: int = 56) -> Path:
    """Conv 3->32 stride 2 + Relu, then inverted residual blocks (1x1 expand + Relu, 3x3 depthwise + Relu,
    1x1 project, Add when the shapes match), GlobalAveragePool, Gemm."""
    n = _Net(2)
    x, c = n.conv("x", 3, 32, 3, stride=2), 32
    for cout, stride, expand in ((32, 1, 3), (48, 2, 3), (48, 1, 3), (64, 1, 2)):
        h = n.conv(x, c, c * expand, 1)
        h = n.conv(h, c * expand, c * expand, 3, stride=stride, group=c * expand)
        h = n.conv(h, c * expand, cout, 1, relu=False)
        x, c = (n.add(h, x) if stride == 1 and cout == c else h), cout
    n.head(x, c)
    return n.save(path, [1, 3, size, size])
