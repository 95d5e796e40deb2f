"""Loading and normalizing: local functions, old opsets, new IR versions, external data, the
kernels inside the installed package."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import onnx2cedr
from tests.oncheck import rand, run_ort

H = helper.make_node


def test_local_function_is_inlined(tmp_path):
    fn = helper.make_function("my.fns", "SwishLike", ["a"], ["b"],
                              [H("Sigmoid", ["a"], ["s"]), H("Mul", ["a", "s"], ["b"])],
                              opset_imports=[helper.make_opsetid("", 17)])
    g = helper.make_graph([H("SwishLike", ["x"], ["y"], domain="my.fns")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])])
    m = helper.make_model(g, functions=[fn], opset_imports=[helper.make_opsetid("", 17),
                                                             helper.make_opsetid("my.fns", 1)])
    m.ir_version = 10
    p = tmp_path / "fn.onnx"
    onnx.save(m, str(p))
    # the function's body, inlined: its two standard ops (with the chain fusion off) ...
    d = onnx2cedr.inspect(p, disable_passes=["fuse_act_chain"])
    assert sorted(x["op"] for x in d["layers"]) == ["Mul", "Sigmoid"]
    # ... which the passes then fuse into one Swish layer, as any x * Sigmoid(x) is
    assert [x["op"] for x in onnx2cedr.inspect(p)["layers"]] == ["Swish"]
    assert onnx2cedr.validate(p, samples=3).passed


def test_opset7_model_is_version_converted(tmp_path):
    nodes = [H("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]),
             H("Upsample", ["bn"], ["up"], scales=[1.0, 1.0, 2.0, 2.0]),  # opset 7: scales attribute
             H("Reshape", ["up", "shape"], ["y"])]
    inits = [numpy_helper.from_array(a, n) for n, a in (("s", rand(3, seed=1)), ("b", rand(3, seed=2)),
                                                         ("m", rand(3, seed=3)), ("v", rand(3, seed=4, low=.5, high=2)),
                                                         ("shape", np.array([1, -1], np.int64)))]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 7)])
    m.ir_version = 3
    p = tmp_path / "old.onnx"
    onnx.save(m, str(p))
    assert onnx2cedr.validate(p, samples=3).passed


def test_ir_version_14_model(tmp_path):
    """onnx 1.23 writes IR version 14 by default, which onnxruntime 1.31 refuses: we compile it, and the
    reference run declares IR 10 (and says so)."""
    g = helper.make_graph([H("Relu", ["x"], ["y"])], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 14
    p = tmp_path / "ir14.onnx"
    onnx.save(m, str(p))
    rep = onnx2cedr.validate(p, samples=2)
    assert rep.passed
    assert any("IR version 14" in n for n in rep.notes)


def test_external_data_model(tmp_path):
    w = rand(64, 32, seed=3)
    g = helper.make_graph([H("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    p = tmp_path / "ext.onnx"
    onnx.save(m, str(p), save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
              size_threshold=0)
    assert (tmp_path / "weights.bin").is_file()
    x = rand(2, 64)
    res = onnx2cedr.convert(p, tmp_path / "out", artifacts=("lib",))
    ours = onnx2cedr.ModelLibrary(res.out_dir).run([x])[0]
    np.testing.assert_allclose(ours, x @ w, rtol=1e-5, atol=1e-5)


def test_in_memory_model_proto(tmp_path):
    g = helper.make_graph([H("Tanh", ["x"], ["y"])], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    res = onnx2cedr.convert(m, tmp_path / "o", artifacts=("lib",), name="from_memory")
    x = rand(3)
    np.testing.assert_allclose(onnx2cedr.ModelLibrary(res.out_dir).run([x])[0], run_ort(m, {"x": x})[0], rtol=1e-6)


def test_cli_works_from_any_folder_with_packaged_kernels(tmp_path):
    """The installed package carries the kernel sources: run from a folder outside the checkout."""
    code = "import onnx2cedr.build as b; print(b.kernels_dir())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    kd = Path(r.stdout.strip())
    # found without help from the working folder: an absolute path to a folder with the kernel sources
    assert kd.is_absolute() and tmp_path not in kd.parents
    assert (kd / "include" / "dash.h").is_file() and (kd / "include" / "dash_ml.h").is_file()
    assert any((kd / "src").rglob("*.cpp")) and (kd / "entry" / "exe_main.cpp").is_file()
    r2 = subprocess.run([sys.executable, "-m", "onnx2cedr", "ops"], capture_output=True, text=True, cwd=tmp_path)
    assert r2.returncode == 0 and "DASH_CONV" in r2.stdout
