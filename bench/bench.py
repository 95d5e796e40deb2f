"""CPU performance of the generated code against onnxruntime, and the figures of docs/performance.md.

    .venv/bin/python bench/bench.py                 # every model, writes docs/performance.md
    .venv/bin/python bench/bench.py --models vgg,resnet8 --reps 30 --no-doc

For every zoo model (models/: lenet5, vgg, m5, resnet8, tiny_yolo) and the VGG-16-size model
(models/vgg16.py), in one process and interleaved call by call (so machine noise hits both sides
alike): the built library called through ctypes (1 and 2 threads) and onnxruntime (1 and 2 intra-op
threads, all graph optimizations, the CPU provider). It prints median latencies and ratios, the
2-thread speed-up, the activation arena against its liveness lower bound, the largest conv layers
as single-node models (GFLOP/s and % of the FMA peak), and the convert + build time of the VGG-16-size
model, cold (empty build cache: the kernel library is compiled too) and warm (kernel library cached).

FMA peak: one core issues 2 x 8-lane FMA per cycle with AVX2 = 32 FLOP/cycle (64 with AVX-512). The
clock is not read from the OS (a VM reports the TSC rate, not the turbo clock): a small compiled loop
of independent FMAs measures the AVX2 rate, and clock = that rate / 32. The percentages use that
measured peak, so they are 'fraction of what this core's FMA units did in a pure-FMA loop'.
The script prints figures; it asserts nothing.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's BLAS threads would spin beside us
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from onnx2cedr.compiler import convert  # noqa: E402
from onnx2cedr.runner import ModelLibrary  # noqa: E402

ZOO = ["lenet5", "vgg", "m5", "resnet8", "tiny_yolo"]
CONV_HEAVY = {"vgg", "resnet8", "tiny_yolo", "vgg16", "m5"}

PEAK_SRC = r"""
#include <immintrin.h>
#include <chrono>
#include <cstdio>
// 12 independent FMA chains (> 2 units x 4 cycles latency) held in registers (named variables: an
// array would live on the stack and the loop would time its stores), so the loop runs at the FMA
// throughput
#define O2C_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
template <class V, class S, class F, class A> double rate(S set1, F fma, A add, int lanes) {
  volatile float seed = 1.0f;
#define O2C_INIT(i) V a##i = set1(seed + i);
  O2C_CHAINS(O2C_INIT)
  const V b = set1(0.99999f), c = set1(1e-6f);
  const long n = 20000000;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) {
#define O2C_STEP(i) a##i = fma(a##i, b, c);
      O2C_CHAINS(O2C_STEP)
      asm volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
      asm volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double r = n * 12.0 * 2 * lanes / s / 1e9;
    if (r > best) best = r;
  }
  V t = a0;
#define O2C_SUM(i) t = add(t, a##i);
  O2C_CHAINS(O2C_SUM)
  volatile V sink = t; (void)sink;
  return best;
}
int main() {
  double y = rate<__m256>([](float x) { return _mm256_set1_ps(x); },
                          [](__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); },
                          [](__m256 a, __m256 b) { return _mm256_add_ps(a, b); }, 8);
  double z = 0;
#ifdef __AVX512F__
  z = rate<__m512>([](float x) { return _mm512_set1_ps(x); },
                   [](__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); },
                   [](__m512 a, __m512 b) { return _mm512_add_ps(a, b); }, 16);
