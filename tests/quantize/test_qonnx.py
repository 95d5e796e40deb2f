"""QONNX models (Quant / BipolarQuant, domains qonnx.custom_op.general and finn.custom_op.general)
compile: the lower_qonnx pass writes them in standard ops; validate's reference runs the same model
rewritten in standard ops by quantize/qonnx.py. Checked here against the QONNX formulas in numpy."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnx2cedr
from onnx2cedr.compiler import convert
from onnx2cedr.errors import ModelError
from onnx2cedr.quantize.qonnx import to_standard
from onnx2cedr.runner import ModelLibrary
from tests.oncheck import cli, one_line_error

QONNX, FINN = "qonnx.custom_op.general", "finn.custom_op.general"


def _quant_ref(x, scale, zp, bw, signed, narrow, mode):
    """QONNX's Quant in numpy, from its definition."""
    if signed:
        lo, hi = -2.0 ** (bw - 1) + narrow, 2.0 ** (bw - 1) - 1
    else:
        lo, hi = 0.0, 2.0 ** bw - 1 - narrow
    t = x.astype(np.float64) / scale + zp
    r = {"ROUND": np.round, "CEIL": np.ceil, "FLOOR": np.floor, "ROUND_TO_ZERO": np.trunc}[mode](t)
    return ((np.clip(r, lo, hi) - zp) * scale).astype(np.float32)


def _model(nodes, inits, shape=(2, 8), domain=QONNX, opset=17):
    g = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(domain, 1)])
    m.ir_version = 8
    return m


def _quant_model(scale, zp, bw, domain=QONNX, **attrs):
    n = helper.make_node("Quant", ["x", "s", "z", "b"], ["y"], domain=domain, name="q", **attrs)
    return _model([n], {"s": np.asarray(scale, np.float32), "z": np.asarray(zp, np.float32),
                        "b": np.asarray(bw, np.float32)}, domain=domain)


def _run(tmp_path, m, x):
    res = convert(m, tmp_path / "o", artifacts=("lib",))
    return ModelLibrary(res.out_dir).run([x])[0], res


@pytest.mark.parametrize("bw, signed, narrow, mode, zp, domain", [
    (8, 1, 0, "ROUND", 0.0, QONNX), (4, 1, 1, "ROUND", 0.0, QONNX), (3, 0, 0, "FLOOR", 2.0, FINN),
    (5, 1, 0, "CEIL", -3.0, QONNX), (4, 1, 0, "ROUND_TO_ZERO", 0.0, FINN), (2, 0, 1, "ROUND", 0.0, QONNX)])
def test_quant_matches_its_definition(tmp_path, bw, signed, narrow, mode, zp, domain):
    x = (np.random.RandomState(bw).randn(2, 8) * 2).astype(np.float32)
    x[0, :4] = [0.25, -0.25, 0.75, -1.25]  # halves of the scale: ties of the rounding
    scale = np.float32(0.5)
    m = _quant_model(scale, zp, bw, domain, signed=signed, narrow=narrow, rounding_mode=mode)
    ours, res = _run(tmp_path, m, x)
    np.testing.assert_array_equal(ours, _quant_ref(x, scale, zp, bw, signed, narrow, mode))
    assert not any(ly["op"] == "Quant" for ly in res.model_json["layers"])
    import onnxruntime as ort
    ref = ort.InferenceSession(to_standard(m).SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_array_equal(ref, ours)


def test_quant_per_channel_scale_validates(tmp_path):
    scale = np.array([[0.1, 0.2, 0.05, 0.3, 0.1, 0.2, 0.4, 0.25]], np.float32)
    m = _quant_model(scale, 0.0, 6)
    rep = onnx2cedr.validate(m, samples=4)
    assert rep.passed and rep.outputs[0].max_abs_err == 0
    assert any("standard ONNX ops" in n for n in rep.notes)
    x = np.random.RandomState(3).randn(2, 8).astype(np.float32)
    np.testing.assert_array_equal(_run(tmp_path, m, x)[0], _quant_ref(x, scale, 0.0, 6, 1, 0, "ROUND"))


def test_bipolar_quant_and_an_old_opset(tmp_path):
    """BipolarQuant: scale * (x >= 0 ? 1 : -1), 0 -> +scale; an opset-11 FINN model is converted first."""
    n = helper.make_node("BipolarQuant", ["x", "s"], ["y"], domain=FINN, name="b")
    m = _model([n], {"s": np.float32(0.75)}, domain=FINN, opset=11)
    x = np.array([[0.0, -0.0, 1e-30, -1e-30, 3, -3, 0.5, -0.5]] * 2, np.float32)
    ours, _ = _run(tmp_path, m, x)
    np.testing.assert_array_equal(ours, np.where(x >= 0, 0.75, -0.75).astype(np.float32))
    assert onnx2cedr.validate(m, samples=3).passed


@pytest.mark.parametrize("case, message", [
    ("bw0", "bit width 0"), ("bw_frac", "bit width 2.5"), ("scale_input", "scale and zero point must be constants"),
    ("mode", "rounding_mode 'HALF_UP'"), ("zero_scale", "finite and nonzero")])
def test_bad_quant_is_one_line(tmp_path, case, message):
    if case == "scale_input":
        n = helper.make_node("Quant", ["x", "x", "z", "b"], ["y"], domain=QONNX, name="q")
        m = _model([n], {"z": np.float32(0), "b": np.float32(8)})
    else:
        m = _quant_model(0.0 if case == "zero_scale" else 0.5, 0.0, {"bw0": 0, "bw_frac": 2.5}.get(case, 8),
                         rounding_mode="HALF_UP" if case == "mode" else "ROUND")
    p = tmp_path / "bad.onnx"
    onnx.save(m, str(p))
    r = cli("convert", p, "-o", tmp_path / "o")
    assert r.exit_code == 2
    assert message in one_line_error(r)
    with pytest.raises(ModelError, match=message.replace("(", r"\(")):
        to_standard(m)


def test_qonnx_binarized_conv_compiles_to_xnor(tmp_path):
    """BipolarQuant on the activations and on the weights (one scale per output channel) of an unpadded Conv:
    one BConv (DASH_BCONV_b1), equal to the reference within float rounding."""
    rng = np.random.RandomState(0)
    w = rng.randn(6, 4, 3, 3).astype(np.float32)
    ws = np.abs(w).mean(axis=(1, 2, 3), keepdims=True).astype(np.float32)
    nodes = [helper.make_node("BipolarQuant", ["x", "s"], ["xb"], domain=QONNX, name="sign"),
             helper.make_node("BipolarQuant", ["w", "ws"], ["wb"], domain=QONNX, name="wsign"),
             helper.make_node("Conv", ["xb", "wb", "b"], ["y"], kernel_shape=[3, 3], strides=[1, 2], name="conv")]
    m = _model(nodes, {"s": np.float32(1.0), "w": w, "ws": ws, "b": rng.randn(6).astype(np.float32)},
               shape=(1, 4, 8, 9))
    rep = onnx2cedr.validate(m, samples=3, out_dir=tmp_path / "o", artifacts=("lib",))
    assert rep.passed, rep.outputs
    import json
    ops = [ly["op"] for ly in json.loads((tmp_path / "o" / "model.json").read_text())["layers"]]
    assert ops == ["BConv"], ops
