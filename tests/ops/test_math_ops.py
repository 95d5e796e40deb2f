"""Element-wise math, Mean, Clip with run-time bounds, IsNaN/IsInf and Hardmax: single-node models
through onnxruntime and through the generated code. Ops of one class share one model (one build)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.oncheck import TOL, assert_close, check, make_model, rand, run_ort, run_ours

H = helper.make_node


def check_group(cases, tol="transcendental", opset=21):
    """cases: (op, attrs, input array) -> one model with one node per case; each output compared
    with the op's name in the message."""
    nodes, feeds, outs = [], {}, []
    for k, (op, attrs, x) in enumerate(cases):
        nodes.append(H(op, [f"x{k}"], [f"y{k}"], **attrs))
        feeds[f"x{k}"] = x
        outs.append(f"y{k}")
    model = make_model(nodes, feeds, outs, opset=opset)
    ref = run_ort(model, feeds)
    ours = run_ours(model, feeds)
    rtol, atol = TOL[tol] if isinstance(tol, str) else tol
    for k, (op, attrs, _) in enumerate(cases):
        assert_close([ours[k]], [ref[k]], rtol, atol, what=f"{op}{attrs}")


def test_trigonometric_and_hyperbolic():
    wide = rand(3, 41, low=-4, high=4, seed=1)
    unit = rand(3, 41, low=-0.999, high=0.999, seed=2)
    check_group([
        ("Tan", {}, rand(3, 41, low=-1.5, high=1.5, seed=3)),
        ("Asin", {}, unit), ("Acos", {}, unit), ("Atan", {}, wide),
        ("Sinh", {}, wide), ("Cosh", {}, wide), ("Asinh", {}, wide * 10),
        ("Acosh", {}, rand(3, 41, low=1.0, high=50.0, seed=4)), ("Atanh", {}, unit),
        ("Sin", {}, wide), ("Cos", {}, wide),
    ])


def test_activations():
    x = rand(4, 37, low=-6, high=6, seed=5)
    x[0, :5] = [0.0, -0.0, 1e-7, -1e-7, 30.0]
    check_group([
        ("Selu", {}, x), ("Selu", {"alpha": 2.0, "gamma": 0.5}, x),
        ("Celu", {}, x), ("Celu", {"alpha": 2.5}, x),
        ("Gelu", {}, x), ("Gelu", {"approximate": "tanh"}, x), ("Gelu", {"approximate": "none"}, x),
        ("Mish", {}, x), ("Softsign", {}, x), ("Softplus", {}, x),
        ("ThresholdedRelu", {}, x), ("ThresholdedRelu", {"alpha": 2.0}, x),
        ("Shrink", {}, x), ("Shrink", {"lambd": 1.5, "bias": 0.5}, x),
        ("HardSigmoid", {"alpha": 0.1, "beta": 0.6}, x), ("HardSwish", {}, x),
        ("LeakyRelu", {"alpha": 0.2}, x), ("Elu", {"alpha": 0.7}, x),
    ])


def test_exact_unary():
    x = rand(5, 23, low=-5, high=5, seed=6)
    x[0, :8] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.0, -0.0]  # Round: half to even
    check_group([("Round", {}, x), ("Floor", {}, x), ("Ceil", {}, x), ("Sign", {}, x), ("Abs", {}, x),
                 ("Neg", {}, x)], tol="exact")


def test_exp_log_sqrt_pow_erf_reciprocal():
    pos = rand(3, 29, low=0.01, high=20, seed=7)
    x = rand(3, 29, low=-8, high=8, seed=8)
    check_group([("Exp", {}, x), ("Log", {}, pos), ("Sqrt", {}, pos), ("Erf", {}, x), ("Reciprocal", {}, pos)])


@pytest.mark.parametrize("shapes", [[(2, 3, 4)], [(2, 3, 4), (3, 1)], [(2, 3, 4), (3, 1), (4,)], [(5,), (2, 5)]])
def test_mean(shapes):
    feeds = {f"x{i}": rand(*s, seed=i) for i, s in enumerate(shapes)}
    check(H("Mean", list(feeds), ["y"]), feeds, ["y"])


@pytest.mark.parametrize("bounds", ["both", "min", "max", "min_const_max_runtime", "crossed"])
def test_clip_runtime_bounds(bounds):
    x = rand(3, 17, low=-4, high=4)
    feeds, inits, ins = {"x": x}, {}, ["x", "", ""]
    if bounds in ("both", "min", "crossed"):
        feeds["lo"] = np.array(1.5 if bounds == "crossed" else -1.0, np.float32)
        ins[1] = "lo"
    if bounds in ("both", "max", "crossed"):
        feeds["hi"] = np.array(-0.5 if bounds == "crossed" else 2.0, np.float32)
        ins[2] = "hi"
    if bounds == "min_const_max_runtime":
        inits["lo"] = np.float32(-0.25)
        feeds["hi"] = np.array(0.75, np.float32)
        ins[1:] = ["lo", "hi"]
    while ins and not ins[-1]:
        ins.pop()
    check(H("Clip", ins, ["y"]), feeds, ["y"], inits, tol="exact")


def test_isnan_isinf():
    x = rand(4, 9, seed=9)
    x[0, :6] = [np.nan, np.inf, -np.inf, 0.0, -np.nan, 3.0]
    nodes = [H("IsNaN", ["x"], ["a"]), H("IsInf", ["x"], ["b"]),
             H("IsInf", ["x"], ["c"], detect_negative=0), H("IsInf", ["x"], ["d"], detect_positive=0)]
    check(nodes, {"x": x}, ["a", "b", "c", "d"], tol="exact")


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_hardmax(axis):
    x = rand(3, 4, 5, seed=10)
    x[1, 2, :] = 7.0  # ties: the first maximum wins
    check(H("Hardmax", ["x"], ["y"], axis=axis), {"x": x}, ["y"], tol="exact")


def test_hardmax_opset11_coerces_to_2d():
    check(H("Hardmax", ["x"], ["y"], axis=1), {"x": rand(2, 3, 4, seed=11)}, ["y"], opset=11, tol="exact")


def test_unknown_attribute_is_an_error():
    import onnx2cedr
    from onnx2cedr.errors import O2CError

    model = make_model([H("Selu", ["x"], ["y"], alpha=1.0, beta=2.0)], {"x": rand(2, 3)}, ["y"])
    with pytest.raises(O2CError, match="beta"):
        onnx2cedr.inspect(model)


def test_gelu_unknown_mode_is_an_error():
    import onnx2cedr
    from onnx2cedr.errors import UnsupportedError

    model = make_model([H("Gelu", ["x"], ["y"], approximate="fast")], {"x": rand(2, 3)}, ["y"])
    with pytest.raises(UnsupportedError, match="approximate='fast'"):
        onnx2cedr.inspect(model)


def test_swish_opset24_model():
    # opset 24 is beyond the internal opset: the node travels in the private domain (opset_fixups)
    check_group([("Swish", {}, rand(3, 11, low=-6, high=6)), ("Swish", {"alpha": 0.5}, rand(2, 5, seed=2)),
                 ("Relu", {}, rand(4, seed=3))], opset=24)
