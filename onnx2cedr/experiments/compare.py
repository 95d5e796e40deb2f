"""How far the simulator is from the runtime: a sample of the grid's points run on both.

The sample is `sim.compare` points spread evenly over the grid (first and last included), or the
grid indices it lists; each runs once measured (repeat 0). The table also records the machine's 1-minute load average when
each point finished: other work on the host slows the runtime, never the simulator. DIR/sim_vs_real.csv has, per point, makespan and each app's p95
latency from both engines and sim's relative error, (sim - real) / real.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from .engines import Context
from .results import Store, read_rows, write_atomic
from .space import grid
from .spec import Experiment, ExperimentError


def sample(n_points: int, k: int) -> list[int]:
    if k >= n_points:
        return list(range(n_points))
    if k == 1:
        return [0]
    return sorted({round(i * (n_points - 1) / (k - 1)) for i in range(k)})


def compared_metrics(ctx: Context) -> list[str]:
    return ["makespan_ms"] + [f"latency_p95_ms.{a.name}" for a in ctx.apps]


def sim_vs_real(exp: Experiment, ctx: Context, out_dir: Path, k, progress: bool = True,
                restart: bool = False) -> Path:
    """k: how many points, spread over the grid, or a list of grid indices."""
    from .runner import execute

    points = grid(exp)
    if isinstance(k, list):
        bad = [i for i in k if i >= len(points)]
        if bad:
            raise ExperimentError(f"sim.compare: point {bad[0]} is not in the grid (0..{len(points) - 1})")
        chosen = [points[i] for i in sorted(set(k))]
    else:
        chosen = [points[i] for i in sample(len(points), k)]
    real_store = Store(Path(out_dir) / "real")  # its own experiment.json: rows of this experiment only
    real_store.open(exp, restart)
    todo = [(pt, 0) for pt in chosen if not real_store.done(pt.id, 0)]

    def add(row: dict) -> None:  # the machine's load when the point was measured, as context
        row["load_avg"] = round(os.getloadavg()[0], 2)
        real_store.add(row)

    execute(ctx, todo, "real", add, progress=progress, label="sim vs real (real runs)")
    sim_rows = read_rows(Path(out_dir) / "points.jsonl")
    table = []
    for pt in chosen:
        s, r = sim_rows.get((pt.id, 0)), real_store.rows.get((pt.id, 0))
        if not s or not r:
            continue
        row = {"point": pt.index, "point_id": pt.id, "load_avg": r.get("load_avg")}
        for key in compared_metrics(ctx):
            sv, rv = s.get(key), r.get(key)
            row[f"sim.{key}"] = sv
            row[f"real.{key}"] = rv
            row[f"error.{key}"] = (sv - rv) / rv if (sv is not None and rv) else None
        table.append(row)
    path = Path(out_dir) / "sim_vs_real.csv"
    cols = list(table[0]) if table else ["point", "point_id"]
    tmp = path.with_name(".sim_vs_real.csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(table)
    tmp.replace(path)
    write_atomic(Path(out_dir) / "sim_vs_real.json", json.dumps(table, indent=1) + "\n")
    return path

