"""`onnx2cedr run` options through the CLI (typer's CliRunner, in-process), each checked by its
effect: --check (lists the PEs, runs nothing), --lib (an extra kernel library makes a PE type
usable), --scheduler (overrides the config's), --arrival (overrides the config's injection); and
`onnx2cedr gantt` writing .svg and .pdf."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.oncheck import cli, one_line_error
from tests.runtime.toy_sources import TOY_APP, TOY_KERNELS

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "runtime" / "configs"
APPRT = re.compile(r"^app_id: \d+, app_name: [^,]+, ref_arrival_time: (\d+), ")

def arrival_offsets(log: Path) -> list[int]:
    arr = sorted(int(APPRT.match(ln).group(1)) for ln in (log / "appruntime_trace.log").read_text().splitlines())
    return [a - arr[0] for a in arr]


def write_config(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory, rt):
    import subprocess

    d = tmp_path_factory.mktemp("toy")
    out = {}
    for name, src in (("libtoy", TOY_KERNELS), ("toy_app", TOY_APP)):
        (d / f"{name}.cpp").write_text(src)
        out[name] = d / f"{name}.so"
        r = subprocess.run(["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-I", str(ROOT / "kernels" / "include"),
                            str(d / f"{name}.cpp"), "-o", str(out[name])], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    return out


def test_check_lists_pes_and_runs_nothing(rt, tmp_path):
    log = tmp_path / "logs"
    r = cli("run", "-c", CONFIGS / "cpu_only.json", "--log-dir", log, "--check", "radar_correlator:3:100")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["cpu1 cpu", "cpu2 cpu", "app radar_correlator"], lines
    assert lines[2] == "app radar_correlator: DASH_FFT_flt, DASH_GEMM_flt, DASH_ZIP_flt"
    assert not log.exists()  # nothing ran, nothing was written


def test_lib_adds_a_pe_type(rt, toy, tmp_path):
    cfg = write_config(tmp_path / "hw.json", {"Worker Threads": {"cpu": 0, "toy": 1}, "Scheduler": "SIMPLE"})
    app_spec = f"{toy['toy_app']}:2:0"
    # without the library no PE type "toy" can be built
    r = cli("run", "-c", cfg, "--log-dir", tmp_path / "l0", app_spec)
    assert r.exit_code == 2 and "toy" in one_line_error(r)
    r = cli("run", "-c", cfg, "--log-dir", tmp_path / "l0", "--lib", toy["libtoy"], "--check", app_spec)
    assert r.exit_code == 0, r.output
    assert "toy1 toy: DASH_TOY_flt" in r.stdout.splitlines()
    log = tmp_path / "l1"
    r = cli("run", "-c", cfg, "--log-dir", log, "--lib", toy["libtoy"], app_spec)
    assert r.exit_code == 0, r.output
    outs = sorted((log / "app_output").glob("toy_app.*.log"))
    assert len(outs) == 2, outs
    for out in outs:  # the toy PE's kernel (instance index 0) wrote every slot
        assert out.read_text().splitlines() == [f"toy {k} 0" for k in range(6)], out
    s = json.loads((log / "summary.json").read_text())
    assert s["failed_instances"] == 0 and s["tasks"] == 12
    assert [(p["name"], p["tasks"]) for p in s["pes"]] == [("toy1", 12)]
    names = {ln.split(", ")[3] for ln in (log / "timing_trace.log").read_text().splitlines()}
    assert names == {"task_name: DASH_TOY"}


@pytest.fixture(scope="module")
def heft_run(rt, tmp_path_factory):
    """radar_correlator on the cpu-only config (Scheduler SIMPLE) with --scheduler HEFT_RT."""
    assert json.loads((CONFIGS / "cpu_only.json").read_text())["Scheduler"] == "SIMPLE"
    log = tmp_path_factory.mktemp("heft") / "logs"
    r = cli("run", "-c", CONFIGS / "cpu_only.json", "--log-dir", log, "--scheduler", "HEFT_RT", "radar_correlator:3:0")
    assert r.exit_code == 0, r.output
    return log, r


def test_scheduler_overrides_the_config(heft_run, tmp_path):
    log, r = heft_run
    assert r.stdout.startswith("HEFT_RT: 3 instances")
    assert json.loads((log / "summary.json").read_text())["scheduler"] == "HEFT_RT"
    cmd = json.loads((log / ".onnx2cedr-run").read_text())["command"]
    assert cmd[cmd.index("--scheduler") + 1] == "HEFT_RT"
    r = cli("run", "-c", CONFIGS / "cpu_only.json", "--log-dir", tmp_path / "l", "--scheduler", "FASTEST",
            "radar_correlator")
    assert r.exit_code == 2 and "FASTEST" in one_line_error(r)


def test_arrival_overrides_the_config(rt, tmp_path):
    periodic_cfg = CONFIGS / "cpu_only.json"
    assert json.loads(periodic_cfg.read_text())["Features"]["Fixed Periodic Injection"] is True
    poisson_cfg = write_config(tmp_path / "poisson.json", {"Worker Threads": {"cpu": 2}, "Scheduler": "SIMPLE",
                                                           "Features": {"Fixed Periodic Injection": False}})
    spec = "radar_correlator:5:400"
    periodic = [k * 400_000 for k in range(5)]

    r = cli("run", "-c", poisson_cfg, "--log-dir", tmp_path / "p", "--arrival", "periodic", spec)
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "p" / "summary.json").read_text())["arrival"] == "periodic"
    assert arrival_offsets(tmp_path / "p") == periodic

    r = cli("run", "-c", periodic_cfg, "--log-dir", tmp_path / "q", "--arrival", "poisson", "--seed", "5", spec)
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "q" / "summary.json").read_text())
    assert s["arrival"] == "poisson" and s["seed"] == 5
    offsets = arrival_offsets(tmp_path / "q")
    assert len(offsets) == 5 and offsets != periodic and offsets == sorted(offsets)


def test_gantt_svg_and_pdf(heft_run, tmp_path):
    log, _ = heft_run
    tasks = len((log / "timing_trace.log").read_text().splitlines())
    svg, pdf = tmp_path / "g.svg", tmp_path / "g.pdf"
    for out in (svg, pdf):
        r = cli("gantt", log, "-o", out)
        assert r.exit_code == 0, r.output
        assert f"wrote {out}: {tasks} tasks" in r.output
    head = svg.read_bytes()[:200]
    assert head.startswith(b"<?xml") and b"<svg" in head
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
