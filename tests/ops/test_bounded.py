"""Outputs with a dimension known only at run time (ops/bounded.py): NonZero, NonMaxSuppression, Unique and
TopK with a run-time K, against onnxruntime; the stated maximum (--max-dim) and the one-line error over it
from the library and the executable; model.json's marks; consumers refused in one line."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2cedr.compiler import compile_model, convert
from onnx2cedr.errors import O2CError, UnsupportedError
from onnx2cedr.runner import ModelLibrary
from onnx2cedr.validation import validate

F, I64 = TensorProto.FLOAT, TensorProto.INT64
ROOT = Path(__file__).resolve().parents[2]


def _model(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "bounded", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _vi(name, t, shape):
    return helper.make_tensor_value_info(name, t, shape)


def _ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _all_ops_model():
    """One model, every op: x -> NonZero; boxes, scores, score_threshold -> NMS (max 3 per class, IoU 0.5; also
    center-point boxes, and max_out and IoU given at run time);
    u -> Unique (all four outputs, unsorted) and Unique along axis 1 (sorted); t, k -> TopK (run-time K)."""
    nodes = [
        helper.make_node("NonZero", ["x"], ["nz"]),
        helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "score_thr"], ["sel"]),
        helper.make_node("NonMaxSuppression", ["cboxes", "scores", "max_out", "iou"], ["sel_c"], center_point_box=1),
        helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_rt", "iou_rt"], ["sel_rt"]),
        helper.make_node("Unique", ["u"], ["uy", "ui", "uinv", "uc"], sorted=0),
        helper.make_node("Unique", ["m"], ["my", "mi", "minv", "mc"], axis=1),
        helper.make_node("TopK", ["t", "k"], ["tv", "ti"], axis=1, largest=1),
    ]
    inputs = [_vi("x", F, [3, 4]), _vi("boxes", F, [2, 6, 4]), _vi("cboxes", F, [2, 6, 4]), _vi("scores", F, [2, 2, 6]),
              _vi("score_thr", F, [1]), _vi("u", I64, [10]), _vi("m", F, [2, 5]), _vi("t", F, [2, 7]), _vi("k", I64, [1]),
              _vi("max_rt", I64, [1]), _vi("iou_rt", F, [1])]
    outputs = [_vi(n, F if n in ("my", "tv") else I64, None)
               for n in ("nz", "sel", "sel_c", "sel_rt", "uy", "ui", "uinv", "uc", "my", "mi", "minv", "mc", "tv", "ti")]
    inits = [numpy_helper.from_array(np.array([3], np.int64), "max_out"),
             numpy_helper.from_array(np.array([0.5], np.float32), "iou")]
    return _model(nodes, inputs, outputs, inits)


def _feeds(rng, k=3):
    x = rng.integers(-1, 2, (3, 4)).astype(np.float32)  # about a third zeros
    xy = rng.uniform(0, 10, (2, 6, 2)).astype(np.float32)
    wh = rng.uniform(1, 6, (2, 6, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], axis=2)[..., [1, 0, 3, 2]]  # [y1, x1, y2, x2]
    boxes[0, 1] = boxes[0, 0] + 0.1  # a near-duplicate: suppressed
    cboxes = np.concatenate([xy + wh / 2, wh], axis=2)  # [xc, yc, w, h]
    scores = rng.uniform(0, 1, (2, 2, 6)).astype(np.float32)
    return {"x": x, "boxes": boxes.astype(np.float32), "cboxes": cboxes.astype(np.float32), "scores": scores,
            "score_thr": np.array([0.2], np.float32), "u": rng.integers(0, 5, 10).astype(np.int64),
            "m": rng.integers(0, 2, (2, 5)).astype(np.float32), "t": rng.standard_normal((2, 7)).astype(np.float32),
            "k": np.array([k], np.int64), "max_rt": rng.integers(0, 5, 1).astype(np.int64),
            "iou_rt": rng.uniform(0.2, 0.8, 1).astype(np.float32)}


@pytest.fixture(scope="module")
def built(tmp_path_factory, kernel_lib):
    model = _all_ops_model()
    out = tmp_path_factory.mktemp("bounded") / "m"
    convert(model, out, artifacts=("lib", "exe", "app"), max_dims={"nz": 8})
    return model, out


def test_every_op_matches_onnxruntime_in_the_actual_shape(built):
    model, out = built
    lib = ModelLibrary(out)
    rng = np.random.default_rng(1)
    sizes = set()
    for trial in range(6):
        feeds = _feeds(rng, k=trial % 8)
        feeds["x"].reshape(-1)[:5] = 0  # at most 7 non-zero: within the stated maximum 8
        ref = _ort(model, feeds)
        ours = lib.run([feeds[n] for n, _, _ in lib.inputs])
        for (name, _, _), o, r in zip(lib.outputs, ours, ref):
            assert o.shape == r.shape, (trial, name)
            np.testing.assert_array_equal(o, r, err_msg=f"trial {trial}, output {name}")
        sizes.add((ours[0].shape[1], ours[1].shape[0], ours[3].shape[0], ours[4].shape[0]))
    assert len(sizes) > 1  # the actual extents vary from run to run


def test_model_json_marks_the_bounded_dimensions(built):
    _, out = built
    desc = json.loads((out / "model.json").read_text())
    bounds = {t["name"]: t.get("bound") for t in desc["outputs"]}
    assert bounds["nz"] == {"dim": 1, "max": 8, "stated": True}  # 12 elements, stated 8
    assert bounds["sel"] == {"dim": 0, "max": 2 * 2 * 3, "stated": False}  # batches * classes * max_out
    assert bounds["sel_rt"] == {"dim": 0, "max": 2 * 2 * 6, "stated": False}  # max_out at run time: every box
    assert bounds["my"] == {"dim": 1, "max": 5, "stated": False}
    assert bounds["uinv"] is None  # Unique's inverse indices have a static shape
    assert bounds["tv"] == {"dim": 1, "max": 7, "stated": False}


def test_over_the_stated_maximum_is_one_line_from_library_and_executable(built, tmp_path):
    _, out = built
    lib = ModelLibrary(out)
    feeds = _feeds(np.random.default_rng(2))
    feeds["x"] = np.ones((3, 4), np.float32)  # 12 non-zero, stated maximum 8
    with pytest.raises(O2CError) as e:
        lib.run([feeds[n] for n, _, _ in lib.inputs])
    msg = str(e.value)
    assert "\n" not in msg and "output 'nz': 12 along dimension 1, more than its stated maximum 8" in msg
    feeds["x"][0, :] = 0  # 8: at the maximum is fine
    assert lib.run([feeds[n] for n, _, _ in lib.inputs])[0].shape == (2, 8)
    # a run-time K over the axis length
    feeds["k"] = np.array([9], np.int64)
    with pytest.raises(O2CError, match=r"output 'tv': 9 along dimension 1, outside 0\.\.7"):
        lib.run([feeds[n] for n, _, _ in lib.inputs])

    exe = out / json.loads((out / "model.json").read_text())["artifacts"]["exe"]
    paths = []
    feeds["k"] = np.array([2], np.int64)
    for n, _, _ in lib.inputs:
        paths.append(str(tmp_path / f"{n}.npy"))
        np.save(paths[-1], feeds[n])
    r = subprocess.run([str(exe), *paths, "-o", str(tmp_path / "ok")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = lib.run([feeds[n] for n, _, _ in lib.inputs])
    for k, g in enumerate(got):  # the executable writes each output in its actual shape
        a = np.load(tmp_path / "ok" / f"output_{k}.npy")
        assert a.shape == g.shape
        np.testing.assert_array_equal(a, g)
    np.save(paths[0], np.ones((3, 4), np.float32))
    r = subprocess.run([str(exe), *paths, "-o", str(tmp_path / "over")], capture_output=True, text=True)
    assert r.returncode == 3
    assert r.stderr.strip().count("\n") == 0 and "more than its stated maximum 8" in r.stderr


def test_app_writes_outputs_in_their_actual_shape(built, tmp_path):
    """The CEDR app entry (main), called the way the runtime calls it, writes .npy files in the actual shapes."""
    import os
    import sys

    _, out = built
    desc = json.loads((out / "model.json").read_text())
    app_inputs = tmp_path / "in"
    app_inputs.mkdir()
    lib = ModelLibrary(out)
    feeds = _feeds(np.random.default_rng(3))
    feeds["x"].reshape(-1)[:6] = 0
    for k, (n, _, _) in enumerate(lib.inputs):
        np.save(app_inputs / f"input_{k}.npy", feeds[n])
    code = ("import ctypes, sys\n"
            "app = ctypes.CDLL(sys.argv[1])\n"
            "argv = (ctypes.c_char_p * 2)(b'cedr_app', None)\n"
            "sys.exit(app.main(1, argv, None))\n")
    env = dict(os.environ, O2C_APP_INPUTS=str(app_inputs), O2C_APP_OUTPUTS=str(tmp_path / "outs"),
               O2C_APP_INSTANCE="0")
    r = subprocess.run([sys.executable, "-c", code, str(out / desc["artifacts"]["app"])], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0 and "undefined symbol" in r.stderr:
        pytest.skip("the app needs the CEDR runtime's symbols: " + r.stderr.strip().splitlines()[-1])
    assert r.returncode == 0, r.stderr
    got = lib.run([feeds[n] for n, _, _ in lib.inputs])
    for k, g in enumerate(got):
        a = np.load(tmp_path / "outs" / "instance_0" / f"output_{k}.npy")
        assert a.shape == g.shape
        np.testing.assert_array_equal(a, g)


def test_detection_model_validates_against_onnxruntime(tmp_path, kernel_lib):
    """boxes + scores -> a small score head (MatMul + Sigmoid) -> NMS -> graph output, through validate."""
    rng = np.random.default_rng(4)
    w = rng.standard_normal((8, 3)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["feat", "w"], ["logits"]),
             helper.make_node("Sigmoid", ["logits"], ["prob"]),
             helper.make_node("Transpose", ["prob"], ["scores"], perm=[0, 2, 1]),
             helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "thr"], ["selected"])]
    model = _model(nodes, [_vi("boxes", F, [1, 20, 4]), _vi("feat", F, [1, 20, 8])], [_vi("selected", I64, None)],
                   [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([4], np.int64), "max_out"),
                    numpy_helper.from_array(np.array([0.3], np.float32), "iou"),
                    numpy_helper.from_array(np.array([0.4], np.float32), "thr")])
    rep = validate(model, samples=5, out_dir=tmp_path / "det")
    assert rep.passed, rep.as_dict()
    desc = json.loads((tmp_path / "det" / "model.json").read_text())
    assert desc["outputs"][0]["bound"] == {"dim": 0, "max": 12, "stated": False}


def test_consumer_of_a_bounded_value_is_refused_in_one_line():
    m = _model([helper.make_node("NonZero", ["x"], ["nz"]), helper.make_node("Add", ["nz", "nz"], ["t"])],
               [_vi("x", F, [3, 4])], [_vi("t", I64, None)])
    with pytest.raises(UnsupportedError) as e:
        compile_model(m)
    assert "\n" not in str(e.value)
    assert "reads 'nz', whose dimension 1 is known only at run time (at most 12)" in str(e.value)


def test_nonzero_transposed_and_cast_as_torch_exports_it(tmp_path, kernel_lib):
    """torch.nonzero's export: NonZero -> Transpose; then a Cast: both carry the run-time dimension."""
    m = _model([helper.make_node("NonZero", ["x"], ["nz"]), helper.make_node("Transpose", ["nz"], ["t"], perm=[1, 0]),
                helper.make_node("Cast", ["t"], ["ti"], to=TensorProto.INT32)],
               [_vi("x", F, [2, 3, 4])], [_vi("ti", TensorProto.INT32, None)])
    convert(m, tmp_path / "nzt", artifacts=("lib",), max_dims={"nz": 20})
    lib = ModelLibrary(tmp_path / "nzt")
    assert lib.bounded == {"ti": 0}
    rng = np.random.default_rng(5)
    for zeros in (24, 10, 4):
        x = rng.standard_normal((2, 3, 4)).astype(np.float32)
        x.reshape(-1)[rng.permutation(24)[:zeros]] = 0
        (got,) = lib.run([x])
        (ref,) = _ort(m, {"x": x})
        assert got.shape == ref.shape == (24 - zeros, 3)
        np.testing.assert_array_equal(got, ref)
    with pytest.raises(O2CError, match="output 'nz': 24 along dimension 1, more than its stated maximum 20"):
        lib.run([np.ones((2, 3, 4), np.float32)])
    with pytest.raises(O2CError, match="'ti', which takes its maximum from 'nz': state it there"):
        compile_model(m, max_dims={"ti": 5})


