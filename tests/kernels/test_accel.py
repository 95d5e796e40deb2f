"""The HLS-style accelerator kernels (kernels/accel/*.cpp -> libo2c_accel.so).

Built from every kernels/accel/*.cpp (-std=c++17 -O3 -march=native -fPIC -shared -I kernels/include,
warning-free under -Wall; the runtime's -O2 build is checked too), after a shim that defines
cedr_accel_account (recording every report) is loaded with RTLD_GLOBAL, so the library's weak
reference resolves to it.

GEMM_RE and CONV must be bit-identical to the CPU kernels (the session's klib, -O2, and a copy of
gemm.cpp/conv*.cpp/... compiled with the production flags of onnx2cedr.build), for every parameter
combination; the public kernels match the CPU ones as documented in each accelerator source; the
reported cycles / bytes follow the documented models (recomputed here).
"""
from __future__ import annotations

import ctypes as C
import math
import subprocess

import numpy as np
import pytest

import _ctypes_structs as S
from _kref import ALL_ACTS, CXX, KERNELS, SANITIZE, unary_ref

ACCEL = KERNELS / "accel"


def _cc(args: list[str]) -> str:
    r = subprocess.run([CXX, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}\n{r.stderr}")
    return r.stderr


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------
SHIM = r"""
#include <stdint.h>
static uint64_t g_cycles, g_bytes, g_calls;
void cedr_accel_account(uint64_t cycles, uint64_t bytes_moved) { g_cycles = cycles; g_bytes = bytes_moved; ++g_calls; }
uint64_t shim_cycles(void) { return g_cycles; }
uint64_t shim_bytes(void) { return g_bytes; }
uint64_t shim_calls(void) { return g_calls; }
"""


class Accel:
    def __init__(self, shim: C.CDLL, lib: C.CDLL, warnings: str):
        self.shim, self.lib, self.warnings = shim, lib, warnings
        for f in ("shim_cycles", "shim_bytes", "shim_calls"):
            getattr(shim, f).restype = C.c_uint64

    @staticmethod
    def pointers(args):
        """Every argument by pointer (the runtime's calling convention); keep the first list alive."""
        keep = []
        ptrs = []
        for a in args:
            if isinstance(a, np.ndarray):
                v = C.c_void_p(a.ctypes.data)
            elif a is None:
                v = C.c_void_p(None)
            elif isinstance(a, C.Structure):
                v = C.c_void_p(C.addressof(a))
            else:
                v = a  # a ctypes scalar
            keep.append(v)
            ptrs.append(C.cast(C.pointer(v), C.c_void_p))
        return keep, ptrs

    def estimate(self, name: str, *args):
        """(cycles, bytes) from the implementation's <name>_estimate companion."""
        keep, ptrs = self.pointers(args)
        fn = getattr(self.lib, name + "_estimate")
        fn.argtypes = [C.c_void_p] * len(ptrs) + [C.c_uint8, C.POINTER(C.c_uint64), C.POINTER(C.c_uint64)]
        fn.restype = None
        cyc, byt = C.c_uint64(12345), C.c_uint64(12345)
        fn(*ptrs, 0, C.byref(cyc), C.byref(byt))
        return int(cyc.value), int(byt.value)

    def call(self, name: str, *args):
        """Call an accelerator implementation: every argument by pointer, then the instance index;
        returns (cycles, bytes) of its single report, after checking that the implementation's
        estimator (asked first, as the runtime does) predicted exactly that."""
        predicted = self.estimate(name, *args)
        keep, ptrs = self.pointers(args)
        fn = getattr(self.lib, name)
        fn.argtypes = [C.c_void_p] * len(ptrs) + [C.c_uint8]
        fn.restype = None
        before = self.shim.shim_calls()
        fn(*ptrs, 1)
        assert self.shim.shim_calls() == before + 1, f"{name} must report exactly once per call"
        reported = int(self.shim.shim_cycles()), int(self.shim.shim_bytes())
        assert predicted == reported, f"{name}_estimate predicted {predicted}, the call reported {reported}"
        return reported


@pytest.fixture(scope="session")
def accel(tmp_path_factory) -> Accel:
    out = tmp_path_factory.mktemp("o2c_accel")
    (out / "shim.c").write_text(SHIM)
    _cc(["-x", "c", "-O2", "-fPIC", "-shared", str(out / "shim.c"), "-o", str(out / "libshim.so")])
    shim = C.CDLL(str(out / "libshim.so"), mode=C.RTLD_GLOBAL)
    sources = sorted(ACCEL.glob("*.cpp"))
    assert {s.name for s in sources} >= {"fft_accel.cpp", "zip_accel.cpp", "gemm_accel.cpp", "conv_accel.cpp"}
    so = out / "libo2c_accel.so"
    warnings = _cc(["-std=c++17", "-O3", "-march=native", "-fPIC", "-shared", "-Wall", "-I", str(KERNELS / "include"),
                    *map(str, sources), "-o", str(so)])
    lib = C.CDLL(str(so))
    return Accel(shim, lib, warnings)


@pytest.fixture(scope="session")
def cpu_prod(tmp_path_factory, klib) -> C.CDLL:
    """The CPU kernels the bit-exactness contract is about, compiled with the production flags of
    onnx2cedr.build (the standalone executables' kernel library): klib itself, unless the kernel
    tests run instrumented (O2C_KERNEL_SANITIZE), when these sources are compiled with those flags."""
    if not SANITIZE:
        return klib
    try:
        from onnx2cedr.build import compile_flags
        flags = compile_flags(native=True)
    except Exception:  # pragma: no cover - the package is importable in this repository
        flags = ["-std=c++20", "-O3", "-march=native", "-fPIC"]
    out = tmp_path_factory.mktemp("o2c_cpu_prod")
    src = KERNELS / "src"
    files = [src / "cpu" / "gemm.cpp", *sorted((src / "cpu").glob("conv*.cpp")), src / "cpu" / "parallel.cpp",
             src / "cpu" / "eltwise.cpp", src / "public" / "zip.cpp", src / "public" / "conv_2d.cpp"]
    objs = []
    for f in files:
        o = out / (f.stem + ".o")
        _cc([*flags, "-fPIC", "-I", str(KERNELS / "include"), "-c", str(f), "-o", str(o)])
        objs.append(str(o))
    so = out / "libcpu_prod.so"
    _cc(["-shared", "-o", str(so), *objs, "-lm"])
    lib = C.CDLL(str(so))
    for name in ("o2c_gemm", "o2c_conv", "o2c_unary", "o2c_binary"):
        getattr(lib, name).argtypes = S.SIGNATURES[name]
        getattr(lib, name).restype = None
    for name, n in (("DASH_ZIP_flt_cpu", 5), ("DASH_ZIP_int_cpu", 5), ("DASH_CONV_2D_int_cpu", 6)):
        getattr(lib, name).argtypes = [C.c_void_p] * n
        getattr(lib, name).restype = None
    return lib


def cpu_call(lib, name, *args):
    keep = [a if not isinstance(a, np.ndarray) else C.c_void_p(a.ctypes.data) for a in args]
    keep = [C.c_void_p(None) if a is None else a for a in keep]
    keep = [C.c_void_p(C.addressof(a)) if isinstance(a, C.Structure) else a for a in keep]
    getattr(lib, name)(*[C.cast(C.pointer(v), C.c_void_p) for v in keep])


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8))


def test_build_is_warning_free(accel):
    assert accel.warnings.strip() == ""


