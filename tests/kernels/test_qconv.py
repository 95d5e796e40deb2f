"""Integer convolution / GEMM (kernels/src/cpu/qconv.cpp): the three micro-kernels (AVX-512 VNNI, AVX2,
portable; chosen by the compile flags, so built here three ways) give the same int32 products as
numpy, and o2c_qconv / o2c_qgemm requantize as onnxruntime does (round half to even, saturate),
packed once or per call alike."""
from __future__ import annotations

import ctypes as C
import subprocess

import numpy as np
import pytest

from _ctypes_structs import ConvParams, i64x
from _kref import KERNELS
from conftest import _compile_all

# flags -> the micro-kernel they select (o2c_qgemm_path)
BUILDS = {"vnni": (["-O2", "-mavx2", "-mfma", "-mavx512f", "-mavx512bw", "-mavx512vnni"], 2),
          "avx2": (["-O2", "-mavx2", "-mfma"], 1), "portable": (["-O2", "-mno-avx2", "-mno-fma"], 0)}
# what each build needs of the CPU to run (every build is compiled on any x86 machine)
NEEDS = {"vnni": {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"}, "avx2": {"avx2", "fma"}, "portable": set()}


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


class QConvParams(C.Structure):
    _fields_ = [("conv", ConvParams), ("in_zero", C.c_int32), ("out_zero", C.c_int32), ("in_unsigned", C.c_int32),
                ("out_unsigned", C.c_int32), ("relu", C.c_int32), ("packed", C.c_void_p), ("out_int32", C.c_int32)]


class QGemmParams(C.Structure):
    _fields_ = [("M", C.c_int64), ("N", C.c_int64), ("K", C.c_int64), ("trans_b", C.c_int32),
                ("in_zero", C.c_int32), ("out_zero", C.c_int32), ("in_unsigned", C.c_int32),
                ("out_unsigned", C.c_int32), ("relu", C.c_int32), ("packed", C.c_void_p), ("out_int32", C.c_int32)]


class Quant8Params(C.Structure):
    _fields_ = [("n", C.c_int64), ("scale", C.c_float), ("zero", C.c_int32), ("is_unsigned", C.c_int32)]


@pytest.fixture(scope="module")
def qlibs(tmp_path_factory):
    flags = _cpu_flags()
    libs = {}
    for name, (fl, path) in BUILDS.items():
        out = _compile_all([KERNELS / "src" / "cpu" / s for s in ("qconv.cpp", "qconv_depthwise.cpp", "qlinear_io.cpp")],
                           tmp_path_factory.mktemp(f"q_{name}"), fl, "libq.so")
        if name == "vnni":  # the VNNI micro-kernel is there, whether or not this CPU can run it
            dis = subprocess.run(["objdump", "-d", str(out)], capture_output=True, text=True).stdout
            assert "vpdpbusd" in dis
        if not NEEDS[name] <= flags:
            continue
        lib = C.CDLL(str(out))
        lib.o2c_qgemm_path.restype = C.c_int
        assert lib.o2c_qgemm_path() == path, name
        vp = C.c_void_p
        lib.o2c_qgemm_s32.argtypes = [vp, vp, C.c_int64, C.c_int64, C.c_int64, vp]
        lib.o2c_qgemm_mode.argtypes = [vp, C.c_int64, C.c_int64]
        lib.o2c_qgemm_mode.restype = C.c_int
        lib.o2c_qconv.argtypes = [vp] * 5 + [C.POINTER(QConvParams)]
        lib.o2c_qgemm.argtypes = [vp] * 5 + [C.POINTER(QGemmParams)]
        lib.o2c_qconv_packed_bytes.argtypes = [C.POINTER(QConvParams)]
        lib.o2c_qconv_packed_bytes.restype = C.c_size_t
        lib.o2c_qconv_pack.argtypes = [vp, C.POINTER(QConvParams), vp]
        lib.o2c_quantize_f32_q8.argtypes = [vp, vp, C.POINTER(Quant8Params)]
        lib.o2c_dequantize_q8_f32.argtypes = [vp, vp, C.POINTER(Quant8Params)]
        libs[name] = lib
    return libs


def _p(a: np.ndarray):
    return a.ctypes.data if a is not None else None


@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (7, 10, 25), (64, 16, 150), (65, 33, 3), (9, 120, 400), (130, 6, 8)])
def test_paths_give_identical_int32(qlibs, m, n, k):
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    a[0, :] = 255  # extreme products: 255 * -128 pairs, which vpmaddubsw would saturate
    w[0, :] = -128
    ref = a.astype(np.int64) @ w.astype(np.int64).T
    got = {}
    for name, lib in qlibs.items():
        c = np.full((m, n), -7, np.int32)
        lib.o2c_qgemm_s32(_p(a), _p(w), m, n, k, _p(c))
        got[name] = c
        np.testing.assert_array_equal(c, ref, err_msg=name)
    assert "portable" in got and len(got) >= 2 - (not NEEDS["avx2"] <= _cpu_flags())