def test_constant_nonzero_still_folds():
    m = _model([helper.make_node("NonZero", ["c"], ["nz"]), helper.make_node("Add", ["nz", "nz"], ["y"])],
               [], [_vi("y", I64, None)], [numpy_helper.from_array(np.array([[0, 1], [2, 0]], np.float32), "c")])
    c = compile_model(m)
    assert c.graph.values["y"].data is not None and c.graph.values["y"].shape == (2, 2)


def test_bad_max_dim_is_one_line(tmp_path, kernel_lib):
    from typer.testing import CliRunner

    from onnx2cedr.cli import app

    m = _model([helper.make_node("NonZero", ["x"], ["nz"])], [_vi("x", F, [3, 4])], [_vi("nz", I64, None)])
    path = tmp_path / "nz.onnx"
    onnx.save(m, str(path))
    for spec, msg in (("nz", "expected NAME=N"), ("nz=-1", "expected NAME=N"), ("x=3", "'x', which is not a value")):
        r = CliRunner().invoke(app, ["convert", str(path), "-o", str(tmp_path / "o"), "--max-dim", spec])
        assert r.exit_code == 2, r.output
        assert msg in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()
    r = CliRunner().invoke(app, ["validate", str(path), "--samples", "2", "--max-dim", "nz=12", "-o", str(tmp_path / "v")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "v" / "model.json").read_text())["outputs"][0]["bound"]["stated"] is False  # 12: all


