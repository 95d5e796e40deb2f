"""o2c_pool against onnxruntime (MaxPool / AveragePool / LpPool, opset 19): strides, asymmetric
pads, dilations, ceil_mode overhang, count_include_pad, 1-D/2-D/3-D; plus torch cross-checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import _ctypes_structs as S
from _kref import assert_close, kernel_threads
from _ort import run_node

KIND_OP = {S.POOL_MAX: "MaxPool", S.POOL_AVG: "AveragePool", S.POOL_LP: "LpPool"}


def run_pool(lib, x, kind, k, s, d, pb, pe, out_spatial, cip=0, p=2, fn="o2c_pool"):
    rank = len(k)
    N, C = x.shape[:2]
    out = np.full((N, C, *out_spatial), np.nan, np.float32)
    prm = S.PoolParams()
    prm.kind, prm.spatial_rank, prm.count_include_pad, prm.p = kind, rank, cip, p
    prm.channels = N * C
    prm.in_size, prm.out_size = S.i64x(x.shape[2:], 3), S.i64x(out_spatial, 3)
    prm.kernel, prm.stride, prm.dilation = S.i64x(k, 3), S.i64x(s, 3), S.i64x(d, 3)
    prm.pad_begin, prm.pad_end = S.i64x(pb, 3), S.i64x(pe, 3)
    getattr(lib, fn)(S.ptr(x), S.ptr(out), prm)
    return out


def check(lib, kind, shape, k, s=None, d=None, pb=None, pe=None, ceil=0, cip=0, p=2, seed=0):
    rank = len(k)
    s, d = s or [1] * rank, d or [1] * rank
    pb, pe = pb or [0] * rank, pe or [0] * rank
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    attrs = dict(kernel_shape=k, strides=s, pads=list(pb) + list(pe))
    if kind == S.POOL_LP:
        attrs["p"] = p
    if ceil:
        attrs["ceil_mode"] = 1
    if kind == S.POOL_AVG:
        attrs["count_include_pad"] = cip
    if any(v != 1 for v in d):
        attrs["dilations"] = d
    ref = run_node(KIND_OP[kind], {"x": x}, attrs)
    got = run_pool(lib, x, kind, k, s, d, pb, pe, ref.shape[2:], cip, p)
    assert_close(got, ref, 2e-6, 1e-6, f"{KIND_OP[kind]} {shape} k={k} s={s} d={d} pads={pb}{pe} ceil={ceil} cip={cip}")


CASES = [
    # shape, k, s, d, pb, pe, ceil
    ((1, 2, 8, 8), [2, 2], [2, 2], None, None, None, 0),
    ((2, 3, 9, 10), [3, 3], [2, 2], None, [1, 1], [1, 1], 0),
    ((1, 2, 9, 10), [3, 3], [2, 2], None, [1, 0], [0, 1], 1),
    ((1, 2, 10, 10), [3, 3], [3, 3], None, [0, 0], [0, 0], 1),
    ((1, 2, 11, 7), [3, 2], [2, 3], None, [1, 1], [1, 1], 1),
    ((1, 2, 7, 7), [7, 7], [1, 1], None, None, None, 0),
    ((1, 3, 6, 6), [2, 2], [1, 1], None, [1, 1], [1, 1], 0),
    ((1, 2, 12, 12), [3, 3], [2, 2], [2, 2], [1, 1], [1, 1], 0),
    ((1, 2, 13, 11), [2, 3], [2, 1], [3, 2], [1, 1], [0, 2], 1),
    ((2, 2, 20), [3], [2], None, [1], [1], 1),
    ((1, 2, 5, 6, 7), [2, 3, 2], [2, 1, 2], None, [1, 1, 0], [0, 1, 1], 1),
]


@pytest.mark.parametrize("case", CASES, ids=[f"p{i}" for i in range(len(CASES))])
def test_maxpool(klib, case):
    shape, k, s, d, pb, pe, ceil = case
    check(klib, S.POOL_MAX, shape, k, s, d, pb, pe, ceil)


@pytest.mark.parametrize("case", CASES, ids=[f"p{i}" for i in range(len(CASES))])
@pytest.mark.parametrize("cip", [0, 1])
def test_avgpool(klib, case, cip):
    shape, k, s, d, pb, pe, ceil = case
    check(klib, S.POOL_AVG, shape, k, s, d, pb, pe, ceil, cip)


@pytest.mark.parametrize("case", [CASES[i] for i in (0, 1, 2, 5, 9, 10)], ids=lambda c: f"{c[0]}")
@pytest.mark.parametrize("p", [1, 2, 3])
def test_lppool(klib, case, p):
    shape, k, s, d, pb, pe, ceil = case
    check(klib, S.POOL_LP, shape, k, s, d, pb, pe, ceil, p=p)


def test_pool_vs_torch(klib):
    """torch's ceil_mode / count_include_pad agree with ORT on these (padding symmetric)."""
    x = np.random.default_rng(3).standard_normal((2, 3, 11, 9)).astype(np.float32)
    xt = torch.from_numpy(x)
    ref = F.max_pool2d(xt, 3, 2, 1, dilation=2, ceil_mode=True).numpy()
    got = run_pool(klib, x, S.POOL_MAX, [3, 3], [2, 2], [2, 2], [1, 1], [1, 1], ref.shape[2:])
    np.testing.assert_array_equal(got, ref)
    ref = F.avg_pool2d(xt, 3, 2, 1, ceil_mode=False, count_include_pad=True).numpy()
    got = run_pool(klib, x, S.POOL_AVG, [3, 3], [2, 2], [1, 1], [1, 1], [1, 1], ref.shape[2:], cip=1,
                   fn="DASH_POOL_flt")
    assert_close(got, ref, 1e-6, 1e-7)


