"""The metrics of one run (simulated or real), by column name.

throughput_per_s.<app> is n instances over the time from the first arrival to the last end;
throughput_ratio.<app> is the pace kept: ((n - 1) * period + the app's latency alone) over that
time, about 1 when every instance ran as it arrived, lower when the app fell behind. Its
slowdown_p95.<app> is the p95 latency over its latency alone (the profile's): equal slowdowns
across apps mean the scheduler shares the SoC fairly.

`<app>` in a column name is the app's name as the logs print it; `<pe>` a PE's name (cpu1,
conv1, ...). Latencies are arrival to end of an instance; percentiles interpolate linearly, as
the runtime's summary does.
"""
from __future__ import annotations

import numpy as np

from . import resources


def _pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def compute(instances: list[dict], pes: list[dict], overhead_ns: float, workload: list[dict], apps: list,
            power: dict, platform: dict[str, int], area: dict, periods_us: list[float] | None = None,
            alone_ms: list[float] | None = None) -> dict:
    """instances: {app, arrival_ns, end_ns[, failed]}; pes: {name, type, busy_ns}; workload: the
    experiment's entries (deadlines, targets), parallel to `apps` (their log names) and to
    periods_us (the point's periods) and to alone_ms (each app's latency when it runs alone: its
    profile's; without it, its best latency in this run)."""
    first = min(i["arrival_ns"] for i in instances)
    last = max(i["end_ns"] for i in instances)
    makespan = max(0.0, float(last - first))
    m: dict[str, float] = {"makespan_ms": makespan / 1e6}
    for item, app in zip(workload, apps):
        mine = [i for i in instances if i["app"] == app.name]
        lat = [(i["end_ns"] - i["arrival_ns"]) / 1e6 for i in mine]
        m[f"latency_p50_ms.{app.name}"] = _pct(lat, 50)
        m[f"latency_p95_ms.{app.name}"] = _pct(lat, 95)
        m[f"latency_max_ms.{app.name}"] = max(lat) if lat else float("nan")
        span = (max(i["end_ns"] for i in mine) - min(i["arrival_ns"] for i in mine)) if mine else 0
        thr = len(mine) / (span / 1e9) if span > 0 else float("nan")
        m[f"throughput_per_s.{app.name}"] = thr
        k = apps.index(app)
        alone = alone_ms[k] if alone_ms is not None else (min(lat) if lat else float("nan"))
        m[f"slowdown_p95.{app.name}"] = m[f"latency_p95_ms.{app.name}"] / alone if alone > 0 else float("nan")
        if periods_us is not None:
            # the pace kept: the span the instances would need if each ran alone as it arrived,
            # over the span they took (about 1: the app kept up with its arrivals)
            ideal = (len(mine) - 1) * periods_us[k] * 1000.0 + alone * 1e6 if mine else 0
            m[f"throughput_ratio.{app.name}"] = ideal / span if span > 0 else float("nan")
        if "throughput_target" in item:
            m[f"throughput_met.{app.name}"] = float(thr >= item["throughput_target"])
        if "deadline_ms" in item:
            m[f"deadline_misses.{app.name}"] = float(sum(1 for x in lat if x > item["deadline_ms"]))
        m[f"failed.{app.name}"] = float(sum(1 for i in mine if i.get("failed")))
    energy_nj = 0.0
    for pe in pes:
        busy = min(float(pe["busy_ns"]), makespan) if makespan > 0 else float(pe["busy_ns"])
        m[f"util.{pe['name']}"] = busy / makespan if makespan > 0 else 0.0
        w = power[pe["type"]]
        energy_nj += busy * w["active_w"] + max(0.0, makespan - busy) * w["idle_w"]
    m["energy_mj"] = energy_nj / 1e6
    m["sched_overhead_ms"] = float(overhead_ns) / 1e6
    tot = resources.totals(platform, area)
    m["dsp"], m["bram"], m["lut"] = tot["dsp"], tot["bram"], tot["lut"]
    return m


def names(workload: list[dict], apps: list, pe_names: list[str]) -> list[str]:
    """Every metric column `compute` gives for this workload and these PEs."""
    out = ["makespan_ms"]
    for item, app in zip(workload, apps):
        out += [f"latency_p50_ms.{app.name}", f"latency_p95_ms.{app.name}", f"latency_max_ms.{app.name}",
                f"throughput_per_s.{app.name}", f"slowdown_p95.{app.name}", f"throughput_ratio.{app.name}"]
        if "throughput_target" in item:
            out.append(f"throughput_met.{app.name}")
        if "deadline_ms" in item:
            out.append(f"deadline_misses.{app.name}")
        out.append(f"failed.{app.name}")
    out += [f"util.{pe}" for pe in pe_names]
    return out + ["energy_mj", "sched_overhead_ms", "dsp", "bram", "lut"]


def check_names(wanted: list[tuple[str, str]], known: list[str]) -> None:
    """(key path, metric) pairs of objectives and constraints must name metrics that exist."""
    from .spec import ExperimentError

    for where, metric in wanted:
        if metric not in known:
            close = [k for k in known if metric.split(".")[0] == k.split(".")[0]]
            hint = f" (metrics like it: {', '.join(close)})" if close else f" (metrics: {', '.join(known)})"
            raise ExperimentError(f"{where}: unknown metric '{metric}'{hint}")


def constraint_ok(row: dict, constraints: list[dict]) -> bool:
    for c in constraints:
        v = row.get(c["metric"])
        if v is None or v != v:
            return False
        if "max" in c and v > c["max"]:
            return False
        if "min" in c and v < c["min"]:
            return False
    return True
