"""Binary-model figures of docs/quantization.md: a binarized MLP against its float twin, post-training
binarization, and the XNOR/popcount layer against the float one.

    .venv/bin/python bench/binary_bench.py [--runs 200]

1. models/bnn_mlp.py trains (seeded, one thread) the binarized MLP (sign activations, bipolar hidden
   weights, straight-through estimator) and its float twin on scikit-learn's digits; both exported to
   ONNX (the binarized one as QONNX BipolarQuant nodes), compiled, run on the 449 held-out digits: top-1
   of the generated code, drop against the float twin, weights file, latency (one thread, the models
   interleaved run by run). The float twin binarized after training (`quantize --scheme binary`, the
   first 100 training digits as calibration) is measured alongside, and the float twin goes through
   `accuracy` with the schemes float, int16, int8 and binary.
2. The same table for LeNet-5 on the bundled digits (onnx2cedr.quantize.accuracy: float, int8, binary).
3. One layer M=1 x K -> N as a single-layer model: a bipolar layer (Where(x >= 0) -> MatMul with +-a
   columns: compiled to BGemm, DASH_BGEMM_b1) against the float MatMul of the same shape (DASH_GEMM_RE),
   the layer's own time from the per-layer profile, interleaved.

Everything is measured in the same run; the script prints markdown tables and asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

from onnx2cedr.compiler import convert  # noqa: E402
from onnx2cedr.quantize import accuracy, quantize  # noqa: E402
from onnx2cedr.runner import ModelLibrary  # noqa: E402

LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
DIGITS = ROOT / "models" / "demo" / "digits_test.npz"
SHAPES = [(256, 256), (1024, 1024), (4096, 1024)]


def _interleaved(libs: dict, samples: dict, runs: int, layer: bool = False) -> dict:
    """Median time (us) per library: whole run, or (layer=True) its one weight layer (the largest)."""
    times = {k: [] for k in libs}
    for _ in range(max(1, runs // 10)):
        for k, lib in libs.items():
            totals, per_layer = lib.profile(samples[k], runs=10, warmup=2)
            times[k] += list((per_layer.max(axis=1) if layer else totals) / 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def mlp_table(work: Path, runs: int) -> list[tuple]:
    from models import bnn_mlp

    data = bnn_mlp.load()
    x_train, _, x, y = data
    paths = {}
    for binary in (False, True):
        net = bnn_mlp.train(binary, data=data)
        p = work / f"{'bnn' if binary else 'mlp'}.onnx"
        paths["binarized (trained, QONNX)" if binary else "float twin"] = p
        bnn_mlp.export_onnx(net, p, binary)
    cal = work / "cal64.npz"
    np.savez(cal, x=x_train[:100, None, :])  # training digits: the binary scheme re-estimates BN statistics on them
    paths["float twin, quantize --scheme binary"] = quantize(paths["float twin"], cal, work / "mlp_bin.onnx",
                                                              scheme="binary")
    libs = {}
    for k, p in paths.items():
        res = convert(p, work / f"out_{Path(p).stem}", artifacts=("lib",))
        libs[k] = ModelLibrary(res.out_dir)
    top1 = {k: float(np.mean([np.argmax(lib.run([x[i:i + 1]])[0]) == y[i] for i in range(len(y))]))
            for k, lib in libs.items()}
    lat = _interleaved(libs, {k: [x[:1]] for k in libs}, runs)
    rows = []
    for k, lib in libs.items():
        ops = [ly["op"] for ly in lib.desc["layers"]]
        rows.append((k, top1[k], 100 * (top1["float twin"] - top1[k]), int(lib.desc["memory"]["weights_bytes"]),
                     lat[k], ops.count("BGemm")))
    test = work / "test64.npz"
    np.savez(test, x=x[:, None, :], y=y)
    schemes = accuracy(paths["float twin"], test, "y", ["float", "int16", "int8", "binary"], calib=cal, runs=runs)
    return rows, schemes


def _layer_model(k: int, n: int, bipolar: bool) -> onnx.ModelProto:
    rng = np.random.default_rng(k + n)
    w = rng.standard_normal((k, n)).astype(np.float32)
    inits = {"w": w}
    nodes = []
    src = "x"
    if bipolar:
        inits = {"w": (np.where(w >= 0, 1.0, -1.0) * np.abs(w).mean(axis=0, keepdims=True)).astype(np.float32),
                 "zero": np.float32(0), "s": np.float32(1), "ns": np.float32(-1)}
        nodes = [helper.make_node("GreaterOrEqual", ["x", "zero"], ["ge"]),
                 helper.make_node("Where", ["ge", "s", "ns"], ["sx"])]
        src = "sx"
    nodes.append(helper.make_node("MatMul", [src, "w"], ["y"]))
    g = helper.make_graph(nodes, "layer", [helper.make_tensor_value_info("x", 1, [1, k])],
                          [helper.make_tensor_value_info("y", 1, [1, n])],
                          [numpy_helper.from_array(v, name) for name, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def layer_table(work: Path, runs: int) -> list[tuple]:
    rows = []
    for k, n in SHAPES:
        libs = {}
        for bipolar in (False, True):
            res = convert(_layer_model(k, n, bipolar), work / f"layer_{k}_{n}_{int(bipolar)}", artifacts=("lib",))
            libs[bipolar] = ModelLibrary(res.out_dir)
            ops = [ly["op"] for ly in libs[bipolar].desc["layers"]]
            assert ("BGemm" in ops) == bipolar, ops
        x = np.random.default_rng(1).standard_normal((1, k)).astype(np.float32)
        t = _interleaved(libs, {b: [x] for b in libs}, runs, layer=True)
        rows.append((f"1 x {k} -> {n}", t[False], t[True], t[False] / t[True],
                     k * n * 4, libs[True].desc["memory"]["weights_bytes"]))
    return rows


def _scheme_table(results) -> None:
    print("| scheme | top-1 (generated code) | drop (points) | weights bytes | latency (1 thread) | integer layers |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.scheme} | {100 * r.top1:.2f}% | {r.drop_points:+.2f} | {r.weights_bytes:,} | "
              f"{r.latency_us:.1f} us | {r.integer_layers} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="o2c-binary-bench-") as tmp:
        work = Path(tmp)
        print("### Binarized MLP on the digits (449 held-out images)\n")
        print("| model | top-1 (generated code) | drop (points) | weights bytes | latency (1 thread) | XNOR layers |")
        print("|---|---|---|---|---|---|")
        rows, schemes = mlp_table(work, a.runs)
        for name, top1, drop, wb, lat, nx in rows:
            print(f"| {name} | {100 * top1:.2f}% | {drop:+.2f} | {wb:,} | {lat:.2f} us | {nx} |")
        print("\n### The float twin through `accuracy --schemes float,int16,int8,binary` (calibration: first 100 "
              "training digits)\n")
        _scheme_table(schemes)
        print("\n### LeNet-5 on the digits (float, int8, post-training binary; calibration: first 100 test images)\n")
        z = np.load(DIGITS)
        cal = work / "cal100.npz"
        np.savez(cal, input=z["x"][:100])
        _scheme_table(accuracy(LENET, DIGITS, "y", ["float", "int8", "binary"], calib=cal, runs=a.runs))
        print("\n### One layer: XNOR/popcount (BGemm) against float (the layer's own time, interleaved)\n")
        print("| layer | float MatMul | BGemm | float / BGemm | float weights bytes | "
              "BGemm weights file (bits + scales) |")
        print("|---|---|---|---|---|---|")
        for name, tf, tb, ratio, fb, bb in layer_table(work, a.runs):
            print(f"| {name} | {tf:.2f} us | {tb:.2f} us | {ratio:.1f}x | {fb:,} | {bb:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
