import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from tests.passes.passutil import check_pass, make_model, op_counts, rand, to_ir

from onnx2cedr.ir import Activation
from onnx2cedr.passes import constant_fold, dead_code
from onnx2cedr.passes.constant_fold import ConstantFold

I64 = TensorProto.INT64


def _i64(*v):
    return np.array(v, dtype=np.int64)


def test_flatten_shape_chain_folded():
    # the pattern torch emits for x.view(x.size(0), -1)
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    m = make_model(nodes, [("x", [2, 3, 4, 5])], [("y", [2, 60])],
                   {"zero": np.array(0, np.int64), "ax0": _i64(0), "minus1": _i64(-1)})
    g = check_pass(m, constant_fold)
    assert op_counts(g) == {"Reshape": 1}
    np.testing.assert_array_equal(g.values["shape"].data, [2, -1])
    assert g.values["n"].shape == ()  # a scalar stays a scalar
    dead_code.apply(g)
    assert {"s", "n", "n1", "zero"}.isdisjoint(g.values)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torch_flatten_export_folded():
    torch = pytest.importorskip("torch")
    import io

    class M(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x.view(x.size(0), -1))

    buf = io.BytesIO()
    torch.onnx.export(M(), (torch.randn(2, 3, 4),), buf, dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17)
    m = onnx.load_from_string(buf.getvalue())
    m.ir_version = min(m.ir_version, 10)
    assert "Shape" in {n.op_type for n in m.graph.node}
    g = check_pass(m, constant_fold, shapes={"x": (2, 3, 4)})
    dead_code.apply(g)
    assert op_counts(g) == {"Reshape": 1, "Relu": 1}


def test_shape_with_start_end_and_size():
    nodes = [helper.make_node("Shape", ["x"], ["s"], start=1, end=-1),
             helper.make_node("Size", ["x"], ["n"]),
             helper.make_node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["sf", "nf"], ["k"]),
             helper.make_node("Add", ["x", "k"], ["y"])]
    m = make_model(nodes, [("x", [2, 3, 4, 2])], [("y", [2, 3, 4, 2])])
    g = check_pass(m, constant_fold)
    assert op_counts(g) == {"Add": 1}
    np.testing.assert_array_equal(g.values["k"].data, [3 * 48, 4 * 48])


def test_constant_constantofshape_range_equal_where():
    nodes = [helper.make_node("Constant", [], ["c"], value=helper.make_tensor("t", I64, [1], [4])),
             helper.make_node("ConstantOfShape", ["c"], ["ones"],
                              value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
             helper.make_node("Range", ["r0", "r1", "r2"], ["rng"]),
             helper.make_node("Equal", ["rng", "two"], ["eq"]),
             helper.make_node("Where", ["eq", "ones", "rngf"], ["w"]),
             helper.make_node("Mul", ["x", "w"], ["y"])]
    m = make_model(nodes, [("x", [3, 4])], [("y", [3, 4])],
                   {"r0": np.array(0, np.int64), "r1": np.array(4, np.int64), "r2": np.array(1, np.int64),
                    "two": np.array(2, np.int64), "rngf": np.array([5, 6, 7, 8], np.float32)})
    g = check_pass(m, constant_fold)
    assert op_counts(g) == {"Mul": 1}
    np.testing.assert_array_equal(g.values["w"].data, [5, 6, 1, 8])


def test_transpose_and_reshape_of_weight_folded():
    nodes = [helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
             helper.make_node("MatMul", ["x", "wt"], ["m"]),
             helper.make_node("Reshape", ["b", "bs"], ["b2"]),
             helper.make_node("Add", ["m", "b2"], ["y"])]
    m = make_model(nodes, [("x", [2, 5])], [("y", [2, 3])],
                   {"w": rand(3, 5), "b": rand(3, seed=4), "bs": _i64(1, 3)})
    g = check_pass(m, constant_fold)
    assert op_counts(g) == {"MatMul": 1, "Add": 1}
    assert g.values["wt"].shape == (5, 3) and g.values["b2"].shape == (1, 3)


def test_node_with_fused_activation_folds_with_it():
    nodes = [helper.make_node("Sub", ["a", "b"], ["d"]), helper.make_node("Add", ["x", "d"], ["y"])]
    m = make_model(nodes, [("x", [4])], [("y", [4])],
                   {"a": np.array([1, -2, 3, -4], np.float32), "b": np.zeros(4, np.float32)})
    g = to_ir(m)
    g.nodes[0].act = Activation("Relu", {}, "r")
    assert constant_fold.apply(g)
    np.testing.assert_array_equal(g.values["d"].data, [1, 0, 3, 0])


def test_graph_output_folded_to_constant():
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Relu", ["x"], ["y"])]
    m = make_model(nodes, [("x", [2, 3])], [("y", [2, 3]), helper.make_tensor_value_info("s", I64, [2])])
    g = check_pass(m, constant_fold)
    assert op_counts(g) == {"Relu": 1} and g.values["s"].is_const


def test_big_outputs_left_alone():
    # ConstantOfShape / Expand / Tile whose result is much bigger than their inputs stay nodes
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["z"],
                              value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])),
             helper.make_node("Add", ["x", "z"], ["y"])]
    m = make_model(nodes, [("x", [64, 64])], [("y", [64, 64])], {"shape": _i64(64, 64)})
    g = check_pass(m, ConstantFold(max_growth_bytes=1024), changed=False)
    assert op_counts(g)["ConstantOfShape"] == 1
    check_pass(m, ConstantFold(max_growth_bytes=64 * 64 * 4))
    # the default limit (64 MiB): a 256 MiB Expand is not even evaluated
    nodes = [helper.make_node("Expand", ["one", "shape"], ["z"]), helper.make_node("Add", ["x", "z"], ["y"])]
    big = make_model(nodes, [("x", [8192, 8192])], [("y", [8192, 8192])],
                     {"one": np.ones((1, 1), np.float32), "shape": _i64(8192, 8192)})
    g = to_ir(big)
    assert constant_fold.apply(g) is False and op_counts(g)["Expand"] == 1


