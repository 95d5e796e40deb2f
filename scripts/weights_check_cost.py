#!/usr/bin/env python
"""What the weights checksum costs a run: the standalone executable of a converted model, one
inference per process, with the check on (the default) and off (O2C_WEIGHTS_CHECK=0).

    .venv/bin/python scripts/weights_check_cost.py [--model lenet|vgg16|FILE.onnx ...] [--runs 15]

Each model is converted (exe artifact only) into a temporary folder; the executable then runs
--runs times per setting, alternating, after one warm-up of each (the weights file is in the page
cache for every timed run). Printed per model: weights size, median wall time per process with
and without the check, the difference, and the CRC throughput that difference implies.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _model(name: str, tmp: Path) -> Path:
    if name == "lenet":
        return ROOT / "models" / "demo" / "lenet5_digits.onnx"
    if name == "vgg16":
        from models.vgg16 import write_vgg16

        return write_vgg16(tmp / "vgg16.onnx")
    return Path(name)


def _time(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed: {r.stderr.strip()}")
    return dt


def measure(name: str, runs: int) -> dict:
    import json

    import numpy as np

    import onnx2cedr

    with tempfile.TemporaryDirectory(prefix="o2c-crc-") as d:
        tmp = Path(d)
        res = onnx2cedr.convert(_model(name, tmp), tmp / "out", artifacts=("exe",))
        desc = json.loads((tmp / "out" / "model.json").read_text())
        x = np.load(tmp / "out" / "app_inputs" / "input_0.npy")
        np.save(tmp / "x.npy", x)
        cmd = [str(res.artifacts["exe"]), str(tmp / "x.npy"), "-o", str(tmp / "o")]
        on_env = {k: v for k, v in os.environ.items() if k != "O2C_WEIGHTS_CHECK"}
        off_env = {**on_env, "O2C_WEIGHTS_CHECK": "0"}
        _time(cmd, on_env), _time(cmd, off_env)
        on, off = [], []
        for _ in range(runs):
            on.append(_time(cmd, on_env))
            off.append(_time(cmd, off_env))
        wbytes = (tmp / "out" / desc["weights_file"]).stat().st_size
    m_on, m_off = statistics.median(on), statistics.median(off)
    diff = m_on - m_off
    return {"model": name, "weights_bytes": wbytes, "on_s": m_on, "off_s": m_off, "diff_s": diff,
            "gb_per_s": wbytes / diff / 1e9 if diff > 0 else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="lenet, vgg16 or an .onnx file (repeatable; default both)")
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    print(f"{'model':10s} {'weights':>10s} {'check on':>10s} {'check off':>10s} {'cost':>10s} {'CRC GB/s':>9s}")
    for name in a.model or ["lenet", "vgg16"]:
        r = measure(name, a.runs)
        gbs = "-" if r["gb_per_s"] is None else f"{r['gb_per_s']:.2f}"
        print(f"{Path(name).stem:10s} {r['weights_bytes'] / 2**20:>8.1f}Mi {1e3 * r['on_s']:>8.1f}ms "
              f"{1e3 * r['off_s']:>8.1f}ms {1e3 * r['diff_s']:>8.1f}ms {gbs:>9s}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
