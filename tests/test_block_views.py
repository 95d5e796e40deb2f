"""Concat and Split as views (plan._block_views): along a leading axis each piece is a contiguous
block of the whole, so producers write straight into a Concat's output and a Split's outputs are
read where they lie in its input. The node then runs no code, the arena shrinks, and the outputs
still match onnxruntime; layouts where a piece is not one block, or cannot be placed, keep the copy."""
from __future__ import annotations

import numpy as np
from onnx import helper

import onnx2cedr
from tests.oncheck import check, make_model, rand


def _w(*shape, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 0.2).astype(np.float32)


def _layers(model):
    return {layer["name"]: layer for layer in onnx2cedr.inspect(model)["layers"]}


def _placement(model, op):
    return [layer["placement"] for layer in _layers(model).values() if layer["op"] == op]


def test_concat_of_producers_is_a_view_nested_and_into_a_graph_output():
    # y = Concat(Conv(c), c) with c = Concat(Relu(Conv(x)), Relu(Conv(x))): both Concats become
    # views, the inner one inside the graph output; Sigmoid reads a piece after the Concat
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"]), helper.make_node("Relu", ["a"], ["ar"]),
             helper.make_node("Conv", ["x", "w2"], ["b"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["b"], ["br"]),
             helper.make_node("Concat", ["ar", "br"], ["c"], axis=1),
             helper.make_node("Conv", ["c", "w3"], ["d"]),
             helper.make_node("Concat", ["d", "c"], ["y"], axis=1),
             helper.make_node("Sigmoid", ["ar"], ["z"])]
    inputs = {"x": rand(1, 8, 16, 16)}
    inits = {"w1": _w(16, 8, 1, 1), "w2": _w(16, 8, 3, 3, seed=1), "w3": _w(8, 32, 1, 1, seed=2)}
    model = make_model(nodes, inputs, ["y", "z"], inits, opset=17)
    info = onnx2cedr.inspect(model)
    assert _placement(model, "Concat") == ["view", "view"]
    assert info["memory"]["arena_bytes"] == 0  # every piece lives in the output buffer
    check(nodes, inputs, ["y", "z"], inits, opset=17, tol=(1e-5, 1e-6))


def test_split_of_an_input_and_of_a_layer_is_a_view():
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"]),
             helper.make_node("Split", ["a", "sp"], ["s1", "s2"], axis=1),
             helper.make_node("Conv", ["s2", "w2"], ["b"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["s1", "b"], ["y"]),
             helper.make_node("Split", ["x"], ["x1", "x2"], axis=1, num_outputs=2),
             helper.make_node("Mul", ["x1", "x2"], ["z"])]
    inputs = {"x": rand(1, 8, 16, 16)}
    inits = {"w1": _w(32, 8, 1, 1), "w2": _w(16, 16, 3, 3, seed=1), "sp": np.array([16, 16], np.int64)}
    model = make_model(nodes, inputs, ["y", "z"], inits, opset=18)
    assert _placement(model, "Split") == ["view", "view"]
    check(nodes, inputs, ["y", "z"], inits, opset=18, tol=(1e-5, 1e-6))


def test_pieces_stay_intact_when_a_reader_could_write_in_place():
    # r1 is a piece of y and dies at the Relu after the Concat: element-wise ops write in place over
    # an input that dies with them, which here would overwrite y's first block
    nodes = [helper.make_node("Conv", ["x", "w1"], ["r1"]), helper.make_node("Conv", ["x", "w2"], ["r2"]),
             helper.make_node("Concat", ["r1", "r2"], ["y"], axis=1),
             helper.make_node("Neg", ["r1"], ["n"]), helper.make_node("Relu", ["n"], ["z"])]
    inputs = {"x": rand(1, 4, 8, 8)}
    inits = {"w1": _w(16, 4, 1, 1), "w2": _w(16, 4, 1, 1, seed=1)}
    model = make_model(nodes, inputs, ["z", "y"], inits, opset=17)
    assert _placement(model, "Concat") == ["view"]
    check(nodes, inputs, ["z", "y"], inits, opset=17, tol=(1e-5, 1e-6))


def test_copies_stay_where_a_piece_is_not_one_block_or_cannot_move():
    x = rand(1, 4, 8, 8)
    w = {"w1": _w(4, 4, 1, 1)}
    cases = {
        # axis 2 with 4 channels before it: a piece is 4 strided runs
        "strided": [helper.make_node("Conv", ["x", "w1"], ["a"]), helper.make_node("Relu", ["x"], ["b"]),
                    helper.make_node("Concat", ["a", "b"], ["y"], axis=2)],
        # a graph input is a piece: it lives in the caller's buffer
        "input": [helper.make_node("Conv", ["x", "w1"], ["a"]), helper.make_node("Concat", ["a", "x"], ["y"], axis=1)],
        # the same value twice
        "twice": [helper.make_node("Conv", ["x", "w1"], ["a"]), helper.make_node("Concat", ["a", "a"], ["y"], axis=1)],
    }
    for name, nodes in cases.items():
        model = make_model(nodes, {"x": x}, ["y"], w, opset=17)
        assert _placement(model, "Concat") == ["cpu"], name
        check(nodes, {"x": x}, ["y"], w, opset=17, tol=(1e-5, 1e-6))
    # pieces of 3 and 5 floats: the second would start 12 bytes in, below the kernels' alignment
    nodes = [helper.make_node("Relu", ["p"], ["a"]), helper.make_node("Neg", ["q"], ["b"]),
             helper.make_node("Concat", ["a", "b"], ["y"], axis=1)]
    ins = {"p": rand(1, 3), "q": rand(1, 5, seed=1)}
    model = make_model(nodes, ins, ["y"], opset=17)
    assert _placement(model, "Concat") == ["cpu"]
    check(nodes, ins, ["y"], opset=17, tol="exact")
