"""Data movement and normalization kernels: o2c_copy, o2c_fill, o2c_pad, o2c_resize,
o2c_channel_affine, o2c_lrn, o2c_reduce."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import _ctypes_structs as S
from _kref import ALL_ACTS, assert_close, unary_ref
from _ort import run_node


# ---------------------------------------------------------------------------------------------
# copy
# ---------------------------------------------------------------------------------------------
def copy_view(lib, base: np.ndarray, view: np.ndarray, dst: np.ndarray | None = None):
    """Copy the numpy view (of base) into a dense array (or into the dst view) via o2c_copy."""
    es = base.itemsize
    if dst is None:
        dst = np.zeros(view.shape, base.dtype)
    p = S.CopyParams()
    p.rank, p.elem_size = view.ndim, es
    p.src_offset = (view.ctypes.data - base.ctypes.data) // es
    p.shape = S.i64x(view.shape)
    p.src_stride = S.i64x([s // es for s in view.strides])
    p.dst_stride = S.i64x([s // es for s in dst.strides])
    lib.o2c_copy(base.ctypes.data, dst.ctypes.data, p)
    return dst


@pytest.mark.parametrize("dtype", [np.int8, np.float16, np.float32, np.int64])
def test_copy_views(klib, dtype):
    rng = np.random.default_rng(0)
    base = (rng.standard_normal((4, 5, 6, 7)) * 100).astype(dtype)
    views = [
        base.transpose(3, 1, 0, 2),           # Transpose
        base[1:3, ::2, 4:, 1::3],             # Slice with steps
        base[::-1, :, ::-2, :],               # negative strides
        base[:, 2],                           # Gather-like
        np.broadcast_to(base[:, :1, :1, :], (4, 5, 6, 7)),  # Expand (stride 0)
        base.reshape(20, 42),                 # reshape
        base[3, 4, 5, 6, ...],                # rank 0
        base[2:3, 1:2],                       # size-1 dims
    ]
    for v in views:
        got = copy_view(klib, base, v)
        np.testing.assert_array_equal(got, v)


def test_copy_concat_into_views(klib):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b = rng.standard_normal((2, 5, 4)).astype(np.float32)
    out = np.zeros((2, 8, 4), np.float32)
    for src, sl in ((a, slice(0, 3)), (b, slice(3, 8))):
        dv = out[:, sl]
        p = S.CopyParams()
        p.rank, p.elem_size, p.src_offset = 3, 4, 0
        p.shape = S.i64x(src.shape)
        p.src_stride = S.i64x([s // 4 for s in src.strides])
        p.dst_stride = S.i64x([s // 4 for s in dv.strides])
        klib.o2c_copy(src.ctypes.data, dv.ctypes.data, p)
    np.testing.assert_array_equal(out, np.concatenate([a, b], axis=1))


def test_copy_depth_to_space(klib):
    x = np.arange(1 * 8 * 3 * 3, dtype=np.float32).reshape(1, 8, 3, 3)
    bs = 2
    v = x.reshape(1, bs, bs, 2, 3, 3).transpose(0, 3, 4, 1, 5, 2)  # DCR
    got = copy_view(klib, x, v).reshape(1, 2, 6, 6)
    np.testing.assert_array_equal(got, v.reshape(1, 2, 6, 6))


@pytest.mark.parametrize("dtype,value", [(np.uint8, 7), (np.float16, 1.5), (np.float32, -2.25),
                                         (np.int64, -(2 ** 40) - 3), (np.float64, 1e300)])
def test_fill(klib, dtype, value):
    dst = np.zeros(37, dtype)
    v = np.array([value], dtype)
    klib.o2c_fill(dst.ctypes.data, 35, dtype().itemsize, v.ctypes.data)
    np.testing.assert_array_equal(dst[:35], np.full(35, value, dtype))
    assert dst[35] == 0 and dst[36] == 0


def test_fill_odd_element_size(klib):
    dst = np.zeros(12, np.uint8)
    v = np.array([1, 2, 3], np.uint8)
    klib.o2c_fill(dst.ctypes.data, 3, 3, v.ctypes.data)
    np.testing.assert_array_equal(dst, [1, 2, 3] * 3 + [0, 0, 0])


# ---------------------------------------------------------------------------------------------
# pad
# ---------------------------------------------------------------------------------------------
NP_MODE = {S.PAD_CONSTANT: "constant", S.PAD_REFLECT: "reflect", S.PAD_EDGE: "edge", S.PAD_WRAP: "wrap"}


def pad_ref(x, begin, end, mode, value):
    # negative pads crop first, then numpy pads
    sl = tuple(slice(max(0, -b), x.shape[d] - max(0, -e)) for d, (b, e) in enumerate(zip(begin, end)))
    xc = x[sl]
    widths = [(max(0, b), max(0, e)) for b, e in zip(begin, end)]
    if NP_MODE[mode] == "constant":
        return np.pad(xc, widths, mode="constant", constant_values=value)
    return np.pad(xc, widths, mode=NP_MODE[mode])


@pytest.mark.parametrize("mode", list(NP_MODE), ids=lambda m: NP_MODE[m])
@pytest.mark.parametrize("shape,begin,end", [
    ((5,), [2], [3]),
    ((3, 4), [1, 2], [2, 1]),
    ((2, 3, 4, 5), [0, 0, 1, 2], [0, 0, 2, 1]),
    ((2, 3, 6, 7), [0, 1, -1, 2], [1, 0, 2, -3]),   # negative pads crop
    ((4, 5), [-1, -2], [-1, -1]),
    ((3, 4), [2, 3], [2, 3]),                        # pad as large as the axis (reflect limit)
    ((1, 6), [0, 4], [0, 4]),
    ((3,), [7], [5]),                                # beyond the axis: periodic like numpy
])
def test_pad(klib, mode, shape, begin, end):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out_shape = [s + b + e for s, b, e in zip(shape, begin, end)]
    out = np.full(out_shape, np.nan, np.float32)
    p = S.PadParams()
    p.rank, p.mode, p.value = len(shape), mode, 1.25
    p.in_shape, p.out_shape, p.pad_begin = S.i64x(shape), S.i64x(out_shape), S.i64x(begin)
    klib.o2c_pad(S.ptr(x), S.ptr(out), p)
    np.testing.assert_array_equal(out, pad_ref(x, begin, end, mode, 1.25))


@pytest.mark.parametrize("pads", [[0, 0, 2, 3, 0, 0, 4, 5], [0, 0, -2, 3, 0, 0, 3, -2], [0, 1, 3, -1, 1, -1, -2, 4]])
def test_pad_matches_onnxruntime(klib, pads):
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 6)).astype(np.float32)
    pads = np.array(pads, np.int64)
    for mode, m in (("reflect", S.PAD_REFLECT), ("edge", S.PAD_EDGE), ("wrap", S.PAD_WRAP),
                    ("constant", S.PAD_CONSTANT)):
        from onnx import TensorProto, helper
        import onnxruntime as ort
        node = helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[helper.make_tensor("pads", TensorProto.INT64, [8], pads)])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)])
        model.ir_version = 9
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        try:
            ref = ort.InferenceSession(model.SerializeToString(), so).run(None, {"x": x})[0]
        except Exception as e:  # onnxruntime refuses reflect pads beyond the (cropped) axis
            assert mode == "reflect", e
            continue
        out = np.full(ref.shape, np.nan, np.float32)
        p = S.PadParams()
        p.rank, p.mode, p.value = 4, m, 0.0
        p.in_shape, p.out_shape, p.pad_begin = S.i64x(x.shape), S.i64x(ref.shape), S.i64x(pads[:4])
        klib.o2c_pad(S.ptr(x), S.ptr(out), p)
        np.testing.assert_array_equal(out, ref, err_msg=mode)


# small maps with many channels: constant rows of at most one 32-byte chunk (blended), longer
# rows (runs), pads on the last axes only or also on the channels, crops, the typed element sizes
@pytest.mark.parametrize("shape,begin,end", [
    ((1, 37, 4, 4), [0, 0, 0, 0], [0, 0, 1, 1]),
    ((2, 19, 3, 5), [0, 0, 1, 2], [0, 0, 2, 0]),
    ((1, 23, 6, 7), [0, 0, -1, -2], [0, 0, 1, 2]),     # crop at the start, pad at the end
    ((3, 5, 13), [0, 1, 3], [0, 2, 4]),                # 20-element rows: longer than a chunk
    ((2, 3, 4, 9, 6), [0, 1, 0, 2, 1], [1, 0, 0, 1, 1]),
    ((1, 29, 5, 1), [0, 0, 0, 0], [0, 0, 0, 3]),        # 1-element input rows
    ((7,), [3], [-2]),
])
@pytest.mark.parametrize("mode", [S.PAD_CONSTANT, S.PAD_EDGE, S.PAD_WRAP], ids=lambda m: NP_MODE[m])
def test_pad_small_rows(klib, mode, shape, begin, end):
    x = np.random.default_rng(11).standard_normal(shape).astype(np.float32)
    x.flat[::7] = -0.0
    x.flat[3::11] = np.nan
    out_shape = [s + b + e for s, b, e in zip(shape, begin, end)]
    out = np.full(out_shape, 42.0, np.float32)
    p = S.PadParams()
    p.rank, p.mode, p.value = len(shape), mode, -1.5
    p.in_shape, p.out_shape, p.pad_begin = S.i64x(shape), S.i64x(out_shape), S.i64x(begin)
    klib.o2c_pad(S.ptr(x), S.ptr(out), p)
    ref = pad_ref(x, begin, end, mode, -1.5)
    assert np.array_equal(out.view(np.uint32), ref.view(np.uint32))  # pure data movement: the same bits
    if mode == S.PAD_CONSTANT:  # the other element sizes take the same paths with other chunk lengths
        import ctypes

        class PadTypedParams(ctypes.Structure):
            _fields_ = [("pad", S.PadParams), ("elem_size", ctypes.c_int32)]

        klib.o2c_pad_typed.argtypes = [ctypes.c_void_p] * 3 + [ctypes.POINTER(PadTypedParams)]
        klib.o2c_pad_typed.restype = None
        for dt in (np.uint8, np.uint16, np.uint64):
            xt = np.random.default_rng(12).integers(0, 200, shape).astype(dt)
            outt = np.zeros(out_shape, dt)
            val = np.array([7], dt)
            klib.o2c_pad_typed(S.ptr(xt), S.ptr(val), S.ptr(outt), PadTypedParams(p, xt.itemsize))
            np.testing.assert_array_equal(outt, np.pad(xt[tuple(slice(max(0, -b), n - max(0, -e)) for n, b, e in
                                                                 zip(shape, begin, end))],
                                                       [(max(0, b), max(0, e)) for b, e in zip(begin, end)],
                                                       constant_values=7), err_msg=str(dt))


# ---------------------------------------------------------------------------------------------
# resize
# ---------------------------------------------------------------------------------------------
def linear_table(n_in, n_out):
    """half_pixel linear taps (2 per output) like torch's bilinear/align_corners=False."""
    scale = n_in / n_out
    idx, w = [], []
    for o in range(n_out):
        x = max((o + 0.5) * scale - 0.5, 0.0)
        i0 = min(int(np.floor(x)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        f = x - i0
        idx += [i0, i1]
        w += [1.0 - f, f]
    return idx, w


def nearest_table(n_in, n_out):
    scale = n_in / n_out
    idx = [min(int(np.floor(o * scale)), n_in - 1) for o in range(n_out)]
    return idx, [1.0] * n_out


def cubic_table(n_in, n_out, a=-0.75):
    def k(t):
        t = abs(t)
        if t <= 1:
            return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
        if t < 2:
            return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
        return 0.0

    scale = n_in / n_out
    idx, w = [], []
    for o in range(n_out):
        x = (o + 0.5) * scale - 0.5
        x0 = int(np.floor(x))
        for t in range(-1, 3):
            idx.append(x0 + t)  # out-of-range indices: the kernel clamps (edge replication)
            w.append(k(x - (x0 + t)))
    return idx, w


def identity_table(n, taps):
    idx, w = [], []
    for o in range(n):
        idx += [o] * taps
        w += [1.0] + [0.0] * (taps - 1)
    return idx, w


def run_resize(lib, x, out_shape, tables, taps, extrapolation=None):
    idx = np.array(sum((t[0] for t in tables), []), np.int64)
    w = np.array(sum((t[1] for t in tables), []), np.float32)
    out = np.full(out_shape, np.nan, np.float32)
    p = S.ResizeParams(x.ndim, taps, S.i64x(x.shape), S.i64x(out_shape), int(extrapolation is not None),
                       0.0 if extrapolation is None else extrapolation)
    lib.o2c_resize(S.ptr(x), S.ptr(out), S.ptr(idx), S.ptr(w), p)
    return out


def resize_ref(x, out_shape, tables, taps):
    """Definition: sum over all corner combinations of the product of weights times input."""
    x = x.astype(np.float64)
    res = np.zeros(out_shape)
    it = np.ndindex(*out_shape)
    for o in it:
        acc = 0.0
        for combo in np.ndindex(*([taps] * x.ndim)):
            wprod, src = 1.0, []
            for d, t in enumerate(combo):
                i = tables[d][0][o[d] * taps + t]
                wprod *= np.float32(tables[d][1][o[d] * taps + t])
                src.append(min(max(i, 0), x.shape[d] - 1))
            acc += wprod * x[tuple(src)]
        res[o] = acc
    return res


@pytest.mark.parametrize("kind", ["nearest", "linear", "cubic"])
def test_resize_definition(klib, kind):
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 4)).astype(np.float32)
    out_shape = (2, 3, 8, 3)
    make, taps = {"nearest": (nearest_table, 1), "linear": (linear_table, 2), "cubic": (cubic_table, 4)}[kind]
    tables = [identity_table(2, taps), identity_table(3, taps), make(5, 8), make(4, 3)]
    got = run_resize(klib, x, out_shape, tables, taps)
    assert_close(got, resize_ref(x, out_shape, tables, taps), 1e-5, 1e-6)


