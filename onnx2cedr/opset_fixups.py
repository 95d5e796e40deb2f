"""Rewrites applied at the model's own opset, before onnx's version converter runs, for op
versions whose semantics changed in a way the converter passes over silently (it bumps the
version and keeps the node as it is, which would compute something else):

- Hardmax < 13 coerces its input to 2-D at `axis` (13 works on one axis): written as
  Flatten(axis) -> Hardmax(axis=1) -> Reshape(Shape(x)), as the converter does for (Log)Softmax.
- GroupNormalization 18..20 takes one scale/bias value per group (21: per channel): each is
  repeated C/G times per group (Unsqueeze -> Expand to (G, C/G) -> Reshape to C).
Each rewrite uses only ops of the source opset; the constant folder removes the shape arithmetic.

Ops newer than the internal opset (RMSNormalization, Attention, RotaryEmbedding 23; Swish 24; BitCast,
CumProd 26; CausalConvWithState 27; SwiGLU 28) have no earlier version to
convert to: they move to the private domain EXT_DOMAIN, which the converter leaves alone and
where the op registry holds the same definitions.
"""
from __future__ import annotations

import onnx
from onnx import helper, numpy_helper
import numpy as np


def _fresh(taken: set[str], base: str) -> str:
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}__{k}"
    taken.add(name)
    return name


def _const(nodes: list, taken: set[str], base: str, arr: np.ndarray) -> str:
    name = _fresh(taken, base)
    nodes.append(helper.make_node("Constant", [], [name], name=_fresh(taken, base + "::node"),
                                  value=numpy_helper.from_array(arr, name)))
    return name


def _attr(node: onnx.NodeProto, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _hardmax(node, taken) -> list:
    x, y = node.input[0], node.output[0]
    axis = int(_attr(node, "axis", 1))
    base = (node.name or y) + "::hardmax2d"
    shape, flat, hm = _fresh(taken, base + "_shape"), _fresh(taken, base + "_flat"), _fresh(taken, base + "_out")
    return [helper.make_node("Shape", [x], [shape], name=_fresh(taken, base + "::shape")),
            helper.make_node("Flatten", [x], [flat], name=_fresh(taken, base + "::flatten"), axis=axis),
            helper.make_node("Hardmax", [flat], [hm], name=node.name or _fresh(taken, base), axis=1),
            helper.make_node("Reshape", [hm, shape], [y], name=_fresh(taken, base + "::reshape"))]


def _group_norm(node, taken) -> list:
    x = node.input[0]
    g = int(_attr(node, "num_groups", 0))
    base = (node.name or node.output[0]) + "::per_channel"
    out = []
    chans = _fresh(taken, base + "_c")
    out.append(helper.make_node("Shape", [x], [chans], name=_fresh(taken, base + "::shape"), start=1, end=2))
    gk = _const(out, taken, base + "_g", np.array([g], np.int64))
    cg = _fresh(taken, base + "_cg")
    out.append(helper.make_node("Div", [chans, gk], [cg], name=_fresh(taken, base + "::div")))
    tshape = _fresh(taken, base + "_gcg")
    out.append(helper.make_node("Concat", [gk, cg], [tshape], name=_fresh(taken, base + "::concat"), axis=0))
    one = _const(out, taken, base + "_axis1", np.array([1], np.int64))
    flat = _const(out, taken, base + "_flat", np.array([-1], np.int64))
    new_inputs = [x]
    for k, v in ((1, "scale"), (2, "bias")):
        src = node.input[k] if len(node.input) > k else ""
        if not src:
            new_inputs.append(src)
            continue
        u, e, r = (_fresh(taken, f"{base}_{v}{s}") for s in ("_col", "_grid", ""))
        out += [helper.make_node("Unsqueeze", [src, one], [u], name=_fresh(taken, base + f"::{v}_unsqueeze")),
                helper.make_node("Expand", [u, tshape], [e], name=_fresh(taken, base + f"::{v}_expand")),
                helper.make_node("Reshape", [e, flat], [r], name=_fresh(taken, base + f"::{v}_reshape"))]
        new_inputs.append(r)
    gn = onnx.NodeProto()
    gn.CopyFrom(node)
    del gn.input[:]
    gn.input.extend(new_inputs)
    return out + [gn]


EXT_DOMAIN = "onnx2cedr.ext"
# op -> the opset that introduced it (beyond the internal opset 21)
NEWER_OPS = {"RMSNormalization": 23, "Attention": 23, "RotaryEmbedding": 23, "Swish": 24, "BitCast": 26,
             "CumProd": 26, "CausalConvWithState": 27, "SwiGLU": 28}


def _to_ext_domain(model: onnx.ModelProto, src_opset: int) -> None:
    moved = False
    for n in model.graph.node:
        if n.domain in ("", "ai.onnx") and NEWER_OPS.get(n.op_type, 10**9) <= src_opset:
            n.domain = EXT_DOMAIN
            moved = True
    if moved and not any(o.domain == EXT_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(EXT_DOMAIN, 1))


def apply(model: onnx.ModelProto, src_opset: int) -> onnx.ModelProto:
    """Rewrite the main graph in place (nodes of the default domain only); returns the model."""
    if src_opset > 21:
        _to_ext_domain(model, src_opset)
    rules = []
    if src_opset < 13:
        rules.append(("Hardmax", _hardmax))
    if 18 <= src_opset < 21:
        rules.append(("GroupNormalization", _group_norm))
    if not rules:
        return model
    g = model.graph
    if not any(n.op_type == op and n.domain in ("", "ai.onnx") for n in g.node for op, _ in rules):
        return model
    taken = {n.name for n in g.node} | {o for n in g.node for o in n.output} | {i.name for i in g.input} | \
            {t.name for t in g.initializer}
    new_nodes = []
    for n in g.node:
        rule = next((f for op, f in rules if n.op_type == op and n.domain in ("", "ai.onnx")), None)
        new_nodes.extend(rule(n, taken) if rule else [n])
    del g.node[:]
    g.node.extend(new_nodes)
    return model
