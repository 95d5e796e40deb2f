"""Control flow end to end: the two-rate VAD (an If on a scalar sample-rate input) compiled with
--const for each rate and validated against onnxruntime on the original model; the shape-derived
nested If; the CLI's one-line errors for an unbound condition and for bad --const values."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

import onnx2cedr
from models.vad import SAMPLES, export_vad, nested_shape_if
from tests.oncheck import cli, one_line_error


@pytest.fixture(scope="module")
def vad(tmp_path_factory):
    return export_vad(tmp_path_factory.mktemp("vad") / "vad.onnx")


@pytest.mark.parametrize("rate,frames", [(16000, 23), (8000, 48)])
def test_vad_validates_with_the_rate_bound(vad, tmp_path, rate, frames):
    out = tmp_path / "out"
    r = cli("validate", vad, "--const", f"sr={rate}", "--samples", "3", "--json", "-o", out)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["passed"] and rep["outputs"][0]["shape"] == [1, frames, 1]
    desc = json.loads((out / "model.json").read_text())
    assert [t["name"] for t in desc["inputs"]] == ["audio"]
    assert desc["bound_inputs"] == [{"name": "sr", "dtype": "int64", "shape": [], "value": rate}]
    assert "If" not in {layer["op"] for layer in desc["layers"]} and "LSTM" in {layer["op"] for layer in desc["layers"]}
    # the library computes what onnxruntime computes for the original model fed the same rate
    import onnxruntime as ort

    x = np.random.default_rng(3).standard_normal((1, 1, SAMPLES)).astype(np.float32)
    ref = ort.InferenceSession(str(vad), providers=["CPUExecutionProvider"]).run(
        None, {"audio": x, "sr": np.array(rate, np.int64)})[0]
    np.testing.assert_allclose(onnx2cedr.ModelLibrary(out).run([x])[0], ref, rtol=1e-4, atol=1e-5)


def test_vad_without_the_rate_is_one_line(vad):
    r = cli("inspect", vad)
    assert r.exit_code == 2
    line = one_line_error(r)
    # its two rates give outputs of different lengths: decided at run time it cannot be (static shapes)
    assert "If 'choose_rate': decided at run time, its branches must give outputs of the same shape" in line
    assert "its condition depends on graph input 'sr': bind it with --const sr=VALUE" in line


@pytest.mark.parametrize("args,msg", [
    (["--const", "rate=16000"], "--const names 'rate', which is not a graph input (inputs: audio, sr)"),
    (["--const", "sr=16k"], "--const sr=16k: '16k' is not a value of type int64"),
    (["--const", "sr=16000,8000"], "--const sr: 2 value(s) given, the input has shape []"),
    (["--const", "sr"], "bad --const 'sr': expected NAME=VALUE"),
    (["--const", "sr=1", "--const", "sr=2"], "--const binds 'sr' twice"),
])
def test_bad_const_options_are_one_line(vad, args, msg):
    r = cli("inspect", vad, *args)
    assert r.exit_code == 2
    assert msg in one_line_error(r)


def test_nested_shape_if_validates_through_the_api(tmp_path):
    path = tmp_path / "nested.onnx"
    onnx.save(nested_shape_if(), path)
    rep = onnx2cedr.validate(str(path), samples=2)
    assert rep.passed and rep.outputs[0].shape == [1, 8, 199]
    info = onnx2cedr.inspect(str(path))
    # the outer then branch and its nested then branch, their Relu and Sigmoid fused
    assert [(ly["op"], (ly["activation"] or {}).get("op")) for ly in info["layers"]] == [("Conv", "Relu"),
                                                                                        ("Mul", "Sigmoid")]


def test_api_consts_bind_a_float_input(vad):
    audio = ",".join(["0.25"] * SAMPLES)
    info = onnx2cedr.inspect(vad, consts={"sr": 8000, "audio": audio})
    assert info["inputs"] == [] and [b["name"] for b in info["bound_inputs"]] == ["sr", "audio"]


# ---- Loop and Scan: unrolled at compile time (passes/unroll_loop.py) ----------------------------

def _loop_model(trip: int | None, cond_body: str = "pass", steps: int = 5) -> onnx.ModelProto:
    """h = tanh(h @ W + xs[i]) for i < M (M an initializer, or the graph input 'M' when trip is None);
    outputs the final h and every step's h stacked (a scan output)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)
    H = 8
    W = numpy_helper.from_array((rng.standard_normal((H, H)) * 0.4).astype(np.float32), "W")
    body_nodes = [
        helper.make_node("Gather", ["xs", "i"], ["x_i"], axis=0),
        helper.make_node("MatMul", ["h_in", "W"], ["hw"]),
        helper.make_node("Add", ["hw", "x_i"], ["pre"]),
        helper.make_node("Tanh", ["pre"], ["h_out"]),
        helper.make_node("Identity", ["h_out"], ["h_scan"]),
    ]
    if cond_body == "pass":
        body_nodes.append(helper.make_node("Identity", ["c_in"], ["c_out"]))
    else:  # computed from the state: only known at run time
        body_nodes += [helper.make_node("ReduceSum", ["h_out"], ["s"], keepdims=0),
                       helper.make_node("Greater", ["s", "zero"], ["c_out"])]
    body = helper.make_graph(
        body_nodes, "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, H])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, H]),
         helper.make_tensor_value_info("h_scan", TensorProto.FLOAT, [1, H])])
    inits = [W, numpy_helper.from_array(np.array(True), "cond"), numpy_helper.from_array(np.float32(0), "zero")]
    inputs = [helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, H]),
              helper.make_tensor_value_info("xs", TensorProto.FLOAT, [steps, 1, H])]
    if trip is None:
        inputs.append(helper.make_tensor_value_info("M", TensorProto.INT64, []))
    else:
        inits.append(numpy_helper.from_array(np.array(trip, np.int64), "M"))
    n_out = trip if trip is not None else "n"
    g = helper.make_graph(
        [helper.make_node("Loop", ["M", "cond", "h0"], ["h", "hs"], body=body)], "loop", inputs,
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, H]),
         helper.make_tensor_value_info("hs", TensorProto.FLOAT, [n_out, 1, H])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _scan_model() -> onnx.ModelProto:
    """A running sum and product over axis 1 of x (2 x 6 x 3), read in reverse; the per-step sums stacked on
    output axis 1 in reverse order too."""
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
         helper.make_node("Mul", ["p_in", "x_t"], ["p_out"]),
         helper.make_node("Sigmoid", ["s_out"], ["y_t"])], "body",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("s_in", "p_in", "x_t")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("s_out", "p_out", "y_t")])
    g = helper.make_graph(
        [helper.make_node("Scan", ["s0", "p0", "x"], ["s", "p", "ys"], body=body, num_scan_inputs=1,
                          scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[1],
                          scan_output_directions=[1])], "scan",
        [helper.make_tensor_value_info("s0", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("p0", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6, 3])],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("p", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("ys", TensorProto.FLOAT, [2, 6, 3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_a_static_loop_is_unrolled_and_validates(tmp_path):
    path = tmp_path / "loop.onnx"
    onnx.save(_loop_model(4), path)
    rep = onnx2cedr.validate(str(path), samples=3)
    assert rep.passed, rep
    assert [o.shape for o in rep.outputs] == [[1, 8], [4, 1, 8]]
    ops = [ly["op"] for ly in onnx2cedr.inspect(str(path))["layers"]]
    assert "Loop" not in ops and ops.count("MatMul") + ops.count("Gemm") == 4, ops


def test_a_scan_in_reverse_on_axis_1_is_unrolled_and_validates(tmp_path):
    path = tmp_path / "scan.onnx"
    onnx.save(_scan_model(), path)
    rep = onnx2cedr.validate(str(path), samples=3)
    assert rep.passed, rep
    assert [o.shape for o in rep.outputs] == [[2, 3], [2, 3], [2, 6, 3]]
    assert "Scan" not in {ly["op"] for ly in onnx2cedr.inspect(str(path))["layers"]}


def test_a_loop_trip_count_input_is_bound_with_const(tmp_path):
    path = tmp_path / "loop_m.onnx"
    onnx.save(_loop_model(None), path)
    r = cli("inspect", path)
    assert r.exit_code == 2
    line = one_line_error(r)
    assert "trip count is not known at compile time" in line and "--const M=VALUE" in line, line
    rep = onnx2cedr.validate(str(path), samples=2, consts={"M": 3})
    assert rep.passed and rep.outputs[1].shape == [3, 1, 8]


@pytest.mark.parametrize("model,msg", [
    (lambda: _loop_model(5000, steps=5000), "5000 iterations of a 6-node body are too many to unroll"),
    (lambda: _loop_model(4, cond_body="computed"), "its body computes its condition at run time"),
])
def test_loops_that_cannot_be_unrolled_are_one_line(tmp_path, model, msg):
    path = tmp_path / "bad.onnx"
    onnx.save(model(), path)
    r = cli("inspect", path)
    assert r.exit_code == 2
    assert msg in one_line_error(r)


# ---- If decided at run time: both branches compiled, each under its guard --------------------------

def _runtime_if_model() -> onnx.ModelProto:
    """y = If(c, then: If(inner_c, Relu(conv_a(x)), Tanh(conv_a(x))), else: Sigmoid(conv_b(x))) + x4, with c and
    inner_c graph inputs: nested, and the inner If reads a value of the outer then branch."""
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(0)
    wa = nh.from_array((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32), "wa")
    wb = nh.from_array((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32), "wb")
    y_vi = lambda n: h.make_tensor_value_info(n, T.FLOAT, [1, 4, 8, 8])  # noqa: E731
    it = h.make_graph([h.make_node("Relu", ["t_c"], ["it_y"])], "it", [], [y_vi("it_y")])
    ie = h.make_graph([h.make_node("Tanh", ["t_c"], ["ie_y"])], "ie", [], [y_vi("ie_y")])
    then_g = h.make_graph([h.make_node("Conv", ["x", "wa"], ["t_c"], pads=[1, 1, 1, 1]),
                           h.make_node("If", ["inner_c"], ["t_y"], then_branch=it, else_branch=ie, name="inner")],
                          "then", [], [y_vi("t_y")])
    else_g = h.make_graph([h.make_node("Conv", ["x", "wb"], ["e_c"], pads=[1, 1, 1, 1]),
                           h.make_node("Sigmoid", ["e_c"], ["e_y"])], "else", [], [y_vi("e_y")])
    g = h.make_graph([h.make_node("If", ["c"], ["y0"], then_branch=then_g, else_branch=else_g, name="outer"),
                      h.make_node("Add", ["y0", "x4"], ["y"])], "rif",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 8, 8]), h.make_tensor_value_info("c", T.BOOL, []),
                      h.make_tensor_value_info("inner_c", T.BOOL, []), y_vi("x4")], [y_vi("y")], [wa, wb])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_an_if_decided_at_run_time_runs_only_its_taken_branch(tmp_path):
    import onnxruntime as ort

    path = tmp_path / "rif.onnx"
    onnx.save(_runtime_if_model(), path)
    res = onnx2cedr.convert(str(path), tmp_path / "out", artifacts=("lib", "exe"))
    src = (tmp_path / "out" / "model.cpp").read_text()
    assert src.count("// a branch of a run-time If") == 5  # 2 convolutions, Relu, Tanh, the inner select
    lib = onnx2cedr.ModelLibrary(res.out_dir)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for c in (True, False):
        for inner in (True, False):
            feeds = {"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32), "c": np.array(c),
                     "inner_c": np.array(inner), "x4": rng.standard_normal((1, 4, 8, 8)).astype(np.float32)}
            np.testing.assert_allclose(lib.run([feeds[n] for n, _, _ in lib.inputs])[0], sess.run(None, feeds)[0],
                                       rtol=1e-5, atol=1e-6)
    rep = onnx2cedr.validate(str(path), samples=4)
    assert rep.passed, rep
