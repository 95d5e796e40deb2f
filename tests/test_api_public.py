"""The public-API target (convert --api public): apps that call only the public CEDR APIs.

LeNet-5 and a small VGG-style net (with a residual Add, so DASH_ZIP has work) are converted for
the public and the extended API sets: the public app's undefined DASH_* symbols are all public
ones, its outputs match onnxruntime and the extended build, it runs on our runtime with its
GEMM/ZIP calls scheduled as tasks and outputs equal to the standalone executable's; inspect shows
each layer's decision and its reason; single-node models cover the lowerings' corners."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

import onnx2cedr
from onnx2cedr.errors import BuildError
from onnx2cedr.targets import TARGETS, check_app_symbols, undefined_symbols
from tests.oncheck import make_model, run_ort, run_ours
from tests.public_cedr import public_cedr_or_skip, public_daemon, submit_and_wait

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
CLI = [sys.executable, "-m", "onnx2cedr"]

# The public release's APIs (cedr-api.md, libdash/dash.h of master Dec 2023), written out here
# independently of onnx2cedr.targets so that a wrong list there fails this test.
PUBLIC = {f"DASH_{k}" for k in ("FFT_flt", "FFT_int", "GEMM_flt", "GEMM_int", "ZIP_flt", "ZIP_int", "CONV_2D_int",
                                "CONV_1D_flt", "BPSK_flt", "QAM16_flt", "BLAS_MADD_flt", "BLAS_MADD_int",
                                "BLAS_MSUB_flt", "BLAS_MSUB_int", "BLAS_TRANSPOSE_flt", "BLAS_TRANSPOSE_int")}
PUBLIC |= {s + "_nb" for s in PUBLIC}


def vgg_model() -> onnx.ModelProto:
    """conv-relu, conv-relu, residual Add (2048 elements), maxpool, conv-relu, maxpool, two dense
    layers (the last too small to pay for a public call), softmax."""
    rng = np.random.default_rng(7)

    def w(*shape):
        return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)

    inits = {"w1": w(8, 3, 3, 3), "b1": w(8) * 0.1, "w2": w(8, 8, 3, 3), "b2": w(8) * 0.1, "w3": w(16, 8, 3, 3),
             "b3": w(16) * 0.1, "f1": w(32, 256), "g1": w(32) * 0.1, "f2": w(10, 32), "g2": w(10) * 0.1,
             "shape": np.array([1, 256], dtype=np.int64)}
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    pool = {"kernel_shape": [2, 2], "strides": [2, 2]}
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", **conv),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", **conv),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Add", ["r1", "r2"], ["s"], name="residual"),
        helper.make_node("MaxPool", ["s"], ["p1"], name="pool1", **pool),
        helper.make_node("Conv", ["p1", "w3", "b3"], ["c3"], name="conv3", **conv),
        helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
        helper.make_node("MaxPool", ["r3"], ["p2"], name="pool2", **pool),
        helper.make_node("Reshape", ["p2", "shape"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "f1", "g1"], ["d1"], name="fc1", transB=1),
        helper.make_node("Relu", ["d1"], ["h1"], name="relu4"),
        helper.make_node("Gemm", ["h1", "f2", "g2"], ["d2"], name="fc2", transB=1),
        helper.make_node("Softmax", ["d2"], ["y"], name="softmax", axis=1),
    ]
    return make_model(nodes, {"x": np.zeros((1, 3, 16, 16), np.float32)}, ["y"], inits)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each model converted for both API sets; the standalone executables' outputs on the app inputs."""
    base = tmp_path_factory.mktemp("api_public")
    vgg = base / "vgg_small.onnx"
    onnx.save(vgg_model(), vgg)
    out = {}
    builds = [(name, src, api) for name, src in (("lenet", LENET), ("vgg", vgg)) for api in ("public", "extended")]
    for name, src, api in builds + [("lenet", LENET, "int16")]:
        kw = {"api": "public", "conv": "int16"} if api == "int16" else {"api": api}
        res = onnx2cedr.convert(src, base / f"{name}_{api}", **kw)
        ins = sorted((res.out_dir / "app_inputs").glob("input_*.npy"))
        ref = base / f"{name}_{api}_exe"
        subprocess.run([str(res.artifacts["exe"]), *map(str, ins), "-o", str(ref)], check=True, capture_output=True)
        out[(name, api)] = {"res": res, "src": src, "inputs": ins, "exe_out": sorted(ref.glob("output_*.npy"))}
    return out


