"""fuse_act_chain: the chains exporters write for SiLU, HardSwish, Mish and GELU (both forms) become one
activation node, which fuse_activation folds into the producing Conv / Gemm; the converted model has
fewer layers and matches onnxruntime (run on the original chain)."""
from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper
from tests.passes.passutil import check_pass, make_model, op_counts, rand, to_ir

from onnx2cedr.compiler import convert
from onnx2cedr.opset_fixups import EXT_DOMAIN
from onnx2cedr.passes import fuse_act_chain, fuse_activation
from onnx2cedr.runner import ModelLibrary

S = {"sqrt2": math.sqrt(2.0), "isqrt2": 1 / math.sqrt(2.0), "k": math.sqrt(2 / math.pi)}


def _c(v):
    return np.array(v, np.float32)


def chain(kind: str, x: str = "p", y: str = "y"):
    """(nodes computing y from x, constants, expected op, expected attrs)"""
    N = helper.make_node
    if kind == "silu":
        return [N("Sigmoid", [x], ["s"]), N("Mul", [x, "s"], [y])], {}, "Swish", {"alpha": 1.0}
    if kind == "silu_rev":
        return [N("Sigmoid", [x], ["s"]), N("Mul", ["s", x], [y])], {}, "Swish", {"alpha": 1.0}
    if kind == "hardswish_hs":
        return ([N("HardSigmoid", [x], ["h"], alpha=1 / 6, beta=0.5), N("Mul", [x, "h"], [y])], {},
                "HardSwish", {})
    if kind == "hardswish_relu6":  # x * relu6(x + 3) / 6
        return ([N("Add", [x, "three"], ["a"]), N("Clip", ["a", "zero", "six"], ["r"]), N("Mul", [x, "r"], ["m"]),
                 N("Div", ["m", "six"], [y])], {"three": _c(3), "zero": _c(0), "six": _c(6)}, "HardSwish", {})
    if kind == "hardswish_relu6_pre":  # x * (relu6(x + 3) * (1/6))
        return ([N("Add", ["three", x], ["a"]), N("Clip", ["a", "zero", "six"], ["r"]),
                 N("Mul", ["r", "sixth"], ["q"]), N("Mul", [x, "q"], [y])],
                {"three": _c(3), "zero": _c(0), "six": _c(6), "sixth": _c(1 / 6)}, "HardSwish", {})
    if kind == "mish":
        return [N("Softplus", [x], ["sp"]), N("Tanh", ["sp"], ["t"]), N("Mul", [x, "t"], [y])], {}, "Mish", {}
    if kind == "gelu_erf":  # torch: x / sqrt2 -> Erf -> + 1 -> x * . -> * 0.5
        return ([N("Div", [x, "sqrt2"], ["d"]), N("Erf", ["d"], ["e"]), N("Add", ["e", "one"], ["a"]),
                 N("Mul", [x, "a"], ["m"]), N("Mul", ["m", "half"], [y])],
                {"sqrt2": _c(S["sqrt2"]), "one": _c(1), "half": _c(0.5)}, "Gelu", {"approximate": "none"})
    if kind == "gelu_erf_halfx":  # (0.5 * x) * (1 + erf(x * 1/sqrt2))
        return ([N("Mul", ["isqrt2", x], ["d"]), N("Erf", ["d"], ["e"]), N("Add", ["one", "e"], ["a"]),
                 N("Mul", [x, "half"], ["h"]), N("Mul", ["h", "a"], [y])],
                {"isqrt2": _c(S["isqrt2"]), "one": _c(1), "half": _c(0.5)}, "Gelu", {"approximate": "none"})
    if kind == "gelu_tanh":  # 0.5 * x * (1 + tanh(k * (x + 0.044715 * x^3)))
        return ([N("Pow", [x, "three"], ["c"]), N("Mul", ["c", "coef"], ["pc"]), N("Add", [x, "pc"], ["s"]),
                 N("Mul", ["s", "k"], ["u"]), N("Tanh", ["u"], ["t"]), N("Add", ["t", "one"], ["a"]),
                 N("Mul", ["a", "half"], ["q"]), N("Mul", [x, "q"], [y])],
                {"three": _c(3), "coef": _c(0.044715), "k": _c(S["k"]), "one": _c(1), "half": _c(0.5)},
                "Gelu", {"approximate": "tanh"})
    if kind == "gelu_tanh_mulcube":  # x*x*x for the cube, division by 2
        return ([N("Mul", [x, x], ["sq"]), N("Mul", ["sq", x], ["c"]), N("Mul", ["coef", "c"], ["pc"]),
                 N("Add", ["pc", x], ["s"]), N("Mul", ["k", "s"], ["u"]), N("Tanh", ["u"], ["t"]),
                 N("Add", ["one", "t"], ["a"]), N("Mul", [x, "a"], ["m"]), N("Div", ["m", "two"], [y])],
                {"coef": _c(0.044715), "k": _c(S["k"]), "one": _c(1), "two": _c(2)}, "Gelu", {"approximate": "tanh"})
    raise ValueError(kind)


