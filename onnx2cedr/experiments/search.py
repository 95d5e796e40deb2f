"""`experiment run --search`: Optuna instead of the full grid.

The search space is the experiment's swept parameters (each a categorical choice over its
values, so every trial is a grid point and its row lands in the same table). Objectives come
from `objectives:` (`- minimize: latency_p95_ms.vgg`, `- minimize: energy_mj`; a metric averaged
over the repeats); `constraints:` (`- {metric: dsp, max: 2000}`) make a trial infeasible, not
discarded. One objective uses TPE; several use NSGA-II (or `search.sampler`). The sampler is
seeded with the experiment's seed, so a sim search is reproducible. DIR/pareto.csv lists the
Pareto front (the best feasible point for one objective).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Optional

from .engines import Context
from .results import Store
from .space import Point, flatten, parameters
from .spec import Experiment, ExperimentError


def objectives(doc: dict) -> list[tuple[str, str]]:
    """(metric, minimize|maximize) per objective of a resolved experiment."""
    return [(metric, direction) for o in doc.get("objectives", []) for direction, metric in o.items()]


def objectives_of(exp: Experiment) -> list[tuple[str, str]]:
    objs = objectives(exp.doc)
    if not objs:
        raise ExperimentError("objectives: --search needs at least one (e.g. - minimize: makespan_ms)")
    return objs


def _index_of(params: dict, space: dict[str, list]) -> int:
    """The grid index of a point (mixed radix, the first parameter slowest)."""
    idx = 0
    for k, values in space.items():
        idx = idx * len(values) + values.index(params[k])
    return idx


def _mean(rows: list[dict], metric: str) -> float:
    vals = [r.get(metric) for r in rows]
    if any(v is None for v in vals):
        known = sorted(k for k in rows[0] if not k.startswith(("workload.", "platform.", "accelerators.")))
        raise ExperimentError(f"objectives/constraints: unknown metric '{metric}' (metrics: {', '.join(known)})")
    vals = [float(v) for v in vals]
    return sum(vals) / len(vals)


def run_search(exp: Experiment, ctx: Context, store: Store, points: list[Point], executor: str = "local",
               address: Optional[str] = None, trials: Optional[int] = None, progress: bool = True) -> Path:
    import optuna

    from .runner import execute

    objs = objectives_of(exp)
    space = parameters(exp)
    swept = {k: v for k, v in space.items() if len(v) > 1}
    if not swept:
        raise ExperimentError("--search: the experiment sweeps no parameter")
    cons = exp.doc["constraints"]
    repeats = int(exp.doc["repeats"])
    engine = exp.doc["engine"]
    n_trials = int(trials or exp.doc["search"]["trials"])

    seed = int(exp.doc["seed"])
    kind = exp.doc["search"]["sampler"]
    if kind == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    elif kind == "nsga2" or (len(objs) > 1 and kind != "tpe"):
        sampler = optuna.samplers.NSGAIISampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=[d for _, d in objs], sampler=sampler)

    for _ in range(n_trials):
        trial = study.ask()
        choice = {}
        for k, values in space.items():
            if k not in swept:
                choice[k] = values[0]
            elif isinstance(values[0], dict):  # compositions: Optuna chooses among their indices
                choice[k] = values[trial.suggest_categorical(k, list(range(len(values))))]
            else:
                choice[k] = trial.suggest_categorical(k, values)
        params = flatten(choice)
        pt = Point(_index_of(choice, space), params)
        todo = [(pt, r) for r in range(repeats) if not store.done(pt.id, r)]
        execute(ctx, todo, engine, store.add, executor, address, None, False)
        rows = [store.rows[(pt.id, r)] for r in range(repeats)]
        values = [_mean(rows, m) for m, _ in objs]
        for i, c in enumerate(cons):  # a value > 0 makes the trial infeasible (the samplers read it)
            v = _mean(rows, c["metric"])
            if "max" in c:
                trial.set_constraint(f"{i}.max", v - c["max"])
            if "min" in c:
                trial.set_constraint(f"{i}.min", c["min"] - v)
        trial.set_user_attr("point", pt.index)
        if any(math.isnan(v) for v in values):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, values)
    return write_pareto(store.ordered(), objs, cons, Path(store.dir) / "pareto.csv")


def point_means(rows: list[dict], metrics: list[str]) -> list[dict]:
    """Per point: its parameters and the mean of each metric over the repeats."""
    by: dict[int, list[dict]] = {}
    for r in rows:
        by.setdefault(int(r["point"]), []).append(r)
    out = []
    for idx, rs in sorted(by.items()):
        m = {k: v for k, v in rs[0].items() if k not in ("repeat", "seed")}
        for k in metrics:
            m[k] = _mean(rs, k)
        out.append(m)
    return out


def pareto(rows: list[dict], objs: list[tuple[str, str]], constraints: list[dict] = ()) -> list[dict]:
    """The feasible points no other feasible point dominates (per-point means), best first."""
    from .metrics import constraint_ok

    pts = [p for p in point_means(rows, [m for m, _ in objs] + [c["metric"] for c in constraints])
           if constraint_ok(p, list(constraints)) and not any(math.isnan(p[m]) for m, _ in objs)]
    sign = [1.0 if d == "minimize" else -1.0 for _, d in objs]
    keyed = [(tuple(s * p[m] for s, (m, _) in zip(sign, objs)), p) for p in pts]
    front = [p for k, p in keyed
             if not any(all(a <= b for a, b in zip(k2, k)) and k2 != k for k2, _ in keyed)]
    return sorted(front, key=lambda p: tuple(s * p[m] for s, (m, _) in zip(sign, objs)))


def write_pareto(rows: list[dict], objs: list[tuple[str, str]], constraints: list[dict], path: Path) -> Path:
    front = pareto(rows, objs, constraints)
    swept_cols = [k for k in (front[0] if front else {}) if k.startswith(("scheduler", "arrival", "platform.",
                                                                         "accelerators.", "workload."))]
    cols = ["point"] + [m for m, _ in objs] + swept_cols
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(front)
    return path
