"""Scheduler decisions on hand-made task sets, through the offline simulator (cedr-sched-sim).

Every expected placement below was worked out by hand from the scheduler's definition (the
reasoning is in the comments); none was obtained by running the code.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _build_sim(out_dir: Path) -> Path:
    cxx = shutil.which("g++") or shutil.which("c++")
    if not cxx:
        pytest.skip("no C++ compiler")
    src = ROOT / "runtime" / "src"
    srcs = sorted((ROOT / "runtime" / "sim").glob("*.cpp"))
    srcs += [src / f"{n}.cpp" for n in ("json", "scheduler", "cost_model", "api_table")]
    srcs += sorted(src.glob("sched_*.cpp"))
    exe = out_dir / "cedr-sched-sim"
    cmd = [cxx, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-I", str(src),
           "-I", str(ROOT / "kernels" / "include"), *map(str, srcs), "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-4000:]
    return exe


@pytest.fixture(scope="session")
def sim(request, tmp_path_factory) -> Path:
    """The simulator: the runtime conftest's build when there is one, else compiled here."""
    try:
        rt = request.getfixturevalue("rt")
    except pytest.FixtureLookupError:
        return _build_sim(tmp_path_factory.mktemp("sched_sim"))
    return Path(rt.sched_sim)


@pytest.fixture
def run(sim, tmp_path):
    counter = iter(range(10**6))

    def _run(taskset: dict | str, expect_rc: int = 0):
        path = tmp_path / f"taskset{next(counter)}.json"
        path.write_text(taskset if isinstance(taskset, str) else json.dumps(taskset, indent=1))
        res = subprocess.run([str(sim), str(path)], capture_output=True, text=True, timeout=60)
        assert res.returncode == expect_rc, (res.returncode, res.stdout, res.stderr)
        if expect_rc != 0:
            return res
        out = json.loads(res.stdout)
        assert [a["task"] for a in out["assignments"]] == sorted(a["task"] for a in out["assignments"])
        return out

    return _run


def pes_of(out) -> list[str]:
    return [a["pe"] for a in out["assignments"]]


def spans(out) -> list[tuple[float, float]]:
    return [(a["start_ns"], a["end_ns"]) for a in out["assignments"]]


def task(i, ready=0, **kw):
    d = {"id": i, "ready_ns": ready}
    d.update(kw)
    return d


def taskset(scheduler, pes, tasks, **kw):
    d = {"scheduler": scheduler, "pes": pes, "tasks": tasks}
    d.update(kw)
    return d


# ---------------------------------------------------------------------------------------------
# MET vs EFT: the accelerator is 3x faster per task but there is only one of it.
# 5 tasks at t=0, each cpu 100 / fft 30.
#   MET: the fastest type is fft for every task -> all queue on fft1: 0-30, 30-60, ..., 120-150.
#   EFT: fft finishes at 30, 60, 90 (< cpu's 100) for tasks 0-2; task 3 would finish on fft at
#        120 > 100 on cpu1; task 4 likewise 120 > 100 on cpu2.
def test_met_queues_on_fastest_type_eft_spills_to_cpus(run):
    tasks = [task(i, cost_ns={"cpu": 100, "fft": 30}) for i in range(5)]
    met = run(taskset("MET", {"cpu": 2, "fft": 1}, tasks))
    eft = run(taskset("EFT", {"cpu": 2, "fft": 1}, tasks))
    assert pes_of(met) == ["fft1"] * 5
    assert spans(met) == [(0, 30), (30, 60), (60, 90), (90, 120), (120, 150)]
    assert met["makespan_ns"] == 150
    assert pes_of(eft) == ["fft1", "fft1", "fft1", "cpu1", "cpu2"]
    assert spans(eft) == [(0, 30), (30, 60), (60, 90), (0, 100), (0, 100)]
    assert eft["makespan_ns"] == 100
    assert met["rounds"] == eft["rounds"] == 1


