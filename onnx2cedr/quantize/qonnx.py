"""QONNX models (Quant / BipolarQuant of qonnx.custom_op.general or finn.custom_op.general) written in
standard ONNX ops, by the recipe the compiler lowers them with (ops/qonnx.py `expand`): onnxruntime
cannot run the custom ops, so this is what `validate` runs as the reference of a QONNX model."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError
from ..ops.base import Unsupported
from ..ops.qonnx import QONNX_DOMAINS, expand

# GreaterOrEqual (opset 12) and Clip with min/max inputs (opset 11): older models are converted first
MIN_OPSET = 13


def has_qonnx(model: onnx.ModelProto) -> bool:
    return any(n.domain in QONNX_DOMAINS for n in model.graph.node)


class _ProtoEmitter:
    def __init__(self, graph: onnx.GraphProto, base: str, taken: set[str]):
        self.graph, self.base, self.taken, self.nodes = graph, base, taken, []

    def _fresh(self, hint: str) -> str:
        name, k = f"{self.base}_{hint}", 0
        while name in self.taken:
            k += 1
            name = f"{self.base}_{hint}__{k}"
        self.taken.add(name)
        return name

    def const(self, hint, array):
        name = self._fresh(hint)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, attrs=None, out=None):
        out = out or self._fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=self._fresh(f"{op_type.lower()}_node"),
                                           **(attrs or {})))
        return out


def to_standard(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` with every Quant / BipolarQuant written in standard ops (ModelError when one
    cannot be: non-constant Quant parameters, a bit width outside [1, 32], an unknown rounding mode)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    opset = next((i.version for i in m.opset_import if i.domain in ("", "ai.onnx")), None)
    if opset is not None and opset < MIN_OPSET:
        try:
            import onnx.version_converter as vc
            m = vc.convert_version(m, MIN_OPSET)
        except Exception as e:
            raise ModelError(f"converting the QONNX model to opset {MIN_OPSET} failed: "
                             f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    g = m.graph
    consts = {t.name: t for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            consts[n.output[0]] = n.attribute[0].t
    types = {vi.name: vi.type.tensor_type.elem_type for vi in list(g.input) + list(g.value_info)}
    types.update({t.name: t.data_type for t in g.initializer})
    taken = {x for n in g.node for x in list(n.input) + list(n.output) + [n.name]} | set(consts) | \
        {vi.name for vi in g.input}

    def const(name):
        t = consts.get(name)
        return None if t is None else numpy_helper.to_array(t)

    nodes = []
    for n in g.node:
        if n.domain not in QONNX_DOMAINS or n.op_type not in ("Quant", "BipolarQuant"):
            nodes.append(n)
            continue
        want = 4 if n.op_type == "Quant" else 2
        if len([i for i in n.input if i]) != want:
            raise ModelError(f"{n.op_type} '{n.name}': {want} inputs expected, got {len(n.input)}")
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        x_type = types.get(n.input[0], onnx.TensorProto.FLOAT)
        e = _ProtoEmitter(g, n.name or n.output[0], taken)
        try:
            expand(n.op_type, attrs, list(n.input), const, helper.tensor_dtype_to_np_dtype(x_type), e, n.output[0])
        except Unsupported as err:
            raise ModelError(f"{n.op_type} '{n.name}': {err}") from None
        nodes += e.nodes
    del g.node[:]
    g.node.extend(nodes)
    keep = [i for i in m.opset_import if i.domain not in QONNX_DOMAINS]
    del m.opset_import[:]
    m.opset_import.extend(keep)
    return m
