"""The public CEDR APIs' CPU implementations through their blocking entry points: FFT (float,
int), complex GEMM (float, int), ZIP (all ops, float and int), CONV_2D_int, CONV_1D_flt."""
from __future__ import annotations

import numpy as np
import pytest

import _ctypes_structs as S
from _kref import assert_within, reduction_tol


def to_c(z: np.ndarray) -> np.ndarray:
    """complex -> interleaved float32 (dash_cmplx_flt_type: re, im)."""
    out = np.empty(z.shape + (2,), np.float32)
    out[..., 0], out[..., 1] = z.real, z.imag
    return out


def from_c(a: np.ndarray) -> np.ndarray:
    return a[..., 0].astype(np.float64) + 1j * a[..., 1].astype(np.float64)


def to_ci(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    """int16 complex with the public layout (im, re)."""
    out = np.empty(re.shape + (2,), np.int16)
    out[..., 0], out[..., 1] = im, re
    return out


def round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def sat16(v):
    return np.clip(round_half_away(np.asarray(v, np.float64)), -32768, 32767).astype(np.int16)


# ---------------------------------------------------------------------------------------------
# FFT
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 64, 256, 1024, 4096, 12, 7])
@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("in_place", [False, True])
def test_fft_flt(klib, n, forward, in_place):
    rng = np.random.default_rng(n)
    z = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    x = to_c(z)
    out = x if in_place else np.full_like(x, np.nan)
    klib.DASH_FFT_flt(x.ctypes.data, out.ctypes.data, n, forward)
    zd = z.astype(np.complex128)
    ref = np.fft.fft(zd) if forward else np.fft.ifft(zd)
    got = from_c(out)
    err = np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30)
    assert err < 2e-7 * max(1.0, np.log2(n)) + 1e-7, f"relative error {err}"
    if not in_place:
        np.testing.assert_array_equal(x, to_c(z))  # input untouched


def test_fft_round_trip(klib):
    z = np.random.default_rng(1).standard_normal(512).astype(np.float32) + 0j
    x = to_c(z)
    klib.DASH_FFT_flt(x.ctypes.data, x.ctypes.data, 512, True)
    klib.DASH_FFT_flt(x.ctypes.data, x.ctypes.data, 512, False)
    np.testing.assert_allclose(from_c(x), z, atol=1e-5)


@pytest.mark.parametrize("n", [8, 64, 256])
@pytest.mark.parametrize("forward", [True, False])
def test_fft_int(klib, n, forward):
    rng = np.random.default_rng(n)
    re = rng.integers(-300, 300, n).astype(np.int16)
    im = rng.integers(-300, 300, n).astype(np.int16)
    x = to_ci(re, im)
    out = np.zeros_like(x)
    klib.DASH_FFT_int(x.ctypes.data, out.ctypes.data, n, forward)
    z = re.astype(np.float64) + 1j * im
    ref = np.fft.fft(z) if forward else np.fft.ifft(z)
    # computed in float: a value next to .5 may round the other way
    assert np.abs(out[:, 1].astype(np.int64) - sat16(ref.real)).max() <= 1
    assert np.abs(out[:, 0].astype(np.int64) - sat16(ref.imag)).max() <= 1


def test_fft_int_saturates(klib):
    n = 16
    re = np.full(n, 30000, np.int16)
    im = np.full(n, -30000, np.int16)
    x = to_ci(re, im)
    klib.DASH_FFT_int(x.ctypes.data, x.ctypes.data, n, True)  # in place
    assert x[0, 1] == 32767 and x[0, 0] == -32768
    assert np.all(x[1:] == 0)


# ---------------------------------------------------------------------------------------------
# complex GEMM
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (3, 4, 5), (8, 8, 8), (33, 47, 29), (64, 200, 70), (5, 400, 3),
                                   (1, 64, 2100)])
def test_complex_gemm_flt(klib, M, K, N):
    rng = np.random.default_rng(M * K * N)
    A = (rng.standard_normal((M, K)) + 1j * rng.standard_normal((M, K))).astype(np.complex64)
    B = (rng.standard_normal((K, N)) + 1j * rng.standard_normal((K, N))).astype(np.complex64)
    a, b = to_c(A), to_c(B)
    c = np.full((M, N, 2), np.nan, np.float32)
    klib.DASH_GEMM_flt(a.ctypes.data, b.ctypes.data, c.ctypes.data, M, K, N)
    ref = A.astype(np.complex128) @ B.astype(np.complex128)
    bound = (np.abs(A.real) + np.abs(A.imag)).astype(np.float64) @ (np.abs(B.real) + np.abs(B.imag))
    got = from_c(c)
    tol = reduction_tol(bound, 2 * K, 1e-6)
    assert_within(got.real, ref.real, tol, "re")
    assert_within(got.imag, ref.imag, tol, "im")


