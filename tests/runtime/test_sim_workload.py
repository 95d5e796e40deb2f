"""cedr-sched-sim --workload (app instances over time, in simulated time, on the runtime's
schedulers) and cedr-run --task-trace (the per-task record a workload model is built from).

Every expected number in the workload tests was worked out by hand from the semantics (the
reasoning is in the comments); none was obtained by running the code.
"""
from __future__ import annotations

import json
import random
import re
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

OUT_KEYS = {"scheduler", "makespan_ns", "rounds", "round_tasks", "sched_overhead_ns", "pes", "instances"}


@pytest.fixture(scope="session")
def sim(rt) -> Path:
    return Path(rt.sched_sim)


@pytest.fixture
def run(sim, tmp_path):
    counter = iter(range(10**6))

    def _run(doc: dict | str, expect_rc: int = 0, raw: bool = False):
        path = tmp_path / f"workload{next(counter)}.json"
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=1))
        res = subprocess.run([str(sim), "--workload", str(path)], capture_output=True, text=True, timeout=120)
        assert res.returncode == expect_rc, (res.returncode, res.stdout, res.stderr)
        if expect_rc != 0 or raw:
            return res
        out = json.loads(res.stdout)
        assert OUT_KEYS <= set(out) <= OUT_KEYS | {"tasks"}
        return out

    return _run


def task(cost: dict, actual: dict | None = None, api: str = "DASH_X") -> dict:
    d = {"api": api, "cost_ns": cost}
    if actual is not None:
        d["actual_ns"] = actual
    return d


def workload(pes: dict, apps: list, instances: list, scheduler: str = "EFT", **kw) -> dict:
    d = {"scheduler": scheduler, "pes": pes, "apps": apps, "instances": instances}
    d.update(kw)
    return d


def by_pe(out) -> dict:
    return {p["name"]: p for p in out["pes"]}


def trace_of(out, app_id: int) -> list[dict]:
    return [t for t in out["tasks"] if t["app_id"] == app_id]


# ------------------------------------------------------------------ hand-computed answers


def test_one_app_two_segments_one_cpu(run):
    # arrival 10; segment 0 released at 10 + 1000 = 1010, runs 400 (actual) -> 1410; segment 1
    # released at 1410 + 200 = 1610, runs 150 -> 1760; tail 50 -> end 1810, latency 1800
    # (= gaps 1200 + actuals 550 + tail 50)
    app = {"name": "a", "tail_ns": 50, "segments": [
        {"gap_ns": 1000, "tasks": [task({"cpu": 300}, {"cpu": 400}, api="DASH_FFT_flt")]},
        {"gap_ns": 200, "tasks": [task({"cpu": 100}, {"cpu": 150})]}]}
    out = run(workload({"cpu": 1}, [app], [{"app": 0, "arrival_ns": 10}], trace=True, round_ns_per_task=100))
    assert out["scheduler"] == "EFT"
    assert out["instances"] == [{"app": "a", "app_id": 0, "arrival_ns": 10, "end_ns": 1810, "latency_ns": 1800}]
    assert out["makespan_ns"] == 1800
    assert out["tasks"] == [
        {"app_id": 0, "app": "a", "task": 0, "api": "DASH_FFT_flt", "pe": "cpu1", "ready_ns": 1010, "start_ns": 1010,
         "end_ns": 1410},
        {"app_id": 0, "app": "a", "task": 1, "api": "DASH_X", "pe": "cpu1", "ready_ns": 1610, "start_ns": 1610,
         "end_ns": 1760}]
    assert out["pes"] == [{"name": "cpu1", "type": "cpu", "busy_ns": 550, "tasks": 2}]
    # one round per release (completions find nothing ready)
    assert out["rounds"] == 2 and out["round_tasks"] == 2 and out["sched_overhead_ns"] == 200


def test_two_instances_queue_on_one_cpu(run):
    # instance 0: 0 -> 1000. Instance 1 released at 100, queued behind it: 1000 -> 2000.
    app = {"name": "a", "segments": [{"tasks": [task({"cpu": 1000})]}]}
    out = run(workload({"cpu": 1}, [app], [{"app": 0, "arrival_ns": 0}, {"app": 0, "arrival_ns": 100}],
                       round_ns_per_task=250, trace=True))
    assert [(i["app_id"], i["end_ns"], i["latency_ns"]) for i in out["instances"]] == [(0, 1000, 1000), (1, 2000, 1900)]
    assert out["makespan_ns"] == 2000
    assert [(t["ready_ns"], t["start_ns"], t["end_ns"]) for t in out["tasks"]] == [(0, 0, 1000), (100, 1000, 2000)]
    assert out["pes"] == [{"name": "cpu1", "type": "cpu", "busy_ns": 2000, "tasks": 2}]
    assert out["rounds"] == 2 and out["round_tasks"] == 2 and out["sched_overhead_ns"] == 500
    assert "tasks" not in run(workload({"cpu": 1}, [app], [{"app": 0, "arrival_ns": 0}]))


