"""fold_if: an If whose condition is constant once shapes are fixed is replaced by its taken branch
(nested Ifs too); the loader refuses one whose condition depends on a graph input in one line.
Also constant_fold's larger cap for chains that make weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tests.passes.passutil import assert_close, feeds_for, make_model, op_counts, run_ort, to_ir

from models.vad import nested_shape_if
from onnx2cedr.compiler import compile_model
from onnx2cedr.errors import ModelError, O2CError, UnsupportedError
from onnx2cedr.export_onnx import graph_to_model
from onnx2cedr.loader import load_model
from onnx2cedr.passes.constant_fold import ConstantFold
from onnx2cedr.passes.fold_if import PASS as fold_if

F = TensorProto.FLOAT


def _branch(nodes, out, inits=()):
    return helper.make_graph(nodes, "b", [], [helper.make_tensor_value_info(out, F, None)],
                             initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])


def _loaded_matches_onnxruntime(model: onnx.ModelProto, seed: int = 1):
    """Load (folding Ifs), export the IR and compare it with the original under onnxruntime."""
    g, _ = load_model(model)
    assert "If" not in op_counts(g)
    feeds = feeds_for(g, seed)
    exported = graph_to_model(g)
    onnx.checker.check_model(exported, full_check=True)
    assert_close(run_ort(model, feeds), run_ort(exported, feeds), rtol=1e-5, atol=1e-6)
    return g


@pytest.mark.parametrize("length,ops", [(4000, {"Conv", "Relu", "Mul", "Sigmoid"}),  # then, then nested then
                                        (3000, {"Abs", "AveragePool", "Sigmoid"})])  # else
def test_shape_condition_and_nested_if_fold(length, ops):
    g = _loaded_matches_onnxruntime(nested_shape_if(length))
    assert set(op_counts(g)) == ops
    if length == 4000:  # branch names that collide with nothing keep their names
        assert "h" in g.values and any(n.name == "conv" for n in g.nodes)


def test_nested_if_else_branch_reads_branch_local_values():
    # the inner If's condition is false here (a Shape of a 0-channel slice): its else branch reads h,
    # a value of the outer branch, renamed because the main graph already has an 'h'
    inner_then = _branch([helper.make_node("Relu", ["h"], ["it"])], "it")
    inner_else = _branch([helper.make_node("Neg", ["h"], ["ie"])], "ie")
    then = _branch([helper.make_node("Mul", ["x", "k"], ["h"]),
                    helper.make_node("Shape", ["h"], ["hs"], start=0, end=0),
                    helper.make_node("ReduceSum", ["hs"], ["n"], keepdims=0),
                    helper.make_node("Cast", ["n"], ["c2"], to=TensorProto.BOOL),
                    helper.make_node("If", ["c2"], ["t"], then_branch=inner_then, else_branch=inner_else)],
                   "t", {"k": np.float32(3.0)})
    els = _branch([helper.make_node("Neg", ["x"], ["e"])], "e")
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ReduceProd", ["s"], ["p"], keepdims=0),
             helper.make_node("Equal", ["p", "six"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=els),
             helper.make_node("Add", ["x", "x"], ["h"]),
             helper.make_node("Add", ["y", "h"], ["z"])]
    m = make_model(nodes, [("x", [2, 3])], [("z", [2, 3])], {"six": np.array(6, np.int64)})
    g, _ = load_model(m)
    assert op_counts(g) == {"Mul": 1, "Neg": 1, "Add": 2}
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    got = run_ort(graph_to_model(g), {"x": x})["z"]
    np.testing.assert_allclose(got, -(3 * x) + 2 * x, rtol=1e-6)


def test_branch_outputs_that_are_outer_values_or_initializers():
    # then: the If's outputs are an outer value (x) and a branch initializer; Identity copies them
    then = helper.make_graph([], "then", [], [helper.make_tensor_value_info("x", F, None),
                                              helper.make_tensor_value_info("w", F, None)],
                             initializer=[numpy_helper.from_array(np.full((2, 3), 5, np.float32), "w")])
    els = helper.make_graph([helper.make_node("Neg", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"])], "else",
                            [], [helper.make_tensor_value_info("a", F, None), helper.make_tensor_value_info("b", F, None)])
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ReduceProd", ["s"], ["p"], keepdims=0),
             helper.make_node("Equal", ["p", "six"], ["c"]),
             helper.make_node("If", ["c"], ["y1", "y2"], then_branch=then, else_branch=els),
             helper.make_node("Mul", ["y1", "y2"], ["z"])]
    m = make_model(nodes, [("x", [2, 3])], [("z", [2, 3])], {"six": np.array(6, np.int64)})
    g, _ = load_model(m)  # (onnxruntime refuses a branch output that is an outer value: no reference run)
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    np.testing.assert_array_equal(run_ort(graph_to_model(g), {"x": x})["z"], 5 * x)


def test_if_before_the_producer_of_a_value_its_branch_reads():
    # the If's only declared input is a constant; its branch reads h3, made by a chain that a
    # topological sort of declared inputs alone would schedule after the If
    then = _branch([helper.make_node("Relu", ["h3"], ["t"])], "t")
    els = _branch([helper.make_node("Neg", ["h3"], ["e"])], "e")
    nodes = [helper.make_node("Neg", ["x"], ["h1"]), helper.make_node("Neg", ["h1"], ["h2"]),
             helper.make_node("Neg", ["h2"], ["h3"]),
             helper.make_node("If", ["yes"], ["y"], then_branch=then, else_branch=els)]
    m = make_model(nodes, [("x", [2, 3])], [("y", [2, 3])], {"yes": np.array(True)})
    assert op_counts(_loaded_matches_onnxruntime(m)) == {"Neg": 3, "Relu": 1}


def _sr_model():
    then = _branch([helper.make_node("Relu", ["x"], ["t"])], "t")
    els = _branch([helper.make_node("Neg", ["x"], ["e"])], "e")
    nodes = [helper.make_node("Equal", ["sr", "k"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=els, name="pick")]
    return make_model(nodes, [("x", [2, 3]), helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
                      [("y", [2, 3])], {"k": np.array(16000, np.int64)})


def test_condition_on_a_graph_input_keeps_both_branches_under_guards():
    """Decided at run time: both branches inlined, each node guarded by the condition, and an IfSelect
    copying the taken branch's value into the If's output; the compiled model computes what
    onnxruntime computes for either value of the input."""
    import onnxruntime as ort

    from onnx2cedr import convert
    from onnx2cedr.runner import ModelLibrary

    g, _ = load_model(_sr_model())
    assert op_counts(g) == {"Equal": 1, "Relu": 1, "Neg": 1, "IfSelect": 1}
    relu, neg = (next(n for n in g.nodes if n.op == op) for op in ("Relu", "Neg"))
    assert g.guard(relu) == (("c", True),) and g.guard(neg) == (("c", False),)
    sel = next(n for n in g.nodes if n.op == "IfSelect")
    assert sel.inputs == ["c", relu.outputs[0], neg.outputs[0]] and sel.outputs == ["y"] and g.guard(sel) == ()
    import tempfile
    from pathlib import Path

    m = _sr_model()
    with tempfile.TemporaryDirectory() as tmp:
        convert(m, Path(tmp) / "m", artifacts=("lib",))
        lib = ModelLibrary(Path(tmp) / "m")
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
        for sr in (16000, 8000):
            feeds = {"x": x, "sr": np.array(sr, np.int64)}
            np.testing.assert_array_equal(lib.run([feeds[n] for n, _, _ in lib.inputs])[0], sess.run(None, feeds)[0])


def test_branches_of_different_shapes_are_one_line_naming_the_input():
    then = _branch([helper.make_node("Relu", ["x"], ["t"])], "t")
    els = _branch([helper.make_node("ReduceSum", ["x"], ["e"], keepdims=1)], "e")
    nodes = [helper.make_node("Equal", ["sr", "k"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=els, name="pick")]
    m = make_model(nodes, [("x", [2, 3]), helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
                   [("y", None)], {"k": np.array(16000, np.int64)})
    with pytest.raises(O2CError) as e:
        load_model(m)
    msg = str(e.value)
    assert "\n" not in msg
    assert "If 'pick': decided at run time, its branches must give outputs of the same shape" in msg
    assert "bind it with --const sr=VALUE" in msg


@pytest.mark.parametrize("sr,op", [(16000, "Relu"), (8000, "Neg"), (np.int64(16000), "Relu")])
def test_bound_input_folds_the_if(sr, op):
    g, _ = load_model(_sr_model(), consts={"sr": sr})
    assert g.inputs == ["x"] and op_counts(g) == {op: 1}
    np.testing.assert_array_equal(g.bound_inputs["sr"], np.array(sr, np.int64))


@pytest.mark.parametrize("consts,msg", [
    ({"rate": 1}, "--const names 'rate', which is not a graph input (inputs: sr, x)"),
    ({"sr": 1.5}, "const 'sr': input 'sr' is int64, which cannot hold [1.5]"),
    ({"sr": [1, 2]}, "--const sr: 2 value(s) given, the input has shape [] (1 element(s))"),
    ({"sr": "16k"}, "--const sr=16k: '16k' is not a value of type int64"),
    ({"x": "1,2,3,4,5,6,7"}, "--const x: 7 value(s) given, the input has shape [2, 3] (6 element(s))"),
])
def test_bad_bindings_are_one_line(consts, msg):
    with pytest.raises(ModelError) as e:
        load_model(_sr_model(), consts=consts)
    assert str(e.value) == msg


def test_float_input_bound_from_a_comma_list():
    g, _ = load_model(_sr_model(), consts={"x": "1,-2,3,-4,5,-6", "sr": "8000"})
    assert g.inputs == [] and g.values["y"].is_const
    np.testing.assert_array_equal(g.values["y"].data, [[-1, 2, -3], [4, -5, 6]])


def test_pass_apply_inlines_constant_conditions_and_keeps_the_rest():
    # outer If on an initializer (True) holding an If on another initializer (False); a third If on
    # a graph input stays
    inner = helper.make_node("If", ["no"], ["t"], then_branch=_branch([helper.make_node("Relu", ["x"], ["a"])], "a"),
                             else_branch=_branch([helper.make_node("Neg", ["x"], ["b"])], "b"))
    nodes = [helper.make_node("If", ["yes"], ["y"], then_branch=_branch([inner], "t"),
                              else_branch=_branch([helper.make_node("Abs", ["x"], ["e"])], "e")),
             helper.make_node("If", ["flag"], ["y2"], then_branch=_branch([helper.make_node("Relu", ["y"], ["f"])], "f"),
                              else_branch=_branch([helper.make_node("Abs", ["y"], ["g"])], "g"))]
    m = make_model(nodes, [("x", [2, 3]), helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
                   [("y2", [2, 3])], {"yes": np.array(True), "no": np.array(False)})
    g = to_ir(m)
    assert fold_if.apply(g)
    assert op_counts(g) == {"Neg": 1, "If": 1}
    assert not fold_if.apply(g)
    g.add_value("y2", np.float32, (2, 3))  # the kept If's shape: the IR infers no If
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    for flag in (True, False):
        feeds = {"x": x, "flag": np.array(flag)}
        assert_close(run_ort(m, feeds), run_ort(graph_to_model(g), feeds), rtol=0, atol=0)


# ---- constant_fold: chains that make weights fold up to the larger cap


def _cos_model(consumer: str):
    w_shape = np.array([64, 64], np.int64)
    nodes = [helper.make_node("ConstantOfShape", ["wshape"], ["w"],
                              value=numpy_helper.from_array(np.array([0.5], np.float32))),
             helper.make_node("Transpose", ["w"], ["wt"]),
             helper.make_node("MatMul" if consumer == "MatMul" else "Add", ["x", "wt"], ["y"])]
    return make_model(nodes, [("x", [64, 64])], [("y", [64, 64])], {"wshape": w_shape})


@pytest.mark.parametrize("consumer,folds", [("MatMul", True), ("Add", False)])
def test_weight_chains_fold_above_the_growth_cap(consumer, folds):
    g = to_ir(_cos_model(consumer))
    feeds = feeds_for(g)
    ref = run_ort(_cos_model(consumer), feeds)
    cf = ConstantFold(max_growth_bytes=1024, max_weight_bytes=64 * 64 * 4)
    assert cf.apply(g) is folds
    assert ("ConstantOfShape" in op_counts(g)) is not folds
    assert_close(ref, run_ort(graph_to_model(g), feeds), rtol=1e-6, atol=1e-6)
    # above the weight cap, nothing folds
    g2 = to_ir(_cos_model(consumer))
    assert not ConstantFold(max_growth_bytes=1024, max_weight_bytes=1024).apply(g2)


def test_onnx_wheel_alexnet_weights_made_by_constantofshape_fold():
    # light_bvlc_alexnet makes every weight with ConstantOfShape; fc6's (9216x4096 floats, 144 MiB)
    # is above the 64 MiB growth cap and was recomputed on every run before
    import onnx.backend.test

    path = Path(onnx.backend.test.__file__).parent / "data" / "light" / "light_bvlc_alexnet.onnx"
    if not path.is_file():
        pytest.skip("the onnx wheel ships no light models here")
    c = compile_model(str(path))
    assert "ConstantOfShape" not in {p.node.op for p in c.plan.nodes}
    fc6 = [n for n in c.graph.nodes if n.op == "Gemm" and c.graph.values[n.input(1)].shape in ((4096, 9216), (9216, 4096))]
    assert len(fc6) == 1 and c.graph.values[fc6[0].input(1)].is_const