def test_complex_gemm_flt_portable(klib_portable):
    rng = np.random.default_rng(3)
    M, K, N = 40, 70, 50
    A = (rng.standard_normal((M, K)) + 1j * rng.standard_normal((M, K))).astype(np.complex64)
    B = (rng.standard_normal((K, N)) + 1j * rng.standard_normal((K, N))).astype(np.complex64)
    a, b = to_c(A), to_c(B)
    c = np.full((M, N, 2), np.nan, np.float32)
    args = [np.array([v], dtype=np.uint64) for v in (a.ctypes.data, b.ctypes.data, c.ctypes.data, M, K, N)]
    klib_portable.DASH_GEMM_flt_cpu(*[x.ctypes.data for x in args])
    ref = A.astype(np.complex128) @ B.astype(np.complex128)
    np.testing.assert_allclose(from_c(c), ref, atol=1e-4 * np.sqrt(K))


def test_complex_gemm_int(klib):
    rng = np.random.default_rng(4)
    M, K, N = 7, 9, 5
    ar, ai = rng.integers(-200, 200, (M, K)), rng.integers(-200, 200, (M, K))
    br, bi = rng.integers(-200, 200, (K, N)), rng.integers(-200, 200, (K, N))
    ar[0, :], br[:, 0], ai[0, :], bi[:, 0] = 180, 180, 0, 0      # saturates high at (0,0)
    ar[1, :], br[:, 1], ai[1, :], bi[:, 1] = 180, -180, 0, 0     # saturates low at (1,1)
    a, b = to_ci(ar, ai), to_ci(br, bi)
    c = np.zeros((M, N, 2), np.int16)
    klib.DASH_GEMM_int(a.ctypes.data, b.ctypes.data, c.ctypes.data, M, K, N)
    A = ar.astype(np.int64) + 1j * ai
    B = br.astype(np.int64) + 1j * bi
    ref = A @ B
    np.testing.assert_array_equal(c[..., 1], np.clip(ref.real, -32768, 32767))
    np.testing.assert_array_equal(c[..., 0], np.clip(ref.imag, -32768, 32767))
    assert c[0, 0, 1] == 32767 and c[1, 1, 1] == -32768


# ---------------------------------------------------------------------------------------------
# ZIP
# ---------------------------------------------------------------------------------------------
ZIP_REF = {
    S.ZIP_ADD: lambda a, b: a + b, S.ZIP_SUB: lambda a, b: a - b, S.ZIP_MULT: lambda a, b: a * b,
    S.ZIP_DIV: lambda a, b: a / b, S.ZIP_CMP_MULT: lambda a, b: a * np.conj(b),
}


@pytest.mark.parametrize("op", list(ZIP_REF), ids=lambda o: f"op{o}")
@pytest.mark.parametrize("in_place", [False, True])
def test_zip_flt(klib, op, in_place):
    rng = np.random.default_rng(op)
    n = 1001
    A = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    B = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    B[:3] = [1e30 + 1e30j, 1e-30 + 2e-30j, 3.0 + 0j]  # Smith's division stays finite here
    a, b = to_c(A), to_c(B)
    out = a if in_place else np.full_like(a, np.nan)
    klib.DASH_ZIP_flt(a.ctypes.data, b.ctypes.data, out.ctypes.data, n, op)
    ref = ZIP_REF[op](A.astype(np.complex128), B.astype(np.complex128))
    got = from_c(out)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-30)


