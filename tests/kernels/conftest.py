"""Kernel-library tests: the kernel library convert links (kernels/src/**/*.cpp, -march=native, from the
compile cache) linked whole into one shared object, called through ctypes.

O2C_KERNEL_SANITIZE=address,undefined (what convert --sanitize takes) builds those libraries
instrumented instead (-O0 -g1 -fsanitize=...); the process must then have the sanitizer runtime
preloaded. tests/test_sanitize_kernels.py runs the kernel tests that way."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the helper modules next to this file (the suite runs with importlib mode)
    sys.path.insert(0, str(HERE))

from _ctypes_structs import setup_signatures  # noqa: E402
from _kref import CXX, KERNELS, SANITIZE  # noqa: E402
from _kref import sanitized as _sanitized  # noqa: E402


def _headers_digest() -> bytes:
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for p in sorted([*(KERNELS / "include").glob("*.h"), *(KERNELS / "src").rglob("*.h")]):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.digest()


def _compile_all(sources: list[Path], out_dir: Path, flags: list[str], so_name: str) -> Path:
    """A shared object of kernel sources built with flags (instrumented under O2C_KERNEL_SANITIZE).
    Objects are cached by compiler, flags and contents (the kernel headers included) under the compile
    cache, so the test files that build the same sources the same way (the portable GEMM and
    convolutions, the integer kernels AVX2 and portable) and the test workers share them."""
    import hashlib

    from onnx2cedr.build import cache_root

    flags = _sanitized(flags)
    objects = cache_root() / "test-objects"
    objects.mkdir(parents=True, exist_ok=True)
    headers = _headers_digest()

    def compile_one(src: Path) -> Path:
        h = hashlib.blake2b(digest_size=12)
        for part in (CXX, *flags, str(src.relative_to(KERNELS))):
            h.update(part.encode() + b"\0")
        h.update(headers)
        h.update(src.read_bytes())
        obj = objects / f"{src.stem}-{h.hexdigest()}.o"
        if obj.exists():
            return obj
        tmp = objects / f"{obj.name}.{os.getpid()}.tmp"  # beside it: the rename must not cross file systems
        cmd = [CXX, "-std=c++17", *flags, "-fPIC", "-I", str(KERNELS / "include"), "-c", str(src), "-o", str(tmp)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"compiling {src} failed:\n{' '.join(cmd)}\n{r.stderr}")
        os.replace(tmp, obj)  # whole or not at all: another worker may be writing the same object
        return obj

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as ex:
        objs = list(ex.map(compile_one, sources))
    so = out_dir / so_name
    link = [f for f in flags if f.startswith("-fsanitize")]
    cmd = [CXX, "-shared", *link, "-o", str(so), *map(str, objs), "-lpthread", "-ldl", "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"linking {so} failed:\n{r.stderr}")
    return so


@pytest.fixture(scope="session")
def klib(tmp_path_factory) -> ctypes.CDLL:
    """The whole kernel library (o2c_* kernels, _cpu implementations, inline entry points)."""
    out = tmp_path_factory.mktemp("o2c_kernels")
    return setup_signatures(ctypes.CDLL(str(_cached_kernel_lib(out))))


def _cached_kernel_lib(out: Path) -> Path:
    """The kernel library convert links (every kernels/src file, from the compile cache: built once
    per machine and shared by the test workers and every convert of the suite) linked whole into a
    shared object: the -march=native build, or under O2C_KERNEL_SANITIZE the instrumented one of
    `convert --sanitize` (-O0 -g1, shared with tests/test_sanitize.py)."""
    from onnx2cedr.build import KernelLib

    kl = KernelLib(sanitize=SANITIZE).ensure()
    so = out / ("libo2c_kernels_sanitized.so" if SANITIZE else "libo2c_kernels_test.so")
    cmd = kl.cxx.split() + ["-shared", *(f for f in kl.flags if f.startswith("-fsanitize")), "-o", str(so),
                            "-Wl,--whole-archive", str(kl.core), str(kl.inline), "-Wl,--no-whole-archive",
                            "-lpthread", "-ldl", "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"linking {so} failed:\n{' '.join(cmd)}\n{r.stderr}")
    return so


@pytest.fixture(scope="session")
def klib_portable(tmp_path_factory) -> ctypes.CDLL:
    """GEMM / convolution / complex GEMM built without -march=native: the portable micro-kernel
    (what non-AVX2 targets such as the Arm boards run)."""
    out = tmp_path_factory.mktemp("o2c_kernels_portable")
    src = KERNELS / "src"
    sources = [src / "cpu" / "gemm.cpp", *sorted((src / "cpu").glob("conv*.cpp")), src / "cpu" / "parallel.cpp",
               src / "public" / "cgemm.cpp"]
    so = _compile_all(sources, out, ["-O2", "-mno-avx2", "-mno-fma"], "libo2c_portable_test.so")
    lib = ctypes.CDLL(str(so))
    from _ctypes_structs import SIGNATURES, vp

    for name in ("o2c_gemm", "o2c_conv", "o2c_conv_transpose"):
        getattr(lib, name).argtypes = SIGNATURES[name]
        getattr(lib, name).restype = None
    lib.DASH_GEMM_flt_cpu.argtypes = [vp] * 6
    lib.DASH_GEMM_flt_cpu.restype = None
    return lib
