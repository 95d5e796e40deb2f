"""QuantizeLinear and DequantizeLinear (per tensor, per axis, blocked) -> the inline CPU kernel
o2c_quantize_linear (no CEDR API). Quantized types: 8-/16-bit integers, 4-/2-bit integers, the float8
formats and float4 e2m1 (one element per byte); the scale is float, double, float16 or bfloat16."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, norm_axis, register
from .logic import CAST_CODES, DT_CODES, _dt_name

_FLOAT_CODES = {1, 10, 11, 16}
# int8/16 and uint8/16 (their own codes), 4-/2-bit integers, float8 and float4 (CAST_CODES 17..26); DequantizeLinear
# also reads int32
_QUANT_CODES = {2, 3, 4, 5, 17, 18, 19, 20, 21, 22, 23, 25, 26}


def _code(dt) -> int | None:
    return CAST_CODES.get(np.dtype(dt))


class _QuantOp(OpDef):
    dtypes = ()
    has_infer = True  # the narrow types are beyond the opset-21 schemas
    dequantize = 0

    def _out_dtype(self, graph: Graph, node: Node) -> np.dtype:
        raise NotImplementedError

    def infer(self, graph, node):
        self._params(graph, node)
        return [(self._out_dtype(graph, node), graph.value(node.inputs[0]).shape)]

    def _params(self, graph: Graph, node: Node) -> dict:
        x, scale = graph.value(node.inputs[0]), graph.value(node.input(1))
        zp = graph.values.get(node.input(2)) if node.input(2) else None
        float_dt = np.dtype(scale.dtype)
        quant_dt = np.dtype(x.dtype) if self.dequantize else self._out_dtype(graph, node)
        fc, qc = _code(float_dt), _code(quant_dt)
        if fc not in _FLOAT_CODES:
            raise Unsupported(f"scale of element type {_dt_name(float_dt)}")
        if qc not in _QUANT_CODES and not (self.dequantize and qc == 6):
            raise Unsupported(f"quantized element type {_dt_name(quant_dt)}")
        if not self.dequantize and np.dtype(x.dtype) != float_dt:
            raise Unsupported(f"input of element type {_dt_name(x.dtype)} with a {_dt_name(float_dt)} scale")
        if zp is not None and np.dtype(zp.dtype) != quant_dt:
            raise Unsupported(f"zero point of element type {_dt_name(zp.dtype)}, expected {_dt_name(quant_dt)}")
        if zp is not None and tuple(zp.shape) != tuple(scale.shape) and not (zp.size == 1 == scale.size):
            raise Unsupported(f"zero point of shape {list(zp.shape)}, the scale's is {list(scale.shape)}")
        shape = tuple(x.shape)
        block = int(self.attr(node, "block_size") or 0)
        if scale.size == 1 and block == 0:
            outer, dim, inner, strides = 1, 1, int(np.prod(shape, dtype=np.int64)), (0, 0, 0)
        else:
            if not shape:
                raise Unsupported("a scalar input with a non-scalar scale")
            ax = norm_axis(int(self.attr(node, "axis")), len(shape), node)
            outer = int(np.prod(shape[:ax], dtype=np.int64))
            dim, inner = int(shape[ax]), int(np.prod(shape[ax + 1:], dtype=np.int64))
            if block == 0:
                if tuple(scale.shape) != (dim,):
                    raise Unsupported(f"scale of shape {list(scale.shape)} for axis {ax} of {list(shape)}")
                strides = (0, 1, 0)
            else:
                want = shape[:ax] + (-(-dim // block),) + shape[ax + 1:]
                if block < 0 or tuple(scale.shape) != want:
                    raise Unsupported(f"scale of shape {list(scale.shape)} for block_size={block} on axis {ax} "
                                      f"(expected {list(want)})")
                strides = (want[ax] * inner, inner, 1)
        return {"outer": outer, "axis_dim": dim, "inner": inner, "block": block or 1, "s_outer": strides[0],
                "s_axis": strides[1], "s_inner": strides[2], "float_type": fc, "quant_type": qc,
                "saturate": int(self.attr(node, "saturate") if "saturate" in self.attrs else 1),
                "dequantize": self.dequantize}

    def check_node(self, graph, node):
        if all(i in graph.values for i in node.inputs if i):
            self._params(graph, node)

    def _q8_form(self, graph: Graph, node: Node, fields: dict) -> dict | None:
        """o2c_quant8_params_t of the common form (float32 <-> int8/uint8, one constant scale and zero
        point), or None."""
        if fields["float_type"] != 1 or fields["quant_type"] not in (2, 3) or fields["outer"] != 1 \
                or fields["axis_dim"] != 1 or fields["s_axis"] or fields["s_outer"] or fields["s_inner"]:
            return None
        scale = graph.const(node.input(1))
        zp = graph.const(node.input(2)) if node.input(2) else np.zeros((), np.uint8)
        if scale is None or zp is None or scale.size != 1 or zp.size != 1:
            return None
        return {"n": int(fields["inner"]), "scale": float(np.float32(scale.reshape(()))), "zero": int(zp.reshape(())),
                "is_unsigned": int(fields["quant_type"] == 2)}

    def lower(self, graph, node):
        fields = self._params(graph, node)
        q8 = self._q8_form(graph, node, fields)
        if q8 is not None:  # the vectorized kernel of the layers around integer convolutions
            if self.dequantize:
                fn, args = "o2c_dequantize_q8_f32", [TensorArg(node.inputs[0], cast="int8_t"), TensorArg(node.outputs[0])]
            else:
                fn, args = "o2c_quantize_f32_q8", [TensorArg(node.inputs[0]), TensorArg(node.outputs[0], cast="int8_t")]
            return Lowered([Call(fn, args, Params("o2c_quant8_params_t", q8), flops=2 * q8["n"])],
                           reason=f"{node.op}: float32 <-> 8-bit, one scale: inline CPU kernel")
        zp = node.input(2)
        args = [TensorArg(node.inputs[0], cast="void"), TensorArg(node.input(1), cast="void"),
                TensorArg(zp, cast="void") if zp else NullArg("void"), TensorArg(node.outputs[0], cast="void")]
        return Lowered([Call("o2c_quantize_linear", args, Params("o2c_quant_params_t", fields),
                             flops=2 * graph.values[node.inputs[0]].size)], reason=f"{node.op}: inline CPU kernel")


def _output_dtype(node: Node, code) -> np.dtype | None:
    if not code:
        return None
    from onnx import helper

    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(int(code)))
    except (KeyError, TypeError, ValueError):
        raise Unsupported(f"output_dtype={code}") from None


@register
class QuantizeLinear(_QuantOp):
    op_type = "QuantizeLinear"
    attrs = {"axis": 1, "saturate": 1, "block_size": 0, "output_dtype": 0, "precision": 0}
    summary = "saturate(round(x / scale) + zero_point): per tensor, per axis or blocked"

    def check_node(self, graph, node):
        prec = int(self.attr(node, "precision") or 0)
        x = graph.values.get(node.inputs[0])
        if prec and x is not None and prec != DT_CODES.get(np.dtype(x.dtype)):
            raise Unsupported(f"precision={prec} other than the input's type")
        super().check_node(graph, node)

    def _out_dtype(self, graph, node):
        if node.input(2):
            return np.dtype(graph.value(node.input(2)).dtype)
        return _output_dtype(node, self.attr(node, "output_dtype")) or np.dtype(np.uint8)


@register
class DequantizeLinear(_QuantOp):
    op_type = "DequantizeLinear"
    attrs = {"axis": 1, "block_size": 0, "output_dtype": 0}
    dequantize = 1
    summary = "(x - zero_point) * scale: per tensor, per axis or blocked"

    def _out_dtype(self, graph, node):
        scale = np.dtype(graph.value(node.input(1)).dtype)
        out = _output_dtype(node, self.attr(node, "output_dtype"))
        if out is not None and out != scale:
            raise Unsupported(f"output_dtype {_dt_name(out)} differs from the scale's {_dt_name(scale)}")
        return scale


@register
class DynamicQuantizeLinear(OpDef):
    op_type = "DynamicQuantizeLinear"
    attrs = {}
    summary = "uint8 quantization with the scale and zero point computed from the input's range"

    def check_node(self, graph, node):
        if len([o for o in node.outputs if o]) != 3:
            raise Unsupported("all three outputs (y, y_scale, y_zero_point) are needed")

    def lower(self, graph, node):
        y, s, z = node.outputs[:3]
        args = [TensorArg(node.inputs[0]), TensorArg(y, cast="uint8_t"), TensorArg(s), TensorArg(z, cast="uint8_t")]
        return Lowered([Call("o2c_dynamic_quantize", args, Params("o2c_dynamic_quantize_params_t",
                                                                  {"n": graph.values[node.inputs[0]].size}),
                             flops=4 * graph.values[node.inputs[0]].size)],
                       reason="dynamic quantization: inline CPU kernel")
