"""Accelerator faults survived (an error the call reports, a crash on its worker, a run past its
deadline): the task is re-run on a CPU PE, the app's output is unchanged and the fault is counted
in summary.json; fault injection from the config drives them. Backpressure: "Max Pending
Instances" bounds a run's workload and the daemon's pending instances."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from onnx2cedr import daemon as D
from onnx2cedr import run as R

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "onnx2cedr"]
# The ZIP accelerator gives the CPU kernels' bits (docs/runtime.md), so outputs must not move
# whichever PE a task finally ran on; FFT and complex GEMM (whose accelerators round differently)
# stay on the CPUs here for the same reason.
BASE = {"Worker Threads": {"cpu": 2, "zip": 1}, "Scheduler": "EFT",
        "Features": {"Model Accelerator Latency": True},
        "Accelerators": {"zip": {"clock_mhz": 100000, "bandwidth_gbps": 1000, "overhead_ns": 0}}}  # so EFT picks it
APPS = ["pulse_doppler:2:2000", "wifi_tx:2:1000", "radar_correlator:2:1000"]


def write_config(tmp: Path, name: str, **extra) -> Path:
    p = tmp / f"{name}.json"
    p.write_text(json.dumps({**BASE, **extra}))
    return p


def run(tmp: Path, name: str, **extra):
    cfg = write_config(tmp, name, **extra)
    res = R.run(cfg, tmp / f"logs-{name}", [R.parse_app_spec(a) for a in APPS], force=True)
    return res, {k: v.splitlines()[-1] for k, v in R.app_outputs(res.log_dir).items()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory, rt):
    res, outs = run(tmp_path_factory.mktemp("clean"), "clean")
    assert res.returncode == 0 and res.summary["faults"]["total"] == 0
    return outs


@pytest.mark.parametrize("mode,kind", [("error", "error"), ("crash", "crash"), ("hang", "overrun")])
def test_failed_accelerator_calls_rerun_on_a_cpu_with_the_same_outputs(tmp_path, clean, mode, kind):
    faults = {"inject": {"zip": {"every": 3, "mode": mode}}, "deadline_min_us": 2000}
    res, outs = run(tmp_path, mode, Faults=faults)
    assert res.returncode == 0
    assert outs == clean  # every instance's result line, bit for bit
    f = res.summary["faults"]
    assert f["total"] > 0 and f["total"] == f["injected"] == f[kind]
    assert {r["kind"] for r in f["records"]} == {kind} and {r["pe"] for r in f["records"]} == {"zip1"}
    by_pe = {p["name"]: p["faults"] for p in res.summary["pes"]}
    assert by_pe == {"cpu1": 0, "cpu2": 0, "zip1": f["total"]}
    # every task still ran once to completion: the timing trace has one line per task
    assert len((res.log_dir / "timing_trace.log").read_text().splitlines()) == res.summary["tasks"]


def test_a_probability_injects_some_calls_and_is_seeded(tmp_path, clean):
    faults = {"inject": {"zip": {"probability": 0.3, "mode": "crash"}}, "seed": 7}
    res, outs = run(tmp_path, "p", Faults=faults)
    assert outs == clean
    n = res.summary["faults"]["total"]
    zip_tasks = n + next(p["tasks"] for p in res.summary["pes"] if p["name"] == "zip1")
    assert 0 < n < zip_tasks


@pytest.mark.parametrize("faults,expected", [
    ({"inject": {"cpu": {"every": 2}}}, "faults are injected into accelerators only"),
    ({"inject": {"zip": {"every": 2, "mode": "melt"}}}, "expected \"error\", \"crash\" or \"hang\""),
    ({"inject": {"zip": {"mode": "error"}}}, "give \"every\" or \"probability\""),
    ({"inject": {"zip": {"probability": 1.5}}}, "probability must be in [0, 1]"),
    ({"inject": {"dsp": {"every": 2}}}, "not a PE type of \"Worker Threads\""),
    ({"deadline": 3}, "unknown key \"deadline\" in \"Faults\""),
])
def test_bad_fault_configs_are_one_line(tmp_path, rt, faults, expected):
    cfg = write_config(tmp_path, "bad", Faults=faults)
    with pytest.raises(R.RunError) as e:
        R.run(cfg, tmp_path / "logs", [R.parse_app_spec("wifi_tx:1:0")])
    assert expected in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "logs").exists()


def test_injection_needs_a_cpu_to_fall_back_on(tmp_path, rt):
    cfg = tmp_path / "nocpu.json"
    cfg.write_text(json.dumps({"Worker Threads": {"cpu": 0, "zip": 1}, "Faults": {"inject": {"zip": {"every": 2}}}}))
    with pytest.raises(R.RunError, match="needs a CPU PE"):
        R.run(cfg, tmp_path / "logs", [R.parse_app_spec("wifi_tx:1:0")])


def test_a_run_beyond_max_pending_instances_is_refused(tmp_path, rt):
    cfg = write_config(tmp_path, "max", **{"Max Pending Instances": 3})
    with pytest.raises(R.RunError, match=r"the workload has 4 instances, more than \"Max Pending Instances\" \(3\)"):
        R.run(cfg, tmp_path / "logs", [R.parse_app_spec("wifi_tx:4:0")])


def test_the_daemon_refuses_submissions_beyond_its_bound_and_goes_on(tmp_path, rt):
    cfg = write_config(tmp_path, "d", **{"Max Pending Instances": 3})
    sock = Path(os.environ.get("TMPDIR", "/tmp")) / f"o2c-test-{os.getpid()}-bp.sock"
    started = D.start_background(cfg, tmp_path / "logs", sock)
    try:
        # the second of these arrives a second later: one or two are pending when the next comes
        D.submit([R.parse_app_spec("wifi_tx:2:1000000")], sock)
        with pytest.raises(D.DaemonError, match=r"the daemon is full: [12] instance\(s\) pending, this submission "
                                                r"adds 3, the limit is 3 \(\"Max Pending Instances\"\)"):
            D.submit([R.parse_app_spec("wifi_tx:3:0")], sock)
        D.submit([R.parse_app_spec("wifi_tx:1:0")], sock, wait=True)  # within the bound: served
        assert D.ping(sock)["pid"] == started.pid
    finally:
        D.stop(sock, now=True, timeout=120)
        for p in (sock, sock.with_name(sock.name + ".lock")):
            p.unlink(missing_ok=True)


def test_cli_reports_the_faults(tmp_path, clean):
    cfg = write_config(tmp_path, "cli", Faults={"inject": {"zip": {"every": 4, "mode": "error"}}})
    r = subprocess.run(CLI + ["run", "-c", str(cfg), "--log-dir", str(tmp_path / "l"), *APPS],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "faults:" in r.stdout and "re-run on a CPU" in r.stdout
