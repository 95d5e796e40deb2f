"""End to end on the runtime: generated model apps and the bundled non-ML apps under every
scheduler on a described SoC, through `onnx2cedr run`; outputs bit for bit against the standalone
executable; logs in the public formats; Gantt charts; calibration; bad input."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from onnx2cedr import run as R

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "runtime" / "configs"
SCHEDULERS = ["SIMPLE", "RANDOM", "MET", "EFT", "ETF", "HEFT_RT"]
CLI = [sys.executable, "-m", "onnx2cedr"]

TIMING = re.compile(r"^app_id: \d+, app_name: [^,]+, task_id: \d+, task_name: DASH_\w+, resource_name: [a-z_]+\d+, "
                    r"ref_start_time: \d+, ref_stop_time: \d+, actual_exe_time: \d+$")
SCHED = re.compile(r"^ready_queue_size: \d+, ref_start_time: \d+, ref_stop_time: \d+, sheduling_overhead: \d+ ns$")
APPRT = re.compile(r"^app_id: \d+, app_name: [^,]+, ref_arrival_time: \d+, ref_start_time: \d+, ref_end_time: \d+, "
                   r"app_runtime: \d+, app_lifetime: \d+$")


def timing_records(log_dir: Path) -> list[dict]:
    recs = []
    for line in (log_dir / "timing_trace.log").read_text().splitlines():
        assert TIMING.match(line), line
        recs.append(dict(kv.split(": ", 1) for kv in line.split(", ")))
    return recs


@pytest.fixture(scope="module")
def models(tmp_path_factory, rt):
    """Two converted model apps (ResNet-8 has parallel branches, so its waves issue _nb calls) and
    their standalone executables' outputs on the same inputs."""
    from models.export import export_model
    from onnx2cedr import convert

    base = tmp_path_factory.mktemp("models")
    out = {}
    for name in ("lenet5", "resnet8"):
        onnx_path = base / f"{name}.onnx"
        export_model(name, onnx_path)
        res = convert(onnx_path, base / name)
        ref = base / f"{name}_ref"
        ins = sorted((res.out_dir / "app_inputs").glob("input_*.npy"))
        subprocess.run([str(res.artifacts["exe"]), *map(str, ins), "-o", str(ref)], check=True, capture_output=True)
        out[name] = {"dir": res.out_dir, "ref": sorted(ref.glob("output_*.npy")),
                     "calls": len(re.findall(r"\bDASH_[A-Z_0-9]+_flt(?:_nb)?\(", (res.out_dir / "model.cpp").read_text()))}
    return out


def check_model_outputs(m: dict, instances: int) -> None:
    outs = m["dir"] / "app_outputs"
    for k in range(instances):
        for ref in m["ref"]:
            got = outs / f"instance_{k}" / ref.name
            assert got.read_bytes() == ref.read_bytes(), f"{got} differs from the standalone executable's output"


def clear_outputs(m: dict) -> None:
    shutil.rmtree(m["dir"] / "app_outputs", ignore_errors=True)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_model_app_every_scheduler_bit_identical(models, rt, tmp_path, scheduler):
    m = models["resnet8"]
    clear_outputs(m)
    res = R.run(CONFIGS / "soc_demo.json", tmp_path / "logs", [R.AppSpec(m["dir"] / "resnet8-app.so", 4, 300)],
                scheduler=scheduler, rb=rt)
    assert res.returncode == 0
    s = res.summary
    assert s["scheduler"] == scheduler and s["instances"] == 4 and s["failed_instances"] == 0
    check_model_outputs(m, 4)
    recs = timing_records(res.log_dir)
    assert len(recs) == s["tasks"] == 4 * m["calls"]
    per_instance = Counter(r["app_id"] for r in recs)
    assert set(per_instance.values()) == {m["calls"]}
    *rounds, total = (res.log_dir / "schedule_trace.log").read_text().split("\n")
    for line in rounds:
        assert SCHED.match(line), line
    assert re.fullmatch(r"total_ready_tasks: \d+, total_scheduling_overhead: \d+ ns", total), total
    lines = (res.log_dir / "appruntime_trace.log").read_text().splitlines()
    assert len(lines) == 4 and all(APPRT.match(ln) for ln in lines)


