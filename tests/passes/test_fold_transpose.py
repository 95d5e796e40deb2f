import numpy as np
import pytest
from onnx import helper
from tests.passes.passutil import check_pass, make_model, op_counts, rand, run_ort, feeds_for, to_ir, assert_close

from onnx2cedr.export_onnx import graph_to_model
from onnx2cedr.passes import fold_transpose, optimize

TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _t(x, y, perm, name=None):
    return helper.make_node("Transpose", [x], [y], perm=perm, name=name or f"T_{y}")


def _nhwc_cnn(flatten="Reshape", trans_b=False):
    """What a channels-last exporter emits without its own layout optimizer: every Conv wrapped in
    Transposes, bias and BatchNorm as per-last-axis Add/Mul, Flatten of the NHWC tensor, Dense."""
    n, h, w, c1, c2, k = 2, 6, 6, 4, 5, 7
    nodes = [_t("x", "x_nchw", TO_NCHW),
             helper.make_node("Conv", ["x_nchw", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             _t("c1", "c1_nhwc", TO_NHWC),
             helper.make_node("Add", ["c1_nhwc", "b1"], ["a1"], name="bias1"),
             helper.make_node("Mul", ["a1", "s1"], ["m1"], name="bn1_mul"),
             helper.make_node("Add", ["m1", "t1"], ["bn1"], name="bn1_add"),
             helper.make_node("Relu", ["bn1"], ["r1"], name="relu1"),
             _t("r1", "r1_nchw", TO_NCHW),
             helper.make_node("Conv", ["r1_nchw", "w2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
             _t("c2", "c2_nhwc", TO_NHWC),
             helper.make_node("Add", ["c2_nhwc", "b2"], ["a2"], name="bias2"),
             helper.make_node("Relu", ["a2"], ["r2"], name="relu2")]
    if flatten == "Reshape":
        nodes.append(helper.make_node("Reshape", ["r2", "shape"], ["flat"], name="flatten"))
    else:
        nodes.append(helper.make_node("Flatten", ["r2"], ["flat"], axis=1, name="flatten"))
    feat = h * w * c2
    fw = rand(k, feat, seed=5, scale=0.1) if trans_b else rand(feat, k, seed=5, scale=0.1)
    nodes.append(helper.make_node("Gemm", ["flat", "fw", "fb"], ["y"], transB=int(trans_b), name="dense"))
    inits = {"w1": rand(c1, 3, 3, 3, seed=1), "b1": rand(c1, seed=2), "s1": rand(1, 1, c1, seed=3),
             "t1": rand(c1, seed=4), "w2": rand(c2, c1, 3, 3, seed=6), "b2": rand(1, 1, 1, c2, seed=7),
             "shape": np.array([n, -1], np.int64), "fw": fw, "fb": rand(k, seed=8)}
    return make_model(nodes, [("x", [n, h, w, 3])], [("y", [n, k])], inits)


@pytest.mark.parametrize("flatten,trans_b", [("Reshape", False), ("Flatten", True)])
def test_channels_last_cnn_keeps_only_the_input_transpose(flatten, trans_b):
    g = check_pass(_nhwc_cnn(flatten, trans_b), fold_transpose)
    transposes = [n for n in g.nodes if n.op == "Transpose"]
    assert len(transposes) == 1 and transposes[0].inputs == ["x"]
    # the bias/BN constants were permuted into the NCHW layout the Conv writes
    assert g.values[g.nodes[2].inputs[1]].shape == (1, 4, 1, 1)


def test_full_pipeline_fuses_what_the_transposes_separated():
    m = _nhwc_cnn()
    g = to_ir(m)
    feeds = feeds_for(g)
    ref = run_ort(m, feeds)
    optimize(g)
    assert_close(ref, run_ort(graph_to_model(g), feeds), rtol=1e-4)
    # biases, the Mul/Add BatchNorm and the Relus went into the Convs; the Flatten's Transpose went
    # into the Dense weight: what is left is what the channels-first model lowers to
    assert op_counts(g) == {"Transpose": 1, "Conv": 2, "Reshape": 1, "Gemm": 1}
    assert all(n.act.op == "Relu" and len(n.inputs) == 3 for n in g.nodes if n.op == "Conv")


def test_pair_to_identity_keeps_graph_output_name():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), _t("r", "a", [0, 2, 1]), _t("a", "y", [0, 2, 1])]
    g = check_pass(make_model(nodes, [("x", [2, 3, 4])], [("y", [2, 3, 4])]), fold_transpose)
    assert op_counts(g) == {"Relu": 1, "Identity": 1}


def test_pair_merged_into_one():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), _t("r", "a", [0, 2, 3, 1]), _t("a", "b", [0, 2, 1, 3]),
             helper.make_node("Sigmoid", ["b"], ["y"])]
    g = check_pass(make_model(nodes, [("x", [1, 2, 3, 4])], [("y", [1, 4, 3, 2])]), fold_transpose)
    assert [n.op for n in g.nodes] == ["Relu", "Sigmoid", "Transpose"]  # merged, then sunk to the output
    assert g.nodes[2].attrs["perm"] == [0, 3, 2, 1] and g.nodes[2].outputs == ["y"]