@pytest.mark.parametrize("taps", [1, 2])
def test_resize_extrapolation_marks(klib, taps):
    """A negative first index (with extrapolate set) makes the whole output line the extrapolation value."""
    x = np.random.default_rng(5).standard_normal((1, 2, 4, 5)).astype(np.float32)
    make = nearest_table if taps == 1 else linear_table
    rows, cols = make(4, 6), make(5, 3)
    outside_rows, outside_cols = {0, 5}, {2}
    for o in outside_rows:
        rows[0][o * taps:(o + 1) * taps] = [-1] * taps
        rows[1][o * taps:(o + 1) * taps] = [0.0] * taps
    for o in outside_cols:
        cols[0][o * taps:(o + 1) * taps] = [-1] * taps
        cols[1][o * taps:(o + 1) * taps] = [0.0] * taps
    tables = [identity_table(1, taps), identity_table(2, taps), rows, cols]
    got = run_resize(klib, x, (1, 2, 6, 3), tables, taps, extrapolation=2.5)
    ref = resize_ref(x, (1, 2, 6, 3), tables, taps)
    for r in outside_rows:
        ref[:, :, r, :] = 2.5
    for c in outside_cols:
        ref[:, :, :, c] = 2.5
    assert_close(got, ref, 1e-5, 1e-6)
    # without the flag the same tables clamp (edge replication with zero weights: 0 there)
    got = run_resize(klib, x, (1, 2, 6, 3), tables, taps)
    assert_close(got, resize_ref(x, (1, 2, 6, 3), tables, taps), 1e-5, 1e-6)


