import math

import numpy as np
import pytest
from onnx import TensorProto, helper
from tests.passes.passutil import check_pass, make_model, op_counts, rand

from onnx2cedr.passes import fuse_activation

ACTS = [("Relu", {}, {}), ("LeakyRelu", {"alpha": 0.2}, {"alpha": 0.2}), ("LeakyRelu", {}, {"alpha": 0.01}),
        ("Sigmoid", {}, {}), ("Tanh", {}, {}), ("HardSigmoid", {"beta": 0.4}, {"alpha": 0.2, "beta": 0.4}),
        ("HardSwish", {}, {}), ("Elu", {"alpha": 0.7}, {"alpha": 0.7})]


def _producer(op):
    """(nodes producing 'p' from 'x', inits, output shape)"""
    if op in ("Conv", "ConvTranspose"):
        w = rand(3, 3, 3, 3)
        return [helper.make_node(op, ["x", "w"], ["p"], pads=[1, 1, 1, 1], name="prod")], {"w": w}, [1, 3, 4, 4]
    if op == "BatchNormalization":
        c = np.ones(3, np.float32)
        return ([helper.make_node(op, ["x", "s", "b", "m", "v"], ["p"], name="prod")],
                {"s": c * 2, "b": c * 0.1, "m": c * 0.2, "v": c}, [1, 3, 4, 4])
    if op in ("Gemm", "MatMul"):
        return [helper.make_node(op, ["x2", "w"], ["p"], name="prod")], {"w": rand(5, 6)}, [4, 6]
    return [helper.make_node(op, ["x", "k"], ["p"], name="prod")], {"k": rand(4, seed=2) + 3}, [1, 3, 4, 4]


# every activation after Conv and Gemm; every producer with Relu and HardSigmoid
CASES = [(p, *a) for p in ("Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "BatchNormalization")
         for a in ACTS if p in ("Conv", "Gemm") or a[0] in ("Relu", "HardSigmoid")]


@pytest.mark.parametrize("producer,act,attrs,stored", CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_fused(producer, act, attrs, stored):
    nodes, inits, shape = _producer(producer)
    nodes.append(helper.make_node(act, ["p"], ["y"], name="act", **attrs))
    m = make_model(nodes, [("x", [1, 3, 4, 4]), ("x2", [4, 5])], [("y", shape)], inits)
    g = check_pass(m, fuse_activation)
    assert op_counts(g) == {producer: 1}
    node = g.nodes[0]
    assert (node.act.op, node.act.name) == (act, "act")
    assert node.act.attrs == pytest.approx(stored)  # ONNX float attributes are float32
    assert node.outputs == ["y"] and node.fused_from == ["act"] and "p" not in g.values


@pytest.mark.parametrize("bounds", [(0.0, 6.0), (-1.0, None), (None, 0.5), (None, None)])
def test_clip(bounds):
    lo, hi = bounds
    inits = {"w": rand(3, 3, 1, 1)}
    ins = ["p", "lo" if lo is not None else "", "hi" if hi is not None else ""]
    while ins[-1] == "":
        ins.pop()
    if lo is not None:
        inits["lo"] = np.array(lo, np.float32)
    if hi is not None:
        inits["hi"] = np.array(hi, np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["p"]), helper.make_node("Clip", ins, ["y"], name="clip")]
    g = check_pass(make_model(nodes, [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])], inits), fuse_activation)
    assert op_counts(g) == {"Conv": 1}
    assert g.nodes[0].act.attrs == {"min": -math.inf if lo is None else lo, "max": math.inf if hi is None else hi}


def test_clip_with_computed_bound_kept():
    nodes = [helper.make_node("Conv", ["x", "w"], ["p"]), helper.make_node("Clip", ["p", "lo"], ["y"])]
    m = make_model(nodes, [("x", [1, 3, 4, 4]), helper.make_tensor_value_info("lo", TensorProto.FLOAT, [])],
                   [("y", [1, 3, 4, 4])], {"w": rand(3, 3, 1, 1)})
    check_pass(m, fuse_activation, changed=False)


def _conv_relu(extra=(), outputs=(("y", [1, 3, 4, 4]),)):
    nodes = [helper.make_node("Conv", ["x", "w"], ["p"]), helper.make_node("Relu", ["p"], ["y"])] + list(extra)
    return make_model(nodes, [("x", [1, 3, 4, 4])], list(outputs), {"w": rand(3, 3, 1, 1)})


def test_not_fused_when_producer_output_is_graph_output():
    g = check_pass(_conv_relu(outputs=[("y", [1, 3, 4, 4]), ("p", [1, 3, 4, 4])]), fuse_activation, changed=False)
    assert g.nodes[0].act is None


def test_not_fused_when_producer_output_has_two_consumers():
    m = _conv_relu([helper.make_node("Neg", ["p"], ["z"])], [("y", [1, 3, 4, 4]), ("z", [1, 3, 4, 4])])
    check_pass(m, fuse_activation, changed=False)


def test_second_activation_not_fused():
    m = _conv_relu([helper.make_node("Sigmoid", ["y"], ["z"])], [("z", [1, 3, 4, 4])])
    g = check_pass(m, fuse_activation)
    assert op_counts(g) == {"Conv": 1, "Sigmoid": 1} and g.nodes[0].act.op == "Relu"
    assert fuse_activation.apply(g) is False


def test_graph_output_keeps_its_name():
    g = check_pass(_conv_relu(), fuse_activation)
    assert g.outputs == ["y"] and g.nodes[0].outputs == ["y"]


def test_not_fused_for_other_producers_or_types():
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[1, 1]), helper.make_node("Relu", ["p"], ["y"])]
    check_pass(make_model(nodes, [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])]), fuse_activation, changed=False)
    d = TensorProto.DOUBLE
    nodes = [helper.make_node("Add", ["x", "x"], ["p"]), helper.make_node("Relu", ["p"], ["y"])]
    m = make_model(nodes, [helper.make_tensor_value_info("x", d, [3])], [helper.make_tensor_value_info("y", d, [3])])
    check_pass(m, fuse_activation, changed=False)
