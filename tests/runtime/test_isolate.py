"""Isolation (`run --isolate`, the daemon's default): each app instance in a child process whose
API calls reach the runtime through shared memory. A crashing or hanging instance is reported as
failed with its signal; every other instance completes with the same output as in a clean run
without isolation, while an accelerator fails every 10th call."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onnx2cedr import daemon as D
from onnx2cedr import run as R

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "onnx2cedr"]
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
WAIT = 300
# As in test_faults.py: the ZIP accelerator gives the CPU kernels' bits, so outputs do not move with
# the PE a task ran on; FFT and complex GEMM stay on the CPUs.
BASE = {"Worker Threads": {"cpu": 2, "zip": 1}, "Scheduler": "EFT",
        "Features": {"Model Accelerator Latency": True},
        "Accelerators": {"zip": {"clock_mhz": 100000, "bandwidth_gbps": 1000, "overhead_ns": 0}}}
FAULTY = {"inject": {"zip": {"every": 10, "mode": "error"}}}
APPS = ["pulse_doppler:2:2000", "wifi_tx:2:1000", "radar_correlator:2:1000"]

TOYS = {
    # segfaults in its own code, after a kernel call
    "crash": r"""
#include <vector>
#include "dash.h"
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  std::vector<dash_cmplx_flt_type> a(64), b(64), c(64);
  DASH_ZIP_flt(a.data(), b.data(), c.data(), 64, ZIP_ADD);
  volatile int *p = nullptr;
  *p = 1;
  return 0;
}
""",
    # passes bad pointers to a kernel: the accelerator call crashes (survived: re-run on a CPU), then
    # the CPU kernel crashes on the PE's worker - inside the instance's process when isolated
    "kcrash": r"""
#include <vector>
#include "dash.h"
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  std::vector<dash_cmplx_flt_type> c(64);
  DASH_ZIP_flt(nullptr, (dash_cmplx_flt_type *)8, c.data(), 1 << 20, ZIP_ADD);
  return 0;
}
""",
    # never returns
    "hang": r"""
