"""QOperator models (onnxruntime.quantization.quantize_static with quant_format=QOperator: QLinearConv,
QLinearMatMul, com.microsoft QGemm) compile: the lower_qoperator pass puts them onto the QConv / QGemm
integer layers (DASH_QCONV_i8 / DASH_QGEMM_i8)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

import onnx2cedr
from onnx2cedr.compiler import convert
from onnx2cedr.runner import ModelLibrary
from tests.oncheck import make_model, rand
from tests.quantize.test_qdq_models import _cnn


def _qoperator(tmp_path: Path, model: onnx.ModelProto, act: str, per_channel: bool) -> onnx.ModelProto:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    src, out = tmp_path / "f.onnx", tmp_path / "qop.onnx"
    onnx.save(model, str(src))
    feeds = iter([{"x": rand(1, 3, 8, 8, seed=s)} for s in range(8)])

    class R(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    quantize_static(str(src), str(out), R(), quant_format=QuantFormat.QOperator,
                    activation_type=getattr(QuantType, act), weight_type=QuantType.QInt8, per_channel=per_channel)
    m = onnx.load(str(out))
    m.ir_version = min(m.ir_version, 10)
    return m


def _ops(out: Path) -> list[str]:
    return [ly["op"] for ly in json.loads((out / "model.json").read_text())["layers"]]


@pytest.mark.parametrize("per_channel, relu", [(False, False), (True, True)])
def test_qoperator_int8_matches_onnxruntime(tmp_path, per_channel, relu):
    """int8 activations: QLinearConv x2, com.microsoft QGemm, QLinearMatMul; exact against onnxruntime."""
    m = _qoperator(tmp_path, _cnn(relu), "QInt8", per_channel)
    kinds = {n.op_type for n in m.graph.node}
    assert {"QLinearConv", "QLinearMatMul", "QGemm"} <= kinds, kinds
    rep = onnx2cedr.validate(m, samples=30, out_dir=tmp_path / "o", artifacts=("lib",))
    ops = _ops(tmp_path / "o")
    assert ops.count("QConv") == 2 and ops.count("QGemm") == 2, ops
    (o,) = rep.outputs
    assert rep.passed and o.max_lsb is not None and o.max_lsb <= 1, o


def test_qoperator_uint8_matches_the_onnx_reference(tmp_path):
    """uint8 activations x int8 weights: exact against onnx's reference evaluator (the operators' spec).
    onnxruntime's own uint8 x int8 kernel on an AVX2 CPU without VNNI sums products in int16 with
    saturation (vpmaddubsw), so it is not the reference here."""
    from onnx.reference import ReferenceEvaluator

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Flatten", ["c2"], ["f"]), helper.make_node("MatMul", ["f", "w4"], ["y"])]
    inits = {"w1": rand(8, 3, 3, 3, seed=1) * 0.4, "b1": rand(8, seed=2) * 0.1, "w2": rand(8, 8, 3, 3, seed=3) * 0.2,
             "b2": rand(8, seed=4) * 0.1, "w4": rand(128, 5, seed=7) * 0.3}
    m = _qoperator(tmp_path, make_model(nodes, {"x": rand(1, 3, 8, 8)}, ["y"], inits), "QUInt8", True)
    assert [n.op_type for n in m.graph.node].count("QLinearConv") == 2
    convert(m, tmp_path / "lib", artifacts=("lib",), force=True)
    assert _ops(tmp_path / "lib").count("QConv") == 2
    lib, ref = ModelLibrary(tmp_path / "lib"), ReferenceEvaluator(m)
    for s in range(10):
        x = rand(1, 3, 8, 8, seed=100 + s) * 2
        np.testing.assert_array_equal(lib.run([x])[0], ref.run(None, {"x": x})[0])


def test_weight_zero_point_out_of_int8_is_reported(tmp_path):
    """uint8 weights whose zero point leaves values outside int8 cannot lower: one clear error."""
    x = helper.make_tensor_value_info("x", onnx.TensorProto.UINT8, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.UINT8, [1, 2, 4, 4])
    inits = [onnx.numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             onnx.numpy_helper.from_array(np.array(0, np.uint8), "z"),
             onnx.numpy_helper.from_array(np.full((2, 2, 1, 1), 250, np.uint8), "w")]
    node = helper.make_node("QLinearConv", ["x", "s", "z", "w", "s", "z", "s", "z"], ["y"], name="qc")
    m = helper.make_model(helper.make_graph([node], "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    with pytest.raises(onnx2cedr.errors.UnsupportedError, match="fit int8"):
        convert(m, tmp_path / "o", artifacts=("lib",), force=True)


def test_conv_and_matmul_integer_match_the_onnx_reference(tmp_path):
    """ConvInteger and MatMulInteger (int32 outputs) lower onto QConv / QGemm with out_int32: exact."""
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(3)
    T = onnx.TensorProto
    inits = [onnx.numpy_helper.from_array(rng.integers(60, 190, (6, 4, 3, 3)).astype(np.uint8), "w"),
             onnx.numpy_helper.from_array(np.array(128, np.uint8), "wz"),
             onnx.numpy_helper.from_array(np.array(7, np.uint8), "xz"),
             onnx.numpy_helper.from_array(rng.integers(-100, 100, (8, 5)).astype(np.int8), "b"),
             onnx.numpy_helper.from_array(np.array(-3, np.int8), "az")]
    nodes = [helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], pads=[1, 1, 1, 1], name="ci"),
             helper.make_node("MatMulInteger", ["a", "b", "az"], ["z"], name="mi")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.UINT8, [1, 4, 6, 6]),
                                       helper.make_tensor_value_info("a", T.INT8, [3, 8])],
                          [helper.make_tensor_value_info("y", T.INT32, [1, 6, 6, 6]),
                           helper.make_tensor_value_info("z", T.INT32, [3, 5])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    convert(m, tmp_path / "lib", artifacts=("lib",), force=True)
    assert sorted(_ops(tmp_path / "lib")) == ["QConv", "QGemm"]
    lib, ref = ModelLibrary(tmp_path / "lib"), ReferenceEvaluator(m)
    for s in range(3):
        r = np.random.default_rng(s)
        x = r.integers(0, 256, (1, 4, 6, 6)).astype(np.uint8)
        a = r.integers(-128, 128, (3, 8)).astype(np.int8)
        got, want = lib.run([x, a]), ref.run(None, {"x": x, "a": a})
        for o, w in zip(got, want):
            np.testing.assert_array_equal(o, w)


def test_residual_qlinearadd_matches_onnxruntime(tmp_path):
    """A residual block in QOperator form (QLinearConv x2, com.microsoft QLinearAdd): the Add runs as
    DequantizeLinear x2 -> Add -> QuantizeLinear; within one LSB of onnxruntime."""
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
             helper.make_node("Add", ["c2", "c1"], ["s"], name="add"),
             helper.make_node("Relu", ["s"], ["y"], name="relu2")]
    inits = {"w1": rand(8, 3, 3, 3, seed=1) * 0.4, "b1": rand(8, seed=2) * 0.1,
             "w2": rand(8, 8, 3, 3, seed=3) * 0.2, "b2": rand(8, seed=4) * 0.1}
    m = _qoperator(tmp_path, make_model(nodes, {"x": rand(1, 3, 8, 8)}, ["y"], inits), "QInt8", True)
    assert "QLinearAdd" in {n.op_type for n in m.graph.node}
    rep = onnx2cedr.validate(m, samples=30, out_dir=tmp_path / "o", artifacts=("lib",))
    assert _ops(tmp_path / "o").count("QConv") == 2
    (o,) = rep.outputs
    assert rep.passed and o.max_lsb is not None and o.max_lsb <= 1, o
