"""int16 QDQ models (`quantize --scheme int16`) compile into 16-bit integer layers (fuse_qdq -> QConv /
QGemm with int16 weights -> DASH_QCONV_i16 / DASH_QGEMM_i16, int64 accumulation) and match onnxruntime
running the same QDQ model: exact or one LSB off; LeNet-5 keeps its float top-1 within half a point."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

import onnx2cedr
from onnx2cedr.quantize import quantize
from tests.oncheck import rand
from tests.quantize.test_qdq_models import DIGITS, LENET, _cnn


def _layers(out: Path) -> list[dict]:
    return json.loads((out / "model.json").read_text())["layers"]


@pytest.mark.parametrize("per_channel, relu, groups", [(False, False, 1), (True, True, 2)])
def test_int16_model_matches_onnxruntime(tmp_path, per_channel, relu, groups):
    src, cal = tmp_path / "f.onnx", tmp_path / "cal.npz"
    onnx.save(_cnn(relu, groups), str(src))
    np.savez(cal, x=rand(16, 1, 3, 8, 8, seed=11))
    q = quantize(src, cal, tmp_path / "q16.onnx", scheme="int16", per_channel=per_channel)
    out = tmp_path / "out"
    rep = onnx2cedr.validate(q, samples=30, out_dir=out, artifacts=("lib",))
    ops = [ly["op"] for ly in _layers(out)]
    assert ops.count("QConv") == 2 and ops.count("QGemm") == 2, ops
    assert not {"Conv", "Gemm", "MatMul", "Relu"} & set(ops)
    src_cpp = (out / "model.cpp").read_text()
    assert "o2c_qconv16" in src_cpp and "o2c_qgemm16" in src_cpp and "o2c_qconv(" not in src_cpp
    (o,) = rep.outputs
    assert o.max_lsb is not None and o.max_lsb <= 1 and rep.passed, o


def test_lenet_int16_drop_at_most_half_a_point(tmp_path):
    z = np.load(DIGITS)
    cal = tmp_path / "cal.npz"
    np.savez(cal, input=z["x"][:100])
    q = quantize(LENET, cal, tmp_path / "lenet_int16.onnx", scheme="int16", samples=100)
    test = tmp_path / "test.npz"
    np.savez(test, input=z["x"], y=z["y"])
    flt = onnx2cedr.validate(LENET, inputs=test, labels="y", artifacts=("lib",), out_dir=tmp_path / "f")
    i16 = onnx2cedr.validate(q, inputs=test, labels="y", artifacts=("lib",), out_dir=tmp_path / "q")
    ops = [ly["op"] for ly in _layers(tmp_path / "q")]
    assert ops.count("QConv") == 2 and ops.count("QGemm") == 3
    assert i16.passed and i16.outputs[0].max_lsb <= 1
    drop = 100 * (flt.accuracy["ours"] - i16.accuracy["ours"])
    assert drop <= 0.5, (flt.accuracy, i16.accuracy)
