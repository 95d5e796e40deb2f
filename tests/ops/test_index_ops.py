"""Ops over integer/bool/other element types and index ops: single-node models through
onnxruntime and through the generated code, compared exactly (data movement, integers, bool)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.oncheck import check, rand

H = helper.make_node


def ints(*shape, low=-5, high=6, seed=0, dtype=np.int64):
    return np.random.default_rng(seed).integers(low, high, shape).astype(dtype)


def bools(*shape, seed=0):
    return np.random.default_rng(seed).integers(0, 2, shape).astype(np.bool_)


# ---------------------------------------------------------------- casts
@pytest.mark.parametrize("src,dst", [(np.float32, np.int64), (np.int64, np.float32), (np.float32, np.bool_),
                                     (np.bool_, np.float32), (np.int32, np.int8), (np.float32, np.float16),
                                     (np.float16, np.float32), (np.uint8, np.float64), (np.float64, np.int32)])
def test_cast(src, dst):
    if src == np.bool_:
        x = bools(3, 4)
    elif np.issubdtype(src, np.integer):
        x = ints(3, 4, low=-3 if np.issubdtype(src, np.signedinteger) else 0, high=100, dtype=src)
    else:
        x = (rand(3, 4) * 20).astype(src)
    to = helper.np_dtype_to_tensor_dtype(np.dtype(dst))
    check(H("Cast", ["x"], ["y"], to=to), {"x": x}, ["y"], tol="exact")


def test_castlike():
    check(H("CastLike", ["x", "t"], ["y"]), {"x": rand(2, 5) * 10, "t": ints(1)}, ["y"], tol="exact")


def test_cast_to_string_is_rejected():
    import onnx2cedr
    from onnx2cedr.errors import UnsupportedError
    from tests.oncheck import make_model

    m = make_model([H("Cast", ["x"], ["y"], to=TensorProto.STRING)], {"x": rand(3)}, ["y"])
    with pytest.raises(UnsupportedError, match="string"):
        onnx2cedr.compile_model(m) if hasattr(onnx2cedr, "compile_model") else __import__(
            "onnx2cedr.compiler", fromlist=["x"]).compile_model(m)


@pytest.mark.parametrize("to", [TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2,
                                TensorProto.FLOAT8E5M2FNUZ, TensorProto.INT4, TensorProto.UINT4])
def test_cast_narrow_types_round_trip(to):
    """float -> float8 (saturating and not) / 4-bit integer -> float: round to nearest even, overflow to
    the largest value, inf or NaN per format; one element per byte."""
    x = np.concatenate([rand(40, seed=1) * 3, [0.0, -0.0, 1e5, -1e5, 300.0, 17.0, -9.0, np.inf, -np.inf, np.nan],
                        [2.0 ** -9, 2.0 ** -17, 3 * 2.0 ** -10]]).astype(np.float32)
    if to in (TensorProto.INT4, TensorProto.UINT4):
        # in range and integral: for fractions onnxruntime rounds, onnx's reference (and we) truncate
        x = np.arange(-8, 8, dtype=np.float32) + (8 if to == TensorProto.UINT4 else 0)
    nodes = [H("Cast", ["x"], ["n"], to=to), H("Cast", ["n"], ["y"], to=TensorProto.FLOAT)]
    if to not in (TensorProto.INT4, TensorProto.UINT4):
        nodes += [H("Cast", ["x"], ["ns"], to=to, saturate=0), H("Cast", ["ns"], ["ys"], to=TensorProto.FLOAT)]
    check(nodes, {"x": x}, [n.output[0] for n in nodes[1::2]], tol="exact")


# ---------------------------------------------------------------- comparisons, logic, Where
@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32])
def test_compare(op, dtype):
    a = ints(2, 3, 4, seed=1).astype(dtype)
    b = ints(3, 1, seed=2).astype(dtype)
    check(H(op, ["a", "b"], ["y"]), {"a": a, "b": b}, ["y"], tol="exact")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint64, np.int8, np.uint16])
def test_compare_broadcast_on_either_side(dtype):
    """Every comparison in one model, the broadcast operand first and second (Greater and
    GreaterOrEqual run as Less and LessOrEqual with the operands swapped), NaN among the floats."""
    a = ints(3, 1, low=0, high=6, seed=3).astype(dtype)
    b = ints(2, 3, 4, low=0, high=6, seed=4).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        a[1, 0], b[0, 2, 1], b[1, 0, 3] = np.nan, np.nan, np.inf
    ops = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]
    nodes = [H(op, ["a", "b"], [f"y{k}"]) for k, op in enumerate(ops)]
    nodes += [H(op, ["b", "a"], [f"z{k}"]) for k, op in enumerate(ops)]
    check(nodes, {"a": a, "b": b}, [n.output[0] for n in nodes], tol="exact")


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logic(op):
    check(H(op, ["a", "b"], ["y"]), {"a": bools(2, 3, 4, seed=1), "b": bools(4, seed=2)}, ["y"], tol="exact")


def test_not():
    check(H("Not", ["a"], ["y"]), {"a": bools(5, 6)}, ["y"], tol="exact")


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])  # (onnxruntime has no bool Where)
def test_where(dtype):
    x = ints(2, 3, 4, seed=3).astype(dtype)
    y = ints(3, 1, seed=4).astype(dtype)
    check(H("Where", ["c", "x", "y"], ["o"]), {"c": bools(1, 3, 4), "x": x, "y": y}, ["o"], tol="exact")


# ---------------------------------------------------------------- integer arithmetic
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.float64])
def test_binary_other_types(op, dtype):
    a = ints(2, 3, 4, low=1 if dtype == np.uint8 else -20, high=40, seed=1).astype(dtype)
    b = ints(4, low=1, high=7, seed=2).astype(dtype)
    check(H(op, ["a", "b"], ["y"]), {"a": a, "b": b}, ["y"], tol="exact")


@pytest.mark.parametrize("fmod", [0, 1])
def test_mod(fmod):
    a, b = ints(3, 5, low=-20, high=20, seed=1), ints(5, low=1, high=6, seed=2) * np.array([1, -1, 1, -1, 1])
    check(H("Mod", ["a", "b"], ["y"], fmod=fmod), {"a": a, "b": b}, ["y"], tol="exact")


@pytest.mark.parametrize("op", ["Abs", "Neg", "Sign"])
def test_unary_int(op):
    check(H(op, ["x"], ["y"]), {"x": ints(4, 5, seed=7)}, ["y"], tol="exact")


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
def test_bitwise(op):
    check(H(op, ["a", "b"], ["y"]), {"a": ints(3, 4, low=0, high=255, dtype=np.int32),
                                     "b": ints(4, low=0, high=255, seed=3, dtype=np.int32)}, ["y"], tol="exact")


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bitshift(direction):
    check(H("BitShift", ["a", "b"], ["y"], direction=direction),
          {"a": ints(3, 4, low=0, high=200, dtype=np.uint32), "b": ints(4, low=0, high=5, seed=2, dtype=np.uint32)},
          ["y"], tol="exact")


# ---------------------------------------------------------------- index ops
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_runtime_indices(axis):
    x = rand(4, 5, 6)
    n = x.shape[axis]
    idx = ints(2, 3, low=-n, high=n, seed=5)
    check(H("Gather", ["x", "i"], ["y"], axis=axis), {"x": x, "i": idx}, ["y"], tol="exact")


def test_gather_int_data_int32_indices():
    check(H("Gather", ["x", "i"], ["y"], axis=0), {"x": ints(6, 3), "i": ints(4, low=0, high=6, dtype=np.int32)},
          ["y"], tol="exact")


@pytest.mark.parametrize("axis", [0, 1])
def test_gather_elements(axis):
    x = rand(3, 4)
    idx = ints(3, 4, low=-x.shape[axis], high=x.shape[axis], seed=2)
    check(H("GatherElements", ["x", "i"], ["y"], axis=axis), {"x": x, "i": idx}, ["y"], tol="exact")


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_elements(reduction):
    x, u = rand(3, 5), rand(3, 2, seed=3)
    idx = np.array([[0, 4], [1, 3], [2, 2]], np.int64) if reduction == "none" else ints(3, 2, low=0, high=5)
    check(H("ScatterElements", ["x", "i", "u"], ["y"], axis=1, reduction=reduction),
          {"x": x, "i": idx, "u": u}, ["y"], tol="exact" if reduction in ("none", "max", "min") else "eltwise")


def test_gather_nd():
    x = rand(2, 3, 4)
    idx = np.array([[[0, 1], [1, 2]], [[1, 0], [0, 2]]], np.int64)
    check(H("GatherND", ["x", "i"], ["y"]), {"x": x, "i": idx}, ["y"], tol="exact")
    check(H("GatherND", ["x", "i"], ["y"], batch_dims=1), {"x": x, "i": np.array([[[2]], [[0]]], np.int64)}, ["y"],
          tol="exact")


def test_scatter_nd():
    x = rand(4, 3)
    check(H("ScatterND", ["x", "i", "u"], ["y"]), {"x": x, "i": np.array([[1], [3]], np.int64), "u": rand(2, 3, seed=2)},
          ["y"], tol="exact")


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("attrs", [{}, {"axis": 1, "keepdims": 0}, {"axis": -1, "select_last_index": 1}])
def test_arg(op, attrs):
    x = ints(3, 4, 5, low=0, high=4).astype(np.float32)  # ties
    check(H(op, ["x"], ["y"], **attrs), {"x": x}, ["y"], tol="exact")


@pytest.mark.parametrize("attrs", [{}, {"axis": 0, "largest": 0}, {"axis": 1}])
def test_topk(attrs):
    x = rand(4, 6, seed=8)
    check(H("TopK", ["x", "k"], ["v", "i"], **attrs), {"x": x}, ["v", "i"], {"k": np.array([3], np.int64)}, tol="exact")


@pytest.mark.parametrize("attrs", [{}, {"exclusive": 1}, {"reverse": 1}, {"exclusive": 1, "reverse": 1}])
def test_cumsum(attrs):
    check(H("CumSum", ["x", "a"], ["y"], **attrs), {"x": ints(3, 5, seed=2)}, ["y"], {"a": np.array(1, np.int64)},
          tol="exact")


@pytest.mark.parametrize("upper,k", [(1, 0), (0, 0), (1, -1), (0, 2)])
def test_trilu(upper, k):
    check(H("Trilu", ["x", "k"], ["y"], upper=upper), {"x": rand(2, 4, 5)}, ["y"], {"k": np.array(k, np.int64)},
          tol="exact")


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space(mode):
    check(H("DepthToSpace", ["x"], ["y"], blocksize=2, mode=mode), {"x": rand(1, 8, 2, 3)}, ["y"], tol="exact")


def test_space_to_depth():
    check(H("SpaceToDepth", ["x"], ["y"], blocksize=2), {"x": rand(2, 3, 4, 6)}, ["y"], tol="exact")


def test_onehot():
    check(H("OneHot", ["i", "d", "v"], ["y"], axis=1), {"i": ints(2, 3, low=-4, high=6)}, ["y"],
          {"d": np.array(5, np.int64), "v": np.array([0.5, 2.0], np.float32)}, tol="exact")


def test_eyelike():
    check(H("EyeLike", ["x"], ["y"], k=1, dtype=TensorProto.INT32), {"x": rand(3, 5)}, ["y"], tol="exact")


def test_constant_of_shape():
    val = helper.make_tensor("v", TensorProto.INT64, [1], [7])
    nodes = [H("ConstantOfShape", ["s"], ["c"], value=val), H("Add", ["c", "x"], ["y"])]
    check(nodes, {"x": ints(2, 3)}, ["y"], {"s": np.array([2, 3], np.int64)}, tol="exact")


# ---------------------------------------------------------------- movement over other element types
@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.int8, np.float16])
def test_movement_any_type(dtype):
    x = ints(2, 3, 4, low=0, high=2 if dtype == np.bool_ else 50).astype(dtype)
    nodes = [H("Transpose", ["x"], ["t"], perm=[2, 0, 1]), H("Slice", ["t", "s", "e"], ["sl"]),
             H("Concat", ["sl", "sl"], ["c"], axis=1), H("Expand", ["c", "shp"], ["y"])]
    inits = {"s": np.array([1], np.int64), "e": np.array([3], np.int64), "shp": np.array([2, 1, 1, 1], np.int64)}
    check(nodes, {"x": x}, ["y"], inits, tol="exact")


def test_shape_chain_runs_on_integers():
    """A graph that computes indices at run time: ArgMax -> Gather of rows, Equal mask -> Where."""
    nodes = [H("ArgMax", ["x"], ["am"], axis=1, keepdims=0), H("Gather", ["t", "am"], ["g"], axis=0),
             H("Equal", ["am", "two"], ["eq"]), H("Unsqueeze", ["eq", "ax"], ["equ"]),
             H("Where", ["equ", "g", "z"], ["y"])]
    check(nodes, {"x": rand(4, 3), "t": rand(3, 5, seed=2)}, ["y"],
          {"two": np.array(2, np.int64), "ax": np.array([1], np.int64), "z": np.zeros((1,), np.float32)}, tol="exact")


def test_pad_other_types_and_run_time_constant():
    """o2c_pad_typed: int32 edge/reflect padding, a float16 constant given as a run-time input."""
    feeds = {"i": ints(3, 4, dtype=np.int32), "h": rand(2, 3).astype(np.float16), "cv": np.array(-2.5, np.float16)}
    inits = {"p": np.array([1, 2, 0, 1], np.int64), "p2": np.array([0, 1, 2, 0], np.int64)}
    nodes = [H("Pad", ["i", "p"], ["ie"], mode="edge"), H("Pad", ["i", "p"], ["ir"], mode="reflect"),
             H("Pad", ["h", "p2", "cv"], ["hc"])]
    check(nodes, feeds, ["ie", "ir", "hc"], inits, tol="exact")


def test_clip_integers():
    feeds = {"x": ints(3, 5, low=-100, high=100, dtype=np.int8), "w": ints(4, low=-9, high=9, dtype=np.int64)}
    inits = {"lo": np.array(-20, np.int8), "hi": np.array(30, np.int8), "hw": np.array(4, np.int64)}
    nodes = [H("Clip", ["x", "lo", "hi"], ["y"]), H("Clip", ["w", "", "hw"], ["yw"])]
    check(nodes, feeds, ["y", "yw"], inits, tol="exact")