KINDS = ["silu", "silu_rev", "hardswish_hs", "hardswish_relu6", "hardswish_relu6_pre", "mish", "gelu_erf",
         "gelu_erf_halfx", "gelu_tanh", "gelu_tanh_mulcube"]


def conv_model(kind: str, second: bool = True):
    """Conv -> chain (-> Conv -> chain): the chains sit where detectors put them."""
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["p"], pads=[1, 1, 1, 1], name="conv1")]
    c_nodes, consts, op, attrs = chain(kind, "p", "y1" if second else "y")
    nodes += c_nodes
    inits = {"w": rand(8, 3, 3, 3, scale=0.5), "b": rand(8, seed=3), **consts}
    if second:
        nodes.append(helper.make_node("Conv", ["y1", "w2"], ["p2"], pads=[1, 1, 1, 1], name="conv2"))
        c2, consts2, _, _ = chain(kind, "p2", "y")
        # the second chain's interior names must differ from the first's
        ren = {n: f"{n}_2" for node in c2 for n in node.output if n != "y"}
        for node in c2:
            node.input[:] = [ren.get(i, i) for i in node.input]
            node.output[:] = [ren.get(o, o) for o in node.output]
        nodes += c2
        inits["w2"] = rand(4, 8, 3, 3, seed=5, scale=0.3)
    return make_model(nodes, [("x", [1, 3, 9, 11])], [("y", [1, 4 if second else 8, 9, 11])], inits), op, attrs


@pytest.mark.parametrize("kind", KINDS)
def test_chain_becomes_one_node_then_fuses(kind):
    m, op, attrs = conv_model(kind, second=False)
    g = to_ir(m)
    assert fuse_act_chain.apply(g) is True
    assert op_counts(g) == {"Conv": 1, op: 1}
    act = next(n for n in g.nodes if n.op == op)
    assert act.attrs == pytest.approx(attrs) if attrs.get("approximate") is None else act.attrs == attrs
    assert act.domain == (EXT_DOMAIN if op == "Swish" else "")
    assert act.inputs == ["p"] and act.outputs == ["y"]
    assert fuse_activation.apply(g) is True
    assert op_counts(g) == {"Conv": 1}
    assert g.nodes[0].act.op == op and g.nodes[0].outputs == ["y"]


class _ChainThenFuse:
    NAME = "fuse_act_chain+fuse_activation"

    def apply(self, graph):
        a = fuse_act_chain.apply(graph)
        return fuse_activation.apply(graph) or a


@pytest.mark.parametrize("kind", KINDS)
def test_rewritten_graph_exports_and_matches_onnxruntime(kind):
    """The fused graph exported back to ONNX (Swish written out again as Sigmoid and Mul: opset 24 is
    newer than the graph's) computes what the chains did."""
    m, op, _ = conv_model(kind)
    g = check_pass(m, _ChainThenFuse(), rtol=1e-4, atol=1e-5)
    assert op_counts(g) == {"Conv": 2} and all(n.act.op == op for n in g.nodes)


@pytest.mark.parametrize("kind", ["silu", "gelu_erf", "hardswish_relu6"])
def test_interior_value_read_elsewhere_is_left_alone(kind):
    """A chain whose interior value is also a graph output (or read by another node) is not rewritten."""
    m, _, _ = conv_model(kind, second=False)
    interior = m.graph.node[1].output[0]
    m.graph.output.append(helper.make_tensor_value_info(interior, 1, None))
    g = to_ir(m)
    assert fuse_act_chain.apply(g) is False


def test_wrong_constants_are_left_alone():
    m, _, _ = conv_model("gelu_erf", second=False)
    for init in m.graph.initializer:
        if init.name == "sqrt2":
            init.float_data[:] = []
            init.raw_data = _c(1.5).tobytes()
    assert fuse_act_chain.apply(to_ir(m)) is False
    m, _, _ = conv_model("hardswish_hs", second=False)
    m.graph.node[1].attribute[0].f = 0.2  # HardSigmoid alpha 0.2: not HardSwish
    assert fuse_act_chain.apply(to_ir(m)) is False


def _ort(model, x):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]


@pytest.mark.parametrize("kind", KINDS)
def test_converted_model_fuses_and_matches_onnxruntime(kind, tmp_path):
    m, op, _ = conv_model(kind)
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    r = convert(path, tmp_path / "out", artifacts=("lib",), force=True)
    layers = r.model_json["layers"]
    assert [lay["op"] for lay in layers] == ["Conv", "Conv"], [lay["op"] for lay in layers]
    assert all(lay["activation"]["op"] == op for lay in layers)
    x = rand(1, 3, 9, 11, seed=7, scale=2.0)
    got = ModelLibrary(r.out_dir).run([x])[0]
    ref = _ort(m, x)
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5 * max(1.0, float(np.abs(ref).max())))