@pytest.mark.parametrize("wmax, mode", [(128, 0), (127, 1), (64, 2)])
@pytest.mark.parametrize("m, n, k", [(7, 10, 25), (65, 33, 130)])
def test_avx2_modes_exact(qlibs, wmax, mode, m, n, k):
    """Every AVX2 mode (int16 vpmaddwd; vpmaddubsw with the activations' signs; vpmaddubsw on 7-bit
    pairs) is picked for the weights it is exact on, and gives numpy's int32 at the extremes."""
    rng = np.random.default_rng(wmax + m)
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    lim = min(wmax, 127)
    w = rng.integers(-lim, lim + 1, (n, k)).astype(np.int8)
    a[0, :], a[1, :], a[2, ::2] = 255, 0, 255  # uint8 255 / 0 are int8 127 / -128 in the signed mode
    w[0, :] = -lim
    w[1, :] = lim
    if wmax == 128:
        w[2, 5] = -128
    ref = a.astype(np.int64) @ w.astype(np.int64).T
    for name, lib in qlibs.items():
        if name == "avx2":
            assert lib.o2c_qgemm_mode(_p(w), n, k) == mode
        c = np.full((m, n), -7, np.int32)
        lib.o2c_qgemm_s32(_p(a), _p(w), m, n, k, _p(c))
        np.testing.assert_array_equal(c, ref, err_msg=name)


def _requant(acc: np.ndarray, mult: np.ndarray, zy: int, lo: int, hi: int) -> np.ndarray:
    f = acc.astype(np.float32) * mult.astype(np.float32)
    return np.clip(np.rint(f).astype(np.int64) + zy, lo, hi)


