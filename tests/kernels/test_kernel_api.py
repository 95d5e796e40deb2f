"""The three call forms of every API agree: blocking DASH_<API>_<prec>(...), the PE implementation
DASH_<API>_<prec>_cpu(&args...) and the non-blocking DASH_<API>_<prec>_nb(&args..., barrier),
which must signal the barrier once per call. Plus the ABI: ctypes mirrors == C layouts."""
from __future__ import annotations

import ctypes
import subprocess
import threading

import numpy as np
import pytest

import _ctypes_structs as S
from _kref import CXX, KERNELS


class Barrier:
    """A cedr_barrier_t over zero-initialised pthread objects (== the static initialisers on glibc)."""

    def __init__(self):
        self.cond = ctypes.create_string_buffer(128)
        self.mutex = ctypes.create_string_buffer(128)
        self.ctr = ctypes.c_uint32(0)
        self.b = S.Barrier(ctypes.cast(self.cond, ctypes.c_void_p), ctypes.cast(self.mutex, ctypes.c_void_p),
                           ctypes.pointer(self.ctr))


def boxed(values):
    """Keep-alive boxes for the pointer-to-argument forms: ctypes objects holding each value."""
    return values, [ctypes.cast(ctypes.pointer(v), ctypes.c_void_p).value for v in values]


def vptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def three_ways(lib, api, make_args, make_outputs, blocking_args):
    """Run api through its three forms on fresh outputs; return the three output lists."""
    results = []
    outs = make_outputs()
    getattr(lib, api)(*blocking_args(outs))
    results.append(outs)
    outs = make_outputs()
    keep, ptrs = boxed(make_args(outs))
    getattr(lib, api + "_cpu")(*ptrs)
    results.append(outs)
    # two non-blocking calls (separate outputs) sharing one barrier
    bar = Barrier()
    for _ in range(2):
        outs = make_outputs()
        keep, ptrs = boxed(make_args(outs))
        getattr(lib, api + "_nb")(*ptrs, ctypes.byref(bar.b))
        results.append(outs)
    assert bar.ctr.value == 2, f"{api}_nb signalled {bar.ctr.value} times for 2 calls"
    del keep
    for r in results[1:]:
        for a, b in zip(results[0], r):
            np.testing.assert_array_equal(a, b, err_msg=api)
    return results


rng = np.random.default_rng(0)