# MET: among the PEs of the best type, the one that is available first.
# cpu 10 / fft 50 for every task, 3 tasks: all cpu; task0 cpu1, task1 cpu2 (cpu1 busy until 10),
# task2 cpu1 (both at 10: lowest id).
def test_met_picks_earliest_available_pe_of_best_type(run):
    tasks = [task(i, cost_ns={"cpu": 10, "fft": 50}) for i in range(3)]
    out = run(taskset("MET", {"cpu": 2, "fft": 1}, tasks))
    assert pes_of(out) == ["cpu1", "cpu2", "cpu1"]
    assert spans(out) == [(0, 10), (0, 10), (10, 20)]


# ---------------------------------------------------------------------------------------------
# Size-aware costs: FFT cpu = 500 + 1.0*work, fft = 8000 + 0.1*work (EFT).
#   task 0 (t=0, n=64, work 384):      cpu 884      vs fft 8038.4   -> cpu1, ends 884
#   task 1 (t=1e5, n=16384, work 229376): cpu 229876 vs fft 30937.6 -> fft1, 1e5 .. 130937.6
# With the public size-blind constants (cpu 30000, fft 10000) both go to fft1.
FFT_FUNCS = {"DASH_FFT_flt": {"cpu": {"fixed_ns": 500, "ns_per_unit": 1.0},
                              "fft": {"fixed_ns": 8000, "ns_per_unit": 0.1}}}
FFT_CONSTS = {"DASH_FFT_cpu": 30000, "DASH_FFT_fft": 10000}


def _fft_tasks():
    return [task(0, 0, api="DASH_FFT", prec="flt", work=384),
            task(1, 100000, api="DASH_FFT", prec="flt", work=229376)]


def test_size_aware_cost_changes_the_choice(run):
    sized = run(taskset("EFT", {"cpu": 1, "fft": 1}, _fft_tasks(), cost_functions=FFT_FUNCS))
    assert pes_of(sized) == ["cpu1", "fft1"]
    assert spans(sized) == [(0, 884), (100000, pytest.approx(130937.6))]
    blind = run(taskset("EFT", {"cpu": 1, "fft": 1}, _fft_tasks(), costs=FFT_CONSTS))
    assert pes_of(blind) == ["fft1", "fft1"]
    assert spans(blind) == [(0, 10000), (100000, 110000)]
    # a calibrated function outranks the public constant for the same (API, type)
    both = run(taskset("EFT", {"cpu": 1, "fft": 1}, _fft_tasks(), cost_functions=FFT_FUNCS, costs=FFT_CONSTS))
    assert pes_of(both) == ["cpu1", "fft1"]


def test_builtin_defaults_are_size_aware(run):
    # no functions, no constants: the built-in defaults must still send a 64-point FFT to the
    # CPU and a 16384-point FFT to the accelerator
    out = run(taskset("EFT", {"cpu": 1, "fft": 1}, _fft_tasks()))
    assert pes_of(out) == ["cpu1", "fft1"]


def test_work_based_task_runs_only_where_it_can(run):
    # a GEMM_RE with work on {cpu, fft}: the fft accelerator has no GEMM, so cpu1 even though it
    # is busy; "runs_on" can restrict explicitly
    tasks = [task(0, cost_ns={"cpu": 10**7}),
             task(1, api="DASH_GEMM_RE", prec="flt", work=10**6),
             task(2, api="DASH_FFT", prec="flt", work=10**6, runs_on=["cpu"])]
    out = run(taskset("EFT", {"cpu": 1, "fft": 1}, tasks))
    assert pes_of(out) == ["cpu1", "cpu1", "cpu1"]


