"""`onnx2cedr experiment run`: the design space, point by point, into DIR/results.csv.

Simulated points run in parallel (one simulator process per core, or one Ray task each);
measured points run one at a time, so no two measured runs ever share a core, and never beside
simulated ones. Every finished row is appended to DIR/points.jsonl at once: a killed sweep, run
again with the same -o, continues where it stopped.
"""
from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable, Optional

from ..errors import O2CError
from . import resources
from .engines import Context, needs_profiles, run_point
from .results import Store, write_atomic, write_tables
from .space import Point, columns, grid
from .spec import Experiment, ExperimentError
from .workload import App, accel_types_of, profile, resolve_apps

EXECUTORS = ("local", "ray")


def prepare(exp: Experiment, out_dir: Path, rb=None, points: Optional[list[Point]] = None,
            profiles_from: Optional[dict] = None, need_profiles: Optional[bool] = None,
            apps: Optional[list[App]] = None, reprofile: bool = False) -> Context:
    """Resolve the apps and profile them (sim) into a Context. profiles_from: {key: [profile...]}
    recorded by an export, replayed instead of measured anew; apps: given instead of resolved
    (a sim reproduction, whose profiles stand for the apps)."""
    from ..runtime_build import RuntimeBuild

    rb = rb or RuntimeBuild().ensure()
    if not rb.sched_sim.exists() or not rb.cedr_run.exists():
        raise O2CError("the runtime and simulator were not built (runtime/ is incomplete)")
    if apps is None:
        apps = resolve_apps(exp.doc["workload"], Path(out_dir) / "models", rb)
        bundled = set(rb.app_names())
        write_atomic(Path(out_dir) / "apps.json", json.dumps(
            [{"entry": a.entry, "name": a.name, "so": str(a.so), "sha256": a.sha256,
              "source": str(a.source) if a.source else None, "bundled": a.entry in bundled} for a in apps],
            indent=1) + "\n")
    ctx = Context(doc=exp.doc, apps=apps, types=accel_types_of(exp.doc),
                  area=resources.per_instance(exp.doc.get("resources")), sched_sim=str(rb.sched_sim),
                  cedr_run=str(rb.cedr_run), libs=[str(p) for p in rb.default_libs],
                  runs_dir=str(Path(out_dir) / "runs"))
    points = points if points is not None else grid(exp)
    _check_metric_names(exp, ctx, points)
    if need_profiles is None:  # sim replays them; real runs use their latencies alone (slowdown)
        need_profiles = True
    if need_profiles:
        sim = exp.doc["sim"]
        for key, acc in needs_profiles(ctx, points).items():
            if profiles_from and key in profiles_from:
                ctx.profiles[key] = profiles_from[key]
                continue
            ctx.profiles[key] = [profile(app, ctx.types, acc, int(sim["profile_runs"]), sim["costs"], rb,
                                         timeout=float(exp.doc["real"]["timeout_s"]), refresh=reprofile,
                                         app_work=sim["app_work"])
                                 for app in apps]
    return ctx


def _check_metric_names(exp: Experiment, ctx: Context, points: list[Point]) -> None:
    """Objectives and constraints name metrics this workload gives, before anything runs."""
    from .metrics import check_names, names
    from .space import platform_of

    most: dict[str, int] = {}
    for pt in points:
        for t, n in platform_of(pt.params).items():
            most[t] = max(most.get(t, 0), n)
    pes = [f"{t}{k}" for t, n in most.items() for k in range(1, n + 1)]
    wanted = [(f"objectives.{i}", m) for i, o in enumerate(exp.doc["objectives"]) for m in o.values()]
    wanted += [(f"constraints.{i}.metric", c["metric"]) for i, c in enumerate(exp.doc["constraints"])]
    check_names(wanted, names(exp.doc["workload"], ctx.apps, pes))


def _progress(total: int, label: str, enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from rich.console import Console

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=False)


def execute(ctx: Context, tasks: list[tuple[Point, int]], engine: str, on_row: Callable[[dict], None],
            executor: str = "local", address: Optional[str] = None, jobs: Optional[int] = None,
            progress: bool = True, label: str = "points") -> None:
    """Run (point, repeat) pairs with the engine; on_row gets each row as it finishes (in the
    calling thread)."""
    if not tasks:
        return
    with _progress(len(tasks), label, progress) as bar:
        job = bar.add_task(label, total=len(tasks))

        def done(row):
            on_row(row)
            bar.advance(job)

        if executor == "ray":
            _ray_execute(ctx, tasks, engine, done, address)
        elif engine == "real":
            for pt, rep in tasks:
                done(run_point(ctx, pt, rep, engine))
        else:
            workers = max(1, jobs or os.cpu_count() or 1)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futs = [pool.submit(run_point, ctx, pt, rep, engine) for pt, rep in tasks]
                try:
                    for f in as_completed(futs):
                        done(f.result())
                except BaseException:
                    for f in futs:
                        f.cancel()
                    raise