def test_ml_apis_three_forms(klib):
    # GEMM_RE
    A, B = rng.standard_normal(6 * 7).astype(np.float32), rng.standard_normal(7 * 5).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    gp = S.GemmParams(1, 6, 5, 7, 0, 0, 0, 0, 0, 1.0, 1.0, 2, S.act(S.ACT_RELU))
    mk = lambda: [np.zeros(30, np.float32)]
    res = three_ways(klib, "DASH_GEMM_RE_flt",
                     lambda o: [vptr(A), vptr(B), vptr(bias), vptr(o[0]), ctypes.pointer(gp)], mk,
                     lambda o: [S.ptr(A), S.ptr(B), S.ptr(bias), S.ptr(o[0]), gp])
    ref = np.maximum(A.reshape(6, 7).astype(np.float64) @ B.reshape(7, 5) + bias, 0)
    np.testing.assert_allclose(res[0][0].reshape(6, 5), ref, rtol=1e-5, atol=1e-5)

    # CONV and CONV_TRANSPOSE
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    cb = rng.standard_normal(3).astype(np.float32)
    cp = S.ConvParams(2, 1, 1, 2, 3, 1, S.i64x([5, 5], 3), S.i64x([5, 5], 3), S.i64x([3, 3], 3),
                      S.i64x([1, 1], 3), S.i64x([1, 1], 3), S.i64x([1, 1], 3), S.act())
    for api in ("DASH_CONV_flt", "DASH_CONV_TRANSPOSE_flt"):
        ww = w if api == "DASH_CONV_flt" else rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
        cpp = cp
        if api != "DASH_CONV_flt":
            cpp = S.ConvParams(2, 1, 1, 2, 3, 1, S.i64x([5, 5], 3), S.i64x([5, 5], 3), S.i64x([3, 3], 3),
                               S.i64x([1, 1], 3), S.i64x([1, 1], 3), S.i64x([1, 1], 3), S.act())
        res = three_ways(klib, api,
                         lambda o: [vptr(x), vptr(ww), vptr(cb), vptr(o[0]), ctypes.pointer(cpp)],
                         lambda: [np.zeros((1, 3, 5, 5), np.float32)],
                         lambda o: [S.ptr(x), S.ptr(ww), S.ptr(cb), S.ptr(o[0]), cpp])
        assert np.abs(res[0][0]).sum() > 0

    # POOL
    pp = S.PoolParams(S.POOL_MAX, 2, 0, 2, 2, S.i64x([5, 5], 3), S.i64x([2, 2], 3), S.i64x([2, 2], 3),
                      S.i64x([2, 2], 3), S.i64x([1, 1], 3), S.i64x([0, 0], 3), S.i64x([0, 0], 3))
    res = three_ways(klib, "DASH_POOL_flt", lambda o: [vptr(x), vptr(o[0]), ctypes.pointer(pp)],
                     lambda: [np.zeros((1, 2, 2, 2), np.float32)], lambda o: [S.ptr(x), S.ptr(o[0]), pp])
    np.testing.assert_array_equal(res[0][0], x[:, :, :4, :4].reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)))

    # BINARY
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    bp = S.BinaryParams(S.BIN_SUB, 2, S.i64x([3, 4]), S.i64x([4, 1]), S.i64x([0, 1]), S.act())
    res = three_ways(klib, "DASH_BINARY_flt", lambda o: [vptr(a), vptr(b), vptr(o[0]), ctypes.pointer(bp)],
                     lambda: [np.zeros((3, 4), np.float32)], lambda o: [S.ptr(a), S.ptr(b), S.ptr(o[0]), bp])
    np.testing.assert_array_equal(res[0][0], a - b)

    # UNARY
    up = S.UnaryParams(12, S.act(S.UNARY_NEG))
    res = three_ways(klib, "DASH_UNARY_flt", lambda o: [vptr(a), vptr(o[0]), ctypes.pointer(up)],
                     lambda: [np.zeros((3, 4), np.float32)], lambda o: [S.ptr(a), S.ptr(o[0]), up])
    np.testing.assert_array_equal(res[0][0], -a)

    # SOFTMAX
    sp = S.SoftmaxParams(3, 4, 1, 0)
    res = three_ways(klib, "DASH_SOFTMAX_flt", lambda o: [vptr(a), vptr(o[0]), ctypes.pointer(sp)],
                     lambda: [np.zeros((3, 4), np.float32)], lambda o: [S.ptr(a), S.ptr(o[0]), sp])
    np.testing.assert_allclose(res[0][0].sum(axis=1), 1.0, rtol=1e-6)


