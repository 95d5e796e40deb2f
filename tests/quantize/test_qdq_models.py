"""QDQ models from onnxruntime.quantization compile into integer layers (fuse_qdq -> QConv / QGemm ->
DASH_QCONV_i8 / DASH_QGEMM_i8) and match onnxruntime running the same QDQ model: exact or one LSB
off; LeNet-5 on the digits loses at most half a point of accuracy in int8."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

import onnx2cedr
from onnx2cedr.quantize import quantize
from onnx2cedr.validation import quantized_outputs
from tests.oncheck import make_model, rand

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
DIGITS = ROOT / "models" / "demo" / "digits_test.npz"


def _cnn(relu: bool, groups: int = 1) -> onnx.ModelProto:
    """Conv(+bias) [-> Relu] -> Conv(strided, grouped) -> Flatten -> Gemm -> MatMul."""
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1")]
    last = "c1"
    if relu:
        nodes.append(helper.make_node("Relu", ["c1"], ["r1"], name="relu1"))
        last = "r1"
    nodes += [helper.make_node("Conv", [last, "w2", "b2"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1], group=groups,
                               name="conv2"),
              helper.make_node("Flatten", ["c2"], ["f"], name="flat"),
              helper.make_node("Gemm", ["f", "w3", "b3"], ["g"], transB=1, name="fc1"),
              helper.make_node("MatMul", ["g", "w4"], ["y"], name="fc2")]
    inits = {"w1": rand(8, 3, 3, 3, seed=1) * 0.4, "b1": rand(8, seed=2) * 0.1,
             "w2": rand(8, 8 // groups, 3, 3, seed=3) * 0.2, "b2": rand(8, seed=4) * 0.1,
             "w3": rand(24, 8 * 4 * 4, seed=5) * 0.1, "b3": rand(24, seed=6) * 0.1, "w4": rand(24, 5, seed=7) * 0.3}
    return make_model(nodes, {"x": rand(1, 3, 8, 8)}, ["y"], inits)


def _qdq(tmp_path: Path, model: onnx.ModelProto, per_channel: bool, name: str = "q") -> Path:
    src, cal, out = tmp_path / f"{name}_f.onnx", tmp_path / f"{name}_cal.npz", tmp_path / f"{name}.onnx"
    onnx.save(model, str(src))
    np.savez(cal, x=rand(16, 1, 3, 8, 8, seed=11))
    return quantize(src, cal, out, per_channel=per_channel)


def _ops(rep_dir: Path) -> list[str]:
    import json

    return [ly["op"] for ly in json.loads((rep_dir / "model.json").read_text())["layers"]]


@pytest.mark.parametrize("per_channel, relu, groups", [(False, False, 1), (True, True, 1), (True, False, 2)])
def test_fused_model_matches_onnxruntime(tmp_path, per_channel, relu, groups):
    q = _qdq(tmp_path, _cnn(relu, groups), per_channel)
    out = tmp_path / "out"
    rep = onnx2cedr.validate(q, samples=30, out_dir=out, artifacts=("lib",))
    ops = _ops(out)
    assert ops.count("QConv") == 2 and ops.count("QGemm") == 2, ops
    assert not {"Conv", "Gemm", "MatMul", "Relu"} & set(ops)
    (o,) = rep.outputs
    assert o.max_lsb is not None and o.max_lsb <= 1 and rep.passed, o
    assert o.lsb_summary == "exact" or o.lsb_summary.startswith("max 1 LSB (")


def test_uint8_activations(tmp_path):
    """quantize_static's default QUInt8 activations: the kernels' unsigned input/output path."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    src, out = tmp_path / "f.onnx", tmp_path / "u8.onnx"
    onnx.save(_cnn(True), str(src))
    feeds = iter([{"x": rand(1, 3, 8, 8, seed=s)} for s in range(8)])

    class R(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    quantize_static(str(src), str(out), R(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True)
    m = onnx.load(str(out))
    m.ir_version = min(m.ir_version, 10)
    rep = onnx2cedr.validate(m, samples=20, out_dir=tmp_path / "o", artifacts=("lib",))
    assert _ops(tmp_path / "o").count("QConv") == 2
    assert rep.outputs[0].max_lsb <= 1 and rep.passed


def test_not_fused_keeps_float(tmp_path):
    """A weight DequantizeLinear with a non-zero zero point stays a float layer (and still validates)."""
    q = onnx.load(str(_qdq(tmp_path, _cnn(False), False)))
    inits = {i.name: i for i in q.graph.initializer}
    prods = {o: n for n in q.graph.node for o in n.output}
    conv1 = next(n for n in q.graph.node if n.name == "conv1")
    dq = prods[conv1.input[1]]
    zp = onnx.numpy_helper.to_array(inits[dq.input[2]]).copy()
    zp[...] = 1
    inits[dq.input[2]].CopyFrom(onnx.numpy_helper.from_array(zp, dq.input[2]))
    rep = onnx2cedr.validate(q, samples=10, out_dir=tmp_path / "o", artifacts=("lib",))
    ops = _ops(tmp_path / "o")
    assert ops.count("Conv") == 1 and ops.count("QConv") == 1
    assert rep.passed


def test_quantized_outputs_found():
    assert quantized_outputs(str(LENET)) == {}


def test_lenet_int8_drop_at_most_half_a_point(tmp_path):
    z = np.load(DIGITS)
    cal = tmp_path / "cal.npz"
    np.savez(cal, input=z["x"][:100])
    q = quantize(LENET, cal, tmp_path / "lenet_int8.onnx", samples=100)
    test = tmp_path / "test.npz"
    np.savez(test, input=z["x"], y=z["y"])
    flt = onnx2cedr.validate(LENET, inputs=test, labels="y", artifacts=("lib",), out_dir=tmp_path / "f")
    i8 = onnx2cedr.validate(q, inputs=test, labels="y", artifacts=("lib",), out_dir=tmp_path / "q")
    assert _ops(tmp_path / "q").count("QConv") == 2
    assert i8.passed and i8.outputs[0].max_lsb <= 1
    drop = 100 * (flt.accuracy["ours"] - i8.accuracy["ours"])
    assert drop <= 0.5, (flt.accuracy, i8.accuracy)


def test_quantized_batchnorm_parameters_compile(tmp_path):
    """MatMul -> BatchNormalization -> Relu -> MatMul: onnxruntime quantizes the BatchNormalization's parameters
    too (DequantizeLinear of int8 constants), which stay until the passes fold them: the model compiles."""
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
             helper.make_node("BatchNormalization", ["h", "g", "b", "m", "v"], ["bn"], name="bn"),
             helper.make_node("Relu", ["bn"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")]
    inits = {"w1": rand(16, 12, seed=1) * 0.3, "g": rand(12, seed=2) * 0.2 + 1, "b": rand(12, seed=3) * 0.1,
             "m": rand(12, seed=4) * 0.1, "v": np.abs(rand(12, seed=5)) + 0.5, "w2": rand(12, 4, seed=6) * 0.3}
    f = tmp_path / "f.onnx"
    onnx.save(make_model(nodes, {"x": rand(1, 16)}, ["y"], inits), str(f))
    np.savez(tmp_path / "cal.npz", x=np.stack([rand(1, 16, seed=s) for s in range(16)]))
    q = quantize(f, tmp_path / "cal.npz", tmp_path / "q.onnx")
    assert "BatchNormalization" in {n.op_type for n in onnx.load(str(q)).graph.node}
    rep = onnx2cedr.validate(q, samples=5)
    assert rep.passed, rep.outputs
