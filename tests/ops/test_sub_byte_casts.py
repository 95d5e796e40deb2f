"""Casts from float types to 4- and 2-bit integers follow the ONNX spec (round half to even, then
saturate), in the kernel and in constant folding, whatever ml_dtypes is installed; integer sources
keep the general rule (the high bits are dropped)."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper

import onnx2cedr
from onnx2cedr.ops.logic import cast_array
from tests.oncheck import make_model, run_ours

H = helper.make_node
X = np.array([-100, -9, -8.5, -2.5, -1.5, -0.5, -0.25, 0.0, 0.5, 1.5, 2.5, 3.5, 7.49, 7.5, 15.5, 16, 1e9,
              np.nan, np.inf, -np.inf], np.float32)
# (type, ONNX code, what the spec rule gives for X)
SPEC = [
    ("int4", TensorProto.INT4, [-8, -8, -8, -2, -2, 0, 0, 0, 0, 2, 2, 4, 7, 7, 7, 7, 7, 0, 7, -8]),
    ("uint4", TensorProto.UINT4, [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 4, 7, 8, 15, 15, 15, 0, 15, 0]),
    ("int2", TensorProto.INT2, [-2, -2, -2, -2, -2, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, -2]),
    ("uint2", TensorProto.UINT2, [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 3, 3, 3, 3, 3, 3, 0, 3, 0]),
]


@pytest.mark.parametrize("name, code, want", SPEC)
def test_cast_array_is_the_spec_rule(name, code, want):
    got = cast_array(X, getattr(ml_dtypes, name))
    assert got.dtype == np.dtype(getattr(ml_dtypes, name))
    assert got.astype(int).tolist() == want


@pytest.mark.parametrize("src", [np.float32, np.float16, np.float64])
@pytest.mark.parametrize("name, code, want", SPEC)
def test_kernel_cast_follows_the_spec(tmp_path, src, name, code, want):
    with np.errstate(over="ignore"):  # 1e9 is inf in float16
        x = X.astype(src)
    if src == np.float16:  # 7.49 is 7.4883 in float16, 1e9 is inf: the rule on the float16 values
        want = cast_array(x, getattr(ml_dtypes, name)).astype(int).tolist()
    nodes = [H("Cast", ["x"], ["c"], to=code), H("Cast", ["c"], ["y"], to=TensorProto.INT8)]
    model = make_model(nodes, {"x": x}, ["y"], opset=25)  # int2/uint2 arrived in opset 25 (IR 11)
    model.ir_version = 11
    (y,) = run_ours(model, {"x": x}, tmp_path)
    assert y.astype(int).tolist() == want


def test_integer_sources_drop_the_high_bits(tmp_path):
    x = np.array([-9, -8, 7, 8, 15, 16, 100], np.int32)
    nodes = [H("Cast", ["x"], ["c"], to=TensorProto.INT4), H("Cast", ["c"], ["y"], to=TensorProto.INT8)]
    (y,) = run_ours(make_model(nodes, {"x": x}, ["y"]), {"x": x}, tmp_path)
    assert y.tolist() == [7, -8, 7, -8, -1, 0, 4]


def test_constant_folded_cast_follows_the_spec(tmp_path):
    """A Cast of a constant is evaluated at compile time: by the same rule, not by ml_dtypes' astype."""
    x = np.zeros(X.size, np.int8)
    nodes = [H("Cast", ["k"], ["c"], to=TensorProto.INT4), H("Cast", ["c"], ["ci"], to=TensorProto.INT8),
             H("Add", ["ci", "x"], ["y"])]
    model = make_model(nodes, {"x": x}, ["y"], {"k": X})
    desc = onnx2cedr.inspect(model)
    assert [ly["op"] for ly in desc["layers"]] != [] and all(ly["op"] != "Cast" for ly in desc["layers"])
    (y,) = run_ours(model, {"x": x}, tmp_path)
    assert y.tolist() == SPEC[0][2]
