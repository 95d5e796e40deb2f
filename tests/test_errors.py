"""Bad input: a one-line error naming what is wrong, a non-zero exit, no traceback, and no
half-written output folder."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "models" / "demo" / "lenet5_digits.onnx"
H = helper.make_node


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "onnx2cedr", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT)


def assert_one_line_error(res, *needles):
    assert res.returncode != 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), lines[0]
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    return lines[0]


def _save(model, path):
    model.ir_version = 10
    onnx.save(model, str(path))
    return path


def _relu_model(x_shape=(1, 3)):
    g = helper.make_graph([H("Relu", ["x"], ["y"])], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                              list(x_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _convert_fails(tmp_path, model_path, *needles, extra=()):
    out = tmp_path / "out"
    res = cli("convert", model_path, "-o", out, *extra)
    line = assert_one_line_error(res, *needles)
    assert not out.exists(), "a failed conversion left an output folder"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], "temporary folders left behind"
    return line


def test_truncated_file(tmp_path):
    data = DEMO.read_bytes()
    p = tmp_path / "trunc.onnx"
    p.write_bytes(data[: len(data) // 3])
    _convert_fails(tmp_path, p, "trunc.onnx")


def test_not_onnx(tmp_path):
    p = tmp_path / "notes.onnx"
    p.write_text("this is not a model\n" * 20)
    _convert_fails(tmp_path, p, "not a valid ONNX model")


def test_missing_file(tmp_path):
    _convert_fails(tmp_path, tmp_path / "nope.onnx", "does not exist")


def test_cycle(tmp_path):
    g = helper.make_graph([H("Add", ["x", "b"], ["a"], name="first"), H("Relu", ["a"], ["b"], name="second")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("b", TensorProto.FLOAT, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    _convert_fails(tmp_path, _save(m, tmp_path / "cyc.onnx"), "cycle")


def test_missing_input(tmp_path):
    g = helper.make_graph([H("Add", ["x", "ghost"], ["y"], name="adder")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    _convert_fails(tmp_path, _save(m, tmp_path / "missing.onnx"), "ghost", "adder")


def test_unsupported_ops_reported_together(tmp_path):
    nodes = [H("Det", ["x"], ["d"], name="det_a"), H("Det", ["x"], ["d2"], name="det_b"),
             H("Bernoulli", ["x"], ["h"], name="hm"), H("Add", ["d", "d2"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("h", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    _convert_fails(tmp_path, _save(m, tmp_path / "unsup.onnx"), "Det", "det_a", "det_b", "Bernoulli", "hm")


def test_unknown_attribute_is_an_error(tmp_path):
    m = _relu_model()
    m.graph.node[0].attribute.append(helper.make_attribute("mystery", 3))
    m.graph.node[0].name = "r0"
    _convert_fails(tmp_path, _save(m, tmp_path / "attr.onnx"), "mystery", "r0")


def test_symbolic_dim_needs_shape(tmp_path):
    p = _save(_relu_model(("N", 3)), tmp_path / "sym.onnx")
    _convert_fails(tmp_path, p, "symbolic", "--shape x=")


def test_symbolic_dim_with_shape_and_batch(tmp_path):
    p = _save(_relu_model(("N", 3)), tmp_path / "sym.onnx")
    for extra in (["--shape", "x=4x3"], ["--batch", "2"]):
        out = tmp_path / ("o" + extra[0].strip("-"))
        res = cli("convert", p, "-o", out, "--artifact", "lib", *extra)
        assert res.returncode == 0, res.stderr
        assert (out / "model.json").is_file()


def test_bad_shape_flag(tmp_path):
    p = _save(_relu_model(("N", 3)), tmp_path / "sym.onnx")
    _convert_fails(tmp_path, p, "--shape", extra=["--shape", "x=4by3"])
    _convert_fails(tmp_path, p, "not a graph input", extra=["--shape", "nope=4x3"])
    _convert_fails(tmp_path, p, "dimension 1", extra=["--shape", "x=4x5"])


def test_external_data_escaping_folder(tmp_path):
    inner = tmp_path / "model"
    inner.mkdir()
    w = numpy_helper.from_array(np.ones((64, 64), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../secret.bin"), ("offset", "0"), ("length", str(64 * 64 * 4))):
        w.external_data.add(key=k, value=v)
    (tmp_path / "secret.bin").write_bytes(np.ones((64, 64), np.float32).tobytes())
    g = helper.make_graph([H("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    _convert_fails(tmp_path, _save(m, inner / "m.onnx"), "escapes the model's folder")


def test_output_folder_not_ours(tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("do not delete")
    res = cli("convert", DEMO, "-o", out)
    assert_one_line_error(res, "not an onnx2cedr output")
    assert (out / "thesis.tex").read_text() == "do not delete"


def test_missing_compiler(tmp_path):
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "onnx2cedr", "convert", str(DEMO), "-o", str(out)],
                         capture_output=True, text=True, cwd=ROOT,
                         env={**__import__("os").environ, "CXX": "no-such-compiler-xyz"})
    assert_one_line_error(res, "no-such-compiler-xyz")
    assert not out.exists()


def test_validate_bad_inputs_file(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, wrong=np.zeros((2, 2), np.float32))
    res = cli("validate", DEMO, "--inputs", p)
    assert_one_line_error(res, "input")