def test_accelerators_used_and_bit_identical(models, rt, tmp_path):
    """MET sends every call to the PE type with the lowest predicted cost; with the built-in costs
    the large convolutions and GEMMs go to the accelerators, and the results stay bit-identical."""
    m = models["resnet8"]
    clear_outputs(m)
    res = R.run(CONFIGS / "soc_demo.json", tmp_path / "logs", [R.AppSpec(m["dir"] / "resnet8-app.so", 2, 0)],
                scheduler="MET", rb=rt)
    assert res.returncode == 0
    check_model_outputs(m, 2)
    used = Counter(r["resource_name"] for r in timing_records(res.log_dir))
    assert used["conv1"] > 0, used


def test_mixed_workload_100_instances(models, rt, tmp_path):
    """Two models, the pulse-Doppler radar and the WiFi transmitter: 100 instances at a saturating
    arrival rate; every output correct, every task logged, and a Gantt chart of it."""
    for m in models.values():
        clear_outputs(m)
    specs = [R.AppSpec(models["lenet5"]["dir"] / "lenet5-app.so", 25, 100),
             R.AppSpec(models["resnet8"]["dir"] / "resnet8-app.so", 25, 100),
             R.AppSpec(rt.app_so("pulse_doppler"), 25, 100),
             R.AppSpec(rt.app_so("wifi_tx"), 25, 100)]
    res = R.run(CONFIGS / "soc_demo.json", tmp_path / "logs", specs, scheduler="EFT", arrival="poisson", seed=3, rb=rt)
    s = res.summary
    assert res.returncode == 0, s["failures"]
    assert s["instances"] == 100 and s["failed_instances"] == 0
    check_model_outputs(models["lenet5"], 25)
    check_model_outputs(models["resnet8"], 25)
    recs = timing_records(res.log_dir)
    assert len(recs) == s["tasks"] == sum(p["tasks"] for p in s["pes"])
    by_instance = defaultdict(list)
    for r in recs:
        by_instance[(r["app_name"], r["app_id"])].append(int(r["task_id"]))
    assert len(by_instance) == 100
    for (app, _), ids in by_instance.items():
        assert sorted(ids) == list(range(len(ids))), f"{app}: task ids not contiguous"
        if app in ("lenet5-app", "resnet8-app"):
            assert len(ids) == models[app.split("-")[0]]["calls"]
    apps = {a["name"]: a for a in s["apps"]}
    assert {a["instances"] for a in apps.values()} == {25}
    for a in apps.values():
        lat = a["latency_ns"]
        assert 0 < lat["p50"] <= lat["p95"] <= lat["max"]
    assert len((res.log_dir / "appruntime_trace.log").read_text().splitlines()) == 100

    png, page = tmp_path / "gantt.png", tmp_path / "gantt.html"
    for out in (png, page):
        r = subprocess.run(CLI + ["gantt", str(res.log_dir), "-o", str(out)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    html = page.read_text()
    assert html.count("<title>") - 1 == len(recs)  # one tooltip per task (+ the page title)
    for name in ("lenet5-app", "resnet8-app", "pulse_doppler", "wifi_tx"):
        assert name in html


def test_public_api_program_under_runtime_with_public_config(rt, tmp_path):
    """The radar correlator uses only the public API names (FFT, ZIP, GEMM); the config is shaped
    like the public release's (PAPI keys, a gpu type with 0 PEs, constant costs)."""
    r = subprocess.run(CLI + ["run", "--config", str(CONFIGS / "public_cedr_x86.json"), "--log-dir", str(tmp_path / "l"),
                              "radar_correlator:6:500"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "l" / "summary.json").read_text())
    assert s["failed_instances"] == 0 and s["instances"] == 6
    names = {rec["task_name"] for rec in timing_records(tmp_path / "l")}
    assert {"DASH_FFT", "DASH_ZIP", "DASH_GEMM"} <= names


def test_run_cli_summary_and_rerun(rt, tmp_path):
    log = tmp_path / "logs"
    args = CLI + ["run", "-c", str(CONFIGS / "cpu_only.json"), "--log-dir", str(log), "wifi_tx:3:200", "--json"]
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["instances"] == 3 and {p["name"] for p in s["pes"]} == {"cpu1", "cpu2"}
    r = subprocess.run(args, capture_output=True, text=True)  # our own folder is replaced
    assert r.returncode == 0, r.stderr


def _bad(args: list[str], tmp_path: Path, needle: str) -> None:
    log = tmp_path / "logs"
    r = subprocess.run(CLI + ["run", "--log-dir", str(log)] + args, capture_output=True, text=True)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert needle in lines[0], lines[0]
    assert not log.exists() or not any(log.iterdir())
    assert not list(tmp_path.glob(".logs.*"))


def _config(tmp_path: Path, **over) -> str:
    doc = json.loads((CONFIGS / "soc_demo.json").read_text())
    doc.update(over)
    p = tmp_path / "hw.json"
    p.write_text(json.dumps(doc))
    return str(p)


def test_bad_inputs_fail_before_anything_runs(rt, tmp_path):
    _bad(["-c", _config(tmp_path, Scheduler="FASTEST"), "wifi_tx"], tmp_path, "FASTEST")
    _bad(["-c", _config(tmp_path, **{"Worker Threads": {"cpu": 1, "npu": 1}}), "wifi_tx"], tmp_path, "npu")
    _bad(["-c", _config(tmp_path, **{"Worker Threads": {"fft": 1}}), "wifi_tx"], tmp_path, "DASH_")
    _bad(["-c", _config(tmp_path, **{"Worker Threads": {"cpu": -1}}), "wifi_tx"], tmp_path, "cpu")
    _bad(["-c", _config(tmp_path, **{"DASH Binary Paths": ["nowhere/libx.so"]}), "wifi_tx"], tmp_path, "libx.so")
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"Worker Threads": {"cpu": 2},\n "Scheduler": }')
    _bad(["-c", str(bad_json), "wifi_tx"], tmp_path, "line 2")
    _bad(["-c", str(tmp_path / "missing.json"), "wifi_tx"], tmp_path, "missing.json")
    cfg = str(CONFIGS / "cpu_only.json")
    _bad(["-c", cfg, str(tmp_path / "nothere.so")], tmp_path, "nothere.so")
    not_so = tmp_path / "text.so"
    not_so.write_text("hello")
    _bad(["-c", cfg, str(not_so)], tmp_path, "text.so")
    _bad(["-c", cfg, str(rt.cpu_lib)], tmp_path, "main")
    _bad(["-c", cfg, "wifi_tx:0:10"], tmp_path, "instances")
    _bad(["-c", cfg, "wifi_tx:2:-5"], tmp_path, "period")


def test_foreign_log_dir_refused(rt, tmp_path):
    log = tmp_path / "logs"
    log.mkdir()
    (log / "precious.txt").write_text("x")
    r = subprocess.run(CLI + ["run", "-c", str(CONFIGS / "cpu_only.json"), "--log-dir", str(log), "wifi_tx"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not empty" in r.stderr
    assert (log / "precious.txt").exists()


def test_gantt_rejects_non_log_folder(tmp_path):
    r = subprocess.run(CLI + ["gantt", str(tmp_path), "-o", str(tmp_path / "g.png")], capture_output=True, text=True)
    assert r.returncode == 2 and "timing_trace.log" in r.stderr


def test_calibrate_writes_size_aware_costs(rt, tmp_path):
    cfg = tmp_path / "hw.json"
    cfg.write_text(json.dumps({"Worker Threads": {"cpu": 1, "fft": 1, "zip": 1}, "Scheduler": "EFT",
                               "Accelerators": {"fft": {"clock_mhz": 300, "bandwidth_gbps": 4.0, "overhead_ns": 2000}}}))
    r = subprocess.run(CLI + ["calibrate", "-c", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(cfg.read_text())
    fns = doc["API Cost Functions"]
    assert doc["Worker Threads"] == {"cpu": 1, "fft": 1, "zip": 1}  # the rest of the config is kept
    fft = fns["DASH_FFT_flt"]
    assert {"cpu", "fft"} <= set(fft)
    assert fft["cpu"]["ns_per_unit"] > 0 and fft["fft"]["fixed_ns"] > 0
    assert "DASH_ZIP_flt" in fns and "zip" in fns["DASH_ZIP_flt"]
    # the calibrated config runs
    res = R.run(cfg, tmp_path / "logs", [R.AppSpec(rt.app_so("pulse_doppler"), 2, 0)], rb=rt)
    assert res.returncode == 0
