"""The int8 layers between integer convolutions (kernels/src/cpu/qeltwise.cpp: o2c_qadd, o2c_qpool,
o2c_qrequant) and the depthwise path of o2c_qconv (qconv_depthwise.cpp), built AVX2 and portable: both
builds give the same bytes, exact where the operation is (max pooling, depthwise accumulators, the
DequantizeLinear -> QuantizeLinear pair emulated in float32), within one step of the real-number result
where it rounds (addition, averages), ties rounded half to even."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from _ctypes_structs import ConvParams, PoolParams, i64x
from _kref import KERNELS
from conftest import _compile_all
from test_qconv import BUILDS, NEEDS, QConvParams, _cpu_flags

SOURCES = ["qconv.cpp", "qconv_depthwise.cpp", "qlinear_io.cpp", "qeltwise.cpp"]


class QAddParams(C.Structure):
    _fields_ = [("n", C.c_int64), ("a_ratio", C.c_float), ("b_ratio", C.c_float), ("a_zero", C.c_int32),
                ("b_zero", C.c_int32), ("y_zero", C.c_int32), ("a_unsigned", C.c_int32), ("b_unsigned", C.c_int32),
                ("y_unsigned", C.c_int32), ("relu", C.c_int32)]


class QPoolParams(C.Structure):
    _fields_ = [("pool", PoolParams), ("in_scale", C.c_float), ("out_scale", C.c_float), ("in_zero", C.c_int32),
                ("out_zero", C.c_int32), ("in_unsigned", C.c_int32), ("out_unsigned", C.c_int32)]


class QRequantParams(C.Structure):
    _fields_ = [("n", C.c_int64), ("in_scale", C.c_float), ("out_scale", C.c_float), ("in_zero", C.c_int32),
                ("out_zero", C.c_int32), ("in_unsigned", C.c_int32), ("out_unsigned", C.c_int32)]


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    flags, out = _cpu_flags(), {}
    for name in ("avx2", "portable"):
        if not NEEDS[name] <= flags:
            continue
        so = _compile_all([KERNELS / "src" / "cpu" / s for s in SOURCES], tmp_path_factory.mktemp(f"qe_{name}"),
                          BUILDS[name][0], "libqe.so")
        lib = C.CDLL(str(so))
        vp = C.c_void_p
        lib.o2c_qadd.argtypes = [vp, vp, vp, C.POINTER(QAddParams)]
        lib.o2c_qpool.argtypes = [vp, vp, C.POINTER(QPoolParams)]
        lib.o2c_qrequant.argtypes = [vp, vp, C.POINTER(QRequantParams)]
        lib.o2c_qconv.argtypes = [vp] * 5 + [C.POINTER(QConvParams)]
        out[name] = lib
    assert "portable" in out
    return out


def _p(a):
    return a.ctypes.data if a is not None else None


def _same_everywhere(results: dict) -> np.ndarray:
    first = next(iter(results.values()))
    for k, v in results.items():
        np.testing.assert_array_equal(v, first, err_msg=k)
    return first


@pytest.mark.parametrize("ua, ub, uy, relu", [(0, 0, 0, 0), (1, 0, 1, 1), (0, 1, 0, 1), (1, 1, 1, 0)])
def test_qadd(libs, ua, ub, uy, relu):
    rng = np.random.default_rng(ua * 8 + ub * 4 + uy * 2 + relu)
    n = 1037
    a = rng.integers(0, 256, n).astype(np.uint8 if ua else np.int8) if ua else rng.integers(-128, 128, n).astype(np.int8)
    b = rng.integers(0, 256, n).astype(np.uint8) if ub else rng.integers(-128, 128, n).astype(np.int8)
    sa, sb, sy = np.float32(0.031), np.float32(0.047), np.float32(0.05)
    za, zb, zy = (7 if ua else -3), (120 if ub else 5), (131 if uy else -9)
    lo, hi = (0, 255) if uy else (-128, 127)
    exact = ((a.astype(np.float64) - za) * sa + (b.astype(np.float64) - zb) * sb) / sy
    ref = np.clip(np.rint(exact) + zy, max(lo, zy) if relu else lo, hi)
    p = QAddParams(n=n, a_ratio=sa / sy, b_ratio=sb / sy, a_zero=za, b_zero=zb, y_zero=zy, a_unsigned=ua,
                   b_unsigned=ub, y_unsigned=uy, relu=relu)
    got = {}
    for name, lib in libs.items():
        y = np.zeros(n, np.uint8 if uy else np.int8)
        lib.o2c_qadd(_p(a), _p(b), _p(y), C.byref(p))
        got[name] = y.astype(np.int64)
    y = _same_everywhere(got)
    assert np.abs(y - ref).max() <= 1
    assert (y != ref).mean() < 0.01  # off by one only next to a rounding boundary


def _pool_params(kind, c, in_size, out_size, kernel, stride, pads, include_pad=0):
    r = len(in_size)
    return PoolParams(kind=kind, spatial_rank=r, count_include_pad=include_pad, p=0, channels=c,
                      in_size=i64x(in_size, 3), out_size=i64x(out_size, 3), kernel=i64x(kernel, 3),
                      stride=i64x(stride, 3), dilation=i64x([1] * r, 3), pad_begin=i64x(pads[:r], 3),
                      pad_end=i64x(pads[r:], 3))


def _windows(x, kernel, stride, pads, fill):
    """(C, OH, OW, KH*KW) windows of a (C, H, W) array padded with `fill`, and a mask of the taps
    inside the image."""
    c, h, w = x.shape
    xp = np.full((c, h + pads[0] + pads[2], w + pads[1] + pads[3]), fill, np.int64)
    xp[:, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = x
    inside = np.zeros(xp.shape[1:], bool)
    inside[pads[0]:pads[0] + h, pads[1]:pads[1] + w] = True
    oh = (xp.shape[1] - kernel[0]) // stride[0] + 1
    ow = (xp.shape[2] - kernel[1]) // stride[1] + 1
    win = np.stack([xp[:, i:i + stride[0] * oh:stride[0], j:j + stride[1] * ow:stride[1]]
                    for i in range(kernel[0]) for j in range(kernel[1])], -1)
    m = np.stack([inside[i:i + stride[0] * oh:stride[0], j:j + stride[1] * ow:stride[1]]
                  for i in range(kernel[0]) for j in range(kernel[1])], -1)
    return win, m


@pytest.mark.parametrize("kernel, stride, pads", [((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 3), (2, 2), (1, 1, 1, 1)),
                                                  ((3, 2), (1, 1), (1, 0, 1, 1))])
@pytest.mark.parametrize("unsigned", [0, 1])
def test_qmaxpool_exact(libs, kernel, stride, pads, unsigned):
    rng = np.random.default_rng(kernel[0] * 10 + stride[0])
    c, h, w = 5, 13, 22 + 40 * unsigned  # wider: whole vectors of the 2 x 2 path and its tail
    lo, hi, dt = (0, 255, np.uint8) if unsigned else (-128, 127, np.int8)
    x = rng.integers(lo, hi + 1, (c, h, w)).astype(dt)
    win, _ = _windows(x.astype(np.int64), kernel, stride, pads, -1000)
    ref = win.max(-1)
    pp = _pool_params(0, c, [h, w], list(ref.shape[1:]), kernel, stride, pads)
    for sy, zy in ((0.1, 4), (0.05, 2)):  # the same parameters (exact copy of the maximum), then others
        p = QPoolParams(pool=pp, in_scale=0.1, out_scale=sy, in_zero=4, out_zero=zy, in_unsigned=unsigned,
                        out_unsigned=unsigned)
        got = {}
        for name, lib in libs.items():
            y = np.zeros(ref.shape, dt)
            lib.o2c_qpool(_p(x), _p(y), C.byref(p))
            got[name] = y.astype(np.int64)
        y = _same_everywhere(got)
        want = np.clip(np.rint((ref - 4) * np.float32(np.float32(0.1) / np.float32(sy))) + zy, lo, hi)
        np.testing.assert_array_equal(y, want)
        if zy == 4:
            np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize("kernel, stride, pads, include_pad", [((2, 2), (2, 2), (0, 0, 0, 0), 0),
                                                               ((3, 3), (1, 1), (1, 1, 1, 1), 0),
                                                               ((3, 3), (2, 2), (1, 1, 1, 1), 1)])
def test_qaveragepool(libs, kernel, stride, pads, include_pad):
    rng = np.random.default_rng(kernel[0] + include_pad)
    c, h, w = 4, 11, 17
    x = rng.integers(0, 256, (c, h, w)).astype(np.uint8)
    sx, sy, zx, zy = np.float32(0.02), np.float32(0.03), 100, 90
    win, m = _windows(x.astype(np.int64) - zx, kernel, stride, pads, 0)
    count = m.shape[-1] if include_pad else m.sum(-1)
    exact = win.sum(-1) * np.float64(sx) / (np.float64(sy) * count)
    ref = np.clip(np.rint(exact) + zy, 0, 255)
    pp = _pool_params(1, c, [h, w], list(ref.shape[1:]), kernel, stride, pads, include_pad)
    p = QPoolParams(pool=pp, in_scale=sx, out_scale=sy, in_zero=zx, out_zero=zy, in_unsigned=1, out_unsigned=1)
    got = {}
    for name, lib in libs.items():
        y = np.zeros(ref.shape, np.uint8)
        lib.o2c_qpool(_p(x), _p(y), C.byref(p))
        got[name] = y.astype(np.int64)
    y = _same_everywhere(got)
    assert np.abs(y - ref).max() <= 1


def test_qglobal_average_rounds_half_to_even(libs):
    """The mean of each plane, scales equal: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2, exact otherwise."""
    planes = np.array([[0, 1], [1, 2], [2, 3], [0, -1], [-1, -2], [5, 9]], np.int8).reshape(6, 1, 2)
    pp = _pool_params(1, 6, [1, 2], [1, 1], [1, 2], [1, 1], [0, 0, 0, 0])
    p = QPoolParams(pool=pp, in_scale=0.25, out_scale=0.25, in_zero=0, out_zero=0, in_unsigned=0, out_unsigned=0)
    for name, lib in libs.items():
        y = np.zeros(6, np.int8)
        lib.o2c_qpool(_p(planes), _p(y), C.byref(p))
        assert y.tolist() == [0, 2, 2, 0, -2, 7], name


@pytest.mark.parametrize("ux, uy", [(0, 0), (1, 0), (0, 1)])
def test_qrequant_equals_dequantize_quantize(libs, ux, uy):
    x = (np.arange(256) - (0 if ux else 128)).astype(np.uint8 if ux else np.int8)
    sx, sy, zx, zy = np.float32(0.037), np.float32(0.021), (128 if ux else 3), (120 if uy else -7)
    f = (x.astype(np.int32) - zx).astype(np.float32) * sx  # DequantizeLinear, float32
    ref = np.clip(np.rint(f / sy).astype(np.int64) + zy, 0 if uy else -128, 255 if uy else 127)  # QuantizeLinear
    p = QRequantParams(n=256, in_scale=sx, out_scale=sy, in_zero=zx, out_zero=zy, in_unsigned=ux, out_unsigned=uy)
    for name, lib in libs.items():
        y = np.zeros(256, np.uint8 if uy else np.int8)
        lib.o2c_qrequant(_p(x), _p(y), C.byref(p))
        np.testing.assert_array_equal(y.astype(np.int64), ref, err_msg=name)


@pytest.mark.parametrize("rank, k, stride, pad, dil, ux, relu", [(2, 3, 1, 1, 1, 0, 0), (2, 3, 2, 1, 1, 1, 1),
                                                                  (2, 5, 2, 2, 1, 0, 0), (2, 3, 1, 2, 2, 1, 0),
                                                                  (1, 5, 3, 2, 1, 0, 1)])
def test_depthwise_exact(libs, rank, k, stride, pad, dil, ux, relu):
    """Depthwise int8 convolution: its int32 accumulators (float products, exact) requantized like the
    other paths; extreme values (255 - 0 against -128) included."""
    rng = np.random.default_rng(rank * 100 + k * 10 + stride)
    B, C_, H, W = 2, 11, (1 if rank == 1 else 19), 37
    x = rng.integers(0, 256, (B, C_, H, W)).astype(np.uint8) if ux else rng.integers(-128, 128, (B, C_, H, W)).astype(np.int8)
    kh = 1 if rank == 1 else k
    w = rng.integers(-128, 128, (C_, 1, kh, k)).astype(np.int8)
    w[0] = -128
    x[0, 0] = 255 if ux else 127
    bias = rng.integers(-5000, 5000, C_).astype(np.int32)
    zx = 0 if ux else -128
    mult = (rng.random(C_) * 0.002 + 0.0005).astype(np.float32)
    zy = 3
    ph = 0 if rank == 1 else pad
    xp = np.full((B, C_, H + 2 * ph, W + 2 * pad), zx, np.int64)
    xp[:, :, ph:ph + H, pad:pad + W] = x
    OH = (H + 2 * ph - (kh - 1) * dil - 1) // (1 if rank == 1 else stride) + 1
    OW = (W + 2 * pad - (k - 1) * dil - 1) // stride + 1
    sh = 1 if rank == 1 else stride
    acc = np.zeros((B, C_, OH, OW), np.int64)
    for i in range(kh):
        for j in range(k):
            acc += (xp[:, :, i * dil:i * dil + sh * (OH - 1) + 1:sh, j * dil:j * dil + stride * (OW - 1) + 1:stride]
                    - zx) * w[None, :, 0, i, j, None, None].astype(np.int64)
    acc += bias[None, :, None, None]
    f = np.clip(acc.astype(np.float32) * mult[None, :, None, None], -2.0**30, 2.0**30)
    ref = np.clip(np.rint(f).astype(np.int64) + zy, zy if relu else -128, 127)
    if rank == 1:
        x, ref = x[:, :, 0], ref[:, :, 0]
        insz, outsz, kern, st, dl, pb = [W], [OW], [k], [stride], [dil], [pad]
    else:
        insz, outsz, kern, st, dl, pb = [H, W], [OH, OW], [k, k], [stride] * 2, [dil] * 2, [pad] * 2
    conv = ConvParams(spatial_rank=rank, has_bias=1, batch=B, in_channels=C_, out_channels=C_, groups=C_,
                      in_size=i64x(insz + [1] * (3 - rank), 3), out_size=i64x(outsz + [1] * (3 - rank), 3),
                      kernel=i64x(kern + [1] * (3 - rank), 3), stride=i64x(st + [1] * (3 - rank), 3),
                      dilation=i64x(dl + [1] * (3 - rank), 3), pad_begin=i64x(pb + [0] * (3 - rank), 3))
    p = QConvParams(conv=conv, in_zero=zx, out_zero=zy, in_unsigned=ux, out_unsigned=0, relu=relu, out_int32=0)
    for name, lib in libs.items():
        y = np.zeros(ref.shape, np.int8)
        lib.o2c_qconv(_p(x), _p(w), _p(bias), _p(mult), _p(y), C.byref(p))
        np.testing.assert_array_equal(y.astype(np.int64), ref, err_msg=name)