def _conv_ref(x, w, bias, zx, g, stride, pad, dil):
    """int64 convolution of (x - zx) (zero outside) with w: the exact accumulator."""
    B, Cin, H, W = x.shape
    Cout, Cg, KH, KW = w.shape
    xp = np.pad(x.astype(np.int64) - zx, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    OH = (H + 2 * pad - (KH - 1) * dil - 1) // stride + 1
    OW = (W + 2 * pad - (KW - 1) * dil - 1) // stride + 1
    out = np.zeros((B, Cout, OH, OW), np.int64)
    Mg = Cout // g
    for co in range(Cout):
        gi = co // Mg
        for ky in range(KH):
            for kx in range(KW):
                patch = xp[:, gi * Cg:(gi + 1) * Cg, ky * dil:ky * dil + stride * (OH - 1) + 1:stride,
                           kx * dil:kx * dil + stride * (OW - 1) + 1:stride]
                out[:, co] += np.einsum("bchw,c->bhw", patch, w[co, :, ky, kx].astype(np.int64))
        if bias is not None:
            out[:, co] += bias[co]
    return out


# wmax: the weights' range, which picks the AVX2 build's mode: 127 -> vpmaddubsw with the activations'
# signs, 64 -> vpmaddubsw on 7-bit pairs, 128 (-128 present) -> int16 vpmaddwd. Cin / groups >= 4 takes
# the AVX2 direct (channels-last, no im2col) path in the two vpmaddubsw modes; Cin = 6 pads channels.
@pytest.mark.parametrize("signed_in, signed_out, relu, groups, stride, pad, dil, cin, wmax", [
    (True, True, False, 1, 1, 0, 1, 4, 127), (True, True, True, 1, 2, 1, 1, 4, 127), (False, False, False, 1, 1, 2, 2, 4, 127),
    (False, True, True, 2, 1, 1, 1, 4, 127), (True, False, False, 4, 1, 1, 1, 4, 127),
    (True, True, False, 1, 1, 1, 1, 6, 127), (False, True, False, 1, 2, 1, 1, 8, 64), (True, True, True, 2, 1, 1, 1, 16, 64),
    (True, False, False, 1, 1, 1, 1, 8, 128), (False, False, True, 3, 1, 1, 2, 15, 127)])
def test_qconv_requantizes_like_onnxruntime(qlibs, signed_in, signed_out, relu, groups, stride, pad, dil, cin, wmax):
    rng = np.random.default_rng(groups * 7 + stride + pad + cin)
    B, Cin, H, W, Cout, KS = 2, cin, 9, 11, 8 if groups != 3 else 9, 3
    xdt = np.int8 if signed_in else np.uint8
    info = np.iinfo(xdt)
    x = rng.integers(info.min, info.max + 1, (B, Cin, H, W)).astype(xdt)
    w = rng.integers(-min(wmax, 127), min(wmax, 127) + 1, (Cout, Cin // groups, KS, KS)).astype(np.int8)
    x.flat[::7] = info.min  # extreme products
    x.flat[1::7] = info.max
    w.flat[::5] = -min(wmax, 127)
    if wmax == 128:
        w.flat[3] = -128
    bias = rng.integers(-3000, 3000, Cout).astype(np.int32)
    mult = rng.uniform(0.5e-3, 3e-3, Cout).astype(np.float32)
    zx, zy = (-5, 3) if signed_in else (120, 7)
    zy = 3 if signed_out else 100
    lo, hi = (-128, 127) if signed_out else (0, 255)
    acc = _conv_ref(x, w, bias, zx, groups, stride, pad, dil)
    ref = _requant(acc, mult.reshape(1, -1, 1, 1), zy, max(lo, zy) if relu else lo, hi)
    OH, OW = acc.shape[2:]
    conv = ConvParams(spatial_rank=2, has_bias=1, batch=B, in_channels=Cin, out_channels=Cout, groups=groups,
                      in_size=i64x([H, W, 1], 3), out_size=i64x([OH, OW, 1], 3), kernel=i64x([KS, KS, 1], 3),
                      stride=i64x([stride, stride, 1], 3), dilation=i64x([dil, dil, 1], 3),
                      pad_begin=i64x([pad, pad, 0], 3))
    p = QConvParams(conv=conv, in_zero=zx, out_zero=zy, in_unsigned=int(not signed_in),
                    out_unsigned=int(not signed_out), relu=int(relu))
    odt = np.int8 if signed_out else np.uint8
    for name, lib in qlibs.items():
        for packed in (False, True):
            buf = None
            if packed:
                buf = np.zeros(lib.o2c_qconv_packed_bytes(C.byref(p)) + 64, np.uint8)
                at = (-buf.ctypes.data) % 64
                lib.o2c_qconv_pack(_p(w), C.byref(p), buf.ctypes.data + at)
                p.packed = buf.ctypes.data + at
            y = np.zeros(acc.shape, odt)
            lib.o2c_qconv(_p(x), _p(w), _p(bias), _p(mult), _p(y), C.byref(p))
            p.packed = None
            np.testing.assert_array_equal(y.astype(np.int64), ref, err_msg=f"{name} packed={packed}")


@pytest.mark.parametrize("trans_b", [0, 1])
def test_qgemm_requantizes_like_onnxruntime(qlibs, trans_b):
    rng = np.random.default_rng(3 + trans_b)
    M, N, K = 5, 37, 70
    x = rng.integers(-128, 128, (M, K)).astype(np.int8)
    w = rng.integers(-127, 128, (N, K)).astype(np.int8)
    mult = rng.uniform(1e-3, 4e-3, N).astype(np.float32)
    acc = (x.astype(np.int64) + 4) @ w.astype(np.int64).T  # zero point -4
    ref = _requant(acc, mult, -9, -128, 127)
    wb = np.ascontiguousarray(w if trans_b else w.T)
    p = QGemmParams(M=M, N=N, K=K, trans_b=trans_b, in_zero=-4, out_zero=-9, in_unsigned=0, out_unsigned=0, relu=0)
    for name, lib in qlibs.items():
        y = np.zeros((M, N), np.int8)
        lib.o2c_qgemm(_p(x), _p(wb), None, _p(mult), _p(y), C.byref(p))
        np.testing.assert_array_equal(y.astype(np.int64), ref, err_msg=name)


def test_halves_round_to_even(qlibs):
    """acc * multiplier exactly on .5: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2 (onnxruntime's nearbyint)."""
    x = np.array([[5, 7, -5, 1]], np.int8).T.copy()  # M = 4, K = 1
    w = np.array([[1]], np.int8)
    mult = np.array([0.5], np.float32)
    p = QGemmParams(M=4, N=1, K=1, trans_b=1, in_zero=0, out_zero=0, in_unsigned=0, out_unsigned=0, relu=0)
    for name, lib in qlibs.items():
        y = np.zeros((4, 1), np.int8)
        lib.o2c_qgemm(_p(x), _p(w), None, _p(mult), _p(y), C.byref(p))
        assert y.ravel().tolist() == [2, 4, -2, 0], name


@pytest.mark.parametrize("unsigned", [0, 1])
def test_quantize_dequantize_q8(qlibs, unsigned):
    """o2c_quantize_f32_q8 / o2c_dequantize_q8_f32 (QuantizeLinear / DequantizeLinear float32 <-> 8-bit,
    one scale): ONNX's saturate(round_half_even(x / s) + z) and (q - z) * s, vector body and tail alike."""
    rng = np.random.default_rng(5 + unsigned)
    s, z = np.float32(0.05), (130 if unsigned else -3)
    x = (rng.standard_normal(1003) * 4).astype(np.float32)
    x[:6] = [0.025, 0.075, -0.025, 1e30, -1e30, 0.125]  # halves (to even), saturation
    ref = np.clip(np.clip(np.rint(x / s), -2.0**40, 2.0**40).astype(np.int64) + z, 0 if unsigned else -128,
                  255 if unsigned else 127)
    qdt = np.uint8 if unsigned else np.int8
    q = (np.arange(256) - (0 if unsigned else 128)).astype(qdt)
    dref = (q.astype(np.int32) - z).astype(np.float32) * s
    p = Quant8Params(n=x.size, scale=s, zero=z, is_unsigned=unsigned)
    pd = Quant8Params(n=q.size, scale=s, zero=z, is_unsigned=unsigned)
    for name, lib in qlibs.items():
        y = np.zeros(x.size, qdt)
        lib.o2c_quantize_f32_q8(_p(x), _p(y), C.byref(p))
        np.testing.assert_array_equal(y.astype(np.int64), ref, err_msg=name)
        d = np.zeros(q.size, np.float32)
        lib.o2c_dequantize_q8_f32(_p(q), _p(d), C.byref(pd))
        np.testing.assert_array_equal(d, dref, err_msg=name)


def test_out_int32_gives_the_accumulators(qlibs):
    """out_int32 (ConvInteger / MatMulInteger): bias + sum (x - zx) * w as int32, no requantization, in
    the direct and the im2col paths (multiplier NULL)."""
    rng = np.random.default_rng(21)
    for cin, groups in ((8, 1), (4, 2)):
        B, H, W, Cout, KS, zx = 1, 7, 6, 8, 3, 12
        x = rng.integers(0, 256, (B, cin, H, W)).astype(np.uint8)
        w = rng.integers(-127, 128, (Cout, cin // groups, KS, KS)).astype(np.int8)
        acc = _conv_ref(x, w, None, zx, groups, 1, 1, 1)
        OH, OW = acc.shape[2:]
        conv = ConvParams(spatial_rank=2, has_bias=0, batch=B, in_channels=cin, out_channels=Cout, groups=groups,
                          in_size=i64x([H, W, 1], 3), out_size=i64x([OH, OW, 1], 3), kernel=i64x([KS, KS, 1], 3),
                          stride=i64x([1, 1, 1], 3), dilation=i64x([1, 1, 1], 3), pad_begin=i64x([1, 1, 0], 3))
        p = QConvParams(conv=conv, in_zero=zx, out_zero=0, in_unsigned=1, out_unsigned=0, relu=0, out_int32=1)
        for name, lib in qlibs.items():
            y = np.zeros(acc.shape, np.int32)
            lib.o2c_qconv(_p(x), _p(w), None, None, _p(y), C.byref(p))
            np.testing.assert_array_equal(y, acc, err_msg=f"{name} cin={cin}")
    a = rng.integers(-128, 128, (9, 40)).astype(np.int8)
    wg = rng.integers(-128, 128, (40, 7)).astype(np.int8)
    ref = (a.astype(np.int64) + 5) @ wg.astype(np.int64)
    p = QGemmParams(M=9, N=7, K=40, trans_b=0, in_zero=-5, out_zero=0, in_unsigned=0, out_unsigned=0, relu=0,
                    out_int32=1)
    for name, lib in qlibs.items():
        y = np.zeros((9, 7), np.int32)
        lib.o2c_qgemm(_p(a), _p(wg), None, None, _p(y), C.byref(p))
        np.testing.assert_array_equal(y, ref, err_msg=name)
