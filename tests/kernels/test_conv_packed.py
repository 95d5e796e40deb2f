"""Weights packed ahead of time (o2c_conv_pack, dash_conv_params_t.packed): the same bits as the
kernel packing per call, on every path (lanes for small images with many channels, direct,
grouped, strided, 1-D/3-D) and every build (AVX-512 where the machine has it, AVX2 only, portable);
a buffer the kernel did not make for this layer and build is ignored; layers without a packed form
(depthwise; implicit im2col) report 0 bytes. The accelerator comparison is in test_accel.py."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

import _ctypes_structs as S
from conftest import _compile_all
from _kref import KERNELS, kernel_threads


def conv_params(rank, batch, cin, cout, G, in_size, k, s, d, pb, pe, has_bias, act):
    p = S.ConvParams()
    p.spatial_rank, p.has_bias = rank, has_bias
    p.batch, p.in_channels, p.out_channels, p.groups = batch, cin, cout, G
    outs = [(in_size[i] + pb[i] + pe[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(rank)]
    for name, v in (("in_size", in_size), ("out_size", outs), ("kernel", k), ("stride", s), ("dilation", d),
                    ("pad_begin", pb)):
        setattr(p, name, S.I64x3(*(list(v) + [1] * (3 - rank))))
    p.act = S.Act(*act)
    return p, outs


# rank, batch, cin, cout, G, in, k, s, d, pad_b, pad_e
CASES = [
    (2, 1, 64, 64, 1, [8, 8], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),        # lanes, 8x8
    (2, 1, 48, 40, 1, [4, 4], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),        # lanes, partial panel
    (2, 1, 24, 33, 1, [16, 16], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),      # lanes, 16x16, 33 channels
    (2, 2, 16, 40, 1, [9, 13], [3, 3], [2, 2], [1, 1], [1, 1], [0, 1]),       # lanes, stride 2, batch 2
    (2, 1, 32, 64, 1, [16, 16], [1, 1], [2, 2], [1, 1], [0, 0], [0, 0]),      # lanes, 1x1 stride 2
    (2, 1, 20, 36, 2, [7, 5], [3, 2], [1, 1], [2, 1], [2, 0], [2, 1]),        # lanes, grouped, dilated
    (2, 1, 130, 17, 1, [3, 3], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),       # lanes, K > GEMM_KC
    (2, 1, 8, 24, 1, [1, 1], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0]),         # one position
    (2, 1, 40, 48, 1, [6, 7], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0]),        # lanes, 1x1: input read in place
    (2, 2, 32, 64, 2, [5, 5], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0]),        # ... grouped, batch 2
    (3, 1, 6, 20, 1, [3, 4, 5], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]),  # 3-D
    (1, 2, 12, 32, 1, [50], [5], [1], [1], [2], [2]),                         # 1-D
    (2, 1, 16, 16, 1, [32, 32], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),      # direct (large image)
    (2, 1, 48, 20, 1, [16, 16], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),      # direct or lanes
    (2, 1, 300, 7, 1, [6, 6], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),        # direct, K blocks, few channels
    (2, 1, 5, 9, 1, [40, 23], [5, 5], [3, 2], [1, 1], [2, 2], [2, 2]),        # direct, strided
]
ACTS = [(S.ACT_RELU, 0, 0), (S.ACT_NONE, 0, 0), (S.ACT_LEAKY_RELU, 0.1, 0), (S.ACT_SIGMOID, 0, 0)]


def _setup(lib):
    lib.o2c_conv.argtypes = S.SIGNATURES["o2c_conv"]
    lib.o2c_conv.restype = None
    lib.o2c_conv_packed_bytes.argtypes = [C.POINTER(S.ConvParams)]
    lib.o2c_conv_packed_bytes.restype = C.c_size_t
    lib.o2c_conv_pack.argtypes = [C.c_void_p, C.POINTER(S.ConvParams), C.c_void_p]
    lib.o2c_conv_pack.restype = None
    return lib


def _lib(tmp_path_factory, name, flags):
    out = tmp_path_factory.mktemp(name)
    src = KERNELS / "src" / "cpu"
    so = _compile_all([src / "gemm.cpp", *sorted(src.glob("conv*.cpp")), src / "parallel.cpp"], out, flags, f"lib{name}.so")
    return _setup(C.CDLL(str(so)))


@pytest.fixture(scope="module", params=["native", "avx2", "portable"])
def lib(request, tmp_path_factory, klib):
    if request.param == "native":
        return _setup(klib)
    if request.param == "avx2":
        return _lib(tmp_path_factory, "o2c_avx2", ["-O2", "-march=native", "-mno-avx512f"])
    return _lib(tmp_path_factory, "o2c_portable_pk", ["-O2", "-mno-avx2", "-mno-fma"])


def aligned(nbytes):
    buf = np.zeros(nbytes + 64, np.uint8)
    off = (-buf.ctypes.data) % 64
    return buf[off:off + nbytes]


def run(lib, x, w, b, p, n_out):
    y = np.full(n_out, np.nan, np.float32)
    lib.o2c_conv(x.ctypes.data, w.ctypes.data, None if b is None else b.ctypes.data, y.ctypes.data, C.byref(p))
    return y


@pytest.mark.parametrize("i", range(len(CASES)))
def test_packed_same_bits(lib, i):
    rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe = CASES[i]
    rng = np.random.default_rng(100 + i)
    for j, act in enumerate(ACTS):
        has_bias = int(j % 2 == 0)
        p, outs = conv_params(rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe, has_bias, act)
        x = rng.standard_normal(batch * cin * int(np.prod(ins))).astype(np.float32)
        w = rng.standard_normal(cout * (cin // G) * int(np.prod(ks))).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32) if has_bias else None
        n_out = batch * cout * int(np.prod(outs))
        ref = run(lib, x, w, b, p, n_out)
        n = lib.o2c_conv_packed_bytes(C.byref(p))
        assert n > 64, "every non-depthwise layer that runs direct or lanes has a packed form"
        buf = aligned(n)
        lib.o2c_conv_pack(w.ctypes.data, C.byref(p), buf.ctypes.data)
        p.packed = buf.ctypes.data
        got = run(lib, x, w, b, p, n_out)
        assert np.array_equal(got.view(np.uint32), ref.view(np.uint32)), f"case {i} act {act}"
        # the kernel reads the packed buffer, not the weights
        got2 = run(lib, x, np.zeros_like(w), b, p, n_out)
        assert np.array_equal(got2.view(np.uint32), ref.view(np.uint32))
        # a buffer that is not this layer's (another build, another layer) is ignored
        blank = aligned(n)  # zeros: no header (kept alive while the kernel may read it)
        p.packed = blank.ctypes.data
        assert np.array_equal(run(lib, x, w, b, p, n_out).view(np.uint32), ref.view(np.uint32))
        other, _ = conv_params(rank, batch, cin, cout + G, G, ins, ks, st, dl, pb, pe, has_bias, act)
        nb = lib.o2c_conv_packed_bytes(C.byref(other))
        if nb:
            ob = aligned(nb)
            ones = np.ones((cout + G) * (cin // G) * int(np.prod(ks)), np.float32)
            lib.o2c_conv_pack(ones.ctypes.data, C.byref(other), ob.ctypes.data)
            p.packed = ob.ctypes.data
            assert np.array_equal(run(lib, x, w, b, p, n_out).view(np.uint32), ref.view(np.uint32))


def test_no_packed_form(lib):
    # depthwise convolutions have no packed form (their loop reads the weights in place)
    p, _ = conv_params(2, 1, 8, 8, 8, [9, 9], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], 1, ACTS[0])
    assert lib.o2c_conv_packed_bytes(C.byref(p)) == 0


def test_packed_threads(klib):
    """2 threads over a packed layer: the same bits as 1 (threads split outputs, never K)."""
    _setup(klib)
    rng = np.random.default_rng(7)
    # large enough to be split: the lanes path (128 channels on 8x8) and the direct path (32x32)
    for case in ((2, 1, 128, 128, 1, [8, 8], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
                 (2, 1, 32, 40, 1, [32, 32], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1])):
        rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe = case
        p, outs = conv_params(rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe, 1, ACTS[0])
        x = rng.standard_normal(batch * cin * int(np.prod(ins))).astype(np.float32)
        w = rng.standard_normal(cout * (cin // G) * int(np.prod(ks))).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        buf = aligned(klib.o2c_conv_packed_bytes(C.byref(p)))
        klib.o2c_conv_pack(w.ctypes.data, C.byref(p), buf.ctypes.data)
        p.packed = buf.ctypes.data
        n_out = batch * cout * int(np.prod(outs))
        one = run(klib, x, w, b, p, n_out)
        with kernel_threads(klib, 2):
            two = run(klib, x, w, b, p, n_out)
        assert np.array_equal(one.view(np.uint32), two.view(np.uint32))
