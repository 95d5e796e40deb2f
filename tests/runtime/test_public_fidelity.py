"""Fidelity to the public CEDR release (github UA-RCL/CEDR), issue 13 items 3 and 4.

Without a public build (always run):
  * "DASH Binary Paths" resolve against the working directory first, then the config's folder; a
    library in neither is one line naming both paths; the public release's own libdash-rt.so,
    absent, leaves the built-in libraries in charge (a note, not an error);
  * a config laid out like the public release's (daemon_config.json beside build/, the library
    named "./libdash-rt/libdash-rt.so", used from build/) is accepted by `onnx2cedr run`;
  * the configs we ship satisfy what the public daemon's parser needs (a non-empty "PAPI Counters"
    or "DASH Binary Paths" list: an empty one aborts it; the types it converts to);
  * schedule_trace.log ends with the public totals line; app_id is numbered as the public release
    numbers it (one counter over the submission, app by app in the order given);
  * every instance's stdout and stderr land in <log-dir>/app_output/<app>.<app_id>.log, and
    `onnx2cedr run` prints a failed instance's output prefixed [app#app_id];
  * `run --check` needs no --log-dir.

With CEDR_ROOT naming a public build (the source root holding libdash/dash.h and build/ with cedr,
sub_dag and libdash-rt/libdash-rt.so; or the build folder itself):
  * the bundled apps compile against the public dash.h and call only APIs it declares;
  * under the public daemon they self-check ok, and its logs number app_id as we do;
  * the public daemon runs every config we ship;
  * the public daemon_config.json is accepted by `onnx2cedr run` from the build folder.
The public daemon's IPC names are fixed (/dev/shm/mem1, /dev/shm/sem.sem_submission_queue), so
only one can run per host: these tests take an flock on /tmp/onnx2cedr-public-cedr.lock, stop the
daemon they started and remove those two objects afterwards (tests/public_cedr.py, which
tests/test_api_public.py shares).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.public_cedr import daemon_config, public_cedr_or_skip, public_daemon, submit_and_wait

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "runtime" / "configs"
APPS_DIR = ROOT / "runtime" / "apps"
APPS = ("radar_correlator", "pulse_doppler", "wifi_tx")
CLI = [sys.executable, "-m", "onnx2cedr"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

SCHED_ROUND = re.compile(r"ready_queue_size: (\d+), ref_start_time: \d+, ref_stop_time: \d+, "
                         r"sheduling_overhead: (\d+) ns")
SCHED_TOTAL = re.compile(r"total_ready_tasks: (\d+), total_scheduling_overhead: (\d+) ns")
APPRT = re.compile(r"^app_id: (\d+), app_name: ([^,]+), ref_arrival_time: (\d+), ")
OK_LINE = re.compile(r"^(\w+): ok, ")

# what the public daemon accepts (master 96eeda6, src-api/config_manager.cpp and scheduler.cpp)
PUBLIC_TYPES = ("cpu", "fft", "gemm", "zip", "gpu")
PUBLIC_SCHEDULERS = {"SIMPLE", "RANDOM", "MET", "HEFT_RT", "EFT", "ETF"}
PUBLIC_FEATURES = {"Cache Schedules", "Enable Queueing", "Use PAPI", "Loosen Thread Permissions",
                   "Fixed Periodic Injection", "Exit When Idle"}
PUBLIC_LIBRARY = "./libdash-rt/libdash-rt.so"  # its kernel library, as its daemon finds it from build/


def cli(*args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=ENV,
                          timeout=timeout)


def error_lines(r: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in r.stderr.splitlines() if ln.strip()]


# ------------------------------------------------------------------ library paths


def public_layout(tmp_path: Path, lib: Path) -> tuple[Path, Path]:
    """<tmp>/cedr/daemon_config.json (the public file's keys and values) and <tmp>/cedr/build/ with
    libdash-rt/libdash-rt.so (here: a copy of our CPU kernel library under the public name)."""
    src = tmp_path / "cedr"
    build = src / "build"
    (build / "libdash-rt").mkdir(parents=True)
    shutil.copy(lib, build / "libdash-rt" / "libdash-rt.so")
    cfg = {"Worker Threads": {"cpu": 3, "fft": 0, "gemm": 0, "gpu": 0},
           "Features": {"Cache Schedules": False, "Enable Queueing": True, "Use PAPI": False,
                        "Loosen Thread Permissions": True, "Fixed Periodic Injection": True, "Exit When Idle": False},
           "PAPI Counters": ["perf::INSTRUCTIONS", "perf::BRANCHES"],
           "DASH API Costs": {"DASH_FFT_cpu": 100, "DASH_FFT_fft": 200, "DASH_GEMM_cpu": 400},
           "Scheduler": "SIMPLE", "Random Seed": 0, "DASH Binary Paths": [PUBLIC_LIBRARY]}
    (src / "daemon_config.json").write_text(json.dumps(cfg, indent=4))
    return src, build


def test_public_layout_config_used_from_its_build_folder(rt, tmp_path):
    src, build = public_layout(tmp_path, rt.cpu_lib)
    # the same relative path beside the config is not a library: only the working directory's is loadable
    (src / "libdash-rt").mkdir()
    (src / "libdash-rt" / "libdash-rt.so").write_text("not a shared object")
    log = tmp_path / "logs"
    r = cli("run", "-c", "../daemon_config.json", "--log-dir", log, "radar_correlator:2:0", "wifi_tx:1:0", cwd=build)
    assert r.returncode == 0, r.stderr
    assert json.loads((log / "summary.json").read_text())["failed_instances"] == 0
    # from elsewhere the config's folder is tried second, and there the file is not a library
    r = cli("run", "-c", src / "daemon_config.json", "--check", "radar_correlator", cwd=tmp_path)
    assert r.returncode == 2 and "libdash-rt.so" in error_lines(r)[-1], r.stderr


def test_library_falls_back_to_the_config_folder(rt, tmp_path):
    cfg_dir = tmp_path / "cfg"
    (cfg_dir / "lib").mkdir(parents=True)
    shutil.copy(rt.cpu_lib, cfg_dir / "lib" / "libextra.so")
    cfg = cfg_dir / "hw.json"
    cfg.write_text(json.dumps({"Worker Threads": {"cpu": 1}, "DASH Binary Paths": ["./lib/libextra.so"]}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = cli("run", "-c", cfg, "--check", "wifi_tx", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    # in neither place: one line naming both paths tried
    (cfg_dir / "lib" / "libextra.so").unlink()
    r = cli("run", "-c", cfg, "--check", "wifi_tx", cwd=elsewhere)
    lines = error_lines(r)
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(elsewhere / "lib" / "libextra.so") in lines[0] and str(cfg_dir / "lib" / "libextra.so") in lines[0]


def test_absent_public_library_leaves_the_built_ins(rt, tmp_path):
    cfg = tmp_path / "hw.json"
    cfg.write_text(json.dumps({"Worker Threads": {"cpu": 1}, "DASH Binary Paths": [PUBLIC_LIBRARY]}))
    r = cli("run", "-c", cfg, "--check", "radar_correlator", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "libdash-rt.so" in r.stderr and "built-in" in r.stderr
    assert r.stdout.splitlines()[-1] == "app radar_correlator: DASH_FFT_flt, DASH_GEMM_flt, DASH_ZIP_flt"


# ------------------------------------------------------------------ the configs we ship


def public_parser_problems(doc: dict) -> list[str]:
    """What src-api/config_manager.cpp of the public release would abort on or misread."""
    bad = []
    for key in ("PAPI Counters", "DASH Binary Paths"):
        if key in doc:
            v = doc[key]
            # it prints the list and cuts its last ", " with find_last_of(','): npos on an empty list
            if not isinstance(v, list) or not v or not all(isinstance(s, str) and s for s in v):
                bad.append(f"{key}: must be a non-empty list of strings")
    for typ, n in doc.get("Worker Threads", {}).items():
        if typ in PUBLIC_TYPES and not (isinstance(n, int) and not isinstance(n, bool) and n >= 0):
            bad.append(f"Worker Threads.{typ}: must be a non-negative integer")
    for name, v in doc.get("Features", {}).items():
        if name in PUBLIC_FEATURES and not isinstance(v, bool):
            bad.append(f"Features.{name}: must be true or false")
    for name, v in doc.get("DASH API Costs", {}).items():
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            bad.append(f"DASH API Costs.{name}: must be a number")
    if doc.get("Scheduler", "SIMPLE") not in PUBLIC_SCHEDULERS:
        bad.append("Scheduler: not one of the public schedulers")
    seed = doc.get("Random Seed", 0)
    if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        bad.append("Random Seed: must be a non-negative integer")
    # its kernels live only in libdash-rt: without it the daemon has no implementation to run
    if PUBLIC_LIBRARY not in doc.get("DASH Binary Paths", [PUBLIC_LIBRARY]):
        bad.append(f"DASH Binary Paths: must name {PUBLIC_LIBRARY}")
    return bad


SHIPPED = sorted(CONFIGS.glob("*.json"))


def test_the_public_parser_check_finds_what_aborts_the_daemon():
    doc = json.loads((CONFIGS / "public_cedr_x86.json").read_text())
    assert public_parser_problems({**doc, "PAPI Counters": []})
    assert public_parser_problems({**doc, "DASH Binary Paths": []})
    assert public_parser_problems({**doc, "Worker Threads": {"cpu": "3"}})


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_config_meets_the_public_parser(path):
    assert SHIPPED, "no configs shipped"
    doc = json.loads(path.read_text())
    assert public_parser_problems(doc) == []
    assert doc.get("Features", {}).get("Exit When Idle") is True  # so the public daemon ends with the workload


# ------------------------------------------------------------------ logs and app output


def test_schedule_totals_and_public_app_ids(rt, tmp_path):
    log = tmp_path / "logs"
    # arrivals: radar#k at k*3 ms, both wifi at 0; the public numbering ignores arrivals: radar 0, 1; wifi 2, 3
    r = cli("run", "-c", CONFIGS / "cpu_only.json", "--log-dir", log, "radar_correlator:2:3000", "wifi_tx:2:0")
    assert r.returncode == 0, r.stderr
    text = (log / "schedule_trace.log").read_text()
    assert not text.endswith("\n")
    *rounds, last = text.split("\n")
    ms = [SCHED_ROUND.fullmatch(ln) for ln in rounds]
    assert ms and all(ms), rounds[:3]
    total = SCHED_TOTAL.fullmatch(last)
    assert total, last
    assert int(total.group(1)) == sum(int(m.group(1)) for m in ms)
    assert int(total.group(2)) == sum(int(m.group(2)) for m in ms)
    apps = {}
    for ln in (log / "appruntime_trace.log").read_text().splitlines():
        m = APPRT.match(ln)
        assert m, ln
        apps[int(m.group(1))] = (m.group(2), int(m.group(3)))
    assert {k: v[0] for k, v in apps.items()} == {0: "radar_correlator", 1: "radar_correlator", 2: "wifi_tx",
                                                  3: "wifi_tx"}
    assert apps[1][1] > apps[2][1]  # radar#1 arrived after both wifi instances, and keeps id 1
    for ln in (log / "timing_trace.log").read_text().splitlines():
        app_id, name = re.match(r"app_id: (\d+), app_name: ([^,]+),", ln).groups()
        assert apps[int(app_id)][0] == name


FAILING_APP = r"""
#include <cstdio>
extern "C" __attribute__((visibility("default"))) int main(int, char **) {
  std::printf("noisy: to stdout\n");
  std::fprintf(stderr, "noisy: to stderr, failing\n");
  return 3;
}
"""


def test_app_output_one_file_per_instance(rt, tmp_path):
    src = tmp_path / "noisy.cpp"
    src.write_text(FAILING_APP)
    noisy = tmp_path / "noisy.so"
    b = subprocess.run(["g++", "-shared", "-fPIC", str(src), "-o", str(noisy)], capture_output=True, text=True)
    assert b.returncode == 0, b.stderr
    log = tmp_path / "logs"
    r = cli("run", "-c", CONFIGS / "cpu_only.json", "--log-dir", log, "radar_correlator:2:0", f"{noisy}:1:0",
            "wifi_tx:1:0")
    assert r.returncode == 1, r.stderr
    out = log / "app_output"
    assert sorted(p.name for p in out.iterdir()) == ["noisy.2.log", "radar_correlator.0.log",
                                                    "radar_correlator.1.log", "wifi_tx.3.log"]
    for name, app in (("radar_correlator.0.log", "radar_correlator"), ("radar_correlator.1.log", "radar_correlator"),
                      ("wifi_tx.3.log", "wifi_tx")):
        lines = (out / name).read_text().splitlines()
        assert len(lines) == 1 and OK_LINE.match(lines[0]).group(1) == app, lines
    assert (out / "noisy.2.log").read_text().splitlines() == ["noisy: to stdout", "noisy: to stderr, failing"]
    # the failed instance's output is forwarded, prefixed; the others' only on request
    assert "[noisy#2] noisy: to stderr, failing" in r.stderr.splitlines()
    assert "[radar_correlator#0]" not in r.stderr
    r = cli("run", "-c", CONFIGS / "cpu_only.json", "--log-dir", log, "--print-output", "wifi_tx:1:0")
    assert r.returncode == 0, r.stderr
    assert any(ln.startswith("[wifi_tx#0] wifi_tx: ok, ") for ln in r.stderr.splitlines()), r.stderr


def test_check_needs_no_log_dir(rt, tmp_path):
    r = cli("run", "-c", CONFIGS / "cpu_only.json", "--check", "wifi_tx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("app wifi_tx: ")
    assert list(tmp_path.iterdir()) == []
    r = cli("run", "-c", CONFIGS / "cpu_only.json", "wifi_tx", cwd=tmp_path)
    lines = error_lines(r)
    assert r.returncode == 2 and len(lines) == 1 and "--log-dir" in lines[0], r.stderr


# ------------------------------------------------------------------ the public release itself (CEDR_ROOT)


@pytest.fixture(scope="module")
def public():
    return public_cedr_or_skip()


@pytest.fixture(scope="module")
def public_apps(public, tmp_path_factory):
    """The bundled apps compiled as CEDR app shared objects against the public dash.h."""
    out = tmp_path_factory.mktemp("public_apps")
    built = {}
    for app in APPS:
        so = out / f"{app}.so"
        r = subprocess.run(["g++", "-std=c++17", "-O2", "-fPIC", "-shared", "-pthread", "-Wall", "-Wextra", "-Werror",
                            "-I", str(public.include), str(APPS_DIR / f"{app}.cpp"), "-o", str(so)],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{app} against the public dash.h:\n{r.stderr}"
        built[app] = so
    return built


def test_bundled_apps_use_only_the_public_header(public, public_apps):
    header = (public.include / "dash.h").read_text()
    assert "cedr_barrier_wait" not in header  # it is the public header, not ours
    declared = set(re.findall(r"\b(DASH_\w+)\s*\(", header))
    for app, so in public_apps.items():
        nm = subprocess.run(["nm", "-D", "--undefined-only", str(so)], capture_output=True, text=True, check=True)
        used = {ln.split()[-1] for ln in nm.stdout.splitlines() if "DASH_" in ln}
        assert used and used <= declared, (app, used - declared)


def test_bundled_apps_self_check_under_the_public_daemon(public, public_apps, tmp_path):
    cfg = daemon_config(public, tmp_path / "cfg.json")
    with public_daemon(public, tmp_path, cfg) as proc:
        submit_and_wait(public, proc, [(public_apps["radar_correlator"], 2), (public_apps["pulse_doppler"], 1),
                                       (public_apps["wifi_tx"], 1)])
        assert proc.returncode == 0
    out = (tmp_path / "daemon.out").read_text()
    oks = [m.group(1) for m in map(OK_LINE.match, out.splitlines()) if m]
    assert sorted(oks) == ["pulse_doppler", "radar_correlator", "radar_correlator", "wifi_tx"], out[-3000:]
    assert "FAIL" not in out
    logs = tmp_path / "log_dir" / "experiment0"
    # the public numbering we copy: one counter over the submission, app by app
    ids = {}
    for ln in (logs / "appruntime_trace.log").read_text().splitlines():
        m = APPRT.match(ln)
        assert m, ln
        ids[int(m.group(1))] = m.group(2)
    assert ids == {0: "radar_correlator", 1: "radar_correlator", 2: "pulse_doppler", 3: "wifi_tx"}
    names = {ln.split(", ")[3] for ln in (logs / "timing_trace.log").read_text().splitlines()}
    assert names == {"task_name: DASH_FFT", "task_name: DASH_ZIP", "task_name: DASH_GEMM"}
    last = (logs / "schedule_trace.log").read_text().split("\n")[-1]
    assert SCHED_TOTAL.fullmatch(last), last


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_public_daemon_runs_shipped_config(public, public_apps, tmp_path, path):
    with public_daemon(public, tmp_path, path) as proc:
        submit_and_wait(public, proc, [(public_apps["radar_correlator"], 1)])
        assert proc.returncode == 0
    out = (tmp_path / "daemon.out").read_text()
    assert "radar_correlator: ok, " in out and "terminate called" not in out, out[-3000:]


def test_public_daemon_config_accepted_by_run_from_its_build_folder(rt, public, tmp_path):
    log = tmp_path / "logs"
    r = cli("run", "-c", os.path.relpath(public.config, public.build), "--log-dir", log, "--print-output",
            "radar_correlator:2:0", "pulse_doppler:1:0", cwd=public.build)
    assert r.returncode == 0, r.stderr
    oks = sorted(m.group(1) for m in map(OK_LINE.match, (ln.split("] ", 1)[-1] for ln in r.stderr.splitlines()))
                 if m)
    assert oks == ["pulse_doppler", "radar_correlator", "radar_correlator"], r.stderr
    # its libdash-rt.so was loaded (from the working directory): its BLAS APIs are listed
    r = cli("run", "-c", os.path.relpath(public.config, public.build), "--check", "radar_correlator",
            cwd=public.build)
    assert r.returncode == 0 and "DASH_BLAS_MADD_flt" in r.stdout, r.stderr
