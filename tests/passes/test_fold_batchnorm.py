import numpy as np
import pytest
from onnx import helper
from tests.passes.passutil import assert_close, check_pass, feeds_for, make_model, op_counts, rand, run_ort, to_ir

from onnx2cedr.export_onnx import graph_to_model
from onnx2cedr.ir import Activation
from onnx2cedr.passes import fold_batchnorm


def _bn_inits(c, seed=10):
    rng = np.random.default_rng(seed)
    return {"scale": rng.uniform(0.5, 2, c).astype(np.float32), "bnb": rng.standard_normal(c).astype(np.float32),
            "mean": rng.standard_normal(c).astype(np.float32), "var": rng.uniform(0.1, 3, c).astype(np.float32)}


def _bn(x="c", y="y"):
    return helper.make_node("BatchNormalization", [x, "scale", "bnb", "mean", "var"], [y], epsilon=1e-3, name="bn")


RTOL, ATOL = 1e-4, 1e-5


@pytest.mark.parametrize("spatial,group,bias", [(2, 1, True), (2, 2, False), (1, 1, True), (3, 3, True)],
                         ids=["2d", "2d_groups_nobias", "1d", "3d_groups"])
def test_conv_bn(spatial, group, bias):
    cin, cout, k = 6, 6, 3
    ins = ["x", "w", "b"] if bias else ["x", "w"]
    nodes = [helper.make_node("Conv", ins, ["c"], group=group, pads=[1] * 2 * spatial, name="conv"), _bn()]
    xs = [1, cin] + [5] * spatial
    inits = {"w": rand(cout, cin // group, *[k] * spatial), **_bn_inits(cout)}
    if bias:
        inits["b"] = rand(cout, seed=3)
    g = check_pass(make_model(nodes, [("x", xs)], [("y", [1, cout] + [5] * spatial)], inits), fold_batchnorm,
                   rtol=RTOL, atol=ATOL)
    assert op_counts(g) == {"Conv": 1}
    conv = g.nodes[0]
    assert conv.outputs == ["y"] and conv.fused_from == ["bn"] and len(conv.inputs) == 3
    assert g.values[conv.inputs[1]].dtype == np.float32 and g.values[conv.inputs[2]].shape == (cout,)


@pytest.mark.parametrize("group", [1, 2])
def test_convtranspose_bn(group):
    cin, cout = 4, 6
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["c"], group=group, strides=[2, 2], name="deconv"),
             _bn()]
    inits = {"w": rand(cin, cout // group, 3, 3), **_bn_inits(cout)}
    g = check_pass(make_model(nodes, [("x", [1, cin, 4, 4])], [("y", [1, cout, 9, 9])], inits), fold_batchnorm,
                   rtol=RTOL, atol=ATOL)
    assert op_counts(g) == {"ConvTranspose": 1}


@pytest.mark.parametrize("trans_b,bias_shape", [(0, None), (1, (5,)), (0, (1, 5)), (1, (3, 5))])
def test_gemm_bn(trans_b, bias_shape):
    ins = ["x", "w"] + (["cb"] if bias_shape else [])
    nodes = [helper.make_node("Gemm", ins, ["c"], transB=trans_b, alpha=0.5, beta=2.0, name="gemm"), _bn()]
    inits = {"w": rand(5, 4) if trans_b else rand(4, 5), **_bn_inits(5)}
    if bias_shape:
        inits["cb"] = rand(*bias_shape, seed=5)
    g = check_pass(make_model(nodes, [("x", [3, 4])], [("y", [3, 5])], inits), fold_batchnorm, rtol=RTOL, atol=ATOL)
    assert op_counts(g) == {"Gemm": 1}


def test_matmul_bn_becomes_gemm():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["c"], name="mm"), _bn()]
    m = make_model(nodes, [("x", [3, 4])], [("y", [3, 5])], {"w": rand(4, 5), **_bn_inits(5)})
    g = check_pass(m, fold_batchnorm, rtol=RTOL, atol=ATOL)
    assert op_counts(g) == {"Gemm": 1} and g.nodes[0].outputs == ["y"]


