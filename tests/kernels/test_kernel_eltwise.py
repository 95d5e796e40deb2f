"""o2c_binary (broadcasting through strides, fused activations), o2c_unary (every op) and
o2c_softmax (stable, log, in-place)."""
from __future__ import annotations

import numpy as np
import pytest

import _ctypes_structs as S
from _kref import ALL_ACTS, assert_close, kernel_threads, unary_ref

NP_BIN = {
    S.BIN_ADD: np.add, S.BIN_SUB: np.subtract, S.BIN_MUL: np.multiply, S.BIN_DIV: np.divide,
    S.BIN_MAX: np.maximum, S.BIN_MIN: np.minimum, S.BIN_POW: np.power,
    S.BIN_PRELU: lambda a, b: np.where(a >= 0, a, a * b),
}


def bcast_strides(arr: np.ndarray, out_shape) -> list[int]:
    """Element strides of arr (any strides, incl. views) broadcast to out_shape."""
    r = len(out_shape)
    shape = (1,) * (r - arr.ndim) + arr.shape
    strides = (0,) * (r - arr.ndim) + tuple(s // arr.itemsize for s in arr.strides)
    return [0 if shape[d] == 1 and out_shape[d] != 1 else strides[d] for d in range(r)]


def run_binary(lib, a, b, op, act=(S.ACT_NONE, 0, 0), out=None, fn="o2c_binary"):
    out_shape = np.broadcast_shapes(a.shape, b.shape)
    if out is None:
        out = np.full(out_shape, np.nan, np.float32)
    p = S.BinaryParams()
    p.op, p.rank = op, len(out_shape)
    p.out_shape = S.i64x(out_shape)
    p.a_stride = S.i64x(bcast_strides(a, out_shape))
    p.b_stride = S.i64x(bcast_strides(b, out_shape))
    p.act = S.act(*act)
    # base pointers of (possibly strided) views
    getattr(lib, fn)(a.ctypes.data, b.ctypes.data, out.ctypes.data, p)
    return out


PATTERNS = [
    ((2, 3, 4, 5), (2, 3, 4, 5)),      # same shape
    ((2, 3, 4, 5), ()),                # scalar b
    ((), (3, 7)),                      # scalar a
    ((4, 6, 9), (9,)),                 # row broadcast
    ((2, 8, 5, 5), (1, 8, 1, 1)),      # per-channel bias
    ((2, 1, 4), (1, 3, 1)),            # outer product style
    ((3, 1, 5, 1, 2), (1, 4, 1, 6, 2)),
    ((1,), (5, 1)),
    ((7, 1), (7, 33)),
    ((2, 3, 1, 1, 1, 2, 1, 3), (1, 3, 2, 1, 2, 1, 2, 3)),  # rank 8
    ((0, 3), (1, 3)),                  # empty
]


@pytest.mark.parametrize("op", list(NP_BIN), ids=lambda o: f"op{o}")
@pytest.mark.parametrize("shapes", PATTERNS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_binary_broadcast(klib, op, shapes):
    rng = np.random.default_rng(op)
    a = np.asarray(rng.standard_normal(shapes[0]), np.float32)
    b = np.asarray(rng.standard_normal(shapes[1]), np.float32)
    if op == S.BIN_POW:
        a = np.asarray(np.abs(a) + 0.1, np.float32)
    if op == S.BIN_DIV:
        b = np.asarray(np.where(np.abs(b) < 0.1, 0.5, b), np.float32)
    got = run_binary(klib, a, b, op)
    ref = NP_BIN[op](a, b)  # float32 numpy: exact for everything but pow
    if op == S.BIN_POW:
        assert_close(got, NP_BIN[op](a.astype(np.float64), b.astype(np.float64)), 1e-6, 1e-7)
    else:
        np.testing.assert_array_equal(got, ref)


def test_binary_strided_views(klib):
    """Transposed and sliced inputs read through their strides."""
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 8, 10)).astype(np.float32)
    a = base.transpose(2, 0, 1)          # (10, 6, 8) non-contiguous
    b = base[::2, 1, ::3]                # (3, 4) strided
    b2 = np.ascontiguousarray(rng.standard_normal((10, 6, 8)).astype(np.float32))
    np.testing.assert_array_equal(run_binary(klib, a, b2, S.BIN_SUB), a - b2)
    bb = base[0, :6, ::2][:, None, :4]  # (6, 1, 4)
    aa = rng.standard_normal((6, 5, 4)).astype(np.float32)
    np.testing.assert_array_equal(run_binary(klib, aa, bb, S.BIN_MUL), aa * bb)
    assert b.shape == (3, 4)
    c = base[1, ::-2, 0][:3, None]       # (3, 1) with a negative stride
    np.testing.assert_array_equal(run_binary(klib, b, c, S.BIN_ADD), b + c)


