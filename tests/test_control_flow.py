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
    assert "If 'choose_rate': its condition depends on graph input 'sr'; bind it with --const sr=VALUE" in line


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