def test_resize_every_axis_and_rank3(klib):
    x = np.random.default_rng(3).standard_normal((3, 4, 6)).astype(np.float32)
    tables = [linear_table(3, 5), linear_table(4, 2), linear_table(6, 9)]
    got = run_resize(klib, x, (5, 2, 9), tables, 2)
    assert_close(got, resize_ref(x, (5, 2, 9), tables, 2), 1e-5, 1e-6)


def test_resize_matches_torch(klib):
    x = np.random.default_rng(4).standard_normal((1, 2, 7, 9)).astype(np.float32)
    xt = torch.from_numpy(x)
    ref = F.interpolate(xt, size=(14, 5), mode="bilinear", align_corners=False).numpy()
    tables = [identity_table(1, 2), identity_table(2, 2), linear_table(7, 14), linear_table(9, 5)]
    assert_close(run_resize(klib, x, ref.shape, tables, 2), ref, 1e-5, 1e-6)
    ref = F.interpolate(xt, size=(21, 18), mode="nearest").numpy()
    tables = [identity_table(1, 1), identity_table(2, 1), nearest_table(7, 21), nearest_table(9, 18)]
    np.testing.assert_array_equal(run_resize(klib, x, ref.shape, tables, 1), ref)


@pytest.mark.parametrize("shape,out_shape", [
    ((1, 64, 4, 4), (1, 64, 8, 8)),      # many small channels: the nearest gather
    ((2, 5, 7, 9), (2, 5, 3, 20)),       # down on one axis, up on the other
    ((3, 6, 5), (3, 6, 11)),             # rank 3, rows longer than one 8-value gather
    ((2, 4, 6, 5), (2, 4, 13, 5)),       # last axis untouched: no pass sums from 0 along it
    ((1, 3, 2, 2, 2), (1, 3, 4, 3, 5)),
])
def test_resize_nearest_matches_torch(klib, shape, out_shape):
    rng = np.random.default_rng(13)
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[::5] = np.nan
    x.flat[1::9] = -0.0
    tables = [identity_table(n, 1) if n == m else nearest_table(n, m) for n, m in zip(shape, out_shape)]
    got = run_resize(klib, x, out_shape, tables, 1)
    ref = F.interpolate(torch.from_numpy(x), size=out_shape[2:], mode="nearest").numpy()
    np.testing.assert_array_equal(got, ref)
    # out-of-range table entries are clamped into the input
    tables[-1] = ([i + (3 if o % 4 == 0 else -5 if o % 4 == 1 else 0) for o, i in enumerate(tables[-1][0])],
                  tables[-1][1])
    got = run_resize(klib, x, out_shape, tables, 1)
    np.testing.assert_array_equal(got, resize_ref(x, out_shape, tables, 1))


