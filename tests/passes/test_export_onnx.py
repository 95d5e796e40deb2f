import math

import numpy as np
import onnx
from onnx import TensorProto, helper
from tests.passes.passutil import assert_close, feeds_for, make_model, rand, run_ort, to_ir

from onnx2cedr.export_onnx import graph_to_model
from onnx2cedr.ir import Activation


def _conv_model():
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    return make_model(nodes, [("x", [1, 3, 6, 6])], [("y", [1, 4, 6, 6])],
                      {"w": rand(4, 3, 3, 3), "b": rand(4, seed=2)})


def test_roundtrip_is_valid_and_equal():
    m = _conv_model()
    g = to_ir(m)
    out = graph_to_model(g)
    assert out.ir_version == 10
    assert out.opset_import[0].version == g.opset
    onnx.checker.check_model(out, full_check=True)
    names = {v.name for v in out.graph.value_info}
    assert "c" in names and {i.name for i in out.graph.initializer} == {"w", "b"}
    f = feeds_for(g)
    assert_close(run_ort(m, f), run_ort(out, f))


def test_fused_activation_is_reexpanded():
    m = make_model([helper.make_node("Add", ["x", "z"], ["y"], name="add")],
                   [("x", [2, 5]), ("z", [2, 5])], [("y", [2, 5])])
    for act, ref in [(Activation("Relu", {}, "r"), lambda v: np.maximum(v, 0)),
                     (Activation("LeakyRelu", {"alpha": 0.3}), lambda v: np.where(v > 0, v, 0.3 * v)),
                     (Activation("Clip", {"min": -0.5, "max": math.inf}), lambda v: np.maximum(v, -0.5)),
                     (Activation("Clip", {"min": -math.inf, "max": 0.25}), lambda v: np.minimum(v, 0.25)),
                     (Activation("HardSigmoid", {"alpha": 0.2, "beta": 0.5}),
                      lambda v: np.clip(0.2 * v + 0.5, 0, 1))]:
        g = to_ir(m)
        g.nodes[0].act = act
        out = graph_to_model(g)
        onnx.checker.check_model(out, full_check=True)
        assert [n.op_type for n in out.graph.node] == ["Add", act.op]
        assert out.graph.node[1].output[0] == "y"  # the activation writes the original name
        f = feeds_for(g)
        np.testing.assert_allclose(run_ort(out, f)["y"], ref(f["x"] + f["z"]), rtol=1e-6, atol=1e-6)


def test_extra_outputs_and_constant_outputs():
    m = _conv_model()
    g = to_ir(m)
    out = graph_to_model(g, extra_outputs=["c"])
    assert [o.name for o in out.graph.output] == ["y", "c"]
    f = feeds_for(g)
    res = run_ort(out, f)
    np.testing.assert_array_equal(res["y"], np.maximum(res["c"], 0))
    # a constant that is a graph output is written by a Constant node
    g.outputs.append("b")
    out = graph_to_model(g)
    onnx.checker.check_model(out, full_check=True)
    np.testing.assert_array_equal(run_ort(out, f)["b"], g.values["b"].data)


def test_attributes_roundtrip():
    # ints, floats, strings, tensors and empty lists survive
    nodes = [helper.make_node("Constant", [], ["k"], value=helper.make_tensor("t", TensorProto.INT64, [2], [3, 4])),
             helper.make_node("Resize", ["x", "", "", "k4"], ["r"], mode="nearest",
                              coordinate_transformation_mode="asymmetric"),
             helper.make_node("Transpose", ["r"], ["y"], perm=[0, 1, 3, 2])]
    m = make_model(nodes, [("x", [1, 1, 2, 3])], [("y", [1, 1, 6, 4])],
                   {"k4": np.array([1, 1, 2, 2], dtype=np.int64)})
    g = to_ir(m)
    out = graph_to_model(g)
    onnx.checker.check_model(out, full_check=True)
    f = feeds_for(g)
    assert_close(run_ort(m, f), run_ort(out, f))