def test_constant_node_folded_whatever_its_size():
    value = helper.make_tensor("t", TensorProto.FLOAT, [64], [1.0] * 64)
    nodes = [helper.make_node("Constant", [], ["c"], value=value),
             helper.make_node("Add", ["x", "c"], ["y"])]
    g = check_pass(make_model(nodes, [("x", [64])], [("y", [64])]), ConstantFold(max_growth_bytes=16))
    assert op_counts(g) == {"Add": 1}


def test_random_ops_not_folded():
    nodes = [helper.make_node("RandomUniform", [], ["r"], shape=[3]), helper.make_node("Add", ["x", "r"], ["y"])]
    g = to_ir(make_model(nodes, [("x", [3])], [("y", [3])]))
    assert constant_fold.apply(g) is False


def test_nothing_to_fold():
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", [3])], [("y", [3])])
    check_pass(m, constant_fold, changed=False)


def test_infer_and_fold_for_the_loader():
    # the loader cannot infer a Reshape whose target comes from a Shape chain: infer_and_fold
    # infers node by node and folds as it goes
    from onnx2cedr.loader import proto_to_graph
    from onnx2cedr.passes.constant_fold import infer_and_fold
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Shape", ["r"], ["s"], end=1),
             helper.make_node("Concat", ["s", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["r", "shape"], ["y"])]
    m = make_model(nodes, [("x", [2, 3, 4])], [("y", [2, 12])], {"minus1": _i64(-1)})
    g = proto_to_graph(m, {}, {"x": (2, 3, 4)}, "m")
    assert infer_and_fold(g)
    assert op_counts(g) == {"Relu": 1, "Reshape": 1}
    assert g.values["y"].shape == (2, 12) and g.values["r"].shape == (2, 3, 4)


def test_range_over_one_element_tensors_folds():
    """ONNX's function bodies (AffineGrid's) give Range one-element tensors, not scalars: onnx's shape
    inference rejects them; they fold as the scalars they hold (onnxruntime's reading)."""
    from tests.oncheck import make_model as make_io_model, run_ours

    nodes = [helper.make_node("Range", ["start", "limit", "delta"], ["r"]),
             helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["x", "rf"], ["y"])]
    x = rand(2, 4)
    m = make_io_model(nodes, {"x": x}, ["y"], {"start": _i64(1), "limit": _i64(9), "delta": _i64(2)})
    with pytest.raises(onnx.shape_inference.InferenceError):
        onnx.shape_inference.infer_shapes(m, strict_mode=True)
    y = run_ours(m, {"x": x})[0]
    np.testing.assert_allclose(y, x + np.array([1, 3, 5, 7], np.float32))


def test_range_of_one_element_tensors_with_a_zero_delta_is_not_folded():
    from onnx2cedr.ir import Graph, Node
    from onnx2cedr.passes.constant_fold import evaluate_constant

    g = Graph()
    for k, v in (("a", 0), ("b", 4), ("d", 0)):
        g.add_const(k, _i64(v))
    assert evaluate_constant(g, Node("Range", "r", ["a", "b", "d"], ["r"], {})) is None
