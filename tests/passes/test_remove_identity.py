import numpy as np
import pytest
from onnx import TensorProto, helper
from tests.passes.passutil import check_pass, make_model, op_counts, rand

from onnx2cedr.passes import remove_identity

X = ("x", [2, 3, 4])


def _wrap(node_list, inits=(), out_shape=(2, 3, 4)):
    """x -> Relu -> a -> [nodes under test: a -> b] -> Sigmoid -> y"""
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu")] + node_list + \
            [helper.make_node("Sigmoid", ["b"], ["y"], name="sig")]
    return make_model(nodes, [X], [("y", list(out_shape))], inits)


@pytest.mark.parametrize("node,inits", [
    (helper.make_node("Identity", ["a"], ["b"]), {}),
    (helper.make_node("Dropout", ["a"], ["b"]), {}),
    (helper.make_node("Dropout", ["a", "ratio"], ["b"]), {"ratio": np.array(0.5, np.float32)}),
    (helper.make_node("Dropout", ["a", "ratio", "tm"], ["b", "unused_mask"]),
     {"ratio": np.array(0.5, np.float32), "tm": np.array(False)}),
    (helper.make_node("Cast", ["a"], ["b"], to=TensorProto.FLOAT), {}),
    (helper.make_node("Reshape", ["a", "s"], ["b"]), {"s": np.array([2, 3, 4], np.int64)}),
    (helper.make_node("Reshape", ["a", "s"], ["b"]), {"s": np.array([0, -1, 4], np.int64)}),
    (helper.make_node("Squeeze", ["a"], ["b"]), {}),
], ids=["identity", "dropout", "dropout_ratio", "dropout_tm_false", "cast", "reshape", "reshape_0_-1", "squeeze"])
def test_noop_removed(node, inits):
    g = check_pass(_wrap([node], inits), remove_identity)
    assert op_counts(g) == {"Relu": 1, "Sigmoid": 1}
    assert g.nodes[1].inputs[0] == "a"
    assert "b" not in g.values


def test_flatten_of_2d_removed():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Flatten", ["a"], ["b"]),
             helper.make_node("Sigmoid", ["b"], ["y"])]
    g = check_pass(make_model(nodes, [("x", [3, 5])], [("y", [3, 5])]), remove_identity)
    assert "Flatten" not in op_counts(g)


@pytest.mark.parametrize("node,inits,out_shape", [
    (helper.make_node("Cast", ["a"], ["b"], to=TensorProto.DOUBLE), {}, None),
    (helper.make_node("Reshape", ["a", "s"], ["b"]), {"s": np.array([6, 4], np.int64)}, (6, 4)),
    (helper.make_node("Unsqueeze", ["a", "ax"], ["b"]), {"ax": np.array([0], np.int64)}, (1, 2, 3, 4)),
    (helper.make_node("Dropout", ["a", "ratio", "tm"], ["b"]),
     {"ratio": np.array(0.0, np.float32), "tm": np.array(True)}, None),
], ids=["cast_other_type", "reshape_changes_shape", "unsqueeze", "dropout_training"])
def test_real_ops_kept(node, inits, out_shape):
    if node.op_type == "Cast":
        nodes = [helper.make_node("Relu", ["x"], ["a"]), node]
        m = make_model(nodes, [X], [helper.make_tensor_value_info("b", TensorProto.DOUBLE, [2, 3, 4])])
    else:
        m = _wrap([node], inits, out_shape or (2, 3, 4))
    g = check_pass(m, remove_identity, changed=False)
    assert op_counts(g)[node.op_type] == 1


def test_dropout_with_used_mask_kept():
    nodes = [helper.make_node("Dropout", ["x"], ["d", "mask"]),
             helper.make_node("Cast", ["mask"], ["y"], to=TensorProto.FLOAT)]
    m = make_model(nodes, [X], [("d", [2, 3, 4]), ("y", [2, 3, 4])])
    g = check_pass(m, remove_identity, changed=False)
    assert op_counts(g)["Dropout"] == 1
    # the mask as a graph output counts as used too
    nodes = [helper.make_node("Dropout", ["x"], ["d", "mask"])]
    m = make_model(nodes, [X], [("d", [2, 3, 4]), helper.make_tensor_value_info("mask", TensorProto.BOOL, [2, 3, 4])])
    check_pass(m, remove_identity, changed=False)


def test_graph_output_name_survives():
    # Relu -> a -> Identity -> y (graph output): the Relu now writes y, and a's other reader reads y
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu"), helper.make_node("Identity", ["a"], ["y"]),
             helper.make_node("Neg", ["a"], ["z"])]
    m = make_model(nodes, [X], [("y", [2, 3, 4]), ("z", [2, 3, 4])])
    g = check_pass(m, remove_identity)
    assert op_counts(g) == {"Relu": 1, "Neg": 1}
    assert g.nodes[0].outputs == ["y"] and "a" not in g.values
    assert g.outputs == ["y", "z"]


@pytest.mark.parametrize("outputs", [["y"], ["a", "y"]], ids=["from_input", "both_outputs"])
def test_graph_output_identity_kept_when_renaming_is_illegal(outputs):
    if outputs == ["y"]:  # graph input -> Identity -> graph output
        m = make_model([helper.make_node("Identity", ["x"], ["y"])], [X], [("y", [2, 3, 4])])
    else:  # a and its copy are both graph outputs
        nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Identity", ["a"], ["y"])]
        m = make_model(nodes, [X], [("a", [2, 3, 4]), ("y", [2, 3, 4])])
    g = check_pass(m, remove_identity, changed=False)
    assert op_counts(g)["Identity"] == 1


def test_identity_of_constant():
    nodes = [helper.make_node("Identity", ["w"], ["wi"]), helper.make_node("Add", ["x", "wi"], ["y"])]
    g = check_pass(make_model(nodes, [X], [("y", [2, 3, 4])], {"w": rand(4)}), remove_identity)
    assert op_counts(g) == {"Add": 1} and g.nodes[0].inputs == ["x", "w"]


def test_chain_and_idempotent():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Identity", ["a"], ["a1"]),
             helper.make_node("Identity", ["a1"], ["a2"]), helper.make_node("Dropout", ["a2"], ["y"])]
    m = make_model(nodes, [X], [("y", [2, 3, 4])])
    g = check_pass(m, remove_identity)
    assert op_counts(g) == {"Relu": 1} and g.nodes[0].outputs == ["y"]
    assert remove_identity.apply(g) is False