def test_resize_identity_is_copy(klib):
    x = np.random.default_rng(5).standard_normal((2, 3, 4)).astype(np.float32)
    tables = [identity_table(n, 2) for n in x.shape]
    np.testing.assert_array_equal(run_resize(klib, x, x.shape, tables, 2), x)


# ---------------------------------------------------------------------------------------------
# channel affine (BatchNorm), LRN
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("act", ALL_ACTS, ids=lambda a: f"act{a[0]}")
def test_channel_affine(klib, act):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 3, 4)).astype(np.float32)
    sc = rng.standard_normal(5).astype(np.float32)
    sh = rng.standard_normal(5).astype(np.float32)
    out = np.full_like(x, np.nan)
    p = S.ChannelAffineParams(2, 5, 12, S.act(*act))
    klib.o2c_channel_affine(S.ptr(x), S.ptr(sc), S.ptr(sh), S.ptr(out), p)
    ref = x.astype(np.float64) * sc.reshape(1, 5, 1, 1) + sh.reshape(1, 5, 1, 1)
    assert_close(out, unary_ref(ref, *act), 1e-6, 1e-6)


def test_channel_affine_null_scale_or_shift(klib):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    sc = rng.standard_normal(4).astype(np.float32)
    out = np.full_like(x, np.nan)
    klib.o2c_channel_affine(S.ptr(x), S.ptr(sc), None, S.ptr(out), S.ChannelAffineParams(3, 4, 5, S.act()))
    np.testing.assert_array_equal(out, x * sc.reshape(1, 4, 1))
    klib.o2c_channel_affine(S.ptr(x), None, S.ptr(sc), S.ptr(out), S.ChannelAffineParams(3, 4, 5, S.act()))
    np.testing.assert_array_equal(out, x + sc.reshape(1, 4, 1))


