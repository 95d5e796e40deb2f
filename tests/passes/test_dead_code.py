from onnx import helper
from tests.passes.passutil import check_pass, make_model, op_counts, rand

from onnx2cedr.passes import dead_code


def test_unused_nodes_and_constants_removed():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Add", ["a", "w"], ["y"]),
             helper.make_node("Mul", ["x", "w2"], ["dead1"]), helper.make_node("Exp", ["dead1"], ["dead2"])]
    m = make_model(nodes, [("x", [2, 4]), ("unused_in", [3])], [("y", [2, 4])],
                   {"w": rand(4), "w2": rand(4, seed=3), "never_read": rand(5)})
    g = check_pass(m, dead_code)
    assert op_counts(g) == {"Relu": 1, "Add": 1}
    assert {"w2", "never_read", "dead1", "dead2"}.isdisjoint(g.values)
    assert g.inputs == ["x", "unused_in"]  # the interface stays
    assert dead_code.apply(g) is False


def test_unused_optional_outputs_trimmed():
    nodes = [helper.make_node("Dropout", ["x"], ["y", "mask"]),
             helper.make_node("MaxPool", ["x4"], ["p", "idx"], kernel_shape=[2, 2])]
    m = make_model(nodes, [("x", [2, 4]), ("x4", [1, 1, 4, 4])], [("y", [2, 4]), ("p", [1, 1, 3, 3])])
    g = check_pass(m, dead_code)
    assert [n.outputs for n in g.nodes] == [["y"], ["p"]]
    assert "mask" not in g.values and "idx" not in g.values


def test_nothing_to_do():
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", [3])], [("y", [3])])
    check_pass(m, dead_code, changed=False)
