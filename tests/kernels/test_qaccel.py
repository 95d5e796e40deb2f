"""The integer-layer accelerators (kernels/accel/qlinear_accel.cpp): DASH_QCONV_{i8,i16}_conv and
DASH_QGEMM_{i8,i16}_gemm give bit for bit the CPU kernels' outputs (qconv.cpp / qconv16.cpp, built with
the production flags), report exactly what their estimators predict, and follow the documented cycle /
byte model, whose MAC lanes per PE grow as the operands narrow (float 1, int16 3, int8 6)."""
from __future__ import annotations

import ctypes as C
import math

import numpy as np
import pytest

from _ctypes_structs import ConvParams, i64x
from _kref import KERNELS
from test_accel import ACCEL, SHIM, Accel, _cc
from test_qconv import QConvParams, QGemmParams

Q_PM = Q_PN = 16
Q_REQ = 12
LANES = {8: 6, 16: 3}


@pytest.fixture(scope="module")
def accel(tmp_path_factory) -> Accel:
    """The integer accelerators (and the float conv one, for its estimator), built here. Their weak
    cedr_accel_account binds to the first shim loaded RTLD_GLOBAL in this process (test_accel's, when it
    ran first), so the report counters are read through the global scope, where the same one is found."""
    out = tmp_path_factory.mktemp("o2c_qaccel")
    (out / "shim.c").write_text(SHIM)
    _cc(["-x", "c", "-O2", "-fPIC", "-shared", str(out / "shim.c"), "-o", str(out / "libshim.so")])
    C.CDLL(str(out / "libshim.so"), mode=C.RTLD_GLOBAL)
    so = out / "libqaccel.so"
    warnings = _cc(["-std=c++17", "-O3", "-march=native", "-fPIC", "-shared", "-Wall", "-Wextra",
                    "-I", str(KERNELS / "include"), str(ACCEL / "qlinear_accel.cpp"), str(ACCEL / "conv_accel.cpp"),
                    "-o", str(so)])
    assert "qlinear_accel" not in warnings, warnings
    return Accel(C.CDLL(None), C.CDLL(str(so)), warnings)


@pytest.fixture(scope="module")
def qcpu(tmp_path_factory) -> C.CDLL:
    try:
        from onnx2cedr.build import compile_flags
        flags = compile_flags(native=True)
    except Exception:  # pragma: no cover
        flags = ["-std=c++20", "-O3", "-march=native", "-fPIC"]
    out = tmp_path_factory.mktemp("o2c_qcpu")
    objs = []
    for f in ("qconv.cpp", "qconv_depthwise.cpp", "qconv16.cpp", "parallel.cpp"):
        o = out / (f + ".o")
        _cc([*flags, "-fPIC", "-I", str(KERNELS / "include"), "-c", str(KERNELS / "src" / "cpu" / f), "-o", str(o)])
        objs.append(str(o))
    so = out / "libqcpu.so"
    _cc(["-shared", "-pthread", "-o", str(so), *objs, "-lm"])
    lib = C.CDLL(str(so))
    for name in ("o2c_qconv", "o2c_qconv16"):
        getattr(lib, name).argtypes = [C.c_void_p] * 5 + [C.POINTER(QConvParams)]
    for name in ("o2c_qgemm", "o2c_qgemm16"):
        getattr(lib, name).argtypes = [C.c_void_p] * 5 + [C.POINTER(QGemmParams)]
    return lib


def _p(a):
    return a.ctypes.data if a is not None else None


def _conv_model(B, cin, cout, groups, ks, out_hw, in_hw, bits, has_bias, out_int32=False):
    Cg, N = cin // groups, cout // groups
    kg = Cg * ks * ks
    out_sp = out_hw[0] * out_hw[1]
    e = bits // 8
    tiles = B * groups * math.ceil(N / Q_PM) * math.ceil(out_sp / Q_PN)
    cycles = tiles * (math.ceil(kg / LANES[bits]) + Q_PM + Q_PN) + Q_REQ
    byt = cout * kg * e + B * groups * math.ceil(N / Q_PM) * Cg * in_hw[0] * in_hw[1] * e
    byt += (4 * cout if has_bias else 0) + (0 if out_int32 else 4 * cout) + B * cout * out_sp * (4 if out_int32 else e)
    return cycles, byt


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("uin, uout, relu, groups, stride, pad, cin, bias", [
    (0, 0, 0, 1, 1, 1, 3, True), (1, 0, 1, 1, 2, 0, 4, True), (0, 1, 0, 2, 1, 2, 6, False), (1, 1, 1, 3, 1, 1, 6, True)])
