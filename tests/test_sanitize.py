"""Sanitizers (issue 18): `convert --sanitize address,undefined` builds models whose executables run
clean and compute what the normal build computes; the runtime built with ASan+UBSan runs a mixed
workload clean with correct outputs. A deliberately out-of-bounds app shows a report does stop a run.
TSan: test_sanitize_thread.py (its own file, so that its builds run on another worker).

Small models and few instances: every instrumented build is a cold compile on CI."""
from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onnx2cedr import run as R
from onnx2cedr.build import find_compiler, parse_sanitize, sanitize_flags, sanitizer_env
from onnx2cedr.compiler import convert
from onnx2cedr.errors import O2CError
from onnx2cedr.runtime_build import RuntimeBuild

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
CONFIGS = ROOT / "runtime" / "configs"
ASAN = ("address", "undefined")
REPORTS = ("Sanitizer", "runtime error:")
CLI = [sys.executable, "-m", "onnx2cedr"]

ZOO = ["lenet5", "vgg", "m5", "resnet8", "tiny_yolo"]  # as tests/test_models_e2e.py's
TRIVIAL = "#include <vector>\nint main() { std::vector<int> v(4, 1); return v[3] - 1; }\n"
# a CEDR app (main per instance) that reads one element past a heap block
OOB_APP = r"""
#include <cstdio>
#include <cstdlib>
extern "C" __attribute__((visibility("default"))) int main(int argc, char **argv) {
  volatile int n = 8;
  int *a = static_cast<int *>(std::malloc(sizeof(int) * n));
  for (int i = 0; i < n; ++i) a[i] = i;
  int past = a[n];  // one past the end
  std::printf("oob app read %d\n", past);
  std::free(a);
  return 0;
}
"""
# signed overflow: UBSan's report, which halt_on_error turns into a failure
UB_PROGRAM = r"""
#include <climits>
#include <cstdio>
int main(int argc, char **) { int x = INT_MAX; x += argc; std::printf("%d\n", x); return 0; }
"""