#include <unistd.h>
#include <vector>
#include "dash.h"
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  std::vector<dash_cmplx_flt_type> a(64), b(64), c(64);
  DASH_ZIP_flt(a.data(), b.data(), c.data(), 64, ZIP_ADD);
  for (;;) pause();
}
""",
}


@pytest.fixture(scope="module")
def toys(tmp_path_factory, rt):
    d = tmp_path_factory.mktemp("toys")
    out = {}
    for name, src in TOYS.items():
        (d / f"{name}.cpp").write_text(src)
        subprocess.run(rt.cxx.split() + ["-std=c++17", "-O2", "-shared", "-fPIC", "-I", str(ROOT / "kernels" / "include"),
                                         "-o", str(d / f"{name}.so"), str(d / f"{name}.cpp")], check=True, timeout=WAIT)
        out[name] = d / f"{name}.so"
    return out


@pytest.fixture(scope="module")
def lenet(tmp_path_factory, rt):
    from onnx2cedr import convert

    base = tmp_path_factory.mktemp("lenet")
    res = convert(LENET, base / "lenet")
    ins = sorted((res.out_dir / "app_inputs").glob("input_*.npy"))
    ref = base / "ref"
    subprocess.run([str(res.artifacts["exe"]), *map(str, ins), "-o", str(ref)], check=True, capture_output=True,
                   timeout=WAIT)
    return {"dir": res.out_dir, "ref": sorted(ref.glob("output_*.npy"))}


def config(tmp: Path, name: str, **extra) -> Path:
    p = tmp / f"{name}.json"
    p.write_text(json.dumps({**BASE, **extra}))
    return p


def result_lines(log_dir: Path) -> dict:
    return {k: v.splitlines()[-1] for k, v in R.app_outputs(log_dir).items() if v.strip()}


def lenet_outputs(m: dict, instances: int) -> dict:
    return {(k, ref.name): (m["dir"] / "app_outputs" / f"instance_{k}" / ref.name).read_bytes()
            for k in range(instances) for ref in m["ref"]}


def processes_naming(text: str) -> list[int]:
    """Live processes whose command line mentions `text` (a run's own log folder)."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
            state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text.encode() in cmd:
            pids.append((int(p.name), state))
    return pids


def shm_entries() -> set:
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def test_mixed_run_with_a_crash_and_a_failing_accelerator(tmp_path, rt, toys, lenet):
    # three LeNet-5 instances: each isolated one writes its own app_outputs/instance_<n> (the child's
    # O2C_APP_INSTANCE, as the shared counter numbers them in-process)
    apps = [R.parse_app_spec(a) for a in APPS] + [R.AppSpec(lenet["dir"] / "lenet5_digits-app.so", 3, 0)]
    # the reference: a clean run, in-process, no faults
    clean = R.run(config(tmp_path, "clean"), tmp_path / "clean", apps, isolate=False, timeout=WAIT)
    assert clean.returncode == 0 and clean.summary["isolated"] is False and clean.summary["faults"]["total"] == 0
    clean_lines = result_lines(clean.log_dir)
    clean_lenet = lenet_outputs(lenet, 3)
    assert all(clean_lenet[(k, r.name)] == r.read_bytes() for k in range(3) for r in lenet["ref"])
    shutil.rmtree(lenet["dir"] / "app_outputs")

    shm_before = shm_entries()
    mixed = apps + [R.AppSpec(toys["crash"], 1, 0), R.AppSpec(toys["kcrash"], 1, 0)]
    res = R.run(config(tmp_path, "faulty", Faults=FAULTY), tmp_path / "iso", mixed, isolate=True, timeout=WAIT)
    s = res.summary
    assert res.returncode == 1 and s["isolated"] is True
    # the two crashing instances failed, with their signal; nothing else did
    assert sorted((f["app"], f["exit_code"], f.get("signal")) for f in s["failures"]) == [
        ("crash", 139, "SIGSEGV"), ("kcrash", 139, "SIGSEGV")]
    assert s["failed_instances"] == 2 and s["instances"] == 11
    # the accelerator failed every 10th call, and those calls were re-run on a CPU
    f = s["faults"]
    assert f["injected"] > 0 and f["error"] == f["injected"]
    # kcrash's accelerator call crashed inside its own process and was survived there
    assert any(r["kind"] == "crash" and r["app"] == "kcrash" and not r["injected"] for r in f["records"])
    # every other instance: the same result line, bit for bit, as the clean in-process run
    lines = result_lines(res.log_dir)
    assert {k: v for k, v in lines.items() if k[0] not in ("crash", "kcrash")} == clean_lines
    assert lenet_outputs(lenet, 3) == clean_lenet
    # one timing-trace line per task that ran, as without isolation
    assert len((res.log_dir / "timing_trace.log").read_text().splitlines()) == s["tasks"]
    # nothing left: no child process of the run, no shared-memory file
    assert processes_naming(str(tmp_path)) == []
    assert shm_entries() == shm_before


def test_a_hanging_instance_is_killed_at_its_timeout(tmp_path, rt, toys):
    # 3 s: the wifi_tx instances beside it (tens of ms) must not reach it on a loaded machine
    cfg = config(tmp_path, "hang", Isolation={"enabled": True, "instance_timeout_s": 3})
    apps = [R.AppSpec(toys["hang"], 1, 0), R.parse_app_spec("wifi_tx:2:0")]
    res = R.run(cfg, tmp_path / "logs", apps, timeout=WAIT)  # isolation from the config
    s = res.summary
    assert res.returncode == 1 and s["isolated"] is True
    assert s["failures"] == [{"app": "hang", "instance": 0, "exit_code": 137, "signal": "SIGKILL", "timed_out": True}]
    lines = result_lines(res.log_dir)
    assert "wifi_tx: ok" in lines[("wifi_tx", 1)] and "wifi_tx: ok" in lines[("wifi_tx", 2)]
    marker = json.loads((res.log_dir / R.RUN_MARKER).read_text())  # the runtime's stderr, kept
    assert "app 'hang' (instance 0) ran over its timeout (3.000 s) and was killed" in marker["stderr"]
    assert processes_naming(str(tmp_path)) == []


def test_without_isolation_a_crash_still_ends_the_run(tmp_path, rt, toys):
    apps = [R.AppSpec(toys["crash"], 1, 0), R.parse_app_spec("wifi_tx:1:0")]
    # (the runtime's "fatal signal SIGSEGV" line goes to the crashing instance's own output file)
    with pytest.raises(R.RunError, match="fatal signal SIGSEGV|exited with code 3"):
        R.run(config(tmp_path, "off"), tmp_path / "logs", apps, timeout=WAIT)
    # the config can turn it on, and --no-isolate off again
    cfg = config(tmp_path, "on", Isolation={"enabled": True})
    res = R.run(cfg, tmp_path / "on", apps, timeout=WAIT)
    assert res.returncode == 1 and [f["app"] for f in res.summary["failures"]] == ["crash"]
    with pytest.raises(R.RunError, match="fatal signal SIGSEGV|exited with code 3"):
        R.run(cfg, tmp_path / "off2", apps, isolate=False, timeout=WAIT)


def test_cli_reports_the_signal(tmp_path, rt, toys):
    r = subprocess.run(CLI + ["run", "--isolate", "-c", str(config(tmp_path, "cli")), "--log-dir", str(tmp_path / "l"),
                              "wifi_tx:1:0", f"{toys['crash']}:1:0"], capture_output=True, text=True, cwd=ROOT,
                       timeout=WAIT)
    assert r.returncode == 1, r.stderr
    assert "1 app instance(s) failed (first: crash instance 1, exit code 139, killed by SIGSEGV)" in " ".join(r.stderr.split())


@pytest.mark.parametrize("isolation,expected", [
    ({"enabled": "yes"}, "\"Isolation\".\"enabled\" must be true or false"),
    ({"instance_timeout_s": -1}, "\"Isolation\".\"instance_timeout_s\""),
    ({"timeout": 3}, "unknown key \"timeout\" in \"Isolation\""),
])
def test_bad_isolation_configs_are_one_line(tmp_path, rt, isolation, expected):
    with pytest.raises(R.RunError) as e:
        R.run(config(tmp_path, "bad", Isolation=isolation), tmp_path / "logs", [R.parse_app_spec("wifi_tx:1:0")])
    assert expected in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "logs").exists()


