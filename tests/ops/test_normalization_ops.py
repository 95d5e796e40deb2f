"""LayerNormalization, RMSNormalization (checked against numpy: onnxruntime lacks it at opset 21),
InstanceNormalization, GroupNormalization (opsets 18 and 21), MeanVarianceNormalization and
LpNormalization: single-node models through onnxruntime and through the generated code."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import onnx2cedr
from onnx2cedr.errors import O2CError
from tests.oncheck import assert_close, check, make_model, rand, run_ours

H = helper.make_node

LN_CASES = [
    # (x shape, axis, scale shape (None: normalized shape), bias, extra outputs)
    ((2, 3, 8), -1, None, True, 0),
    ((2, 3, 8), 1, None, True, 2),
    ((4, 5), 0, None, False, 0),
    ((2, 3, 4, 5), 2, None, True, 1),
    ((2, 3, 4, 5), -3, (1, 4, 5), True, 0),  # scale broadcasts over the first normalized axis
    ((3, 17), -1, None, True, 2),
]


@pytest.mark.parametrize("xs,axis,ss,bias,extra", LN_CASES, ids=[f"ln{i}" for i in range(len(LN_CASES))])
def test_layer_normalization(xs, axis, ss, bias, extra):
    ax = axis % len(xs)
    inits = {"s": rand(*(ss or xs[ax:]), seed=2)}
    ins = ["x", "s"]
    if bias:
        inits["b"] = rand(*xs[ax:], seed=3)
        ins.append("b")
    outs = ["y", "mean", "inv"][:1 + extra]
    check(H("LayerNormalization", ins, outs, axis=axis, epsilon=1e-3), {"x": rand(*xs, seed=1)}, outs, inits,
          tol="reduce")


def test_layer_normalization_runtime_scale():
    check(H("LayerNormalization", ["x", "s", "b"], ["y"]), {"x": rand(3, 10), "s": rand(10, seed=2),
                                                             "b": rand(10, seed=3)}, ["y"], tol="reduce")


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_rms_normalization(axis, monkeypatch):
    # RMSNormalization is opset 23 (beyond the internal opset 21, and onnxruntime's opset-21 path):
    # load a LayerNormalization model, turn the node into RMSNormalization, compare with numpy
    import onnx2cedr.compiler as compiler

    real_load = compiler.load_model

    def load_as_rms(*a, **k):
        graph, proto = real_load(*a, **k)
        for n in graph.nodes:
            if n.op == "LayerNormalization":
                n.op, n.inputs = "RMSNormalization", n.inputs[:2]
        return graph, proto

    monkeypatch.setattr(compiler, "load_model", load_as_rms)
    x = rand(2, 3, 6, seed=1)
    ax = axis % 3
    s = rand(*x.shape[ax:], seed=2)
    model = make_model([H("LayerNormalization", ["x", "s"], ["y"], axis=axis)], {"x": x}, ["y"], {"s": s})
    x64 = x.astype(np.float64)
    ref = x64 / np.sqrt(np.mean(x64 ** 2, axis=tuple(range(ax, 3)), keepdims=True) + 1e-5) * s
    assert_close(run_ours(model, {"x": x}), [ref.astype(np.float32)], 1e-5, 1e-5, what="RMSNormalization")


@pytest.mark.parametrize("xs", [(2, 3, 5, 4), (1, 4, 7), (3, 2, 2, 3, 2)])
def test_instance_normalization(xs):
    c = xs[1]
    check(H("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-4), {"x": rand(*xs)}, ["y"],
          {"s": rand(c, seed=2), "b": rand(c, seed=3)}, tol="reduce")


@pytest.mark.parametrize("xs,groups", [((2, 6, 4, 3), 3), ((1, 4, 10), 2), ((2, 4, 5), 4), ((2, 6, 3), 1)])
def test_group_normalization_opset21(xs, groups):
    c = xs[1]
    check(H("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=groups, epsilon=1e-4), {"x": rand(*xs)}, ["y"],
          {"s": rand(c, seed=2), "b": rand(c, seed=3)}, tol="reduce")


@pytest.mark.parametrize("runtime_scale", [False, True])
def test_group_normalization_opset18_per_group_scale(runtime_scale):
    # opset 18: one scale/bias value per group; onnxruntime has no opset-18 kernel: numpy reference
    x, s, b = rand(2, 6, 5, seed=1), rand(3, seed=2), rand(3, seed=3)
    feeds, inits = {"x": x}, {}
    (feeds if runtime_scale else inits).update({"s": s, "b": b})
    model = make_model([H("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3)], feeds, ["y"], inits, opset=18)
    xg = x.reshape(2, 3, -1).astype(np.float64)
    ref = (xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + 1e-5)
    ref = (ref * s[None, :, None] + b[None, :, None]).reshape(x.shape).astype(np.float32)
    assert_close(run_ours(model, feeds), [ref], 1e-5, 1e-5, what="GroupNormalization-18")


@pytest.mark.parametrize("axes", [None, [0, 2, 3], [1], [2, 3], [-1]])
def test_mean_variance_normalization(axes):
    attrs = {} if axes is None else {"axes": axes}
    check(H("MeanVarianceNormalization", ["x"], ["y"], **attrs), {"x": rand(2, 3, 4, 5)}, ["y"], tol="reduce")


@pytest.mark.parametrize("p,axis", [(2, -1), (1, -1), (2, 0), (1, 1)])
def test_lp_normalization(p, axis):
    x = rand(3, 4, 5)
    x[0, 0, :] = 0.0  # a zero norm gives zeros
    check(H("LpNormalization", ["x"], ["y"], p=p, axis=axis), {"x": x}, ["y"], tol="reduce")


def test_layer_normalization_stash_type_is_checked():
    model = make_model([H("LayerNormalization", ["x", "s"], ["y"], stash_type=0)], {"x": rand(2, 3)}, ["y"],
                       {"s": rand(3)})
    with pytest.raises(O2CError, match="stash_type"):
        onnx2cedr.inspect(model)


def test_group_normalization_bad_groups_is_an_error():
    model = make_model([H("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=4)], {"x": rand(2, 6, 3)}, ["y"],
                       {"s": rand(6), "b": rand(6)})
    with pytest.raises(O2CError, match="num_groups=4"):
        onnx2cedr.inspect(model)


@pytest.mark.parametrize("axis", [-1, 1])
def test_rms_normalization_opset23_model(axis):
    # opset 23 is beyond the internal opset: the node travels in the private domain (opset_fixups)
    x = rand(2, 3, 6, seed=1)
    check(H("RMSNormalization", ["x", "s"], ["y"], axis=axis, epsilon=1e-4), {"x": x}, ["y"],
          {"s": rand(*x.shape[axis % 3:], seed=2)}, opset=23, tol="reduce")
