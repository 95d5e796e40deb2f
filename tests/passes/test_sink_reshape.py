"""sink_reshape: a pure reshape moves below the element-wise op that alone reads it, with the
op's constant operand rewritten for the reshape's input shape."""
import numpy as np
from onnx import helper
from tests.passes.passutil import check_pass, make_model, op_counts, rand

from onnx2cedr.passes import optimize, sink_reshape
from onnx2cedr.passes.sink_reshape import constant_in_shape
from tests.passes.passutil import to_ir

H = helper.make_node


def _conv1d_as_2d(bias_shape):
    """Keras' 1-D convolution after layout folding: Conv (2-D, unit height) -> Squeeze -> bias Add -> Relu."""
    nodes = [H("Conv", ["x", "w"], ["c"], name="conv"),
             H("Squeeze", ["c", "ax"], ["s"], name="squeeze"),
             H("Add", ["s", "b"], ["a"], name="bias"),
             H("Relu", ["a"], ["y"], name="relu")]
    return make_model(nodes, [("x", [1, 3, 1, 9])], [("y", [1, 4, 7])],
                      {"w": rand(4, 3, 1, 3), "ax": np.array([2], np.int64), "b": rand(*bias_shape, seed=3)})


def test_squeeze_sinks_below_bias_and_relu():
    g = check_pass(_conv1d_as_2d((4, 1)), sink_reshape)
    order = [n.op for n in g.nodes]
    assert order.index("Add") < order.index("Squeeze")
    assert sink_reshape.apply(g)  # again: now below the Relu too
    g.toposort()
    assert [n.op for n in g.nodes] == ["Conv", "Add", "Relu", "Squeeze"]


def test_whole_pipeline_fuses_the_1d_convolution():
    m = _conv1d_as_2d((4, 1))
    g = to_ir(m)
    optimize(g)
    assert op_counts(g) == {"Conv": 1, "Squeeze": 1} or op_counts(g) == {"Conv": 1, "Reshape": 1}
    conv = next(n for n in g.nodes if n.op == "Conv")
    assert conv.act is not None and conv.act.op == "Relu" and len(conv.inputs) == 3


def test_squeeze_then_unsqueeze_joined_and_dropped():
    nodes = [H("Conv", ["x", "w"], ["c"]), H("Squeeze", ["c", "ax"], ["s"]), H("Relu", ["s"], ["r"]),
             H("Unsqueeze", ["r", "ax"], ["u"]), H("MaxPool", ["u"], ["y"], kernel_shape=[1, 2], strides=[1, 2])]
    m = make_model(nodes, [("x", [1, 3, 1, 9])], [("y", [1, 4, 1, 3])],
                   {"w": rand(4, 3, 1, 3), "ax": np.array([2], np.int64)})
    g = to_ir(m)
    optimize(g)
    assert op_counts(g) == {"Conv": 1, "MaxPool": 1}


def test_scalar_operand_moves_through_any_reshape():
    nodes = [H("Flatten", ["x"], ["f"]), H("Mul", ["f", "k"], ["y"])]
    g = check_pass(make_model(nodes, [("x", [2, 3, 4])], [("y", [2, 12])], {"k": np.array(1.5, np.float32)}),
                   sink_reshape)
    assert [n.op for n in g.nodes] == ["Mul", "Flatten"]


def test_left_alone():
    # the reshape's output has a second reader
    shared = [H("Squeeze", ["x", "ax"], ["s"]), H("Relu", ["s"], ["y"]), H("Neg", ["s"], ["z"])]
    check_pass(make_model(shared, [("x", [2, 1, 5])], [("y", [2, 5]), ("z", [2, 5])],
                          {"ax": np.array([1], np.int64)}), sink_reshape, changed=False)
    # a per-element constant of a reshape that mixes dimensions
    mixed = [H("Flatten", ["x"], ["f"]), H("Add", ["f", "c"], ["y"])]
    check_pass(make_model(mixed, [("x", [2, 3, 4])], [("y", [2, 12])], {"c": rand(12)}), sink_reshape, changed=False)
    # the Add broadcasts the reshaped value to a bigger shape
    grows = [H("Squeeze", ["x", "ax"], ["s"]), H("Add", ["s", "c"], ["y"])]
    check_pass(make_model(grows, [("x", [1, 1, 5])], [("y", [3, 5])], {"ax": np.array([1], np.int64),
                                                                       "c": rand(3, 1)}), sink_reshape, changed=False)
    # two computed operands (a residual Add)
    two = [H("Squeeze", ["x", "ax"], ["s"]), H("Add", ["s", "t"], ["y"])]
    check_pass(make_model(two, [("x", [2, 1, 5]), ("t", [2, 5])], [("y", [2, 5])], {"ax": np.array([1], np.int64)}),
               sink_reshape, changed=False)


def test_constant_in_shape():
    c = np.arange(4, dtype=np.float32).reshape(4, 1)
    assert constant_in_shape(c, (1, 4, 1, 7), (1, 4, 7)).shape == (1, 4, 1, 1)
    assert constant_in_shape(c, (1, 4, 7), (1, 4, 1, 7)) is None  # (4, 1) against (1, 4, 1, 7): height, not channels
    assert constant_in_shape(np.ones((4, 1, 1), np.float32), (1, 4, 7), (1, 4, 1, 7)).shape == (1, 4, 1)
    assert constant_in_shape(np.ones((3,), np.float32), (2, 3, 4), (2, 12)) is None
