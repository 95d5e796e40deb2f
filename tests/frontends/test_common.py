"""Framework-independent parts of the frontends: the missing-framework error, the parity check on
a broken model, local functions inlined, external data, factories named on the command line."""
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

import onnx2cedr
from onnx2cedr.cli import app
from onnx2cedr.errors import O2CError, ValidationError
from onnx2cedr.frontends import import_model, parity, report_of, save
from onnx2cedr.frontends.common import finalize, load_factory, unknown_ops
from onnx2cedr.loader import load_model


@pytest.mark.parametrize("call,hidden,extra", [
    (lambda: onnx2cedr.from_torch(object(), np.zeros(1)), ["torch"], "torch"),
    (lambda: onnx2cedr.from_keras("m.keras"), ["keras"], "tf"),
    (lambda: onnx2cedr.from_tf("saved"), ["tensorflow"], "tf"),
    (lambda: onnx2cedr.from_jax(lambda x: x, None, [np.zeros(1)]), ["jax"], "jax"),
], ids=["torch", "keras", "tf", "jax"])
def test_missing_framework_names_the_extra(monkeypatch, call, hidden, extra):
    for mod in hidden:  # None in sys.modules makes `import mod` raise ImportError
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(O2CError) as e:
        call()
    msg = str(e.value)
    assert f"pip install 'onnx2cedr[{extra}]'" in msg and "\n" not in msg and hidden[0] in msg


def test_cli_missing_framework_is_one_line_exit_2(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "jax", None)
    f = tmp_path / "f.py"
    f.write_text("def build():\n    return (lambda x: x)\n")
    r = CliRunner().invoke(app, ["import", "jax", f"{f}:build", "--input-shape", "2x3", "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 2
    assert "onnx2cedr[jax]" in r.output and r.output.strip().count("\n") == 0


def _scale_model(k: float) -> onnx.ModelProto:
    g = helper.make_graph([helper.make_node("Mul", ["x", "k"], ["y"])], "scale",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])],
                          [numpy_helper.from_array(np.array(k, np.float32), "k")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    return m


def test_parity_passes_and_travels_with_the_model():
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    m = _scale_model(3.0)
    rep = parity.check(m, lambda a: [a * 3.0], [[x], [x + 1]], "NumPy", "hand-written")
    assert rep.passed and rep.samples == 2 and rep.outputs[0].top1 == 1.0
    again = report_of(m)
    assert again.passed and again.outputs[0].max_abs_err == rep.outputs[0].max_abs_err


def test_parity_fires_on_a_broken_export_with_both_figures():
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    m = _scale_model(3.01)  # the "exporter" got a weight wrong
    with pytest.raises(ValidationError) as e:
        parity.check(m, lambda a: [a * 3.0], [[x]], "NumPy", "hand-written exporter 1.0")
    msg = str(e.value)
    assert "hand-written exporter 1.0" in msg and "at fault" in msg and "\n" not in msg
    assert "max abs err" in msg and "max rel err" in msg and "(rtol 0.0001)" in msg
    assert "in NumPy" in msg and "in onnxruntime" in msg
    assert e.value.exit_code == 1
    rep = parity.check(m, lambda a: [a * 3.0], [[x]], "NumPy", "e", raise_on_failure=False)
    assert not rep.passed and 1e-4 < rep.max_rel_err < 1e-2 and "OVER TOLERANCE" in rep.summary()


def test_local_functions_are_inlined():
    fn = helper.make_function("local", "Scale2", ["a"], ["b"], [helper.make_node("Add", ["a", "a"], ["b"])],
                              [helper.make_opsetid("", 21)])
    g = helper.make_graph([helper.make_node("Scale2", ["x"], ["t"], domain="local"),
                           helper.make_node("Relu", ["t"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("local", 1)],
                          functions=[fn])
    m.ir_version = 14  # what onnx 1.23 writes; onnxruntime 1.31 refuses it
    out = finalize(m, "inlined", "test")
    assert not out.functions and [n.op_type for n in out.graph.node] == ["Add", "Relu"]
    assert out.ir_version == 10 and out.graph.name == "inlined"
    x = np.array([-1.0, 0.5, 2.0], np.float32)
    rep = parity.check(out, lambda a: [np.maximum(2 * a, 0)], [[x]], "NumPy", "test")
    assert rep.outputs[0].max_abs_err == 0.0


def test_unknown_ops_are_found():
    m = _scale_model(1.0)
    m.graph.node.append(helper.make_node("Lgamma", ["y"], ["z"], name="scope/layer/Lgamma"))
    assert [n.name for n in unknown_ops(m)] == ["scope/layer/Lgamma"]


def test_save_external_data(tmp_path):
    big = np.arange(5000, dtype=np.float32).reshape(1000, 5)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 1000])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])],
                          [numpy_helper.from_array(big, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    files = save(m, tmp_path / "m.onnx", external_data=True)
    assert [f.name for f in files] == ["m.onnx", "m.onnx.data"] and files[1].stat().st_size == big.nbytes
    assert save(m, tmp_path / "n.onnx") == [tmp_path / "n.onnx"]  # small: one file by default
    g2, _ = load_model(tmp_path / "m.onnx")
    np.testing.assert_array_equal(g2.values["w"].data, big)


def test_factories_and_model_arguments(tmp_path):
    f = tmp_path / "facts.py"
    f.write_text("X = 3\n\ndef needs(a):\n    return a\n\ndef broken():\n    raise RuntimeError('no weights')\n")
    assert load_factory(f"{f}:X") == (3, "X")
    assert callable(load_factory(f"{f}:needs")[0])  # takes arguments: the function itself
    with pytest.raises(O2CError, match=r"calling broken\(\) from .* failed: RuntimeError: no weights"):
        load_factory(f"{f}:broken")
    with pytest.raises(O2CError, match="defines no 'nope'"):
        load_factory(f"{f}:nope")
    with pytest.raises(O2CError, match="is not FILE.py:FACTORY"):
        load_factory("model.onnx")
    with pytest.raises(O2CError, match="cannot tell which framework"):
        import_model(f"{f}:X")
    with pytest.raises(O2CError, match="unknown framework 'caffe'"):
        import_model(f"{f}:X", "caffe")