@pytest.mark.parametrize("swap", [False, True])
def test_matmul_add_bn(swap):
    add_in = ["bias", "mm"] if swap else ["mm", "bias"]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"], name="mm"),
             helper.make_node("Add", add_in, ["c"], name="add"), _bn()]
    m = make_model(nodes, [("x", [3, 4])], [("y", [3, 5])], {"w": rand(4, 5), "bias": rand(5, seed=2), **_bn_inits(5)})
    g = check_pass(m, fold_batchnorm, rtol=RTOL, atol=ATOL)
    assert op_counts(g) == {"MatMul": 1, "Add": 1}


def test_graph_output_name_survives():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"), _bn(y="out")]
    m = make_model(nodes, [("x", [1, 2, 4, 4])], [("out", [1, 3, 4, 4])], {"w": rand(3, 2, 1, 1), **_bn_inits(3)})
    g = check_pass(m, fold_batchnorm, rtol=RTOL, atol=ATOL)
    assert g.nodes[0].outputs == ["out"] and "c" not in g.values


def test_shared_weight_is_not_modified_in_place():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"), _bn(),
             helper.make_node("Conv", ["x", "w"], ["y2"], name="conv2")]
    m = make_model(nodes, [("x", [1, 2, 4, 4])], [("y", [1, 3, 4, 4]), ("y2", [1, 3, 4, 4])],
                   {"w": rand(3, 2, 1, 1), **_bn_inits(3)})
    g = check_pass(m, fold_batchnorm, rtol=RTOL, atol=ATOL)
    assert g.nodes[-1].inputs[1] == "w" and g.nodes[0].inputs[1] != "w"


# ---- legality: each of these must be left alone ----
def _conv_bn_model(extra_nodes=(), outputs=(("y", [1, 3, 4, 4]),), weight_input=False, bn_const=True):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"), _bn()] + list(extra_nodes)
    inits = {"w": rand(3, 2, 1, 1), **_bn_inits(3)}
    inputs = [("x", [1, 2, 4, 4])]
    if weight_input:
        del inits["w"]
        inputs.append(("w", [3, 2, 1, 1]))
    if not bn_const:
        del inits["mean"]
        inputs.append(("mean", [3]))
    return make_model(nodes, inputs, list(outputs), inits)


def test_not_folded_when_conv_output_has_two_consumers():
    m = _conv_bn_model([helper.make_node("Relu", ["c"], ["r"])], [("y", [1, 3, 4, 4]), ("r", [1, 3, 4, 4])])
    g = check_pass(m, fold_batchnorm, changed=False)
    assert op_counts(g)["BatchNormalization"] == 1


def test_not_folded_when_conv_output_is_graph_output():
    m = _conv_bn_model(outputs=[("y", [1, 3, 4, 4]), ("c", [1, 3, 4, 4])])
    check_pass(m, fold_batchnorm, changed=False)


def test_not_folded_with_non_constant_weights():
    check_pass(_conv_bn_model(weight_input=True), fold_batchnorm, changed=False)


def test_not_folded_with_non_constant_statistics():
    check_pass(_conv_bn_model(bn_const=False), fold_batchnorm, changed=False)


def test_not_folded_after_fused_activation():
    g = to_ir(_conv_bn_model())
    g.nodes[0].act = Activation("Relu", {}, "r")
    assert fold_batchnorm.apply(g) is False


def test_not_folded_after_batched_matmul():
    # MatMul with a 3-D result: BN's channel axis is not the weight's column axis
    nodes = [helper.make_node("MatMul", ["x", "w"], ["c"]), _bn()]
    m = make_model(nodes, [("x", [2, 3, 4])], [("y", [2, 3, 5])], {"w": rand(4, 5), **_bn_inits(3)})
    check_pass(m, fold_batchnorm, changed=False)


def test_bn_with_fused_activation_moves_it_to_the_conv():
    m = _conv_bn_model()
    g = to_ir(m)
    g.nodes[1].act = Activation("Relu", {}, "relu")
    feeds = feeds_for(g)
    ref = run_ort(graph_to_model(g), feeds)
    assert fold_batchnorm.apply(g)
    assert op_counts(g) == {"Conv": 1} and g.nodes[0].act.op == "Relu"
    assert_close(ref, run_ort(graph_to_model(g), feeds), rtol=RTOL, atol=ATOL)
