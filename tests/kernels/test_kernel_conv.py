"""o2c_conv / o2c_conv_transpose against torch (float64): 1-D/2-D/3-D, strides, asymmetric
pads, dilations, groups (incl. depthwise and channel multipliers), bias, every activation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import _ctypes_structs as S
from _kref import ALL_ACTS, assert_within, kernel_threads, reduction_tol, unary_ref

torch.set_num_threads(1)

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def conv_params(rank, N, Cin, Cout, G, in_size, out_size, k, s, d, pb, has_bias, act):
    p = S.ConvParams()
    p.spatial_rank, p.has_bias = rank, int(has_bias)
    p.batch, p.in_channels, p.out_channels, p.groups = N, Cin, Cout, G
    p.in_size, p.out_size = S.i64x(in_size, 3), S.i64x(out_size, 3)
    p.kernel, p.stride, p.dilation, p.pad_begin = S.i64x(k, 3), S.i64x(s, 3), S.i64x(d, 3), S.i64x(pb, 3)
    p.act = S.act(*act)
    return p


def check_conv(lib, N, Cin, Cout, G, in_size, k, s=None, d=None, pb=None, pe=None, bias=True,
               act=(S.ACT_NONE, 0, 0), fn="o2c_conv", seed=0):
    rank = len(in_size)
    s = s or [1] * rank
    d = d or [1] * rank
    pb = pb or [0] * rank
    pe = pe or [0] * rank
    out_size = [(in_size[i] + pb[i] + pe[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(rank)]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, Cin, *in_size)).astype(np.float32)
    w = rng.standard_normal((Cout, Cin // G, *k)).astype(np.float32)
    b = rng.standard_normal(Cout).astype(np.float32) if bias else None
    out = np.full((N, Cout, *out_size), np.nan, np.float32)
    p = conv_params(rank, N, Cin, Cout, G, in_size, out_size, k, s, d, pb, bias, act)
    getattr(lib, fn)(S.ptr(x), S.ptr(w), S.ptr(b), S.ptr(out), p)

    pad = []
    for i in reversed(range(rank)):
        pad += [pb[i], pe[i]]
    xt = F.pad(torch.from_numpy(x).double(), pad)
    wt = torch.from_numpy(w).double()
    ref = CONV[rank](xt, wt, None, stride=s, dilation=d, groups=G).numpy()
    bound = CONV[rank](xt.abs(), wt.abs(), None, stride=s, dilation=d, groups=G).numpy()
    if bias:
        shape = (1, Cout) + (1,) * rank
        ref = ref + b.astype(np.float64).reshape(shape)
        bound = bound + np.abs(b.astype(np.float64)).reshape(shape)
    ref = unary_ref(ref, *act)
    K = (Cin // G) * int(np.prod(k))
    assert_within(out, ref, reduction_tol(bound, K, 1e-6) + 1e-6 * np.abs(ref),
                  f"conv N={N} Cin={Cin} Cout={Cout} G={G} in={in_size} k={k} s={s} d={d} pb={pb} pe={pe}")


CONV2D_CASES = [
    # N, Cin, Cout, G, in_size, k, s, d, pb, pe
    (1, 3, 8, 1, [9, 11], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    (2, 4, 6, 1, [10, 7], [3, 2], [2, 1], [1, 1], [0, 1], [2, 0]),
    (1, 5, 7, 1, [12, 12], [3, 3], [1, 1], [2, 2], [2, 2], [2, 2]),
    (1, 8, 8, 2, [9, 9], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1]),
    (1, 12, 6, 3, [7, 8], [1, 3], [1, 2], [1, 1], [0, 1], [0, 1]),
    (1, 6, 6, 6, [11, 13], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),    # depthwise
    (2, 5, 5, 5, [12, 9], [5, 5], [2, 2], [1, 1], [2, 2], [2, 1]),     # depthwise strided
    (1, 4, 4, 4, [15, 15], [3, 3], [1, 2], [2, 3], [2, 3], [1, 0]),    # depthwise dilated
    (1, 3, 3, 3, [9, 77], [3, 3], [1, 1], [1, 2], [1, 2], [1, 2]),     # depthwise, rows > 32 columns
    (1, 3, 3, 3, [9, 64], [5, 5], [2, 1], [1, 1], [2, 2], [2, 2]),     # depthwise, 64 columns exactly
    (1, 4, 8, 4, [9, 9], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),      # channel multiplier 2
    (1, 16, 24, 1, [10, 10], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0]),  # pointwise GEMM
    (1, 16, 24, 1, [10, 10], [1, 1], [2, 2], [1, 1], [0, 0], [0, 0]),  # 1x1 stride 2
    (1, 8, 9, 1, [50, 50], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0]),    # N > NC
    (1, 64, 20, 1, [12, 14], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),  # K > KC
    (1, 3, 16, 1, [48, 48], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),   # N > NC through im2col
    (1, 3, 7, 1, [20, 17], [7, 7], [2, 2], [1, 1], [3, 3], [3, 3]),
    (1, 2, 3, 1, [4, 4], [5, 5], [1, 1], [1, 1], [3, 3], [3, 3]),      # kernel larger than input
    (1, 4, 4, 1, [6, 6], [3, 3], [3, 3], [1, 1], [0, 0], [0, 0]),
    (1, 4, 150, 1, [6, 7], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),   # M > MC, direct path
    (1, 4, 150, 1, [9, 9], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1]),   # M > MC, im2col path
    (2, 6, 9, 3, [8, 8], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),     # grouped, direct path
    (1, 32, 8, 1, [32, 32], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0]),  # power-of-two planes
    (1, 3, 5, 1, [9, 10], [2, 4], [1, 1], [3, 1], [0, 2], [4, 1]),    # asymmetric, dilated, direct
    # heavily dilated with many output channels: the implicit-im2col GEMM path
    (1, 8, 96, 1, [14, 14], [3, 3], [1, 1], [6, 6], [6, 6], [6, 6]),
    (1, 8, 96, 1, [15, 15], [3, 3], [2, 2], [5, 5], [5, 5], [5, 5]),
    (2, 4, 200, 2, [5, 5], [3, 3], [1, 1], [4, 4], [4, 4], [4, 4]),
    (1, 3, 16, 1, [40, 70], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),  # several wide blocks per row
    # stride 2 along x on wide rows: both x phases built in one pass, 8 columns at a time
    (1, 4, 8, 1, [21, 45], [3, 3], [2, 2], [1, 1], [1, 1], [0, 1]),
    (1, 3, 6, 1, [19, 40], [4, 4], [2, 2], [1, 1], [0, 0], [2, 2]),
    (1, 5, 7, 1, [9, 53], [5, 5], [1, 2], [1, 1], [2, 2], [2, 1]),
    (1, 3, 5, 1, [11, 38], [3, 3], [2, 2], [1, 2], [2, 2], [2, 2]),   # dilated: one x phase only
]


@pytest.mark.parametrize("case", CONV2D_CASES, ids=[f"c{i}" for i in range(len(CONV2D_CASES))])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(klib, case, bias):
    N, Cin, Cout, G, in_size, k, s, d, pb, pe = case
    check_conv(klib, N, Cin, Cout, G, in_size, k, s, d, pb, pe, bias=bias, act=(S.ACT_RELU, 0, 0))


@pytest.mark.parametrize("case", [
    (2, 3, 5, 1, [17], [3], [1], [1], [1], [1]),
    (1, 4, 6, 2, [20], [5], [2], [2], [3], [0]),
    (1, 6, 6, 6, [33], [3], [1], [1], [1], [1]),
    (1, 8, 4, 1, [40], [1], [1], [1], [0], [0]),
], ids=lambda c: f"1d_{c[4][0]}_{c[5][0]}")
def test_conv1d(klib, case):
    N, Cin, Cout, G, in_size, k, s, d, pb, pe = case
    check_conv(klib, N, Cin, Cout, G, in_size, k, s, d, pb, pe)


@pytest.mark.parametrize("case", [
    (1, 3, 4, 1, [6, 7, 8], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]),
    (2, 4, 4, 2, [5, 9, 6], [2, 3, 3], [1, 2, 1], [1, 1, 2], [0, 1, 2], [1, 1, 0]),
    (1, 3, 3, 3, [5, 6, 7], [3, 3, 3], [2, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]),  # depthwise 3-D
    (1, 5, 6, 1, [4, 4, 4], [1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0]),
], ids=lambda c: f"3d_{c[3]}_{c[5][0]}")
def test_conv3d(klib, case):
    N, Cin, Cout, G, in_size, k, s, d, pb, pe = case
    check_conv(klib, N, Cin, Cout, G, in_size, k, s, d, pb, pe)


@pytest.mark.parametrize("act", ALL_ACTS, ids=lambda a: f"act{a[0]}")
@pytest.mark.parametrize("G", [1, 6])
def test_conv_activations(klib, act, G):
    check_conv(klib, 1, 6, 6, G, [8, 9], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], act=act)


def test_conv_api_blocking(klib):
    check_conv(klib, 1, 5, 7, 1, [9, 9], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], fn="DASH_CONV_flt")


@pytest.mark.parametrize("case", [CONV2D_CASES[i] for i in (0, 3, 5, 9, 12, 13)], ids=lambda c: f"{c[1]}_{c[5]}")
def test_conv_portable_kernel(klib_portable, case):
    N, Cin, Cout, G, in_size, k, s, d, pb, pe = case
    check_conv(klib_portable, N, Cin, Cout, G, in_size, k, s, d, pb, pe, act=(S.ACT_RELU, 0, 0))


# ---------------------------------------------------------------------------------------------
# ConvTranspose
# ---------------------------------------------------------------------------------------------
def check_convt(lib, N, Cin, Cout, G, in_size, k, s, d, pb, out_size, bias=True, act=(S.ACT_NONE, 0, 0),
                fn="o2c_conv_transpose", seed=0):
    rank = len(in_size)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, Cin, *in_size)).astype(np.float32)
    w = rng.standard_normal((Cin, Cout // G, *k)).astype(np.float32)
    b = rng.standard_normal(Cout).astype(np.float32) if bias else None
    out = np.full((N, Cout, *out_size), np.nan, np.float32)
    p = conv_params(rank, N, Cin, Cout, G, in_size, out_size, k, s, d, pb, bias, act)
    getattr(lib, fn)(S.ptr(x), S.ptr(w), S.ptr(b), S.ptr(out), p)

    xt, wt = torch.from_numpy(x).double(), torch.from_numpy(w).double()
    full = CONVT[rank](xt, wt, None, stride=s, dilation=d, groups=G).numpy()
    fbound = CONVT[rank](xt.abs(), wt.abs(), None, stride=s, dilation=d, groups=G).numpy()
    ref = np.zeros((N, Cout, *out_size))
    bound = np.zeros_like(ref)
    # out[o] = full[o + pad_begin] where that exists
    src, dst = [slice(None), slice(None)], [slice(None), slice(None)]
    for i in range(rank):
        lo = max(0, -pb[i])
        hi = min(out_size[i], full.shape[2 + i] - pb[i])
        dst.append(slice(lo, hi))
        src.append(slice(lo + pb[i], hi + pb[i]))
    ref[tuple(dst)] = full[tuple(src)]
    bound[tuple(dst)] = fbound[tuple(src)]
    if bias:
        shape = (1, Cout) + (1,) * rank
        ref = ref + b.astype(np.float64).reshape(shape)
        bound = bound + np.abs(b.astype(np.float64)).reshape(shape)
    ref = unary_ref(ref, *act)
    K = (Cin // G) * int(np.prod(k))
    assert_within(out, ref, reduction_tol(bound, K, 1e-6) + 1e-6 * np.abs(ref),
                  f"convT Cin={Cin} Cout={Cout} G={G} in={in_size} k={k} s={s} d={d} pb={pb} out={out_size}")


def t_out(in_size, k, s, d, pb, pe, op):
    return [(in_size[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 + op[i] - pb[i] - pe[i] for i in range(len(in_size))]


CONVT_CASES = [
    # N, Cin, Cout, G, in, k, s, d, pb, pe, output_padding
    (1, 4, 3, 1, [5, 6], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], [1, 1]),
    (2, 3, 5, 1, [4, 4], [4, 4], [2, 2], [1, 1], [1, 1], [1, 1], [0, 0]),
    (1, 4, 6, 2, [5, 5], [3, 3], [1, 2], [1, 1], [0, 1], [2, 0], [0, 1]),
    (1, 3, 2, 1, [6, 5], [3, 2], [1, 1], [2, 2], [2, 0], [0, 1], [0, 0]),
    (1, 6, 6, 6, [7, 7], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], [1, 1]),  # depthwise transpose
    (1, 2, 3, 1, [3, 3], [5, 5], [3, 3], [1, 1], [0, 0], [0, 0], [2, 2]),
    (1, 40, 8, 1, [9, 9], [2, 2], [2, 2], [1, 1], [0, 0], [0, 0], [0, 0]),
]


@pytest.mark.parametrize("case", CONVT_CASES, ids=[f"t{i}" for i in range(len(CONVT_CASES))])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose_2d(klib, case, bias):
    N, Cin, Cout, G, in_size, k, s, d, pb, pe, op = case
    out = t_out(in_size, k, s, d, pb, pe, op)
    check_convt(klib, N, Cin, Cout, G, in_size, k, s, d, pb, out, bias=bias)


def test_conv_transpose_1d_3d(klib):
    out = t_out([7], [4], [3], [1], [1], [2], [2])
    check_convt(klib, 2, 3, 4, 1, [7], [4], [3], [1], [1], out, act=(S.ACT_LEAKY_RELU, 0.2, 0))
    out = t_out([3, 4, 5], [3, 3, 2], [2, 1, 2], [1, 2, 1], [1, 0, 1], [0, 1, 0], [1, 0, 1])
    check_convt(klib, 1, 4, 6, 2, [3, 4, 5], [3, 3, 2], [2, 1, 2], [1, 2, 1], [1, 0, 1], out)


@pytest.mark.parametrize("case", [
    # N, Cin, Cout, G, in, k (= stride)
    (1, 8, 8, 1, [13, 11], [2, 2]),
    (2, 6, 4, 2, [5, 7], [3, 2]),
    (1, 5, 3, 1, [9], [4]),
    (1, 4, 6, 1, [3, 4, 5], [1, 2, 2]),
], ids=["2d", "grouped", "1d", "3d"])
def test_conv_transpose_tiles_match_col2im(klib, case):
    """Kernel == stride without padding tiles the output, which skips the column matrix: against
    torch, and bit for bit against the GEMM + col2im path (the same call with one output-padding row
    and column more, which that path takes, agrees on every other element)."""
    N, Cin, Cout, G, in_size, k = case
    rank = len(in_size)
    one, zero = [1] * rank, [0] * rank
    act = (S.ACT_LEAKY_RELU, 0.1, 0)
    check_convt(klib, N, Cin, Cout, G, in_size, k, k, one, zero, [i * s for i, s in zip(in_size, k)], act=act)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, Cin, *in_size)).astype(np.float32)
    w = rng.standard_normal((Cin, Cout // G, *k)).astype(np.float32)
    b = rng.standard_normal(Cout).astype(np.float32)
    outs = []
    for extra in (0, 1):
        o = [i * s + extra for i, s in zip(in_size, k)]
        out = np.full((N, Cout, *o), np.nan, np.float32)
        klib.o2c_conv_transpose(S.ptr(x), S.ptr(w), S.ptr(b), S.ptr(out),
                                conv_params(rank, N, Cin, Cout, G, in_size, o, k, k, one, zero, True, act))
        outs.append(out)
    inner = (slice(None), slice(None)) + tuple(slice(0, i * s) for i, s in zip(in_size, k))
    assert np.array_equal(outs[0].view(np.uint32), outs[1][inner].view(np.uint32))


def test_conv_transpose_large_chunks(klib):
    """Column matrix larger than one chunk: several GEMM + col2im rounds per group."""
    out = t_out([40, 40], [4, 4], [2, 2], [1, 1], [1, 1], [1, 1], [0, 0])
    check_convt(klib, 1, 8, 64, 1, [40, 40], [4, 4], [2, 2], [1, 1], [1, 1], out)


@pytest.mark.parametrize("act", ALL_ACTS, ids=lambda a: f"act{a[0]}")
def test_conv_transpose_activations(klib, act):
    out = t_out([5, 5], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], [1, 1])
    check_convt(klib, 1, 3, 4, 1, [5, 5], [3, 3], [2, 2], [1, 1], [1, 1], out, act=act)
    check_convt(klib, 1, 3, 4, 1, [5, 5], [3, 3], [2, 2], [1, 1], [1, 1], out, act=act,
                fn="DASH_CONV_TRANSPOSE_flt")


def test_conv_transpose_portable(klib_portable):
    out = t_out([5, 6], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], [1, 1])
    check_convt(klib_portable, 1, 4, 3, 1, [5, 6], [3, 3], [2, 2], [1, 1], [1, 1], out)


def test_conv_concurrent_calls(klib):
    """Several threads running convolutions at once (direct, im2col and depthwise paths) get the
    results of sequential calls: the kernels keep no shared mutable state."""
    import threading

    rng = np.random.default_rng(11)
    cases = []
    for (Cin, Cout, G, hw, k, s, d) in ((8, 16, 1, 20, 3, 1, 1), (8, 96, 1, 14, 3, 1, 6), (6, 6, 6, 17, 3, 2, 1)):
        pad = d * (k // 2)
        o = (hw + 2 * pad - d * (k - 1) - 1) // s + 1
        x = rng.standard_normal((1, Cin, hw, hw)).astype(np.float32)
        w = rng.standard_normal((Cout, Cin // G, k, k)).astype(np.float32)
        b = rng.standard_normal(Cout).astype(np.float32)
        p = conv_params(2, 1, Cin, Cout, G, [hw, hw], [o, o], [k, k], [s, s], [d, d], [pad, pad], True,
                        (S.ACT_RELU, 0, 0))
        ref = np.zeros((1, Cout, o, o), np.float32)
        klib.o2c_conv(S.ptr(x), S.ptr(w), S.ptr(b), S.ptr(ref), p)
        cases.append((x, w, b, p, ref))
    errors = []

    def work(i):
        x, w, b, p, ref = cases[i % len(cases)]
        out = np.zeros_like(ref)
        for _ in range(10):
            klib.o2c_conv(S.ptr(x), S.ptr(w), S.ptr(b), S.ptr(out), p)
            if not np.array_equal(out, ref):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---------------------------------------------------------------------------------------------
# Threads: outputs split across threads, never a reduction -> bit-identical for any count
# ---------------------------------------------------------------------------------------------
THREAD_CASES = [  # N, Cin, Cout, G, in, k, s, pad (large enough to be split; odd channel counts)
    (1, 16, 37, 1, [40, 40], [3, 3], [1, 1], [1, 1]),
    (1, 64, 130, 1, [8, 8], [3, 3], [1, 1], [1, 1]),
    (2, 8, 20, 2, [33, 31], [5, 5], [2, 2], [2, 2]),
    (1, 4, 64, 1, [3000], [9], [2], [4]),
    (1, 8, 24, 1, [6, 20, 20], [3, 3, 3], [1, 1, 1], [1, 1, 1]),  # 3-D: slices of depth
    (1, 16, 40, 1, [20, 20], [3, 3], [1, 1], [4, 4]),  # edge slices mostly padding
    (1, 64, 64, 1, [3, 256], [3, 3], [1, 1], [0, 1]),  # one output row from three input rows
]


def _conv_threads(lib, case, threads):
    N, Cin, Cout, G, in_size, k, s, pad = case
    rank = len(in_size)
    out_size = [(i + 2 * p - kk) // st + 1 for i, p, kk, st in zip(in_size, pad, k, s)]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, Cin, *in_size)).astype(np.float32)
    w = rng.standard_normal((Cout, Cin // G, *k)).astype(np.float32)
    b = rng.standard_normal(Cout).astype(np.float32)
    out = np.full((N, Cout, *out_size), np.nan, np.float32)
    p = conv_params(rank, N, Cin, Cout, G, in_size, out_size, k, s, [1] * rank, pad, True, (S.ACT_RELU, 0, 0))
    with kernel_threads(lib, threads):
        lib.o2c_conv(S.ptr(x), S.ptr(w), S.ptr(b), S.ptr(out), p)
    return out


@pytest.mark.parametrize("case", THREAD_CASES, ids=lambda c: f"{c[1]}x{c[4]}->{c[2]}")
@pytest.mark.parametrize("which", ["native", "portable"])
def test_conv_threads_bit_identical(klib, klib_portable, case, which):
    lib = klib if which == "native" else klib_portable
    one = _conv_threads(lib, case, 1)
    assert not np.isnan(one).any()
    for t in (2, 3):
        assert np.array_equal(_conv_threads(lib, case, t), one), f"{t} threads differ from 1"
