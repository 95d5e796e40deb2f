"""Convolutions by output channel (kernels/src/cpu/conv_depthwise.cpp): depthwise, channel multipliers
and small groups, against torch (float64): odd widths (the 32-, 16- and 8-column steps and the row
tails), padding wider than the kernel reach, strides 1-3 per axis, dilations, 1-D/2-D/3-D, 1x1 to
7x7 and a kernel wider than the templated ones, bias or not, every fused activation, the portable
build, and 1 against 2 and 3 threads bit for bit (row slices and channel slices)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import _ctypes_structs as S
from _kref import ALL_ACTS, assert_within, kernel_threads, reduction_tol, unary_ref

torch.set_num_threads(1)

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _params(N, Cin, Cout, G, in_size, out_size, k, s, d, pb, has_bias, act):
    rank = len(in_size)
    p = S.ConvParams()
    p.spatial_rank, p.has_bias = rank, int(has_bias)
    p.batch, p.in_channels, p.out_channels, p.groups = N, Cin, Cout, G
    p.in_size, p.out_size = S.i64x(in_size, 3), S.i64x(out_size, 3)
    p.kernel, p.stride, p.dilation, p.pad_begin = S.i64x(k, 3), S.i64x(s, 3), S.i64x(d, 3), S.i64x(pb, 3)
    p.act = S.act(*act)
    return p


def run(lib, N, Cin, Cout, G, in_size, k, s, d, pb, pe, bias=True, act=(S.ACT_NONE, 0, 0), threads=1, seed=0):
    rank = len(in_size)
    out_size = [(in_size[i] + pb[i] + pe[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(rank)]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, Cin, *in_size)).astype(np.float32)
    w = rng.standard_normal((Cout, Cin // G, *k)).astype(np.float32)
    b = rng.standard_normal(Cout).astype(np.float32) if bias else None
    out = np.full((N, Cout, *out_size), np.nan, np.float32)
    p = _params(N, Cin, Cout, G, in_size, out_size, k, s, d, pb, bias, act)
    with kernel_threads(lib, threads):
        lib.o2c_conv(S.ptr(x), S.ptr(w), S.ptr(b), S.ptr(out), p)
    return x, w, b, out


# activations fused since the chain pass (dash_ml.h 25-28): Swish (alpha), Gelu (erf), Gelu (tanh), Mish
ACT_SWISH, ACT_GELU, ACT_GELU_TANH, ACT_MISH = 25, 26, 27, 28
EXTRA_ACTS = [(ACT_SWISH, 1.0, 0.0), (ACT_SWISH, 1.7, 0.0), (ACT_GELU, 0.0, 0.0), (ACT_GELU_TANH, 0.0, 0.0),
              (ACT_MISH, 0.0, 0.0)]


def act_ref(x, op, a=0.0, b=0.0):
    t = torch.from_numpy(np.asarray(x, np.float64))
    if op == ACT_SWISH:
        return (t * torch.sigmoid(a * t)).numpy()
    if op == ACT_GELU:
        return F.gelu(t).numpy()
    if op == ACT_GELU_TANH:
        return F.gelu(t, approximate="tanh").numpy()
    if op == ACT_MISH:
        return F.mish(t).numpy()
    return unary_ref(x, op, a, b)


def check(lib, N, Cin, Cout, G, in_size, k, s, d, pb, pe, bias=True, act=(S.ACT_NONE, 0, 0), threads=1):
    x, w, b, out = run(lib, N, Cin, Cout, G, in_size, k, s, d, pb, pe, bias, act, threads)
    rank = len(in_size)
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
    pre = ref
    ref = act_ref(ref, *act)
    K = (Cin // G) * int(np.prod(k))
    assert not np.isnan(out).any(), "an output was not written"
    if act[0] in (ACT_SWISH, ACT_GELU, ACT_GELU_TANH, ACT_MISH):
        # the sum's rounding passes through the activation (slope at most ~1.2): the same bound, plus the
        # activation's own few ulp
        tol = 1.2 * reduction_tol(bound, K, 1e-6) + 1e-6 * np.abs(pre) + 4e-7 * np.abs(ref) + 1e-6
        assert_within(out, ref, tol, f"act {act}")
        return out
    assert_within(out, ref, reduction_tol(bound, K, 1e-6) + 1e-6 * np.abs(ref),
                  f"N={N} Cin={Cin} Cout={Cout} G={G} in={in_size} k={k} s={s} d={d} pb={pb} pe={pe}")
    return out


CASES = [
    # N, Cin, Cout, G, in_size, k, s, d, pb, pe
    (1, 5, 5, 5, [13, 45], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),       # 32 + 8 + 5 columns
    (1, 3, 3, 3, [17, 66], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1]),       # stride 2, 33 columns
    (2, 4, 4, 4, [11, 29], [3, 3], [2, 2], [1, 1], [0, 0], [1, 1]),       # stride 2, asymmetric pads
    (1, 6, 6, 6, [20, 37], [5, 5], [1, 1], [1, 1], [2, 2], [2, 2]),       # 5x5
    (1, 6, 6, 6, [21, 40], [5, 5], [2, 2], [1, 1], [2, 2], [2, 2]),       # 5x5 stride 2
    (1, 2, 2, 2, [14, 19], [3, 3], [3, 3], [1, 1], [1, 1], [1, 1]),       # stride 3
    (1, 3, 3, 3, [16, 33], [3, 3], [1, 2], [2, 3], [2, 3], [2, 3]),       # dilated, mixed strides
    (1, 3, 3, 3, [9, 9], [3, 3], [2, 2], [2, 2], [4, 5], [5, 4]),         # padding wider than the reach
    (1, 2, 2, 2, [5, 4], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),         # output narrower than a vector
    (1, 3, 3, 3, [12, 70], [1, 1], [2, 2], [1, 1], [0, 0], [0, 0]),       # 1x1 stride 2
    (1, 2, 2, 2, [15, 50], [7, 7], [2, 2], [1, 1], [3, 3], [3, 3]),       # 7x7
    (1, 2, 2, 2, [12, 90], [3, 9], [1, 2], [1, 1], [1, 4], [1, 4]),       # 9 wide: the run-time kernel width
    (1, 4, 8, 4, [13, 21], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1]),       # channel multiplier 2, strided
    (1, 3, 9, 3, [10, 35], [5, 5], [1, 1], [1, 1], [2, 2], [2, 2]),       # channel multiplier 3
    (1, 8, 8, 4, [12, 19], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),       # groups of 2 in, 2 out
    (2, 12, 6, 3, [9, 41], [3, 3], [2, 2], [1, 1], [1, 1], [0, 0]),       # groups of 4 in, 2 out
    (1, 6, 9, 3, [11, 17], [5, 5], [2, 1], [2, 1], [3, 2], [1, 2]),       # groups of 2 in, 3 out
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"C{c[1]}-{c[2]}g{c[3]}_{c[4]}_k{c[5]}_s{c[6]}_d{c[7]}")
def test_by_channel_2d(klib, case, bias):
    check(klib, *case, bias=bias)


@pytest.mark.parametrize("case", [
    (1, 4, 4, 4, [100], [3], [1], [1], [1], [1]),
    (2, 6, 6, 6, [257], [5], [2], [1], [2], [2]),
    (1, 3, 3, 3, [64], [9], [1], [2], [8], [8]),
    (1, 4, 4, 2, [77], [3], [2], [1], [1], [1]),          # groups of 2 in, 2 out
    (1, 8, 16, 8, [77], [3], [2], [1], [1], [1]),         # channel multiplier on a signal
    (2, 1, 1, 1, [28], [1], [2], [1], [0], [0]),          # one channel in, one out: depthwise too
    (1, 3, 3, 3, [700], [3], [300], [1], [1], [1]),       # huge stride: a phase per column
], ids=str)
def test_by_channel_1d(klib, case):
    check(klib, *case)


@pytest.mark.parametrize("case", [
    (1, 3, 3, 3, [5, 7, 37], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]),
    (1, 4, 4, 4, [6, 9, 20], [3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 1, 1], [0, 1, 1]),
    (1, 4, 8, 4, [4, 6, 10], [2, 3, 3], [1, 2, 1], [2, 1, 1], [1, 1, 1], [1, 1, 1]),
], ids=str)
def test_by_channel_3d(klib, case):
    check(klib, *case)


@pytest.mark.parametrize("act", ALL_ACTS, ids=lambda a: f"act{a[0]}")
@pytest.mark.parametrize("G,Cout", [(6, 6), (3, 6)])
def test_by_channel_activations(klib, act, G, Cout):
    check(klib, 1, 6, Cout, G, [9, 35], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], act=act)


@pytest.mark.parametrize("act", EXTRA_ACTS, ids=lambda a: f"act{a[0]}_{a[1]}")
@pytest.mark.parametrize("G,Cout,Cin", [(6, 6, 6), (1, 24, 6)])  # by channel; the direct path
def test_fused_chain_activations(klib, klib_portable, act, G, Cout, Cin):
    """The activations the chain pass fuses, in the conv epilogue (AVX2 and portable builds)."""
    for lib in (klib, klib_portable):
        check(lib, 1, Cin, Cout, G, [9, 35], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], act=act)


@pytest.mark.parametrize("case", [CASES[i] for i in (0, 1, 4, 7, 11, 12, 15)], ids=str)
def test_by_channel_portable(klib_portable, case):
    check(klib_portable, *case, act=(S.ACT_RELU, 0, 0))


THREAD_CASES = [
    (1, 8, 8, 8, [40, 45], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1]),      # row slices
    (2, 6, 12, 6, [31, 20], [5, 5], [1, 1], [1, 1], [2, 2], [2, 2]),     # row slices, multiplier
    (1, 7, 7, 7, [3, 50], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1]),       # two rows: channel slices
    (3, 5, 5, 5, [300], [5], [2], [1], [2], [2]),                       # 1-D: channel slices over batches
]


@pytest.mark.parametrize("case", THREAD_CASES, ids=str)
@pytest.mark.parametrize("which", ["native", "portable"])
def test_by_channel_threads_bit_identical(klib, klib_portable, case, which):
    lib = klib if which == "native" else klib_portable
    one = check(lib, *case, act=(S.ACT_RELU, 0, 0))
    for t in (2, 3):
        got = run(lib, *case, act=(S.ACT_RELU, 0, 0), threads=t)[3]
        assert np.array_equal(got, one), f"{t} threads differ from 1"


def test_depthwise_padding_taps_keep_nan_and_inf(klib):
    """Padding taps are part of the chain: an infinite weight times a padded zero gives NaN at the
    border outputs that reach the padding, and only there (the direct path and the accelerator do
    the same)."""
    N, C, H, W = 1, 2, 6, 40
    x = np.ones((N, C, H, W), np.float32)
    w = np.ones((C, 1, 3, 3), np.float32)
    w[0, 0, 0, 0] = np.inf  # top-left tap
    out = np.zeros((N, C, H, W), np.float32)
    p = _params(N, C, C, C, [H, W], [H, W], [3, 3], [1, 1], [1, 1], [1, 1], False, (S.ACT_NONE, 0, 0))
    klib.o2c_conv(S.ptr(x), S.ptr(w), S.ptr(None), S.ptr(out), p)
    nan = np.isnan(out[0, 0])
    assert nan[0, :].all() and nan[:, 0].all()  # the top-left tap reads the padding there
    assert np.isinf(out[0, 0, 1:, 1:]).all()
    assert np.array_equal(out[0, 1], np.full((H, W), 9.0, np.float32) - _border_deficit(H, W))


def _border_deficit(H, W):
    """How many of a 3x3 all-ones filter's taps fall into the padding, per output (same padding 1)."""
    rows = np.full(H, 3.0)
    rows[0] = rows[-1] = 2.0
    cols = np.full(W, 3.0)
    cols[0] = cols[-1] = 2.0
    return (9.0 - np.outer(rows, cols)).astype(np.float32)