def test_accelerator_taken_under_eft_when_cheaper(run):
    # Two tasks released together. EFT in order: task 0 finishes at 900 on conv1, 1000 on cpu1
    # -> conv1. Task 1: conv1 now frees at 900, so 1800 there, 1000 on cpu1 -> cpu1.
    # The fft type has no PE: its cost (1 ns) is never considered.
    t = task({"cpu": 1000, "conv": 900, "fft": 1})
    app = {"name": "net", "segments": [{"tasks": [t, t]}]}
    out = run(workload({"cpu": 1, "conv": 1, "fft": 0}, [app], [{"app": 0, "arrival_ns": 0}], trace=True))
    assert [t["pe"] for t in out["tasks"]] == ["conv1", "cpu1"]
    assert [p["name"] for p in out["pes"]] == ["cpu1", "conv1"]  # count 0: no PE
    assert by_pe(out)["conv1"] == {"name": "conv1", "type": "conv", "busy_ns": 900, "tasks": 1}
    assert out["instances"][0]["end_ns"] == 1000
    # a single task goes to the accelerator, which the CPU would take 5.5 times longer for
    one = {"name": "net", "segments": [{"tasks": [task({"cpu": 5000, "conv": 900}, {"cpu": 5200, "conv": 950})]}]}
    out = run(workload({"cpu": 3, "conv": 1}, [one], [{"app": 0, "arrival_ns": 0}], trace=True))
    assert out["tasks"][0]["pe"] == "conv1" and out["tasks"][0]["end_ns"] == 950  # runs its actual time


def test_segment_barrier(run):
    # Segment 0: two tasks predicted 100 each on two CPUs; EFT puts task 0 on cpu1 (finish 100),
    # task 1 on cpu2 (100 there, 200 behind task 0 on cpu1). Actual times 100 and 500: segment 1
    # begins when the slower one completes (500) and is released 30 later, at 530 - not at 130.
    # At 530 both CPUs are free (availabilities corrected to 100 and 500): the tie goes to cpu1.
    app = {"name": "a", "tail_ns": 7, "segments": [
        {"gap_ns": 0, "tasks": [task({"cpu": 100}, {"cpu": 100}), task({"cpu": 100}, {"cpu": 500})]},
        {"gap_ns": 30, "tasks": [task({"cpu": 40})]}]}
    out = run(workload({"cpu": 2}, [app], [{"app": 0, "arrival_ns": 0}], trace=True))
    assert [(t["task"], t["pe"], t["ready_ns"], t["start_ns"], t["end_ns"]) for t in out["tasks"]] == [
        (0, "cpu1", 0, 0, 100), (1, "cpu2", 0, 0, 500), (2, "cpu1", 530, 530, 570)]
    assert out["instances"][0]["end_ns"] == 577


def test_empty_segments_are_gaps(run):
    # segment 0 (no tasks) adds 100; segment 1 released at 100 + 50 = 150, done at 160; segment 2
    # (no tasks) adds 20; tail 5 -> 185. An app with no task at all ends after its gaps and tail.
    app = {"name": "a", "tail_ns": 5, "segments": [
        {"gap_ns": 100}, {"gap_ns": 50, "tasks": [task({"cpu": 10})]}, {"gap_ns": 20, "tasks": []}]}
    idle = {"name": "idle", "tail_ns": 3, "segments": [{"gap_ns": 40}]}
    out = run(workload({"cpu": 1}, [app, idle], [{"app": 0, "arrival_ns": 0}, {"app": 1, "arrival_ns": 1000}],
                       trace=True))
    assert [(i["app"], i["end_ns"], i["latency_ns"]) for i in out["instances"]] == [("a", 185, 185), ("idle", 1043, 43)]
    assert out["makespan_ns"] == 1043
    assert [(t["app_id"], t["task"], t["start_ns"]) for t in out["tasks"]] == [(0, 0, 150)]


