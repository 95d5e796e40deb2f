"""The apps of an experiment: where their shared objects come from, and what the simulator
knows of them.

An app entry names a converted folder, a CEDR app `.so`, a bundled app (`pulse_doppler`), an
ONNX file or framework model (converted once into `DIR/models/`), or `zoo:NAME` (a model of the
checkout's `models/` zoo, exported, then converted).

The simulator does not run apps; it replays a **profile**: the app run alone, one instance on
one CPU PE, `cedr-run --task-trace`, a few times. From the trace, an instance is a chain of
**segments**: the tasks the app had enqueued before any of them finished run as one segment
(released together), the app's own work between segments is a gap, and a segment starts when
every task of the previous one has finished. Per task the profile keeps the runtime's predicted
cost on every PE type of the experiment (accelerators included, from their estimators and
latency model, even with no PE of that type in the profile run) and the measured CPU time
(median over the runs); on an accelerator the modeled latency is what the task takes.
"""
from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .spec import ACCEL_TYPES, ExperimentError

PROFILE_VERSION = 3


@dataclass
class App:
    entry: str          # as the experiment file names it
    so: Path            # the shared object cedr-run loads
    name: str           # as the logs print it
    sha256: str         # of the shared object
    source: Path | None = None  # the model file it was converted from, if any


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def app_name_of(so: Path) -> str:
    """The app's name in the runtime's logs (runtime/src/common.cpp: the file name without .so)."""
    name = Path(so).name
    return name[:-3] if name.endswith(".so") else name


def _zoo_onnx(name: str, models_dir: Path) -> Path:
    root = Path(__file__).resolve().parents[2]
    if not (root / "models" / "export.py").is_file():
        raise ExperimentError(f"app 'zoo:{name}': zoo models need a checkout of onnx2cedr (its models/ folder)")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        from models import MODELS
        from models.export import export_model
    except ImportError as e:
        raise ExperimentError(f"app 'zoo:{name}': cannot import the model zoo ({e})") from None
    if name not in MODELS:
        raise ExperimentError(f"app 'zoo:{name}': unknown zoo model (known: {', '.join(sorted(MODELS))})")
    out = models_dir / "zoo" / f"{name}.onnx"  # converted as '<name>-app'
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        export_model(name, str(tmp))
        tmp.replace(out)
    return out


def _convert(model_path: str, models_dir: Path, input_shape: list[str] | None) -> Path:
    """Convert once; the folder is named by the model's digest, so a changed model converts anew."""
    from ..compiler import convert
    from ..frontends import import_model, is_framework_input

    file_part = model_path.split(".py:")[0] + ".py" if ".py:" in model_path else model_path
    src = Path(file_part)
    if not src.exists():
        raise ExperimentError(f"app '{model_path}': no such file")
    h = hashlib.sha256(model_path.encode())
    if src.is_file():
        h.update(_sha256(src).encode())
    h.update(json.dumps(input_shape or []).encode())
    stem = src.stem if src.suffix else src.name
    out = models_dir / f"{stem}-{h.hexdigest()[:10]}"
    found = sorted(out.glob("*-app.so")) if out.is_dir() else []
    if not found:
        model = import_model(model_path, input_shapes=input_shape or ()) if is_framework_input(model_path) \
            else model_path
        models_dir.mkdir(parents=True, exist_ok=True)
        convert(model, out, name=stem, force=True)
        found = sorted(out.glob("*-app.so"))
    return found[0]


def resolve_apps(workload: list[dict], models_dir: Path, rb) -> list[App]:
    from ..run import resolve_app

    apps: list[App] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(workload):
        entry = item["app"]
        source = None
        try:
            if entry.startswith("zoo:"):
                source = _zoo_onnx(entry[4:], models_dir)
                so = _convert(str(source), models_dir, None)
            elif entry.endswith((".onnx", ".keras", ".h5")) or ".py:" in entry or \
                    (Path(entry).is_dir() and (Path(entry) / "saved_model.pb").exists()):
                source = Path(entry.split(".py:")[0] + ".py") if ".py:" in entry else Path(entry)
                so = _convert(entry, models_dir, item.get("input_shape"))
            else:
                so = resolve_app(entry, rb)
        except ExperimentError:
            raise
        except Exception as e:  # noqa: BLE001 - O2CError and friends: one line naming the entry
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ExperimentError(f"workload.{i}.app: {msg}") from None
        name = app_name_of(so)
        if name in seen:
            raise ExperimentError(f"workload.{i}.app: '{name}' is already workload.{seen[name]}; "
                                  "give one entry per app (and more instances)")
        seen[name] = i
        apps.append(App(entry, Path(so), name, _sha256(Path(so)), source))
    return apps