MEASURE_RESOURCE = "o2c_measure"


def _ray_point(ctx, point, repeat, engine):
    return run_point(ctx, point, repeat, engine)


def _ray_execute(ctx: Context, tasks, engine: str, done, address: Optional[str]) -> None:
    """One Ray task per point. Measured points ask for the `o2c_measure` resource, which a node
    offers once (`ray start --resources '{"o2c_measure": 1}'`; the local cluster started here does),
    so measured runs never share a machine's cores."""
    try:
        import ray
    except ImportError:
        raise O2CError("--executor ray needs Ray: pip install 'onnx2cedr[experiments]'") from None
    pkg_root = str(Path(__file__).resolve().parents[2])
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join([pkg_root] + [p for p in [os.environ.get("PYTHONPATH")] if p])}}
    started = False
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level="ERROR")
            else:
                ray.init(num_cpus=os.cpu_count() or 1, resources={MEASURE_RESOURCE: 1}, runtime_env=env,
                         include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except Exception as e:  # noqa: BLE001 - connection refused, bad address: one line
            raise O2CError(f"cannot start or reach Ray{' at ' + address if address else ''}: "
                           f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        started = True
    try:
        if engine == "real" and ray.cluster_resources().get(MEASURE_RESOURCE, 0) < 1:
            raise O2CError(f"the Ray cluster offers no '{MEASURE_RESOURCE}' resource: start measuring nodes with "
                           f"ray start --resources '{{\"{MEASURE_RESOURCE}\": 1}}'")
        remote = ray.remote(_ray_point)
        opts = {"resources": {MEASURE_RESOURCE: 1}, "num_cpus": 1} if engine == "real" else {"num_cpus": 1}
        pending = [remote.options(**opts).remote(ctx, pt, rep, engine) for pt, rep in tasks]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    done(ray.get(ref))
                except ray.exceptions.RayTaskError as e:
                    cause = e.as_instanceof_cause()
                    if isinstance(cause, O2CError):
                        raise O2CError(str(cause).splitlines()[0]) from None
                    raise
    finally:
        if started:
            ray.shutdown()


def run(exp: Experiment, out_dir: Path, executor: str = "local", address: Optional[str] = None,
        jobs: Optional[int] = None, restart: bool = False, progress: bool = True, search: bool = False,
        trials: Optional[int] = None, rb=None, apps: Optional[list[App]] = None, reprofile: bool = False,
        profiles_from: Optional[dict] = None, points_from: Optional[list[tuple[int, int]]] = None) -> Path:
    """Run the experiment into out_dir; returns results.csv. Already finished rows are kept.
    points_from: (grid index, repeat) pairs to run instead of the whole grid (a reproduction of
    a searched experiment runs the points its search visited)."""
    if executor not in EXECUTORS:
        raise ExperimentError(f"unknown executor '{executor}' (choose from {', '.join(EXECUTORS)})")
    out_dir = Path(out_dir)
    store = Store(out_dir)
    store.open(exp, restart)
    engine = exp.doc["engine"]
    points = grid(exp)
    chosen = points
    if points_from is not None:
        chosen = [points[i] for i in sorted({i for i, _ in points_from}) if 0 <= i < len(points)]
    ctx = prepare(exp, out_dir, rb=rb, points=chosen, apps=apps, profiles_from=profiles_from, reprofile=reprofile)
    _save_profiles(out_dir, ctx)
    if search:
        from .search import run_search

        run_search(exp, ctx, store, points, executor=executor, address=address, trials=trials, progress=progress)
    else:
        pairs = [(points[i], r) for i, r in points_from] if points_from is not None else \
            [(pt, r) for pt in points for r in range(int(exp.doc["repeats"]))]
        todo = [(pt, r) for pt, r in pairs if not store.done(pt.id, r)]
        execute(ctx, todo, engine, store.add, executor, address, jobs, progress, label=f"{exp.name} ({engine})")
    path = write_tables(out_dir, store.ordered(), columns(exp))
    compare = exp.doc["sim"]["compare"]
    if engine == "sim" and compare:
        from .compare import sim_vs_real

        sim_vs_real(exp, ctx, out_dir, compare, progress=progress, restart=restart)
    return path


def _save_profiles(out_dir: Path, ctx: Context) -> None:
    if ctx.profiles:
        write_atomic(Path(out_dir) / "profiles.json", json.dumps(ctx.profiles, indent=1) + "\n")


def parse_progress_flag(value: Optional[bool]) -> bool:
    return sys.stderr.isatty() if value is None else value


__all__: Iterable[str] = ["run", "prepare", "execute", "EXECUTORS"]