# ---------------------------------------------------------------------------------------------
# ETF vs EFT on one batch (types cpu, acc): task0 cpu 30 / acc 21, task1 cpu 100 / acc 10.
#   EFT (FIFO): task0 -> acc1 (21 < 30); task1: acc 31 vs cpu 100 -> acc1 21..31.
#   ETF: pairs finish at t0/cpu 30, t0/acc 21, t1/cpu 100, t1/acc 10 -> t1 on acc1 (10) first;
#        then t0: cpu 30 vs acc 10+21=31 -> cpu1.
def test_etf_differs_from_eft_on_a_batch(run):
    tasks = [task(0, cost_ns={"cpu": 30, "acc": 21}), task(1, cost_ns={"cpu": 100, "acc": 10})]
    eft = run(taskset("EFT", {"cpu": 1, "acc": 1}, tasks))
    etf = run(taskset("ETF", {"cpu": 1, "acc": 1}, tasks))
    assert pes_of(eft) == ["acc1", "acc1"]
    assert spans(eft) == [(0, 21), (21, 31)]
    assert eft["makespan_ns"] == 31
    assert pes_of(etf) == ["cpu1", "acc1"]
    assert spans(etf) == [(0, 30), (0, 10)]
    assert etf["makespan_ns"] == 30


def test_etf_ties_go_to_earlier_task_then_lower_pe(run):
    # 3 tasks of cost 10, two cpus: every first pair finishes at 10 -> t0 on cpu1; then t1 on
    # cpu2 (10 < 20); then t2: 20 on either -> cpu1.
    tasks = [task(i, cost_ns={"cpu": 10}) for i in range(3)]
    out = run(taskset("ETF", {"cpu": 2}, tasks))
    assert pes_of(out) == ["cpu1", "cpu2", "cpu1"]
    assert spans(out) == [(0, 10), (0, 10), (10, 20)]


# ---------------------------------------------------------------------------------------------
# HEFT_RT: rank by the average cost over the types that can run the task.
#   task0 cpu 50 / acc 40 (avg 45); task1 cpu 100 / acc 40 (avg 70); task2 cpu only 60 (avg 60,
#   not 30: acc cannot run it). Order: task1, task2, task0.
#   task1: acc 40 vs cpu 100 -> acc1 0..40; task2 -> cpu1 0..60;
#   task0: cpu 60+50=110 vs acc 40+40=80 -> acc1 40..80.
# EFT in FIFO order instead: task0 -> acc1 0..40; task1: acc 80 vs cpu 100 -> acc1 40..80;
#   task2 -> cpu1 0..60.
def test_heft_rt_orders_by_average_cost(run):
    tasks = [task(0, cost_ns={"cpu": 50, "acc": 40}), task(1, cost_ns={"cpu": 100, "acc": 40}),
             task(2, cost_ns={"cpu": 60})]
    heft = run(taskset("HEFT_RT", {"cpu": 1, "acc": 1}, tasks))
    assert pes_of(heft) == ["acc1", "acc1", "cpu1"]
    assert spans(heft) == [(40, 80), (0, 40), (0, 60)]
    eft = run(taskset("EFT", {"cpu": 1, "acc": 1}, tasks))
    assert pes_of(eft) == ["acc1", "acc1", "cpu1"]
    assert spans(eft) == [(0, 40), (40, 80), (0, 60)]


def test_heft_rt_ties_by_task_id(run):
    # all three average 20, so id order: t0: cpu 10 vs acc 30 -> cpu1 0..10; t1: cpu 40 vs
    # acc 10 -> acc1 0..10; t2: cpu 30 vs acc 30 -> tie, lowest PE id: cpu1 10..30.
    # (Reverse id order would give t2 cpu1 0..20, t1 acc1, t0 cpu1 20..30.)
    tasks = [task(0, cost_ns={"cpu": 10, "acc": 30}), task(1, cost_ns={"cpu": 30, "acc": 10}),
             task(2, cost_ns={"cpu": 20, "acc": 20})]
    out = run(taskset("heft_rt", {"cpu": 1, "acc": 1}, tasks))
    assert out["scheduler"] == "HEFT_RT"
    assert pes_of(out) == ["cpu1", "acc1", "cpu1"]
    assert spans(out) == [(0, 10), (0, 10), (10, 30)]