def test_queueing_off(run):
    # One CPU, one segment of three tasks of 100 ns. Queueing on: one round places all three.
    # Queueing off: the PE takes one task per round while idle: rounds at 0 (3 ready), 100 (2),
    # 200 (1). The start times are the same.
    app = {"name": "a", "segments": [{"tasks": [task({"cpu": 100})] * 3}]}
    doc = workload({"cpu": 1}, [app], [{"app": 0, "arrival_ns": 0}], trace=True)
    on = run(doc)
    off = run({**doc, "queueing": False})
    for out in (on, off):
        assert [t["start_ns"] for t in out["tasks"]] == [0, 100, 200]
        assert out["instances"][0]["end_ns"] == 300
    assert (on["rounds"], on["round_tasks"]) == (1, 3)
    assert (off["rounds"], off["round_tasks"]) == (3, 6)
    # A release while the only PE is busy still makes a round (it assigns nothing): instance 1
    # arrives at 50 -> rounds at 0 (1 ready), 50 (1, none idle), 100 (1) = 3 rounds, 3 ready.
    one = {"name": "b", "segments": [{"tasks": [task({"cpu": 100})]}]}
    out = run(workload({"cpu": 1}, [one], [{"app": 0, "arrival_ns": 0}, {"app": 0, "arrival_ns": 50}],
                       queueing=False, trace=True))
    assert (out["rounds"], out["round_tasks"]) == (3, 3)
    assert [(t["ready_ns"], t["start_ns"]) for t in out["tasks"]] == [(0, 0), (50, 100)]


def test_every_scheduler_places_every_task(run):
    apps = [{"name": "x", "tail_ns": 10, "segments": [
        {"gap_ns": 5, "tasks": [task({"cpu": 300, "fft": 50}), task({"cpu": 200}), task({"cpu": 100, "zip": 20})]},
        {"gap_ns": 0, "tasks": [task({"cpu": 80, "fft": 40, "zip": 60})]}]}]
    inst = [{"app": 0, "arrival_ns": 37 * k} for k in range(20)]
    for sched in ("SIMPLE", "RANDOM", "MET", "EFT", "ETF", "HEFT_RT"):
        for q in (True, False):
            out = run(workload({"cpu": 2, "fft": 1, "zip": 1}, apps, inst, scheduler=sched, queueing=q, trace=True))
            assert out["scheduler"] == sched
            assert len(out["tasks"]) == 80 and sum(p["tasks"] for p in out["pes"]) == 80
            for i in out["instances"]:
                ts = trace_of(out, i["app_id"])
                # barrier: the last segment starts after every task of the first ended
                assert ts[3]["ready_ns"] == max(t["end_ns"] for t in ts[:3])
                assert i["end_ns"] == ts[3]["end_ns"] + 10
            for t in out["tasks"]:
                assert t["ready_ns"] <= t["start_ns"] <= t["end_ns"]
            # a PE runs one task at a time
            per_pe = defaultdict(list)
            for t in out["tasks"]:
                per_pe[t["pe"]].append((t["start_ns"], t["end_ns"]))
            for spans in per_pe.values():
                spans.sort()
                assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def _random_workload(n_inst: int, n_tasks: int, scheduler: str, seed: int = 3, trace: bool = False) -> dict:
    rnd = random.Random(seed)
    apps = []
    for a in range(3):
        segs, left = [], n_tasks
        while left > 0:
            k = min(left, rnd.randint(1, 4))
            left -= k
            ts = []
            for _ in range(k):
                c = rnd.uniform(1000, 20000)
                ts.append(task({"cpu": c, "conv": c / 8, "fft": c / 5}, {"cpu": c * 1.1}))
            segs.append({"gap_ns": rnd.uniform(0, 500), "tasks": ts})
        apps.append({"name": f"app{a}", "tail_ns": 100, "segments": segs})
    inst = [{"app": i % 3, "arrival_ns": i * 50000.0} for i in range(n_inst)]
    return workload({"cpu": 3, "conv": 1, "fft": 1, "zip": 0}, apps, inst, scheduler=scheduler, seed=seed,
                    round_ns_per_task=250.5, trace=trace)


def test_deterministic(run):
    doc = json.dumps(_random_workload(60, 20, "RANDOM", trace=True))
    a, b = run(doc, raw=True), run(doc, raw=True)
    assert a.stdout == b.stdout and a.stdout
    other = json.loads(doc)
    other["seed"] = 4
    assert run(json.dumps(other), raw=True).stdout != a.stdout


