"""Binarized matrix product and convolution (kernels/src/cpu/bgemm.cpp, DASH_BGEMM_b1 / DASH_BCONV_b1): the
AVX2 and the portable popcount paths (chosen by the compile flags, so built here both ways) pack
activations into bits as numpy does (1: x >= 0) and give the exact bipolar dot products
K - 2 popcount(a XOR w) of numpy's +-1 products; the scale and bias are numpy's float32 arithmetic."""
from __future__ import annotations

import ctypes as C
import subprocess

import numpy as np
import pytest

from _kref import KERNELS
from conftest import _compile_all
from onnx2cedr.ops.binary import pack_bits

BUILDS = {"avx2": (["-O2", "-mavx2", "-mfma"], 1, {"avx2", "fma"}),
          "portable": (["-O2", "-mno-avx2", "-mno-fma"], 0, set())}
SIZES = [(1, 1, 1), (3, 5, 63), (2, 4, 64), (1, 7, 65), (4, 9, 256), (2, 3, 257), (5, 13, 1000)]


class BGemmParams(C.Structure):
    _fields_ = [("M", C.c_int64), ("N", C.c_int64), ("K", C.c_int64)]


def _cpu_flags() -> set[str]:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


@pytest.fixture(scope="module")
def blibs(tmp_path_factory):
    have = _cpu_flags()
    libs = {}
    for name, (fl, path, needs) in BUILDS.items():
        out = _compile_all([KERNELS / "src" / "cpu" / "bgemm.cpp"], tmp_path_factory.mktemp(f"b_{name}"), fl,
                           "libb.so")
        if name == "avx2":
            dis = subprocess.run(["objdump", "-d", str(out)], capture_output=True, text=True).stdout
            assert "vpshufb" in dis and "vpsadbw" in dis
        if not needs <= have:
            continue
        lib = C.CDLL(str(out))
        lib.o2c_bgemm_path.restype = C.c_int
        assert lib.o2c_bgemm_path() == path, name
        vp = C.c_void_p
        lib.o2c_bgemm.argtypes = [vp] * 5 + [C.POINTER(BGemmParams)]
        lib.o2c_bgemm_pack.argtypes = [vp, C.c_int64, C.c_int64, vp]
        lib.o2c_bgemm_s32.argtypes = [vp, vp, C.c_int64, C.c_int64, C.c_int64, vp]
        libs[name] = lib
    assert "portable" in libs
    return libs


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(C.c_void_p)


def _inputs(m, k, seed):
    x = np.random.RandomState(seed).randn(m, k).astype(np.float32)
    flat = x.reshape(-1)
    flat[::7] = 0.0
    flat[3::11] = -0.0  # -0.0 >= 0: +1
    flat[5::13] = np.nan  # NaN >= 0 is false: -1
    return x


@pytest.mark.parametrize("m, n, k", SIZES)
def test_pack_and_dot_products(blibs, m, n, k):
    x, w = _inputs(m, k, k), np.random.RandomState(k + 1).randn(n, k).astype(np.float32)
    want_bits = pack_bits(x >= 0)
    wbits = pack_bits(w > 0)
    ref = np.where(x >= 0, 1, -1).astype(np.int64) @ np.where(w > 0, 1, -1).astype(np.int64).T
    for name, lib in blibs.items():
        bits = np.full_like(want_bits, 0xDEAD)
        lib.o2c_bgemm_pack(_ptr(x), m, k, _ptr(bits))
        np.testing.assert_array_equal(bits, want_bits, err_msg=name)
        out = np.zeros((m, n), np.int32)
        lib.o2c_bgemm_s32(_ptr(bits), _ptr(wbits), m, n, k, _ptr(out))
        np.testing.assert_array_equal(out, ref, err_msg=name)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("m, n, k", SIZES[1:])
