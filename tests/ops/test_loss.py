"""NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (o2c_nll_loss) against onnxruntime: the
reductions, class weights, ignore_index, spatial dimensions, the log_prob output, float64."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import onnx2cedr
from onnx2cedr.errors import O2CError
from tests.oncheck import check, make_model, rand

H = helper.make_node


def _target(shape, classes, seed, ignore=None):
    t = np.random.default_rng(seed).integers(0, classes, shape).astype(np.int64)
    if ignore is not None:
        t.flat[::3] = ignore
    return t


@pytest.mark.parametrize("op", ["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"])
def test_losses_reductions_weights_ignore_index(op):
    # one model: none/sum/mean, with and without weight and ignore_index, (N, C) and (N, C, d1, d2)
    feeds = {"x": rand(3, 5, seed=1), "t": _target((3,), 5, 2), "x4": rand(2, 4, 3, 2, seed=3),
             "t4": _target((2, 3, 2), 4, 4, ignore=1)}
    inits = {"w": rand(5, seed=5, low=0.5, high=2.0), "w4": rand(4, seed=6, low=0.5, high=2.0)}
    extra = ["lp"] if op == "SoftmaxCrossEntropyLoss" else []
    nodes = [H(op, ["x", "t"], ["none"] + extra, reduction="none"),
             H(op, ["x", "t", "w"], ["sum"], reduction="sum"),
             H(op, ["x4", "t4", "w4"], ["mean_w_ii"], reduction="mean", ignore_index=1),
             H(op, ["x4", "t4"], ["mean_ii"], ignore_index=1)]
    outs = ["none"] + extra + ["sum", "mean_w_ii", "mean_ii"]
    check(nodes, feeds, outs, inits, tol=(1e-5, 1e-6))


def test_softmax_cross_entropy_float64():
    feeds = {"x": rand(4, 6, 3, seed=1, dtype=np.float64), "t": _target((4, 3), 6, 2)}
    check(H("SoftmaxCrossEntropyLoss", ["x", "t"], ["y", "lp"]), feeds, ["y", "lp"], tol=(1e-12, 1e-12))


def test_loss_target_shape_error():
    feeds = {"x": rand(3, 5), "t": _target((4,), 5, 2)}
    model = make_model([H("NegativeLogLikelihoodLoss", ["x", "t"], ["y"], reduction="none")], feeds, ["y"])
    with pytest.raises(O2CError):
        onnx2cedr.inspect(model)