def test_fast_enough(run):
    doc = _random_workload(2000, 50, "EFT")
    t0 = time.monotonic()
    out = run(doc)
    elapsed = time.monotonic() - t0
    assert out["round_tasks"] >= 100000 and sum(p["tasks"] for p in out["pes"]) == 100000
    assert elapsed < 10, elapsed  # about 0.05 s on the development machine (2 shared cores)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d.pop("instances"), 'missing "instances"'),
    (lambda d: d.pop("scheduler"), 'missing "scheduler"'),
    (lambda d: d.update(scheduler="FASTEST"), 'unknown scheduler "FASTEST"'),
    (lambda d: d["apps"][0].update(tail_ns="x"), '"tail_ns": expected a number'),
    (lambda d: d["apps"][0]["segments"][0].update(gap_ns=-1), '"gap_ns": expected a number >= 0'),
    (lambda d: d["apps"][0]["segments"][1]["tasks"][0].update(cost_ns={"fft": 5}),
     'app "a" segment 1 task 0: no PE can run it'),
    (lambda d: d["apps"][0]["segments"][1]["tasks"][0].update(cost_ns={"gpu": 5}), 'unknown PE type "gpu"'),
    (lambda d: d["apps"][0]["segments"][0]["tasks"][0].update(actual_ns={"fft": 5}), '"actual_ns" gives a time on "fft"'),
    (lambda d: d["instances"][0].update(app=2), '"app": 2 is not an index'),
    (lambda d: d["instances"][0].pop("arrival_ns"), 'missing "arrival_ns"'),
    (lambda d: d.update(trace="yes"), '"trace": expected a boolean'),
    (lambda d: d.update(extra=1), 'unknown key "extra"'),
    (lambda d: d["apps"][0]["segments"][0].update(task=[]), 'unknown key "task"'),
    (lambda d: d.update(pes={"cpu": 0}), "no processing elements"),
])
def test_bad_input_one_line_exit_2(run, mutate, needle):
    doc = workload({"cpu": 1, "fft": 0}, [{"name": "a", "segments": [
        {"tasks": [task({"cpu": 1})]}, {"tasks": [task({"cpu": 1})]}]}], [{"app": 0, "arrival_ns": 0}])
    mutate(doc)
    res = run(doc, expect_rc=2)
    assert res.stdout == ""
    line = res.stderr
    assert line.endswith("\n") and line.count("\n") == 1, line
    assert line.startswith("cedr-sched-sim: ") and needle in line, line
    assert re.search(r": line \d+: ", line) or "expected" in line, line


