"""CLI options no other test invokes, each through the CLI (typer's CliRunner, in-process) and each
checked by its effect: convert --name, --disable-pass, --portable; validate --rtol, --atol, --json;
import tf; the standalone executable's --repeat. (run's options and gantt's formats: tests/runtime/
test_cli_run_options.py.)"""
from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from onnx2cedr import build
from onnx2cedr.runner import ModelLibrary
from tests.oncheck import cli, make_model, one_line_error, rand

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"


# ------------------------------------------------------------------ convert --name, exe --repeat


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """LeNet converted with --name digits_net (all three artifacts)."""
    out = tmp_path_factory.mktemp("named") / "out"
    r = cli("convert", LENET, "-o", out, "--name", "digits_net")
    assert r.exit_code == 0, r.output
    return out


def test_convert_name_names_the_artifacts(named):
    files = sorted(p.name for p in named.iterdir() if p.is_file())
    assert {"libdigits_net.so", "digits_net", "digits_net-app.so", "digits_net.weights"} <= set(files)
    assert not [f for f in files if "lenet5" in f], files  # nothing named after the file's stem
    desc = json.loads((named / "model.json").read_text())
    assert desc["name"] == "digits_net" and desc["symbol"] == "digits_net"
    assert desc["artifacts"] == {"lib": "libdigits_net.so", "exe": "digits_net", "app": "digits_net-app.so"}
    assert desc["weights_file"] == "digits_net.weights"
    # the library's entry points carry the name: ModelLibrary looks up digits_net_run
    x = np.load(ROOT / "models" / "demo" / "digits_test.npz")["x"][:1].astype(np.float32)
    assert ModelLibrary(named).run([x])[0].shape == (1, 10)


