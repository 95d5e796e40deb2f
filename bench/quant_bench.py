"""Quantization figures of docs/quantization.md: int8 against float, and against onnxruntime.

    .venv/bin/python bench/quant_bench.py [--reps 200] [--budget 20]

1. LeNet-5 on the bundled digits (models/demo): quantized to int8 (QDQ, onnxruntime.quantization)
   with the first 100 test images as calibration, per tensor and per channel; top-1 of the generated
   code on all 449 test images against the float model's generated code.
2. Convolution layers as single-node models, float against their int8 QDQ version: the layer's own
   time (the library's per-layer profile: the QConv layer against the Conv layer, without the
   Quantize/Dequantize around it), GFLOP/s and the ratio.
3. The generated int8 model against onnxruntime running the same QDQ model (one thread each, all
   of onnxruntime's graph optimizations, which fuse the QDQ pairs into QLinearConv/QGemm), called in
   one process and interleaved call by call: LeNet-5, a ResNet-style and a MobileNet-style CNN
   (bench/quant_models.py, 56x56 inputs, calibrated on 8 random inputs, per channel) and the layers of 2.
   `--ort-only` measures this part alone.

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
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

import bench as B  # noqa: E402  (bench/bench.py: Ours, Theirs, interleaved, conv_node_model, ort_session)
import quant_models  # noqa: E402  (bench/quant_models.py: the ResNet-style and MobileNet-style CNNs)
from onnx2cedr.compiler import convert  # noqa: E402
from onnx2cedr.quantize import accuracy, quantize  # noqa: E402
from onnx2cedr.runner import ModelLibrary  # noqa: E402

LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
DIGITS = ROOT / "models" / "demo" / "digits_test.npz"
# (name, Conv attributes, input shape, weight shape)
LAYERS = [("LeNet-5 conv2 (6->16, 5x5, 14x14)", {"kernel_shape": [5, 5]}, [1, 6, 14, 14], [16, 6, 5, 5]),
          ("3x3 conv 32->32, 56x56", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, [1, 32, 56, 56], [32, 32, 3, 3]),
          ("3x3 conv 64->64, 28x28", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, [1, 64, 28, 28], [64, 64, 3, 3]),
          ("1x1 conv 128->128, 14x14", {"kernel_shape": [1, 1]}, [1, 128, 14, 14], [128, 128, 1, 1])]


def lenet_accuracy(work: Path, runs: int) -> list[tuple[str, object]]:
    z = np.load(DIGITS)
    cal = work / "cal100.npz"
    np.savez(cal, input=z["x"][:100])
    rows = []
    for pc in (False, True):
        res = accuracy(LENET, DIGITS, "y", ["float", "int8"], calib=cal, per_channel=pc, runs=runs)
        rows.append(("per channel" if pc else "per tensor", res))
    return rows


def layer_models(work: Path) -> list[tuple[int, str, int, Path, Path]]:
    """(k, name, bits, float model, QDQ model) per layer and weight width (8-bit weights; 7-bit:
    onnxruntime's reduce_range)."""
    out = []
    for k, (name, attrs, xs, ws), bits in [(k, ly, b) for k, ly in enumerate(LAYERS) for b in (8, 7)]:
        f = B.conv_node_model(attrs, xs, ws, work / f"layer{k}.onnx")
        cal = work / f"layer{k}_cal.npz"
        np.savez(cal, x=np.random.default_rng(k).standard_normal([8] + xs).astype(np.float32))
        tag = f"{k}" if bits == 8 else f"{k}_7b"
        out.append((k, name, bits, f, quantize(f, cal, work / f"layer{tag}_q.onnx", per_channel=True,
                                               reduce_range=bits == 7)))
    return out


def layer_times(work: Path, rounds: int) -> list[tuple[str, float, float, float]]:
    """Per layer and weight width, float and int8: the layer's own time."""
    out = []
    rng = np.random.default_rng(0)
    for k, name, bits, f, q in layer_models(work):
        xs = LAYERS[k][2]
        tag = f"{k}" if bits == 8 else f"{k}_7b"
        libs = {}
        for kind, path in (("float", f), ("int8", q)):
            convert(path, work / f"layer{tag}_{kind}", artifacts=("lib",), force=True)
            libs[kind] = ModelLibrary(work / f"layer{tag}_{kind}")
        idx = {kind: [ly["op"] for ly in lib.desc["layers"]].index("Conv" if kind == "float" else "QConv")
               for kind, lib in libs.items()}
        x = rng.standard_normal(xs).astype(np.float32)
        t: dict[str, list[float]] = {"float": [], "int8": []}
        for _ in range(rounds):  # interleaved: 10 runs of each per round
            for kind, lib in libs.items():
                _, per = lib.profile([x], runs=10, warmup=1)
                t[kind] += list(per[:, idx[kind]])
        flops = libs["float"].desc["layers"][idx["float"]]["flops"]
        tf, ti = statistics.median(t["float"]), statistics.median(t["int8"])
        out.append((name, bits, flops / tf, flops / ti, tf / ti))
    return out


def against_ort(work: Path, reps: int, budget: float) -> list[tuple[str, float, float]]:
    z = np.load(DIGITS)
    cal = work / "cal100.npz"
    models = {"LeNet-5 int8": quantize(LENET, cal, work / "lenet_int8.onnx"),
              "LeNet-5 int8, per channel": quantize(LENET, cal, work / "lenet_int8_pc.onnx", per_channel=True)}
    ncal = work / "cnn_cal.npz"
    np.savez(ncal, x=np.random.default_rng(0).standard_normal((8, 1, 3, 56, 56)).astype(np.float32))
    for label, make in (("ResNet-style CNN", quant_models.resnet_style),
                        ("MobileNet-style CNN", quant_models.mobilenet_style)):
        f = make(work / f"{make.__name__}.onnx")
        models[f"{label} int8"] = quantize(f, ncal, work / f"{make.__name__}_q.onnx", per_channel=True)
    for k, (name, *_rest) in enumerate(LAYERS[1:], start=1):  # the layers' QDQ models of layer_times
        models[f"{name} int8"] = work / f"layer{k}_q.onnx"
        models[f"{name} int8, 7-bit weights"] = work / f"layer{k}_7b_q.onnx"
    out = []
    for name, path in models.items():
        convert(path, work / f"ort_{path.stem}", artifacts=("lib",), force=True)
        lib = ModelLibrary(work / f"ort_{path.stem}")
        shape = lib.inputs[0][2]
        x = z["x"][:1] if "LeNet" in name else np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        ours = B.Ours(work / f"ort_{path.stem}", [x])
        theirs = B.Theirs(B.ort_session(path, 1), [x])
        med = B.interleaved({"ours": ours, "ort": theirs}, reps, budget)
        out.append((name, med["ours"], med["ort"]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=400, help="calls per side against onnxruntime")
    ap.add_argument("--budget", type=float, default=20.0, help="seconds per model against onnxruntime, at most")
    ap.add_argument("--rounds", type=int, default=20, help="rounds of 10 profiled runs per layer and kind")
    ap.add_argument("--ort-only", action="store_true", help="only the comparison with onnxruntime (3.)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="o2c-qbench-") as tmp:
        work = Path(tmp)
        np.savez(work / "cal100.npz", input=np.load(DIGITS)["x"][:100])
        if args.ort_only:
            acc, layers = [], []
            layer_models(work)
        else:
            acc = lenet_accuracy(work, runs=50)
            layers = layer_times(work, args.rounds)
        ort_rows = against_ort(work, args.reps, args.budget)
    if not args.ort_only:
        print("### LeNet-5 on the digits (449 test images; int8 calibrated on the first 100)\n")
        print("| weights | scheme | top-1 (generated code) | drop (points) | weights bytes | latency (1 thread) |")
        print("|---|---|---|---|---|---|")
        for label, res in acc:
            for r in res:
                print(f"| {label} | {r.scheme} | {100 * r.top1:.2f}% | {r.drop_points:+.2f} | {r.weights_bytes:,} | "
                      f"{r.latency_us:.1f} us |")
        print("\n### Convolution layers: int8 (QConv) against float (Conv), the layer alone\n")
        print("| layer | weights | float GFLOP/s | int8 GFLOP/s (equivalent) | int8 / float |")
        print("|---|---|---|---|---|")
        for name, bits, gf, gi, ratio in layers:
            print(f"| {name} | {bits}-bit | {gf:.1f} | {gi:.1f} | {ratio:.2f}x |")
    print("\n### Generated int8 code against onnxruntime on the same QDQ model (one thread, interleaved)\n")
    print("| model | generated code | onnxruntime | time ratio (ours / onnxruntime) |")
    print("|---|---|---|---|")
    for name, o, t in ort_rows:
        print(f"| {name} | {B.fmt_us(o)} us | {B.fmt_us(t)} us | {o / t:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