def test_bad_json_and_usage(sim, tmp_path, run):
    res = run('{"scheduler": "EFT",\n "pes": {"cpu": 1},\n "apps": [}', expect_rc=2)
    assert res.stderr.count("\n") == 1 and "line 3" in res.stderr
    for args in ([], ["--workload"], ["--workload", "a", "b"], ["--bogus", "x"]):
        r = subprocess.run([str(sim), *args], capture_output=True, text=True)
        assert r.returncode == 2 and "usage: cedr-sched-sim" in r.stderr and "--workload" in r.stderr
    r = subprocess.run([str(sim), "--workload", str(tmp_path / "absent.json")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "absent.json" in r.stderr


# ------------------------------------------------------------------ cedr-run --task-trace

TASK_KEYS = {"instance", "app", "app_id", "task_id", "api", "prec", "work", "enqueue_ns", "start_ns", "stop_ns", "pe",
             "pe_type", "pred_ns"}


def _libs(rt) -> list[str]:
    out = ["--lib", str(rt.cpu_lib)]
    if rt.accel_lib.exists():
        out += ["--lib", str(rt.accel_lib)]
    return out


def _accel_types(rt) -> set[str]:
    if not rt.accel_lib.exists():
        return set()
    r = subprocess.run(["nm", "-D", "--defined-only", str(rt.accel_lib)], capture_output=True, text=True)
    return set(re.findall(r" T DASH_\w+_(?:flt|int)_([a-z]+)$", r.stdout, re.M))


def _trace_run(rt, tmp_path: Path, name: str, threads: dict, spec: str) -> tuple[dict, Path]:
    cfg = tmp_path / f"{name}.json"
    cfg.write_text(json.dumps({"Worker Threads": threads, "Scheduler": "EFT", "Random Seed": 0,
                               "Accelerators": {"fft": {"clock_mhz": 100, "bandwidth_gbps": 1.0, "overhead_ns": 7000}}}))
    log, trace = tmp_path / f"{name}_logs", tmp_path / f"{name}_trace.json"
    r = subprocess.run([str(rt.cedr_run), "--config", str(cfg), *_libs(rt), "--log-dir", str(log), "--quiet",
                        "--task-trace", str(trace), spec], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
    assert not Path(str(trace) + ".tmp").exists()
    return json.loads(trace.read_text()), log


def test_task_trace_pulse_doppler(rt, tmp_path):
    have = _accel_types(rt)
    if "fft" not in have:
        pytest.skip("the accelerator library has no fft implementation")
    app = rt.app_so("pulse_doppler")
    threads = {"cpu": 2, "fft": 0, "zip": 0}
    tr, log = _trace_run(rt, tmp_path, "cpu", threads, f"{app}:2:0")
    assert set(tr) == {"types", "tasks", "instances", "rounds"}
    assert tr["types"] == ["cpu", "fft", "zip"]
    tasks = tr["tasks"]
    assert len(tasks) == 2 * 449
    for t in tasks:
        assert set(t) == TASK_KEYS
        assert t["pe_type"] == "cpu" and t["pe"] in ("cpu1", "cpu2")
        assert t["prec"] == "flt" and t["api"] in ("DASH_FFT", "DASH_ZIP")
        assert t["enqueue_ns"] <= t["start_ns"] <= t["stop_ns"] and t["work"] > 0
        # the count-0 accelerator types are predicted too (with the estimator: >= its overhead)
        assert "cpu" in t["pred_ns"] and t["pred_ns"]["cpu"] >= 0
        if t["api"] == "DASH_FFT":
            assert t["pred_ns"]["fft"] >= 7000
        if t["api"] == "DASH_ZIP" and "zip" in have:
            assert t["pred_ns"]["zip"] > 0
    keys = [(t["instance"], t["enqueue_ns"], t["task_id"]) for t in tasks]
    assert keys == sorted(keys)
    for k in (0, 1):
        ids = sorted(t["task_id"] for t in tasks if t["instance"] == k)
        assert ids == list(range(449))
    assert [(i["instance"], i["app"]) for i in tr["instances"]] == [(0, "pulse_doppler"), (1, "pulse_doppler")]
    assert sorted(i["app_id"] for i in tr["instances"]) == [0, 1]
    for i in tr["instances"]:
        assert i["arrival_ns"] <= i["start_ns"] <= i["end_ns"]
        own = [t for t in tasks if t["instance"] == i["instance"]]
        assert all(t["app_id"] == i["app_id"] for t in own)
        assert i["start_ns"] <= min(t["enqueue_ns"] for t in own) and max(t["stop_ns"] for t in own) <= i["end_ns"]
    # the same times as the logs
    timing = {}
    for line in (log / "timing_trace.log").read_text().splitlines():
        f = dict(kv.split(": ", 1) for kv in line.split(", "))
        timing[(int(f["app_id"]), int(f["task_id"]))] = (int(f["ref_start_time"]), int(f["ref_stop_time"]), f["resource_name"])
    assert timing == {(t["app_id"], t["task_id"]): (t["start_ns"], t["stop_ns"], t["pe"]) for t in tasks}
    total = re.search(r"total_ready_tasks: (\d+), total_scheduling_overhead: (\d+) ns$",
                      (log / "schedule_trace.log").read_text())
    assert tr["rounds"]["tasks"] == int(total.group(1)) and tr["rounds"]["total_ns"] == int(total.group(2))
    assert tr["rounds"]["count"] == len((log / "schedule_trace.log").read_text().split("\n")) - 1

    # With an fft PE, FFTs are predicted on it exactly as before: the prediction the scheduler
    # uses is the one a count-0 type reports.
    tr1, _ = _trace_run(rt, tmp_path, "fft", {"cpu": 2, "fft": 1, "zip": 0}, f"{app}:1:0")
    def fft_preds(trace):
        out = defaultdict(set)
        for t in trace["tasks"]:
            if t["api"] == "DASH_FFT":
                out[t["work"]].add(t["pred_ns"]["fft"])
        return dict(out)

    assert fft_preds(tr) == fft_preds(tr1) and fft_preds(tr)


def test_task_trace_bad_path(rt, tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"Worker Threads": {"cpu": 1}}))
    app = rt.app_so("pulse_doppler")
    base = [str(rt.cedr_run), "--config", str(cfg), *_libs(rt)]
    for extra in (["--log-dir", str(tmp_path / "l"), "--task-trace", str(tmp_path / "no" / "such" / "t.json"), f"{app}:1:0"],
                  ["--log-dir", str(tmp_path / "l"), "--task-trace", str(tmp_path), f"{app}:1:0"],
                  ["--check", "--task-trace", str(tmp_path / "t.json")]):
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("cedr-run: error: --task-trace"), r.stderr
    assert not (tmp_path / "l" / "summary.json").exists()
    r = subprocess.run([str(rt.cedr_run), "--help"], capture_output=True, text=True)
    assert "--task-trace FILE" in r.stdout
