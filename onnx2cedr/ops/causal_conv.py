"""CausalConvWithState (opset 27; carried in the private domain, see opset_fixups) -> the inline CPU
kernel o2c_causal_conv: a depthwise causal 1-D convolution with carried state and optional SiLU."""
from __future__ import annotations

import numpy as np

from ..opset_fixups import EXT_DOMAIN
from .attention import _FLOATS
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, register
from .logic import DT_CODES

_ACTIVATIONS = {"none": 0, "silu": 1, "swish": 1}


class _CausalConv(OpDef):
    op_type = "CausalConvWithState"
    attrs = {"activation": "none"}
    dtypes = _FLOATS
    has_infer = True  # no schema at the internal opset
    summary = "depthwise causal 1-D convolution with carried state (present_state), optional SiLU"

    def _dims(self, graph, node):
        x, w = graph.value(node.inputs[0]), graph.value(node.input(1))
        if len(x.shape) != 3:
            raise Unsupported(f"input of rank {len(x.shape)} (3: batch, channels, length)")
        b, c, length = x.shape
        if len(w.shape) != 3 or w.shape[0] != c or w.shape[1] != 1:
            raise Unsupported(f"weight of shape {list(w.shape)} (expected [{c}, 1, k])")
        k = int(w.shape[2])
        for i, want, what in ((2, (c,), "bias"), (3, (b, c, k - 1), "past_state")):
            if node.input(i):
                v = graph.value(node.input(i))
                if tuple(v.shape) != want or np.dtype(v.dtype) != np.dtype(x.dtype):
                    raise Unsupported(f"{what} of shape {list(v.shape)} (expected {list(want)}, the input's type)")
        if np.dtype(w.dtype) != np.dtype(x.dtype):
            raise Unsupported("weight of another element type than the input")
        return int(b), int(c), int(length), k

    def check_node(self, graph, node):
        if self.attr(node, "activation") not in _ACTIVATIONS:
            raise Unsupported(f"activation '{self.attr(node, 'activation')}' (none, silu or swish)")
        self._dims(graph, node)

    def infer(self, graph, node):
        b, c, length, k = self._dims(graph, node)
        dt = graph.value(node.inputs[0]).dtype
        return [(dt, (b, c, length)), (dt, (b, c, k - 1))][:len(node.outputs)]

    def lower(self, graph, node):
        b, c, length, k = self._dims(graph, node)
        fields = {"batch": b, "channels": c, "length": length, "k": k,
                  "activation": _ACTIVATIONS[self.attr(node, "activation")],
                  "type": DT_CODES[np.dtype(graph.values[node.inputs[0]].dtype)]}
        present = node.outputs[1] if len(node.outputs) > 1 and node.outputs[1] else ""
        opt = [TensorArg(node.input(i), cast="void") if node.input(i) else NullArg("void") for i in (2, 3)]
        args = [TensorArg(node.inputs[0], cast="void"), TensorArg(node.input(1), cast="void"), *opt,
                TensorArg(node.outputs[0], cast="void"),
                TensorArg(present, cast="void") if present else NullArg("void")]
        return Lowered([Call("o2c_causal_conv", args, Params("o2c_causal_conv_params_t", fields),
                             flops=2 * k * b * c * length)], reason="causal convolution: inline CPU kernel")


@register
class CausalConvWithState(_CausalConv):
    """Listed in the op table under its own name; models carry it in the private domain (opset_fixups)."""


@register
class CausalConvWithStateExt(_CausalConv):
    domain = EXT_DOMAIN
