"""Pooling: Max/Average/Lp pools and their global forms -> DASH_POOL."""
from __future__ import annotations

from ..ir import Graph, Node
from .base import Call, Lowered, OpDef, Params, TensorArg, Unsupported, pad3, register
from .conv import same_pads, spatial_attrs

_KINDS = {"MaxPool": "DASH_POOL_MAX", "AveragePool": "DASH_POOL_AVG", "LpPool": "DASH_POOL_LP",
          "GlobalMaxPool": "DASH_POOL_MAX", "GlobalAveragePool": "DASH_POOL_AVG", "GlobalLpPool": "DASH_POOL_LP"}

_COMMON = {"auto_pad": "NOTSET", "ceil_mode": 0, "dilations": None, "kernel_shape": None, "pads": None,
           "strides": None}
_ATTRS = {
    "MaxPool": {**_COMMON, "storage_order": 0},
    "AveragePool": {**_COMMON, "count_include_pad": 0},
    "LpPool": {**_COMMON, "p": 2},
    "GlobalMaxPool": {}, "GlobalAveragePool": {}, "GlobalLpPool": {"p": 2},
}


def _make_pool(name: str):
    is_global = name.startswith("Global")

    class Pool(OpDef):
        op_type = name
        attrs = _ATTRS[name]
        api = "DASH_POOL"
        summary = ("global " if is_global else "") + name.replace("Global", "").replace("Pool", "").lower() + " pooling"

        def check_node(self, graph, node):
            if len([o for o in node.outputs if o]) > 1:
                raise Unsupported("the Indices output is not supported")
            x = graph.values.get(node.inputs[0])
            if x is not None and not 3 <= len(x.shape) <= 5:
                raise Unsupported(f"input rank {len(x.shape)} (1-D to 3-D pooling is supported)")
            if x is not None and not is_global:
                if self.attr(node, "kernel_shape") is None:
                    raise Unsupported("kernel_shape is required")
                spatial_attrs(self, node, len(x.shape) - 2, ())

        def flops(self, graph, node):
            x = graph.values[node.inputs[0]]
            return x.size

        def lower(self, graph: Graph, node: Node) -> Lowered:
            x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
            rank = len(x.shape) - 2
            in_size, out_size = list(x.shape[2:]), list(y.shape[2:])
            if is_global:
                kernel, strides, dil, begin, end = in_size, [1] * rank, [1] * rank, [0] * rank, [0] * rank
            else:
                kernel, strides, dil, pads, auto_pad = spatial_attrs(self, node, rank, ())
                if auto_pad == "NOTSET" and pads is not None:
                    for i, o, s, b in zip(in_size, out_size, strides, pads[:rank]):
                        if (o - 1) * s - b >= i:  # onnx's opset-21 shapes keep it; onnxruntime drops it
                            raise Unsupported("ceil_mode: the last window starts in the end padding")
                if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                    begin = same_pads(in_size, out_size, kernel, strides, dil, auto_pad)
                    end = [max(0, (o - 1) * s + (k - 1) * d + 1 - i) - b
                           for i, o, k, s, d, b in zip(in_size, out_size, kernel, strides, dil, begin)]
                elif auto_pad == "VALID":
                    begin, end = [0] * rank, [0] * rank
                else:
                    begin, end = pads[:rank], pads[rank:]
            fields = {
                "kind": _KINDS[name], "spatial_rank": rank,
                "count_include_pad": int(self.attr(node, "count_include_pad") or 0) if name == "AveragePool" else 0,
                "p": int(self.attr(node, "p") or 2) if "Lp" in name else 0,
                "channels": x.shape[0] * x.shape[1], "in_size": pad3(in_size, 1), "out_size": pad3(out_size, 1),
                "kernel": pad3(kernel, 1), "stride": pad3(strides, 1), "dilation": pad3(dil, 1),
                "pad_begin": pad3(begin, 0), "pad_end": pad3(end, 0),
            }
            call = Call("o2c_pool", [TensorArg(node.inputs[0]), TensorArg(node.outputs[0])],
                        Params("dash_pool_params_t", fields), api="DASH_POOL", flops=self.flops(graph, node))
            return Lowered([call], reason="pooling: DASH_POOL")

    Pool.__name__ = f"Op{name}"
    return Pool


for _n in _KINDS:
    register(_make_pool(_n))
