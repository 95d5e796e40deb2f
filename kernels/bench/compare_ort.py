"""Time o2c kernels against onnxruntime (1 thread) on single nodes (not pretty).

    python kernels/bench/compare_ort.py [filter]

Builds kernels/src/**/*.cpp with g++ -O3 -march=native into a temporary shared object and calls it
through the ctypes mirrors of tests/kernels. Prints best-of-N milliseconds for both."""
from __future__ import annotations

import ctypes
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kernels"))
import _ctypes_structs as S  # noqa: E402


def build() -> ctypes.CDLL:
    out = Path(tempfile.mkdtemp(prefix="o2c_bench_"))
    srcs = sorted((ROOT / "kernels" / "src").rglob("*.cpp"))

    def cc(src):
        obj = out / (src.name + ".o")
        subprocess.run(["g++", "-std=c++17", "-O3", "-march=native", "-fPIC", "-I", str(ROOT / "kernels" / "include"),
                        "-c", str(src), "-o", str(obj)], check=True)
        return obj

    with ThreadPoolExecutor(2) as ex:
        objs = list(ex.map(cc, srcs))
    so = out / "libo2c_bench.so"
    subprocess.run(["g++", "-shared", "-o", str(so), *map(str, objs), "-lpthread", "-ldl"], check=True)
    return S.setup_signatures(ctypes.CDLL(str(so)))


def best(f, reps=30):
    f()
    t = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t * 1e3


def ort_node(op, inputs, attrs, inits=()):
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape)) for n, a in inputs.items()]
    node = helper.make_node(op, list(inputs) + [n for n, _ in inits], ["y"], **attrs)
    g = helper.make_graph([node], "g", ins, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          initializer=[numpy_helper.from_array(a, n) for n, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)])
    m.ir_version = 9
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, inputs)


