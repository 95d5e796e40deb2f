"""One file for a collaborator: `experiment export` and `experiment reproduce`.

The file (YAML) holds the resolved experiment (every default stated), the apps (their hashes, or
the models themselves with --embed), the profiles the simulator replayed, the tool and package
versions, a machine description, the seeds, and the results with their digest. `reproduce`
re-runs it: a sim experiment replays the recorded profiles and must give identical rows; a real
one is measured anew and each metric must lie within a relative tolerance of the recorded one.
"""
from __future__ import annotations

import base64
import gzip
import json
import math
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .results import digest_rows, read_rows, write_atomic
from .spec import ExperimentError, from_doc, parse_text
from .workload import App, _sha256

FORMAT = "onnx2cedr-experiment/1"
PACKAGES = ["onnx2cedr", "onnx", "onnxruntime", "numpy", "pyyaml", "jsonschema", "pyarrow", "optuna", "ray",
            "matplotlib"]
DEFAULT_TOLERANCE = 0.25
# metrics compared for a real reproduction (the rest, e.g. scheduling overhead, is too noisy)
REAL_COMPARED = ("makespan_ms", "latency_p50_ms.", "latency_p95_ms.", "throughput_per_s.")


def _versions() -> dict:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    try:
        out["g++"] = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        pass
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        r = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
        if r.returncode == 0:
            out["onnx2cedr_commit"] = r.stdout.strip()
    return out


