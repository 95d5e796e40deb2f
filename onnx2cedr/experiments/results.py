"""Where an experiment's results live in its folder, and the tables written from them.

    DIR/experiment.json   the resolved experiment and its digest (results belong to one digest)
    DIR/points.jsonl      one finished row per line, appended and flushed as each point ends:
                          a killed sweep resumes from it (a torn last line is ignored)
    DIR/results.csv       every row, in grid order (point, then repeat); also results.parquet
    DIR/profiles/         the apps' profiles the simulator replayed
    DIR/real/             the sim-against-real sample's measured rows (same layout)
    DIR/runs/             real runs' log folders (CEDR format; `onnx2cedr gantt` draws them)
    DIR/embedded/         a reproduction's models, unpacked from the exported file
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from pathlib import Path

from .spec import Experiment, ExperimentError

ID_COLUMNS = ["point", "repeat", "point_id", "engine", "seed"]


class Store:
    def __init__(self, out_dir: Path):
        self.dir = Path(out_dir)
        self.path = self.dir / "points.jsonl"
        self.rows: dict[tuple[str, int], dict] = {}

    def open(self, exp: Experiment, restart: bool) -> None:
        """Claim the folder for this experiment; keep the rows already there unless restarting."""
        meta = self.dir / "experiment.json"
        if self.dir.exists() and not self.dir.is_dir():
            raise ExperimentError(f"output '{self.dir}' exists and is not a folder")
        if meta.exists() and not restart:
            try:
                old = json.loads(meta.read_text())
            except (OSError, json.JSONDecodeError):
                old = {}
            if old.get("digest") != exp.digest():
                raise ExperimentError(f"output '{self.dir}' holds results of another experiment "
                                      f"('{old.get('experiment', {}).get('name', '?')}', or this one changed); "
                                      "use another -o or --restart")
        elif self.dir.is_dir() and any(p.name != "embedded" for p in self.dir.iterdir()) and not meta.exists():
            raise ExperimentError(f"output '{self.dir}' is not empty and holds no experiment")
        self.dir.mkdir(parents=True, exist_ok=True)
        if restart and self.path.exists():
            self.path.unlink()
        write_atomic(meta, json.dumps({"digest": exp.digest(), "experiment": exp.doc}, indent=1) + "\n")
        self.rows = read_rows(self.path)

    def done(self, point_id: str, repeat: int) -> bool:
        return (point_id, repeat) in self.rows

    def add(self, row: dict) -> None:
        self.rows[(row["point_id"], row["repeat"])] = row
        with open(self.path, "a") as f:
            f.write(json.dumps(row, allow_nan=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def ordered(self) -> list[dict]:
        return sorted(self.rows.values(), key=lambda r: (r["point"], r["repeat"]))


def read_rows(path: Path) -> dict[tuple[str, int], dict]:
    """The rows of a points.jsonl (a line torn by a kill is ignored)."""
    rows = {}
    if Path(path).exists():
        for line in Path(path).read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            rows[(row["point_id"], row["repeat"])] = row
    return rows


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def columns(rows: list[dict], param_keys: list[str]) -> list[str]:
    cols = list(ID_COLUMNS) + list(param_keys)
    seen = set(cols)
    for r in rows:
        for k in r:
            if k not in seen:
                seen.add(k)
                cols.append(k)
    return cols


def _cell(v):
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return repr(v)
    return v


def write_tables(out_dir: Path, rows: list[dict], param_keys: list[str]) -> Path:
    """results.csv and results.parquet (same rows, same columns)."""
    cols = columns(rows, param_keys)
    out_dir = Path(out_dir)
    tmp = out_dir / ".results.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([_cell(r.get(c, "")) for c in cols])
    os.replace(tmp, out_dir / "results.csv")
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows])
    ptmp = out_dir / ".results.parquet.tmp"
    pq.write_table(table, ptmp)
    os.replace(ptmp, out_dir / "results.parquet")
    return out_dir / "results.csv"


def digest_rows(rows: list[dict]) -> str:
    """A digest of the results (identity and metrics, canonical JSON)."""
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps({k: _cell(v) for k, v in r.items()}, sort_keys=True).encode())
    return h.hexdigest()


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