def test_global_average_pool(klib):
    x = np.random.default_rng(4).standard_normal((2, 5, 13, 17)).astype(np.float32)
    got = run_pool(klib, x, S.POOL_AVG, [13, 17], [1, 1], [1, 1], [0, 0], [0, 0], [1, 1])
    assert_close(got, x.astype(np.float64).mean(axis=(2, 3), keepdims=True), 1e-6, 1e-7)


def test_maxpool_nan_and_inf_like_onnxruntime(klib):
    """A NaN does not beat real values (as in onnxruntime); all -inf windows give -inf."""
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 0, 0] = np.nan
    x[0, 0, 0, 1] = -1.0
    x[0, 0, 1, 1] = -2.0
    x[0, 0, 2:, 2:] = -np.inf
    x[0, 0, 2, 1] = np.nan
    x[0, 0, 3, 0] = 5.0
    got = run_pool(klib, x, S.POOL_MAX, [2, 2], [2, 2], [1, 1], [0, 0], [0, 0], [2, 2])
    ref = run_node("MaxPool", {"x": x}, dict(kernel_shape=[2, 2], strides=[2, 2]))
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got[0, 0], [[0.0, 0.0], [5.0, -np.inf]])


THREAD_RUNS = [  # kind, shape, (kernel, stride, dilation, pad begin, pad end, out), threads
    # generic path: channel chunks over the workers
    *[(kd, (2, 37, 33, 35), ([3, 2], [2, 2], [1, 1], [1, 0], [1, 1], [17, 18]), 3)
      for kd in (S.POOL_MAX, S.POOL_AVG, S.POOL_LP)],
    # 2x2/2 tiled path: output rows over the threads
    *[(kd, (1, 64, 66, 70), ([2, 2], [2, 2], [1, 1], [0, 0], [0, 0], [33, 35]), 2) for kd in (S.POOL_MAX, S.POOL_AVG)],
]


@pytest.mark.parametrize("kind,shape,geo,threads", THREAD_RUNS, ids=lambda v: str(v))
def test_pool_threads_bit_identical(klib, kind, shape, geo, threads):
    """Pools split over the calling thread's workers give the same bits as 1 thread."""
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    one = run_pool(klib, x, kind, *geo)
    with kernel_threads(klib, threads):
        many = run_pool(klib, x, kind, *geo)
    assert np.array_equal(one.view(np.uint32), many.view(np.uint32))


# 2x2 / stride 2 / no padding: the vectorized path (whole rows: 8- and 4-output steps, scalar tail)
FAST_SHAPES = [(1, 3, 2, 2), (1, 2, 8, 8), (1, 4, 6, 10), (1, 3, 16, 16), (2, 3, 17, 33), (1, 2, 9, 50),
               (1, 5, 32, 31), (1, 1, 4, 40)]


