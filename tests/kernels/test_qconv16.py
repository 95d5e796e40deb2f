"""16-bit integer convolution / GEMM (kernels/src/cpu/qconv16.cpp: DASH_QCONV_i16 / DASH_QGEMM_i16): the
accumulators are exact int64 (numpy's) even where int32 would overflow, the requantization is
saturate16(round_half_even(double(acc) * m) + zy), and the results are the same packed once or per call,
on one thread or two, in the AVX2 and the portable builds."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from _ctypes_structs import ConvParams, i64x
from _kref import KERNELS
from conftest import _compile_all
from test_qconv import QConvParams, QGemmParams, _conv_ref

BUILDS = {"avx2": ["-O3", "-mavx2", "-mfma"], "portable": ["-O3", "-mno-avx2", "-mno-fma"]}


def _avx2() -> bool:
    try:
        return "avx2" in open("/proc/cpuinfo").read()
    except OSError:
        return False


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    out = {}
    for name, fl in BUILDS.items():
        so = _compile_all([KERNELS / "src" / "cpu" / "qconv16.cpp", KERNELS / "src" / "cpu" / "parallel.cpp"],
                          tmp_path_factory.mktemp(f"q16_{name}"), fl, "libq16.so")
        if name == "avx2" and not _avx2():
            continue
        lib = C.CDLL(str(so))
        vp = C.c_void_p
        lib.o2c_qconv16.argtypes = [vp] * 5 + [C.POINTER(QConvParams)]
        lib.o2c_qgemm16.argtypes = [vp] * 5 + [C.POINTER(QGemmParams)]
        lib.o2c_qconv16_packed_bytes.argtypes = [C.POINTER(QConvParams)]
        lib.o2c_qconv16_packed_bytes.restype = C.c_size_t
        lib.o2c_qconv16_pack.argtypes = [vp, C.POINTER(QConvParams), vp]
        lib.o2c_qgemm16_packed_bytes.argtypes = [C.POINTER(QGemmParams)]
        lib.o2c_qgemm16_packed_bytes.restype = C.c_size_t
        lib.o2c_qgemm16_pack.argtypes = [vp, C.POINTER(QGemmParams), vp]
        lib.o2c_set_threads.argtypes = [C.c_int]
        out[name] = lib
    return out


def _p(a):
    return a.ctypes.data if a is not None else None


def _requant(acc, mult, zy, lo, hi):
    """float64 product of the exact accumulator and the float32 multiplier, rounded half to even"""
    f = acc.astype(np.float64) * mult.astype(np.float64)
    return np.clip(np.rint(f).astype(np.int64) + zy, lo, hi)


def _aligned(nbytes: int):
    buf = np.zeros(nbytes + 64, np.uint8)
    return buf, buf.ctypes.data + (-buf.ctypes.data) % 64


@pytest.mark.parametrize("signed_in, signed_out, relu, groups, stride, pad, dil, cin", [
    (True, True, False, 1, 1, 0, 1, 3), (True, True, True, 1, 2, 1, 1, 4), (False, False, False, 1, 1, 2, 2, 2),
    (False, True, True, 2, 1, 1, 1, 4), (True, False, False, 3, 2, 1, 1, 6)])
def test_qconv16_matches_numpy(libs, signed_in, signed_out, relu, groups, stride, pad, dil, cin):
    rng = np.random.default_rng(groups * 7 + stride + pad + cin + relu)
    B, H, W, Cout, KS = 2, 9, 11, 6 if groups == 3 else 10, 3
    xdt = np.int16 if signed_in else np.uint16
    info = np.iinfo(xdt)
    x = rng.integers(info.min, info.max + 1, (B, cin, H, W)).astype(xdt)
    w = rng.integers(-32767, 32768, (Cout, cin // groups, KS, KS)).astype(np.int16)
    x.flat[::5] = info.min  # full-range products: (x - zx) up to 65535 in magnitude, w -32768
    x.flat[1::5] = info.max
    w.flat[::3] = -32768
    w.flat[1::3] = 32767
    bias = rng.integers(-2**31, 2**31 - 1, Cout).astype(np.int32)
    zx = 32767 if signed_in else 0   # x - zx in [-65535, 0] / [0, 65535]
    zy = -100 if signed_out else 30000
    lo, hi = (-32768, 32767) if signed_out else (0, 65535)
    acc = _conv_ref(x, w, bias.astype(np.int64), zx, groups, stride, pad, dil)
    assert np.abs(acc).max() > 2**31  # int32 accumulation would overflow here
    mult = rng.uniform(2.0**-20, 2.0**-17, Cout).astype(np.float32)
    ref = _requant(acc, mult.reshape(1, -1, 1, 1), zy, max(lo, zy) if relu else lo, hi)
    OH, OW = acc.shape[2:]
    conv = ConvParams(spatial_rank=2, has_bias=1, batch=B, in_channels=cin, out_channels=Cout, groups=groups,
                      in_size=i64x([H, W, 1], 3), out_size=i64x([OH, OW, 1], 3), kernel=i64x([KS, KS, 1], 3),
                      stride=i64x([stride, stride, 1], 3), dilation=i64x([dil, dil, 1], 3),
                      pad_begin=i64x([pad, pad, 0], 3))
    p = QConvParams(conv=conv, in_zero=zx, out_zero=zy, in_unsigned=int(not signed_in),
                    out_unsigned=int(not signed_out), relu=int(relu))
    odt = np.int16 if signed_out else np.uint16
    for name, lib in libs.items():
        for packed, threads in ((False, 1), (True, 1), (True, 2)):
            buf = None
            if packed:
                buf, at = _aligned(lib.o2c_qconv16_packed_bytes(C.byref(p)))
                lib.o2c_qconv16_pack(_p(w), C.byref(p), at)
                p.packed = at
            lib.o2c_set_threads(threads)
            y = np.zeros(acc.shape, odt)
            lib.o2c_qconv16(_p(x), _p(w), _p(bias), _p(mult), _p(y), C.byref(p))
            lib.o2c_set_threads(1)
            p.packed = None
            np.testing.assert_array_equal(y.astype(np.int64), ref, err_msg=f"{name} packed={packed} threads={threads}")


def test_qconv16_1d_and_3d(libs):
    """spatial ranks 1 and 3 go through the same geometry"""
    rng = np.random.default_rng(4)
    for shape, ks in (((2, 3, 17), (4,)), ((1, 2, 4, 5, 6), (2, 3, 2))):
        x = rng.integers(-32768, 32768, shape).astype(np.int16)
        w = rng.integers(-32767, 32768, (5, shape[1], *ks)).astype(np.int16)
        r = len(ks)
        out = [shape[2 + i] - ks[i] + 1 for i in range(r)]
        # reference: every output position, the exact dot product of the window with the weights
        acc = np.zeros((shape[0], 5, *out), np.int64)
        for idx in np.ndindex(*out):
            win = x[(slice(None), slice(None)) + tuple(slice(i, i + k) for i, k in zip(idx, ks))].astype(np.int64) + 7
            acc[(slice(None), slice(None)) + idx] = np.tensordot(win, w.astype(np.int64), axes=(list(range(1, 2 + r)),) * 2)
        conv = ConvParams(spatial_rank=r, has_bias=0, batch=shape[0], in_channels=shape[1], out_channels=5, groups=1,
                          in_size=i64x(list(shape[2:]), 3), out_size=i64x(out, 3), kernel=i64x(list(ks), 3),
                          stride=i64x([1] * r, 3), dilation=i64x([1] * r, 3), pad_begin=i64x([0] * r, 3))
        p = QConvParams(conv=conv, in_zero=-7, out_zero=0, in_unsigned=0, out_unsigned=0, relu=0)
        mult = np.full(5, 2.0**-16, np.float32)
        for name, lib in libs.items():
            y = np.zeros(acc.shape, np.int16)
            lib.o2c_qconv16(_p(x), _p(w), None, _p(mult), _p(y), C.byref(p))
            np.testing.assert_array_equal(y.astype(np.int64), _requant(acc, mult[0], 0, -32768, 32767), err_msg=name)


@pytest.mark.parametrize("trans_b, M, N, K", [(0, 5, 37, 70), (1, 67, 9, 3000), (1, 1, 1, 1)])
def test_qgemm16_matches_numpy(libs, trans_b, M, N, K):
    rng = np.random.default_rng(M + N + K)
    x = rng.integers(-32768, 32768, (M, K)).astype(np.int16)
    w = rng.integers(-32767, 32768, (N, K)).astype(np.int16)
    x[0, :] = -32768
    w[0, :] = 32767  # row 0 x channel 0: acc = -K * 65535 * 32767, beyond int32 from K = 2 on (saturates)
    zx = 32767
    acc = (x.astype(np.int64) - zx) @ w.astype(np.int64).T
    mult = np.full(N, 2.0**-27, np.float32) if K > 100 else rng.uniform(2.0**-18, 2.0**-16, N).astype(np.float32)
    ref = _requant(acc, mult, 5, -32768, 32767)
    wb = np.ascontiguousarray(w if trans_b else w.T)
    p = QGemmParams(M=M, N=N, K=K, trans_b=trans_b, in_zero=zx, out_zero=5, in_unsigned=0, out_unsigned=0, relu=0)
    for name, lib in libs.items():
        for packed in (False, True):
            buf = None
            if packed:
                buf, at = _aligned(lib.o2c_qgemm16_packed_bytes(C.byref(p)))
                lib.o2c_qgemm16_pack(_p(wb), C.byref(p), at)
                p.packed = at
            y = np.zeros((M, N), np.int16)
            lib.o2c_qgemm16(_p(x), _p(wb), None, _p(mult), _p(y), C.byref(p))
            p.packed = None
            np.testing.assert_array_equal(y.astype(np.int64), ref, err_msg=f"{name} packed={packed}")
        # the raw accumulators (out_int32, saturated to int32)
        p.out_int32 = 1
        y32 = np.zeros((M, N), np.int32)
        lib.o2c_qgemm16(_p(x), _p(wb), None, None, _p(y32), C.byref(p))
        p.out_int32 = 0
        np.testing.assert_array_equal(y32.astype(np.int64), np.clip(acc, -2**31, 2**31 - 1), err_msg=name)


def test_packed_buffer_of_another_shape_is_ignored(libs):
    """a `packed` whose header names other dimensions is not read: the weights are packed per call"""
    rng = np.random.default_rng(9)
    x = rng.integers(-300, 300, (4, 8)).astype(np.int16)
    w = rng.integers(-300, 300, (3, 8)).astype(np.int16)
    other = QGemmParams(M=4, N=5, K=8, trans_b=1)
    p = QGemmParams(M=4, N=3, K=8, trans_b=1, relu=0)
    mult = np.full(3, 1.0 / 64, np.float32)
    ref = _requant(x.astype(np.int64) @ w.astype(np.int64).T, mult, 0, -32768, 32767)
    for name, lib in libs.items():
        buf, at = _aligned(lib.o2c_qgemm16_packed_bytes(C.byref(other)))
        lib.o2c_qgemm16_pack(_p(np.ones((5, 8), np.int16)), C.byref(other), at)
        p.packed = at
        y = np.zeros((4, 3), np.int16)
        lib.o2c_qgemm16(_p(x), _p(w), None, _p(mult), _p(y), C.byref(p))
        p.packed = None
        np.testing.assert_array_equal(y.astype(np.int64), ref, err_msg=name)
