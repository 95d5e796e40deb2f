"""A VGG-16-size ONNX model (224x224 input, ~138 M parameters) with random weights, written with
onnx.helper and external data so building it costs no PyTorch and little memory. For scale tests
and benchmarks; nothing is downloaded."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def write_vgg16(path: str | Path, seed: int = 0, image: int = 224, classes: int = 1000) -> Path:
    """Write the model to `path` and its weights to `path`.data beside it; returns path."""
    path = Path(path)
    data_name = path.name + ".data"
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    offset = 0
    with open(path.parent / data_name, "wb") as f:
        def weight(name: str, shape, fan_in: int):
            nonlocal offset
            arr = (rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in)))
            f.write(arr.tobytes())
            tp = onnx.TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(shape))
            tp.data_location = TensorProto.EXTERNAL
            for k, v in (("location", data_name), ("offset", str(offset)), ("length", str(arr.nbytes))):
                tp.external_data.add(key=k, value=v)
            offset += arr.nbytes
            inits.append(tp)
            return name

        x, c_in, size = "input", 3, image
        k = 0
        for v in CFG:
            if v == "M":
                nodes.append(helper.make_node("MaxPool", [x], [f"pool{k}"], kernel_shape=[2, 2], strides=[2, 2]))
                x, size = f"pool{k}", size // 2
                continue
            w = weight(f"conv{k}.weight", (v, c_in, 3, 3), c_in * 9)
            b = weight(f"conv{k}.bias", (v,), c_in * 9)
            nodes.append(helper.make_node("Conv", [x, w, b], [f"conv{k}"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
            nodes.append(helper.make_node("Relu", [f"conv{k}"], [f"relu{k}"]))
            x, c_in, k = f"relu{k}", v, k + 1
        nodes.append(helper.make_node("Flatten", [x], ["flat"], axis=1))
        x, feat = "flat", c_in * size * size
        for j, (n_out, act) in enumerate(((4096, True), (4096, True), (classes, False))):
            w = weight(f"fc{j}.weight", (n_out, feat), feat)
            b = weight(f"fc{j}.bias", (n_out,), feat)
            out = f"fc{j}" if act or j < 2 else "logits"
            nodes.append(helper.make_node("Gemm", [x, w, b], [out], transB=1))
            if act:
                nodes.append(helper.make_node("Relu", [out], [f"fc{j}_relu"]))
                out = f"fc{j}_relu"
            x, feat = out, n_out
    g = helper.make_graph(nodes, "vgg16", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                         [1, 3, image, image])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def parameter_count(image: int = 224, classes: int = 1000) -> int:
    n, c_in, size = 0, 3, image
    for v in CFG:
        if v == "M":
            size //= 2
            continue
        n += v * c_in * 9 + v
        c_in = v
    feat = c_in * size * size
    for n_out in (4096, 4096, classes):
        n += feat * n_out + n_out
        feat = n_out
    return n