def test_public_apis_three_forms(klib):
    n = 16
    z = rng.standard_normal((n, 2)).astype(np.float32)
    zi = rng.integers(-100, 100, (n, 2)).astype(np.int16)
    for api, data, dt in (("DASH_FFT_flt", z, np.float32), ("DASH_FFT_int", zi, np.int16)):
        three_ways(klib, api,
                   lambda o: [vptr(data), vptr(o[0]), ctypes.c_size_t(n), ctypes.c_bool(True)],
                   lambda: [np.zeros((n, 2), dt)],
                   lambda o: [data.ctypes.data, o[0].ctypes.data, n, True])
    for api, dt in (("DASH_GEMM_flt", np.float32), ("DASH_GEMM_int", np.int16)):
        A = (rng.standard_normal((3, 4, 2)) * 10).astype(dt)
        B = (rng.standard_normal((4, 5, 2)) * 10).astype(dt)
        three_ways(klib, api,
                   lambda o: [vptr(A), vptr(B), vptr(o[0]), ctypes.c_size_t(3), ctypes.c_size_t(4),
                              ctypes.c_size_t(5)],
                   lambda: [np.zeros((3, 5, 2), dt)],
                   lambda o: [A.ctypes.data, B.ctypes.data, o[0].ctypes.data, 3, 4, 5])
    for api, dt in (("DASH_ZIP_flt", np.float32), ("DASH_ZIP_int", np.int16)):
        a = (rng.standard_normal((n, 2)) * 10).astype(dt)
        b = (rng.standard_normal((n, 2)) * 10 + 20).astype(dt)
        for op in range(5):
            three_ways(klib, api,
                       lambda o: [vptr(a), vptr(b), vptr(o[0]), ctypes.c_size_t(n), ctypes.c_int(op)],
                       lambda: [np.zeros((n, 2), dt)],
                       lambda o: [a.ctypes.data, b.ctypes.data, o[0].ctypes.data, n, op])
    img = rng.integers(-500, 500, (6, 7)).astype(np.int16)
    mask = rng.standard_normal((3, 3)).astype(np.float32)
    three_ways(klib, "DASH_CONV_2D_int",
               lambda o: [vptr(img), ctypes.c_int(6), ctypes.c_int(7), vptr(mask), ctypes.c_int(3), vptr(o[0])],
               lambda: [np.zeros((6, 7), np.int16)],
               lambda o: [img.ctypes.data, 6, 7, mask.ctypes.data, 3, o[0].ctypes.data])
    sig = rng.standard_normal(20).astype(np.float32)
    m1 = rng.standard_normal(4).astype(np.float32)
    three_ways(klib, "DASH_CONV_1D_flt",
               lambda o: [vptr(sig), ctypes.c_int(20), vptr(m1), ctypes.c_int(4), vptr(o[0])],
               lambda: [np.ones(23, np.float32)],
               lambda o: [sig.ctypes.data, 20, m1.ctypes.data, 4, o[0].ctypes.data])


def test_nb_calls_from_threads_share_a_barrier(klib):
    """N non-blocking calls from N threads on one barrier: the counter reaches exactly N."""
    bar = Barrier()
    N = 8
    x = rng.standard_normal(1000).astype(np.float32)
    outs = [np.zeros(1000, np.float32) for _ in range(N)]
    up = S.UnaryParams(1000, S.act(S.ACT_SIGMOID))
    keep = []

    def work(i):
        vals, ptrs = boxed([vptr(x), vptr(outs[i]), ctypes.pointer(up)])
        keep.append(vals)
        klib.DASH_UNARY_flt_nb(*ptrs, ctypes.byref(bar.b))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(N)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert bar.ctr.value == N
    for o in outs:
        np.testing.assert_array_equal(o, outs[0])


def test_struct_layouts_match_c(tmp_path):
    """offsetof/sizeof of every mirrored field, as the C++ compiler lays them out."""
    lines = ['#include "o2c_kernels.h"', "#include <cstdio>", "#include <cstddef>", "int main() {"]
    expected = []
    for cname, cls in S.STRUCTS.items():
        lines.append(f'  std::printf("%zu\\n", sizeof({cname}));')
        expected.append((cname, "sizeof", ctypes.sizeof(cls)))
        for fname, _ in cls._fields_:
            lines.append(f'  std::printf("%zu\\n", offsetof({cname}, {fname}));')
            expected.append((cname, fname, getattr(cls, fname).offset))
    lines.append("  return 0;\n}")
    src = tmp_path / "layout.cpp"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run([CXX, "-std=c++17", "-I", str(KERNELS / "include"), str(src), "-o", str(exe)], check=True)
    got = [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()]
    assert len(got) == len(expected)
    for (cname, field, exp), g in zip(expected, got):
        assert g == exp, f"{cname}.{field}: C says {g}, ctypes says {exp}"


def test_inline_entry_points_only_in_api_inline():
    """Only api_inline.cpp defines the blocking/_nb names (under the runtime they come from it)."""
    import re

    names = set(S.API_ARITY)
    pat = re.compile(r"^\s*void\s+(DASH_\w+)\s*\(", re.M)
    for src in (KERNELS / "src").rglob("*.cpp"):
        for name in pat.findall(src.read_text()):
            base = name[:-3] if name.endswith("_nb") else name
            if base in names:
                assert src.name == "api_inline.cpp", f"{name} defined in {src}"
