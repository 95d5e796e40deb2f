"""The two engines: one point of the design space, run once, gives one row of metrics.

`sim` plays the apps' profiles through `cedr-sched-sim --workload`: the runtime's own scheduler
code in simulated time, deterministic for a seed. `real` writes the point's hardware config and
runs the apps on `cedr-run`, measured; its logs stay in `DIR/runs/`.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import metrics as metrics_mod
from .space import Point, accelerators_of, period_us, platform_of
from .spec import ExperimentError
from .workload import App, arrivals_ns, profile_key


@dataclass
class Context:
    """What a point needs to run, as plain data (it travels to Ray workers)."""
    doc: dict                       # the resolved experiment
    apps: list[App]
    types: list[str]                # PE types the experiment uses (cpu first)
    area: dict                      # resources per accelerator type
    sched_sim: str = ""
    cedr_run: str = ""
    libs: list[str] = field(default_factory=list)
    runs_dir: str = ""
    profiles: dict = field(default_factory=dict)   # accelerator-parameter key -> [profile per app]

    def accel_key(self, params: dict) -> str:
        acc = accelerators_of(params)
        return json.dumps({t: acc[t] for t in self.types if t in acc}, sort_keys=True)

    def seed(self, repeat: int) -> int:
        return int(self.doc["seed"]) + repeat


def sim_workload(ctx: Context, point: Point, repeat: int, trace: bool = False) -> dict:
    """The cedr-sched-sim workload file of a point (arrivals drawn from the point's seed)."""
    p = point.params
    profs = ctx.profiles[ctx.accel_key(p)]
    rng = np.random.default_rng([ctx.seed(repeat), 0x5EED])
    instances = []
    for i in range(len(ctx.apps)):
        n = int(p[f"workload.{i}.instances"])
        for t in arrivals_ns(n, period_us(p, i), p["arrival"], rng):
            instances.append({"app": i, "arrival_ns": round(t, 3)})
    per_task = [pr["round_ns_per_task"] for pr in profs if pr["round_ns_per_task"] > 0]
    return {
        "scheduler": p["scheduler"],
        "seed": ctx.seed(repeat),
        "queueing": bool(ctx.doc["queueing"]),
        "pes": platform_of(p),
        "apps": [{"name": app.name, "segments": pr["segments"], "tail_ns": pr["tail_ns"]}
                 for app, pr in zip(ctx.apps, profs)],
        "instances": instances,
        "round_ns_per_task": float(np.mean(per_task)) if per_task else 0.0,
        "trace": trace,
    }


def simulate(ctx: Context, point: Point, repeat: int, trace: bool = False) -> dict:
    wl = sim_workload(ctx, point, repeat, trace)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="o2c-sim-", delete=True) as f:
        json.dump(wl, f)
        f.flush()
        res = subprocess.run([ctx.sched_sim, "--workload", f.name], capture_output=True, text=True)
    if res.returncode != 0:
        line = (res.stderr.strip().splitlines() or [f"exit code {res.returncode}"])[-1]
        raise ExperimentError(f"point {point.index}: the simulator failed: {line}")
    return json.loads(res.stdout)


def run_sim(ctx: Context, point: Point, repeat: int) -> dict:
    out = simulate(ctx, point, repeat)
    instances = [{"app": i["app"], "arrival_ns": i["arrival_ns"], "end_ns": i["end_ns"]} for i in out["instances"]]
    return metrics_mod.compute(instances, out["pes"], out.get("sched_overhead_ns", 0.0), ctx.doc["workload"],
                               ctx.apps, ctx.doc["power"], platform_of(point.params), ctx.area,
                               _periods(ctx, point.params), _alone_ms(ctx, point.params))


def _periods(ctx: Context, params: dict) -> list[float]:
    return [period_us(params, i) for i in range(len(ctx.apps))]


def _alone_ms(ctx: Context, params: dict) -> list[float] | None:
    """Each app's latency when it runs alone (its profile), if profiled."""
    profs = ctx.profiles.get(ctx.accel_key(params))
    return [p["latency_ns"] / 1e6 for p in profs] if profs else None


def hardware_config(ctx: Context, params: dict, repeat: int) -> dict:
    platform = platform_of(params)
    acc = accelerators_of(params)
    return {
        "Worker Threads": {t: n for t, n in platform.items() if n > 0},
        "Scheduler": params["scheduler"],
        "Random Seed": ctx.seed(repeat),
        "Features": {"Enable Queueing": bool(ctx.doc["queueing"]),
                     "Fixed Periodic Injection": params["arrival"] == "periodic",
                     "Exit When Idle": True, "Model Accelerator Latency": True},
        "Accelerators": {t: acc[t] for t in acc if platform.get(t, 0) > 0},
    }