def test_app_under_the_runtime_writes_actual_shapes_and_fails_over_the_bound(tmp_path, kernel_lib):
    """The CEDR app under our runtime: each instance writes NonZero's result in its actual shape; with
    inputs over the stated maximum every instance fails (the run reports them) and writes nothing."""
    from onnx2cedr import run as R
    from onnx2cedr.runtime_build import RuntimeBuild

    m = _model([helper.make_node("NonZero", ["x"], ["nz"])], [_vi("x", F, [3, 4])], [_vi("nz", I64, None)])
    x = np.zeros((3, 4), np.float32)
    x[0, 1], x[2, 0], x[2, 3] = 1, -2, 3
    out = tmp_path / "nzapp"
    convert(m, out, artifacts=("app",), app_inputs=[x], max_dims={"nz": 8})
    app = out / json.loads((out / "model.json").read_text())["artifacts"]["app"]
    rb = RuntimeBuild().ensure()
    config = ROOT / "runtime" / "configs" / "cpu_only.json"
    res = R.run(config, tmp_path / "L1", [R.AppSpec(app, 2, 0)], rb=rb)
    assert res.returncode == 0 and res.summary["failed_instances"] == 0
    (ref,) = _ort(m, {"x": x})
    for k in range(2):
        got = np.load(out / "app_outputs" / f"instance_{k}" / "output_0.npy")
        assert got.shape == (2, 3)
        np.testing.assert_array_equal(got, ref)
    np.save(out / "app_inputs" / "input_0.npy", np.ones((3, 4), np.float32))  # 12 non-zero, stated 8
    shutil.rmtree(out / "app_outputs")
    res = R.run(config, tmp_path / "L2", [R.AppSpec(app, 2, 0)], rb=rb)
    assert res.returncode == 1 and res.summary["failed_instances"] == 2
    assert not any((out / "app_outputs").glob("*/output_0.npy"))
    logs = sorted((tmp_path / "L2" / "app_output").glob("*.log"))
    assert len(logs) == 2
    for log in logs:  # each instance's one line, in its log
        assert "output 'nz': 12 along dimension 1, more than its stated maximum 8" in log.read_text()