@pytest.mark.parametrize("name,build", [("lenet", "public"), ("vgg", "public"), ("lenet", "int16")])
def test_app_needs_only_public_symbols(built, name, build, tmp_path):
    res = built[(name, build)]["res"]
    app = res.artifacts["app"]
    dash = {s for s in undefined_symbols(app) if s.startswith("DASH_")}
    assert dash and dash <= PUBLIC, dash - PUBLIC
    assert "DASH_GEMM_flt" in dash
    if name == "vgg" or build == "int16":
        assert "DASH_ZIP_flt" in dash
    assert ("DASH_CONV_2D_int" in dash) == (build == "int16")
    # all required, none with a fallback: a public app carries none (an ML call would stay undefined)
    assert res.model_json["app_dash_symbols"] == {"required": sorted(dash), "scheduled_if_available": []}
    if shutil.which("nm"):  # our ELF reader agrees with binutils
        r = subprocess.run(["nm", "-D", "--undefined-only", str(app)], capture_output=True, text=True, check=True)
        assert {ln.split()[-1] for ln in r.stdout.splitlines() if "DASH_" in ln} == dash
    # the extended app of the same model carries fallbacks for our ML APIs instead of needing them
    # (tests/test_app_fallback.py); a public-target check of an app that needs them names them in one line
    ext = built[(name, "extended")]["res"]
    assert ext.model_json["app_dash_symbols"]["required"] == []
    assert "DASH_CONV_flt" in ext.model_json["app_dash_symbols"]["scheduled_if_available"]
    ml = tmp_path / "needs_ml.so"
    r = subprocess.run(["g++", "-shared", "-fPIC", "-x", "c", "-", "-o", str(ml)], capture_output=True, text=True,
                       input="void DASH_CONV_flt(void); void f(void) { DASH_CONV_flt(); }\n")
    assert r.returncode == 0, r.stderr
    with pytest.raises(BuildError) as e:
        check_app_symbols(ml, TARGETS["public"])
    assert "DASH_CONV_flt" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["lenet", "vgg"])
def test_outputs_match_onnxruntime_and_extended(built, name):
    pub, ext = built[(name, "public")], built[(name, "extended")]
    # the library against onnxruntime, on random inputs
    rep = onnx2cedr.validate(pub["src"], samples=20, api="public")
    assert rep.passed, [(o.name, o.max_abs_err, o.max_rel_err) for o in rep.outputs]
    # the standalone executables of both builds, on the same app inputs
    for a, b in zip(pub["exe_out"], ext["exe_out"]):
        x, y = np.load(a), np.load(b)
        scale = max(float(np.abs(y).max()), 1.0)
        assert np.abs(x - y).max() <= 1e-5 * scale, (a.name, np.abs(x - y).max())
    # and against onnxruntime on those inputs
    feeds = {i.name: np.load(p) for i, p in zip(onnx.load(pub["src"]).graph.input, pub["inputs"])}
    ref = run_ort(onnx.load(pub["src"]), feeds)
    for a, r in zip(pub["exe_out"], ref):
        assert np.abs(np.load(a) - r).max() <= 1e-5 * max(float(np.abs(r).max()), 1.0)