def test_library_is_self_contained(accel):
    out = subprocess.run(["nm", "-D", "--undefined-only", accel.lib._name], capture_output=True, text=True).stdout
    undefined = [ln.split()[-1] for ln in out.splitlines() if ln.strip()]
    assert not [u for u in undefined if u.startswith(("o2c_", "DASH_", "_ZN3o2c6detail"))], undefined
    assert any(ln.split()[0] == "w" and ln.endswith("cedr_accel_account") for ln in out.splitlines())


def test_every_implementation_has_an_estimator(accel):
    out = subprocess.run(["nm", "-D", "--defined-only", accel.lib._name], capture_output=True, text=True).stdout
    defined = {ln.split()[-1] for ln in out.splitlines() if ln.split() and ln.split()[-2] == "T"}
    impls = {d for d in defined if d.startswith("DASH_") and not d.endswith("_estimate")}
    assert {"DASH_CONV_flt_conv", "DASH_GEMM_RE_flt_gemm", "DASH_FFT_flt_fft", "DASH_ZIP_flt_zip",
            "DASH_UNARY_flt_zip", "DASH_BINARY_flt_zip", "DASH_CONV_2D_int_conv"} <= impls
    assert {d + "_estimate" for d in impls} <= defined
    assert {d[: -len("_estimate")] for d in defined if d.endswith("_estimate")} <= impls


def test_estimators_read_no_buffer(accel):
    """Estimators work from the parameters alone: with the data pointers NULL (but a bias, whose
    presence is a parameter) they must neither crash nor change their answer (CONV_2D only compares
    the addresses, for its staging copy)."""
    rng = np.random.default_rng(3)
    p, outs = conv_params(2, 2, 24, 40, 2, [20, 37], [3, 3], [2, 1], [1, 2], [1, 1], [1, 1], 1, (S.ACT_TANH, 0, 0))
    x = rng.standard_normal(2 * 24 * 20 * 37).astype(np.float32)
    w = rng.standard_normal(40 * 12 * 9).astype(np.float32)
    bias = np.zeros(40, np.float32)
    y = np.zeros(2 * 40 * int(np.prod(outs)), np.float32)
    real = accel.call("DASH_CONV_flt_conv", x, w, bias, y, p)
    assert accel.estimate("DASH_CONV_flt_conv", None, None, np.zeros(1, np.float32), None, p) == real
    A, B, gb, gp = gemm_case(rng, 2, 33, 17, 300, 0, 1, 1.0, 1.0, 3, (S.ACT_RELU, 0, 0))
    real = accel.call("DASH_GEMM_RE_flt_gemm", A, B, gb, np.zeros(2 * 33 * 17, np.float32), gp)
    assert accel.estimate("DASH_GEMM_RE_flt_gemm", None, None, np.zeros(1, np.float32), None, gp) == real
    for n in (1000, 4096, 1 << 17):
        assert accel.estimate("DASH_FFT_flt_fft", None, None, C.c_size_t(n), C.c_bool(True)) == \
            accel.call("DASH_FFT_flt_fft", *(np.zeros(n, np.complex64),) * 2, C.c_size_t(n), C.c_bool(True))
    assert accel.estimate("DASH_ZIP_flt_zip", None, None, None, C.c_size_t(5000), C.c_int(S.ZIP_DIV))[0] > 0
    assert accel.estimate("DASH_UNARY_flt_zip", None, None, S.UnaryParams(777, S.act(S.ACT_SIGMOID, 0, 0)))[1] == 8 * 777
    bp = S.BinaryParams(S.BIN_ADD, 2, S.i64x([30, 40]), S.i64x([40, 1]), S.i64x([0, 1]), S.act(0, 0, 0))
    assert accel.estimate("DASH_BINARY_flt_zip", None, None, None, bp) == (math.ceil(1200 / 8) + 4, 4 * (1200 + 1200 + 40))
    # CONV_2D: a separate output, then out aliasing in (the staging copy costs 2 * H * W * 2 bytes)
    img = np.zeros(40 * 50, np.int16)
    sep = accel.estimate("DASH_CONV_2D_int_conv", img, C.c_int(40), C.c_int(50), None, C.c_int(5), img.copy())
    alias = accel.estimate("DASH_CONV_2D_int_conv", img, C.c_int(40), C.c_int(50), None, C.c_int(5), img)
    assert alias == (sep[0], sep[1] + 2 * 40 * 50 * 2)


# ---------------------------------------------------------------------------------------------
# GEMM_RE
# ---------------------------------------------------------------------------------------------
GEMM_T, GEMM_KBUF, GEMV_LANES, GEMV_DEPTH = 16, 4096, 32, 40


def act_depth(op):
    if op == S.ACT_NONE:
        return 0
    if op in (S.ACT_SIGMOID, S.ACT_TANH, S.ACT_ELU, S.UNARY_EXP) or 25 <= op <= 28:  # 25-28: Swish, Gelu x2, Mish
        return 48
    if op in (S.ACT_HARD_SIGMOID, S.ACT_HARD_SWISH):
        return 8
    return 4


def gemm_case(rng, batch, M, N, K, ta, tb, alpha, beta, bias_kind, act, sa=None, sb=None, with_bias=True):
    sa = M * K if sa is None else sa
    sb = K * N if sb is None else sb
    A = rng.standard_normal(max(1, (batch - 1) * sa + M * K)).astype(np.float32)
    B = rng.standard_normal(max(1, (batch - 1) * sb + K * N)).astype(np.float32)
    nb = {0: 1, 1: 1, 2: N, 3: M, 4: M * N}.get(bias_kind, 1)
    bias = rng.standard_normal(nb).astype(np.float32) if with_bias else None
    p = S.GemmParams(batch, M, N, K, sa, sb, M * N, ta, tb, alpha, beta, bias_kind, S.act(*act))
    return A, B, bias, p


def gemm_ref(A, B, bias, p):
    out = np.empty((p.batch, p.M, p.N))
    for b in range(p.batch):
        a = A[b * p.stride_a: b * p.stride_a + p.M * p.K].astype(np.float64)
        bb = B[b * p.stride_b: b * p.stride_b + p.K * p.N].astype(np.float64)
        a = a.reshape(p.K, p.M).T if p.trans_a else a.reshape(p.M, p.K)
        bb = bb.reshape(p.N, p.K).T if p.trans_b else bb.reshape(p.K, p.N)
        c = np.float64(np.float32(p.alpha)) * (a @ bb)
        if bias is not None and p.bias_kind:
            bv = bias.astype(np.float64)
            bterm = {1: lambda: bv[0], 2: lambda: bv[None, :], 3: lambda: bv[:, None],
                     4: lambda: bv.reshape(p.M, p.N)}[p.bias_kind]()
            c = c + np.float64(np.float32(p.beta)) * bterm
        out[b] = unary_ref(c, p.act.op, p.act.alpha, p.act.beta)
    return out


def run_gemm(accel, klib, cpu_prod, A, B, bias, p):
    C_acc = np.full(p.batch * p.M * p.N, np.nan, np.float32)
    C_cpu = np.full_like(C_acc, np.nan)
    C_prod = np.full_like(C_acc, np.nan)
    cyc, byt = accel.call("DASH_GEMM_RE_flt_gemm", A, B, bias, C_acc, p)
    cpu_call(klib, "DASH_GEMM_RE_flt_cpu", A, B, bias, C_cpu, p)
    cpu_prod.o2c_gemm(A.ctypes.data, B.ctypes.data, None if bias is None else bias.ctypes.data, C_prod.ctypes.data,
                      C.byref(p))
    return C_acc, C_cpu, C_prod, cyc, byt


