"""merge_reshapes: a reshape that only feeds another reshape is folded into it."""
import numpy as np
from onnx import helper
from tests.passes.passutil import check_pass, make_model, op_counts

from onnx2cedr.passes import merge_reshapes

H = helper.make_node


def test_chain_becomes_one_reshape():
    nodes = [H("Unsqueeze", ["x", "ax"], ["u"], name="u"), H("Flatten", ["u"], ["f"], axis=2, name="f"),
             H("Relu", ["f"], ["y"])]
    g = check_pass(make_model(nodes, [("x", [2, 3, 4])], [("y", [2, 12])], {"ax": np.array([1], np.int64)}),
                   merge_reshapes)
    assert op_counts(g) == {"Reshape": 1, "Relu": 1}
    r = next(n for n in g.nodes if n.op == "Reshape")
    assert r.inputs[0] == "x" and list(g.const(r.inputs[1])) == [2, 12] and r.fused_from == ["u"]


def test_shared_first_reshape_kept():
    nodes = [H("Squeeze", ["x", "ax"], ["s"]), H("Unsqueeze", ["s", "ax"], ["y"]), H("Relu", ["s"], ["z"])]
    check_pass(make_model(nodes, [("x", [2, 1, 5])], [("y", [2, 1, 5]), ("z", [2, 5])],
                          {"ax": np.array([1], np.int64)}), merge_reshapes, changed=False)
