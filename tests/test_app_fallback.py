"""Extended apps degrade instead of crashing (issue 13 item 2).

An app built for our API set exports an inline fallback for each ML API form it calls
(kernels/entry/app_fallback.cpp). A runtime that defines the API (ours: cedr-run exports it)
interposes the fallback and schedules the call; one that does not (the public daemon, which has
only the public APIs) leaves the app's own definition bound and the layer runs on the app thread.

Checked with the extended LeNet-5 app and a small hand-written "mixed" app (a public DASH_ZIP_flt,
then an ML DASH_CONV_flt, linked as convert links apps):
  * its symbols: no undefined ML symbol, the fallbacks exported, model.json's report; a public
    build of the same model.cpp without the fallbacks fails the public symbol check;
  * without any runtime: a stub host that dlopens the apps as a runtime does, defining only the
    public API (the public daemon's situation) or also the ML APIs (ours), counting the calls
    that reach it: the ML calls run in the app (none reach the first host) or in the host (all
    reach the second), the public calls always reach the host, and the outputs equal the
    standalone executable's;
  * on our runtime: the ML calls are logged tasks, outputs equal the executable's bit for bit, and
    `run --check` lists them among the app's APIs;
  * under the public daemon (CEDR_ROOT): it survives, the apps complete with the executable's
    outputs, and their public calls are its tasks.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import onnx2cedr
from onnx2cedr.build import ML_APIS, ML_FALLBACK_SYMBOLS, KernelLib, app_link_libs, build_model
from onnx2cedr.errors import BuildError
from onnx2cedr.targets import TARGETS, check_app_symbols, defined_symbols, undefined_symbols
from tests.public_cedr import public_cedr_or_skip, public_daemon, submit_and_wait

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
CLI = [sys.executable, "-m", "onnx2cedr"]
ML_CALL = re.compile(r"\b(DASH_(?:GEMM_RE|CONV|CONV_TRANSPOSE|POOL|BINARY|UNARY|SOFTMAX)_flt(?:_nb)?)\(")

# A public call, then an ML call on its result: out = 2 * (a + b), checked in the app.
MIXED_APP = r"""
#include <cstdio>
#include "dash_ml.h"
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  dash_cmplx_flt_type a[4], b[4], s[4];
  for (int i = 0; i < 4; ++i) { a[i] = {float(i), float(-i)}; b[i] = {1.0f, 0.5f}; }
  DASH_ZIP_flt(a, b, s, 4, ZIP_ADD);
  const float w = 2.0f;
  float y[8] = {0};
  dash_conv_params_t p = {};
  p.spatial_rank = 1; p.batch = 1; p.in_channels = 1; p.out_channels = 1; p.groups = 1;
  p.in_size[0] = 8; p.out_size[0] = 8; p.kernel[0] = 1; p.stride[0] = 1; p.dilation[0] = 1;
  DASH_CONV_flt(reinterpret_cast<const float *>(s), &w, nullptr, y, &p);
  for (int i = 0; i < 4; ++i) {
    if (y[2 * i] != 2.0f * (i + 1.0f) || y[2 * i + 1] != 2.0f * (0.5f - i)) {
      std::printf("mixed: FAIL at %d: %g %g\n", i, y[2 * i], y[2 * i + 1]);
      return 1;
    }
  }
  std::printf("mixed: ok\n");
  return 0;
}
"""

# A stand-in runtime: dlopens each app (RTLD_NOW | RTLD_LOCAL, as cedr-run does) and runs its main
# on this thread. It exports (-rdynamic) the public DASH_ZIP_flt and, built with -DWITH_ML, the ML
# APIs LeNet and the mixed app call; each counts the calls that reach it and runs the CPU kernel.
STUB_HOST = r"""
#include <dlfcn.h>
#include <cstdio>
#include "dash_ml.h"
static int n_zip, n_conv, n_gemm, n_pool;
extern "C" {
void DASH_ZIP_flt(dash_cmplx_flt_type *a, dash_cmplx_flt_type *b, dash_cmplx_flt_type *out, size_t n, zip_op_t op) {
  ++n_zip;
  DASH_ZIP_flt_cpu(&a, &b, &out, &n, &op);
}
#ifdef WITH_ML
void DASH_CONV_flt(const float *in, const float *w, const float *bias, float *out, const dash_conv_params_t *p) {
  ++n_conv;
  DASH_CONV_flt_cpu(&in, &w, &bias, &out, &p);
}
void DASH_GEMM_RE_flt(const float *A, const float *B, const float *bias, float *C, const dash_gemm_params_t *p) {
  ++n_gemm;
  DASH_GEMM_RE_flt_cpu(&A, &B, &bias, &C, &p);
}
void DASH_POOL_flt(const float *in, float *out, const dash_pool_params_t *p) {
  ++n_pool;
  DASH_POOL_flt_cpu(&in, &out, &p);
}
#endif
}
int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) { std::printf("dlopen: %s\n", dlerror()); return 2; }
    auto app_main = reinterpret_cast<int (*)(int, char **)>(dlsym(h, "main"));
    char name[] = "cedr_app";
    char *args[] = {name, nullptr};
    const int rc = app_main(1, args);
    std::printf("app %d rc %d zip %d conv %d gemm %d pool %d\n", i, rc, n_zip, n_conv, n_gemm, n_pool);
    if (rc != 0) return 1;
  }
  return 0;
}
"""
HOST_LINE = re.compile(r"app (\d+) rc (\d+) zip (\d+) conv (\d+) gemm (\d+) pool (\d+)")


def _cc(args: list, what: str) -> None:
    r = subprocess.run(["g++", "-std=c++17", "-O2", "-pthread", *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"{what}:\n{r.stderr[-3000:]}"


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    base = tmp_path_factory.mktemp("fallback")
    kl = KernelLib().ensure()
    res = onnx2cedr.convert(LENET, base / "lenet")
    ins = sorted((res.out_dir / "app_inputs").glob("input_*.npy"))
    ref = base / "lenet_exe"
    subprocess.run([str(res.artifacts["exe"]), *map(str, ins), "-o", str(ref)], check=True, capture_output=True)
    calls = Counter(ML_CALL.findall((res.out_dir / "model.cpp").read_text()))
    src = base / "mixed.cpp"
    src.write_text(MIXED_APP)
    mixed = base / "mixed.so"
    _cc(["-shared", "-fPIC", "-fvisibility=hidden", "-I", kl.include, src, "-o", mixed, *app_link_libs(kl)],
        "the mixed app, linked as convert links apps")
    return {"kl": kl, "res": res, "exe_out": sorted(ref.glob("output_*.npy")), "calls": calls, "mixed": mixed,
            "base": base}


def _outputs_equal_exe(apps, instance_dir: Path) -> None:
    for ref in apps["exe_out"]:
        got = instance_dir / ref.name
        assert got.read_bytes() == ref.read_bytes(), f"{got} differs from the standalone executable's output"


def test_fallback_list_covers_dash_ml_h():
    header = (ROOT / "kernels" / "include" / "dash_ml.h").read_text()
    declared = set(re.findall(r"\bvoid (DASH_\w+_(?:flt|i8|i16|b1))\(", header))
    assert declared == set(ML_APIS)
    assert set(ML_FALLBACK_SYMBOLS) == declared | {s + "_nb" for s in declared}


def test_extended_app_symbols(apps):
    res, calls = apps["res"], apps["calls"]
    app = res.artifacts["app"]
    assert set(calls) == {"DASH_CONV_flt", "DASH_GEMM_RE_flt", "DASH_POOL_flt"}
    # nothing ML is left for the runtime to resolve; exactly the forms called are exported
    assert [s for s in undefined_symbols(app) if s.startswith("DASH_")] == []
    exported = {s for s in defined_symbols(app) if s.startswith("DASH_")}
    assert exported == set(calls)
    assert res.model_json["app_dash_symbols"] == {"required": [], "scheduled_if_available": sorted(calls)}
    assert check_app_symbols(app, TARGETS["public"])["required"] == []  # loadable by the public daemon
    # the kernels stay hidden: only the fallbacks' API names are exported
    assert not any(s.endswith("_cpu") or s.startswith("o2c_") for s in defined_symbols(app))
    # a build without the fallbacks (as for the public target) leaves the ML calls undefined, and the
    # public check names them in one line
    bare = apps["base"] / "bare"
    bare.mkdir()
    shutil.copy(res.out_dir / "model.cpp", bare / "model.cpp")
    built = build_model(bare, res.sym, ["app"], ml_fallbacks=False)
    assert {s for s in undefined_symbols(built["app"]) if s.startswith("DASH_")} == set(calls)
    with pytest.raises(BuildError) as e:
        check_app_symbols(built["app"], TARGETS["public"])
    assert "DASH_CONV_flt" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("with_ml", [False, True], ids=["public-only host", "host with ML APIs"])
def test_stub_host_binds_ml_calls_to_the_runtime_if_it_has_them(apps, tmp_path, with_ml):
    kl, res, calls = apps["kl"], apps["res"], apps["calls"]
    host = tmp_path / "host"
    src = tmp_path / "host.cpp"
    src.write_text(STUB_HOST)
    _cc(["-rdynamic", *(["-DWITH_ML"] if with_ml else []), "-I", kl.include, src, "-o", host, kl.core, "-ldl"],
        "the stub host")
    out = tmp_path / "outs"
    r = subprocess.run([str(host), str(res.artifacts["app"]), str(apps["mixed"])], capture_output=True, text=True,
                       env={"O2C_APP_OUTPUTS": str(out), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [tuple(map(int, m.groups())) for m in map(HOST_LINE.search, r.stdout.splitlines()) if m]
    assert "mixed: ok" in r.stdout, r.stdout
    # after LeNet: no public call; its ML calls reach the host only if the host defines them
    k = 1 if with_ml else 0
    assert lines[0] == (1, 0, 0, k * calls["DASH_CONV_flt"], k * calls["DASH_GEMM_RE_flt"],
                        k * calls["DASH_POOL_flt"]), r.stdout
    # after the mixed app: its public ZIP always reached the host, its CONV only the ML host
    assert lines[1] == (2, 0, 1, k * (calls["DASH_CONV_flt"] + 1), k * calls["DASH_GEMM_RE_flt"],
                        k * calls["DASH_POOL_flt"]), r.stdout
    _outputs_equal_exe(apps, out / "instance_0")


def test_on_our_runtime_ml_calls_are_tasks(apps, tmp_path):
    res, calls = apps["res"], apps["calls"]
    shutil.rmtree(res.out_dir / "app_outputs", ignore_errors=True)
    log = tmp_path / "logs"
    r = subprocess.run(CLI + ["run", "-c", str(ROOT / "runtime" / "configs" / "soc_demo.json"), "--log-dir", str(log),
                              "--print-output", f"{res.out_dir}:3:0", f"{apps['mixed']}:2:0"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads((log / "summary.json").read_text())["failed_instances"] == 0
    assert r.stderr.count("mixed: ok") == 2, r.stderr
    tasks = Counter(re.search(r"task_name: (\w+)", ln).group(1)
                    for ln in (log / "timing_trace.log").read_text().splitlines())
    assert tasks == Counter({"DASH_CONV": 3 * calls["DASH_CONV_flt"] + 2, "DASH_GEMM_RE": 3 * calls["DASH_GEMM_RE_flt"],
                             "DASH_POOL": 3 * calls["DASH_POOL_flt"], "DASH_ZIP": 2}), tasks
    for k in range(3):
        _outputs_equal_exe(apps, res.out_dir / "app_outputs" / f"instance_{k}")
    # run --check counts an exported fallback as a call the runtime schedules (it interposes it)
    r = subprocess.run(CLI + ["run", "-c", str(ROOT / "runtime" / "configs" / "soc_demo.json"), "--check",
                              str(res.out_dir), str(apps["mixed"])], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-2:] == [f"app {res.sym}-app: DASH_CONV_flt, DASH_GEMM_RE_flt, DASH_POOL_flt",
                                          "app mixed: DASH_CONV_flt, DASH_ZIP_flt"], r.stdout


def test_under_the_public_daemon_ml_calls_run_inline(apps, tmp_path):
    public = public_cedr_or_skip()
    res = apps["res"]
    shutil.rmtree(res.out_dir / "app_outputs", ignore_errors=True)
    cfg = tmp_path / "config.json"
    doc = json.loads(public.config.read_text())
    doc["Features"]["Exit When Idle"] = True
    doc["Worker Threads"] = {"cpu": 2, "fft": 0, "gemm": 0, "zip": 0, "gpu": 0}
    cfg.write_text(json.dumps(doc))
    with public_daemon(public, tmp_path, cfg) as proc:
        submit_and_wait(public, proc, [(res.artifacts["app"], 2), (apps["mixed"], 2)])
        assert proc.returncode == 0
    out = (tmp_path / "daemon.out").read_text()
    assert "symbol lookup error" not in out and "terminate called" not in out, out[-3000:]
    assert out.count("mixed: ok") == 2, out[-3000:]
    for k in range(2):  # the same CPU kernels, inline: the executable's bits
        _outputs_equal_exe(apps, res.out_dir / "app_outputs" / f"instance_{k}")
    trace = next(tmp_path.glob("log_dir/experiment*/timing_trace.log")).read_text()
    # only the mixed app's public ZIP calls were tasks: LeNet's ML calls ran on its app threads
    assert Counter(re.findall(r"task_name: (\w+)", trace)) == Counter({"DASH_ZIP": 2}), trace[-2000:]
