"""The kernel unit tests (tests/kernels) under AddressSanitizer + UndefinedBehaviorSanitizer: the same
tests, in a child pytest whose kernel library is the instrumented one `convert --sanitize
address,undefined` links (O2C_KERNEL_SANITIZE; tests/kernels/conftest.py), with the sanitizer
runtime preloaded into Python. Any report stops the child (halt_on_error) and fails this test with
the report.

Left out: test_accel.py, test_qaccel.py and test_kernel_check.py, which build their own
uninstrumented libraries (the accelerator kernels at -O3, bit-identical to the CPU ones at -O2 or -O3;
the kernel check against every build)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from onnx2cedr.build import find_compiler, sanitizer_env, sanitizer_preload

ROOT = Path(__file__).resolve().parent.parent
KTESTS = ROOT / "tests" / "kernels"
LEFT_OUT = ("test_accel.py", "test_qaccel.py", "test_kernel_check.py")


def _child_env(cxx: str, logs: Path) -> dict[str, str]:
    """The environment of a Python that loads instrumented libraries: the sanitizer runtimes
    preloaded, reports halting the process and written to logs.PID."""
    # libstdc++ beside libasan: Python does not link it, and ASan's __cxa_throw interceptor needs the
    # real one resolved when it starts (onnxruntime, which the tests call, throws C++ exceptions)
    libstdcxx = subprocess.run(cxx.split() + ["-print-file-name=libstdc++.so"], capture_output=True,
                               text=True).stdout.strip()
    preload = sanitizer_preload(cxx, ("address",)) + ([libstdcxx] if os.path.isabs(libstdcxx) else [])
    env = {k: v for k, v in sanitizer_env().items() if not k.startswith(("PYTEST_", "COV_"))}
    # Python's own allocations are never freed at exit: leak checking would only report those
    env["ASAN_OPTIONS"] += f":detect_leaks=0:log_path={logs}"
    env["UBSAN_OPTIONS"] += f":log_path={logs}"
    env["LD_PRELOAD"] = " ".join(preload)
    return env


def test_kernel_tests_run_clean_under_asan_and_ubsan(tmp_path):
    env = _child_env(find_compiler(), tmp_path / "report")
    env["O2C_KERNEL_SANITIZE"] = "address,undefined"
    files = sorted(str(p) for p in KTESTS.glob("test_*.py") if p.name not in LEFT_OUT)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist",
                        "--basetemp", str(tmp_path / "pytest"), *files],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    reports = sorted(tmp_path.glob("report.*"))
    detail = "".join(p.read_text()[:6000] for p in reports[:2])
    assert not reports, f"sanitizer report(s):\n{detail}"
    tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-30:])
    assert r.returncode == 0, f"the kernel tests failed under ASan+UBSan (exit {r.returncode}):\n{tail}"
    counts = r.stdout.strip().splitlines()[-1]
    assert " passed" in counts and "failed" not in counts and "error" not in counts, tail
    # and it was the instrumented library the tests called
    assert list((tmp_path / "pytest").rglob("libo2c_kernels_sanitized.so")), tail


OOB_KERNEL = r"""
#include <cstdint>
extern "C" float o2c_sum_oob(const float *x, int64_t n) {  // reads one element past the end
  float s = 0;
  for (int64_t i = 0; i <= n; ++i) s += x[i];
  return s;
}
"""


def test_a_kernel_reading_past_its_buffer_is_reported(tmp_path):
    """The same plumbing catches a bad kernel: a library reading one float past a numpy buffer,
    called through ctypes, stops the child Python with a heap-buffer-overflow report."""
    from onnx2cedr.build import parse_sanitize, sanitize_flags

    cxx = find_compiler()
    src = tmp_path / "oob.cpp"
    src.write_text(OOB_KERNEL)
    so = tmp_path / "liboob.so"
    subprocess.run(cxx.split() + sanitize_flags(parse_sanitize("address,undefined")) +
                   ["-shared", "-fPIC", str(src), "-o", str(so)], check=True, capture_output=True)
    code = ("import ctypes, numpy as np\n"
            f"lib = ctypes.CDLL({str(so)!r})\n"
            "lib.o2c_sum_oob.restype = ctypes.c_float\n"
            "x = np.ones(1000, np.float32).copy()\n"  # a heap block of its own
            "x = np.frombuffer(bytearray(x.tobytes()), np.float32)\n"
            "print(lib.o2c_sum_oob(x.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(1000)))\n")
    r = subprocess.run([sys.executable, "-c", code], env=_child_env(cxx, tmp_path / "report"),
                       capture_output=True, text=True, timeout=300)
    reports = "".join(p.read_text() for p in tmp_path.glob("report.*"))
    assert r.returncode != 0 and "heap-buffer-overflow" in reports, (r.returncode, r.stdout, r.stderr, reports)
