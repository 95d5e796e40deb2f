"""The real-world shelf (models/shelf.py, and the two-rate VAD of models/vad.py bound to 16 kHz) against
onnxruntime: one thread each, in one process, interleaved call by call (bench.py's method), on the
shelf's realistic inputs. Prints each model's median latencies, the ratio ours / onnxruntime, the layer
count, and the geo-mean ratio; asserts nothing.

    .venv/bin/python bench/shelf_bench.py [--models detector,recognizer] [--reps 400] [--seconds 10]
                                           [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

from bench import Ours, Theirs, interleaved, ort_session  # noqa: E402
from models.shelf import SHELF, export_shelf  # noqa: E402
from onnx2cedr.compiler import convert  # noqa: E402

VAD_RATE = 16000


def prepare(name: str, work: Path):
    """(onnx path for onnxruntime, inputs for us, feeds for onnxruntime); the model converted into
    work/name."""
    if name == "vad":
        from models.vad import SAMPLES, export_vad

        path = export_vad(work / "vad.onnx")
        x = np.random.default_rng(1).standard_normal((1, 1, SAMPLES)).astype(np.float32)
        convert(path, work / "vad", artifacts=("lib",), force=True, threads=1, consts={"sr": VAD_RATE})
        return path, [x], [x, np.array(VAD_RATE, np.int64)]
    spec = SHELF[name]
    path = export_shelf(name, work / f"{name}.onnx")
    x = spec.example(1)
    convert(path, work / name, artifacts=("lib",), force=True, threads=1)
    return path, [x], [x]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(list(SHELF) + ["vad"]))
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=10.0, help="time budget per model")
    ap.add_argument("--work", default=None, help="folder for exported models and builds (default: a temp dir)")
    args = ap.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in SHELF and n != "vad"]
    if unknown:
        print(f"error: unknown shelf model(s) {', '.join(unknown)} (choose from {', '.join(list(SHELF) + ['vad'])})",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        ratios = []
        print(f"{'model':16s} {'layers':>6s} {'ours ms':>9s} {'ort ms':>9s} {'ratio':>7s}")
        for n in names:
            path, ours_in, ort_in = prepare(n, work)
            layers = len(json.loads((work / n / "model.json").read_text())["layers"])
            ours = Ours(work / n, ours_in)
            theirs = Theirs(ort_session(path, 1), ort_in)
            t = interleaved({"ours": ours, "ort": theirs}, args.reps, args.seconds)
            ratio = t["ours"] / t["ort"]
            ratios.append(ratio)
            print(f"{n:16s} {layers:6d} {t['ours'] * 1e3:9.3f} {t['ort'] * 1e3:9.3f} {ratio:6.2f}x", flush=True)
        print(f"geo-mean ratio (ours / onnxruntime, 1 thread): {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