def _build(tmp: Path, name: str, source: str, sanitize, shared: bool = False) -> Path:
    src = tmp / f"{name}.cpp"
    src.write_text(source)
    out = tmp / (f"{name}.so" if shared else name)
    cmd = find_compiler().split() + sanitize_flags(parse_sanitize(sanitize)) + ["-std=c++17"]
    cmd += (["-shared", "-fPIC"] if shared else []) + [str(src), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


@functools.lru_cache(maxsize=None)
def _usable(sanitize: str) -> bool:
    """The compiler links and runs a trivial program with these sanitizers."""
    import tempfile

    with tempfile.TemporaryDirectory() as td:
        try:
            exe = _build(Path(td), "trivial", TRIVIAL, sanitize)
            return subprocess.run([str(exe)], capture_output=True, env=sanitizer_env(), timeout=60).returncode == 0
        except (subprocess.CalledProcessError, OSError, O2CError, subprocess.TimeoutExpired):
            return False


def _need(sanitize: str) -> None:
    if not _usable(sanitize):
        pytest.skip(f"the C++ compiler has no usable -fsanitize={sanitize} runtime")


def _clean(text: str) -> bool:
    return not any(r in text for r in REPORTS)


def _run_exe(folder: Path, out: Path) -> list[np.ndarray]:
    desc = __import__("json").loads((folder / "model.json").read_text())
    exe = folder / desc["artifacts"]["exe"]
    ins = sorted((folder / "app_inputs").glob("input_*.npy"))
    res = subprocess.run([str(exe)] + [str(p) for p in ins] + ["-o", str(out)], capture_output=True, text=True,
                         env=sanitizer_env(), timeout=300)
    assert res.returncode == 0 and _clean(res.stderr), res.stderr[-3000:]
    return [np.load(p) for p in sorted(out.glob("output_*.npy"))]


# ---- options -------------------------------------------------------------------------------------

def test_sanitize_option_errors_are_one_line():
    assert parse_sanitize("undefined,address") == ("address", "undefined") == parse_sanitize(["address", "undefined"])
    assert parse_sanitize(None) == () == parse_sanitize("")
    res = subprocess.run(CLI + ["convert", str(LENET), "-o", "unused", "--sanitize", "address,thread"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and lines == ["error: --sanitize: address and thread cannot be combined (build twice)"]
    with pytest.raises(O2CError, match="unknown sanitizer 'memory'"):
        parse_sanitize("address,memory")
    res = subprocess.run(CLI + ["validate", str(LENET), "--sanitize", "address"], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and "not supported" in lines[0], res.stderr


def test_options_halt_on_first_report_unless_the_user_says_otherwise(tmp_path):
    _need("undefined")
    exe = _build(tmp_path, "ub", UB_PROGRAM, "undefined")
    ours = subprocess.run([str(exe)], capture_output=True, text=True, env=sanitizer_env({}), timeout=60)
    assert ours.returncode != 0 and "runtime error: signed integer overflow" in ours.stderr, ours.stderr
    theirs = sanitizer_env({"UBSAN_OPTIONS": "halt_on_error=0"})
    assert theirs["UBSAN_OPTIONS"].endswith(":halt_on_error=0") and theirs["ASAN_OPTIONS"] == "halt_on_error=1"
    kept = subprocess.run([str(exe)], capture_output=True, text=True, env=theirs, timeout=60)
    assert kept.returncode == 0 and "runtime error: signed integer overflow" in kept.stderr, kept.stderr


# ---- ASan + UBSan: models, the runtime ----------------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The model zoo (the bundled LeNet-5 and the exported VGG, M5 with its 1-D convolutions,
    ResNet-8 and Tiny-YOLO), each converted normally and with --sanitize address,undefined."""
    _need("address,undefined")
    from models.export import export_model

    d = tmp_path_factory.mktemp("models")
    srcs = {"lenet5": LENET, **{n: Path(export_model(n, d / f"{n}.onnx")) for n in ZOO if n != "lenet5"}}
    built = {}
    for name, src in srcs.items():
        lib = ("lib",) if name == "lenet5" else ()  # one library: it is loaded with libasan preloaded
        built[name] = (convert(src, d / f"{name}-plain", artifacts=lib + ("exe",)),
                       convert(src, d / f"{name}-asan", artifacts=lib + ("exe", "app"), sanitize="address,undefined"))
    return built


@pytest.fixture(scope="module")
def rt_asan():
    _need("address,undefined")
    return RuntimeBuild(sanitize=ASAN).ensure()


def test_sanitized_builds_are_instrumented_and_cached_apart(models):
    plain, asan = models["lenet5"]
    assert asan.model_json["sanitize"] == list(ASAN) and plain.model_json["sanitize"] == []
    nm = subprocess.run(["nm", "-D", "--undefined-only", str(asan.artifacts["exe"])], capture_output=True, text=True)
    assert "__asan_" in nm.stdout and "__ubsan_" in nm.stdout
    assert "__asan_" not in subprocess.run(["nm", "-D", str(plain.artifacts["exe"])], capture_output=True,
                                           text=True).stdout
    # the library was asked for its packed bytes with libasan preloaded: the same answer as the normal build's
    assert asan.model_json["memory"]["packed_weights_bytes"] == plain.model_json["memory"]["packed_weights_bytes"]
    assert asan.model_json["memory"]["packed_weights_bytes"] is not None


@pytest.mark.parametrize("name", ZOO)
def test_sanitized_executable_runs_clean_with_the_normal_outputs(models, name, tmp_path):
    plain, asan = models[name]
    want = _run_exe(plain.out_dir, tmp_path / "plain")
    got = _run_exe(asan.out_dir, tmp_path / "asan")
    assert len(got) == len(want) >= 1
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_mixed_run_on_the_sanitized_runtime(models, rt_asan, tmp_path):
    _, asan = models["lenet5"]
    want = _run_exe(asan.out_dir, tmp_path / "exe")
    specs = [R.parse_app_spec(f"{asan.out_dir}:3:0", rt_asan), R.parse_app_spec("pulse_doppler:1:0", rt_asan),
             R.parse_app_spec("wifi_tx:2:0", rt_asan)]
    assert all(s.path.is_relative_to(rt_asan.dir) for s in specs[1:])  # the instrumented bundled apps
    res = R.run(CONFIGS / "soc_demo.json", tmp_path / "log", specs, rb=rt_asan, timeout=600)
    stderr = (res.log_dir / R.RUN_MARKER).read_text()
    assert res.returncode == 0 and _clean(stderr), stderr[-3000:]
    outs = R.app_outputs(res.log_dir)
    assert sum("pulse_doppler: ok" in t for t in outs.values()) == 1
    assert sum("wifi_tx: ok" in t for t in outs.values()) == 2
    assert all(_clean(t) for t in outs.values())
    for k in range(3):  # every instance bit-identical to the (sanitized) executable's output
        assert np.array_equal(np.load(asan.out_dir / "app_outputs" / f"instance_{k}" / "output_0.npy"), want[0])


def test_a_sanitized_app_needs_the_sanitized_runtime(models, tmp_path):
    _, asan = models["lenet5"]
    rb = RuntimeBuild()  # not built: the check comes first
    with pytest.raises(O2CError, match=r"built with --sanitize address,undefined: run it on a runtime built the same"):
        R.check_sanitized([R.AppSpec(asan.artifacts["app"], 1, 0)], rb.sanitize)


def test_an_out_of_bounds_app_stops_the_sanitized_run(rt_asan, tmp_path):
    app = _build(tmp_path, "oob", OOB_APP, ASAN, shared=True)
    with pytest.raises(R.RunError, match=r"sanitizer report: .*AddressSanitizer: heap-buffer-overflow"):
        R.run(CONFIGS / "cpu_only.json", tmp_path / "log", [R.AppSpec(app, 1, 0)], rb=rt_asan, timeout=300)
    assert not (tmp_path / "log").exists()
