"""Deploying to aarch64 boards (issue 14): the zoo cross-built with --target aarch64-linux-gnu runs under
qemu-aarch64 within the validation tolerance of onnxruntime on the host; a bundle (`onnx2cedr package`)
unpacked and run with CEDR_EMULATOR runs the app on the cross-built runtime beside pulse_doppler with
the x86 executable's outputs; the bundle's contents and errors. The tests that need the cross tools
skip with one line without them (bash scripts/setup.sh --aarch64 installs them)."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

import onnx2cedr
from onnx2cedr.errors import O2CError
from onnx2cedr.validation import _ort_session, close

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
TARGET = "aarch64-linux-gnu"
SYSROOT = "/usr/aarch64-linux-gnu"
EMULATOR = f"qemu-aarch64 -L {SYSROOT}"
HAVE_CROSS = bool(shutil.which("aarch64-linux-gnu-g++") and shutil.which("qemu-aarch64"))
cross = pytest.mark.skipif(not HAVE_CROSS, reason="no aarch64 cross tools (bash scripts/setup.sh --aarch64)")
ZOO = ["lenet5", "vgg", "m5", "resnet8", "tiny_yolo"]  # the whole zoo: ~10 s under qemu together
EM_AARCH64 = 183


def elf_machine(path: Path) -> int:
    data = Path(path).read_bytes()[:20]
    assert data[:4] == b"\x7fELF", path
    return struct.unpack_from("<H", data, 18)[0]


def cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "onnx2cedr", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env)


def reference(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """onnxruntime on the host, the graph as written (as validate runs it)."""
    s = _ort_session(model, [])
    return s.run(None, {i.name: x for i, x in zip(s.get_inputs(), inputs)})


def run_exe(exe: Path, inputs: list[Path], out: Path, emulate: bool) -> list[np.ndarray]:
    cmd = (EMULATOR.split() if emulate else []) + [str(exe)] + [str(p) for p in inputs] + ["-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return [np.load(p) for p in sorted(out.glob("output_*.npy"), key=lambda p: int(p.stem.split("_")[1]))]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    from models.export import export_model

    d = tmp_path_factory.mktemp("zoo")
    return {name: Path(export_model(name, d / f"{name}.onnx")) for name in ZOO}


@cross
@pytest.mark.parametrize("name", ZOO)
def test_zoo_cross_built_executable_matches_onnxruntime_under_qemu(zoo, name, tmp_path):
    out = tmp_path / "out"
    res = onnx2cedr.convert(zoo[name], out, target=TARGET, artifacts=["exe"])
    assert elf_machine(res.artifacts["exe"]) == EM_AARCH64
    desc = json.loads((out / "model.json").read_text())
    assert desc["target"] == TARGET and desc["cross_built"] is True
    assert desc["memory"]["packed_weights_bytes"] is None  # not asked of a library that cannot load here
    rng = np.random.default_rng(1)
    for k in range(2):  # the app input convert wrote, then another draw
        x = np.load(out / "app_inputs" / "input_0.npy") if k == 0 else \
            rng.standard_normal(desc["inputs"][0]["shape"]).astype(np.float32)
        np.save(tmp_path / f"x{k}.npy", x)
        ours = run_exe(res.artifacts["exe"], [tmp_path / f"x{k}.npy"], tmp_path / f"o{k}", emulate=True)
        refs = reference(zoo[name], [x])
        assert len(ours) == len(refs)
        for o, r in zip(ours, refs):
            c = close(o, r, 1e-4, 1e-5)  # validate's default tolerance
            print(f"{name} sample {k}: max rel err {c.max_rel_err:.2e}, max abs err {c.max_abs_err:.2e}")
            assert c.passed, (name, k, c)


@pytest.fixture(scope="module")
def lenet_bundle(tmp_path_factory):
    """LeNet-5 cross-built and packaged (CLI), the bundle unpacked; the host executable beside it."""
    d = tmp_path_factory.mktemp("bundle")
    r = cli("convert", LENET, "-o", d / "arm", "--target", TARGET)
    assert r.returncode == 0, r.stderr
    r = cli("package", d / "arm", "-o", d / "lenet.tar.gz")
    assert r.returncode == 0, r.stderr
    with tarfile.open(d / "lenet.tar.gz") as tar:
        tar.extractall(d / "unpacked", filter="tar")
    host = onnx2cedr.convert(LENET, d / "x86", artifacts=["exe"])
    return d, d / "unpacked" / "lenet5_digits-bundle", host


@cross
def test_bundle_contents(lenet_bundle):
    d, b, _ = lenet_bundle
    for p in ("run.sh", "config.json", "README.txt", "model/model.json", "model/lenet5_digits.weights",
              "model/lenet5_digits-app.so", "model/lenet5_digits", "model/liblenet5_digits.so",
              "model/app_inputs/input_0.npy", "runtime/cedr-run", "runtime/libo2c_cpu.so", "runtime/libo2c_accel.so",
              "runtime/apps/pulse_doppler.so", "runtime/apps/wifi_tx.so", "runtime/apps/radar_correlator.so"):
        assert (b / p).is_file(), p
    for p in ("model/lenet5_digits-app.so", "model/lenet5_digits", "runtime/cedr-run", "runtime/libo2c_cpu.so",
              "runtime/libo2c_accel.so", "runtime/apps/pulse_doppler.so"):
        assert elf_machine(b / p) == EM_AARCH64, p
    assert os.access(b / "run.sh", os.X_OK) and os.access(b / "runtime" / "cedr-run", os.X_OK)
    cfg = json.loads((b / "config.json").read_text())
    assert cfg["Worker Threads"] == {"cpu": 3, "conv": 1, "fft": 1, "zip": 1}
    assert set(cfg["Accelerators"]) == {"conv", "fft", "zip"}
    assert not (b / "PUBLIC_CEDR.txt").exists()  # an extended conversion


@cross
def test_bundle_runs_app_beside_pulse_doppler_under_emulation(lenet_bundle, tmp_path):
    d, b, host = lenet_bundle
    env = dict(os.environ, CEDR_EMULATOR=EMULATOR, CEDR_LOG_DIR=str(tmp_path / "logs"))
    r = subprocess.run([str(b / "run.sh"), "model:3:0", "pulse_doppler:2:0"], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((tmp_path / "logs" / "summary.json").read_text())
    assert summary["failed_instances"] == 0 and summary["instances"] == 5
    assert {a["name"] for a in summary["apps"]} == {"lenet5_digits-app", "pulse_doppler"}
    logs = sorted((tmp_path / "logs" / "app_output").glob("pulse_doppler.*.log"))
    assert len(logs) == 2 and all("pulse_doppler: ok" in p.read_text() for p in logs)
    # the same input through the x86 executable
    want = run_exe(host.artifacts["exe"], [b / "model" / "app_inputs" / "input_0.npy"], tmp_path / "x86", False)
    got = sorted((b / "model" / "app_outputs").glob("instance_*/output_0.npy"))
    assert len(got) == 3
    for p in got:
        c = close(np.load(p), want[0], 1e-5, 1e-6)
        assert c.passed, (p, c)
    # an unknown app is one line, exit 2
    r = subprocess.run([str(b / "run.sh"), "no_such_app:1:0"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no_such_app" in r.stderr


@cross
def test_cross_built_library_refuses_to_load_in_one_line(lenet_bundle):
    d, _, _ = lenet_bundle
    from onnx2cedr.runner import ModelLibrary

    with pytest.raises(O2CError, match="built for aarch64-linux-gnu"):
        ModelLibrary(d / "arm")
    r = cli("profile", d / "arm")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "qemu-aarch64" in r.stderr


def test_missing_cross_compiler_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CXX"}
    env["PATH"] = str(tmp_path)  # no compiler at all
    r = cli("convert", LENET, "-o", tmp_path / "out", "--target", TARGET, env=env)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "g++-aarch64-linux-gnu" in r.stderr
    assert not (tmp_path / "out").exists()
    r = cli("convert", LENET, "-o", tmp_path / "out", "--target", "riscv64-linux-gnu")
    assert r.returncode == 2 and "unknown target" in r.stderr and not (tmp_path / "out").exists()
    r = cli("convert", LENET, "-o", tmp_path / "out", "--target", TARGET, "--cxx", shutil.which("g++") or "g++")
    assert r.returncode == 2 and "not aarch64-linux-gnu" in r.stderr and not (tmp_path / "out").exists()


def test_public_bundle_carries_the_daemon_note_and_errors(tmp_path):
    """A host --api public conversion: the note beside run.sh; a folder that is not a convert output,
    an unknown accelerator and a folder as the output are one line each and write nothing."""
    out = tmp_path / "pub"
    onnx2cedr.convert(LENET, out, api="public", artifacts=["app"])
    from onnx2cedr.deploy import package

    res = package(out, tmp_path / "pub.tar.gz", accels="gemm", cpus=2)
    with tarfile.open(res.path) as tar:
        names = tar.getnames()
        note = tar.extractfile("lenet5_digits-bundle/PUBLIC_CEDR.txt").read().decode()
        cfg = json.loads(tar.extractfile("lenet5_digits-bundle/config.json").read())
    assert "sub_dag" in note and "lenet5_digits-app.so" in note and "DASH_GEMM_flt" in note
    assert cfg["Worker Threads"] == {"cpu": 2, "gemm": 1}
    assert "lenet5_digits-bundle/model/lenet5_digits-app.so" in names and "lenet5_digits-bundle/run.sh" in names
    assert res.bytes == (tmp_path / "pub.tar.gz").stat().st_size
    for args, msg in (((tmp_path, "-o", tmp_path / "x.tar.gz"), "not a folder made by"),
                      ((out, "-o", tmp_path / "x.tar.gz", "--accel", "conv,dsp"), "unknown accelerator 'dsp'"),
                      ((out, "-o", tmp_path), "is a folder")):
        r = cli("package", *args)
        assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and msg in r.stderr, r.stderr
    assert not (tmp_path / "x.tar.gz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pub", "pub.tar.gz"]  # no temporary left


GEMM_CHECK = r"""
#include "o2c_kernels.h"
#include <cstdio>
#include <random>
#include <vector>
// o2c_gemm over shapes with edge tiles, K blocks and both transpositions; the outputs' bytes to argv[1]
int main(int, char **argv) {
  FILE *f = std::fopen(argv[1], "wb");
  std::mt19937 g(7);
  std::uniform_real_distribution<float> d(-1, 1);
  const long shapes[][3] = {{1, 10, 84}, {4, 16, 1}, {7, 33, 300}, {64, 64, 64}, {37, 129, 517}, {5, 2050, 40}};
  for (auto &s : shapes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        const long M = s[0], N = s[1], K = s[2];
        std::vector<float> A(M * K), B(K * N), bias(N), C(M * N);
        for (auto &x : A) x = d(g);
        for (auto &x : B) x = d(g);
        for (auto &x : bias) x = d(g);
        dash_gemm_params_t p{1, M, N, K, 0, 0, 0, ta, tb, 1.0f, 1.0f, 2, {DASH_ACT_RELU, 0, 0}};
        o2c_gemm(A.data(), B.data(), bias.data(), C.data(), &p);
        std::fwrite(C.data(), sizeof(float), C.size(), f);
      }
  return std::fclose(f) != 0;
}
"""


@cross
def test_neon_gemm_micro_kernel_equals_the_portable_one_bit_for_bit(tmp_path):
    """The aarch64 kernel library's GEMM (NEON micro-kernel) against the same library with gemm.cpp
    rebuilt -DO2C_NO_NEON (the portable loop nest), under qemu: identical bytes."""
    from onnx2cedr.build import KernelLib, _run

    kl = KernelLib(target=TARGET).ensure()
    (tmp_path / "check.cpp").write_text(GEMM_CHECK)
    cc = kl.cxx.split() + kl.flags + ["-I", str(kl.include)]
    _run(cc + ["-c", str(tmp_path / "check.cpp"), "-o", str(tmp_path / "check.o")], "compiling the check")
    _run(cc + ["-DO2C_NO_NEON", "-c", str(kl.src / "src" / "cpu" / "gemm.cpp"), "-o", str(tmp_path / "gemm.o")],
         "compiling the portable GEMM")
    # gemm.o first: it defines everything of gemm.cpp, so the archive's NEON member is not pulled in
    for name, objs in (("neon", []), ("portable", [tmp_path / "gemm.o"])):
        _run(kl.cxx.split() + ["-pthread", str(tmp_path / "check.o")] + [str(o) for o in objs] +
             [str(kl.core), "-ldl", "-o", str(tmp_path / name)], "linking the check")
        r = subprocess.run(EMULATOR.split() + [str(tmp_path / name), str(tmp_path / f"{name}.bin")],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
    # two different programs (the micro-kernels differ), the same results
    assert (tmp_path / "neon").read_bytes() != (tmp_path / "portable").read_bytes()
    got, want = (tmp_path / "neon.bin").read_bytes(), (tmp_path / "portable.bin").read_bytes()
    assert len(got) == len(want) > 0 and got == want
