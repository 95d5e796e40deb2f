"""Resize features built on the general tap tables: antialiased linear/cubic downsampling,
tf_crop_and_resize (roi, extrapolation_value, axes) and keep_aspect_ratio_policy, against ONNX's
reference implementation (onnx.reference) on inputs other than the backend tests'."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from onnx2cedr.errors import UnsupportedError
from tests.oncheck import assert_close, make_model, rand, run_ours

H = helper.make_node
E = ""


def _check(attrs, x, roi=None, scales=None, sizes=None, tol=(1e-5, 1e-5)):
    inits = {}
    names = ["x", E, E, E]
    for k, (name, v) in enumerate((("roi", roi), ("scales", scales), ("sizes", sizes)), start=1):
        if v is not None:
            inits[name] = np.asarray(v, dtype=np.int64 if name == "sizes" else np.float32)
            names[k] = name
    while names and names[-1] == E:
        names.pop()
    model = make_model([H("Resize", names, ["y"], **attrs)], {"x": x}, ["y"], inits, opset=19)
    ref = ReferenceEvaluator(model).run(None, {"x": x})
    ours = run_ours(model, {"x": x})
    assert_close(ours, ref, tol[0], tol[1], what=str(attrs))
    return ours[0]


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("scales,sizes", [([1, 1, 0.45, 0.7], None), (None, [1, 2, 3, 7]),
                                          ([1, 1, 1.5, 0.5], None)])
def test_antialias(mode, scales, sizes):
    x = rand(1, 2, 9, 11, seed=1)
    _check({"mode": mode, "antialias": 1}, x, scales=scales, sizes=sizes)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("extrapolation", [0.0, 7.5])
def test_tf_crop_and_resize(mode, extrapolation):
    x = rand(1, 1, 5, 6, seed=2)
    attrs = {"mode": mode, "coordinate_transformation_mode": "tf_crop_and_resize",
             "extrapolation_value": extrapolation}
    # the roi reaches past the input on both sides of the width: extrapolated columns
    y = _check(attrs, x, roi=[0, 0, 0.1, -0.3, 1, 1, 0.8, 1.2], sizes=[1, 1, 4, 7])
    assert (y[..., 0] == np.float32(extrapolation)).all()


def test_tf_crop_and_resize_axes():
    x = rand(2, 3, 6, 5, seed=3)
    attrs = {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "axes": [3, 2],
             "extrapolation_value": -1.0}
    _check(attrs, x, roi=[-0.2, 0.25, 0.9, 0.75], sizes=[4, 3])


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_keep_aspect_ratio_policy(policy, mode):
    x = rand(1, 2, 4, 6, seed=4)
    y = _check({"mode": mode, "keep_aspect_ratio_policy": policy, "axes": [2, 3]}, x, sizes=[7, 9])
    assert y.shape == ((1, 2, 6, 9) if policy == "not_larger" else (1, 2, 7, 11))


def test_antialias_nearest_is_refused():
    x = rand(1, 1, 4, 4)
    model = make_model([H("Resize", ["x", E, "s"], ["y"], mode="nearest", antialias=1)], {"x": x}, ["y"],
                       {"s": np.array([1, 1, 0.5, 0.5], np.float32)}, opset=19)
    with pytest.raises(UnsupportedError, match="antialias"):
        run_ours(model, {"x": x})
