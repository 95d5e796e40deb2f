"""Every listed op: a single-node model through onnxruntime and through the generated code,
across attribute variants, with a tolerance chosen by op class."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.oncheck import check, gemm_tol, rand

H = helper.make_node


# ---------------------------------------------------------------- convolution
CONV_CASES = [
    # (x shape, w shape, attrs, bias)
    ((1, 3, 8, 8), (4, 3, 3, 3), {}, True),
    ((2, 3, 9, 7), (5, 3, 3, 3), {"pads": [1, 1, 1, 1]}, True),
    ((1, 4, 10, 10), (6, 4, 3, 3), {"strides": [2, 2], "pads": [1, 0, 1, 0]}, False),
    ((1, 4, 11, 11), (4, 4, 3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]}, True),
    ((1, 6, 8, 8), (6, 2, 3, 3), {"group": 3, "pads": [1, 1, 1, 1]}, True),
    ((1, 8, 9, 9), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1], "strides": [2, 2]}, True),  # depthwise
    ((1, 8, 6, 6), (16, 8, 1, 1), {}, True),  # pointwise
    ((1, 3, 7, 9), (2, 3, 2, 4), {"auto_pad": "SAME_UPPER"}, True),
    ((1, 3, 7, 9), (2, 3, 2, 4), {"auto_pad": "SAME_LOWER", "strides": [2, 2]}, False),
    ((1, 3, 7, 9), (2, 3, 3, 3), {"auto_pad": "VALID", "strides": [2, 1]}, True),
    ((1, 2, 20), (3, 2, 5), {"pads": [2, 2], "strides": [2]}, True),  # 1-D
    ((2, 4, 33), (4, 1, 3), {"group": 4, "dilations": [3]}, True),  # 1-D depthwise dilated
    ((1, 2, 5, 6, 7), (3, 2, 3, 3, 3), {"pads": [1, 1, 1, 1, 1, 1]}, True),  # 3-D
    ((1, 16, 12, 12), (32, 16, 3, 3), {"pads": [1, 1, 1, 1]}, True),
]


@pytest.mark.parametrize("xs,ws,attrs,bias", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
def test_conv(xs, ws, attrs, bias):
    x, w = rand(*xs, seed=1), rand(*ws, seed=2)
    inits = {"w": w}
    ins = ["x", "w"]
    if bias:
        inits["b"] = rand(ws[0], seed=3)
        ins.append("b")
    k = int(np.prod(ws[1:]))
    check(H("Conv", ins, ["y"], **attrs), {"x": x}, ["y"], inits, tol=gemm_tol(k))


CONVT_CASES = [
    ((1, 3, 5, 5), (3, 2, 3, 3), {}),
    ((1, 3, 5, 5), (3, 4, 3, 3), {"strides": [2, 2]}),
    ((1, 3, 5, 5), (3, 4, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}),
    ((1, 4, 4, 6), (4, 1, 3, 3), {"group": 4, "strides": [2, 2]}),
    ((1, 2, 4, 4), (2, 3, 2, 2), {"dilations": [2, 2]}),
    ((1, 2, 7), (2, 3, 4), {"strides": [3]}),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [9, 10]}),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
]


@pytest.mark.parametrize("xs,ws,attrs", CONVT_CASES, ids=[f"convt{i}" for i in range(len(CONVT_CASES))])
def test_conv_transpose(xs, ws, attrs):
    x, w, b = rand(*xs, seed=1), rand(*ws, seed=2), rand(ws[1] * attrs.get("group", 1), seed=3)
    check(H("ConvTranspose", ["x", "w", "b"], ["y"], **attrs), {"x": x}, ["y"], {"w": w, "b": b},
          tol=gemm_tol(int(np.prod(ws))))


# ---------------------------------------------------------------- matrix products
GEMM_CASES = [
    ((4, 5), (5, 6), None, {}),
    ((5, 4), (5, 6), (6,), {"transA": 1}),
    ((4, 5), (6, 5), (1, 6), {"transB": 1, "alpha": 0.5, "beta": 2.0}),
    ((4, 5), (5, 6), (4, 1), {}),
    ((4, 5), (5, 6), (4, 6), {"alpha": -1.5}),
    ((4, 5), (5, 6), (), {}),
    ((1, 120), (84, 120), (84,), {"transB": 1}),
    ((3, 64), (64, 70), (70,), {}),
]


@pytest.mark.parametrize("a,b,c,attrs", GEMM_CASES, ids=[f"gemm{i}" for i in range(len(GEMM_CASES))])
def test_gemm(a, b, c, attrs):
    inits = {"B": rand(*b, seed=2)}
    ins = ["A", "B"]
    if c is not None:
        inits["C"] = rand(*c, seed=3) if c else np.float32(0.7)
        ins.append("C")
    check(H("Gemm", ins, ["y"], **attrs), {"A": rand(*a, seed=1)}, ["y"], inits, tol=gemm_tol(a[-1]))


MATMUL_CASES = [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((4,), (4, 5)), ((3, 4), (4,)),
                ((2, 1, 3, 4), (1, 5, 4, 6)), ((5, 3, 4), (1, 4, 2)), ((1, 7, 16), (16, 9))]


@pytest.mark.parametrize("a,b", MATMUL_CASES, ids=[f"matmul{i}" for i in range(len(MATMUL_CASES))])
def test_matmul(a, b):
    check(H("MatMul", ["a", "b"], ["y"]), {"a": rand(*a, seed=1), "b": rand(*b, seed=2)}, ["y"], tol=gemm_tol(a[-1]))


# ---------------------------------------------------------------- element-wise
BCAST = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 1)), ((1, 3, 1, 5), (2, 1, 4, 1)),
         ((2, 3, 4), ()), ((5,), (2, 3, 5))]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min"])
@pytest.mark.parametrize("sa,sb", BCAST, ids=[f"b{i}" for i in range(len(BCAST))])
def test_binary(op, sa, sb):
    a = rand(*sa, seed=1)
    b = rand(*sb, seed=2) if sb else np.float32(1.7)
    if op == "Div":
        b = np.where(np.abs(b) < 0.2, np.float32(0.5), b).astype(np.float32)
    check(H(op, ["a", "b"], ["y"]), {"a": a, "b": np.asarray(b, np.float32)}, ["y"])


def test_binary_with_constant_operand():
    check(H("Mul", ["a", "s"], ["y"]), {"a": rand(1, 8, 5, 5)}, ["y"], {"s": rand(8, 1, 1, seed=4)})


def test_pow():
    a = rand(3, 4, low=0.1, high=3.0)
    check(H("Pow", ["a", "b"], ["y"]), {"a": a, "b": rand(4, low=-2, high=2, seed=3)}, ["y"], tol="transcendental")


@pytest.mark.parametrize("op", ["Sum", "Max", "Min"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_variadic(op, n):
    shapes = [(2, 3, 4), (3, 1), (4,)][:n]
    feeds = {f"x{i}": rand(*s, seed=i) for i, s in enumerate(shapes)}
    check(H(op, list(feeds), ["y"]), feeds, ["y"])


@pytest.mark.parametrize("slope_shape", [(1,), (3, 1, 1), (1, 3, 1, 1)])
def test_prelu(slope_shape):
    check(H("PRelu", ["x", "s"], ["y"]), {"x": rand(2, 3, 4, 5)}, ["y"], {"s": rand(*slope_shape, seed=5)})


ACTS = [("Relu", {}), ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.3}), ("Sigmoid", {}), ("Tanh", {}),
        ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSwish", {}), ("Elu", {}),
        ("Elu", {"alpha": 0.5})]


@pytest.mark.parametrize("op,attrs", ACTS, ids=[f"{o}{i}" for i, (o, _) in enumerate(ACTS)])
def test_activation(op, attrs):
    check(H(op, ["x"], ["y"], **attrs), {"x": rand(2, 3, 17, low=-6, high=6)}, ["y"], tol="transcendental")


@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (0.0, 6.0), (None, 0.5), (-0.5, None), (None, None)])
def test_clip(lo, hi):
    inits, ins = {}, ["x"]
    ins.append("lo" if lo is not None else "")
    if lo is not None:
        inits["lo"] = np.float32(lo)
    if hi is not None:
        ins.append("hi")
        inits["hi"] = np.float32(hi)
    check(H("Clip", ins, ["y"]), {"x": rand(4, 9, low=-3, high=8)}, ["y"], inits)


def test_clip_opset6_attributes():
    check(H("Clip", ["x"], ["y"], min=-0.5, max=0.25), {"x": rand(3, 5)}, ["y"], opset=6 + 1)


@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax(op, axis):
    check(H(op, ["x"], ["y"], axis=axis), {"x": rand(3, 4, 5, low=-5, high=5)}, ["y"], tol="reduce")


def test_softmax_opset11_coerces_to_2d():
    check(H("Softmax", ["x"], ["y"], axis=1), {"x": rand(2, 3, 4)}, ["y"], opset=11, tol="reduce")


# ---------------------------------------------------------------- pooling
POOL_CASES = [
    ("MaxPool", (1, 2, 8, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("MaxPool", (1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", (1, 2, 7, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", (1, 2, 9, 9), {"kernel_shape": [2, 2], "dilations": [2, 2]}),
    ("MaxPool", (1, 2, 7, 7), {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ("MaxPool", (1, 3, 20), {"kernel_shape": [4], "strides": [4]}),
    ("MaxPool", (1, 1, 6, 6, 6), {"kernel_shape": [2, 2, 2], "strides": [2, 2, 2]}),
    ("AveragePool", (1, 2, 8, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("AveragePool", (1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("AveragePool", (1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                                   "count_include_pad": 1}),
    ("AveragePool", (1, 2, 7, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("AveragePool", (1, 2, 7, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1, "pads": [1, 1, 1, 1],
                                   "count_include_pad": 1}),
    ("AveragePool", (1, 2, 6, 6), {"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER"}),
    ("AveragePool", (1, 4, 30), {"kernel_shape": [5], "strides": [3], "pads": [2, 2]}),
    ("LpPool", (1, 2, 6, 6), {"kernel_shape": [2, 2], "strides": [2, 2], "p": 2}),
    ("GlobalAveragePool", (2, 3, 5, 7), {}),
    ("GlobalMaxPool", (2, 3, 5, 7), {}),
    ("GlobalAveragePool", (1, 4, 50), {}),
]


@pytest.mark.parametrize("op,xs,attrs", POOL_CASES, ids=[f"{o}{i}" for i, (o, _, _) in enumerate(POOL_CASES)])
def test_pool(op, xs, attrs):
    check(H(op, ["x"], ["y"], **attrs), {"x": rand(*xs)}, ["y"], tol="reduce")


@pytest.mark.parametrize("axes,keepdims", [([1], 1), ([2, 3], 1), ([-1], 0), (None, 1), ([0, 2], 0)])
def test_reduce_mean(axes, keepdims):
    ins, inits = ["x"], {}
    if axes is not None:
        ins.append("axes")
        inits["axes"] = np.array(axes, np.int64)
    check(H("ReduceMean", ins, ["y"], keepdims=keepdims), {"x": rand(2, 3, 4, 5)}, ["y"], inits, tol="reduce")


def test_reduce_mean_opset13_attribute_axes():
    check(H("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=1), {"x": rand(1, 3, 4, 5)}, ["y"], opset=13,
          tol="reduce")


# ---------------------------------------------------------------- normalization
@pytest.mark.parametrize("xs", [(2, 3, 4, 5), (2, 3), (1, 4, 9)])
def test_batchnorm(xs):
    c = xs[1]
    inits = {"s": rand(c, seed=2), "b": rand(c, seed=3), "m": rand(c, seed=4), "v": rand(c, seed=5, low=0.5, high=2)}
    check(H("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3), {"x": rand(*xs)}, ["y"], inits,
          tol="reduce")


@pytest.mark.parametrize("size,attrs", [(3, {}), (5, {"alpha": 2e-4, "beta": 0.6, "bias": 2.0}), (7, {})])
def test_lrn(size, attrs):
    check(H("LRN", ["x"], ["y"], size=size, **attrs), {"x": rand(1, 7, 4, 4)}, ["y"], tol="transcendental")


# ---------------------------------------------------------------- data movement (exact)
def test_flatten_reshape_squeeze_unsqueeze():
    nodes = [H("Flatten", ["x"], ["f"], axis=2), H("Reshape", ["f", "s"], ["r"]),
             H("Unsqueeze", ["r", "ua"], ["u"]), H("Squeeze", ["u", "sa"], ["q"]), H("Relu", ["q"], ["y"])]
    inits = {"s": np.array([3, -1], np.int64), "ua": np.array([0, 3], np.int64), "sa": np.array([0], np.int64)}
    check(nodes, {"x": rand(2, 3, 4, 2)}, ["y"], inits, tol="exact")


@pytest.mark.parametrize("perm", [None, [0, 2, 3, 1], [3, 1, 0, 2], [0, 1, 3, 2]])
def test_transpose(perm):
    attrs = {} if perm is None else {"perm": perm}
    check(H("Transpose", ["x"], ["y"], **attrs), {"x": rand(2, 3, 4, 5)}, ["y"], tol="exact")


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    shapes = {0: [(1, 3, 4), (2, 3, 4)], 1: [(2, 1, 4), (2, 5, 4), (2, 2, 4)], -1: [(2, 3, 1), (2, 3, 6)]}[axis]
    feeds = {f"x{i}": rand(*s, seed=i) for i, s in enumerate(shapes)}
    check(H("Concat", list(feeds), ["y"], axis=axis), feeds, ["y"], tol="exact")


@pytest.mark.parametrize("split,axis", [(None, 1), ([1, 3], 1), ([2, 2, 1], -1)])
def test_split(split, axis):
    x = rand(2, 4, 5)
    n = 2 if split is None else len(split)
    ins, inits = ["x"], {}
    if split is not None:
        ins.append("split")
        inits["split"] = np.array(split, np.int64)
    attrs = {"axis": axis}
    if split is None:
        attrs["num_outputs"] = n
    outs = [f"y{i}" for i in range(n)]
    check(H("Split", ins, outs, **attrs), {"x": x}, outs, inits, tol="exact")


SLICES = [([1], [3], [1], None), ([0, 1], [2, -1], [0, 2], None), ([-1], [-100], [2], [-1]),
          ([0, 4], [100, 0], [1, 3], [2, -2]), ([1], [2**62], [0], None)]


@pytest.mark.parametrize("starts,ends,axes,steps", SLICES, ids=[f"slice{i}" for i in range(len(SLICES))])
def test_slice(starts, ends, axes, steps):
    inits = {"st": np.array(starts, np.int64), "en": np.array(ends, np.int64), "ax": np.array(axes, np.int64)}
    ins = ["x", "st", "en", "ax"]
    if steps is not None:
        inits["sp"] = np.array(steps, np.int64)
        ins.append("sp")
    check(H("Slice", ins, ["y"]), {"x": rand(3, 5, 6, 2)}, ["y"], inits, tol="exact")


PADS = [("constant", [0, 0, 1, 2, 0, 0, 2, 1], 0.0), ("constant", [0, 1, 1, 0, 0, 0, 1, 1], 1.5),
        ("reflect", [0, 0, 2, 1, 0, 0, 1, 2], None), ("edge", [0, 0, 1, 3, 0, 0, 2, 0], None),
        ("constant", [0, 0, -1, 1, 0, 0, 1, -2], 0.0)]


@pytest.mark.parametrize("mode,pads,value", PADS, ids=[f"pad{i}" for i in range(len(PADS))])
def test_pad(mode, pads, value):
    inits = {"p": np.array(pads, np.int64)}
    ins = ["x", "p"]
    if value is not None:
        inits["v"] = np.float32(value)
        ins.append("v")
    check(H("Pad", ins, ["y"], mode=mode), {"x": rand(1, 2, 4, 5)}, ["y"], inits, tol="exact")


RESIZES = [
    ({"mode": "nearest"}, [1, 1, 2, 2], None),
    ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, [1, 1, 2, 3], None),
    ({"mode": "nearest", "nearest_mode": "round_prefer_ceil"}, [1, 1, 0.5, 1.5], None),
    ({"mode": "linear"}, [1, 1, 2, 2], None),
    ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, None, [1, 2, 7, 9]),
    ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, None, [1, 2, 3, 1]),
    ({"mode": "linear", "coordinate_transformation_mode": "asymmetric"}, [1, 1, 0.6, 1.7], None),
    ({"mode": "cubic"}, [1, 1, 2, 2], None),
    ({"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1}, None, [1, 2, 5, 3]),
]


@pytest.mark.parametrize("attrs,scales,sizes", RESIZES, ids=[f"resize{i}" for i in range(len(RESIZES))])
def test_resize(attrs, scales, sizes):
    inits = {"roi": np.zeros(0, np.float32)}
    ins = ["x", "", "", ""]
    if scales is not None:
        inits["sc"] = np.array(scales, np.float32)
        ins[2] = "sc"
    else:
        inits["sz"] = np.array(sizes, np.int64)
        ins[3] = "sz"
    ins = [i for i in ins[:3]] + ([ins[3]] if ins[3] else [])
    check(H("Resize", ins, ["y"], **attrs), {"x": rand(1, 2, 4, 5)}, ["y"], inits, tol="reduce")


def test_upsample_opset9():
    check(H("Upsample", ["x", "sc"], ["y"], mode="nearest"), {"x": rand(1, 2, 3, 4)}, ["y"],
          {"sc": np.array([1, 1, 2, 2], np.float32)}, opset=9, tol="exact")


def test_identity_dropout_constant_chain():
    nodes = [H("Identity", ["x"], ["i"]), H("Dropout", ["i"], ["d"]),
             H("Constant", [], ["c"], value=helper.make_tensor("c", 1, [3], [1.0, 2.0, 3.0])),
             H("Add", ["d", "c"], ["y"])]
    check(nodes, {"x": rand(2, 3)}, ["y"])


def test_shape_gather_constant_of_shape_folded():
    nodes = [H("Shape", ["x"], ["s"]), H("Gather", ["s", "i"], ["g"], axis=0),
             H("Unsqueeze", ["g", "ax"], ["u"]), H("Concat", ["u", "m1"], ["shape"], axis=0),
             H("Reshape", ["x", "shape"], ["r"]), H("Shape", ["r"], ["rs"]),
             H("ConstantOfShape", ["rs"], ["z"], value=helper.make_tensor("v", 1, [1], [0.5])),
             H("Cast", ["z"], ["zc"], to=1), H("Add", ["r", "zc"], ["y"])]
    inits = {"i": np.array(0, np.int64), "ax": np.array([0], np.int64), "m1": np.array([-1], np.int64)}
    check(nodes, {"x": rand(2, 3, 4)}, ["y"], inits)


def test_gather_constant_indices_on_data():
    check(H("Gather", ["x", "i"], ["y"], axis=1), {"x": rand(2, 5, 3)}, ["y"], {"i": np.array([4, 0, -1], np.int64)},
          tol="exact")


def test_expand_and_tile():
    nodes = [H("Expand", ["x", "s"], ["e"]), H("Tile", ["e", "r"], ["y"])]
    check(nodes, {"x": rand(3, 1)}, ["y"], {"s": np.array([2, 3, 4], np.int64), "r": np.array([1, 2, 1], np.int64)},
          tol="exact")


@pytest.mark.parametrize("op", ["Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal", "Floor", "Ceil", "Erf", "Softplus",
                                "Sin", "Cos", "Round", "Sign"])
def test_unary_math(op):
    x = rand(3, 7, low=0.1, high=4.0) if op in ("Log", "Sqrt", "Reciprocal") else rand(3, 7, low=-4, high=4)
    check(H(op, ["x"], ["y"]), {"x": x}, ["y"], tol="transcendental")