@pytest.mark.parametrize("op", list(ZIP_REF), ids=lambda o: f"op{o}")
def test_zip_int(klib, op):
    rng = np.random.default_rng(10 + op)
    n = 500
    ar, ai = rng.integers(-32768, 32768, n), rng.integers(-32768, 32768, n)
    br, bi = rng.integers(-300, 300, n), rng.integers(-300, 300, n)
    br[0] = bi[0] = 0  # zero divisor
    a, b = to_ci(ar, ai), to_ci(br, bi)
    out = np.zeros_like(a)
    klib.DASH_ZIP_int(a.ctypes.data, b.ctypes.data, out.ctypes.data, n, op)
    A = ar.astype(np.int64) + 1j * ai.astype(np.int64)
    Bc = br.astype(np.int64) + 1j * bi.astype(np.int64)
    if op == S.ZIP_DIV:
        den = (br.astype(np.float64) ** 2 + bi.astype(np.float64) ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            rr = (ar * br + ai * bi) / den
            ri = (ai * br - ar * bi) / den
        exp_re, exp_im = sat16(np.nan_to_num(rr)), sat16(np.nan_to_num(ri))
        exp_re[0] = exp_im[0] = 0
    else:
        r = ZIP_REF[op](A, Bc)
        exp_re = np.clip(np.round(r.real), -32768, 32767)
        exp_im = np.clip(np.round(r.imag), -32768, 32767)
    np.testing.assert_array_equal(out[:, 1], exp_re)
    np.testing.assert_array_equal(out[:, 0], exp_im)
    if op in (S.ZIP_ADD, S.ZIP_MULT):
        assert (out[:, 1] == 32767).any() or (out[:, 1] == -32768).any()


# ---------------------------------------------------------------------------------------------
# CONV_2D_int
# ---------------------------------------------------------------------------------------------
def conv2d_int_ref(x, mask):
    H, W = x.shape
    m = mask.shape[0]
    h = m // 2
    xp = np.zeros((H + m, W + m))
    xp[h:h + H, h:h + W] = x
    acc = np.zeros((H, W))
    for i in range(m):
        for j in range(m):
            acc += mask[i, j].astype(np.float64) * xp[i:i + H, j:j + W]
    return sat16(acc)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("H,W", [(1, 1), (7, 9), (16, 16)])
def test_conv_2d_int(klib, m, H, W):
    rng = np.random.default_rng(m * 100 + H)
    x = rng.integers(-2000, 2000, (H, W)).astype(np.int16)
    mask = rng.standard_normal((m, m)).astype(np.float32)
    out = np.zeros_like(x)
    klib.DASH_CONV_2D_int(x.ctypes.data, H, W, mask.ctypes.data, m, out.ctypes.data)
    np.testing.assert_array_equal(out, conv2d_int_ref(x, mask))


def test_conv_2d_int_saturates_both_ways(klib):
    x = np.full((6, 6), 30000, np.int16)
    x[3:, :] = -30000
    mask = np.ones((3, 3), np.float32)
    out = np.zeros_like(x)
    klib.DASH_CONV_2D_int(x.ctypes.data, 6, 6, mask.ctypes.data, 3, out.ctypes.data)
    assert np.all(out[0, :] == 32767) and np.all(out[-1, :] == -32768)
    np.testing.assert_array_equal(out, conv2d_int_ref(x, mask))
    # rounding: halves go away from zero
    x = np.array([[1, -1, 3]], np.int16)
    mask = np.array([[0.5]], np.float32)
    klib.DASH_CONV_2D_int(x.ctypes.data, 1, 3, mask.ctypes.data, 1, out.ctypes.data)
    np.testing.assert_array_equal(out.ravel()[:3], [1, -1, 2])


def test_conv_2d_int_in_place(klib):
    rng = np.random.default_rng(5)
    x = rng.integers(-1000, 1000, (8, 10)).astype(np.int16)
    mask = rng.standard_normal((3, 3)).astype(np.float32)
    ref = conv2d_int_ref(x, mask)
    klib.DASH_CONV_2D_int(x.ctypes.data, 8, 10, mask.ctypes.data, 3, x.ctypes.data)
    np.testing.assert_array_equal(x, ref)


# ---------------------------------------------------------------------------------------------
# CONV_1D_flt
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,m", [(1, 1), (10, 3), (3, 10), (100, 17), (5, 5)])
def test_conv_1d_flt(klib, n, m):
    rng = np.random.default_rng(n * m)
    x = rng.standard_normal(n).astype(np.float32)
    mask = rng.standard_normal(m).astype(np.float32)
    out = rng.standard_normal(n + m + 1).astype(np.float32)  # two extra guard values
    before = out.copy()
    # the input sits inside a larger buffer whose neighbours must not be read: make them NaN
    buf = np.full(n + 2, np.nan, np.float32)
    buf[1:-1] = x
    xin = buf[1:-1]
    klib.DASH_CONV_1D_flt(xin.ctypes.data, n, mask.ctypes.data, m, out.ctypes.data)
    ref = before[: n + m - 1].astype(np.float64) + np.convolve(x.astype(np.float64), mask.astype(np.float64))
    np.testing.assert_allclose(out[: n + m - 1], ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out[n + m - 1:], before[n + m - 1:])
