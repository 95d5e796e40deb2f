from onnx import helper
from tests.passes.passutil import check_pass, make_model, op_counts, rand

from onnx2cedr.passes import fold_channel_scale


def test_conv_mul_per_channel_folded():
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Mul", ["s", "c"], ["m"], name="bn_mul"),
             helper.make_node("Relu", ["m"], ["y"])]
    m = make_model(nodes, [("x", [1, 3, 5, 5])], [("y", [1, 4, 5, 5])],
                   {"w": rand(4, 3, 3, 3), "b": rand(4, seed=1), "s": rand(4, 1, 1, seed=2)})
    g = check_pass(m, fold_channel_scale)
    assert op_counts(g) == {"Conv": 1, "Relu": 1}
    assert g.nodes[0].fused_from == ["bn_mul"]


def test_gemm_and_matmul_column_scale_folded():
    nodes = [helper.make_node("Gemm", ["x", "w"], ["a"], transB=1), helper.make_node("Mul", ["a", "s"], ["b"]),
             helper.make_node("MatMul", ["b", "w2"], ["c"]), helper.make_node("Mul", ["c", "s2"], ["y"])]
    m = make_model(nodes, [("x", [2, 6])], [("y", [2, 3])],
                   {"w": rand(5, 6), "s": rand(1, 5, seed=1), "w2": rand(5, 3, seed=2), "s2": rand(3, seed=3)})
    g = check_pass(m, fold_channel_scale)
    assert op_counts(g) == {"Gemm": 2}


def test_not_per_channel_or_shared_left_alone():
    spatial = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Mul", ["c", "s"], ["y"])]
    check_pass(make_model(spatial, [("x", [1, 3, 5, 5])], [("y", [1, 4, 3, 3])],
                          {"w": rand(4, 3, 3, 3), "s": rand(1, 1, 3, 3, seed=1)}), fold_channel_scale, changed=False)
    shared = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Mul", ["c", "s"], ["y"]),
              helper.make_node("Relu", ["c"], ["z"])]
    check_pass(make_model(shared, [("x", [1, 3, 5, 5])], [("y", [1, 4, 3, 3]), ("z", [1, 4, 3, 3])],
                          {"w": rand(4, 3, 3, 3), "s": rand(4, 1, 1, seed=1)}), fold_channel_scale, changed=False)
    runtime = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Mul", ["c", "s"], ["y"])]
    check_pass(make_model(runtime, [("x", [1, 3, 5, 5]), ("s", [4, 1, 1])], [("y", [1, 4, 3, 3])],
                          {"w": rand(4, 3, 3, 3)}), fold_channel_scale, changed=False)


def test_float64_matmul_column_scale_left_alone():
    """A MatMul would become a Gemm, whose lowering is float32 only: a float64 product keeps its Mul."""
    from onnx import TensorProto

    nodes = [helper.make_node("MatMul", ["x", "w"], ["c"]), helper.make_node("Mul", ["c", "s"], ["y"])]
    d = TensorProto.DOUBLE
    m = make_model(nodes, [helper.make_tensor_value_info("x", d, [2, 5])], [helper.make_tensor_value_info("y", d, [2, 3])],
                   {"w": rand(5, 3).astype("float64"), "s": rand(3, seed=1).astype("float64")})
    check_pass(m, fold_channel_scale, changed=False)
