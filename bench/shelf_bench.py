"""The real-world shelf (models/shelf.py, and the two-rate VAD of models/vad.py bound to 16 kHz) against
onnxruntime: one thread each, in one process, interleaved call by call (bench.py's method), on the
shelf's realistic inputs. Prints each model's median latencies, the ratio ours / onnxruntime, the layer
count, and the geo-mean ratio; asserts nothing. --doc FILE also writes them as docs/shelf.md is.

    .venv/bin/python bench/shelf_bench.py [--models detector,recognizer] [--reps 400] [--seconds 10]
                                           [--work DIR] [--doc docs/shelf.md]
"""
from __future__ import annotations

import argparse
import json
import math
import os
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
    ap.add_argument("--doc", default=None, help="also write the figures as a markdown page (docs/shelf.md)")
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
        ratios, rows = [], []
        print(f"{'model':16s} {'layers':>6s} {'ours ms':>9s} {'ort ms':>9s} {'ratio':>7s}")
        for n in names:
            path, ours_in, ort_in = prepare(n, work)
            layers = len(json.loads((work / n / "model.json").read_text())["layers"])
            ours = Ours(work / n, ours_in)
            theirs = Theirs(ort_session(path, 1), ort_in)
            t = interleaved({"ours": ours, "ort": theirs}, args.reps, args.seconds)
            ratio = t["ours"] / t["ort"]
            ratios.append(ratio)
            rows.append((n, layers, t["ours"], t["ort"], ratio))
            print(f"{n:16s} {layers:6d} {t['ours'] * 1e3:9.3f} {t['ort'] * 1e3:9.3f} {ratio:6.2f}x", flush=True)
        geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
        print(f"geo-mean ratio (ours / onnxruntime, 1 thread): {geo:.2f}x")
    if args.doc:
        write_doc(Path(args.doc), rows, geo)
    return 0


def write_doc(path: Path, rows, geo: float) -> None:
    L = ["# The real-world shelf\n",
         "Generated models in the families of the published ONNX models that shipping products bundle "
         "(`models/shelf.py`; the VAD is `models/vad.py`), so the suite covers their layer patterns without "
         "downloads. `tests/test_shelf.py` converts and validates each against onnxruntime on realistic "
         "inputs; `tests/test_control_flow.py` does the VAD (its `If` on the sample rate bound with "
         "`--const sr=16000`).\n",
         "| model | family | what it exercises |", "|---|---|---|",
         "| detector | depthwise-separable detector, two-scale heads | stride-2 stem, depthwise 3x3 at strides 1 and 2, "
         "SiLU as `x * Sigmoid(x)` (fused into the convolutions), heads flattened and concatenated |",
         "| text_detector | DB-style text detector | FPN (1x1 laterals, nearest Resize, sums, Concat), transposed-conv "
         "heads, differentiable binarization `1 / (1 + exp(-k (P - T)))` |",
         "| recognizer | CRNN text recognizer | conv/BN/ReLU/pool stack to height 1, 2-layer bidirectional LSTM, "
         "linear, LogSoftmax |",
         "| byte_classifier | byte-histogram content classifier | int64 bytes, one-hot by `Equal` + `Cast`, "
         "ReduceSum histogram, MLP, Softmax |",
         "| vad | STFT + LSTM voice-activity detector | `If` on a sample-rate input, a long strided Conv1d front end, "
         "LSTM |\n",
         "## Speed against onnxruntime\n",
         "Figures from `bench/shelf_bench.py --doc docs/shelf.md` (re-run it to refresh this page): each model "
         "converted with `--threads 1` and onnxruntime on 1 intra-op thread (all graph optimizations), called "
         "in turn round by round in one process, medians, batch 1. Ratio = ours / onnxruntime (below 1 is "
         f"faster). Load average when taken: {os.getloadavg()[0]:.1f} (1 min).\n",
         "| model | layers | ours (ms) | onnxruntime (ms) | ratio |", "|---|---:|---:|---:|---:|"]
    for n, layers, ours, theirs, ratio in rows:
        L.append(f"| {n} | {layers} | {ours * 1e3:.3f} | {theirs * 1e3:.3f} | {ratio:.2f} |")
    L.append(f"\nGeometric mean of the ratio: **{geo:.2f}**. Per-layer times: `onnx2cedr profile OUT_DIR`.\n")
    path.write_text("\n".join(L))


if __name__ == "__main__":
    sys.exit(main())
