"""--threads: the generated code splits large kernels over threads with bit-identical results;
bad counts are one-line errors; the memory report stays within its liveness bound."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper
from typer.testing import CliRunner

from onnx2cedr import convert, inspect
from onnx2cedr.cli import app
from onnx2cedr.errors import O2CError
from onnx2cedr.runner import ModelLibrary
from tests.oncheck import make_model


def _model(path):
    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((24, 8, 3, 3)) * 0.2).astype(np.float32)
    w2 = (rng.standard_normal((24, 24, 3, 3)) * 0.1).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["s"]),
        helper.make_node("MaxPool", ["s"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
    ]
    onnx.save(make_model(nodes, {"x": np.zeros((1, 8, 40, 40), np.float32)}, ["y"],
                         {"w1": w1, "w2": w2, "b": b}, opset=17), str(path))
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return _model(tmp_path_factory.mktemp("thr") / "thr.onnx")


def test_threads_bit_identical(model_path, tmp_path):
    x = np.random.default_rng(1).standard_normal((1, 8, 40, 40)).astype(np.float32)
    outs = {}
    for t in (1, 2, 3):
        res = convert(model_path, tmp_path / f"t{t}", artifacts=("lib",), threads=t)
        assert res.model_json["threads"] == t
        lib = ModelLibrary(res.out_dir)
        outs[t] = lib.run([x])[0]
        assert np.array_equal(lib.run([x])[0], outs[t])  # repeated runs reuse the pool
    assert np.array_equal(outs[2], outs[1]) and np.array_equal(outs[3], outs[1])


@pytest.mark.parametrize("bad", [0, -1, 65, 1.5, "2", True])
def test_threads_bad_value_api(model_path, tmp_path, bad):
    with pytest.raises(O2CError, match="--threads"):
        convert(model_path, tmp_path / "bad", artifacts=("lib",), threads=bad)


@pytest.mark.parametrize("bad", ["0", "-3"])
def test_threads_bad_value_cli(model_path, tmp_path, bad):
    r = CliRunner().invoke(app, ["convert", str(model_path), "-o", str(tmp_path / "o"), "--threads", bad])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "--threads" in lines[0]
    assert not (tmp_path / "o").exists()


def test_memory_report_within_bound(model_path):
    m = inspect(model_path)["memory"]
    assert {"arena_bytes", "liveness_lower_bound_bytes", "weights_bytes"} <= set(m)
    assert 0 < m["liveness_lower_bound_bytes"] <= m["arena_bytes"] <= 1.1 * m["liveness_lower_bound_bytes"]
