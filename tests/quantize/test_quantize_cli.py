"""`onnx2cedr quantize`: a QDQ model onnxruntime loads, its options by their effect, bad input in one line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.oncheck import cli, one_line_error

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
DIGITS = ROOT / "models" / "demo" / "digits_test.npz"


def _qtypes(path: Path) -> dict[str, int]:
    """Element type of each QuantizeLinear's zero point, by node name."""
    m = onnx.load(str(path))
    inits = {i.name: i for i in m.graph.initializer}
    return {n.name: inits[n.input[2]].data_type for n in m.graph.node if n.op_type == "QuantizeLinear"}


@pytest.fixture(scope="module")
def calib(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("calib") / "cal.npz"
    z = np.load(DIGITS)
    np.savez(p, input=z["x"][:20])
    return p


def test_reduce_range_gives_7_bit_weights(tmp_path, calib):
    out = tmp_path / "q7.onnx"
    r = cli("quantize", LENET, "--calib", calib, "-o", out, "--reduce-range")
    assert r.exit_code == 0, r.output
    assert "7-bit weights" in r.output
    m = onnx.load(str(out))
    weights = [onnx.numpy_helper.to_array(i) for i in m.graph.initializer
               if onnx.numpy_helper.to_array(i).dtype == np.int8 and i.dims and np.prod(i.dims) > 1]
    assert weights and max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= 64
    x = np.load(DIGITS)["x"][:1]
    ref = ort.InferenceSession(str(LENET)).run(None, {"input": x})[0]
    assert np.argmax(ort.InferenceSession(str(out)).run(None, {"input": x})[0]) == np.argmax(ref)


def test_int8_per_tensor_runs_in_onnxruntime(tmp_path, calib):
    out = tmp_path / "q.onnx"
    r = cli("quantize", LENET, "--calib", calib, "-o", out)
    assert r.exit_code == 0, r.output
    m = onnx.load(str(out))
    assert m.ir_version <= 10
    assert set(_qtypes(out).values()) == {onnx.TensorProto.INT8}
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    w_dq = [n for n in m.graph.node if n.op_type == "DequantizeLinear" and inits.get(n.input[0]) is not None
            and inits[n.input[0]].dtype == np.int8]
    assert len(w_dq) == 5 and all(inits[n.input[1]].size == 1 for n in w_dq)  # per tensor
    x = np.load(DIGITS)["x"][:1]
    ref = ort.InferenceSession(str(LENET)).run(None, {"input": x})[0]
    got = ort.InferenceSession(str(out)).run(None, {"input": x})[0]
    assert np.argmax(got) == np.argmax(ref)
    assert not list(tmp_path.glob(".o2c-*"))  # nothing left of the atomic write


def test_int16_per_channel_and_exclude(tmp_path, calib):
    out = tmp_path / "q16.onnx"
    conv0 = "/features/features.0/Conv"
    r = cli("quantize", LENET, "--calib", calib, "-o", out, "--scheme", "int16", "--per-channel",
            "--exclude", conv0, "--samples", "5", "--method", "percentile")
    assert r.exit_code == 0, r.output
    assert set(_qtypes(out).values()) == {onnx.TensorProto.INT16}
    m = onnx.load(str(out))
    inits = {i.name: i for i in m.graph.initializer}
    prods = {o: n for n in m.graph.node for o in n.output}
    convs = {n.name: n for n in m.graph.node if n.op_type == "Conv"}
    # the excluded conv reads float weights; the other one a per-channel DequantizeLinear
    assert convs[conv0].input[1] in inits
    w1 = prods[convs["/features/features.3/Conv"].input[1]]
    assert w1.op_type == "DequantizeLinear" and onnx.numpy_helper.to_array(inits[w1.input[1]]).size == 16
    ort.InferenceSession(str(out)).run(None, {"input": np.load(DIGITS)["x"][:1]})


def test_methods_give_different_ranges(tmp_path, calib):
    scales = {}
    for meth in ("minmax", "percentile"):
        out = tmp_path / f"{meth}.onnx"
        r = cli("quantize", LENET, "--calib", calib, "-o", out, "--method", meth)
        assert r.exit_code == 0, r.output
        m = onnx.load(str(out))
        inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
        scales[meth] = [float(inits[n.input[1]]) for n in m.graph.node if n.op_type == "QuantizeLinear"]
    assert scales["minmax"] != scales["percentile"]


def test_samples_caps_the_calibration(tmp_path, calib):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    assert cli("quantize", LENET, "--calib", calib, "-o", a, "--samples", "1").exit_code == 0
    assert cli("quantize", LENET, "--calib", calib, "-o", b).exit_code == 0
    sa = [i.raw_data for i in onnx.load(str(a)).graph.initializer if i.name.endswith("_scale")]
    sb = [i.raw_data for i in onnx.load(str(b)).graph.initializer if i.name.endswith("_scale")]
    assert sa != sb


@pytest.mark.parametrize("case, needle", [
    ("not_npz", "cannot read inputs"),
    ("wrong_shape", "expected [1, 1, 32, 32]"),
    ("no_key", "has no array for input"),
    ("unknown_node", "no node named 'nope'"),
    ("scheme", "unknown scheme 'int4'"),
    ("method", "unknown calibration method"),
    ("samples", "--samples must be at least 1"),
    ("not_model", "cannot read model"),
    ("symbolic", "has a symbolic dimension 'N'"),
])
def test_bad_input_is_one_line(tmp_path, calib, case, needle):
    out = tmp_path / "q.onnx"
    args = ["quantize", LENET, "--calib", calib, "-o", out]
    if case == "not_npz":
        bad = tmp_path / "bad.npz"
        bad.write_text("not a zip")
        args[3] = bad
    elif case == "wrong_shape":
        bad = tmp_path / "bad.npz"
        np.savez(bad, input=np.zeros((3, 1, 28, 28), np.float32))
        args[3] = bad
    elif case == "no_key":
        bad = tmp_path / "bad.npz"
        np.savez(bad, a=np.zeros((3, 1, 28, 28), np.float32), b=np.zeros((2,), np.float32))
        args[3] = bad
    elif case == "unknown_node":
        args += ["--exclude", "nope"]
    elif case == "scheme":
        args += ["--scheme", "int4"]
    elif case == "method":
        args += ["--method", "median"]
    elif case == "not_model":
        bad = tmp_path / "bad.onnx"
        bad.write_bytes(b"\x00garbage")
        args[1] = bad
    elif case == "symbolic":
        m = onnx.load(str(LENET))
        m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
        bad = tmp_path / "sym.onnx"
        onnx.save(m, str(bad))
        args[1] = bad
    else:
        args += ["--samples", "0"]
    r = cli(*args)
    assert r.exit_code == 2
    assert needle in one_line_error(r)
    assert not out.exists()