def test_executable_repeat_times_n_runs(named, tmp_path):
    x = np.load(ROOT / "models" / "demo" / "digits_test.npz")["x"][:1].astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    exe = str(named / "digits_net")
    once = subprocess.run([exe, str(tmp_path / "x.npy"), "-o", str(tmp_path / "once")], capture_output=True, text=True)
    assert once.returncode == 0, once.stderr
    assert "per run" not in once.stdout
    rep = subprocess.run([exe, str(tmp_path / "x.npy"), "-o", str(tmp_path / "rep"), "--repeat", "7"],
                         capture_output=True, text=True)
    assert rep.returncode == 0, rep.stderr
    assert re.fullmatch(r"digits_net: \d+\.\d{3} us per run \(7 runs\)\n", rep.stdout), rep.stdout
    # repeating does not change the result
    assert (tmp_path / "rep" / "output_0.npy").read_bytes() == (tmp_path / "once" / "output_0.npy").read_bytes()
    bad = subprocess.run([exe, str(tmp_path / "x.npy"), "-o", str(tmp_path / "bad"), "--repeat", "0"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "--repeat N" in bad.stderr and not (tmp_path / "bad").exists()


# ------------------------------------------------------------------ convert --disable-pass


@pytest.fixture
def conv_bn(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"], name="bn"),
             helper.make_node("Relu", ["n"], ["y"], name="relu")]
    inits = {"w": rand(4, 2, 3, 3, seed=1), "s": rand(4, seed=2), "b": rand(4, seed=3), "m": rand(4, seed=4),
             "v": rand(4, seed=5, low=0.5, high=2.0)}
    p = tmp_path / "conv_bn.onnx"
    onnx.save(make_model(nodes, {"x": rand(1, 2, 6, 6)}, ["y"], inits), str(p))
    return p


def test_disable_pass_keeps_its_pattern(conv_bn, tmp_path):
    def convert(out, *extra):
        r = cli("convert", conv_bn, "-o", out, "--artifact", "lib", *extra)
        assert r.exit_code == 0, r.output
        d = json.loads((out / "model.json").read_text())
        return [x["op"] for x in d["layers"]], {p["pass"]: p["changes"] for p in d["passes"]}

    ops, passes = convert(tmp_path / "default")
    assert "BatchNormalization" not in ops and passes["fold_batchnorm"] >= 1
    ops, passes = convert(tmp_path / "kept", "--disable-pass", "fold_batchnorm")
    assert "BatchNormalization" in ops and "fold_batchnorm" not in passes
    # still computes the model (the BN runs as its own layer)
    r = cli("validate", conv_bn, "--samples", "3", "--disable-pass", "fold_batchnorm")
    assert r.exit_code == 0, r.output


def test_disable_unknown_pass_is_one_line_error(conv_bn, tmp_path):
    r = cli("convert", conv_bn, "-o", tmp_path / "out", "--disable-pass", "fold_everything")
    assert r.exit_code == 2
    line = one_line_error(r)
    assert "unknown pass 'fold_everything'" in line and "fold_batchnorm" in line  # names the real ones
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ convert --portable


def test_portable_builds_without_march_native(tmp_path, monkeypatch):
    """Every compiler command of a --portable build lacks -march=native and the model links the
    kernel build made without it; the same spy sees -march=native in a default build. (A fresh
    --name makes the model's build key new, so its compile is not a cache hit.)"""
    p = tmp_path / "m.onnx"
    onnx.save(make_model([helper.make_node("Conv", ["x", "w"], ["y"])], {"x": rand(1, 2, 5, 5)}, ["y"],
                         {"w": rand(3, 2, 3, 3, seed=1)}), str(p))
    calls: list[list[str]] = []
    real = build._run

    def spy(cmd, what):
        calls.append(list(cmd))
        return real(cmd, what)

    monkeypatch.setattr(build, "_run", spy)

    def convert(*extra) -> tuple[list[str], list[list[str]]]:
        calls.clear()
        name = f"m_{uuid.uuid4().hex[:12]}"
        r = cli("convert", p, "-o", tmp_path / name, "--artifact", "lib", "--name", name, *extra)
        assert r.exit_code == 0, r.output
        (model_cc,) = [c for c in calls if "-c" in c and c[c.index("-c") + 1].endswith("model.cpp")]
        (link,) = [c for c in calls if "-shared" in c]
        return model_cc, calls[:], link

    model_cc, all_calls, link = convert("--portable")
    assert "-O3" in model_cc and "-march=native" not in model_cc
    assert not [c for c in all_calls if "-march=native" in c]
    core = Path(next(a for a in link if a.endswith("libo2c_core.a")))
    assert core.parent.name == build.KernelLib(native=False).key != build.KernelLib(native=True).key

    model_cc, _, link = convert()
    assert "-march=native" in model_cc
    core = Path(next(a for a in link if a.endswith("libo2c_core.a")))
    assert core.parent.name == build.KernelLib(native=True).key


# ------------------------------------------------------------------ validate --json, --rtol, --atol


@pytest.fixture(scope="module")
def lenet_report():
    r = cli("validate", LENET, "--samples", "3", "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_validate_json(lenet_report):
    d = lenet_report
    assert d["passed"] is True and d["samples"] == 3 and (d["rtol"], d["atol"]) == (1e-4, 1e-5)
    (o,) = d["outputs"]
    assert o["shape"] == [1, 10] and o["passed"] is True and o["top1"] == 1.0
    assert {"max_abs_err", "max_rel_err", "max_elem_rel_err", "min_cosine"} <= set(o)
    assert 0 <= o["max_rel_err"] < 1e-4 and o["min_cosine"] > 0.99999


def _validate(*tol):
    return cli("validate", LENET, "--samples", "3", "--json", *tol)


def test_validate_rtol_and_atol_move_the_verdict(lenet_report):
    """Tolerances just above and below the errors this model really has (same samples, same
    build, so the same errors): each option alone flips pass (exit 0) and fail (exit 1)."""
    o = lenet_report["outputs"][0]
    mabs, rel = o["max_abs_err"], max(o["max_rel_err"], o["max_elem_rel_err"])
    assert mabs > 0 and rel > 0, "LeNet matches onnxruntime exactly: these tolerances need another model"
    cases = [("--rtol", 0, "--atol", 10 * mabs, 0), ("--rtol", 0, "--atol", mabs / 10, 1),
             ("--atol", 0, "--rtol", 10 * rel, 0), ("--atol", 0, "--rtol", o["max_rel_err"] / 10, 1)]
    for *tol, want in cases:
        r = _validate(*map(str, tol))
        assert r.exit_code == want, (tol, r.output)
        d = json.loads(r.stdout)
        assert d["passed"] is (want == 0) and d["outputs"][0]["max_abs_err"] == mabs  # same errors, other verdict
        given = dict(zip(tol[::2], tol[1::2]))
        assert (d["rtol"], d["atol"]) == (given["--rtol"], given["--atol"])
        if want:
            assert "validation failed: output" in r.output


# ------------------------------------------------------------------ import tf


def test_import_tf_saved_model(tmp_path):
    """A two-variable tf.function saved as a SavedModel: imported through the CLI with --batch, the
    ONNX file computes tanh(x @ w + b) for the batch asked for."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)

    class Affine(tf.Module):
        def __init__(self):
            super().__init__()
            self.w, self.b = tf.Variable(w), tf.Variable(b)

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.tanh(tf.matmul(x, self.w) + self.b)}

    m = Affine()
    sm = tmp_path / "affine_sm"
    tf.saved_model.save(m, str(sm), signatures=m.__call__)
    out = tmp_path / "affine.onnx"
    r = cli("import", "tf", sm, "-o", out, "--batch", "4", "--samples", "2")
    assert r.exit_code == 0, r.output
    assert "parity: TensorFlow vs onnxruntime" in r.output and "wrote" in r.output
    proto = onnx.load(str(out))
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [4, 6] and [o.name for o in proto.graph.output] == ["y"]
    import onnxruntime as ort

    x = rng.standard_normal((4, 6)).astype(np.float32)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {sess.get_inputs()[0].name: x})[0], np.tanh(x @ w + b),
                               rtol=1e-5, atol=1e-6)
    r = cli("import", "tf", sm, "-o", tmp_path / "other.onnx", "--signature", "predict")
    assert r.exit_code == 2 and "has no signature 'predict'" in one_line_error(r)