# ---- profiles ----

def profile_config(types: list[str], accelerators: dict) -> dict:
    """One CPU PE; every accelerator type present with no PE, so the runtime predicts it."""
    threads = {"cpu": 1}
    threads.update({t: 0 for t in types if t != "cpu"})
    return {
        "Worker Threads": threads,
        "Scheduler": "EFT",
        "Random Seed": 0,
        "Features": {"Enable Queueing": True, "Fixed Periodic Injection": True, "Exit When Idle": True,
                     "Model Accelerator Latency": True},
        "Accelerators": {t: accelerators[t] for t in types if t in accelerators},
    }


def profile_key(app: App, types: list[str], accelerators: dict, runs: int) -> str:
    doc = {"v": PROFILE_VERSION, "so": app.sha256, "types": types, "runs": runs,
           "acc": {t: accelerators[t] for t in types if t in accelerators}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _trace_run(rb, config: Path, app: App, work: Path, tag: str, instances: int, period_us: float,
               timeout: float) -> dict:
    from ..run import _runtime_error, runtime_command

    log_dir = work / f"run-{tag}"
    trace = work / f"trace-{tag}.json"
    cmd = runtime_command(rb, config, log_dir) + ["--quiet", "--task-trace", str(trace),
                                                  f"{app.so}:{instances}:{period_us:g}"]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ExperimentError(f"profiling app '{app.name}': it did not finish within {timeout:g} s") from None
    if res.returncode != 0 or not trace.exists():
        raise ExperimentError(f"profiling app '{app.name}': {_runtime_error(res.stderr, res.returncode)}")
    return json.loads(trace.read_text())


def split_instances(trace: dict) -> list[dict]:
    """One trace per instance (its tasks, in enqueue order, and its own instance record)."""
    out = []
    for inst in trace["instances"]:
        tasks = [t for t in trace["tasks"] if t["instance"] == inst["instance"]]
        tasks.sort(key=lambda t: (t["enqueue_ns"], t["task_id"]))
        out.append({"tasks": tasks, "instances": [inst], "rounds": trace.get("rounds", {})})
    return out


def segments_of(trace: dict) -> list[list[int]]:
    """Task indices (into the instance's tasks, in enqueue order) grouped into segments: a task
    joins the current segment when it was enqueued before every task of that segment had
    finished; otherwise the app had waited for them all, and it starts the next one."""
    tasks = trace["tasks"]
    groups: list[list[int]] = []
    seg_stop = None
    for i, t in enumerate(tasks):
        if seg_stop is None or t["enqueue_ns"] >= seg_stop:
            groups.append([i])
            seg_stop = t["stop_ns"]
        else:
            groups[-1].append(i)
            seg_stop = max(seg_stop, t["stop_ns"])
    return groups


def _timing(trace: dict, groups: list[list[int]]) -> tuple[list[float], float, list[float]]:
    """(gap per segment, tail, CPU time per task) of one traced run, under a fixed segmentation."""
    tasks = trace["tasks"]
    inst = trace["instances"][0]
    gaps, prev_end = [], inst["arrival_ns"]
    for g in groups:
        gaps.append(max(0.0, float(tasks[g[0]]["enqueue_ns"] - prev_end)))
        prev_end = max(tasks[i]["stop_ns"] for i in g)
    tail = max(0.0, float(inst["end_ns"] - prev_end))
    return gaps, tail, [float(t["stop_ns"] - t["start_ns"]) for t in tasks]


APP_WORK_API = "APP_CPU"   # the app thread's own work between its calls, as the simulator runs it
APP_WORK_MIN_NS = 2000.0   # shorter gaps are call latency, not work: they stay gaps
APP_WORK_SLICE_NS = 1e6    # longer work is cut into 1 ms slices, one after the other, as the OS
                           # time-shares an app thread with the PEs' threads


def _app_work(ns: float) -> list[dict]:
    n = max(1, int(-(-ns // APP_WORK_SLICE_NS)))
    part = ns / n
    return [{"gap_ns": 0.0, "tasks": [{"api": APP_WORK_API, "cost_ns": {"cpu": part}, "actual_ns": {"cpu": part}}]}
            for _ in range(n)]


def build_profile(app: App, traces: list[dict], types: list[str], costs: str, app_work: str = "pe") -> dict:
    """The profile of an app from traces of single instances (see the module's docstring).
    app_work "pe": the app's own work between calls (gaps, and the tail) occupies a CPU PE, as
    tasks only a CPU runs (APP_CPU, in 1 ms slices), since on the SoC the app threads share the
    CPU cores with the PEs; "free": it is a plain delay."""
    first = traces[0]
    for tr in traces:
        if len(tr.get("instances", [])) != 1:
            raise ExperimentError(f"profiling app '{app.name}': expected one instance in the trace")
    groups = segments_of(first)
    same = [tr for tr in traces if len(tr["tasks"]) == len(first["tasks"])]
    timings = [_timing(tr, groups) for tr in same]
    gaps = [statistics.median(t[0][s] for t in timings) for s in range(len(groups))]
    tail = statistics.median(t[1] for t in timings)
    cpu_ns = [statistics.median(t[2][i] for t in timings) for i in range(len(first["tasks"]))]
    segments = []
    for s, g in enumerate(groups):
        tasks = []
        for i in g:
            t = first["tasks"][i]
            pred = {ty: float(v) for ty, v in t["pred_ns"].items() if ty in types}
            if "cpu" not in pred:
                raise ExperimentError(f"profiling app '{app.name}': task {t['api']}_{t['prec']} has no CPU cost")
            actual = dict(pred)
            if costs == "measured":
                actual["cpu"] = cpu_ns[i]
            tasks.append({"api": f"{t['api']}_{t['prec']}", "cost_ns": pred, "actual_ns": actual})
        if app_work == "pe" and gaps[s] >= APP_WORK_MIN_NS:
            segments.extend(_app_work(gaps[s]))
            segments.append({"gap_ns": 0.0, "tasks": tasks})
        else:
            segments.append({"gap_ns": gaps[s], "tasks": tasks})
    if app_work == "pe" and tail >= APP_WORK_MIN_NS:
        segments.extend(_app_work(tail))
        tail = 0.0
    rounds = first.get("rounds", {})
    per_task = rounds.get("total_ns", 0) / rounds["tasks"] if rounds.get("tasks") else 0.0
    inst = [tr["instances"][0] for tr in same]
    return {
        "version": PROFILE_VERSION,
        "app": app.name,
        "sha256": app.sha256,
        "types": types,
        "costs": costs,
        "app_work": app_work,
        "runs": len(traces),
        "tasks": len(first["tasks"]),
        "latency_ns": statistics.median(i["end_ns"] - i["arrival_ns"] for i in inst),
        "round_ns_per_task": per_task,
        "segments": segments,
        "tail_ns": tail,
    }


def profile_cache() -> Path:
    """Profiles are measurements of this machine, kept across experiments (so two simulations of
    one experiment replay the same profile and agree exactly); `--reprofile` measures anew."""
    from ..build import cache_root

    return cache_root() / "profiles"


def profile(app: App, types: list[str], accelerators: dict, runs: int, costs: str, rb, timeout: float = 600,
            refresh: bool = False, cache: Path | None = None, app_work: str = "pe") -> dict:
    """The app's profile for these PE types and accelerator parameters (cached). One cold run
    gives the instance's length L; then runs + 1 instances run in one process, L·2 + 2 ms apart
    (so they never overlap), and the first is dropped: the profile is of warm instances, as in
    a workload."""
    cache = Path(cache) if cache else profile_cache()
    key = profile_key(app, types, accelerators, runs)
    path = cache / f"{app.name}-{key}-{costs}-{app_work}.json"
    if path.exists() and not refresh:
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass  # torn: measure again
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="o2c-profile-") as td:
        work = Path(td)
        config = work / "profile.json"
        config.write_text(json.dumps(profile_config(types, accelerators), indent=1))
        cold = _trace_run(rb, config, app, work, "cold", 1, 0, timeout)
        inst = cold["instances"][0]
        period_us = (2 * (inst["end_ns"] - inst["arrival_ns"]) + 2e6) / 1000.0
        warm = _trace_run(rb, config, app, work, "warm", runs + 1, period_us, timeout)
        traces = split_instances(warm)[1:]
    prof = build_profile(app, traces, types, costs, app_work)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(prof, indent=1))
    tmp.replace(path)
    return prof


def arrivals_ns(instances: int, period_us: float, arrival: str, rng: np.random.Generator) -> list[float]:
    """Arrival times of one app's instances: k·period, or a Poisson process of that mean gap
    (the first instance at 0, as the runtime does)."""
    period = float(period_us) * 1000.0
    if arrival == "periodic" or period == 0:
        return [k * period for k in range(instances)]
    gaps = rng.exponential(period, size=max(0, instances - 1))
    return [0.0] + [float(x) for x in np.cumsum(gaps)]


def accel_types_of(exp_doc: dict) -> list[str]:
    """PE types an experiment may use: cpu, then every accelerator type it ever gives a PE."""
    from .spec import expand

    plat = exp_doc["platform"]
    comps = plat if isinstance(plat, list) else [plat]
    used = [t for t in ACCEL_TYPES if max(max(expand(c[t])) for c in comps) > 0]
    return ["cpu"] + used
