"""GridSample (o2c_grid_sample) against onnxruntime: 2-D modes x padding modes x align_corners in one
model; grid points inside and outside [-1, 1]. Cubic with border padding is checked against onnx's
reference instead: onnxruntime 1.23 computes something else there (the reference and the conformance
data agree with us)."""
from __future__ import annotations

import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from tests.oncheck import assert_close, check, make_model, rand, run_ours

H = helper.make_node


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_grid_sample_2d(mode):
    feeds = {"x": rand(2, 3, 5, 6, seed=1), "g": rand(2, 4, 7, 2, seed=2, low=-1.3, high=1.3)}
    nodes, outs = [], []
    for pad in ("zeros", "border", "reflection"):
        if mode == "cubic" and pad == "border":
            continue
        for ac in (0, 1):
            outs.append(f"y_{pad}_{ac}")
            nodes.append(H("GridSample", ["x", "g"], [outs[-1]], mode=mode, padding_mode=pad, align_corners=ac))
    check(nodes, feeds, outs, tol=(1e-5, 1e-5))


def test_grid_sample_cubic_border_and_3d():
    feeds = {"x": rand(1, 2, 4, 5, seed=3), "g": rand(1, 3, 3, 2, seed=4, low=-1.4, high=1.4),
             "v": rand(1, 2, 3, 4, 5, seed=5), "gv": rand(1, 2, 3, 2, 3, seed=6, low=-1.2, high=1.2)}
    nodes = [H("GridSample", ["x", "g"], [f"c{ac}"], mode="cubic", padding_mode="border", align_corners=ac)
             for ac in (0, 1)]
    nodes += [H("GridSample", ["v", "gv"], [f"v_{m}"], mode=m, padding_mode="reflection")
              for m in ("nearest", "linear")]
    outs = [n.output[0] for n in nodes]
    model = make_model(nodes, feeds, outs, opset=21)
    assert_close(run_ours(model, feeds), ReferenceEvaluator(model).run(None, feeds), 1e-5, 1e-5)
