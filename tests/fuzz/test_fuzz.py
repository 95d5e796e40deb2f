"""Fuzzing in CI (issue 18): every harness of tests/fuzz/harnesses.py runs for a short budget (all at
once, ~10 s each) and must end with no crash after executing a floor of inputs; each crash the
fuzzers found is a regression test, on the harness (its saved input, tests/fuzz/regressions/) and on
the fixed function itself (a g++ build, so that it runs without clang too)."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harnesses as H  # noqa: E402

BUDGET = 10  # seconds per harness
# inputs each harness must at least execute in BUDGET seconds, all five sharing a loaded 2-core machine
# (alone on one core: config ~40,000, npy ~6,000, weights ~40,000, app_spec ~800,000, loader ~100)
MIN_EXECS = {"config": 500, "npy": 500, "weights": 500, "app_spec": 5000, "loader": 10}
REGRESSIONS = sorted((HERE / "regressions").iterdir())


@pytest.fixture(scope="module")
def bins():
    try:
        return H.build()
    except H.Unavailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def results(bins, tmp_path_factory):
    try:
        import atheris  # noqa: F401
    except ImportError:
        pytest.skip("atheris is not installed (bash scripts/setup.sh)")
    out = tmp_path_factory.mktemp("fuzz")
    with ThreadPoolExecutor(len(H.ALL)) as pool:
        runs = pool.map(lambda n: H.run(n, BUDGET, out, bins.get(n), seed=1), H.ALL)
    return {r["name"]: r for r in runs}


@pytest.mark.parametrize("name", H.ALL)
def test_harness_runs_clean(results, name):
    r = results[name]
    assert not r["crashes"], f"{name}: crash saved as {r['crashes']}:\n{r['log'][-3000:]}"
    assert r["execs"] > MIN_EXECS[name], f"{name}: only {r['execs']} inputs executed:\n{r['log'][-2000:]}"


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.name)
def test_regression_input(bins, path):
    """A crash input, fed once to its harness (a libFuzzer binary given a file runs it and exits)."""
    name = path.name.split("-")[0]
    p = subprocess.run([str(bins[name]), str(path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]


# ------------------------------------------------------------------- the fixed functions, built with g++

@pytest.fixture(scope="module")
def support(tmp_path_factory):
    """kernels' .npy reader and weights loader in one shared object."""
    from onnx2cedr.build import find_compiler

    root = H.ROOT / "kernels"
    so = tmp_path_factory.mktemp("support") / "libsupport.so"
    srcs = [root / "src" / "cpu" / "npy.cpp", root / "src" / "support" / "model_support.cpp",
            root / "src" / "support" / "crc32.cpp"]
    subprocess.run([find_compiler(), "-std=c++17", "-O1", "-fPIC", "-shared", "-I", str(root / "include"),
                    *map(str, srcs), "-ldl", "-o", str(so)], check=True)
    lib = ctypes.CDLL(str(so))
    P = ctypes.POINTER
    lib.o2c_npy_read.argtypes = [ctypes.c_char_p, ctypes.c_char_p, P(ctypes.c_int64), ctypes.c_int32,
                                 ctypes.c_void_p, ctypes.c_int64, ctypes.c_char_p, ctypes.c_size_t]
    lib.o2c_weights_map.restype = ctypes.c_void_p
    lib.o2c_weights_map.argtypes = [ctypes.c_char_p, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_uint32,
                                    ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    return lib


def _npy(lib, path: Path, shape=(2,)) -> tuple[int, str]:
    dst = np.zeros(max(1, int(np.prod(shape))), np.float32)
    err = ctypes.create_string_buffer(512)
    shp = (ctypes.c_int64 * max(1, len(shape)))(*shape)
    rc = lib.o2c_npy_read(str(path).encode(), b"<f4", shp, len(shape), dst.ctypes.data, 4, err, len(err))
    return rc, err.value.decode()


def _npy_file(path: Path, header: str) -> Path:
    h = header.encode()
    h += b" " * (63 - (10 + len(h)) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h + bytes(64))
    return path


def test_npy_descr_with_a_newline_is_one_line(support, tmp_path):
    """fuzz_npy: a dtype descriptor holding a newline made the reason two lines."""
    p = _npy_file(tmp_path / "a.npy", "{'descr': '<f\n4', 'fortran_order': False, 'shape': (2,), }")
    rc, err = _npy(support, p)
    assert rc == -1 and "\n" not in err and "dtype '<f\\x0a4' does not match" in err


def test_npy_shape_whose_product_overflows_is_refused(support, tmp_path):
    """fuzz_npy: dimensions whose product passes int64 overflowed (UBSan: signed overflow) and could
    wrap around to the expected count."""
    p = _npy_file(tmp_path / "a.npy", "{'descr': '<f4', 'fortran_order': False, "
                                      "'shape': (1125899906842624, 1125899906842624, 16), }")
    rc, err = _npy(support, p, (0,))
    assert rc == -1 and "has more elements than a file can hold" in err
    # a zero dimension still makes an empty array, whatever the others
    p = _npy_file(tmp_path / "b.npy", "{'descr': '<f4', 'fortran_order': False, "
                                      "'shape': (1125899906842624, 1125899906842624, 0), }")
    assert _npy(support, p, (0,)) == (0, "")


def test_weights_payload_size_that_wraps_is_refused(support, tmp_path, monkeypatch):
    """fuzz_weights: a payload size near SIZE_MAX made header + payload wrap to the size of a
    63-byte file, which was then mapped and read far past its end."""
    f = tmp_path / "w.weights"
    f.write_bytes(bytes(63))
    monkeypatch.setenv("O2C_WEIGHTS", str(f))
    err = ctypes.create_string_buffer(512)
    p = support.o2c_weights_map(b"w.weights", 1, 2**64 - 1, 0, None, err, len(err))
    assert p is None and "cannot be mapped" in err.value.decode()