def gemm_params_stream():
    rng = np.random.default_rng(1234)
    dims = [1, 2, 5, 16, 17, 33, 70]
    for i in range(160):
        M, N = int(rng.choice(dims)), int(rng.choice(dims))
        K = int(rng.choice([1, 3, 16, 40, 257, 333, 700]))
        batch = int(rng.choice([1, 1, 2, 3]))
        yield i, M, N, K, batch
    # matrix-vector shapes (the GEMV unit), tiny / huge K, and the CPU's K blocking
    for j, (M, N, K, batch) in enumerate([(1, 300, 64, 1), (1, 40, 1000, 2), (200, 1, 64, 1), (37, 1, 999, 3),
                                          (1, 7, 5000, 1), (1, 1, 5000, 1), (3, 1, 4097, 1), (1, 5000, 1, 1),
                                          (64, 64, 641, 1), (7, 9, 4500, 1), (1, 1, 1, 1), (20, 30, 0, 2)]):
        yield 1000 + j, M, N, K, batch


@pytest.mark.parametrize("case", list(gemm_params_stream()), ids=lambda c: f"{c[0]}-{c[1]}x{c[2]}x{c[3]}b{c[4]}")
def test_gemm_re_bit_identical(accel, klib, cpu_prod, case):
    seed, M, N, K, batch = case
    rng = np.random.default_rng(seed)
    ta, tb = int(rng.integers(2)), int(rng.integers(2))
    alpha = float(rng.choice([1.0, 1.0, 0.5, -1.75]))
    beta = float(rng.choice([1.0, 1.0, 0.3, -2.0]))
    bias_kind = int(rng.integers(5))
    act = ALL_ACTS[int(rng.integers(len(ALL_ACTS)))]
    sa = sb = None
    r = rng.integers(4)
    if batch > 1 and r == 1:
        sb = 0  # shared B (the CPU merges contiguous batches into one tall GEMM)
        ta = 0
        bias_kind = int(rng.integers(3))
    elif batch > 1 and r == 2:
        sa = 0
    A, B, bias, p = gemm_case(rng, batch, M, N, K, ta, tb, alpha, beta, bias_kind, act, sa, sb,
                              with_bias=bool(rng.integers(6)))
    C_acc, C_cpu, C_prod, cyc, byt = run_gemm(accel, klib, cpu_prod, A, B, bias, p)
    assert same_bits(C_acc, C_cpu), "accelerator != CPU kernel (-O2 build)"
    assert same_bits(C_acc, C_prod), "accelerator != CPU kernel (production build)"
    ref = gemm_ref(A, B, bias, p).ravel()
    tol = 1e-5 * (np.sqrt(max(K, 1)) + 4) * (1 + np.abs(ref).max())
    assert np.abs(C_acc - ref).max() <= tol
    assert cyc > 0 and byt > 0


def test_gemm_re_special_values(accel, klib, cpu_prod):
    """Signed zeros, infinities and NaN propagate exactly as on the CPU."""
    rng = np.random.default_rng(7)
    for M, N, K, bk in [(8, 9, 10, 2), (1, 100, 80, 1), (50, 1, 90, 3), (20, 20, 400, 4)]:
        A, B, bias, p = gemm_case(rng, 1, M, N, K, 0, int(M == 1), 1.0, 1.0, bk, (S.ACT_RELU, 0, 0))
        A[::7] = -0.0
        B[::5] = 0.0
        A[3] = np.inf
        B[11] = np.nan
        bias[:] = -0.0
        C_acc, C_cpu, C_prod, _, _ = run_gemm(accel, klib, cpu_prod, A, B, bias, p)
        assert same_bits(C_acc, C_cpu) and same_bits(C_acc, C_prod)


def gemm_model(p, has_bias):
    """Cycles / bytes of the documented model, recomputed."""
    M, N, K, batch = p.M, p.N, p.K, p.batch
    bk = p.bias_kind if has_bias else 0
    csa = M if p.trans_a else 1
    csb = K if p.trans_b else 1
    m_cpu = M * batch if (batch > 1 and p.stride_b == 0 and not p.trans_a and p.stride_a == M * K
                          and p.stride_c == M * N and bk <= 2) else M
    small = K <= 0 or m_cpu * N * K <= 4096
    dot_row = not small and m_cpu == 1 and csb != 1
    dot_col = not small and m_cpu != 1 and N == 1 and csa == 1

    def bias_reads(mt, nt):
        return {1: 1, 2: nt, 3: mt, 4: mt * nt}.get(bk, 0)

    cycles = act_depth(p.act.op)
    nbytes = 0
    for _ in range(batch):
        if dot_row or dot_col:
            n_out = N if dot_row else M
            cycles += n_out * math.ceil(K / GEMV_LANES) + GEMV_DEPTH
            nbytes += 4 * (K + n_out * K + n_out + (bias_reads(1, n_out) if dot_row else bias_reads(n_out, 1)))
            continue
        for i0 in range(0, M, GEMM_T):
            mt = min(GEMM_T, M - i0)
            if K <= GEMM_KBUF:
                nbytes += 4 * mt * K
            for j0 in range(0, N, GEMM_T):
                nt = min(GEMM_T, N - j0)
                cycles += K + 2 * GEMM_T
                nbytes += 4 * ((0 if K <= GEMM_KBUF else mt * K) + K * nt + bias_reads(mt, nt) + mt * nt)
    return cycles, nbytes


@pytest.mark.parametrize("shape", [(1, 16, 16, 16, 0), (1, 40, 50, 300, 2), (2, 33, 17, 5000, 4), (1, 1, 500, 900, 2),
                                   (1, 64, 1, 200, 3), (3, 5, 6, 7, 1)])
def test_gemm_re_model(accel, klib, cpu_prod, shape):
    batch, M, N, K, bk = shape
    rng = np.random.default_rng(5)
    A, B, bias, p = gemm_case(rng, batch, M, N, K, 0, int(M == 1), 1.0, 1.0, bk, (S.ACT_TANH, 0, 0))
    _, _, _, cyc, byt = run_gemm(accel, klib, cpu_prod, A, B, bias, p)
    assert (cyc, byt) == gemm_model(p, True)
    if shape == (1, 16, 16, 16, 0):  # one tile: K + 2T cycles (+ the activation's depth)
        assert cyc == 16 + 32 + 48 and byt == 4 * (16 * 16 * 3)


def test_gemm_re_model_grows(accel, klib, cpu_prod):
    prev = (0, 0)
    for n in (8, 16, 32, 64, 128):
        rng = np.random.default_rng(n)
        A, B, bias, p = gemm_case(rng, 1, n, n, n, 0, 0, 1.0, 1.0, 0, (0, 0, 0))
        _, _, _, cyc, byt = run_gemm(accel, klib, cpu_prod, A, B, bias, p)
        assert cyc > prev[0] and byt > prev[1]
        prev = (cyc, byt)


# ---------------------------------------------------------------------------------------------
# complex GEMM
# ---------------------------------------------------------------------------------------------
def test_complex_gemm(accel, klib):
    rng = np.random.default_rng(3)
    for M, K, N in [(1, 1, 1), (4, 5, 6), (16, 16, 16), (17, 300, 33), (40, 3, 1), (2, 600, 20)]:
        a = (rng.standard_normal((M, K)) + 1j * rng.standard_normal((M, K))).astype(np.complex64)
        b = (rng.standard_normal((K, N)) + 1j * rng.standard_normal((K, N))).astype(np.complex64)
        c_acc = np.zeros((M, N), np.complex64)
        c_cpu = np.zeros((M, N), np.complex64)
        cyc, byt = accel.call("DASH_GEMM_flt_gemm", a, b, c_acc, C.c_size_t(M), C.c_size_t(K), C.c_size_t(N))
        klib.DASH_GEMM_flt(a.ctypes.data, b.ctypes.data, c_cpu.ctypes.data, M, K, N)
        ref = a.astype(np.complex128) @ b.astype(np.complex128)
        scale = np.sqrt(K) * (np.abs(a).max() * np.abs(b).max())
        assert np.abs(c_acc - ref).max() <= 1e-6 * scale * 4
        assert np.abs(c_acc - c_cpu).max() <= 1e-6 * scale * 8
        tiles = math.ceil(M / 16) * math.ceil(N / 16)
        assert cyc == tiles * (K + 32)
        assert byt == 8 * (M * K + math.ceil(M / 16) * K * N + M * N)