def machine() -> dict:
    info = {"platform": platform.platform(), "machine": platform.machine(), "cores": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_kib"] = int(line.split()[1])
                break
    except OSError:
        pass
    return info


def _pack(path: Path) -> str:
    return base64.b64encode(gzip.compress(Path(path).read_bytes(), mtime=0)).decode()


def export(results_dir: Path, path: Path, embed: bool = False) -> dict:
    import yaml

    results_dir = Path(results_dir)
    meta = results_dir / "experiment.json"
    if not meta.is_file():
        raise ExperimentError(f"'{results_dir}' is not a results folder of `experiment run` (no experiment.json)")
    doc = json.loads(meta.read_text())
    rows = sorted(read_rows(results_dir / "points.jsonl").values(), key=lambda r: (r["point"], r["repeat"]))
    if not rows:
        raise ExperimentError(f"'{results_dir}' holds no results yet")
    exp = doc["experiment"]
    profiles_path = results_dir / "profiles.json"
    profiles = json.loads(profiles_path.read_text()) if profiles_path.exists() else {}
    apps = json.loads((results_dir / "apps.json").read_text()) if (results_dir / "apps.json").exists() else []
    models = []
    for a in apps:
        m = {"entry": a["entry"], "name": a["name"], "so_sha256": a["sha256"]}
        src = a.get("source")
        if src and Path(src).is_file():
            m["source_sha256"] = _sha256(Path(src))
            m["source_name"] = Path(src).name
        if embed:
            if src and Path(src).is_file():
                m["embedded"] = {"kind": "model", "file": Path(src).name, "gzip_base64": _pack(Path(src))}
            elif Path(a["so"]).is_file() and not a.get("bundled"):
                m["embedded"] = {"kind": "so", "file": Path(a["so"]).name, "gzip_base64": _pack(Path(a["so"]))}
        models.append(m)
    payload = {
        "format": FORMAT,
        "experiment": exp,
        "digest": doc["digest"],
        "seeds": {"seed": exp["seed"], "repeats": exp["repeats"]},
        "models": models,
        "profiles": profiles,
        "versions": _versions(),
        "machine": machine(),
        "results": {"rows": rows, "digest": digest_rows(rows)},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, yaml.safe_dump(payload, sort_keys=False, width=120))
    return {"rows": len(rows), "digest": payload["results"]["digest"]}


@dataclass
class Verdict:
    engine: str
    rows: int
    ok: bool
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tolerance: Optional[float] = None

    def summary(self) -> str:
        how = "identical" if self.engine == "sim" else f"within {100 * (self.tolerance or 0):g}%"
        head = (f"reproduced: {self.rows} rows, {how}" if self.ok else
                f"NOT reproduced: {len(self.differences)} difference(s) over {self.rows} rows ({self.engine})")
        return "\n".join([head] + [f"note: {n}" for n in self.notes])


def _load_export(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ExperimentError(f"'{path}': cannot read ({e.strerror or e})") from None
    doc = parse_text(text, f"'{path}'")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ExperimentError(f"'{path}': not a file written by `onnx2cedr experiment export` (format {FORMAT})")
    for key in ("experiment", "results", "models"):
        if key not in doc:
            raise ExperimentError(f"'{path}': missing '{key}'")
    return doc


def _unpack_models(doc: dict, out_dir: Path) -> dict:
    """Embedded models written to OUT/embedded/; returns workload index -> new app entry."""
    entries = {}
    for i, m in enumerate(doc["models"]):
        emb = m.get("embedded")
        if not emb:
            continue
        target = out_dir / "embedded" / emb["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        data = gzip.decompress(base64.b64decode(emb["gzip_base64"]))
        target.write_bytes(data)
        entries[i] = str(target)
    return entries


def _close(a, b, tol: float) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= tol * max(abs(b), 1e-12)
    return a == b


def reproduce(path: Path, out_dir: Path, tolerance: Optional[float] = None, progress: bool = True) -> Verdict:
    from .runner import run

    doc = _load_export(path)
    out_dir = Path(out_dir)
    exp_doc = dict(doc["experiment"])
    exp_doc["workload"] = [dict(w) for w in exp_doc["workload"]]
    for i, entry in _unpack_models(doc, out_dir).items():
        exp_doc["workload"][i]["app"] = entry
    exp = from_doc(exp_doc, base_dir=out_dir)
    engine = exp.doc["engine"]
    notes = []
    recorded = doc["results"]["rows"]
    apps = None
    if engine == "sim" and doc.get("profiles"):
        # the recorded profiles are what the simulator replays: no app needs to exist here
        apps = [App(m["entry"], Path(m["entry"]), m["name"], m["so_sha256"]) for m in doc["models"]]
    run(exp, out_dir, progress=progress, restart=True, apps=apps, profiles_from=doc.get("profiles"),
        points_from=[(r["point"], r["repeat"]) for r in recorded])
    now = {(r["point"], r["repeat"]): r for r in read_rows(out_dir / "points.jsonl").values()}
    if apps is None:
        current = json.loads((out_dir / "apps.json").read_text()) if (out_dir / "apps.json").exists() else []
        for m, a in zip(doc["models"], current):
            if m.get("so_sha256") != a.get("sha256"):
                notes.append(f"app '{m['name']}' differs from the exported one (another build or machine)")
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    diffs = []
    for r in recorded:
        key = (r["point"], r["repeat"])
        got = now.get(key)
        if got is None:
            diffs.append(f"point {key[0]} repeat {key[1]}: not run")
            continue
        for col, want in r.items():
            if engine == "sim":
                same = _close(got.get(col), want, 0.0) if isinstance(want, float) else got.get(col) == want
            elif col.startswith(REAL_COMPARED):
                same = _close(got.get(col), want, tol)
            else:
                continue
            if not same:
                diffs.append(f"point {key[0]} repeat {key[1]}: {col} = {got.get(col)!r}, recorded {want!r}")
    rec_m, now_m = doc.get("machine", {}), machine()
    if rec_m.get("cpu") != now_m.get("cpu") or rec_m.get("cores") != now_m.get("cores"):
        notes.append(f"machine differs: recorded {rec_m.get('cpu')} x{rec_m.get('cores')}, "
                     f"here {now_m.get('cpu')} x{now_m.get('cores')}")
    return Verdict(engine, len(recorded), not diffs, diffs, notes, tol if engine == "real" else None)


__all__ = ["export", "reproduce", "Verdict", "machine"]