# ---------------------------------------------------------------------------------------------
# SIMPLE: a cyclic cursor over cpu1, cpu2, fft1 that skips PEs a task cannot use and carries
# over to the next round. Round 0: t0 cpu1, t1 cpu2, t2 fft1, t3 cpu1; t4 (fft only) -> cursor
# at cpu2, skipped -> fft1; round 1: t5 -> cursor wrapped to cpu1.
def test_simple_round_robin(run):
    both = {"cpu": 5, "fft": 5}
    tasks = [task(i, cost_ns=both) for i in range(4)]
    tasks += [task(4, cost_ns={"fft": 5}), task(5, 1000, cost_ns=both)]
    out = run(taskset("simple", {"cpu": 2, "fft": 1}, tasks))
    assert pes_of(out) == ["cpu1", "cpu2", "fft1", "cpu1", "fft1", "cpu1"]
    assert [a["round"] for a in out["assignments"]] == [0, 0, 0, 0, 0, 1]
    assert out["rounds"] == 2


# ---------------------------------------------------------------------------------------------
def test_random_reproducible_and_eligible_only(run):
    tasks = [task(i, cost_ns={"cpu": 1, "fft": 1}) for i in range(40)]
    pes = {"cpu": 2, "fft": 1, "gemm": 1}
    a = run(taskset("RANDOM", pes, tasks, seed=7))
    b = run(taskset("RANDOM", pes, tasks, seed=7))
    c = run(taskset("RANDOM", pes, tasks, seed=8))
    assert pes_of(a) == pes_of(b)
    assert pes_of(a) != pes_of(c)  # 3^-40 chance of a false failure
    for out in (a, c):
        # gemm1 cannot run these tasks; every eligible PE is drawn at some point (a 40-draw
        # sequence that misses one of three has probability ~3e-7)
        assert set(pes_of(out)) == {"cpu1", "cpu2", "fft1"}


# ---------------------------------------------------------------------------------------------
# Queueing off: a PE takes a task only when idle, one per round; the rest wait.
# EFT, 3 tasks at t=0, cpu 100 / fft 10, {cpu:1, fft:1}:
#   round 0 (t=0): t0 -> fft1 (10); t1: fft1 taken -> cpu1 (100); t2: nothing idle, waits.
#   round 1 (t=10, fft1 done): t2 -> fft1 10..20 (cpu1 busy). Completions at 20, 100: no ready task.
def test_queueing_off_waits_for_idle_pe(run):
    tasks = [task(i, cost_ns={"cpu": 100, "fft": 10}) for i in range(3)]
    off = run(taskset("EFT", {"cpu": 1, "fft": 1}, tasks, queueing=False))
    assert pes_of(off) == ["fft1", "cpu1", "fft1"]
    assert spans(off) == [(0, 10), (0, 100), (10, 20)]
    assert [a["round"] for a in off["assignments"]] == [0, 0, 1]
    assert off["rounds"] == 2
    on = run(taskset("EFT", {"cpu": 1, "fft": 1}, tasks, queueing=True))
    assert pes_of(on) == ["fft1"] * 3
    assert spans(on) == [(0, 10), (10, 20), (20, 30)]
    assert on["rounds"] == 1


def test_queueing_off_met_waits_for_its_type(run):
    # MET never falls back to cpu1: one task per round on fft1, at t = 0, 10, 20
    tasks = [task(i, cost_ns={"cpu": 100, "fft": 10}) for i in range(3)]
    out = run(taskset("MET", {"cpu": 1, "fft": 1}, tasks, queueing=False))
    assert pes_of(out) == ["fft1"] * 3
    assert spans(out) == [(0, 10), (10, 20), (20, 30)]
    assert [a["round"] for a in out["assignments"]] == [0, 1, 2]