APPRUNTIME_RE = re.compile(r"app_id: (\d+), app_name: (.*?), ref_arrival_time: (\d+), ref_start_time: (\d+), "
                           r"ref_end_time: (\d+)")


def read_instances(log_dir: Path) -> list[dict]:
    out = []
    for line in (Path(log_dir) / "appruntime_trace.log").read_text().splitlines():
        m = APPRUNTIME_RE.match(line)
        if m:
            out.append({"app": m.group(2), "arrival_ns": int(m.group(3)), "end_ns": int(m.group(5))})
    return out


def run_real(ctx: Context, point: Point, repeat: int) -> dict:
    from ..run import AppSpec, RunError, run

    p = point.params
    log_dir = Path(ctx.runs_dir) / f"{point.index:05d}-{point.id}-r{repeat}"
    log_dir.parent.mkdir(parents=True, exist_ok=True)
    specs = [AppSpec(Path(app.so), int(p[f"workload.{i}.instances"]), period_us(p, i))
             for i, app in enumerate(ctx.apps)]
    with tempfile.TemporaryDirectory(prefix="o2c-point-") as td:
        cfg = Path(td) / "hw.json"
        cfg.write_text(json.dumps(hardware_config(ctx, p, repeat), indent=1))
        try:
            res = run(cfg, log_dir, specs, scheduler=p["scheduler"], seed=ctx.seed(repeat), arrival=p["arrival"],
                      force=True, timeout=float(ctx.doc["real"]["timeout_s"]), rb=_RunBinaries(ctx))
        except RunError as e:
            raise ExperimentError(f"point {point.index}: {e}") from None
    (log_dir / "hw.json").write_text(json.dumps(hardware_config(ctx, p, repeat), indent=1))
    summary = res.summary
    m = metrics_mod.compute(read_instances(log_dir), summary["pes"], summary["scheduling"]["total_ns"],
                            ctx.doc["workload"], ctx.apps, ctx.doc["power"], platform_of(p), ctx.area,
                            _periods(ctx, p), _alone_ms(ctx, p))
    for a in summary.get("apps", []):
        m[f"failed.{a['name']}"] = float(a.get("failed", 0))
    return m


class _RunBinaries:
    """What `run.run` needs of a RuntimeBuild, from the context's plain paths (Ray workers)."""

    def __init__(self, ctx: Context):
        self.cedr_run = Path(ctx.cedr_run)
        self.default_libs = [Path(x) for x in ctx.libs]
        self.sanitize = ()  # experiments run the uninstrumented runtime


def run_point(ctx: Context, point: Point, repeat: int, engine: str) -> dict:
    """One row: the point's identity, its parameters, then the metrics."""
    m = run_sim(ctx, point, repeat) if engine == "sim" else run_real(ctx, point, repeat)
    row = {"point": point.index, "repeat": repeat, "point_id": point.id, "engine": engine,
           "seed": ctx.seed(repeat)}
    row.update(point.params)
    row.update(m)
    return row


def needs_profiles(ctx: Context, points: list[Point]) -> dict[str, dict]:
    """Accelerator-parameter keys the points use -> their parameters (one profile set each)."""
    out = {}
    for pt in points:
        k = ctx.accel_key(pt.params)
        if k not in out:
            out[k] = accelerators_of(pt.params)
    return out


__all__ = ["Context", "run_point", "simulate", "sim_workload", "hardware_config", "needs_profiles",
           "read_instances", "profile_key"]


def write_sim_logs(ctx: Context, point: Point, repeat: int, log_dir: Path) -> Path:
    """A simulated point as a CEDR log folder (timing_trace.log in the runtime's format, and
    summary.json's PE list), so `onnx2cedr gantt` draws it like a real run."""
    out = simulate(ctx, point, repeat, trace=True)
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for k, t in enumerate(sorted(out["tasks"], key=lambda t: (t["start_ns"], t["pe"]))):
        api = t["api"].rsplit("_", 1)[0] if t["api"].rsplit("_", 1)[-1] in ("flt", "int", "dbl") else t["api"]
        start, stop = int(round(t["start_ns"])), int(round(t["end_ns"]))
        lines.append(f"app_id: {t['app_id']}, app_name: {t['app']}, task_id: {t['task']}, task_name: {api}, "
                     f"resource_name: {t['pe']}, ref_start_time: {start}, ref_stop_time: {stop}, "
                     f"actual_exe_time: {stop - start}")
    (log_dir / "timing_trace.log").write_text("\n".join(lines) + ("\n" if lines else ""))
    (log_dir / "summary.json").write_text(json.dumps({"engine": "sim", "point": point.index, "repeat": repeat,
                                                      "scheduler": out["scheduler"], "makespan_ns": out["makespan_ns"],
                                                      "pes": out["pes"]}, indent=1) + "\n")
    return log_dir
