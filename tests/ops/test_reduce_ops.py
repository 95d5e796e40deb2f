"""Every Reduce* op over float32, axes as an input (opset 18+) and as an attribute (opset 13, and
ReduceSum's opset 11), keepdims, noop_with_empty_axes: one model per variant holds all ten ops."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.oncheck import assert_close, make_model, rand, run_ort, run_ours

H = helper.make_node
OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
       "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]

VARIANTS = [
    # (axes or None, keepdims, noop_with_empty_axes)
    ([1], 1, 0), ([0, 2], 0, 0), ([-1], 1, 0), (None, 1, 0), (None, 0, 0), ([], 1, 1), ([1, 2, 3], 0, 0),
]


def _x():
    # positive values keep ReduceLogSum defined; a moderate range keeps ReduceProd finite
    return rand(2, 3, 4, 5, low=0.5, high=1.5, seed=3)


def _compare(model, feeds):
    ref = run_ort(model, feeds)
    ours = run_ours(model, feeds)
    for k, op in enumerate(OPS):
        assert_close([ours[k]], [ref[k]], 1e-5, 1e-5, what=op)


@pytest.mark.parametrize("axes,keepdims,noop", VARIANTS, ids=[f"v{i}" for i in range(len(VARIANTS))])
def test_reduce_axes_input(axes, keepdims, noop):
    inits = {} if axes is None else {"axes": np.array(axes, np.int64)}
    nodes = [H(op, ["x"] + ([] if axes is None else ["axes"]), [f"y{k}"], keepdims=keepdims,
               noop_with_empty_axes=noop) for k, op in enumerate(OPS)]
    feeds = {"x": _x()}
    _compare(make_model(nodes, feeds, [f"y{k}" for k in range(len(OPS))], inits, opset=18), feeds)


@pytest.mark.parametrize("axes,keepdims", [([1], 1), ([0, 3], 0), (None, 0), ([-2], 1)])
def test_reduce_axes_attribute_opset13(axes, keepdims):
    attrs = {"keepdims": keepdims} if axes is None else {"keepdims": keepdims, "axes": axes}
    nodes = []
    inits = {}
    for k, op in enumerate(OPS):
        if op == "ReduceSum":  # opset 13 moved ReduceSum's axes to an input
            if axes is not None:
                inits["sum_axes"] = np.array(axes, np.int64)
            nodes.append(H(op, ["x"] + (["sum_axes"] if axes is not None else []), [f"y{k}"], keepdims=keepdims))
        else:
            nodes.append(H(op, ["x"], [f"y{k}"], **attrs))
    feeds = {"x": _x()}
    _compare(make_model(nodes, feeds, [f"y{k}" for k in range(len(OPS))], inits, opset=13), feeds)


def test_reduce_opset11_attribute_axes():
    nodes = [H(op, ["x"], [f"y{k}"], axes=[1, 2], keepdims=0) for k, op in enumerate(OPS)]
    feeds = {"x": _x()}
    _compare(make_model(nodes, feeds, [f"y{k}" for k in range(len(OPS))], opset=11), feeds)


def test_reduce_axes_computed_at_run_time_is_an_error():
    import onnx2cedr
    from onnx2cedr.errors import O2CError

    feeds = {"x": _x(), "axes": np.array([1], np.int64)}
    model = make_model([H("ReduceSum", ["x", "axes"], ["y"])], feeds, ["y"], opset=18)
    with pytest.raises(O2CError, match="ReduceSum_0"):  # the output shape depends on the axes
        onnx2cedr.inspect(model)
