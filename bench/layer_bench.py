"""Every convolution of a converted model timed alone, against onnxruntime: where a model's time goes
layer by layer, on equal terms (onnxruntime's own profiler adds several microseconds per node, which
swamps small layers).

Each Conv of the model (its attributes, input and weight shapes, and the activation the converter fused
into it, written back as the exporter's nodes: Relu, LeakyRelu, x * Sigmoid(x), ...) becomes a
single-layer model with random weights. Ours (converted with --threads 1) and onnxruntime (1 thread, all
graph optimizations) are called in turn in one process (bench.py's method); medians, batch 1.
Prints a row per layer, slowest gap first, and asserts nothing.

    .venv/bin/python bench/layer_bench.py OUT_DIR [--top 15] [--seconds 2] [--work DIR]

OUT_DIR is a folder made by `onnx2cedr convert` (its model.json names the layers).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from bench import Ours, Theirs, interleaved, ort_session  # noqa: E402
from onnx2cedr.compiler import convert  # noqa: E402

CONV_ATTRS = ("kernel_shape", "strides", "pads", "dilations", "group")


def activation_nodes(act: dict | None, x: str, y: str) -> list:
    """The nodes an exporter writes for a fused activation, from x to y."""
    if not act or act["op"] in ("None", "NONE"):
        return [helper.make_node("Identity", [x], [y])]
    op, attrs = act["op"], act.get("attributes", {})
    if op == "Relu":
        return [helper.make_node("Relu", [x], [y])]
    if op == "LeakyRelu":
        return [helper.make_node("LeakyRelu", [x], [y], alpha=float(attrs.get("alpha", 0.01)))]
    if op == "Swish":
        return [helper.make_node("Sigmoid", [x], [x + "_s"]), helper.make_node("Mul", [x, x + "_s"], [y])]
    if op == "Clip":
        return [helper.make_node("Clip", [x], [y], min=float(attrs.get("min", attrs.get("alpha", 0.0))),
                                 max=float(attrs.get("max", attrs.get("beta", 6.0))))]
    if op in ("Sigmoid", "Tanh", "HardSwish", "Mish", "Elu"):
        return [helper.make_node(op, [x], [y])]
    raise ValueError(f"activation {op} is not written back by this bench")


def layer_model(layer: dict, x_shape, w_shape, has_bias: bool, path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w")]
    ins = ["x", "w"]
    if has_bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(w_shape[0]).astype(np.float32), "b"))
        ins.append("b")
    keep = {k: v for k, v in layer["attributes"].items() if k in CONV_ATTRS and not isinstance(v, str)}
    nodes = [helper.make_node("Conv", ins, ["c"], **keep)] + activation_nodes(layer.get("activation"), "c", "y")
    g = helper.make_graph(nodes, "layer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def describe(layer: dict, x_shape, w_shape) -> str:
    a = layer["attributes"]
    k = "x".join(str(v) for v in a.get("kernel_shape", w_shape[2:]))
    s = max(a.get("strides", [1]))
    g = a.get("group", 1)
    kind = "dw " if g > 1 and g == x_shape[1] else (f"g{g} " if g > 1 else "")
    act = (layer.get("activation") or {}).get("op", "")
    sp = "x".join(str(v) for v in x_shape[2:])
    return f"{kind}{x_shape[1]}->{w_shape[0]} {k} s{s} on {sp}" + (f" +{act}" if act else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="a folder made by onnx2cedr convert")
    ap.add_argument("--top", type=int, default=0, help="only the N layers with the most FLOPs (0: all)")
    ap.add_argument("--seconds", type=float, default=2.0, help="time budget per layer")
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--work", default=None)
    args = ap.parse_args(argv)
    mj = json.loads((Path(args.folder) / "model.json").read_text())
    shapes = {t["name"]: t["shape"] for t in mj["tensors"]}
    consts = {c["name"]: c["shape"] for c in mj["constants"]}
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="o2c-layers-"))
    work.mkdir(parents=True, exist_ok=True)
    convs = [lay for lay in mj["layers"] if lay["op"] == "Conv" and lay["inputs"][0] in shapes
             and lay["inputs"][1] in consts]
    convs.sort(key=lambda lay: -lay["flops"])
    if args.top:
        convs = convs[:args.top]
    rows = []
    for i, lay in enumerate(convs):
        x_shape, w_shape = shapes[lay["inputs"][0]], consts[lay["inputs"][1]]
        path = layer_model(lay, x_shape, w_shape, len(lay["inputs"]) > 2, work / f"l{i}.onnx")
        try:
            convert(path, work / f"l{i}", artifacts=("lib",), force=True, threads=1)
        except Exception as e:  # noqa: BLE001 - a bench row, not a failure of the run
            print(f"{lay['name']}: not converted ({e})", flush=True)
            continue
        x = np.random.default_rng(1).standard_normal(x_shape).astype(np.float32)
        t = interleaved({"ours": Ours(work / f"l{i}", [x]), "ort": Theirs(ort_session(path, 1), [x])},
                        args.reps, args.seconds)
        rows.append((describe(lay, x_shape, w_shape), lay["flops"], t["ours"], t["ort"]))
        print(f"  {rows[-1][0]:42s} ours {t['ours'] * 1e6:9.1f} us  ort {t['ort'] * 1e6:9.1f} us  "
              f"ratio {t['ours'] / t['ort']:.2f}", flush=True)
    rows.sort(key=lambda r: -(r[2] - r[3]))
    print(f"\n{'layer':44s} {'MFLOP':>8s} {'ours us':>9s} {'ORT us':>9s} {'gap us':>8s} {'ratio':>6s} "
          f"{'GFLOP/s':>8s}")
    for d, fl, o, t in rows:
        print(f"{d:44s} {fl / 1e6:8.2f} {o * 1e6:9.1f} {t * 1e6:9.1f} {(o - t) * 1e6:8.1f} {o / t:6.2f} "
              f"{fl / o / 1e9:8.1f}")
    so, st = sum(r[2] for r in rows), sum(r[3] for r in rows)
    if rows:
        print(f"{'sum':44s} {'':8s} {so * 1e6:9.1f} {st * 1e6:9.1f} {(so - st) * 1e6:8.1f} {so / st:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