def test_qconv_accel_bit_identical_and_modeled(accel, qcpu, bits, uin, uout, relu, groups, stride, pad, cin, bias):
    rng = np.random.default_rng(bits + 10 * groups + stride + cin)
    B, H, W, Cout, KS = 2, 10, 9, 12 if groups == 3 else 18, 3
    it = (np.uint8 if uin else np.int8) if bits == 8 else (np.uint16 if uin else np.int16)
    ot = (np.uint8 if uout else np.int8) if bits == 8 else (np.uint16 if uout else np.int16)
    wt = np.int8 if bits == 8 else np.int16
    info, wmax = np.iinfo(it), np.iinfo(wt).max
    x = rng.integers(info.min, info.max + 1, (B, cin, H, W)).astype(it)
    w = rng.integers(-wmax, wmax + 1, (Cout, cin // groups, KS, KS)).astype(wt)
    b = rng.integers(-5000, 5000, Cout).astype(np.int32) if bias else None
    kg = cin // groups * KS * KS
    mult = (rng.uniform(0.3, 1.5, Cout) / (wmax * info.max * math.sqrt(kg) / 64)).astype(np.float32)
    OH, OW = (H + 2 * pad - KS) // stride + 1, (W + 2 * pad - KS) // stride + 1
    conv = ConvParams(spatial_rank=2, has_bias=int(bias), batch=B, in_channels=cin, out_channels=Cout, groups=groups,
                      in_size=i64x([H, W, 1], 3), out_size=i64x([OH, OW, 1], 3), kernel=i64x([KS, KS, 1], 3),
                      stride=i64x([stride, stride, 1], 3), dilation=i64x([1, 1, 1], 3), pad_begin=i64x([pad, pad, 0], 3))
    zx = int(info.min + (info.max - info.min) // 3)
    p = QConvParams(conv=conv, in_zero=zx, out_zero=int(np.iinfo(ot).min // 2 + 7), in_unsigned=uin, out_unsigned=uout,
                    relu=relu)
    ref = np.zeros((B, Cout, OH, OW), ot)
    (qcpu.o2c_qconv if bits == 8 else qcpu.o2c_qconv16)(_p(x), _p(w), _p(b), _p(mult), _p(ref), C.byref(p))
    assert len(np.unique(ref)) > 20  # not saturated: the test sees the rounding
    got = np.zeros_like(ref)
    cyc, byt = accel.call(f"DASH_QCONV_i{bits}_conv", x, w, b, mult, got, p)
    np.testing.assert_array_equal(got, ref)
    assert (cyc, byt) == _conv_model(B, cin, Cout, groups, KS, (OH, OW), (H, W), bits, bias)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("M, N, K, trans_b, uin", [(5, 37, 70, 0, 0), (33, 17, 130, 1, 1), (1, 1, 1, 1, 0)])
def test_qgemm_accel_bit_identical_and_modeled(accel, qcpu, bits, M, N, K, trans_b, uin):
    rng = np.random.default_rng(bits + M + N + K)
    it = (np.uint8 if uin else np.int8) if bits == 8 else (np.uint16 if uin else np.int16)
    wt = np.int8 if bits == 8 else np.int16
    info, wmax = np.iinfo(it), np.iinfo(wt).max
    x = rng.integers(info.min, info.max + 1, (M, K)).astype(it)
    w = rng.integers(-wmax, wmax + 1, (N, K)).astype(wt)
    wb = np.ascontiguousarray(w if trans_b else w.T)
    b = rng.integers(-5000, 5000, N).astype(np.int32)
    mult = (rng.uniform(0.3, 1.5, N) / (wmax * info.max * math.sqrt(K) / 64)).astype(np.float32)
    ot = np.int8 if bits == 8 else np.int16
    p = QGemmParams(M=M, N=N, K=K, trans_b=trans_b, in_zero=int(info.min // 2 + info.max // 2 + 3), out_zero=-3,
                    in_unsigned=uin, out_unsigned=0, relu=0)
    ref = np.zeros((M, N), ot)
    (qcpu.o2c_qgemm if bits == 8 else qcpu.o2c_qgemm16)(_p(x), _p(wb), _p(b), _p(mult), _p(ref), C.byref(p))
    got = np.zeros_like(ref)
    cyc, byt = accel.call(f"DASH_QGEMM_i{bits}_gemm", x, wb, b, mult, got, p)
    np.testing.assert_array_equal(got, ref)
    e = bits // 8
    ct = math.ceil(N / Q_PM)
    assert cyc == math.ceil(M / Q_PN) * ct * (math.ceil(K / LANES[bits]) + Q_PM + Q_PN) + Q_REQ
    assert byt == N * K * e + ct * M * K * e + 8 * N + M * N * e
    # the raw accumulators (out_int32) as the CPU writes them
    p.out_int32 = 1
    r32, g32 = np.zeros((M, N), np.int32), np.zeros((M, N), np.int32)
    (qcpu.o2c_qgemm if bits == 8 else qcpu.o2c_qgemm16)(_p(x), _p(wb), _p(b), None, _p(r32), C.byref(p))
    accel.call(f"DASH_QGEMM_i{bits}_gemm", x, wb, b, None, g32, p)
    np.testing.assert_array_equal(g32, r32)


def test_narrower_operands_take_fewer_cycles(accel):
    """The same 3x3 64->64 56x56 layer: float CONV, int16 QCONV and int8 QCONV estimates. The MAC steps
    per tile shrink by the lanes (1, 3, 6); fill/drain and the tile count stay."""
    conv = ConvParams(spatial_rank=2, has_bias=1, batch=1, in_channels=64, out_channels=64, groups=1,
                      in_size=i64x([56, 56, 1], 3), out_size=i64x([56, 56, 1], 3), kernel=i64x([3, 3, 1], 3),
                      stride=i64x([1, 1, 1], 3), dilation=i64x([1, 1, 1], 3), pad_begin=i64x([1, 1, 0], 3))
    q = QConvParams(conv=conv)
    dummy = np.zeros(4, np.float32)
    f_cyc, _ = accel.estimate("DASH_CONV_flt_conv", dummy, dummy, dummy, dummy, conv)
    c16, _ = accel.estimate("DASH_QCONV_i16_conv", dummy, dummy, dummy, dummy, dummy, q)
    c8, _ = accel.estimate("DASH_QCONV_i8_conv", dummy, dummy, dummy, dummy, dummy, q)
    assert f_cyc > c16 > c8
    # (the float array tiles one output row at a time, the integer one raster-order pixels: a few % apart)
    assert 2.5 < f_cyc / c16 < 3.5 and 4.5 < f_cyc / c8 < 6.5, (f_cyc, c16, c8)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("shape, ks, stride, pad", [((2, 3, 19), (4,), 2, 1), ((1, 2, 5, 6, 7), (2, 3, 3), 1, 1)])
def test_qconv_accel_1d_3d(accel, qcpu, bits, shape, ks, stride, pad):
    rng = np.random.default_rng(len(shape) + bits)
    dt = np.int8 if bits == 8 else np.int16
    hi = np.iinfo(dt).max
    x = rng.integers(-hi - 1, hi + 1, shape).astype(dt)
    w = rng.integers(-hi, hi + 1, (20, shape[1], *ks)).astype(dt)
    r = len(ks)
    out = [(shape[2 + i] + 2 * pad - ks[i]) // stride + 1 for i in range(r)]
    conv = ConvParams(spatial_rank=r, has_bias=0, batch=shape[0], in_channels=shape[1], out_channels=20, groups=1,
                      in_size=i64x(list(shape[2:]), 3), out_size=i64x(out, 3), kernel=i64x(list(ks), 3),
                      stride=i64x([stride] * r, 3), dilation=i64x([1] * r, 3), pad_begin=i64x([pad] * r, 3))
    p = QConvParams(conv=conv, in_zero=5, out_zero=1, in_unsigned=0, out_unsigned=0, relu=0)
    k = shape[1] * int(np.prod(ks))
    mult = np.full(20, 64 / (hi * hi * math.sqrt(k)), np.float32)
    ref = np.zeros((shape[0], 20, *out), dt)
    (qcpu.o2c_qconv if bits == 8 else qcpu.o2c_qconv16)(_p(x), _p(w), None, _p(mult), _p(ref), C.byref(p))
    assert len(np.unique(ref)) > 20
    got = np.zeros_like(ref)
    accel.call(f"DASH_QCONV_i{bits}_conv", x, w, None, mult, got, p)
    np.testing.assert_array_equal(got, ref)
