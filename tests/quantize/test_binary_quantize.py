"""`quantize --scheme binary` (quantize/binary.py): the hidden MatMul/Gemm layers binarized post-training in
standard ops (onnxruntime runs the result), the first and last weight layers left float; compiled, each
binarized layer is one XNOR/popcount layer (BGemm). `accuracy --schemes ...,binary` reports it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import onnx2cedr
from onnx2cedr.quantize.binary import two_levels
from tests.oncheck import cli, one_line_error

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
DIGITS = ROOT / "models" / "demo" / "digits_test.npz"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("bin")
    z = np.load(DIGITS)
    np.savez(d / "cal.npz", input=z["x"][:40])
    np.savez(d / "test.npz", input=z["x"][100:220], y=z["y"][100:220])
    return d


def test_two_levels():
    rng = np.random.default_rng(0)
    t, c, s = two_levels(np.where(rng.random(10000) < 0.5, -2.0, 2.0) + rng.normal(0, 0.01, 10000))
    assert abs(t) < 0.05 and abs(c) < 0.05 and s == pytest.approx(2.0, abs=0.01)
    relu = np.maximum(rng.normal(0, 1, 10000), 0)  # half zeros: a threshold at 0 would make every bit 1
    t, c, s = two_levels(relu)
    assert 0.3 < t < 1.5 and (relu >= t).mean() < 0.5 and s > 0


def test_lenet_binary(data, tmp_path):
    out = tmp_path / "bin.onnx"
    r = cli("quantize", LENET, "--calib", data / "cal.npz", "-o", out, "--scheme", "binary")
    assert r.exit_code == 0, r.output
    m = onnx.load(str(out))
    f = onnx.load(str(LENET))
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("Where") == 2 and ops.count("GreaterOrEqual") == 2
    gemms = [n for n in f.graph.node if n.op_type in ("Gemm", "MatMul")]
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    new = {n.name: n for n in m.graph.node}
    for n in gemms[:-1]:  # the hidden fully connected layers: bipolar weights, one magnitude per channel
        w = inits[new[n.name].input[1]]
        trans_b = next((a.i for a in new[n.name].attribute if a.name == "transB"), 0)
        wnk = w if trans_b else w.T
        assert np.array_equal(np.abs(wnk), np.broadcast_to(np.abs(wnk[:, :1]), wnk.shape))
    last = gemms[-1]
    assert list(new[last.name].input) == list(last.input)  # the last layer stays float
    rep = onnx2cedr.validate(out, inputs=data / "test.npz", samples=5,
                             out_dir=tmp_path / "o", artifacts=("lib",))
    assert rep.passed
    layers = [ly["op"] for ly in json.loads((tmp_path / "o" / "model.json").read_text())["layers"]]
    assert layers.count("BGemm") == 2 and layers.count("Conv") == 2, layers


def test_accuracy_reports_binary(data, tmp_path):
    js = tmp_path / "acc.json"
    r = cli("accuracy", LENET, "--inputs", data / "test.npz", "--labels", "y", "--schemes", "float,binary",
            "--calib", data / "cal.npz", "--runs", "5", "--json", js)
    assert r.exit_code == 0, r.output
    rows = {s["scheme"]: s for s in json.loads(js.read_text())["schemes"]}
    f, b = rows["float"], rows["binary"]
    assert b["integer_layers"] == 2 and b["weights_bytes"] < f["weights_bytes"] / 4
    assert b["drop_points"] == pytest.approx(100 * (f["top1"] - b["top1"]))
    assert b["top1"] > 0.8  # LeNet-5's convolutions stay float; its fc layers binarize well here


def _single_gemm(tmp_path) -> Path:
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], name="fc")], "g",
                          [helper.make_tensor_value_info("x", 1, [1, 4])], [helper.make_tensor_value_info("y", 1, [1, 3])],
                          [numpy_helper.from_array(np.ones((4, 3), np.float32), "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    p = tmp_path / "one.onnx"
    onnx.save(m, str(p))
    np.savez(tmp_path / "cal1.npz", x=np.ones((2, 1, 4), np.float32))
    return p


@pytest.mark.parametrize("case, needle", [("reduce", "--reduce-range applies to int8"),
                                          ("exclude", "no node named 'nope'"), ("single", "no MatMul/Gemm layer")])
def test_bad_input_is_one_line(data, tmp_path, case, needle):
    model, cal = LENET, data / "cal.npz"
    extra = {"reduce": ["--reduce-range"], "exclude": ["--exclude", "nope"]}.get(case, [])
    if case == "single":
        model, cal = _single_gemm(tmp_path), tmp_path / "cal1.npz"
    out = tmp_path / "never.onnx"
    r = cli("quantize", model, "--calib", cal, "-o", out, "--scheme", "binary", *extra)
    assert r.exit_code == 2
    assert needle in one_line_error(r)
    assert not out.exists()
