import pytest
from onnx import helper
from tests.passes.passutil import assert_close, check_pass, feeds_for, make_model, op_counts, rand, run_ort, to_ir

from onnx2cedr.export_onnx import graph_to_model
from onnx2cedr.ir import Activation
from onnx2cedr.passes import fuse_bias


@pytest.mark.parametrize("spatial,bias_shape,conv_bias,swap", [
    (2, (1, 4, 1, 1), False, False), (2, (4, 1, 1), True, False), (2, (1,), False, True), (2, (), True, False),
    (1, (4, 1), True, True), (3, (4, 1, 1, 1), False, False)],
    ids=["1c11", "c11_existing_bias", "single_value_swapped", "scalar", "1d_c1", "3d"])
def test_conv_add(spatial, bias_shape, conv_bias, swap):
    ins = ["x", "w", "b"] if conv_bias else ["x", "w"]
    add_in = ["k", "c"] if swap else ["c", "k"]
    nodes = [helper.make_node("Conv", ins, ["c"], name="conv"), helper.make_node("Add", add_in, ["y"], name="add")]
    inits = {"w": rand(4, 2, *[1] * spatial), "k": rand(*bias_shape, seed=7)}
    if conv_bias:
        inits["b"] = rand(4, seed=8)
    m = make_model(nodes, [("x", [1, 2] + [3] * spatial)], [("y", [1, 4] + [3] * spatial)], inits)
    g = check_pass(m, fuse_bias)
    assert op_counts(g) == {"Conv": 1}
    conv = g.nodes[0]
    assert conv.outputs == ["y"] and conv.fused_from == ["add"] and g.values[conv.inputs[2]].shape == (4,)


def test_convtranspose_add():
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["c"], group=2), helper.make_node("Add", ["c", "k"], ["y"])]
    m = make_model(nodes, [("x", [1, 2, 3, 3])], [("y", [1, 6, 5, 5])], {"w": rand(2, 3, 3, 3), "k": rand(6, 1, 1)})
    g = check_pass(m, fuse_bias)
    assert op_counts(g) == {"ConvTranspose": 1}


@pytest.mark.parametrize("bias_shape", [(1, 4, 3, 3), (3,), (1, 1, 3, 1)], ids=["full", "along_width", "along_height"])
def test_conv_add_not_per_channel_kept(bias_shape):
    # note (C,) on a 2-D conv's (N,C,H,W) output broadcasts along the width, not the channels
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Add", ["c", "k"], ["y"])]
    m = make_model(nodes, [("x", [1, 2, 3, 3])], [("y", [1, 4, 3, 3])], {"w": rand(4, 2, 1, 1), "k": rand(*bias_shape)})
    g = check_pass(m, fuse_bias, changed=False)
    assert op_counts(g)["Add"] == 1


def test_conv_add_broadcast_that_grows_output_kept():
    # (C,1,1) + conv output (1,C,H,W) is fine; but (2,C,1,1) makes the result bigger than the conv's
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Add", ["c", "k"], ["y"])]
    m = make_model(nodes, [("x", [1, 2, 3, 3])], [("y", [2, 4, 3, 3])], {"w": rand(4, 2, 1, 1), "k": rand(2, 4, 1, 1)})
    check_pass(m, fuse_bias, changed=False)


def test_conv_add_legality():
    # the conv's output is also read elsewhere / is a graph output / the added value is not constant
    base = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Add", ["c", "k"], ["y"])]
    inits = {"w": rand(4, 2, 1, 1), "k": rand(4, 1, 1)}
    x, y = ("x", [1, 2, 3, 3]), ("y", [1, 4, 3, 3])
    check_pass(make_model(base + [helper.make_node("Relu", ["c"], ["r"])], [x], [y, ("r", [1, 4, 3, 3])], inits),
               fuse_bias, changed=False)
    check_pass(make_model(base, [x], [y, ("c", [1, 4, 3, 3])], inits), fuse_bias, changed=False)
    del inits["k"]
    check_pass(make_model(base, [x, ("k", [4, 1, 1])], [y], inits), fuse_bias, changed=False)


@pytest.mark.parametrize("bias_shape", [(5,), (1, 5), ()])
def test_matmul_add_becomes_gemm(bias_shape):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"], name="mm"), helper.make_node("Add", ["mm", "b"], ["y"])]
    m = make_model(nodes, [("x", [3, 4])], [("y", [3, 5])], {"w": rand(4, 5), "b": rand(*bias_shape, seed=2)})
    g = check_pass(m, fuse_bias)
    assert op_counts(g) == {"Gemm": 1}
    gemm = g.nodes[0]
    assert gemm.outputs == ["y"] and gemm.name == "mm" and g.values[gemm.inputs[2]].shape == (5,)


def test_batched_matmul_add_kept():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["y"])]
    m = make_model(nodes, [("x", [2, 3, 4])], [("y", [2, 3, 5])], {"w": rand(4, 5), "b": rand(5)})
    g = check_pass(m, fuse_bias, changed=False)
    assert op_counts(g) == {"MatMul": 1, "Add": 1}


def test_matmul_add_row_bias_kept():
    # a (M,1) bias is not a per-output-column bias
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["y"])]
    m = make_model(nodes, [("x", [3, 4])], [("y", [3, 5])], {"w": rand(4, 5), "b": rand(3, 1)})
    check_pass(m, fuse_bias, changed=False)


def test_matmul_with_non_constant_weight_kept():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["y"])]
    m = make_model(nodes, [("x", [3, 4]), ("w", [4, 5])], [("y", [3, 5])], {"b": rand(5)})
    check_pass(m, fuse_bias, changed=False)


@pytest.mark.parametrize("c_shape,add_shape", [(None, (5,)), ((5,), (1, 5)), ((3, 5), (5,)), ((1, 5), (3, 1))])
def test_gemm_add(c_shape, add_shape):
    ins = ["x", "w"] + (["c0"] if c_shape else [])
    nodes = [helper.make_node("Gemm", ins, ["g"], beta=0.5, transB=1), helper.make_node("Add", ["g", "b"], ["y"])]
    inits = {"w": rand(5, 4), "b": rand(*add_shape, seed=3)}
    if c_shape:
        inits["c0"] = rand(*c_shape, seed=4)
    g = check_pass(make_model(nodes, [("x", [3, 4])], [("y", [3, 5])], inits), fuse_bias)
    assert op_counts(g) == {"Gemm": 1}


def test_add_with_fused_activation_moves_it_to_the_conv():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Add", ["c", "k"], ["y"], name="add")]
    inits = {"w": rand(4, 2, 1, 1), "k": rand(4, 1, 1)}
    g = to_ir(make_model(nodes, [("x", [1, 2, 3, 3])], [("y", [1, 4, 3, 3])], inits))
    g.nodes[1].act = Activation("Clip", {"min": 0.0, "max": 6.0}, "clip")
    feeds = feeds_for(g)
    ref = run_ort(graph_to_model(g), feeds)
    assert fuse_bias.apply(g)
    assert op_counts(g) == {"Conv": 1} and g.nodes[0].act.op == "Clip"
    assert_close(ref, run_ort(graph_to_model(g), feeds))
