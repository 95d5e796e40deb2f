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
                          [helper.make_tensor_value_info("x", 1, [1, 4])],
                          [helper.make_tensor_value_info("y", 1, [1, 3])],
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


def test_batchnorm_after_a_binarized_layer_is_recalibrated(tmp_path):
    """Gemm -> Relu -> MatMul -> BN -> Relu -> Gemm: the MatMul is binarized, and the BN's mean and variance
    become those of the binarized layer's outputs over the calibration inputs."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Gemm", ["x", "w0"], ["h0"], name="fc0"), helper.make_node("Relu", ["h0"], ["r0"]),
             helper.make_node("MatMul", ["r0", "w1"], ["h1"], name="fc1"),
             helper.make_node("BatchNormalization", ["h1", "g", "b", "m", "v"], ["bn"], name="bn"),
             helper.make_node("Relu", ["bn"], ["r1"]), helper.make_node("Gemm", ["r1", "w2"], ["y"], name="fc2")]
    inits = {"w0": rng.standard_normal((10, 32)), "w1": rng.standard_normal((32, 16)), "g": np.ones(16),
             "b": np.zeros(16), "m": np.zeros(16), "v": np.ones(16), "w2": rng.standard_normal((16, 4))}
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [2, 10])],
                          [helper.make_tensor_value_info("y", 1, [2, 4])],
                          [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "f.onnx"))
    cal = rng.standard_normal((12, 2, 10)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=cal)
    out = tmp_path / "b.onnx"
    r = cli("quantize", tmp_path / "f.onnx", "--calib", tmp_path / "cal.npz", "-o", out, "--scheme", "binary")
    assert r.exit_code == 0, r.output
    q = onnx.load(str(out))
    inits = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    bn = next(n for n in q.graph.node if n.op_type == "BatchNormalization")
    q.graph.output.append(onnx.ValueInfoProto(name="h1"))
    sess = ort.InferenceSession(q.SerializeToString(), providers=["CPUExecutionProvider"])
    h1 = np.concatenate([sess.run(["h1"], {"x": c})[0] for c in cal]).astype(np.float64)
    np.testing.assert_allclose(inits[bn.input[3]], h1.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(inits[bn.input[4]], h1.var(axis=0), rtol=1e-4, atol=1e-5)
    assert [n.op_type for n in q.graph.node].count("Where") == 1  # fc1 only: fc0 and fc2 stay float