@pytest.mark.parametrize("name,build", [("lenet", "public"), ("vgg", "public"), ("lenet", "int16")])
def test_runs_on_our_runtime_with_gemm_and_zip_tasks(built, name, build, tmp_path):
    pub = built[(name, build)]
    res = pub["res"]
    shutil.rmtree(res.out_dir / "app_outputs", ignore_errors=True)
    log = tmp_path / "logs"
    r = subprocess.run(CLI + ["run", "-c", str(ROOT / "runtime" / "configs" / "soc_demo.json"), "--log-dir", str(log),
                              f"{res.out_dir}:3:0"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    s = json.loads((log / "summary.json").read_text())
    assert s["instances"] == 3 and s["failed_instances"] == 0
    for k in range(3):
        for ref in pub["exe_out"]:
            got = res.out_dir / "app_outputs" / f"instance_{k}" / ref.name
            assert got.read_bytes() == ref.read_bytes(), f"{got} differs from the standalone executable's output"
    tasks = Counter(re.search(r"task_name: (\w+)", ln).group(1)
                    for ln in (log / "timing_trace.log").read_text().splitlines())
    code = (res.out_dir / "model.cpp").read_text()
    calls = Counter(m for m in re.findall(r"\b(DASH_[A-Z_0-9]+)_(?:flt|int)\(", code))
    assert set(tasks) == set(calls), (tasks, calls)
    for api, n in calls.items():
        assert tasks[api] == 3 * n, (api, tasks, calls)
    if build == "int16":  # 1x6 and 6x16 channel pairs; (6-1)x16 accumulations; the two large dense layers
        assert (calls["DASH_CONV_2D"], calls["DASH_ZIP"], calls["DASH_GEMM"]) == (102, 80, 2)
        return
    assert calls["DASH_GEMM"] == 4  # lenet: 2 convolutions, 2 of 3 dense layers; vgg: 3 convolutions, fc1
    assert calls["DASH_ZIP"] == (1 if name == "vgg" else 0)


def test_inspect_shows_decisions_and_reasons():
    d = onnx2cedr.inspect(LENET, api="public")
    assert d["api"] == "public"
    by_op = {}
    for layer in d["layers"]:
        by_op.setdefault(layer["op"], []).append(layer)
        if layer["placement"] != "view":
            assert layer["reason"].startswith("public target: "), layer
        assert layer["placement"] in ("DASH_GEMM", "cpu", "view"), layer
    assert [x["placement"] for x in by_op["Conv"]] == ["DASH_GEMM", "DASH_GEMM"]
    assert all("im2col" in x["reason"] and ">= 4096" in x["reason"] for x in by_op["Conv"])
    assert [x["placement"] for x in by_op["Gemm"]] == ["DASH_GEMM", "DASH_GEMM", "cpu"]
    assert "840 MACs < 4096" in by_op["Gemm"][2]["reason"]
    assert all(x["placement"] == "cpu" and "DASH_POOL_flt not in its API set" in x["reason"]
               for x in by_op["AveragePool"])
    assert d["apis"] == ["DASH_GEMM_flt"]
    # the CLI table shows the same
    r = subprocess.run(CLI + ["inspect", str(LENET), "--api", "public"], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "400"})
    assert r.returncode == 0, r.stderr
    assert "public API set" in r.stdout and r.stdout.count("public target: DASH_GEMM_flt") == 4
    # the default stays the extended set
    assert onnx2cedr.inspect(LENET)["layers"][0]["placement"] == "DASH_CONV"


@pytest.mark.parametrize("cmd", ["convert", "inspect"])
def test_bad_api_is_one_line_exit_2(tmp_path, cmd):
    args = CLI + [cmd, str(LENET), "--api", "bogus"] + (["-o", str(tmp_path / "o")] if cmd == "convert" else [])
    r = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"})
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--api must be one of extended, public" in lines[0] and "bogus" in lines[0]
    assert not (tmp_path / "o").exists()


def _placements(model, **kw):
    return {x["name"]: x["placement"] for x in onnx2cedr.inspect(model, api="public", **kw)["layers"]}


@pytest.mark.parametrize("op,shape", [("Add", (1, 3, 11, 11)), ("Sub", (2, 300)), ("Add", (3, 5))])
def test_zip_add_sub(op, shape):
    """Equal shapes of at least 256 elements go to DASH_ZIP_flt (an odd count's last element inline);
    smaller ones stay inline; results equal onnxruntime's exactly."""
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    m = make_model([helper.make_node(op, ["a", "b"], ["y"], name="n")], {"a": a, "b": b}, ["y"])
    assert _placements(m)["n"] == ("DASH_ZIP" if a.size >= 256 else "cpu")
    np.testing.assert_array_equal(run_ours(m, {"a": a, "b": b}, api="public")[0], run_ort(m, {"a": a, "b": b})[0])


def test_gemm_corners_and_conv_stride_pad_dilation():
    """Gemm with transA, a non-constant B, alpha/beta and a full bias; MatMul; a strided, padded,
    dilated convolution with batch 2: all on DASH_GEMM_flt, all close to onnxruntime."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((64, 16)).astype(np.float32)  # transA: op(A) is 16 x 64
    b = rng.standard_normal((64, 48)).astype(np.float32)
    c = rng.standard_normal((16, 48)).astype(np.float32)
    m = make_model([helper.make_node("Gemm", ["a", "b", "c"], ["y"], name="g", transA=1, alpha=0.5, beta=2.0)],
                   {"a": a, "b": b}, ["y"], {"c": c})
    assert _placements(m)["g"] == "DASH_GEMM"
    feeds = {"a": a, "b": b}
    np.testing.assert_allclose(run_ours(m, feeds, api="public")[0], run_ort(m, feeds)[0], rtol=1e-4, atol=1e-4)

    x = rng.standard_normal((32, 64)).astype(np.float32)
    w = rng.standard_normal((64, 40)).astype(np.float32)
    m = make_model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], {"x": x}, ["y"], {"w": w})
    assert _placements(m)["mm"] == "DASH_GEMM"
    np.testing.assert_allclose(run_ours(m, {"x": x}, api="public")[0], run_ort(m, {"x": x})[0], rtol=1e-4, atol=1e-4)

    x = rng.standard_normal((2, 4, 13, 11)).astype(np.float32)
    w = rng.standard_normal((12, 4, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(12).astype(np.float32)
    m = make_model([helper.make_node("Conv", ["x", "w", "bias"], ["y"], name="cv", strides=[2, 1], pads=[1, 2, 0, 1],
                                     dilations=[1, 2])], {"x": x}, ["y"], {"w": w, "bias": bias})
    assert _placements(m)["cv"] == "DASH_GEMM"
    np.testing.assert_allclose(run_ours(m, {"x": x}, api="public")[0], run_ort(m, {"x": x})[0], rtol=1e-4, atol=1e-4)



@pytest.mark.parametrize("name,build", [("lenet", "public"), ("vgg", "public"), ("lenet", "int16")])
def test_under_the_public_daemon(built, name, build, tmp_path):
    """The public daemon loads the app (no undefined symbol), schedules its public calls and the
    instances' outputs match the standalone executable's (its CPU GEMM sums in its own order)."""
    public = public_cedr_or_skip()
    pub = built[(name, build)]
    res = pub["res"]
    shutil.rmtree(res.out_dir / "app_outputs", ignore_errors=True)
    cfg = {"Worker Threads": {"cpu": 2, "fft": 0, "gemm": 0, "gpu": 0},
           "Features": {"Cache Schedules": False, "Enable Queueing": True, "Use PAPI": False,
                        "Loosen Thread Permissions": True, "Fixed Periodic Injection": True, "Exit When Idle": True},
           "PAPI Counters": ["perf::INSTRUCTIONS"], "DASH API Costs": {"DASH_GEMM_cpu": 400, "DASH_ZIP_cpu": 100},
           "Scheduler": "SIMPLE", "Random Seed": 0, "DASH Binary Paths": ["./libdash-rt/libdash-rt.so"]}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    outs = [res.out_dir / "app_outputs" / f"instance_{k}" / "output_0.npy" for k in range(2)]
    # the shared helper: the flock that serializes public daemons, start, stop, IPC clean-up
    with public_daemon(public, tmp_path, tmp_path / "config.json") as daemon:
        submit_and_wait(public, daemon, [(res.artifacts["app"], 2)])
        assert daemon.returncode == 0
    log = (tmp_path / "daemon.out").read_text()
    assert "symbol lookup error" not in log, log[-2000:]
    # its int16 convolution rounds its own way: the int16 build is held to that scheme's tolerance
    tol = 1e-3 if build == "int16" else 1e-5
    for ref, got in zip(pub["exe_out"], outs):
        x, y = np.load(got), np.load(ref)
        assert np.abs(x - y).max() <= tol * max(float(np.abs(y).max()), 1.0)
    trace = next(tmp_path.glob("log_dir/experiment*/timing_trace.log")).read_text()
    tasks = Counter(re.findall(r"task_name: (\w+)", trace))
    calls = Counter(re.findall(r"\b(DASH_[A-Z_0-9]+)_(?:flt|int)\(", (res.out_dir / "model.cpp").read_text()))
    assert tasks == Counter({api: 2 * n for api, n in calls.items()}), (tasks, calls)


def test_int16_scheme_accuracy_cost_and_fallback(built):
    """--conv int16: LeNet's convolutions become DASH_CONV_2D_int calls; the outputs keep onnxruntime's
    top-1 on random inputs but with a larger, bounded error than the GEMM scheme (which validate
    reports); a convolution the scheme cannot express falls back to DASH_GEMM_flt, saying why."""
    d = onnx2cedr.inspect(LENET, api="public", conv="int16")
    assert d["conv"] == "int16"
    convs = [x for x in d["layers"] if x["op"] == "Conv"]
    assert [x["placement"] for x in convs] == ["DASH_CONV_2D", "DASH_CONV_2D"]
    assert "96 DASH_CONV_2D_int calls per image (6x16 channel pairs" in convs[1]["reason"]
    i16 = onnx2cedr.validate(LENET, samples=100, api="public", conv="int16", rtol=1e-2, atol=1e-3)
    flt = onnx2cedr.validate(LENET, samples=100, api="public")
    (o16,), (of,) = i16.outputs, flt.outputs
    assert i16.passed and o16.top1 == 1.0
    assert 10 * of.max_rel_err < o16.max_rel_err < 1e-3, (o16.max_rel_err, of.max_rel_err)
    assert any(n.startswith("--conv int16: 2 convolution(s) compute on int16 planes") for n in i16.notes), i16.notes
    assert not any("int16" in n for n in flt.notes)

    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 4, 12, 12)).astype(np.float32)
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="plain", pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Conv", ["x", "w"], ["b"], name="dilated", dilations=[2, 2])]
    m = make_model(nodes, {"x": x}, ["a", "b"], {"w": w})
    layers = {ly["name"]: ly for ly in onnx2cedr.inspect(m, api="public", conv="int16")["layers"]}
    assert layers["plain"]["placement"] == "DASH_CONV_2D"
    assert layers["dilated"]["placement"] == "DASH_GEMM"
    assert layers["dilated"]["reason"].startswith("int16 scheme not applicable (dilation)")
    ours, ref = run_ours(m, {"x": x}, api="public", conv="int16"), run_ort(m, {"x": x})
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o, r, atol=2e-3 * float(np.abs(r).max()))


@pytest.mark.parametrize("args,needle", [(["--api", "public", "--conv", "int8"], "--conv must be one of gemm, int16"),
                                         (["--conv", "int16"], "applies to the public API set only")])
def test_bad_conv_is_one_line_exit_2(args, needle):
    r = subprocess.run(CLI + ["inspect", str(LENET)] + args, capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "300"})
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