# ---------------------------------------------------------------------------------------------
# CONV (float)
# ---------------------------------------------------------------------------------------------
CONV_PM, CONV_PN, CONV_SEG_MAX, CONV_WBUF, CONV_EPI = 16, 16, 512, 65536, 4


def conv_params(rank, batch, cin, cout, groups, in_size, kernel, stride, dil, pad_b, pad_e, has_bias, act):
    out = [(i + pb + pe - d * (k - 1) - 1) // s + 1 for i, k, s, d, pb, pe in
           zip(in_size, kernel, stride, dil, pad_b, pad_e)]
    p = S.ConvParams()
    p.spatial_rank, p.has_bias, p.batch = rank, has_bias, batch
    p.in_channels, p.out_channels, p.groups = cin, cout, groups
    for d in range(rank):
        p.in_size[d], p.out_size[d], p.kernel[d] = in_size[d], out[d], kernel[d]
        p.stride[d], p.dilation[d], p.pad_begin[d] = stride[d], dil[d], pad_b[d]
    p.act = S.act(*act)
    return p, out


def conv_ref(x, w, bias, p):
    """float64 reference: sum over taps of shifted, strided input slices."""
    rank = p.spatial_rank
    B, Cin, Cout, G = p.batch, p.in_channels, p.out_channels, p.groups
    ins = [p.in_size[d] for d in range(rank)]
    outs = [p.out_size[d] for d in range(rank)]
    ks = [p.kernel[d] for d in range(rank)]
    x = x.reshape(B, Cin, *ins).astype(np.float64)
    w = w.reshape(Cout, Cin // G, *ks).astype(np.float64)
    pads = [(p.pad_begin[d], max(0, (outs[d] - 1) * p.stride[d] + (ks[d] - 1) * p.dilation[d] + 1 - ins[d]
                                 - p.pad_begin[d])) for d in range(rank)]
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    out = np.zeros((B, Cout, *outs))
    cg, mg = Cin // G, Cout // G
    for tap in np.ndindex(*ks):
        sl = tuple(slice(t * p.dilation[d], t * p.dilation[d] + (outs[d] - 1) * p.stride[d] + 1, p.stride[d])
                   for d, t in enumerate(tap))
        xs = xp[(slice(None), slice(None)) + sl]
        for g in range(G):
            wt = w[(slice(g * mg, (g + 1) * mg), slice(None)) + tap]  # mg x cg
            out[:, g * mg:(g + 1) * mg] += np.einsum("oc,bc...->bo...", wt, xs[:, g * cg:(g + 1) * cg])
    if bias is not None and p.has_bias:
        out += bias.astype(np.float64).reshape((1, Cout) + (1,) * rank)
    return unary_ref(out, p.act.op, p.act.alpha, p.act.beta)


def run_conv(accel, klib, cpu_prod, x, w, bias, p, n_out):
    y_acc = np.full(n_out, np.nan, np.float32)
    y_cpu = np.full(n_out, np.nan, np.float32)
    y_prod = np.full(n_out, np.nan, np.float32)
    cyc, byt = accel.call("DASH_CONV_flt_conv", x, w, bias, y_acc, p)
    cpu_call(klib, "DASH_CONV_flt_cpu", x, w, bias, y_cpu, p)
    cpu_prod.o2c_conv(x.ctypes.data, w.ctypes.data, None if bias is None else bias.ctypes.data, y_prod.ctypes.data,
                      C.byref(p))
    return y_acc, y_cpu, y_prod, cyc, byt


def conv_case(rng, i):
    rank = int(rng.choice([1, 2, 2, 2, 3]))
    kind = i % 6
    G, mult = 1, 1
    cin = int(rng.choice([1, 3, 4, 8, 13]))
    if kind == 1:  # depthwise
        G = cin
    elif kind == 2 and cin % 2 == 0:  # grouped
        G = 2
    elif kind == 3:  # channel multiplier
        G, mult = cin, int(rng.choice([2, 3]))
    cout = (cin // G) * G * mult if kind in (1, 3) else int(rng.choice([1, 5, 16, 19]))
    if kind not in (1, 3):
        cout = max(G, (cout // G) * G)
    size_hi = {1: 40, 2: 14, 3: 7}[rank]
    in_size = [int(rng.integers(1, size_hi)) for _ in range(rank)]
    kernel = [int(rng.choice([1, 1, 2, 3, 3, 5])) for _ in range(rank)]
    stride = [int(rng.choice([1, 1, 2, 3])) for _ in range(rank)]
    dil = [int(rng.choice([1, 1, 2, 5])) if kind != 4 else int(rng.choice([4, 6])) for _ in range(rank)]
    pad_b = [int(rng.integers(0, k)) for k in kernel]
    pad_e = [int(rng.integers(0, k)) for k in kernel]
    for d in range(rank):  # at least one output position
        need = dil[d] * (kernel[d] - 1) + 1
        if in_size[d] + pad_b[d] + pad_e[d] < need:
            pad_e[d] = need - in_size[d] - pad_b[d]
    act = ALL_ACTS[int(rng.integers(len(ALL_ACTS)))]
    return rank, int(rng.choice([1, 2])), cin, cout, G, in_size, kernel, stride, dil, pad_b, pad_e, \
        int(rng.integers(4) > 0), act


CONV_FIXED = [
    # rank, batch, cin, cout, G, in, k, s, d, pad_b, pad_e  (large K: the CPU's K blocks, both weight paths)
    (2, 1, 48, 20, 1, [16, 16], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),      # direct, packed weights, Kg 432
    (2, 1, 40, 13, 1, [7, 7], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),        # direct, weights in place, Kg 360
    (2, 2, 64, 24, 1, [9, 11], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0]),       # 1x1
    (2, 1, 6, 7, 1, [9, 9], [3, 3], [1, 1], [5, 5], [5, 5], [5, 5]),          # im2col (dilated, small image)
    (2, 1, 40, 9, 1, [8, 8], [3, 3], [1, 1], [4, 4], [4, 4], [4, 4]),         # im2col with K blocks
    (2, 1, 32, 32, 32, [20, 37], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),     # depthwise, wide rows
    (2, 2, 24, 24, 24, [10, 10], [5, 5], [2, 2], [1, 1], [2, 2], [2, 2]),     # depthwise, strided
    (3, 1, 3, 4, 1, [4, 5, 6], [7, 7, 7], [1, 1, 1], [1, 1, 1], [3, 3, 3], [3, 3, 3]),  # 3-D, ksz 343
    (3, 1, 5, 5, 5, [4, 5, 6], [7, 7, 7], [1, 1, 1], [1, 1, 1], [3, 3, 3], [3, 3, 3]),  # 3-D depthwise
    (1, 1, 3, 4, 1, [700], [3], [300], [1], [1], [1]),                        # huge stride: tap gather
    (1, 1, 2, 3, 1, [600], [3], [1], [260], [0], [0]),                        # huge dilation: tap gather
    (2, 1, 300, 17, 1, [5, 5], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),       # weights too big for the buffer
    (1, 3, 16, 8, 4, [50], [4], [2], [3], [2], [1]),
]


@pytest.mark.parametrize("i", list(range(90)) + [1000 + j for j in range(len(CONV_FIXED))])
def test_conv_bit_identical(accel, klib, cpu_prod, i):
    rng = np.random.default_rng(4321 + i)
    if i >= 1000:
        rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe = CONV_FIXED[i - 1000]
        has_bias = int(i % 2 == 0)
        act = ALL_ACTS[i % len(ALL_ACTS)]
    else:
        rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe, has_bias, act = conv_case(rng, i)
    p, outs = conv_params(rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe, has_bias, act)
    x = rng.standard_normal(batch * cin * int(np.prod(ins))).astype(np.float32)
    w = rng.standard_normal(cout * (cin // G) * int(np.prod(ks))).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32) if has_bias else None
    n_out = batch * cout * int(np.prod(outs))
    y_acc, y_cpu, y_prod, cyc, byt = run_conv(accel, klib, cpu_prod, x, w, bias, p, n_out)
    assert same_bits(y_acc, y_cpu), "accelerator != CPU kernel (-O2 build)"
    assert same_bits(y_acc, y_prod), "accelerator != CPU kernel (production build)"
    ref = conv_ref(x, w, bias, p).ravel()
    kg = (cin // G) * int(np.prod(ks))
    assert np.abs(y_acc - ref).max() <= 1e-5 * (np.sqrt(kg) + 4) * (1 + np.abs(ref).max())
    assert cyc > 0 and byt > 0


# the CPU kernel with its weights packed ahead of time (dash_conv_params_t.packed): the lanes path
# (small images, many channels; only taken with packed weights) and the direct path
CONV_PACKED = [
    # rank, batch, cin, cout, G, in, k, s, d, pad_b, pad_e
    (2, 1, 64, 64, 1, [8, 8], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    (2, 1, 48, 40, 1, [4, 4], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    (2, 2, 16, 40, 1, [9, 13], [3, 3], [2, 2], [1, 1], [1, 1], [0, 1]),
    (2, 1, 20, 36, 2, [7, 5], [3, 2], [1, 1], [2, 1], [2, 0], [2, 1]),
    (2, 1, 130, 17, 1, [3, 3], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    (2, 2, 32, 64, 2, [5, 5], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0]),
    (3, 1, 6, 20, 1, [3, 4, 5], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]),
    (1, 2, 12, 32, 1, [50], [5], [1], [1], [2], [2]),
    (2, 1, 16, 16, 1, [32, 32], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
]


@pytest.mark.parametrize("i", range(len(CONV_PACKED)))
def test_conv_packed_bit_identical(accel, cpu_prod, i):
    rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe = CONV_PACKED[i]
    rng = np.random.default_rng(8800 + i)
    act = ALL_ACTS[i % len(ALL_ACTS)]
    p, outs = conv_params(rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe, int(i % 3 > 0), act)
    x = rng.standard_normal(batch * cin * int(np.prod(ins))).astype(np.float32)
    w = rng.standard_normal(cout * (cin // G) * int(np.prod(ks))).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    n_out = batch * cout * int(np.prod(outs))
    y_acc = np.full(n_out, np.nan, np.float32)
    accel.call("DASH_CONV_flt_conv", x, w, bias, y_acc, p)
    cpu_prod.o2c_conv_packed_bytes.restype = C.c_size_t
    cpu_prod.o2c_conv_packed_bytes.argtypes = [C.c_void_p]
    cpu_prod.o2c_conv_pack.argtypes = [C.c_void_p, C.c_void_p, C.c_void_p]
    n = cpu_prod.o2c_conv_packed_bytes(C.addressof(p))
    assert n > 0
    buf = np.zeros(n + 64, np.uint8)
    buf = buf[(-buf.ctypes.data) % 64:]
    cpu_prod.o2c_conv_pack(w.ctypes.data, C.addressof(p), buf.ctypes.data)
    p.packed = buf.ctypes.data
    y_cpu = np.full(n_out, np.nan, np.float32)
    cpu_prod.o2c_conv(x.ctypes.data, w.ctypes.data, bias.ctypes.data, y_cpu.ctypes.data, C.byref(p))
    assert same_bits(y_acc, y_cpu), "accelerator != CPU kernel with packed weights"


def test_conv_special_values(accel, klib, cpu_prod):
    """-0 inputs/bias (the sign of zero survives the padding taps as on the CPU), inf and NaN."""
    rng = np.random.default_rng(11)
    for G, cin, cout in [(1, 4, 6), (4, 4, 4), (1, 40, 9)]:
        p, outs = conv_params(2, 1, cin, cout, G, [6, 7], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], 1,
                              (S.ACT_NONE, 0, 0))
        x = np.full(cin * 42, -0.0, np.float32)
        x[5] = np.inf
        x[17] = np.nan
        w = rng.standard_normal(cout * (cin // G) * 9).astype(np.float32)
        w[::4] = -0.0
        bias = np.full(cout, -0.0, np.float32)
        y_acc, y_cpu, y_prod, _, _ = run_conv(accel, klib, cpu_prod, x, w, bias, p, cout * int(np.prod(outs)))
        assert same_bits(y_acc, y_cpu) and same_bits(y_acc, y_prod)


def conv_model(p, w_floats_per_row):
    """Cycles / bytes of the documented CONV model, recomputed."""
    rank = p.spatial_rank
    g3 = lambda arr, fill: [fill] * (3 - rank) + [arr[d] for d in range(rank)]  # noqa: E731
    ins, outs, ks = g3(p.in_size, 1), g3(p.out_size, 1), g3(p.kernel, 1)
    st, dl, pd = g3(p.stride, 1), g3(p.dilation, 1), g3(p.pad_begin, 0)
    B, Cin, Cout, G = p.batch, p.in_channels, p.out_channels, p.groups
    cg, mg = Cin // G, Cout // G
    ksz = ks[0] * ks[1] * ks[2]
    kg = cg * ksz
    dw = cg == 1 and mg == 1 and G == Cin
    xt = math.ceil(outs[2] / CONV_PN)
    tiles_per_ct = B * outs[0] * outs[1] * xt
    ctiles = [min(CONV_PM, Cin - c0) for c0 in range(0, Cin, CONV_PM)] if dw else \
        [min(CONV_PM, mg - m0) for _ in range(G) for m0 in range(0, mg, CONV_PM)]
    cycles = len(ctiles) * tiles_per_ct * (kg + CONV_PM + CONV_PN) + CONV_EPI + act_depth(p.act.op)

    def reads_per_tile(ox0, nt, oz, oy, nsrc):
        xs = ox0 * st[2] - pd[2]
        seg = (nt - 1) * st[2] + (ks[2] - 1) * dl[2] + 1
        total = 0
        for _ in range(cg if not dw else 1):
            for kz in range(ks[0]):
                iz = oz * st[0] - pd[0] + kz * dl[0]
                for ky in range(ks[1]):
                    iy = oy * st[1] - pd[1] + ky * dl[1]
                    if not (0 <= iz < ins[0] and 0 <= iy < ins[1]):
                        continue
                    if seg <= CONV_SEG_MAX:
                        total += nsrc * len([u for u in range(seg) if 0 <= xs + u < ins[2]])
                    else:
                        total += nsrc * len([1 for kx in range(ks[2]) for n in range(nt)
                                             if 0 <= xs + n * st[2] + kx * dl[2] < ins[2]])
        return total

    nbytes = 4 * B * Cout * outs[0] * outs[1] * outs[2]
    for mt in ctiles:
        resident = mt * kg <= CONV_WBUF
        nbytes += 4 * (mt * kg if resident else 0) + (4 * mt if p.has_bias else 0)
        for _b in range(B):
            for oz in range(outs[0]):
                for oy in range(outs[1]):
                    for t in range(xt):
                        nt = min(CONV_PN, outs[2] - t * CONV_PN)
                        nbytes += 4 * reads_per_tile(t * CONV_PN, nt, oz, oy, mt if dw else 1)
                        nbytes += 0 if resident else 4 * mt * kg
    return cycles, nbytes


@pytest.mark.parametrize("cfg", [
    (2, 1, 3, 5, 1, [6, 7], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    (2, 2, 20, 40, 2, [5, 40], [3, 2], [2, 1], [1, 2], [1, 0], [0, 1]),
    (2, 1, 18, 18, 18, [9, 9], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    (1, 1, 2, 3, 1, [600], [3], [1], [260], [0], [0]),
    (2, 1, 300, 17, 1, [5, 5], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
])
def test_conv_model(accel, klib, cpu_prod, cfg):
    rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe = cfg
    p, outs = conv_params(rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe, 1, (S.ACT_RELU, 0, 0))
    rng = np.random.default_rng(2)
    x = rng.standard_normal(batch * cin * int(np.prod(ins))).astype(np.float32)
    w = rng.standard_normal(cout * (cin // G) * int(np.prod(ks))).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    _, _, _, cyc, byt = run_conv(accel, klib, cpu_prod, x, w, bias, p, batch * cout * int(np.prod(outs)))
    assert (cyc, byt) == conv_model(p, None)


def test_conv_model_grows(accel, klib, cpu_prod):
    prev = (0, 0)
    for hw in (4, 8, 16, 32):
        p, outs = conv_params(2, 1, 8, 8, 1, [hw, hw], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1], 0, (0, 0, 0))
        x = np.ones(8 * hw * hw, np.float32)
        w = np.ones(8 * 8 * 9, np.float32)
        _, _, _, cyc, byt = run_conv(accel, klib, cpu_prod, x, w, None, p, 8 * hw * hw)
        assert cyc > prev[0] and byt > prev[1]
        prev = (cyc, byt)


# ---------------------------------------------------------------------------------------------
# CONV_2D (int16)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 7, 3), (8, 8, 4), (12, 9, 5), (3, 300, 3), (6, 520, 5),
                                   (20, 25, 17), (4, 4, 9), (9, 11, 0), (33, 40, 7)])
def test_conv_2d_int_exact(accel, klib, cpu_prod, shape):
    H, W, ms = shape
    rng = np.random.default_rng(H * 1000 + W * 10 + ms)
    x = rng.integers(-32768, 32768, H * W).astype(np.int16)
    mask = (rng.standard_normal(max(ms * ms, 1)) * rng.choice([1e-4, 0.3, 3.0, 1e5], max(ms * ms, 1))).astype(np.float32)
    y_acc = np.zeros(H * W, np.int16)
    y_cpu = np.zeros(H * W, np.int16)
    y_prod = np.zeros(H * W, np.int16)
    args = lambda y: (x, C.c_int(H), C.c_int(W), mask, C.c_int(ms), y)  # noqa: E731
    cyc, byt = accel.call("DASH_CONV_2D_int_conv", *args(y_acc))
    cpu_call(klib, "DASH_CONV_2D_int_cpu", *args(y_cpu))
    cpu_call(cpu_prod, "DASH_CONV_2D_int_cpu", *args(y_prod))
    assert same_bits(y_acc, y_cpu) and same_bits(y_acc, y_prod)
    # in place (out aliases in)
    inplace = x.copy()
    accel.call("DASH_CONV_2D_int_conv", inplace, C.c_int(H), C.c_int(W), mask, C.c_int(ms), inplace)
    assert same_bits(inplace, y_cpu)
    # model, single pass: strips of 256 columns, the mask resident
    if 0 < ms * ms <= 256:
        h = ms // 2
        cycles = nbytes = 0
        nbytes += 4 * ms * ms
        for x0 in range(0, W, 256):
            sw = min(256, W - x0)
            cycles += (H + ms - 1) * (sw + ms - 1) + 24
            rows = min(H, H + ms - 1 - h) - max(0, -h)
            cols = min(W, x0 + sw + ms - 1 - h) - max(0, x0 - h)
            nbytes += 2 * rows * cols + 2 * H * sw
        assert (cyc, byt) == (cycles, nbytes)


# ---------------------------------------------------------------------------------------------
# ZIP
# ---------------------------------------------------------------------------------------------
ZIP_DEPTH = {S.ZIP_ADD: 4, S.ZIP_SUB: 4, S.ZIP_MULT: 8, S.ZIP_CMP_MULT: 8, S.ZIP_DIV: 36}


def zip_operands(rng, n):
    a = (rng.standard_normal((n, 2)) * rng.choice([1e-3, 1.0, 1e3], (n, 1))).astype(np.float32)
    b = (rng.standard_normal((n, 2)) * rng.choice([1e-3, 1.0, 1e3], (n, 1))).astype(np.float32)
    if n > 8:
        b[3] = 0.0          # zero divisor
        b[5, 0] = 0.0
        b[6, 1] = -0.0
        a[7] = [np.inf, -0.0]
    return a, b


@pytest.mark.parametrize("n", [1, 7, 8, 31, 1000, 1024, 5003])
@pytest.mark.parametrize("op", [S.ZIP_ADD, S.ZIP_SUB, S.ZIP_MULT, S.ZIP_DIV, S.ZIP_CMP_MULT])
def test_zip_flt(accel, klib, cpu_prod, op, n):
    rng = np.random.default_rng(n * 7 + op)
    a, b = zip_operands(rng, n)
    out = np.zeros_like(a)
    cyc, byt = accel.call("DASH_ZIP_flt_zip", a, b, out, C.c_size_t(n), C.c_int(op))
    cpu = np.zeros_like(a)
    prod = np.zeros_like(a)
    cpu_call(klib, "DASH_ZIP_flt_cpu", a, b, cpu, C.c_size_t(n), C.c_int(op))
    cpu_call(cpu_prod, "DASH_ZIP_flt_cpu", a, b, prod, C.c_size_t(n), C.c_int(op))
    assert same_bits(out, cpu) and same_bits(out, prod)  # one numerics contract (explicit fmac) for both
    # numpy reference (finite, nonzero-divisor lanes)
    za = a[:, 0].astype(np.float64) + 1j * a[:, 1]
    zb = b[:, 0].astype(np.float64) + 1j * b[:, 1]
    with np.errstate(all="ignore"):
        ref = {S.ZIP_ADD: za + zb, S.ZIP_SUB: za - zb, S.ZIP_MULT: za * zb, S.ZIP_DIV: za / zb,
               S.ZIP_CMP_MULT: za * np.conj(zb)}[op]
        got = out[:, 0].astype(np.float64) + 1j * out[:, 1]
        ok = np.isfinite(ref) & (np.abs(zb) > 0) & np.isfinite(za)
        scale = np.abs(za) * (np.abs(zb) if op in (S.ZIP_MULT, S.ZIP_CMP_MULT) else 1.0) + np.abs(ref)
        assert np.all(np.abs(got - ref)[ok] <= 1e-6 * scale[ok] + 1e-30)
    assert (cyc, byt) == (math.ceil(n / 8) + ZIP_DEPTH[op], 3 * 8 * n)
    # in place: out aliases a, then b
    for which in (0, 1):
        x, y = a.copy(), b.copy()
        tgt = x if which == 0 else y
        accel.call("DASH_ZIP_flt_zip", x, y, tgt, C.c_size_t(n), C.c_int(op))
        assert same_bits(tgt, out)


@pytest.mark.parametrize("op", [S.ZIP_ADD, S.ZIP_SUB, S.ZIP_MULT, S.ZIP_DIV, S.ZIP_CMP_MULT])
def test_zip_int(accel, klib, op):
    rng = np.random.default_rng(op)
    n = 3001
    a = rng.integers(-32768, 32768, (n, 2)).astype(np.int16)
    b = rng.integers(-300, 300, (n, 2)).astype(np.int16)
    b[:50] = rng.integers(-32768, 32768, (50, 2))
    b[60] = 0
    out = np.zeros_like(a)
    cpu = np.zeros_like(a)
    cyc, byt = accel.call("DASH_ZIP_int_zip", a, b, out, C.c_size_t(n), C.c_int(op))
    klib.DASH_ZIP_int(a.ctypes.data, b.ctypes.data, cpu.ctypes.data, n, op)
    assert same_bits(out, cpu)
    assert (cyc, byt) == (math.ceil(n / 8) + (40 if op == S.ZIP_DIV else 4), 3 * 4 * n)


def test_zip_cycles_grow(accel):
    prev = 0
    for n in (10, 100, 1000, 10000):
        a = np.ones((n, 2), np.float32)
        cyc, byt = accel.call("DASH_ZIP_flt_zip", a, a, a.copy(), C.c_size_t(n), C.c_int(S.ZIP_ADD))
        assert cyc > prev and byt == 24 * n
        prev = cyc


# ---------------------------------------------------------------------------------------------
# UNARY / BINARY on the zip engine
# ---------------------------------------------------------------------------------------------
def special_floats(rng, n):
    x = (rng.standard_normal(n) * rng.choice([0.01, 1.0, 10.0, 100.0], n)).astype(np.float32)
    x[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 88.9, -87.5, 0.29]
    return x


@pytest.mark.parametrize("op", list(range(0, 29)))
def test_unary_bit_identical(accel, klib, cpu_prod, op):
    rng = np.random.default_rng(op)
    n = 2053
    x = special_floats(rng, n)
    if op in (S.UNARY_LOG, S.UNARY_SQRT):
        x[8:] = np.abs(x[8:])
    alpha, beta = (0.2, 0.5) if op != S.ACT_CLIP else (-0.5, 0.75)
    p = S.UnaryParams(n, S.act(op, alpha, beta))
    out = np.zeros(n, np.float32)
    cpu = np.zeros(n, np.float32)
    prod = np.zeros(n, np.float32)
    cyc, byt = accel.call("DASH_UNARY_flt_zip", x, out, p)
    klib.o2c_unary(x.ctypes.data, cpu.ctypes.data, C.byref(p))
    cpu_prod.o2c_unary(x.ctypes.data, prod.ctypes.data, C.byref(p))
    assert same_bits(out, cpu) and same_bits(out, prod)
    assert (cyc, byt) == (math.ceil(n / 8) + 4 + act_depth(op), 8 * n)
    y = x.copy()
    accel.call("DASH_UNARY_flt_zip", y, y, p)  # in place
    assert same_bits(y, out)


@pytest.mark.parametrize("case", range(24))
def test_binary_bit_identical(accel, klib, cpu_prod, case):
    rng = np.random.default_rng(100 + case)
    op = case % 8
    rank = int(rng.integers(0, 5))
    shape = [int(rng.integers(1, 6)) for _ in range(rank)]
    bshape_a = [d if rng.integers(3) else 1 for d in shape]
    bshape_b = [d if rng.integers(3) else 1 for d in shape]

    def strides(bs):
        st, acc = [0] * rank, 1
        for d in reversed(range(rank)):
            st[d] = 0 if bs[d] == 1 else acc
            acc *= bs[d]
        return st, max(acc, 1)

    sa, na = strides(bshape_a)
    sb, nb = strides(bshape_b)
    a = special_floats(rng, max(na, 8))[:na].copy()
    b = special_floats(rng, max(nb, 8))[:nb].copy()
    if op == S.BIN_POW:
        b[::3] = 2.0
        b[1::3] = 1.0
    act = ALL_ACTS[case % len(ALL_ACTS)]
    p = S.BinaryParams(op, rank, S.i64x(shape), S.i64x(sa), S.i64x(sb), S.act(*act))
    n = int(np.prod(shape)) if rank else 1
    out = np.zeros(n, np.float32)
    cpu = np.zeros(n, np.float32)
    prod = np.zeros(n, np.float32)
    cyc, byt = accel.call("DASH_BINARY_flt_zip", a, b, out, p)
    klib.o2c_binary(a.ctypes.data, b.ctypes.data, cpu.ctypes.data, C.byref(p))
    cpu_prod.o2c_binary(a.ctypes.data, b.ctypes.data, prod.ctypes.data, C.byref(p))
    assert same_bits(out, cpu) and same_bits(out, prod)
    assert cyc == math.ceil(n / 8) + 4 + act_depth(act[0])
    assert byt == 4 * (n + na + nb)


# ---------------------------------------------------------------------------------------------
# FFT
# ---------------------------------------------------------------------------------------------
FFT_MAX_N, FFT_B, FFT_DEPTH = 1 << 16, 4, 16


def fft_cycles(n):
    return 0 if n <= 1 else int(math.log2(n)) * (math.ceil(n / (2 * FFT_B)) + FFT_DEPTH)


def rel_err(got, ref):
    return np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30)


@pytest.mark.parametrize("n", [1, 2, 4, 8, 64, 1024, 4096, 1 << 16, 1 << 17, 3, 5, 6, 7, 12, 100, 1000, 1023, 3000])
@pytest.mark.parametrize("forward", [True, False])
def test_fft_flt(accel, klib, n, forward):
    rng = np.random.default_rng(n + forward)
    z = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    out = np.zeros_like(z)
    cyc, byt = accel.call("DASH_FFT_flt_fft", z, out, C.c_size_t(n), C.c_bool(forward))
    ref = np.fft.fft(z.astype(np.complex128)) if forward else np.fft.ifft(z.astype(np.complex128))
    assert rel_err(out, ref) <= 2e-6 * max(1.0, math.log2(n))
    if n <= 4096:
        cpu = np.zeros_like(z)
        klib.DASH_FFT_flt(z.ctypes.data, cpu.ctypes.data, n, forward)
        assert rel_err(out, cpu) <= 4e-6 * max(1.0, math.log2(n))
    pow2 = n & (n - 1) == 0
    if pow2 and n <= FFT_MAX_N:
        assert (cyc, byt) == (fft_cycles(n), 16 * n)
    elif pow2:
        n2, n1 = FFT_MAX_N, n // FFT_MAX_N
        assert cyc == n2 * fft_cycles(n1) + n1 * fft_cycles(n2)
        assert byt == 32 * n + 16 * n + 16 * n  # work vector in / out + column pass + row pass
    else:
        m = 1 << (2 * n - 2).bit_length()
        assert cyc == 3 * fft_cycles(m) + math.ceil(m / FFT_B) + 2 * math.ceil(n / FFT_B) + 2 * FFT_DEPTH
    # in place
    y = z.copy()
    accel.call("DASH_FFT_flt_fft", y, y, C.c_size_t(n), C.c_bool(forward))
    assert same_bits(y, out)


@pytest.mark.parametrize("n", [1, 16, 256, 100, 1 << 17])
def test_fft_int(accel, klib, n):
    rng = np.random.default_rng(n)
    z = np.zeros((n, 2), np.int16)
    z[:] = rng.integers(-300, 300, (n, 2))
    if n >= 16:
        z[:4] = 32767  # saturates in the forward direction
    for forward in (True, False):
        out = np.zeros_like(z)
        cpu = np.zeros_like(z)
        cyc, byt = accel.call("DASH_FFT_int_fft", z, out, C.c_size_t(n), C.c_bool(forward))
        if n <= 4096:
            klib.DASH_FFT_int(z.ctypes.data, cpu.ctypes.data, n, forward)
        else:
            zc = z[:, 1].astype(np.float64) + 1j * z[:, 0]
            r = np.fft.fft(zc) if forward else np.fft.ifft(zc)
            rh = lambda v: np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), -32768, 32767)  # noqa: E731
            cpu[:, 1], cpu[:, 0] = rh(r.real), rh(r.imag)
        # the same float transform up to rounding: results agree to one unit
        assert np.abs(out.astype(np.int32) - cpu.astype(np.int32)).max() <= 1
        if n <= FFT_MAX_N and n & (n - 1) == 0:
            assert (cyc, byt) == (fft_cycles(n), 8 * n)


def test_fft_cycles_grow(accel):
    prev = 0
    for n in (8, 64, 512, 4096, 1 << 15):
        z = np.zeros(n, np.complex64)
        cyc, _ = accel.call("DASH_FFT_flt_fft", z, z, C.c_size_t(n), C.c_bool(True))
        assert cyc > prev
        prev = cyc


# ---------------------------------------------------------------------------------------------
# the runtime's build of the library (onnx2cedr.runtime_build: -O2, which vectorizes less)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def accel_o2(tmp_path_factory, accel) -> Accel:
    out = tmp_path_factory.mktemp("o2c_accel_o2")
    so = out / "libo2c_accel_o2.so"
    warnings = _cc(["-std=c++17", "-O2", "-march=native", "-fPIC", "-shared", "-Wall", "-I", str(KERNELS / "include"),
                    *map(str, sorted(ACCEL.glob("*.cpp"))), "-o", str(so)])
    return Accel(accel.shim, C.CDLL(str(so)), warnings)


# output widths / channel counts that select each way the emulation maps the array onto vector
# lanes (positions or channels, 4 / 8 / 16 PE rows, 2 / 4 / 8 PE columns), depthwise included
CONV_LANE_CASES = [
    (2, 1, 128, 256, 1, [4, 4], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    (2, 1, 64, 40, 1, [2, 2], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    (2, 1, 48, 24, 1, [7, 7], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    (2, 1, 5, 3, 1, [20, 40], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    (2, 1, 9, 7, 1, [20, 21], [3, 3], [2, 2], [1, 1], [1, 1], [1, 1]),
    (2, 1, 512, 64, 1, [4, 4], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0]),
    (2, 1, 6, 6, 6, [30, 33], [3, 3], [1, 1], [1, 1], [1, 1], [1, 1]),
    (2, 1, 20, 20, 20, [12, 12], [5, 5], [2, 2], [1, 1], [2, 2], [2, 2]),
]


@pytest.mark.parametrize("i", range(len(CONV_LANE_CASES) + 4))
def test_runtime_build_bit_identical(accel_o2, klib, i):
    assert accel_o2.warnings.strip() == ""
    rng = np.random.default_rng(700 + i)
    act = ALL_ACTS[i % len(ALL_ACTS)]
    if i < len(CONV_LANE_CASES):
        rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe = CONV_LANE_CASES[i]
        p, outs = conv_params(rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe, 1, act)
        x = rng.standard_normal(batch * cin * int(np.prod(ins))).astype(np.float32)
        w = rng.standard_normal(cout * (cin // G) * int(np.prod(ks))).astype(np.float32)
        bias = rng.standard_normal(cout).astype(np.float32)
        n_out = batch * cout * int(np.prod(outs))
        y_acc, y_cpu = np.zeros(n_out, np.float32), np.zeros(n_out, np.float32)
        accel_o2.call("DASH_CONV_flt_conv", x, w, bias, y_acc, p)
        cpu_call(klib, "DASH_CONV_flt_cpu", x, w, bias, y_cpu, p)
        assert same_bits(y_acc, y_cpu)
        return
    M, N, K, tb = [(300, 3, 200, 1), (3, 300, 200, 0), (70, 70, 333, 1), (6, 9, 1000, 0)][i - len(CONV_LANE_CASES)]
    A, B, bias, p = gemm_case(rng, 1, M, N, K, 0, tb, 1.0, 0.5, 2, act)
    C_acc, C_cpu = np.zeros(M * N, np.float32), np.zeros(M * N, np.float32)
    accel_o2.call("DASH_GEMM_RE_flt_gemm", A, B, bias, C_acc, p)
    cpu_call(klib, "DASH_GEMM_RE_flt_cpu", A, B, bias, C_cpu, p)
    assert same_bits(C_acc, C_cpu)


# ---------------------------------------------------------------------------------------------
# portable build (no AVX2 / FMA): the accelerator mirrors the CPU kernels' portable numerics
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def accel_portable(tmp_path_factory, accel) -> Accel:
    out = tmp_path_factory.mktemp("o2c_accel_portable")
    so = out / "libo2c_accel_portable.so"
    warnings = _cc(["-std=c++17", "-O3", "-mno-avx2", "-mno-fma", "-fPIC", "-shared", "-Wall", "-I",
                    str(KERNELS / "include"), *map(str, sorted(ACCEL.glob("*.cpp"))), "-o", str(so)])
    return Accel(accel.shim, C.CDLL(str(so)), warnings)


@pytest.mark.parametrize("i", range(16))
def test_portable_gemm_conv_bit_identical(accel_portable, klib_portable, i):
    assert accel_portable.warnings.strip() == ""
    rng = np.random.default_rng(900 + i)
    act = ALL_ACTS[i % len(ALL_ACTS)]
    M, N, K = [(1, 200, 300), (90, 1, 77), (33, 40, 700), (5, 6, 7)][i % 4]
    A, B, bias, p = gemm_case(rng, 2, M, N, K, 0, int(rng.integers(2)), 1.0, 0.5, int(rng.integers(5)), act)
    C_acc = np.zeros(2 * M * N, np.float32)
    C_cpu = np.zeros_like(C_acc)
    accel_portable.call("DASH_GEMM_RE_flt_gemm", A, B, bias, C_acc, p)
    klib_portable.o2c_gemm(A.ctypes.data, B.ctypes.data, bias.ctypes.data, C_cpu.ctypes.data, C.byref(p))
    assert same_bits(C_acc, C_cpu)
    cfg = CONV_FIXED[i % len(CONV_FIXED)]
    rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe = cfg
    p, outs = conv_params(rank, batch, cin, cout, G, ins, ks, st, dl, pb, pe, i % 2, act)
    x = rng.standard_normal(batch * cin * int(np.prod(ins))).astype(np.float32)
    w = rng.standard_normal(cout * (cin // G) * int(np.prod(ks))).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    n_out = batch * cout * int(np.prod(outs))
    y_acc = np.zeros(n_out, np.float32)
    y_cpu = np.zeros(n_out, np.float32)
    accel_portable.call("DASH_CONV_flt_conv", x, w, bias, y_acc, p)
    klib_portable.o2c_conv(x.ctypes.data, w.ctypes.data, bias.ctypes.data, y_cpu.ctypes.data, C.byref(p))
    assert same_bits(y_acc, y_cpu)
