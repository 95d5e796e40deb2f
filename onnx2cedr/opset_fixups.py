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
where the op registry holds the same definitions. Other newer ops, and preview ops
(ai.onnx.preview), that onnx defines as functions of older ops (LinearAttention 27, FlexAttention)
are replaced by their function bodies first.
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


EXPAND_DOMAIN = "onnx2cedr.expand"
PREVIEW_DOMAIN = "ai.onnx.preview"


def expand_function_ops(model: onnx.ModelProto, src_opset: int, known=None) -> onnx.ModelProto:
    """Nodes of ops that onnx defines as a function of other ops and that have no definition here:
    newer than the internal opset and not in NEWER_OPS (LinearAttention 27), of the preview domain
    (FlexAttention), or for which `known(domain, op_type)` says the op registry has nothing
    (CenterCropPad): replaced by that function's body, which the version converter can then take down. Done by onnx's own inliner: each node
    becomes a call of a model-local copy of its function (a context-dependent one is built for the
    node's attributes and input types), and the copies are inlined."""
    from .ir import INTERNAL_OPSET

    versions = {imp.domain: imp.version for imp in model.opset_import}
    targets = []
    for k, n in enumerate(model.graph.node):
        if n.domain == PREVIEW_DOMAIN and PREVIEW_DOMAIN in versions:
            # preview ops (FlexAttention, ...): none has a definition here; expanded where onnx has one
            try:
                sch = onnx.defs.get_schema(n.op_type, versions[PREVIEW_DOMAIN], PREVIEW_DOMAIN)
            except onnx.defs.SchemaError:
                continue
            if sch.has_function or sch.has_context_dependent_function:
                targets.append((k, sch))
            continue
        if n.domain not in ("", "ai.onnx") or n.op_type in NEWER_OPS:
            continue
        try:
            sch = onnx.defs.get_schema(n.op_type, src_opset, "")
        except onnx.defs.SchemaError:
            continue
        if known is not None and not known("", n.op_type) and (sch.has_function or
                                                                 sch.has_context_dependent_function):
            targets.append((k, sch))  # no definition here at any opset (CenterCropPad, ...): its body
            continue
        if sch.since_version <= INTERNAL_OPSET or not (sch.has_function or sch.has_context_dependent_function):
            continue
        try:
            onnx.defs.get_schema(n.op_type, INTERNAL_OPSET, "")
            continue  # it exists at the internal opset: the converter's business
        except onnx.defs.SchemaError:
            targets.append((k, sch))
    if not targets:
        return model
    original = model
    model = onnx.ModelProto()
    model.CopyFrom(original)  # the nodes are rewritten in place below: the original stays if anything fails
    targets = [(model.graph.node[k], sch) for k, sch in targets]
    types: dict[str, onnx.TypeProto] = {}
    if any(not sch.has_function for _, sch in targets):
        try:
            inferred = onnx.shape_inference.infer_shapes(model)
        except Exception:
            return original  # left as it is: the converter's one-line error says what fails
        for t in inferred.graph.initializer:
            types[t.name] = helper.make_tensor_type_proto(t.data_type, list(t.dims))
        for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
            types[vi.name] = vi.type
    for k, (n, sch) in enumerate(targets):
        # attributes left at their defaults: written out, so that the body's references to them resolve
        given = {a.name for a in n.attribute}
        for name, a in sch.attributes.items():
            d = a.default_value
            if name not in given and d.type != onnx.AttributeProto.UNDEFINED:
                c = onnx.AttributeProto()
                c.CopyFrom(d)
                c.name = name
                n.attribute.append(c)
        fp = onnx.FunctionProto()
        if sch.has_function:
            fp.CopyFrom(sch.function_body)
        else:
            if any(i and i not in types for i in n.input):
                return original
            try:
                fp.ParseFromString(sch.get_context_dependent_function(
                    n.SerializeToString(), [types[i].SerializeToString() if i else b"" for i in n.input]))
            except Exception:
                return original
        if known is not None and any(b.domain in ("", "ai.onnx") and b.op_type != "Constant" and
                                     not known("", b.op_type) for b in fp.node):
            continue  # its body needs ops that have no definition here either: the node is reported as it is
        fp.domain = EXPAND_DOMAIN
        fp.name = f"{n.op_type}__{k}"
        n.domain = EXPAND_DOMAIN
        n.op_type = fp.name
        model.functions.append(fp)
    if not model.functions or all(f.domain != EXPAND_DOMAIN for f in model.functions):
        return original
    model.opset_import.append(helper.make_opsetid(EXPAND_DOMAIN, 1))
    import onnx.inliner as inliner

    try:
        model = inliner.inline_local_functions(model)
    except Exception:
        return original
    if any(n.domain == EXPAND_DOMAIN for n in model.graph.node):
        return original
    for k, imp in enumerate(model.opset_import):
        if imp.domain == EXPAND_DOMAIN:
            del model.opset_import[k]
            break
    return model


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
