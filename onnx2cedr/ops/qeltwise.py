"""The int8 layers that keep a QDQ model's activations 8-bit between its integer convolutions (private
domain; made by the passes fuse_qadd, fuse_qpool, fuse_qconcat and fuse_qrequant from QDQ patterns),
lowered to the inline CPU kernels of kernels/src/cpu/qeltwise.cpp:

- QAdd(a, b): DequantizeLinear x2 -> Add [-> Relu] -> QuantizeLinear (equal shapes) -> o2c_qadd;
- QPool(x): DequantizeLinear -> MaxPool | AveragePool | GlobalAveragePool -> QuantizeLinear -> o2c_qpool
  (1-D and 2-D; the pool's own attributes, `pool` names it);
- QRequant(x): DequantizeLinear -> QuantizeLinear with other scales or zero points -> o2c_qrequant.

Scales (float32) and zero points are attributes; every tensor is int8 or uint8."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, OpDef, Params, TensorArg, Unsupported, get_op, register
from .conv import spatial_attrs

_Q = (np.dtype(np.int8), np.dtype(np.uint8))
_POOLS = ("MaxPool", "AveragePool", "GlobalAveragePool")
_POOL_ATTRS = {"auto_pad": "NOTSET", "ceil_mode": 0, "dilations": None, "kernel_shape": None, "pads": None,
               "strides": None, "count_include_pad": 0, "storage_order": 0}


def _unsigned(graph: Graph, name: str) -> int:
    return int(np.dtype(graph.values[name].dtype) == np.uint8)


def _out_dtype(op: OpDef, node: Node) -> np.dtype:
    return np.dtype(np.uint8) if int(op.attr(node, "y_unsigned")) else np.dtype(np.int8)


class _Q8Op(OpDef):
    domain = "onnx2cedr.ext"
    dtypes = _Q
    has_infer = True

    def check_node(self, graph, node):
        for i in node.inputs:
            v = graph.values.get(i)
            if v is not None and np.dtype(v.dtype) not in _Q:
                raise Unsupported(f"input '{i}' is {v.dtype}, not int8 / uint8")


@register
class QAdd(_Q8Op):
    op_type = "QAdd"
    attrs = {"a_scale": 1.0, "a_zero": 0, "b_scale": 1.0, "b_zero": 0, "y_scale": 1.0, "y_zero": 0, "y_unsigned": 0,
             "relu": 0}
    summary = "int8 a + b with requantization (fused from a QDQ Add)"

    def infer(self, graph, node):
        a, b = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        if tuple(a.shape) != tuple(b.shape):
            raise Unsupported(f"shapes {list(a.shape)} and {list(b.shape)} differ")
        return [(_out_dtype(self, node), tuple(a.shape))]

    def flops(self, graph, node):
        return 4 * graph.values[node.outputs[0]].size

    def lower(self, graph, node):
        a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
        sy = np.float32(self.attr(node, "y_scale"))
        fields = {"n": graph.values[y].size,
                  "a_ratio": float(np.float32(self.attr(node, "a_scale")) / sy),
                  "b_ratio": float(np.float32(self.attr(node, "b_scale")) / sy),
                  "a_zero": int(self.attr(node, "a_zero")), "b_zero": int(self.attr(node, "b_zero")),
                  "y_zero": int(self.attr(node, "y_zero")), "a_unsigned": _unsigned(graph, a),
                  "b_unsigned": _unsigned(graph, b), "y_unsigned": int(self.attr(node, "y_unsigned")),
                  "relu": int(self.attr(node, "relu"))}
        args = [TensorArg(a, cast="int8_t"), TensorArg(b, cast="int8_t"), TensorArg(y, cast="int8_t")]
        return Lowered([Call("o2c_qadd", args, Params("o2c_qadd_params_t", fields), flops=self.flops(graph, node))],
                       reason="int8 addition: inline CPU kernel")


@register
class QPool(_Q8Op):
    op_type = "QPool"
    attrs = {"pool": "MaxPool", **_POOL_ATTRS, "x_scale": 1.0, "x_zero": 0, "y_scale": 1.0, "y_zero": 0,
             "y_unsigned": 0}
    summary = "int8 max / average pooling with requantization (fused from a QDQ pool)"

    def _shadow(self, node: Node) -> Node:
        pool = str(self.attr(node, "pool"))
        if pool not in _POOLS:
            raise Unsupported(f"pool '{pool}'")
        keep = get_op(Node(pool, "", [], [])).attrs
        return Node(pool, node.name, list(node.inputs), list(node.outputs),
                    {k: v for k, v in node.attrs.items() if k in keep})

    def infer(self, graph, node):
        x = graph.values[node.inputs[0]]
        rank = len(x.shape) - 2
        if rank not in (1, 2):
            raise Unsupported(f"{rank}-D pooling (1-D and 2-D are supported)")
        shadow = self._shadow(node)
        if shadow.op.startswith("Global"):
            return [(_out_dtype(self, node), tuple(x.shape[:2]) + (1,) * rank)]
        op = get_op(shadow)
        kernel, strides, dil, pads, auto_pad = spatial_attrs(op, shadow, rank, ())
        ceil = int(op.attr(shadow, "ceil_mode") or 0)
        out = []
        for i in range(rank):
            n, span = x.shape[2 + i], (kernel[i] - 1) * dil[i] + 1
            if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                out.append(-(-n // strides[i]))
            elif auto_pad == "VALID":
                out.append(-(-(n - span + 1) // strides[i]))
            else:
                t = n + pads[i] + pads[rank + i] - span
                out.append((-(-t // strides[i]) if ceil else t // strides[i]) + 1)
        return [(_out_dtype(self, node), tuple(x.shape[:2]) + tuple(out))]

    def flops(self, graph, node):
        return graph.values[node.inputs[0]].size

    def lower(self, graph, node):
        shadow = self._shadow(node)
        pool = get_op(shadow).lower(graph, shadow).calls[0].params.fields
        fields = {"pool": pool, "in_scale": float(np.float32(self.attr(node, "x_scale"))),
                  "out_scale": float(np.float32(self.attr(node, "y_scale"))), "in_zero": int(self.attr(node, "x_zero")),
                  "out_zero": int(self.attr(node, "y_zero")), "in_unsigned": _unsigned(graph, node.inputs[0]),
                  "out_unsigned": int(self.attr(node, "y_unsigned"))}
        args = [TensorArg(node.inputs[0], cast="int8_t"), TensorArg(node.outputs[0], cast="int8_t")]
        return Lowered([Call("o2c_qpool", args, Params("o2c_qpool_params_t", fields), flops=self.flops(graph, node))],
                       reason=f"int8 {shadow.op}: inline CPU kernel")


@register
class QRequant(_Q8Op):
    op_type = "QRequant"
    attrs = {"x_scale": 1.0, "x_zero": 0, "y_scale": 1.0, "y_zero": 0, "y_unsigned": 0}
    summary = "int8 -> int8 with other scale / zero point (a DequantizeLinear -> QuantizeLinear pair)"

    def infer(self, graph, node):
        return [(_out_dtype(self, node), tuple(graph.values[node.inputs[0]].shape))]

    def flops(self, graph, node):
        return 3 * graph.values[node.inputs[0]].size

    def lower(self, graph, node):
        fields = {"n": graph.values[node.inputs[0]].size, "in_scale": float(np.float32(self.attr(node, "x_scale"))),
                  "out_scale": float(np.float32(self.attr(node, "y_scale"))), "in_zero": int(self.attr(node, "x_zero")),
                  "out_zero": int(self.attr(node, "y_zero")), "in_unsigned": _unsigned(graph, node.inputs[0]),
                  "out_unsigned": int(self.attr(node, "y_unsigned"))}
        args = [TensorArg(node.inputs[0], cast="int8_t"), TensorArg(node.outputs[0], cast="int8_t")]
        return Lowered([Call("o2c_qrequant", args, Params("o2c_qrequant_params_t", fields),
                             flops=self.flops(graph, node))], reason="int8 requantization: inline CPU kernel")
