"""Independent float64 references and comparison helpers for the kernel tests."""
from __future__ import annotations

import contextlib
import ctypes
import math
import os
from pathlib import Path

import numpy as np

import _ctypes_structs as S

EPS32 = 2.0 ** -23
KERNELS = Path(__file__).resolve().parents[2] / "kernels"
CXX = os.environ.get("CXX", "g++")
# O2C_KERNEL_SANITIZE=address,undefined: the tests build their kernel libraries instrumented
# (tests/test_sanitize_kernels.py runs them so, the sanitizer runtime preloaded)
SANITIZE = os.environ.get("O2C_KERNEL_SANITIZE", "")


def sanitized(flags: list[str]) -> list[str]:
    """flags with the optimization level replaced by the instrumented build's flags (compile and
    link), when O2C_KERNEL_SANITIZE asks for one."""
    if not SANITIZE:
        return flags
    from onnx2cedr.build import parse_sanitize, sanitize_flags

    return [f for f in flags if not f.startswith("-O")] + sanitize_flags(parse_sanitize(SANITIZE))

# every fused activation with representative alpha/beta
ALL_ACTS = [
    (S.ACT_NONE, 0.0, 0.0),
    (S.ACT_RELU, 0.0, 0.0),
    (S.ACT_LEAKY_RELU, 0.1, 0.0),
    (S.ACT_CLIP, -0.5, 0.75),
    (S.ACT_SIGMOID, 0.0, 0.0),
    (S.ACT_TANH, 0.0, 0.0),
    (S.ACT_HARD_SIGMOID, 0.2, 0.5),
    (S.ACT_HARD_SWISH, 0.0, 0.0),
    (S.ACT_ELU, 1.3, 0.0),
]

_erf = np.vectorize(math.erf, otypes=[np.float64])


def unary_ref(x, op: int, alpha: float = 0.0, beta: float = 0.0) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    a, b = np.float64(np.float32(alpha)), np.float64(np.float32(beta))
    if op in (S.ACT_NONE, S.UNARY_IDENTITY):
        return x.copy()
    if op == S.ACT_RELU:
        return np.maximum(x, 0.0)
    if op == S.ACT_LEAKY_RELU:
        return np.where(x >= 0, x, a * x)
    if op == S.ACT_CLIP:
        return np.minimum(np.maximum(x, a), b)
    if op == S.ACT_SIGMOID:
        return 1.0 / (1.0 + np.exp(-x))
    if op == S.ACT_TANH:
        return np.tanh(x)
    if op == S.ACT_HARD_SIGMOID:
        return np.clip(a * x + b, 0.0, 1.0)
    if op == S.ACT_HARD_SWISH:
        return x * np.clip(x / 6.0 + 0.5, 0.0, 1.0)
    if op == S.ACT_ELU:
        return np.where(x >= 0, x, a * np.expm1(x))
    if op == S.UNARY_EXP:
        return np.exp(x)
    if op == S.UNARY_LOG:
        return np.log(x)
    if op == S.UNARY_SQRT:
        return np.sqrt(x)
    if op == S.UNARY_ABS:
        return np.abs(x)
    if op == S.UNARY_NEG:
        return -x
    if op == S.UNARY_RECIPROCAL:
        return 1.0 / x
    if op == S.UNARY_FLOOR:
        return np.floor(x)
    if op == S.UNARY_CEIL:
        return np.ceil(x)
    if op == S.UNARY_ERF:
        return _erf(x)
    if op == S.UNARY_SOFTPLUS:
        return np.logaddexp(0.0, x)
    if op == S.UNARY_SIN:
        return np.sin(x)
    if op == S.UNARY_COS:
        return np.cos(x)
    if op == S.UNARY_ROUND:
        return np.round(x)  # half to even
    if op == S.UNARY_SIGN:
        return np.sign(x)
    if op == S.UNARY_AFFINE:
        return a * x + b
    raise ValueError(op)


def assert_within(got, ref, tol, what: str = "") -> None:
    """|got - ref| <= tol elementwise (tol broadcasts); a readable message on failure."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), ref.shape)
    with np.errstate(invalid="ignore"):  # inf - inf: judged below
        err = np.abs(got - ref)
    bad = ~(err <= tol)
    # NaN in both places is a match
    bad &= ~(np.isnan(got) & np.isnan(ref))
    # equal infinities are a match
    bad &= ~(np.isinf(ref) & (got == ref))
    if bad.any():
        idx = np.unravel_index(np.argmax(np.where(bad, err - tol, -np.inf)), ref.shape) if ref.ndim else ()
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {ref.size} elements off; worst at {idx}: got {got[idx]!r}, "
            f"expected {ref[idx]!r}, tolerance {tol[idx]!r}"
        )


def assert_close(got, ref, rtol: float = 1e-6, atol: float = 1e-7, what: str = "") -> None:
    ref = np.asarray(ref, dtype=np.float64)
    assert_within(got, ref, atol + rtol * np.abs(ref), what)


def reduction_tol(bound, k: int, extra_rel: float = 0.0):
    """Tolerance for a float32 sum of k products whose absolute values sum to bound: rounding
    errors grow like sqrt(k) (measured: below 2 eps*bound up to k = 5000), so this is tight
    enough that a dropped or misplaced term fails."""
    bound = np.asarray(bound, dtype=np.float64)
    return (2.0 * np.sqrt(max(k, 1)) + 4.0) * EPS32 * bound + extra_rel * bound + 1e-30


@contextlib.contextmanager
def kernel_threads(lib, n: int):
    """Runs the block with the library's thread count for the calling thread set to n."""
    lib.o2c_set_threads.argtypes = [ctypes.c_int]
    lib.o2c_set_threads.restype = ctypes.c_int
    prev = lib.o2c_set_threads(n)
    try:
        yield
    finally:
        lib.o2c_set_threads(prev)