@pytest.mark.parametrize("shape", FAST_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kind", [S.POOL_MAX, S.POOL_AVG])
def test_pool2x2_fast_path(klib, shape, kind):
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    x.flat[::13] = np.nan if kind == S.POOL_MAX else x.flat[::13]
    x.flat[5::29] = -np.inf if kind == S.POOL_MAX else x.flat[5::29]
    ref = run_node(KIND_OP[kind], {"x": x}, dict(kernel_shape=[2, 2], strides=[2, 2]))
    got = run_pool(klib, x, kind, [2, 2], [2, 2], [1, 1], [0, 0], [0, 0], ref.shape[2:])
    if kind == S.POOL_MAX:
        # NaN never wins (onnxruntime's answer depends on where in the window the NaN sits)
        n, c, oh, ow = ref.shape
        win = x[:, :, :2 * oh, :2 * ow].reshape(n, c, oh, 2, ow, 2)
        want = np.fmax.reduce(np.fmax.reduce(win, axis=5), axis=3)
        want[np.isnan(want)] = -np.inf
        np.testing.assert_array_equal(got, want)
        clean = ~np.isnan(win).any(axis=(3, 5))  # onnxruntime agrees wherever no NaN is involved
        np.testing.assert_array_equal(got[clean], ref[clean])
    else:
        assert_close(got, ref, 1e-6, 1e-7)


TILED = [  # shape, kernel (= stride): 1-D max pools of 4, rows left alone, 2-D max/avg
    ((2, 5, 37), [4]), ((1, 3, 64), [4]), ((1, 2, 130), [2]), ((1, 3, 9, 20), [1, 2]), ((1, 3, 5, 70), [1, 4]),
    ((1, 4, 1, 45), [1, 4]),
]


# (average pools of 4 take the generic path)
TILED_RUNS = [(c, kd) for c in TILED for kd in (S.POOL_MAX, S.POOL_AVG) if kd == S.POOL_MAX or c[1][-1] != 4]


@pytest.mark.parametrize("case,kind", TILED_RUNS, ids=lambda v: f"{'x'.join(map(str, v[0]))}-k{v[1]}" if isinstance(v, tuple) else str(v))
def test_tiled_pools(klib, case, kind):
    shape, k = case
    x = np.random.default_rng(9).standard_normal(shape).astype(np.float32)
    rank = len(k)
    ref = run_node(KIND_OP[kind], {"x": x}, dict(kernel_shape=k, strides=k))
    got = run_pool(klib, x, kind, k, k, [1] * rank, [0] * rank, [0] * rank, ref.shape[2:])
    if kind == S.POOL_MAX:
        np.testing.assert_array_equal(got, ref)
    else:
        assert_close(got, ref, 1e-6, 1e-7)
    if kind == S.POOL_MAX and rank == 1:  # NaN never wins, all-NaN windows give -inf
        x.flat[::3] = np.nan
        x.reshape(-1)[: 4 * (x.shape[-1] // 4)][:4] = np.nan
        got = run_pool(klib, x, kind, k, k, [1], [0], [0], ref.shape[2:])
        n = ref.shape[-1]
        want = np.fmax.reduce(x[..., : n * k[0]].reshape(*x.shape[:-1], n, k[0]), axis=-1)
        want[np.isnan(want)] = -np.inf
        np.testing.assert_array_equal(got, want)


# stride 1 on small maps with many channels (the pass along y over all planes at once, then rows of
# at most 8 outputs as one chunk each); dilations, 1-D and 3-D maps, NaN and -inf for max
SMALL_S1 = [((1, 256, 5, 5), [2, 2], [1, 1]), ((2, 37, 6, 7), [3, 2], [1, 2]), ((1, 19, 9, 4), [2, 3], [2, 1]),
            ((3, 11, 12), [3], [1]), ((1, 7, 3, 5, 6), [1, 2, 3], [1, 1, 2]), ((1, 5, 4, 17), [2, 9], [1, 1]),
            ((1, 1200, 11, 11), [2, 2], [1, 1])]  # enough work for 2 threads


@pytest.mark.parametrize("case", SMALL_S1, ids=lambda c: "x".join(map(str, c[0])))
@pytest.mark.parametrize("kind", [S.POOL_MAX, S.POOL_AVG])
def test_pool_stride1_small_maps(klib, case, kind):
    shape, k, d = case
    rank = len(k)
    x = np.random.default_rng(10).standard_normal(shape).astype(np.float32)
    attrs = dict(kernel_shape=k, strides=[1] * rank, dilations=d)
    if kind == S.POOL_MAX:
        x.flat[::13] = -np.inf
        x.flat[6::17] = np.nan
    ref = run_node(KIND_OP[kind], {"x": x}, attrs)
    got = run_pool(klib, x, kind, k, [1] * rank, d, [0] * rank, [0] * rank, ref.shape[2:])
    if kind == S.POOL_MAX:
        # NaN never wins: wherever the NaN-free input gives the same maximum, that is the answer
        xc = np.where(np.isnan(x), -np.inf, x)
        want = run_node("MaxPool", {"x": xc}, attrs)
        np.testing.assert_array_equal(got, want)
    else:
        assert_close(got, ref, 1e-6, 1e-7)
    # the channels split over the threads (pools with enough work): the same bits
    with kernel_threads(klib, 2):
        two = run_pool(klib, x, kind, k, [1] * rank, d, [0] * rank, [0] * rank, ref.shape[2:])
    assert np.array_equal(got.view(np.uint32), two.view(np.uint32))
