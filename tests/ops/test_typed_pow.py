"""Pow with integer operands: an integer base (integer or float exponent) and a float base with an
integer exponent, against ONNX's definition np.power(x, y).astype(x.dtype) (and onnxruntime where it
implements the type pair)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import onnx2cedr
from tests.oncheck import assert_close, make_model, run_ort, run_ours

H = helper.make_node


def _ref(x, y):
    with np.errstate(all="ignore"):
        return np.power(x.astype(np.float64) if y.dtype.kind == "f" else x, y).astype(x.dtype)


@pytest.mark.parametrize("tx,ty", [(np.int64, np.int64), (np.int32, np.int32), (np.int64, np.float32),
                                   (np.int32, np.float32), (np.float32, np.int64), (np.float32, np.int32),
                                   (np.float32, np.uint32), (np.float64, np.int64), (np.int64, np.int32)])
def test_pow_mixed_types(tx, ty):
    rng = np.random.default_rng(3)
    if np.dtype(tx).kind == "f":
        x = rng.uniform(-3, 3, (3, 4)).astype(tx)
    elif np.dtype(ty).kind == "f":  # a negative base to a fractional power is NaN, whose integer cast is undefined
        x = rng.integers(0, 6, (3, 4)).astype(tx)
    else:
        x = rng.integers(-5, 6, (3, 4)).astype(tx)
    y = (rng.integers(0, 6, (4,)) if np.dtype(ty).kind in "iu" else rng.uniform(0, 3, (4,))).astype(ty)
    feeds = {"x": x, "y": y}
    model = make_model([H("Pow", ["x", "y"], ["z"])], feeds, ["z"])
    ours = run_ours(model, feeds)
    ref = _ref(x, y)
    # an integer result of a float power truncates: an exact check on integers, a float one on floats
    tol = (1e-6, 1e-6) if np.dtype(tx).kind == "f" else (0.0, 0.0)
    assert_close(ours, [ref], tol[0], tol[1], what=f"Pow {np.dtype(tx)}^{np.dtype(ty)}")
    if ty != np.uint32 and tx != np.float64 and not (tx == np.int64 and ty == np.int32):
        assert_close(ours, run_ort(model, feeds), tol[0], tol[1], what="Pow vs onnxruntime")


def _wrap32(v: int) -> int:
    v %= 2**32
    return v - 2**32 if v >= 2**31 else v


def test_integer_pow_wraps_like_the_type_and_negative_exponents():
    x = np.array([2, 3, -2, 1, 7, 0], dtype=np.int32)
    y = np.array([31, 21, 3, -4, -1, 0], dtype=np.int32)
    ours = run_ours(make_model([H("Pow", ["x", "y"], ["z"])], {"x": x, "y": y}, ["z"]), {"x": x, "y": y})[0]
    # 2^31 and 3^21 wrap modulo 2^32; 1^-4 = 1; 7^-1 truncates to 0; 0^0 = 1
    expect = np.array([_wrap32(2**31), _wrap32(3**21), -8, 1, 0, 1], dtype=np.int32)
    np.testing.assert_array_equal(ours, expect)


def test_mixed_pow_placement_is_reported():
    feeds = {"x": np.ones((2, 3), np.int64), "y": np.ones((3,), np.float32)}
    desc = onnx2cedr.inspect(make_model([H("Pow", ["x", "y"], ["z"])], feeds, ["z"]))
    assert "float64" in desc["layers"][0]["reason"]
