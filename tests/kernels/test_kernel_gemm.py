"""o2c_gemm (GEMM_RE): shapes around the blocking sizes, transposes, alpha/beta, every bias kind,
every fused activation, batches with strides, the portable micro-kernel, and thread safety."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import _ctypes_structs as S
from _kref import ALL_ACTS, assert_within, kernel_threads, reduction_tol, unary_ref


def run_gemm(lib, A, B, bias, p: S.GemmParams, C=None, fn="o2c_gemm"):
    M, N = p.M, p.N
    if C is None:
        C = np.full(max(p.batch - 1, 0) * p.stride_c + M * N, np.nan, np.float32)
    getattr(lib, fn)(S.ptr(A), S.ptr(B), S.ptr(bias), S.ptr(C), p)
    return C


def ref_gemm(A, B, bias, M, N, K, ta, tb, alpha, beta, bias_kind, act):
    a = A.astype(np.float64).reshape((K, M) if ta else (M, K))
    b = B.astype(np.float64).reshape((N, K) if tb else (K, N))
    a = a.T if ta else a
    b = b.T if tb else b
    acc = alpha * (a @ b)
    bound = abs(alpha) * (np.abs(a) @ np.abs(b))
    if bias_kind:
        bb = bias.astype(np.float64)
        if bias_kind == 1:
            bias_m = np.full((M, N), bb[0])
        elif bias_kind == 2:
            bias_m = np.broadcast_to(bb[:N], (M, N))
        elif bias_kind == 3:
            bias_m = np.broadcast_to(bb[:M, None], (M, N))
        else:
            bias_m = bb[: M * N].reshape(M, N)
        acc = acc + beta * bias_m
        bound = bound + np.abs(beta * bias_m)
    return unary_ref(acc, *act), bound


def check(lib, M, N, K, ta=0, tb=0, alpha=1.0, beta=1.0, bias_kind=0, act=(S.ACT_NONE, 0, 0), seed=0,
          fn="o2c_gemm"):
    rng = np.random.default_rng(seed + 1000 * M + 7 * N + K)
    A = rng.standard_normal(M * K).astype(np.float32)
    B = rng.standard_normal(K * N).astype(np.float32)
    nb = {0: 1, 1: 1, 2: N, 3: M, 4: M * N}[bias_kind]
    bias = rng.standard_normal(nb).astype(np.float32) if bias_kind else None
    p = S.GemmParams(1, M, N, K, 0, 0, 0, ta, tb, alpha, beta, bias_kind, S.act(*act))
    C = run_gemm(lib, A, B, bias, p, fn=fn)
    ref, bound = ref_gemm(A, B, bias, M, N, K, ta, tb, alpha, beta, bias_kind, act)
    assert_within(C.reshape(M, N), ref, reduction_tol(bound, K, 1e-6) + 1e-6 * np.abs(ref),
                  f"gemm M={M} N={N} K={K} ta={ta} tb={tb} bias={bias_kind} act={act}")


SHAPES = [
    (1, 1, 1), (3, 5, 7), (6, 16, 8), (7, 17, 9), (16, 16, 16), (1, 1000, 300), (1, 37, 5000),
    (257, 1, 129), (37, 53, 300), (150, 70, 33), (40, 30, 700), (13, 2100, 20), (145, 33, 321),
    (2, 3, 0),
]


@pytest.mark.parametrize("M,N,K", SHAPES)
@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm_shapes_transposes(klib, M, N, K, ta, tb):
    check(klib, M, N, K, ta, tb)


@pytest.mark.parametrize("bias_kind", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("M,N,K", [(1, 40, 50), (33, 1, 70), (50, 70, 90), (2, 3, 4), (4, 5, 0)])
def test_gemm_bias_alpha_beta(klib, bias_kind, M, N, K):
    check(klib, M, N, K, 0, 1, alpha=0.75, beta=-1.5, bias_kind=bias_kind)
    check(klib, M, N, K, 1, 0, alpha=1.0, beta=1.0, bias_kind=bias_kind)


@pytest.mark.parametrize("act", ALL_ACTS, ids=lambda a: f"act{a[0]}")
@pytest.mark.parametrize("M,N,K", [(1, 64, 80), (40, 50, 60), (3, 4, 5)])
def test_gemm_activations(klib, act, M, N, K):
    check(klib, M, N, K, 0, 0, alpha=0.5, beta=1.0, bias_kind=2, act=act)


@pytest.mark.parametrize("stride_b_zero", [False, True])
@pytest.mark.parametrize("bias_kind", [0, 2, 3])
def test_gemm_batched(klib, stride_b_zero, bias_kind):
    rng = np.random.default_rng(5)
    batch, M, N, K = 3, 20, 24, 35
    sa, sb, sc = M * K, 0 if stride_b_zero else K * N, M * N
    A = rng.standard_normal(batch * sa).astype(np.float32)
    B = rng.standard_normal(max(sb * batch, K * N)).astype(np.float32)
    nb = {0: 1, 2: N, 3: M}[bias_kind]
    bias = rng.standard_normal(nb).astype(np.float32) if bias_kind else None
    p = S.GemmParams(batch, M, N, K, sa, sb, sc, 0, 0, 1.0, 0.5, bias_kind, S.act(S.ACT_RELU))
    C = run_gemm(klib, A, B, bias, p)
    for b in range(batch):
        ref, bound = ref_gemm(A[b * sa:(b + 1) * sa], B[b * sb:b * sb + K * N], bias, M, N, K, 0, 0, 1.0, 0.5,
                              bias_kind, (S.ACT_RELU, 0, 0))
        assert_within(C[b * sc:(b + 1) * sc].reshape(M, N), ref, reduction_tol(bound, K),
                      f"batch {b}")


def test_gemm_broadcast_a_and_padded_c_stride(klib):
    """stride_a 0 broadcasts one A; stride_c larger than M*N leaves gaps untouched."""
    rng = np.random.default_rng(6)
    batch, M, N, K = 2, 5, 7, 9
    A = rng.standard_normal(M * K).astype(np.float32)
    B = rng.standard_normal(batch * K * N).astype(np.float32)
    sc = M * N + 3
    C = np.full(batch * sc, -7.0, np.float32)
    p = S.GemmParams(batch, M, N, K, 0, K * N, sc, 0, 0, 1.0, 1.0, 0, S.act())
    run_gemm(klib, A, B, None, p, C=C)
    for b in range(batch):
        ref, bound = ref_gemm(A, B[b * K * N:(b + 1) * K * N], None, M, N, K, 0, 0, 1.0, 1.0, 0, (0, 0, 0))
        assert_within(C[b * sc:b * sc + M * N].reshape(M, N), ref, reduction_tol(bound, K), f"batch {b}")
        assert np.all(C[b * sc + M * N:(b + 1) * sc] == -7.0)


def test_gemm_api_forms(klib):
    """DASH_GEMM_RE_flt (blocking) gives the same bits as o2c_gemm."""
    rng = np.random.default_rng(8)
    M, N, K = 31, 45, 67
    A = rng.standard_normal(M * K).astype(np.float32)
    B = rng.standard_normal(K * N).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    p = S.GemmParams(1, M, N, K, 0, 0, 0, 0, 0, 1.0, 1.0, 2, S.act(S.ACT_TANH))
    c1 = run_gemm(klib, A, B, bias, p)
    c2 = run_gemm(klib, A, B, bias, p, fn="DASH_GEMM_RE_flt")
    np.testing.assert_array_equal(c1, c2)


@pytest.mark.parametrize("M,N,K", [(6, 16, 8), (37, 53, 300), (150, 70, 400), (1, 90, 70), (70, 1, 90)])
@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 1)])
def test_gemm_portable_kernel(klib_portable, M, N, K, ta, tb):
    check(klib_portable, M, N, K, ta, tb, alpha=1.0, beta=1.0, bias_kind=3, act=(S.ACT_LEAKY_RELU, 0.1, 0))


def test_gemm_concurrent_calls(klib):
    """Several threads calling the kernels at once (ctypes drops the GIL) get the sequential result."""
    rng = np.random.default_rng(9)
    M, N, K = 96, 300, 350
    A = rng.standard_normal(M * K).astype(np.float32)
    B = rng.standard_normal(K * N).astype(np.float32)
    bias = rng.standard_normal(M).astype(np.float32)
    p = S.GemmParams(1, M, N, K, 0, 0, 0, 0, 0, 1.0, 1.0, 3, S.act(S.ACT_RELU))
    ref = run_gemm(klib, A, B, bias, p)
    outs = [np.zeros(M * N, np.float32) for _ in range(6)]

    def work(i):
        for _ in range(5):
            run_gemm(klib, A, B, bias, p, C=outs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(outs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in outs:
        np.testing.assert_array_equal(o, ref)


@pytest.mark.parametrize("tb", [0, 1])
def test_gemv_threads_bit_identical(klib, tb):
    """Large matrix-vector products (fully-connected layers) split their columns over the calling
    thread's workers: the same bits as 1 thread, on both the dot (B transposed) and axpy paths."""
    rng = np.random.default_rng(17)
    M, N, K = 1, 1037, 2311
    A = rng.standard_normal(M * K).astype(np.float32)
    B = rng.standard_normal(K * N).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    p = S.GemmParams(1, M, N, K, 0, 0, 0, 0, tb, 1.0, 1.0, 2, S.act(S.ACT_RELU))
    one = run_gemm(klib, A, B, bias, p)
    with kernel_threads(klib, 3):
        three = run_gemm(klib, A, B, bias, p)
    assert np.array_equal(one.view(np.uint32), three.view(np.uint32))
    ref, bound = ref_gemm(A, B, bias, M, N, K, 0, tb, 1.0, 1.0, 2, (S.ACT_RELU, 0, 0))
    assert_within(one.reshape(M, N), ref, reduction_tol(bound, K, 1e-6) + 1e-6 * np.abs(ref), "gemv")
