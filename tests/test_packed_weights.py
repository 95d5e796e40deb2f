"""Convolution weights packed once when the model loads (o2c_conv_pack): model.json reports the
bytes; the outputs match onnxruntime; many concurrent runs of one library - the first ones racing
to load and pack - give the bits of a single run; 1 and 2 threads agree bit for bit."""
from __future__ import annotations

import threading

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from onnx2cedr import convert
from onnx2cedr.runner import ModelLibrary
from tests.oncheck import make_model


def _model(path):
    rng = np.random.default_rng(3)
    w1 = (rng.standard_normal((128, 64, 3, 3)) * 0.05).astype(np.float32)  # 8x8: lanes path, split over threads
    w2 = (rng.standard_normal((40, 128, 1, 1)) * 0.1).astype(np.float32)   # 1x1 on 8x8
    w3 = (rng.standard_normal((16, 40, 3, 3)) * 0.1).astype(np.float32)   # 16 channels
    b1, b2, b3 = (rng.standard_normal(n).astype(np.float32) for n in (128, 40, 16))
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"]),
        helper.make_node("LeakyRelu", ["c2"], ["r2"], alpha=0.1),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2]),
    ]
    inits = {"w1": w1, "w2": w2, "w3": w3, "b1": b1, "b2": b2, "b3": b3}
    onnx.save(make_model(nodes, {"x": np.zeros((1, 64, 8, 8), np.float32)}, ["y"], inits, opset=17), str(path))
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return _model(tmp_path_factory.mktemp("packed") / "packed.onnx")


def test_packed_bytes_reported_and_outputs(model_path, tmp_path):
    res = convert(model_path, tmp_path / "m", artifacts=("lib",))
    assert res.model_json["memory"]["packed_weights_bytes"] > 0
    x = np.random.default_rng(1).standard_normal((1, 64, 8, 8)).astype(np.float32)
    y = ModelLibrary(res.out_dir).run([x])[0]
    ref = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.abs(y - ref).max() <= 1e-4 * (1 + np.abs(ref).max())


def test_concurrent_runs_bit_identical(model_path, tmp_path):
    # a fresh library: the first runs of all threads race through the weights mapping and packing
    res = convert(model_path, tmp_path / "c", artifacts=("lib",))
    lib = ModelLibrary(res.out_dir)
    xs = [np.random.default_rng(10 + k).standard_normal((1, 64, 8, 8)).astype(np.float32) for k in range(4)]
    runs = 25
    results: dict[int, list[np.ndarray]] = {k: [] for k in range(4)}
    errors: list[BaseException] = []  # an exception in a worker thread would not fail the test by itself
    start = threading.Barrier(4)

    def worker(k):
        try:
            start.wait()
            for _ in range(runs):
                results[k].append(lib.run([xs[k]])[0])
        except BaseException as e:
            errors.append(e)
            start.abort()  # the others stop waiting for a thread that will not come

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert [len(results[k]) for k in range(4)] == [runs] * 4
    for k in range(4):
        single = lib.run([xs[k]])[0]
        for r in results[k]:
            assert np.array_equal(r.view(np.uint32), single.view(np.uint32))


def test_packed_threads_bit_identical(model_path, tmp_path):
    x = np.random.default_rng(2).standard_normal((1, 64, 8, 8)).astype(np.float32)
    outs = [ModelLibrary(convert(model_path, tmp_path / f"t{t}", artifacts=("lib",), threads=t).out_dir).run([x])[0]
            for t in (1, 2)]
    assert np.array_equal(outs[0].view(np.uint32), outs[1].view(np.uint32))
