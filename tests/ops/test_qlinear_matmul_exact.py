"""QLinearMatMul outside the int8 QGemm (batched, float16 scales, weights that do not fit int8 after
their zero point): the exact float64 product of lower_qoperator, bit-exact against ONNX's reference;
a 2-D product whose weights fit int8 still lowers onto QGemm."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

import onnx2cedr
from onnx2cedr.errors import UnsupportedError
from tests.oncheck import make_model, run_ours

H = helper.make_node
NAMES = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"]


def _model(a, b, qt, st, per_column=False, seed=0, y_scale=0.29):
    rng = np.random.default_rng(seed)
    info = np.iinfo(qt)
    n = b.shape[-1]
    inits = {"a_scale": np.array(0.013, st), "a_zero_point": np.array(info.min + 100, qt),
             "b": b, "b_scale": (rng.uniform(0.004, 0.02, n) if per_column else np.array(0.0071)).astype(st),
             "b_zero_point": (rng.integers(info.min + 90, info.min + 130, n) if per_column
                              else np.array(info.min + 114)).astype(qt),
             "y_scale": np.array(y_scale, st), "y_zero_point": np.array(info.min + 118, qt)}
    return make_model([H("QLinearMatMul", NAMES, ["y"])], {"a": a}, ["y"], inits, opset=21)


@pytest.mark.parametrize("qt", [np.uint8, np.int8])
@pytest.mark.parametrize("st", [np.float32, np.float16])
@pytest.mark.parametrize("a_shape,b_shape,per_column", [((2, 5, 7), (7, 3), False), ((3, 4), (4, 6), False),
                                                        ((2, 4, 6), (2, 6, 5), True)])
def test_exact_product_matches_the_reference(qt, st, a_shape, b_shape, per_column):
    rng = np.random.default_rng(7)
    info = np.iinfo(qt)
    a = rng.integers(info.min, info.max + 1, a_shape).astype(qt)
    b = rng.integers(info.min, info.max + 1, b_shape).astype(qt)  # b - zero point spans beyond int8
    model = _model(a, b, qt, st, per_column=per_column)
    ref = ReferenceEvaluator(model).run(None, {"a": a})[0]
    ours = run_ours(model, {"a": a})[0]
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)


def test_saturation_and_placement():
    qt = np.uint8
    a = np.full((2, 3, 4), 255, qt)
    b = np.zeros((4, 2), qt)  # b - 114 is -114: products far below the output range
    model = _model(a, b, qt, np.float32, y_scale=0.01)
    ours = run_ours(model, {"a": a})[0]
    np.testing.assert_array_equal(ours, ReferenceEvaluator(model).run(None, {"a": a})[0])
    assert (ours == 0).all()  # 155 * -114 * 4 * 0.013 * 0.0071 / 0.01 + 118 = -608
    ops = [ly["op"] for ly in onnx2cedr.inspect(model)["layers"]]
    assert "MatMul" in ops and "QGemm" not in ops


def test_two_d_int8_fitting_weights_keep_the_qgemm():
    a = np.random.default_rng(1).integers(0, 256, (3, 4)).astype(np.uint8)
    b = np.random.default_rng(2).integers(60, 180, (4, 5)).astype(np.uint8)  # b - 114 fits int8
    model = _model(a, b, np.uint8, np.float32)
    ops = [ly["op"] for ly in onnx2cedr.inspect(model)["layers"]]
    assert ops == ["QGemm"]


def test_run_time_scales_are_refused_in_one_line():
    a = np.zeros((2, 3, 4), np.uint8)
    m = make_model([H("QLinearMatMul", NAMES, ["y"])], {"a": a, "a_scale": np.array(0.1, np.float32)}, ["y"],
                   {"a_zero_point": np.array(0, np.uint8), "b": np.zeros((4, 2), np.uint8),
                    "b_scale": np.array(0.1, np.float32), "b_zero_point": np.array(0, np.uint8),
                    "y_scale": np.array(0.1, np.float32), "y_zero_point": np.array(0, np.uint8)})
    with pytest.raises(UnsupportedError, match="exact float64 product: scales and zero points must be constants"):
        run_ours(m, {"a": a, "a_scale": np.array(0.1, np.float32)})