def test_bgemm_scale_and_bias(blibs, m, n, k, bias):
    x = _inputs(m, k, 7 * k)
    w = np.random.RandomState(k).randn(n, k).astype(np.float32)
    scale = np.random.RandomState(k + 2).uniform(0.01, 2, n).astype(np.float32)
    b = np.random.RandomState(k + 3).randn(n).astype(np.float32) if bias else None
    dots = (np.where(x >= 0, 1, -1).astype(np.int64) @ np.where(w > 0, 1, -1).astype(np.int64).T)
    want = dots.astype(np.float32) * scale
    if bias:
        want = want + b
    p = BGemmParams(m, n, k)
    got = {}
    for name, lib in blibs.items():
        out = np.full((m, n), np.nan, np.float32)
        lib.o2c_bgemm(_ptr(x), _ptr(pack_bits(w > 0)), _ptr(scale), _ptr(b) if bias else None, _ptr(out), C.byref(p))
        np.testing.assert_array_equal(out, want, err_msg=name)
        got[name] = out
    if len(got) == 2:
        np.testing.assert_array_equal(got["avx2"], got["portable"])


class BConvParams(C.Structure):
    _fields_ = [("batch", C.c_int64), ("in_channels", C.c_int64), ("out_channels", C.c_int64),
                ("in_size", C.c_int64 * 2), ("out_size", C.c_int64 * 2), ("kernel", C.c_int64 * 2),
                ("stride", C.c_int64 * 2), ("dilation", C.c_int64 * 2)]


@pytest.mark.parametrize("b, c, oc, hw, k, stride, dil", [
    (1, 3, 5, (7, 6), (3, 3), (1, 1), (1, 1)), (2, 64, 4, (5, 5), (3, 2), (1, 1), (1, 1)),
    (1, 70, 9, (9, 8), (3, 3), (2, 1), (1, 2)), (1, 130, 3, (4, 4), (1, 1), (1, 1), (1, 1))])
def test_bconv(blibs, b, c, oc, hw, k, stride, dil):
    from onnx2cedr.ops.binary import pack_conv_bits

    rng = np.random.RandomState(c + oc)
    x = rng.randn(b, c, *hw).astype(np.float32)
    x.reshape(-1)[::9] = 0.0
    w = rng.randn(oc, c, *k).astype(np.float32)
    scale = rng.uniform(0.1, 2, oc).astype(np.float32)
    bias = rng.randn(oc).astype(np.float32)
    out_hw = [(hw[i] - (k[i] - 1) * dil[i] - 1) // stride[i] + 1 for i in range(2)]
    sx, sw = np.where(x >= 0, 1, -1).astype(np.int64), np.where(w > 0, 1, -1).astype(np.int64)
    dots = np.zeros((b, oc, *out_hw), np.int64)
    for ky in range(k[0]):
        for kx in range(k[1]):
            y0, x0 = ky * dil[0], kx * dil[1]
            ys = slice(y0, y0 + stride[0] * (out_hw[0] - 1) + 1, stride[0])
            xs = slice(x0, x0 + stride[1] * (out_hw[1] - 1) + 1, stride[1])
            patch = sx[:, :, ys, xs]
            dots += np.einsum("bchw,oc->bohw", patch, sw[:, :, ky, kx])
    want = dots.astype(np.float32) * scale[None, :, None, None] + bias[None, :, None, None]
    p = BConvParams(b, c, oc, (C.c_int64 * 2)(*hw), (C.c_int64 * 2)(*out_hw), (C.c_int64 * 2)(*k),
                    (C.c_int64 * 2)(*stride), (C.c_int64 * 2)(*dil))
    bits = pack_conv_bits(w)
    for name, lib in blibs.items():
        lib.o2c_bconv.argtypes = [C.c_void_p] * 5 + [C.POINTER(BConvParams)]
        out = np.full((b, oc, *out_hw), np.nan, np.float32)
        lib.o2c_bconv(_ptr(x), _ptr(bits), _ptr(scale), _ptr(bias), _ptr(out), C.byref(p))
        np.testing.assert_array_equal(out, want, err_msg=name)