@pytest.mark.parametrize("act", ALL_ACTS, ids=lambda a: f"act{a[0]}")
def test_binary_fused_activation(klib, act):
    rng = np.random.default_rng(2)
    a = (3 * rng.standard_normal((4, 5, 6))).astype(np.float32)
    b = rng.standard_normal((5, 1)).astype(np.float32)
    got = run_binary(klib, a, b, S.BIN_ADD, act)
    assert_close(got, unary_ref(a + b, *act), 1e-6, 1e-7)
    got2 = run_binary(klib, a, b, S.BIN_ADD, act, fn="DASH_BINARY_flt")
    np.testing.assert_array_equal(got, got2)


def test_binary_in_place(klib):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 50)).astype(np.float32)
    b = rng.standard_normal((50,)).astype(np.float32)
    ref = a * b
    run_binary(klib, a, b, S.BIN_MUL, out=a)
    np.testing.assert_array_equal(a, ref)


def test_binary_nan_propagation_max_min(klib):
    a = np.array([np.nan, 1.0, 2.0, np.nan], np.float32)
    b = np.array([1.0, np.nan, 1.0, np.nan], np.float32)
    for op, f in ((S.BIN_MAX, np.maximum), (S.BIN_MIN, np.minimum)):
        np.testing.assert_array_equal(run_binary(klib, a, b, op), f(a, b))


# ---------------------------------------------------------------------------------------------
def unary_input(op, n, rng):
    x = (3 * rng.standard_normal(n)).astype(np.float32)
    if op in (S.UNARY_LOG, S.UNARY_SQRT):
        x = np.abs(x) + 1e-3
    if op == S.UNARY_RECIPROCAL:
        x = np.where(np.abs(x) < 1e-2, 0.5, x)
    if op == S.UNARY_ROUND:
        x = np.concatenate([x, np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.49999], np.float32)])
    if op == S.UNARY_SIGN:
        x = np.concatenate([x, np.zeros(3, np.float32)])
    if op in (S.UNARY_EXP, S.ACT_ELU, S.ACT_SIGMOID, S.UNARY_SOFTPLUS, S.ACT_TANH):
        x = np.concatenate([x, np.array([-100, -30, 30, 80], np.float32)])
    return x.astype(np.float32)


UNARY_OPS = [(op, a, b) for (op, a, b) in ALL_ACTS] + [
    (S.UNARY_IDENTITY, 0, 0), (S.UNARY_EXP, 0, 0), (S.UNARY_LOG, 0, 0), (S.UNARY_SQRT, 0, 0),
    (S.UNARY_ABS, 0, 0), (S.UNARY_NEG, 0, 0), (S.UNARY_RECIPROCAL, 0, 0), (S.UNARY_FLOOR, 0, 0),
    (S.UNARY_CEIL, 0, 0), (S.UNARY_ERF, 0, 0), (S.UNARY_SOFTPLUS, 0, 0), (S.UNARY_SIN, 0, 0),
    (S.UNARY_COS, 0, 0), (S.UNARY_ROUND, 0, 0), (S.UNARY_SIGN, 0, 0), (S.UNARY_AFFINE, -1.25, 0.5),
]


def run_unary(lib, x, op, alpha, beta, out=None, fn="o2c_unary"):
    if out is None:
        out = np.full_like(x, np.nan)
    p = S.UnaryParams(x.size, S.act(op, alpha, beta))
    getattr(lib, fn)(S.ptr(x), S.ptr(out), p)
    return out


@pytest.mark.parametrize("opab", UNARY_OPS, ids=lambda o: f"op{o[0]}")
def test_unary_ops(klib, opab):
    op, alpha, beta = opab
    rng = np.random.default_rng(op)
    x = unary_input(op, 1003, rng)
    got = run_unary(klib, x, op, alpha, beta)
    ref = unary_ref(x, op, alpha, beta)
    assert_close(got, ref, 1e-6, 1e-7 if op != S.UNARY_COS else 1e-7, f"unary op {op}")
    if op in (S.UNARY_FLOOR, S.UNARY_CEIL, S.UNARY_ROUND, S.UNARY_SIGN, S.UNARY_ABS, S.UNARY_NEG,
              S.UNARY_IDENTITY, S.ACT_RELU):
        np.testing.assert_array_equal(got, ref.astype(np.float32))
    # in place, and the API form
    y = x.copy()
    run_unary(klib, y, op, alpha, beta, out=y, fn="DASH_UNARY_flt")
    np.testing.assert_array_equal(y, got)