def test_both_operands_transposed_alike():
    nodes = [_t("x", "xa", [0, 2, 1]), _t("z", "za", [0, 2, 1]), helper.make_node("Add", ["xa", "za"], ["s"]),
             helper.make_node("Relu", ["s"], ["r"]), _t("r", "y", [0, 2, 1])]
    g = check_pass(make_model(nodes, [("x", [2, 3, 4]), ("z", [2, 3, 4])], [("y", [2, 3, 4])]), fold_transpose)
    assert op_counts(g) == {"Add": 1, "Relu": 1, "Identity": 1}


def test_left_alone_when_not_exact_or_not_worth_it():
    # read twice: sinking would duplicate the Transpose
    twice = [helper.make_node("Relu", ["x"], ["r"]), _t("r", "a", [0, 2, 1]), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Sigmoid", ["a"], ["c"]), helper.make_node("Add", ["b", "c"], ["y"])]
    check_pass(make_model(twice, [("x", [2, 3, 4])], [("y", [2, 4, 3])]), fold_transpose, changed=False)
    # the Add broadcasts the transposed tensor to a bigger shape
    grow = [helper.make_node("Relu", ["x"], ["r"]), _t("r", "a", [1, 0]), helper.make_node("Add", ["a", "k"], ["y"])]
    check_pass(make_model(grow, [("x", [1, 3])], [("y", [2, 3, 1])], {"k": rand(2, 3, 1)}), fold_transpose,
               changed=False)
    # the batch axis moves: flattening is not a reordering of features
    batch = [helper.make_node("Relu", ["x"], ["r"]), _t("r", "a", [1, 0, 2]),
             helper.make_node("Reshape", ["a", "s"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["y"])]
    check_pass(make_model(batch, [("x", [2, 3, 4])], [("y", [3, 5])], {"s": np.array([3, 8], np.int64),
                                                                      "w": rand(8, 5)}), fold_transpose,
               changed=False)
    # a Dense layer whose weight is computed at run time
    dyn = [helper.make_node("Relu", ["x"], ["r"]), _t("r", "a", [0, 2, 1]), helper.make_node("Flatten", ["a"], ["f"]),
           helper.make_node("MatMul", ["f", "w"], ["y"])]
    check_pass(make_model(dyn, [("x", [2, 3, 4]), ("w", [12, 5])], [("y", [2, 5])]), fold_transpose, changed=False)


def test_matmul_weight_shared_by_two_readers_is_not_changed_in_place():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), _t("r", "a", [0, 2, 1]), helper.make_node("Flatten", ["a"], ["f"]),
             helper.make_node("MatMul", ["f", "w"], ["y"]), helper.make_node("MatMul", ["z", "w"], ["y2"])]
    m = make_model(nodes, [("x", [2, 3, 4]), ("z", [2, 12])], [("y", [2, 5]), ("y2", [2, 5])], {"w": rand(12, 5)})
    g = check_pass(m, fold_transpose)
    assert "Transpose" not in op_counts(g)
    np.testing.assert_array_equal(g.values["w"].data, rand(12, 5))