@pytest.mark.parametrize("sched", ["SIMPLE", "RANDOM", "MET", "EFT", "ETF", "HEFT_RT"])
def test_queueing_off_round_without_assignment_does_not_stall(run, sched):
    # one cpu: t1 arrives at 50 while t0 runs until 100 -> round 1 assigns nothing (the public
    # release exits here); the completion at 100 starts round 2, which places t1: 100..200
    tasks = [task(0, 0, cost_ns={"cpu": 100}), task(1, 50, cost_ns={"cpu": 100})]
    out = run(taskset(sched, {"cpu": 1}, tasks, queueing=False))
    assert pes_of(out) == ["cpu1", "cpu1"]
    assert spans(out) == [(0, 100), (100, 200)]
    assert [a["round"] for a in out["assignments"]] == [0, 2]
    assert out["rounds"] == 3
    assert out["makespan_ns"] == 200


# ---------------------------------------------------------------------------------------------
# Correction of the predicted availability at completions (EFT, {cpu:1, fft:1}).
# task0 (t=0): cpu 1000 / fft 100 -> fft1; it really takes 10 on fft.
# task1 (t=20): cpu 60 / fft 50.
#   actual == predicted: fft1 busy until 100 -> fft finish 150 > cpu 80 -> cpu1 20..80.
#   actual 10: at t=10 fft1's availability is corrected to 10 -> fft finish 70 < 80 -> fft1.
def test_correction_from_measured_times_changes_a_later_placement(run):
    def tasks(actual):
        t0 = task(0, 0, cost_ns={"cpu": 1000, "fft": 100})
        if actual is not None:
            t0["actual_ns"] = {"fft": actual}
        return [t0, task(1, 20, cost_ns={"cpu": 60, "fft": 50})]

    same = run(taskset("EFT", {"cpu": 1, "fft": 1}, tasks(None)))
    assert pes_of(same) == ["fft1", "cpu1"]
    assert spans(same) == [(0, 100), (20, 80)]
    fast = run(taskset("EFT", {"cpu": 1, "fft": 1}, tasks(10)))
    assert pes_of(fast) == ["fft1", "fft1"]
    assert spans(fast) == [(0, 10), (20, 70)]


# The correction keeps the predictions of tasks still queued: avail = now + their predicted cost.
# t0, t1 (t=0): cpu 1000 / fft 100, really 10 on fft. EFT: t0 fft1 (pred 100), t1 fft1 (pred 200
# vs cpu 1000). Real: t0 0..10, t1 10..20. At t=10: avail = 10 + 100 = 110.
# t2 (t=15): cpu 130 / fft 100: fft 210 vs cpu 145 -> cpu1 15..145 (with avail = now it would
#   have gone to fft1).
# t3 (t=25): t1 ended at 20 -> avail 20. fft 125 vs cpu 145+130 = 275 -> fft1 25..125 (without
#   any correction fft would be 200+100 = 300 -> cpu1).
def test_correction_counts_tasks_still_queued(run):
    fast = {"cpu": 1000, "fft": 100}
    tasks = [task(0, 0, cost_ns=fast, actual_ns={"fft": 10}), task(1, 0, cost_ns=fast, actual_ns={"fft": 10}),
             task(2, 15, cost_ns={"cpu": 130, "fft": 100}), task(3, 25, cost_ns={"cpu": 130, "fft": 100})]
    out = run(taskset("EFT", {"cpu": 1, "fft": 1}, tasks))
    assert pes_of(out) == ["fft1", "fft1", "cpu1", "fft1"]
    assert spans(out) == [(0, 10), (10, 20), (15, 145), (25, 125)]
    assert out["makespan_ns"] == 145


# ---------------------------------------------------------------------------------------------
def _one_line_error(res, *needles):
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_error_unknown_scheduler_lists_valid_ones(run):
    res = run(taskset("FASTEST", {"cpu": 1}, [task(0, cost_ns={"cpu": 1})]), expect_rc=2)
    _one_line_error(res, "FASTEST", "SIMPLE", "RANDOM", "MET", "EFT", "ETF", "HEFT_RT")


