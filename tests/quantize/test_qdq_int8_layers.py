"""QDQ models whose Add, pooling and Concat layers run in int8 (passes fuse_qadd, fuse_qpool, fuse_qconcat,
fuse_qrequant -> QAdd, QPool, QRequant and an int8 Concat): the activations stay int8 from the input's
QuantizeLinear to the output's DequantizeLinear, and the outputs match onnxruntime running the same QDQ
model within one LSB."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

import onnx2cedr
from onnx2cedr.quantize import quantize
from tests.oncheck import make_model, rand


def _conv(nodes, inits, x, cin, cout, k, name, stride=1, group=1, relu=True):
    inits[f"{name}_w"] = rand(cout, cin // group, k, k, seed=len(inits)) * np.float32(np.sqrt(2.0 / (cin // group * k * k)))
    inits[f"{name}_b"] = rand(cout, seed=len(inits) + 100) * np.float32(0.05)
    nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [name], kernel_shape=[k, k], pads=[k // 2] * 4,
                                  strides=[stride, stride], group=group, name=name))
    if not relu:
        return name
    nodes.append(helper.make_node("Relu", [name], [f"{name}_r"], name=f"{name}_relu"))
    return f"{name}_r"


def _head(nodes, inits, x, c):
    inits["fc_w"] = rand(5, c, seed=99) * np.float32(0.3)
    inits["fc_b"] = rand(5, seed=98) * np.float32(0.1)
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"),
              helper.make_node("Flatten", ["gap"], ["flat"], name="flat"),
              helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["y"], transB=1, name="fc")]


def _residual() -> onnx.ModelProto:
    """Conv + Relu -> MaxPool -> (Conv + Relu -> Conv) + skip -> Relu -> AveragePool -> GlobalAveragePool ->
    Flatten -> Gemm."""
    nodes, inits = [], {}
    x = _conv(nodes, inits, "x", 4, 8, 3, "c1")
    nodes.append(helper.make_node("MaxPool", [x], ["mp"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                  name="mp"))
    y = _conv(nodes, inits, _conv(nodes, inits, "mp", 8, 8, 3, "c2"), 8, 8, 3, "c3", relu=False)
    nodes += [helper.make_node("Add", [y, "mp"], ["sum"], name="add"), helper.make_node("Relu", ["sum"], ["sr"], name="r")]
    nodes.append(helper.make_node("AveragePool", ["sr"], ["ap"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="ap"))
    _head(nodes, inits, "ap", 8)
    return make_model(nodes, {"x": rand(1, 4, 12, 12)}, ["y"], inits, opset=13)


def _depthwise_concat() -> onnx.ModelProto:
    """Conv 1x1 + Relu -> depthwise 3x3 stride 2 (+ Relu) and MaxPool 2x2 -> Concat (other scales) -> Conv 1x1 ->
    GlobalAveragePool -> Flatten -> Gemm."""
    nodes, inits = [], {}
    x = _conv(nodes, inits, "x", 4, 8, 1, "c1")
    d = _conv(nodes, inits, x, 8, 8, 3, "dw", stride=2, group=8)
    nodes += [helper.make_node("MaxPool", [x], ["mp"], kernel_shape=[2, 2], strides=[2, 2], name="mp"),
              helper.make_node("Concat", [d, "mp"], ["cat"], axis=1, name="cat")]
    _head(nodes, inits, _conv(nodes, inits, "cat", 16, 12, 1, "c2", relu=False), 12)
    return make_model(nodes, {"x": rand(1, 4, 12, 12)}, ["y"], inits, opset=13)


def _quantize(tmp_path: Path, model: onnx.ModelProto, unsigned: bool) -> Path | onnx.ModelProto:
    src, out = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(model, str(src))
    if not unsigned:
        cal = tmp_path / "cal.npz"
        np.savez(cal, x=rand(16, 1, 4, 12, 12, seed=11))
        return quantize(src, cal, out, per_channel=True)
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    feeds = iter([{"x": rand(1, 4, 12, 12, seed=s)} for s in range(16)])

    class R(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    quantize_static(str(src), str(out), R(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True)
    m = onnx.load(str(out))
    m.ir_version = min(m.ir_version, 10)
    return m


def _ops(out: Path) -> list[str]:
    return [ly["op"] for ly in json.loads((out / "model.json").read_text())["layers"]]


@pytest.mark.parametrize("unsigned", [False, True])
def test_residual_block_stays_int8(tmp_path, unsigned):
    q = _quantize(tmp_path, _residual(), unsigned)
    out = tmp_path / "out"
    rep = onnx2cedr.validate(q, samples=30, out_dir=out, artifacts=("lib",))
    ops = _ops(out)
    assert ops.count("QConv") == 3 and ops.count("QAdd") == 1 and ops.count("QPool") == 3, ops
    assert ops.count("QuantizeLinear") == 1 and ops.count("DequantizeLinear") == 1, ops  # the input's, the output's
    assert not {"Add", "MaxPool", "AveragePool", "GlobalAveragePool", "Relu"} & set(ops), ops
    (o,) = rep.outputs
    assert rep.passed and o.max_lsb is not None and o.max_lsb <= 1, o


def test_depthwise_and_concat_stay_int8(tmp_path):
    q = _quantize(tmp_path, _depthwise_concat(), False)
    out = tmp_path / "out"
    rep = onnx2cedr.validate(q, samples=30, out_dir=out, artifacts=("lib",))
    ops = _ops(out)
    assert ops.count("QConv") == 3 and ops.count("QPool") == 2 and "Concat" in ops, ops
    assert ops.count("QuantizeLinear") == 1 and ops.count("DequantizeLinear") == 1, ops
    (o,) = rep.outputs
    assert rep.passed and o.max_lsb is not None and o.max_lsb <= 1, o


def test_dequantize_quantize_pair_is_requantized(tmp_path):
    """DequantizeLinear -> QuantizeLinear with another scale: one QRequant, identical to onnxruntime (the same
    float32 operations); with the same scale and zero point the pair disappears."""
    x = rand(2, 3, 40, seed=3)
    nodes = [helper.make_node("QuantizeLinear", ["x", "s1", "z"], ["q1"], name="q1"),
             helper.make_node("DequantizeLinear", ["q1", "s1", "z"], ["d1"], name="d1"),
             helper.make_node("QuantizeLinear", ["d1", "s2", "z"], ["q2"], name="q2"),
             helper.make_node("DequantizeLinear", ["q2", "s2", "z"], ["d2"], name="d2"),
             helper.make_node("QuantizeLinear", ["d2", "s2", "z"], ["q3"], name="q3"),
             helper.make_node("DequantizeLinear", ["q3", "s2", "z"], ["y"], name="y")]
    inits = {"s1": np.array(0.013, np.float32), "s2": np.array(0.031, np.float32), "z": np.array(-5, np.int8)}
    m = make_model(nodes, {"x": x}, ["y"], inits, opset=13)
    out = tmp_path / "out"
    rep = onnx2cedr.validate(m, samples=20, out_dir=out, artifacts=("lib",))
    ops = _ops(out)
    assert ops.count("QRequant") == 1 and ops.count("QuantizeLinear") == 1, ops
    assert rep.passed and rep.outputs[0].max_lsb == 0, rep.outputs[0]


def test_broadcast_add_stays_float(tmp_path):
    """An Add whose inputs differ in shape (a per-channel constant) is not a QAdd: it stays float between its
    DequantizeLinear and QuantizeLinear, and still validates."""
    nodes, inits = [], {"shift": rand(1, 8, 1, 1, seed=7)}
    x = _conv(nodes, inits, "x", 4, 8, 3, "c1")
    nodes.append(helper.make_node("Add", [x, "shift"], ["sh"], name="add"))
    _head(nodes, inits, _conv(nodes, inits, "sh", 8, 8, 3, "c2"), 8)
    q = _quantize(tmp_path, make_model(nodes, {"x": rand(1, 4, 12, 12)}, ["y"], inits, opset=13), False)
    out = tmp_path / "out"
    rep = onnx2cedr.validate(q, samples=20, out_dir=out, artifacts=("lib",))
    ops = _ops(out)
    assert "Add" in ops and "QAdd" not in ops and ops.count("QConv") == 2, ops
    assert rep.passed and rep.outputs[0].max_lsb <= 1