# ---------------------------------------------------------------------------------------------
def run_softmax(lib, x, outer, axis, inner, log, out=None, fn="o2c_softmax"):
    if out is None:
        out = np.full_like(x, np.nan)
    getattr(lib, fn)(S.ptr(x), S.ptr(out), S.SoftmaxParams(outer, axis, inner, log))
    return out


@pytest.mark.parametrize("shape,axis", [((4, 10), 1), ((3, 7, 5), 1), ((2, 3, 4, 5), 0), ((1000,), 0),
                                        ((2, 1, 6), 1), ((5, 4, 33), 2)])
@pytest.mark.parametrize("log", [0, 1])
@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_softmax(klib, shape, axis, log, scale):
    x = (scale * np.random.default_rng(0).standard_normal(shape)).astype(np.float32)
    outer = int(np.prod(shape[:axis]))
    inner = int(np.prod(shape[axis + 1:]))
    got = run_softmax(klib, x, outer, shape[axis], inner, log)
    xd = x.astype(np.float64)
    m = xd.max(axis=axis, keepdims=True)
    lse = m + np.log(np.exp(xd - m).sum(axis=axis, keepdims=True))
    ref = xd - lse if log else np.exp(xd - lse)
    if log:
        assert_close(got, ref, 1e-6, 1e-6)
    else:
        assert_close(got, ref, 2e-6, 1e-9)
    assert np.isfinite(got).all()
    y = x.copy()
    run_softmax(klib, y, outer, shape[axis], inner, log, out=y, fn="DASH_SOFTMAX_flt")
    np.testing.assert_array_equal(y, got)


@pytest.mark.parametrize("opab", [(S.UNARY_EXP, 0, 0), (S.ACT_SIGMOID, 0, 0), (S.ACT_TANH, 0, 0), (S.ACT_ELU, 0.7, 0),
                                  (S.UNARY_SOFTPLUS, 0, 0), (S.UNARY_ERF, 0, 0)], ids=lambda o: f"op{o[0]}")
def test_unary_special_values(klib, opab):
    """inf, -inf, NaN, signed zeros, tiny and huge values (vectorized paths included: 8-lane groups)."""
    op, alpha, beta = opab
    vals = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 0.29999, 0.30001, -0.3,
                     88.0, 88.8, -87.0, -88.0, -104.0, 9.0, -9.0, 20.0, -20.0, 1e30, -1e30, 0.5], np.float32)
    got = run_unary(klib, vals, op, alpha, beta)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = unary_ref(vals, op, alpha, beta).astype(np.float32)  # float32 rounding: exp(88.8) is inf
    assert_close(got, ref, 2e-6, 1e-30 if op != S.ACT_ELU else 1e-7, f"op {op}")


THREAD_PATTERNS = [  # large enough to be split by rows (first spatial axis > 1) over the threads
    ((1, 32, 32, 32), (1, 32, 32, 32)),
    ((2, 16, 40, 24), (1, 16, 1, 1)),    # per-channel
    ((1, 40, 1000), (1, 40, 1000)),      # 1-D: split along the signal
    ((1, 24, 1, 30, 50), (1, 24, 1, 30, 50)),  # leading spatial axis of 1
    ((1, 64, 33, 17), (17,)),            # broadcast row
]


@pytest.mark.parametrize("shapes", THREAD_PATTERNS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_binary_threads_bit_identical(klib, shapes):
    rng = np.random.default_rng(11)
    a = rng.standard_normal(shapes[0]).astype(np.float32)
    b = rng.standard_normal(shapes[1]).astype(np.float32)
    one = run_binary(klib, a, b, S.BIN_ADD, (S.ACT_RELU, 0, 0))
    with kernel_threads(klib, 2):
        two = run_binary(klib, a, b, S.BIN_ADD, (S.ACT_RELU, 0, 0))
        inplace = a.copy()
        run_binary(klib, inplace, b, S.BIN_ADD, (S.ACT_RELU, 0, 0), out=inplace)
    np.testing.assert_array_equal(one, np.maximum(a + b, 0))
    assert np.array_equal(one.view(np.uint32), two.view(np.uint32))
    assert np.array_equal(one.view(np.uint32), inplace.view(np.uint32))