def test_error_unknown_pe_type_in_cost(run):
    res = run(taskset("EFT", {"cpu": 1}, [task(0, cost_ns={"cpu": 1, "gpu": 2})]), expect_rc=2)
    _one_line_error(res, "gpu", "task 0")


def test_error_task_no_pe_can_run(run):
    # fft exists as a type but has no PE
    res = run(taskset("EFT", {"cpu": 1, "fft": 0}, [task(0, cost_ns={"cpu": 1}), task(1, cost_ns={"fft": 2})]),
              expect_rc=2)
    _one_line_error(res, "task 1", "no PE")


def test_error_malformed_json_gives_line(run):
    text = '{\n  "scheduler": "EFT",\n  "pes": {"cpu": 1,},\n  "tasks": []\n}\n'
    res = run(text, expect_rc=2)
    _one_line_error(res, "line 3")


def test_error_duplicate_task_id_and_missing_file(run, sim, tmp_path):
    res = run(taskset("EFT", {"cpu": 1}, [task(0, cost_ns={"cpu": 1}), task(0, cost_ns={"cpu": 1})]), expect_rc=2)
    _one_line_error(res, "twice")
    res = subprocess.run([str(sim), str(tmp_path / "absent.json")], capture_output=True, text=True)
    assert res.returncode == 2
    _one_line_error(res, "absent.json")


# ---------------------------------------------------------------------------------------------
# Invariants on random task sets, every scheduler, queueing on and off: each task runs once, on
# a PE whose type can run it, not before its release, for its actual time; a PE runs one task
# at a time; nothing stalls (every task is placed); the run is deterministic.
@pytest.mark.parametrize("queueing", [True, False])
@pytest.mark.parametrize("sched", ["SIMPLE", "RANDOM", "MET", "EFT", "ETF", "HEFT_RT"])
def test_random_tasksets_keep_invariants(run, sched, queueing):
    import random

    rnd = random.Random(f"{sched}-{queueing}")  # str seeds are stable across processes
    types = {"cpu": 3, "fft": 1, "gemm": 2}
    tasks = []
    for i in range(60):
        cost = {"cpu": rnd.randint(0, 500)}
        for ty in ("fft", "gemm"):
            if rnd.random() < 0.5:
                cost[ty] = rnd.randint(0, 200)
        t = task(i, rnd.choice([0, 0, 100, 250, 250, 1000]), cost_ns=cost)
        if rnd.random() < 0.5:
            t["actual_ns"] = {ty: max(0, c + rnd.randint(-100, 100)) for ty, c in cost.items()}
        tasks.append(t)
    ts = taskset(sched, types, tasks, queueing=queueing, seed=3)
    out = run(ts)
    assert run(ts) == out
    assert [a["task"] for a in out["assignments"]] == list(range(60))
    by_pe: dict[str, list] = {}
    for t, a in zip(tasks, out["assignments"]):
        ty = a["pe"].rstrip("0123456789")
        assert ty in t["cost_ns"], (t, a)
        assert 1 <= int(a["pe"][len(ty):]) <= types[ty]
        assert a["start_ns"] >= t["ready_ns"]
        length = t.get("actual_ns", t["cost_ns"])[ty]
        assert a["end_ns"] - a["start_ns"] == length
        by_pe.setdefault(a["pe"], []).append((a["start_ns"], a["end_ns"], a["round"]))
    for runs in by_pe.values():
        runs.sort()
        for (s0, e0, r0), (s1, e1, r1) in zip(runs, runs[1:]):
            assert s1 >= e0  # one task at a time
            assert r1 >= r0  # FIFO: a later start never comes from an earlier round
    assert out["makespan_ns"] == max(a["end_ns"] for a in out["assignments"]) - min(t["ready_ns"] for t in tasks)
