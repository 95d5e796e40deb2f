"""The float kernels checked by a program (kernel_check.cpp, next to this file) against double-precision
references, on every build the toolchain makes: the host's native (AVX2/AVX-512) and portable kernel
libraries, and the aarch64 cross build with its NEON paths, run under qemu-aarch64, where the ctypes
tests cannot load the library. The libraries are the compile cache's own (the ones convert links), so
this adds one small compile per build."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from onnx2cedr.build import KernelLib

from _kref import KERNELS  # noqa: E402  (tests/kernels is on sys.path: conftest.py)

SRC = KERNELS.parent / "tests" / "kernels" / "kernel_check.cpp"
TARGET = "aarch64-linux-gnu"
SYSROOT = "/usr/aarch64-linux-gnu"
HAVE_CROSS = bool(shutil.which("aarch64-linux-gnu-g++") and shutil.which("qemu-aarch64"))
BUILDS = {
    "native": dict(native=True),
    "portable": dict(native=False),
    "aarch64": dict(target=TARGET),
}


# The kernel files with hand-written NEON paths (internal.h's exp/sigmoid/tanh are inline in them)
NEON_FILES = ["gemm", "conv_direct", "conv_lanes", "conv_depthwise", "pool", "eltwise", "softmax"]


def build_check(which: str, out_dir, objs=(), name=None) -> list[str]:
    """kernel_check linked with the kernel library of one build (objs: object files linked ahead of the
    library, replacing its members); the command that runs it."""
    kl = KernelLib(**BUILDS[which]).ensure()
    exe = out_dir / f"kernel_check_{name or which}"
    cmd = kl.cxx.split() + kl.flags + ["-I", str(kl.include), str(SRC)] + [str(o) for o in objs] + [
        str(kl.core), "-lpthread", "-ldl", "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"building kernel_check ({which}) failed:\n{' '.join(cmd)}\n{r.stderr[-4000:]}"
    return (["qemu-aarch64", "-L", SYSROOT] if which == "aarch64" else []) + [str(exe)]


@pytest.mark.parametrize("which", [
    "native", "portable",
    pytest.param("aarch64", marks=pytest.mark.skipif(
        not HAVE_CROSS, reason="no aarch64 cross tools (bash scripts/setup.sh --aarch64)")),
])
def test_kernels_match_the_references(which, tmp_path):
    run = build_check(which, tmp_path)
    for seed in ("1", "2"):
        r = subprocess.run(run + ["--seed", seed], capture_output=True, text=True, timeout=600)
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        assert r.returncode == 0 and last.endswith(" 0 failed"), f"{which}, seed {seed}:\n{r.stdout[-4000:]}{r.stderr}"
        assert int(last.split()[1]) >= 450, last  # every case ran


def test_the_check_fails_on_a_wrong_kernel(tmp_path):
    """The program is not blind: the same cases against a library whose o2c_unary is a wrong ReLU (for
    every op) fail, and only the unary cases do."""
    kl = KernelLib(native=True).ensure()
    bad = tmp_path / "bad_relu.cpp"
    bad.write_text('#include "dash_ml.h"\n#include "o2c_kernels.h"\n'
                   "extern \"C\" void o2c_unary(const float *in, float *out, const dash_unary_params_t *p) {\n"
                   "  for (int64_t i = 0; i < p->n; ++i) out[i] = in[i] > 0 ? in[i] : 1e-3f;\n}\n")
    exe = tmp_path / "kernel_check_bad"
    # the broken o2c_unary comes first; the library's own (in the same archive member as o2c_binary)
    # is then a second definition, which the linker is told to drop
    cmd = kl.cxx.split() + kl.flags + ["-I", str(kl.include), str(SRC), str(bad), str(kl.core), "-lpthread", "-ldl",
                                       "-Wl,--allow-multiple-definition", "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1
    fails = [line for line in r.stdout.splitlines() if line.startswith("FAIL ")]
    assert fails and all(line.startswith("FAIL unary op") for line in fails)
    assert any(line.startswith("FAIL unary op1 ") for line in fails)  # ReLU itself: off below zero, r.stdout[-2000:]


def read_dump(path) -> list[tuple[str, bytes]]:
    """kernel_check --dump: per case a name line, a count line and count float32 values."""
    data, i, cases = path.read_bytes(), 0, []
    while i < len(data):
        j = data.index(b"\n", i)
        k = data.index(b"\n", j + 1)
        n = int(data[j + 1:k])
        cases.append((data[i:j].decode(), data[k + 1:k + 1 + 4 * n]))
        i = k + 1 + 4 * n
    return cases


@pytest.mark.skipif(not HAVE_CROSS, reason="no aarch64 cross tools (bash scripts/setup.sh --aarch64)")
def test_neon_paths_equal_the_portable_code_bit_for_bit(tmp_path):
    """Every kernel_check case whose result involves no transcendental function (GEMM, direct, lanes,
    depthwise and im2col convolutions, pooling, binaries with Relu-like activations, cheap unary ops),
    on the aarch64 build with its NEON paths and on the same build with the NEON files recompiled
    -DO2C_NO_NEON (linked ahead of the library, so its NEON members are not pulled in), under qemu:
    the same bytes, case by case."""
    kl = KernelLib(target=TARGET).ensure()
    cc = kl.cxx.split() + kl.flags + ["-I", str(kl.include), "-DO2C_NO_NEON", "-c"]
    objs = [tmp_path / f"{f}.o" for f in NEON_FILES]
    for i in range(0, len(objs), 2):  # two compiles at a time
        procs = [subprocess.Popen(cc + [str(kl.src / "src" / "cpu" / f"{f}.cpp"), "-o", str(o)], text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for f, o in zip(NEON_FILES[i:i + 2], objs[i:i + 2])]
        for p in procs:
            out, _ = p.communicate()
            assert p.returncode == 0, out[-4000:]
    dumps = {}
    for name, extra in (("neon", ()), ("no_neon", objs)):
        run = build_check("aarch64", tmp_path, extra, name)
        r = subprocess.run(run + ["--seed", "3", "--dump", str(tmp_path / f"{name}.bin")], capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, f"{name}:\n{r.stdout[-4000:]}{r.stderr}"
        dumps[name] = read_dump(tmp_path / f"{name}.bin")
    # two different programs (the NEON kernels are gone from the second), the same results
    assert (tmp_path / "kernel_check_neon").read_bytes() != (tmp_path / "kernel_check_no_neon").read_bytes()
    neon, portable = dumps["neon"], dumps["no_neon"]
    assert [n for n, _ in neon] == [n for n, _ in portable]
    kinds = {n.split()[0] for n, _ in neon}
    assert len(neon) >= 350 and {"gemm", "conv2d", "pool0", "pool1", "binary", "unary"} <= kinds, kinds
    differ = [n for (n, a), (_, b) in zip(neon, portable) if a != b]
    assert not differ, f"{len(differ)} of {len(neon)} cases differ: {differ[:10]}"