#endif
  std::printf("%.3f %.3f\n", y, z);
}
"""


def fma_peak(work: Path, runs: int = 3) -> tuple[float, float]:
    """(AVX2 GFLOP/s, AVX-512 GFLOP/s or 0) of one core in a pure-FMA loop: the best of `runs`
    runs (other load on the machine only ever lowers it)."""
    src, exe = work / "fma_peak.cpp", work / "fma_peak"
    best = (0.0, 0.0)
    try:
        if not exe.exists():
            src.write_text(PEAK_SRC)
            subprocess.run(["g++", "-O2", "-march=native", "-std=c++17", str(src), "-o", str(exe)], check=True,
                           capture_output=True)
        for _ in range(runs):
            y, z = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
            best = (max(best[0], float(y)), max(best[1], float(z)))
    except (subprocess.CalledProcessError, OSError, ValueError):
        pass
    return best


def ort_session(path, threads: int, optimize: bool = True):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class Ours:
    """The built library's raw entry point with pre-allocated buffers (no per-call Python work
    beyond the ctypes call itself)."""

    def __init__(self, out_dir: Path, inputs):
        self.lib = ModelLibrary(out_dir)
        self.ins = [np.ascontiguousarray(a) for a in inputs]
        self.outs = [np.empty(s, dt) for _, dt, s in self.lib.outputs]
        self.ip, self.op = self.lib._ptrs(self.ins), self.lib._ptrs(self.outs)

    def __call__(self):
        rc = self.lib._run(self.ip, self.op)
        if rc != 0:
            raise RuntimeError(f"model library failed ({rc})")
        return self.outs


class Theirs:
    def __init__(self, sess, inputs):
        self.sess = sess
        self.binding = sess.io_binding()
        for i, a in zip(sess.get_inputs(), inputs):
            self.binding.bind_cpu_input(i.name, a)
        for o in sess.get_outputs():
            self.binding.bind_output(o.name, "cpu")

    def __call__(self):
        self.sess.run_with_iobinding(self.binding)


def interleaved(fns: dict, reps: int, budget_s: float, block: int = 1) -> dict[str, float]:
    """Median seconds per call of each function, the functions taking turns so that load on the
    machine hits them alike: one call each per round, or with block > 1 `block` back-to-back calls
    each - the steady state of one model run after another (a helper thread that sits idle between
    runs for more than a millisecond goes to sleep, and a run of the other function in between
    would measure its wake-up)."""
    for f in fns.values():  # warm-up
        f()
        f()
    times = {k: [] for k in fns}
    t_start = time.perf_counter()
    for r in range(max(1, reps // block)):
        for k, f in fns.items():
            for _ in range(block):
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
        if r >= 4 and time.perf_counter() - t_start > budget_s:
            break
    return {k: statistics.median(v) for k, v in times.items()}


def export_models(names, work: Path) -> dict[str, Path]:
    from models.export import export_model
    from models.vgg16 import write_vgg16

    paths = {}
    for n in names:
        p = work / f"{n}.onnx"
        if not p.exists():
            if n == "vgg16":
                write_vgg16(p)
            else:
                export_model(n, p)
        paths[n] = p
    return paths


def conv_layers(model_json: dict, top: int):
    """The `top` convolutions with the most FLOPs: (flops, attributes, in shape, weight shape, out shape)."""
    shapes = {t["name"]: t["shape"] for t in model_json["tensors"]}
    consts = {c["name"]: c["shape"] for c in model_json["constants"]}
    rows = []
    for layer in model_json["layers"]:
        if layer["op"] != "Conv":
            continue
        x, w = layer["inputs"][0], layer["inputs"][1]
        if x not in shapes or w not in consts:
            continue
        rows.append((layer["flops"], layer["attributes"], shapes[x], consts[w], shapes[layer["outputs"][0]],
                     layer["activation"]))
    rows.sort(key=lambda r: -r[0])
    return rows[:top]


def conv_node_model(attrs: dict, x_shape, w_shape, path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32)
    keep = {k: v for k, v in attrs.items() if k in ("kernel_shape", "strides", "pads", "dilations", "group")
            and not isinstance(v, str)}
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **keep)
    g = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


# Layer classes timed alone (--classes): single-node Conv models with ReLU folded in by the converter
# where it fuses; (label, x shape, W shape, strides, pads, group)
LAYER_CLASSES = [
    ("depthwise 3x3 s2", [1, 32, 320, 320], [32, 1, 3, 3], [2, 2], [1, 1, 1, 1], 32),
    ("depthwise 3x3 s1", [1, 32, 160, 160], [32, 1, 3, 3], [1, 1], [1, 1, 1, 1], 32),
    ("depthwise 3x3 s2", [1, 96, 80, 80], [96, 1, 3, 3], [2, 2], [1, 1, 1, 1], 96),
    ("depthwise 3x3 s1", [1, 144, 40, 40], [144, 1, 3, 3], [1, 1], [1, 1, 1, 1], 144),
    ("depthwise 3x3 s1", [1, 256, 20, 20], [256, 1, 3, 3], [1, 1], [1, 1, 1, 1], 256),
    ("depthwise 5x5 s1", [1, 144, 40, 40], [144, 1, 5, 5], [1, 1], [2, 2, 2, 2], 144),
    ("depthwise 5x5 s2", [1, 144, 40, 40], [144, 1, 5, 5], [2, 2], [2, 2, 2, 2], 144),
    ("depthwise 3x3 s2, 1-D", [1, 64, 4000], [64, 1, 3], [2], [1, 1], 64),
    ("channel multiplier 2, 3x3 s1", [1, 32, 80, 80], [64, 1, 3, 3], [1, 1], [1, 1, 1, 1], 32),
    ("grouped 2->2 ch, 3x3 s1", [1, 128, 56, 56], [128, 2, 3, 3], [1, 1], [1, 1, 1, 1], 64),
    ("grouped 4->4 ch, 3x3 s1", [1, 128, 56, 56], [128, 4, 3, 3], [1, 1], [1, 1, 1, 1], 32),
    ("grouped 8->8 ch, 3x3 s2", [1, 128, 56, 56], [128, 8, 3, 3], [2, 2], [1, 1, 1, 1], 16),
]


def class_model(x_shape, w_shape, strides, pads, group, path: Path, seed: int = 0) -> Path:
    """Conv (+ bias) + Relu on random weights."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=list(w_shape[2:]), strides=strides,
                              pads=pads, group=group),
             helper.make_node("Relu", ["c"], ["y"])]
    g = helper.make_graph(nodes, "layer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def layer_classes(work: Path, reps: int, seconds: float) -> list[dict]:
    """Each LAYER_CLASSES entry as a single-node model: ours (1 thread) against onnxruntime (1 thread, all
    graph optimizations), interleaved call by call; GFLOP/s counts 2 x multiply-adds of the convolution."""
    rows = []
    rng = np.random.default_rng(0)
    for i, (label, xs, ws, st, pads, grp) in enumerate(LAYER_CLASSES):
        mp = class_model(xs, ws, st, pads, grp, work / f"class{i}.onnx")
        rc = convert(mp, work / f"class{i}", artifacts=("lib",), force=True, threads=1)
        xin = [rng.standard_normal(xs).astype(np.float32)]
        ours = Ours(rc.out_dir, xin)
        sess = ort_session(mp, 1)
        ref = sess.run(None, {"x": xin[0]})[0]
        err = float(np.max(np.abs(ours()[0] - ref) / (1e-3 + np.abs(ref))))
        t = interleaved({"o": ours, "r": Theirs(sess, xin)}, reps, seconds)
        out_sp = int(np.prod(ref.shape[2:]))
        flops = 2.0 * ws[0] * out_sp * int(np.prod(ws[1:]))
        shape = f"{xs[1]}->{ws[0]} ch on {'x'.join(map(str, xs[2:]))}"
        rows.append(dict(label=label, shape=shape, flops=flops, o=t["o"], r=t["r"], err=err))
        print(f"    {label:30s} {shape:24s} {flops / 1e6:7.1f} MFLOP  ours {fmt_us(t['o'])} us "
              f"({flops / t['o'] / 1e9:.1f} GFLOP/s)  ort {fmt_us(t['r'])} us ({flops / t['r'] / 1e9:.1f} GFLOP/s)"
              f"  ratio {t['o'] / t['r']:.2f}  max rel err {err:.1e}", flush=True)
    return rows


CLASSES_HEAD = "## Layer classes"


def classes_section(rows: list[dict]) -> str:
    L = [f"{CLASSES_HEAD}\n",
         "Depthwise, channel-multiplier and grouped convolutions alone (`bench/bench.py --classes` rewrites only "
         "this section): each a single-node model (Conv with bias, then Relu, random weights and input), ours "
         "and onnxruntime on 1 thread, called in turn; GFLOP/s counts 2 x the convolution's multiply-adds. "
         "Depthwise, channel multipliers and groups of up to 3 output channels run by output channel "
         "(kernels/src/cpu/conv_depthwise.cpp); the groups of 4 and 8 channels take the direct path. The "
         "inputs of the large maps do not fit in the caches, so both sides stream them from memory; the "
         "machine is shared, so single rows move by 10-30% from run to run.\n",
         "| layer | channels, input | MFLOP | ours (us) | ORT (us) | ratio | ours GFLOP/s | ORT GFLOP/s |",
         "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        L.append(f"| {r['label']} | {r['shape']} | {r['flops'] / 1e6:,.1f} | {fmt_us(r['o'])} | {fmt_us(r['r'])} | "
                 f"{r['o'] / r['r']:.2f} | {r['flops'] / r['o'] / 1e9:.1f} | {r['flops'] / r['r'] / 1e9:.1f} |")
    if rows:
        geo = float(np.exp(np.mean([np.log(r["o"] / r["r"]) for r in rows])))
        L.append(f"\nGeometric mean of the ratio: **{geo:.2f}**. Load average when taken: "
                 f"{os.getloadavg()[0]:.1f} (1 min).\n")
    return "\n".join(L)


def replace_section(text: str, section: str, head: str = CLASSES_HEAD) -> str:
    """text with its section titled head replaced by section (put before the Notes when absent)."""
    start = text.find(head)
    if start >= 0:
        end = text.find("\n## ", start + len(head))
        return text[:start] + section.rstrip("\n") + "\n" + (text[end:] if end >= 0 else "")
    notes = text.find("## Notes")
    if notes >= 0:
        return text[:notes] + section.rstrip("\n") + "\n\n" + text[notes:]
    return text.rstrip("\n") + "\n\n" + section


def fmt_us(s: float) -> str:
    us = s * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(ZOO + ["vgg16"]))
    ap.add_argument("--reps", type=int, default=200, help="interleaved rounds per model (capped by time)")
    ap.add_argument("--seconds", type=float, default=20.0, help="time budget per model")
    ap.add_argument("--layers", type=int, default=2, help="largest conv layers per model to time alone")
    ap.add_argument("--work", default=None, help="folder for exported models and builds (default: a temp dir)")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "performance.md"))
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--classes", action="store_true",
                    help="only the layer-class table (depthwise / grouped convolutions); updates only its section")
    args = ap.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="o2c-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.classes:
        rows = layer_classes(work, args.reps, args.seconds / 4)
        if not args.no_doc:
            doc = Path(args.doc)
            doc.write_text(replace_section(doc.read_text() if doc.exists() else "# CPU performance\n",
                                           classes_section(rows)))
            print(f"updated the layer-class section of {doc}")
        return 0

    y, z = fma_peak(work)
    clock = y / 32 if y else 0.0
    print(f"FMA peak, one core: AVX2 {y:.1f} GFLOP/s (=> clock {clock:.2f} GHz at 32 FLOP/cycle), "
          f"AVX-512 {z:.1f} GFLOP/s", flush=True)

    paths = export_models(names, work)
    results, layer_rows = [], []
    build_times = {}
    for n in names:
        p = paths[n]
        if n == "vgg16":
            # convert + build, cold (fresh cache: kernel library compiled) and warm (kernel library cached)
            cold_cache = work / "cold-cache"
            old = os.environ.get("O2C_CACHE")
            os.environ["O2C_CACHE"] = str(cold_cache)
            try:
                t0 = time.perf_counter()
                convert(p, work / "vgg16-cold", artifacts=("lib", "exe", "app"), force=True)
                build_times["cold"] = time.perf_counter() - t0
            finally:
                if old is None:
                    del os.environ["O2C_CACHE"]
                else:
                    os.environ["O2C_CACHE"] = old
        t0 = time.perf_counter()
        r1 = convert(p, work / f"{n}-t1", artifacts=("lib", "exe", "app"), force=True, threads=1)
        t_conv = time.perf_counter() - t0
        if n == "vgg16":
            build_times["warm"] = t_conv
            build_times["detail"] = r1.timings
        r2 = convert(p, work / f"{n}-t2", artifacts=("lib",), force=True, threads=2)
        rng = np.random.default_rng(0)
        lib_inputs = ModelLibrary(r1.out_dir).inputs
        ins = [rng.standard_normal(s).astype(dt) for _, dt, s in lib_inputs]
        ours1, ours2 = Ours(r1.out_dir, ins), Ours(r2.out_dir, ins)
        reps = args.reps if n != "vgg16" else max(5, args.reps // 20)
        # our 1 -> 2 thread speed-up in a loop of its own, before any onnxruntime session exists:
        # onnxruntime's pool threads keep spinning on the second core for a while after its runs
        ts_o = interleaved({"o2": ours2, "o1": ours1}, reps, args.seconds / 2, block=10 if n != "vgg16" else 2)
        s1, s2 = ort_session(p, 1), ort_session(p, 2)
        ref = ort_session(p, 1, optimize=False).run(None, {i.name: a for i, a in zip(s1.get_inputs(), ins)})
        o1 = [a.copy() for a in ours1()]
        o2 = [a.copy() for a in ours2()]
        same = all(np.array_equal(a, b) for a, b in zip(o1, o2))
        err = max(float(np.max(np.abs(a - r) / (1e-3 + np.abs(r)))) for a, r in zip(o1, ref))
        # order: 2-thread runs first, so onnxruntime's spinning pool threads have settled before the 1-thread pair
        t = interleaved({"o2": ours2, "r2": Theirs(s2, ins), "o1": ours1, "r1": Theirs(s1, ins)}, reps,
                        args.seconds)
        # onnxruntime's speed-up in a loop of its own as well
        time.sleep(0.05)
        ts_r = interleaved({"r2": Theirs(s2, ins), "r1": Theirs(s1, ins)}, reps, args.seconds / 2,
                           block=10 if n != "vgg16" else 2)
        mem = r1.model_json["memory"]
        row = dict(name=n, o1=t["o1"], o2=t["o2"], r1=t["r1"], r2=t["r2"], same=same, err=err,
                   sp_o=ts_o["o1"] / ts_o["o2"], sp_r=ts_r["r1"] / ts_r["r2"],
                   arena=mem["arena_bytes"], bound=mem["liveness_lower_bound_bytes"], flops=r1.model_json["flops"],
                   packed=mem.get("packed_weights_bytes"), weights=mem["weights_bytes"],
                   convert=t_conv)
        results.append(row)
        print(f"{n:10s} ours {fmt_us(t['o1'])}/{fmt_us(t['o2'])} us (1/2 thr)  ort {fmt_us(t['r1'])}/{fmt_us(t['r2'])} us"
              f"  ratio 1thr {t['o1'] / t['r1']:.2f}  2thr {t['o2'] / t['r2']:.2f}  2-thr speed-up "
              f"{t['o1'] / t['o2']:.2f}  (ort {t['r1'] / t['r2']:.2f}); in own loops {row['sp_o']:.2f} "
              f"(ort {row['sp_r']:.2f})  arena/bound {mem['arena_bytes'] / max(mem['liveness_lower_bound_bytes'], 1):.2f}"
              f"  1==2 thr {same}  max rel err {err:.1e}", flush=True)
        # the largest conv layers alone
        for k, (fl, attrs, xs, ws, os_, act) in enumerate(conv_layers(r1.model_json, args.layers)):
            mp = conv_node_model(attrs, xs, ws, work / f"{n}-conv{k}.onnx")
            rc = convert(mp, work / f"{n}-conv{k}", artifacts=("lib",), force=True)
            xin = [rng.standard_normal(xs).astype(np.float32)]
            lt = interleaved({"o": Ours(rc.out_dir, xin), "r": Theirs(ort_session(mp, 1), xin)},
                             args.reps if n != "vgg16" else 10, args.seconds / 4)
            desc = (f"{ws[1] * attrs.get('group', 1)}->{ws[0]} {'x'.join(map(str, ws[2:]))}"
                    f" s{max(attrs.get('strides', [1]))} on {'x'.join(map(str, xs[2:]))}")
            lrow = dict(model=n, layer=desc, flops=fl, o=lt["o"], r=lt["r"])
            layer_rows.append(lrow)
            gf = fl / lt["o"] / 1e9
            print(f"    conv {desc:28s} {fl / 1e6:8.1f} MFLOP  ours {fmt_us(lt['o'])} us ({gf:.0f} GFLOP/s, "
                  f"{100 * gf / y if y else 0:.0f}% of AVX2 peak)  ort {fmt_us(lt['r'])} us  ratio {lt['o'] / lt['r']:.2f}",
                  flush=True)

    # the peak again at the end (best of both): a busy machine only ever lowers it
    y2, z2 = fma_peak(work)
    y, z = max(y, y2), max(z, z2)
    clock = y / 32 if y else 0.0
    print(f"FMA peak (best of start and end): AVX2 {y:.1f} GFLOP/s (clock {clock:.2f} GHz), AVX-512 {z:.1f} GFLOP/s")
    for r in layer_rows:
        gf = r["flops"] / r["o"] / 1e9
        print(f"    {r['model']:10s} conv {r['layer']:28s} {gf:.0f} GFLOP/s = {100 * gf / y if y else 0:.0f}% of AVX2 peak, "
              f"{100 * gf / z if z else 0:.0f}% of AVX-512 peak")
    zoo = [r for r in results if r["name"] in ZOO]
    geo = float(np.exp(np.mean([np.log(r["o1"] / r["r1"]) for r in zoo]))) if zoo else float("nan")
    print(f"geo-mean ratio vs onnxruntime 1 thread over {', '.join(r['name'] for r in zoo)}: {geo:.2f}")
    if build_times:
        print(f"VGG-16-size convert + build: cold {build_times.get('cold', 0):.1f} s, warm {build_times.get('warm', 0):.1f} s")
    if not args.no_doc:
        write_doc(Path(args.doc), results, layer_rows, geo, y, z, clock, build_times)
        print(f"wrote {args.doc}")
    return 0


LIGHT_HEAD = "## The onnx wheel's full-size models"


def write_doc(path: Path, results, layer_rows, geo, y, z, clock, build_times) -> None:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    L = []
    L.append("# CPU performance\n")
    L.append("Figures from `bench/bench.py` (re-run: `.venv/bin/python bench/bench.py`; it rewrites this file, "
             "`--no-doc` only prints). Each model runs in one process, the built library (ctypes, pre-allocated "
             "buffers) and onnxruntime (CPU provider, all graph optimizations, I/O binding) called in turn round "
             "by round, so load on the machine hits both alike; figures are medians, batch 1.\n")
    L.append(f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
             f"onnxruntime {ort.__version__}. The build uses `-march=native` "
             f"({'AVX-512 tiles on this CPU' if z else 'AVX2/FMA micro-kernels: this CPU has no AVX-512'}). "
             f"Load average when the figures were taken: {os.getloadavg()[0]:.1f} (1 min) - with other work on "
             "the machine the second core is not free, and the 2-thread columns show that, for both sides.\n")
    L.append("## Latency\n")
    L.append("| model | MFLOP | ours 1 thr (us) | ORT 1 thr (us) | ratio | ours 2 thr (us) | ORT 2 thr (us) | ratio | "
             "2-thr speed-up (ours / ORT) | same, own loops (ours / ORT) | 1 vs 2 thr bit-identical | max rel. err vs ORT |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---:|")
    for r in results:
        L.append(f"| {r['name']} | {r['flops'] / 1e6:,.1f} | {fmt_us(r['o1'])} | {fmt_us(r['r1'])} | {r['o1'] / r['r1']:.2f} | "
                 f"{fmt_us(r['o2'])} | {fmt_us(r['r2'])} | {r['o2'] / r['r2']:.2f} | {r['o1'] / r['o2']:.2f} / "
                 f"{r['r1'] / r['r2']:.2f} | {r['sp_o']:.2f} / {r['sp_r']:.2f} | {'yes' if r['same'] else 'NO'} | "
                 f"{r['err']:.1e} |")
    L.append("")
    L.append(f"Geometric mean of the 1-thread ratio over the zoo models: **{geo:.2f}** (ratio = ours / onnxruntime; "
             "below 1 is faster). The error column is max |ours - ORT| / (1e-3 + |ORT|) against unoptimized "
             "onnxruntime (the reference the validation uses). The first speed-up column comes from the four-way "
             "loop, where onnxruntime's pool threads keep spinning on the second core after each of its runs "
             "(its default) while ours run; the second measures each side's 1 and 2 threads on their own (ours before any onnxruntime "
             "session exists), in alternating blocks of 10 back-to-back runs: the steady state of one inference "
             "after another. (Our helper threads sleep after 1 ms without work, so a run of another model in "
             "between - the four-way loop - measures their wake-up as well.)\n")
    L.append("## Memory\n")
    L.append("| model | activation arena | liveness lower bound | arena / bound | weights | packed conv weights |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for r in results:
        pk = "?" if r.get("packed") is None else f"{r['packed']:,} B"
        L.append(f"| {r['name']} | {r['arena']:,} B | {r['bound']:,} B | {r['arena'] / max(r['bound'], 1):.2f} | "
                 f"{r['weights']:,} B | {pk} |")
    L.append("\nThe bound is the largest total size of arena values alive at the same time (`onnx2cedr inspect` "
             "prints both). Packed conv weights: the convolution weights as the CPU kernels read them, packed once "
             "when the model loads and shared read-only by every run in the process (model.json "
             "`memory.packed_weights_bytes`; the size depends on the kernel library's build: AVX-512 or not).\n")
    L.append("## Largest convolutions alone\n")
    L.append(f"FMA peak of one core measured by a loop of independent FMAs: AVX2 {y:.1f} GFLOP/s, i.e. "
             f"{clock:.2f} GHz x 32 FLOP/cycle (2 FMA units x 8 lanes x 2); "
             + (f"AVX-512 {z:.1f} GFLOP/s. " if z else "no AVX-512 on this CPU. ") +
             "Each layer is a single-node model (random weights) converted and timed like the models, 1 thread.\n")
    L.append("| model | conv (in->out ch, kernel, stride, input) | MFLOP | ours (us) | ORT (us) | ratio | "
             "ours GFLOP/s | % of AVX2 peak |" + (" % of AVX-512 peak |" if z else ""))
    L.append("|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if z else ""))
    for r in layer_rows:
        gf = r["flops"] / r["o"] / 1e9
        L.append(f"| {r['model']} | {r['layer']} | {r['flops'] / 1e6:,.1f} | {fmt_us(r['o'])} | {fmt_us(r['r'])} | "
                 f"{r['o'] / r['r']:.2f} | {gf:.0f} | {100 * gf / y if y else 0:.0f}% |"
                 + (f" {100 * gf / z:.0f}% |" if z else ""))
    L.append("")
    if build_times:
        d = build_times.get("detail", {})
        L.append("## Convert + build of the VGG-16-size model\n")
        L.append(f"`models/vgg16.py` (224x224, ~138 M parameters, 553 MB of weights): **{build_times.get('cold', 0):.1f} s** "
                 f"with an empty build cache (the kernel library is compiled as well), **{build_times.get('warm', 0):.1f} s** "
                 "with the kernel library cached (" + ", ".join(f"{k} {v:.1f} s" for k, v in d.items()) + "). "
                 "All three artifacts (library, executable, CEDR app).\n")
    L.append("## Notes\n")
    L.append("- The kernels keep the numerics contract of `kernels/include/o2c_numerics.h`: every conv/GEMM "
             "output is one FMA chain in reduction order, so the CPU and the accelerator kernels give the same "
             "bits, and threads split output channels / positions only (never a reduction): 1 and 2 threads give "
             "identical outputs.")
    L.append("- onnxruntime may reorder a reduction freely (its NCHWc convolutions and GEMMs do); ours may not.")
    L.append("- Threads: `onnx2cedr convert --threads N` (Python: `convert(..., threads=N)`). Convolutions, tiled "
             "pools and element-wise ops split their output into one slice of rows (positions of a 1-D signal) per "
             "thread, cut at the same place in every layer, and each thread pads its slice's input in a buffer of its "
             "own: a thread reads what its own core wrote in the layer before (a cache line written by the other "
             "core costs a cross-core transfer, which the earlier split by channel chunks of one shared buffer "
             "paid on every layer). Convolutions whose weights outweigh their activations (many channels on "
             "a tiny map) split channel panels instead; fully-connected layers split their outputs from 0.2 M "
             "multiply-adds per thread. The helper threads spin for 1 ms after a parallel region (plainly for the "
             "first 200 us: in a VM a pause loop or a yield can hand the core to the host) before they sleep, so they stay awake through a model run: waking a sleeping thread takes tens of "
             "microseconds on this VM.")
    L.append("- A region with one task per thread hands each helper its own task: the caller waits up to 20 us "
             "for a helper to take it before running it itself, and stops waiting for helpers once one missed its "
             "hand-over (a second core busy with other work, such as onnxruntime's spinning pool threads in the "
             "four-way loop, then costs nothing beyond running single-threaded) until a helper is seen taking its "
             "task in time again.")
    L.append("- Small maps: a layer of resnet8 (16-64 channels on 32x32 to 8x8) takes 20-35 us, and with channel "
             "planes of 1-4 KB the two threads' halves sit a few hundred bytes apart: a 2-thread Add+Relu on "
             "32x16x16 is slower than on one thread even with each half written by its own thread (`o2c_bench "
             "small`, kernels/bench/bench.cpp; prefetches across the halves and the VM's scheduling are the "
             "suspects, not settled). "
             "That bounds resnet8's 2-thread speed-up (onnxruntime's is below 1.5 as well); lenet5 (0.8 MFLOP, "
             "23 us) does not gain from a second thread at all.")
    L.append("- Per-layer times: `onnx2cedr profile OUT_DIR` (a converted model; the thread count it was "
             "converted with). Each convolution of a model alone against onnxruntime, with its fused activation: "
             "`bench/layer_bench.py OUT_DIR` (onnxruntime's own profiler adds microseconds per node, and alone "
             "each layer pays its NCHWc reorders, so compare its rows with each other).")
    L.append("- Convolutions on small images with many channels (at most 400 output positions: 4x4 to 16x16 maps) "
             "put output channels on the vector lanes (the lanes path, kernels/src/cpu/conv_lanes.cpp), which needs "
             "the weights packed at load; larger maps use the direct wide-grid path. Without AVX-512 the lanes path "
             "is taken only where it saves many multiply-adds or on maps of at most 64 positions with weights that "
             "stay in L2 (conv_lanes.cpp's lanes_pays has the measurements).")
    L.append("- Concat and Split along a leading axis (channels at batch 1) are views: the producers write into "
             "the Concat's output, and the Split's outputs are read in place (`inspect` shows them as `view`).")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(L) + "\n"
    old = path.read_text() if path.exists() else ""
    # the layer-class table (--classes runs) and the onnx wheel's models (light_bench.py) are carried over
    for head in (CLASSES_HEAD, LIGHT_HEAD):
        start = old.find(head)
        if start >= 0:
            end = old.find("\n## ", start + len(head))
            text = replace_section(text, old[start:end + 1] if end >= 0 else old[start:], head)
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
