"""onnx2cedr profile / ModelLibrary.profile: per-layer times of a converted model."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import helper
from typer.testing import CliRunner

from onnx2cedr import convert
from onnx2cedr.cli import app
from onnx2cedr.errors import O2CError
from onnx2cedr.runner import ModelLibrary
from tests.oncheck import make_model


def _model(path):
    """conv -> conv -> residual add -> pool, big enough for the threads to split"""
    rng = np.random.default_rng(3)
    inits = {"w1": rng.standard_normal((16, 8, 3, 3)), "w2": rng.standard_normal((16, 16, 3, 3)) * 0.2,
             "b": rng.standard_normal(16)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["c1", "w2", "b"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c1", "c2"], ["s"]),
             helper.make_node("MaxPool", ["s"], ["y"], kernel_shape=[2, 2], strides=[2, 2])]
    onnx.save(make_model(nodes, {"x": np.zeros((1, 8, 40, 40), np.float32)}, ["y"],
                         {k: v.astype(np.float32) for k, v in inits.items()}, opset=17), str(path))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("prof")
    out = d / "out"
    convert(_model(d / "m.onnx"), out, artifacts=("lib",), threads=2)
    return out


def test_profile_api(built):
    lib = ModelLibrary(built)
    layers = json.loads((built / "model.json").read_text())["layers"]
    assert lib.num_layers == len(layers) > 3
    x = np.random.default_rng(0).standard_normal((1, 8, 40, 40)).astype(np.float32)
    totals, per = lib.profile([x], runs=7)
    assert totals.shape == (7,) and per.shape == (7, len(layers))
    # the layers' times add up to the run's time, run by run (stamps are taken between layers)
    assert np.array_equal(per.sum(axis=1), totals)
    assert (per >= 0).all() and (totals > 0).all()
    convs = [k for k, layer in enumerate(layers) if layer["op"] == "Conv"]
    assert all(np.median(per[:, k]) > 0 for k in convs)
    # profiling does not change the outputs
    assert np.array_equal(lib.run([x])[0], ModelLibrary(built).run([x])[0])
    with pytest.raises(O2CError, match="runs must be at least 1"):
        lib.profile([x], runs=0)
    with pytest.raises(O2CError, match="shape"):
        lib.profile([x[:, :4]], runs=1)


def test_profile_cli(built):
    r = CliRunner().invoke(app, ["profile", str(built), "--runs", "5", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["threads"] == 2 and d["runs"] == 5 and d["median_total_ns"] > 0
    assert [x["op"] for x in d["layers"]][:2] == ["Conv", "Conv"]
    assert all(x["timed_with"] is None for x in d["layers"])  # a chain: no layers issued together
    r = CliRunner().invoke(app, ["profile", str(built), "--runs", "5", "--top", "2"])
    assert r.exit_code == 0 and "whole run: median" in r.output and "GFLOP/s" in r.output


def test_profile_cli_bad_folder(tmp_path):
    r = CliRunner().invoke(app, ["profile", str(tmp_path)])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "not an onnx2cedr output folder" in lines[0]


def test_profile_wave_layers(tmp_path):
    """Two independent convolutions of one input are issued as one wave: the second is timed with the first."""
    rng = np.random.default_rng(4)
    inits = {"wa": rng.standard_normal((8, 4, 3, 3)), "wb": rng.standard_normal((8, 4, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "wa"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["x", "wb"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["y"])]
    onnx.save(make_model(nodes, {"x": np.zeros((1, 4, 16, 16), np.float32)}, ["y"],
                         {k: v.astype(np.float32) for k, v in inits.items()}, opset=17), str(tmp_path / "w.onnx"))
    convert(tmp_path / "w.onnx", tmp_path / "out", artifacts=("lib",))
    r = CliRunner().invoke(app, ["profile", str(tmp_path / "out"), "--runs", "3", "--json"])
    assert r.exit_code == 0, r.output
    layers = json.loads(r.output)["layers"]
    assert [x["op"] for x in layers] == ["Conv", "Conv", "Add"]
    assert layers[0]["timed_with"] is None and layers[1]["timed_with"] == 0 and layers[1]["median_ns"] == 0
    r = CliRunner().invoke(app, ["profile", str(tmp_path / "out"), "--runs", "3"])
    assert "with #0" in r.output
