"""The onnx wheel's full-size 'light' models (AlexNet, ZFNet, VGG-19, ResNet-50, ...: the backend tests'
real models, whose weights are made by ConstantOfShape) against onnxruntime: one thread each, in one
process, interleaved call by call (bench.py's method), on a random normal input. Prints each model's
convert time, median latencies, the ratio ours / onnxruntime and the geo-mean ratio; asserts nothing.
--doc FILE replaces that file's "## The onnx wheel's full-size models" section with the table.

    .venv/bin/python bench/light_bench.py [--models bvlc_alexnet,zfnet512] [--reps 50] [--seconds 20]
                                           [--work DIR] [--doc docs/performance.md]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import onnx  # noqa: E402

from bench import LIGHT_HEAD as SECTION, Ours, Theirs, interleaved, ort_session, replace_section  # noqa: E402
from onnx2cedr.compiler import convert  # noqa: E402

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def available() -> list[str]:
    return sorted(p.stem[len("light_"):] for p in LIGHT.glob("light_*.onnx"))


def input_shape(path: Path) -> tuple[str, tuple[int, ...]]:
    g = onnx.load(str(path), load_external_data=False).graph
    inits = {i.name for i in g.initializer}
    x = next(i for i in g.input if i.name not in inits)
    return x.name, tuple(d.dim_value for d in x.type.tensor_type.shape.dim)


def count_cos(path: Path) -> int:
    g = onnx.load(str(path), load_external_data=False).graph
    return sum(n.op_type == "ConstantOfShape" for n in g.node)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(available()))
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0, help="time budget per model")
    ap.add_argument("--work", default=None, help="folder for the builds (default: a temp dir)")
    ap.add_argument("--doc", default=None, help="replace the section of this markdown file (docs/performance.md)")
    args = ap.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"error: unknown model(s) {', '.join(unknown)} (choose from {', '.join(available())})",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        print(f"{'model':14s} {'CoS':>4s} {'convert s':>9s} {'ours ms':>9s} {'ort ms':>9s} {'ratio':>7s}")
        for n in names:
            path = LIGHT / f"light_{n}.onnx"
            _, shape = input_shape(path)
            x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            t0 = time.perf_counter()
            convert(path, work / n, artifacts=("lib",), force=True, threads=1)
            tc = time.perf_counter() - t0
            t = interleaved({"ours": Ours(work / n, [x]), "ort": Theirs(ort_session(path, 1), [x])},
                            args.reps, args.seconds)
            ratio = t["ours"] / t["ort"]
            rows.append((n, count_cos(path), tc, t["ours"], t["ort"], ratio))
            print(f"{n:14s} {rows[-1][1]:4d} {tc:9.1f} {t['ours'] * 1e3:9.2f} {t['ort'] * 1e3:9.2f} {ratio:6.2f}x",
                  flush=True)
        geo = math.exp(sum(math.log(r[-1]) for r in rows) / len(rows))
        print(f"geo-mean ratio (ours / onnxruntime, 1 thread): {geo:.2f}x")
    if args.doc:
        doc = Path(args.doc)
        doc.write_text(replace_section(doc.read_text(), section(rows, geo), SECTION))
    return 0


def section(rows, geo: float) -> str:
    L = [SECTION + "\n",
         "The backend tests' real models from the onnx wheel (`onnx/backend/test/data/light`), whose weights "
         "the graph makes with ConstantOfShape (the CoS column counts those nodes); `bench/light_bench.py "
         "--doc docs/performance.md` rewrites this section. Each converted with `--threads 1` (the weight "
         "chains fold at compile time), against onnxruntime on 1 intra-op thread with all graph optimizations, "
         "called in turn in one process on a random normal input; medians, batch 1, ratio = ours / "
         f"onnxruntime. Load average when taken: {os.getloadavg()[0]:.1f} (1 min).\n",
         "| model | CoS nodes | convert (s) | ours (ms) | onnxruntime (ms) | ratio |",
         "|---|---:|---:|---:|---:|---:|"]
    for n, cos, tc, ours, theirs, ratio in rows:
        L.append(f"| {n} | {cos} | {tc:.1f} | {ours * 1e3:.2f} | {theirs * 1e3:.2f} | {ratio:.2f} |")
    L.append(f"\nGeometric mean of the ratio: **{geo:.2f}**.\n")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