def test_the_daemon_isolates_by_default_and_survives_a_crash_in_a_kernel(tmp_path, rt, toys):
    sock = Path(os.environ.get("TMPDIR", "/tmp")) / f"o2c-test-{os.getpid()}-iso.sock"
    log = tmp_path / "dlogs"
    started = D.start_background(config(tmp_path, "d"), log, sock)  # neither --isolate nor the config
    try:
        # in-process, a crash on a PE worker (inside a kernel) ends the daemon; here only the instance fails
        done = D.submit([R.AppSpec(toys["kcrash"], 1, 0), R.parse_app_spec("wifi_tx:1:0")], sock, wait=True)[-1]
        assert done["done"]
        by_app = {i["app"]: i["exit_code"] for i in done["instances"]}
        assert by_app == {"kcrash": 139, "wifi_tx": 0}
        assert D.ping(sock)["pid"] == started.pid
        ok = D.submit([R.parse_app_spec("wifi_tx:1:0")], sock, wait=True)[-1]
        assert [i["exit_code"] for i in ok["instances"]] == [0]
    finally:
        D.stop(sock, now=True, timeout=WAIT)
        for p in (sock, sock.with_name(sock.name + ".lock")):
            p.unlink(missing_ok=True)
    deadline = time.monotonic() + 30
    while processes_naming(str(log)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_naming(str(log)) == []
    s = json.loads((log / "summary.json").read_text())
    assert s["isolated"] is True
    assert [(f["app"], f.get("signal")) for f in s["failures"]] == [("kcrash", "SIGSEGV")]
