"""QuantizeLinear / DequantizeLinear (o2c_quantize_linear) against onnxruntime: per tensor, per axis,
blocked; uint8, int8, int16, int4 and float8 e4m3fn."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.oncheck import check, rand

H = helper.make_node


@pytest.mark.parametrize("qtype", [np.uint8, np.int8, np.int16])
def test_quantize_dequantize_integers(qtype):
    x = rand(2, 3, 4, seed=1) * 4
    zp0 = np.array(3 if qtype == np.uint8 else -2, qtype)
    inits = {"s0": np.array(0.05, np.float32), "z0": zp0, "s1": rand(3, seed=2, low=0.02, high=0.1),
             "z1": np.array([1, 2, 3], qtype), "sb": rand(2, 3, 2, seed=3, low=0.02, high=0.1),
             "zb": np.zeros((2, 3, 2), qtype)}
    nodes = [H("QuantizeLinear", ["x", "s0", "z0"], ["q0"]), H("DequantizeLinear", ["q0", "s0", "z0"], ["d0"]),
             H("QuantizeLinear", ["x", "s1", "z1"], ["q1"], axis=1), H("DequantizeLinear", ["q1", "s1", "z1"], ["d1"],
                                                                         axis=1),
             H("QuantizeLinear", ["x", "sb", "zb"], ["qb"], axis=2, block_size=2),
             H("DequantizeLinear", ["qb", "sb", "zb"], ["db"], axis=2, block_size=2)]
    check(nodes, {"x": x}, ["q0", "d0", "q1", "d1", "qb", "db"], inits, tol=(1e-6, 1e-7))


@pytest.mark.parametrize("to", [TensorProto.INT4, TensorProto.FLOAT8E4M3FN])
def test_quantize_narrow_types(to):
    x = rand(3, 8, seed=4) * 3
    nodes = [H("QuantizeLinear", ["x", "s"], ["q"], output_dtype=to), H("DequantizeLinear", ["q", "s"], ["y"])]
    check(nodes, {"x": x}, ["y"], {"s": np.array(0.25, np.float32)}, tol="exact")


def test_dynamic_quantize_linear():
    x = rand(4, 9, seed=5) * 3 + 1
    check(H("DynamicQuantizeLinear", ["x"], ["y", "s", "z"]), {"x": x}, ["y", "s", "z"], tol="exact")
