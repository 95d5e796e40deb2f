"""Float ops on float64 and float16 tensors (typed inline kernels: float64 in double precision, float16
computed in float and rounded once per op) against onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import onnx2cedr
from tests.oncheck import check, make_model, rand

H = helper.make_node
TOL = {np.float64: (1e-12, 1e-12), np.float16: (2e-3, 2e-3)}


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_matmul_softmax_reductions(dtype):
    feeds = {"a": rand(2, 3, 4, seed=1, dtype=dtype), "b": rand(4, 5, seed=2, dtype=dtype),
             "v": rand(4, seed=3, dtype=dtype)}
    nodes = [H("MatMul", ["a", "b"], ["ab"]), H("MatMul", ["a", "v"], ["av"]),
             H("Softmax", ["ab"], ["sm"], axis=1), H("LogSoftmax", ["ab"], ["lsm"]),
             H("ReduceSum", ["a"], ["rs"], keepdims=0), H("ReduceMax", ["ab"], ["rmax"]),
             H("ReduceLogSumExp", ["a"], ["rlse"])]
    ours = check(nodes, feeds, ["ab", "av", "sm", "lsm", "rs", "rmax", "rlse"], tol=TOL[dtype])
    assert all(o.dtype == dtype for o in ours)


def test_float64_unary_math():
    x = rand(3, 7, seed=4, dtype=np.float64)
    pos = np.abs(x) + 0.1
    ops = ["Exp", "Tanh", "Sigmoid", "Floor", "Ceil", "Round", "Sin", "Cos", "Neg"]
    nodes = [H(op, ["x"], [op.lower()]) for op in ops] + [H(op, ["p"], [op.lower()]) for op in ("Log", "Sqrt",
                                                                                                "Reciprocal")]
    outs = [n.output[0] for n in nodes]
    check(nodes, {"x": x * 3, "p": pos}, outs, tol=(1e-14, 1e-14))


def test_float64_products_stay_off_the_float_api():
    feeds = {"a": rand(3, 4, dtype=np.float64), "b": rand(4, 2, dtype=np.float64)}
    desc = onnx2cedr.inspect(make_model([H("MatMul", ["a", "b"], ["y"]), H("Softmax", ["y"], ["z"])], feeds, ["z"]))
    assert [ly["placement"] for ly in desc["layers"]] == ["cpu", "cpu"]