def main(flt: str = ""):
    lib = build()
    rng = np.random.default_rng(0)
    rows = []

    def report(name, ours, theirs):
        if flt in name:
            rows.append((name, best(ours), best(theirs)))
            print(f"{name:48s} o2c {rows[-1][1]:8.3f} ms   ort {rows[-1][2]:8.3f} ms   ratio {rows[-1][1] / rows[-1][2]:.2f}")

    # pooling
    x = rng.standard_normal((1, 64, 112, 112)).astype(np.float32)
    for kind, op, k, s, pad in ((S.POOL_MAX, "MaxPool", 3, 2, 1), (S.POOL_MAX, "MaxPool", 2, 2, 0),
                                (S.POOL_AVG, "AveragePool", 3, 2, 1)):
        o = (112 + 2 * pad - k) // s + 1
        out = np.empty((1, 64, o, o), np.float32)
        p = S.PoolParams(kind, 2, 0, 2, 64, S.i64x([112, 112], 3), S.i64x([o, o], 3), S.i64x([k, k], 3),
                         S.i64x([s, s], 3), S.i64x([1, 1], 3), S.i64x([pad, pad], 3), S.i64x([pad, pad], 3))
        report(f"{op} k{k} s{s} 64x112x112", lambda: lib.o2c_pool(S.ptr(x), S.ptr(out), p),
               ort_node(op, {"x": x}, dict(kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4)))
    g = rng.standard_normal((1, 512, 7, 7)).astype(np.float32)
    out = np.empty((1, 512, 1, 1), np.float32)
    p = S.PoolParams(S.POOL_AVG, 2, 0, 2, 512, S.i64x([7, 7], 3), S.i64x([1, 1], 3), S.i64x([7, 7], 3),
                     S.i64x([1, 1], 3), S.i64x([1, 1], 3), S.i64x([0, 0], 3), S.i64x([0, 0], 3))
    report("GlobalAveragePool 512x7x7", lambda: lib.o2c_pool(S.ptr(g), S.ptr(out), p),
           ort_node("GlobalAveragePool", {"x": g}, {}))

    # binary
    a = rng.standard_normal((1, 64, 56, 56)).astype(np.float32)
    b = rng.standard_normal((1, 64, 56, 56)).astype(np.float32)
    c = rng.standard_normal((1, 64, 1, 1)).astype(np.float32)
    out = np.empty_like(a)
    for name, bb, bs in (("Add same shape 64x56x56", b, [64 * 56 * 56, 56 * 56, 56, 1]),
                         ("Mul per-channel 64x56x56", c, [64, 1, 0, 0])):
        p = S.BinaryParams(S.BIN_ADD if "Add" in name else S.BIN_MUL, 4, S.i64x(a.shape),
                           S.i64x([64 * 56 * 56, 56 * 56, 56, 1]), S.i64x([0 if bb.shape[0] == 1 and False else v for v in bs]),
                           S.act())
        report(name, lambda: lib.o2c_binary(S.ptr(a), S.ptr(bb), S.ptr(out), p),
               ort_node("Add" if "Add" in name else "Mul", {"a": a, "b": bb}, {}))

    # unary
    for op, name in ((S.ACT_RELU, "Relu"), (S.ACT_SIGMOID, "Sigmoid"), (S.ACT_TANH, "Tanh"), (S.UNARY_EXP, "Exp")):
        p = S.UnaryParams(a.size, S.act(op))
        report(f"{name} 64x56x56", lambda: lib.o2c_unary(S.ptr(a), S.ptr(out), p), ort_node(name, {"x": a}, {}))

    # softmax
    sm = rng.standard_normal((64, 1000)).astype(np.float32)
    sout = np.empty_like(sm)
    p = S.SoftmaxParams(64, 1000, 1, 0)
    report("Softmax 64x1000", lambda: lib.o2c_softmax(S.ptr(sm), S.ptr(sout), p),
           ort_node("Softmax", {"x": sm}, dict(axis=1)))

    # conv / gemm
    for (C, H, O, k, s, gr) in ((64, 56, 64, 3, 1, 1), (3, 224, 64, 7, 2, 1), (128, 56, 128, 3, 1, 128),
                                (256, 14, 256, 3, 1, 1), (64, 56, 128, 3, 2, 1), (512, 7, 512, 3, 1, 1)):
        pad = k // 2
        xo = rng.standard_normal((1, C, H, H)).astype(np.float32)
        w = rng.standard_normal((O, C // gr, k, k)).astype(np.float32)
        bias = rng.standard_normal(O).astype(np.float32)
        o = (H + 2 * pad - k) // s + 1
        out = np.empty((1, O, o, o), np.float32)
        p = S.ConvParams(2, 1, 1, C, O, gr, S.i64x([H, H], 3), S.i64x([o, o], 3), S.i64x([k, k], 3),
                         S.i64x([s, s], 3), S.i64x([1, 1], 3), S.i64x([pad, pad], 3), S.act())
        report(f"Conv C{C} {H}x{H} O{O} k{k} s{s} g{gr}",
               lambda: lib.o2c_conv(S.ptr(xo), S.ptr(w), S.ptr(bias), S.ptr(out), p),
               ort_node("Conv", {"x": xo}, dict(kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4, group=gr),
                        inits=[("w", w), ("b", bias)]))
    for (C, H, O, k, s, pad) in ((256, 16, 128, 4, 2, 1), (64, 56, 32, 3, 2, 1), (128, 28, 64, 2, 2, 0)):
        xo = rng.standard_normal((1, C, H, H)).astype(np.float32)
        w = rng.standard_normal((C, O, k, k)).astype(np.float32)
        bias = rng.standard_normal(O).astype(np.float32)
        o = (H - 1) * s - 2 * pad + k
        out = np.empty((1, O, o, o), np.float32)
        p = S.ConvParams(2, 1, 1, C, O, 1, S.i64x([H, H], 3), S.i64x([o, o], 3), S.i64x([k, k], 3),
                         S.i64x([s, s], 3), S.i64x([1, 1], 3), S.i64x([pad, pad], 3), S.act())
        report(f"ConvTranspose C{C} {H}x{H} O{O} k{k} s{s}",
               lambda: lib.o2c_conv_transpose(S.ptr(xo), S.ptr(w), S.ptr(bias), S.ptr(out), p),
               ort_node("ConvTranspose", {"x": xo}, dict(kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4),
                        inits=[("w", w), ("b", bias)]))
    for (M, N, K) in ((256, 256, 256), (1, 1000, 4096), (128, 768, 768)):
        A = rng.standard_normal((M, K)).astype(np.float32)
        Bm = rng.standard_normal((K, N)).astype(np.float32)
        C = np.empty((M, N), np.float32)
        p = S.GemmParams(1, M, N, K, 0, 0, 0, 0, 0, 1.0, 1.0, 0, S.act())
        report(f"MatMul {M}x{N}x{K}", lambda: lib.o2c_gemm(S.ptr(A), S.ptr(Bm), None, S.ptr(C), p),
               ort_node("MatMul", {"a": A}, {}, inits=[("b", Bm)]))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
