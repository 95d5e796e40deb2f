"""fuse_binary: Where(x >= 0, s, -s) -> MatMul/Gemm with bipolar weights becomes one BGemm (XNOR/popcount,
DASH_BGEMM_b1); what is not bipolar stays float. The compiled layer agrees with onnxruntime on the
model in standard ops."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from onnx2cedr.passes import optimize
from tests.oncheck import run_ort, run_ours
from tests.passes.passutil import make_model, op_counts, to_ir

M, K, N = 3, 100, 7


def _bipolar(k, n, seed=0, per_col=True):
    rng = np.random.default_rng(seed)
    mag = rng.uniform(0.05, 1.0, (1, n)) if per_col else np.full((1, n), 0.5)
    return (np.where(rng.standard_normal((k, n)) >= 0, 1.0, -1.0) * mag).astype(np.float32)


def _model(layer="MatMul", w=None, s=0.75, neg=None, bias=True, **attrs):
    w = _bipolar(K, N) if w is None else w
    inits = {"zero": np.float32(0), "s": np.float32(s), "ns": np.float32(-s if neg is None else neg), "w": w}
    ins = ["sx", "w"]
    if layer == "Gemm" and bias:
        inits["c"] = np.random.default_rng(5).standard_normal(N).astype(np.float32)
        ins.append("c")
    nodes = [helper.make_node("GreaterOrEqual", ["x", "zero"], ["ge"]),
             helper.make_node("Where", ["ge", "s", "ns"], ["sx"]),
             helper.make_node(layer, ins, ["y"], name="layer", **attrs)]
    return make_model(nodes, [("x", [M, K])], [("y", None)], inits)


@pytest.mark.parametrize("layer, attrs, transpose", [
    ("MatMul", {}, False), ("Gemm", {}, False), ("Gemm", {"transB": 1, "alpha": 0.5, "beta": 2.0}, True)])
def test_bipolar_layer_becomes_bgemm(tmp_path, layer, attrs, transpose):
    w = _bipolar(K, N)
    m = _model(layer, w.T.copy() if transpose else w, **attrs)
    g = to_ir(m)
    optimize(g)
    assert op_counts(g) == {"BGemm": 1}, op_counts(g)
    x = np.random.default_rng(1).standard_normal((M, K)).astype(np.float32)
    x[0, :10] = 0.0  # sign(0) = +1
    ours, ref = run_ours(m, {"x": x}, workdir=tmp_path)[0], run_ort(m, {"x": x})[0]
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["not_bipolar", "not_symmetric", "transA", "runtime_weights"])
def test_what_is_not_binary_stays_float(case):
    w = _bipolar(K, N)
    if case == "not_bipolar":
        w[3, 2] *= 0.5
    kw = {"not_symmetric": {"neg": -0.5}, "transA": {}}.get(case, {})
    if case == "transA":
        m = _model("Gemm", w, transA=1)
        m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = K
        m.graph.input[0].type.tensor_type.shape.dim[1].dim_value = M
        m.graph.initializer[-1].CopyFrom(helper.make_tensor("c", 1, [N], np.zeros(N, np.float32)))
    else:
        m = _model("MatMul", w, **kw)
    if case == "runtime_weights":
        m.graph.node[2].input[1] = "sx_w"
        m.graph.node.append(helper.make_node("Relu", ["w"], ["sx_w_unused"]))
        m.graph.node.insert(0, helper.make_node("Neg", ["w"], ["sx_w"]))
        m.graph.initializer.pop(3)
        m.graph.input.append(helper.make_tensor_value_info("w", 1, [K, N]))
    g = to_ir(m)
    optimize(g)
    assert "BGemm" not in op_counts(g), op_counts(g)


def _conv_model(pads=(0, 0, 0, 0), group=1, strides=(1, 1)):
    rng = np.random.default_rng(3)
    oc, c = 6, 8
    w = (np.where(rng.standard_normal((oc, c // group, 3, 3)) >= 0, 1.0, -1.0)
         * rng.uniform(0.1, 1, (oc, 1, 1, 1))).astype(np.float32)
    inits = {"zero": np.float32(0), "s": np.float32(0.5), "ns": np.float32(-0.5), "w": w,
             "b": rng.standard_normal(oc).astype(np.float32)}
    nodes = [helper.make_node("GreaterOrEqual", ["x", "zero"], ["ge"]),
             helper.make_node("Where", ["ge", "s", "ns"], ["sx"]),
             helper.make_node("Conv", ["sx", "w", "b"], ["y"], name="conv", pads=list(pads), group=group,
                              strides=list(strides), kernel_shape=[3, 3])]
    return make_model(nodes, [("x", [2, c, 9, 10])], [("y", None)], inits)


def test_bipolar_conv_becomes_bconv(tmp_path):
    m = _conv_model(strides=(2, 1))
    g = to_ir(m)
    optimize(g)
    assert op_counts(g) == {"BConv": 1}, op_counts(g)
    x = np.random.default_rng(2).standard_normal((2, 8, 9, 10)).astype(np.float32)
    ours, ref = run_ours(m, {"x": x}, workdir=tmp_path)[0], run_ort(m, {"x": x})[0]
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", [{"pads": (1, 1, 1, 1)}, {"group": 2}])
def test_padded_or_grouped_conv_stays_float(kw):
    g = to_ir(_conv_model(**kw))
    optimize(g)
    assert "BConv" not in op_counts(g) and "Conv" in op_counts(g), op_counts(g)