def lrn_ref(x, size, alpha, beta, bias):
    C = x.shape[1]
    xd = x.astype(np.float64)
    sq = np.zeros_like(xd)
    for c in range(C):
        lo, hi = max(0, c - (size - 1) // 2), min(C - 1, c + int(np.ceil((size - 1) / 2)))
        sq[:, c] = (xd[:, lo:hi + 1] ** 2).sum(axis=1)
    return xd / (bias + alpha / size * sq) ** beta


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("in_place", [False, True])
def test_lrn(klib, size, in_place):
    x = np.random.default_rng(size).standard_normal((2, 7, 3, 4)).astype(np.float32)
    alpha, beta, bias = 1e-3 * size, 0.75 if size != 4 else 0.6, 1.5
    ref = lrn_ref(x, size, alpha, beta, bias)
    if size % 2 == 1:  # onnxruntime only implements odd sizes
        ort_ref = run_node("LRN", {"x": x}, dict(size=size, alpha=alpha, beta=beta, bias=bias))
        assert_close(ort_ref, ref, 1e-5, 1e-6, "ORT agrees with the ONNX formula")
    out = x.copy() if in_place else np.full_like(x, np.nan)
    src = out if in_place else x
    klib.o2c_lrn(S.ptr(src), S.ptr(out), S.LrnParams(2, 7, 12, size, alpha, beta, bias))
    assert_close(out, ref, 1e-6, 1e-7)
    if size % 2 == 1:
        tref = F.local_response_norm(torch.from_numpy(x).double(), size, alpha, beta, bias).numpy()
        assert_close(out, tref, 1e-6, 1e-7, "torch")


# ---------------------------------------------------------------------------------------------
# reduce
# ---------------------------------------------------------------------------------------------
def reduce_ref(x, op, axes):
    xd = x.astype(np.float64)
    ax = tuple(axes)
    f = {
        S.REDUCE_SUM: lambda: xd.sum(ax, keepdims=True),
        S.REDUCE_MEAN: lambda: xd.mean(ax, keepdims=True),
        S.REDUCE_MAX: lambda: xd.max(ax, keepdims=True),
        S.REDUCE_MIN: lambda: xd.min(ax, keepdims=True),
        S.REDUCE_PROD: lambda: xd.prod(ax, keepdims=True),
        S.REDUCE_L1: lambda: np.abs(xd).sum(ax, keepdims=True),
        S.REDUCE_L2: lambda: np.sqrt((xd ** 2).sum(ax, keepdims=True)),
        S.REDUCE_LOG_SUM_EXP: lambda: np.log(np.exp(xd).sum(ax, keepdims=True)),
        S.REDUCE_SUM_SQUARE: lambda: (xd ** 2).sum(ax, keepdims=True),
        S.REDUCE_LOG_SUM: lambda: np.log(xd.sum(ax, keepdims=True)),
    }[op]
    return f()


def run_reduce(lib, x, op, axes):
    out_shape = [1 if d in axes else n for d, n in enumerate(x.shape)]
    out = np.full(out_shape, np.nan, np.float32)
    red = [1 if d in axes else 0 for d in range(x.ndim)] + [0] * (S.MAX_RANK - x.ndim)
    p = S.ReduceParams(op, x.ndim, S.i64x(x.shape), (ctypes.c_int32 * S.MAX_RANK)(*red))
    lib.o2c_reduce(S.ptr(x), S.ptr(out), p)
    return out


@pytest.mark.parametrize("op", list(range(10)), ids=lambda o: f"op{o}")
@pytest.mark.parametrize("axes", [(0,), (3,), (1, 2), (0, 2), (1, 3), (0, 1, 2, 3), ()])
def test_reduce(klib, op, axes):
    rng = np.random.default_rng(op)
    x = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    if op in (S.REDUCE_LOG_SUM,):
        x = np.abs(x) + 0.1
    if op == S.REDUCE_PROD:
        x = (1.0 + 0.1 * x).astype(np.float32)
    got = run_reduce(klib, x, op, axes)
    assert_close(got, reduce_ref(x, op, axes), 1e-6, 1e-6, f"reduce op {op} axes {axes}")


def test_reduce_log_sum_exp_is_stable(klib):
    x = np.array([[1000.0, 1000.0, -np.inf], [-np.inf, -np.inf, -np.inf]], np.float32)
    got = run_reduce(klib, x, S.REDUCE_LOG_SUM_EXP, (1,))
    assert_close(got[0, 0], 1000.0 + np.log(2.0), 1e-6)
    assert got[1, 0] == -np.inf


def test_reduce_size_one_and_rank0(klib):
    x = np.random.default_rng(9).standard_normal((1, 5, 1)).astype(np.float32)
    for op in range(10):
        xx = np.abs(x) + 0.5
        assert_close(run_reduce(klib, xx, op, (0, 2)), reduce_ref(xx, op, (0, 2)), 1e-6, 1e-7)
    s = np.array(2.5, np.float32)
    for op in (S.REDUCE_SUM, S.REDUCE_L2, S.REDUCE_LOG_SUM_EXP, S.REDUCE_SUM_SQUARE):
        assert_close(run_reduce(klib, s, op, ()), reduce_ref(s, op, ()), 1e-6, 1e-7)
