"""GridSample (opsets 16 and 20; 16's bilinear/bicubic are 20's linear/cubic) -> the inline CPU kernel
o2c_grid_sample (no CEDR API), 1 to 3 spatial dimensions."""
from __future__ import annotations

import numpy as np

from .attention import _FLOATS
from .base import Call, Lowered, OpDef, Params, TensorArg, Unsupported, register
from .logic import DT_CODES

_MODES = {"nearest": 0, "linear": 1, "bilinear": 1, "cubic": 2, "bicubic": 2}
_PADDING = {"zeros": 0, "border": 1, "reflection": 2}


@register
class GridSample(OpDef):
    op_type = "GridSample"
    attrs = {"align_corners": 0, "mode": "linear", "padding_mode": "zeros"}
    dtypes = _FLOATS
    summary = "sample at normalized grid coordinates: nearest, linear or cubic; zeros, border or reflection padding"

    def check_node(self, graph, node):
        if self.attr(node, "mode") not in _MODES:
            raise Unsupported(f"mode '{self.attr(node, 'mode')}'")
        if self.attr(node, "padding_mode") not in _PADDING:
            raise Unsupported(f"padding_mode '{self.attr(node, 'padding_mode')}'")
        x, g = graph.values.get(node.inputs[0]), graph.values.get(node.input(1))
        if x is None or g is None:
            return
        r = len(x.shape) - 2
        if not 1 <= r <= 3:
            raise Unsupported(f"{r} spatial dimensions (1 to 3)")
        if np.dtype(g.dtype) != np.dtype(x.dtype):
            raise Unsupported("a grid of another element type than the input")
        if len(g.shape) != r + 2 or g.shape[0] != x.shape[0] or g.shape[-1] != r:
            raise Unsupported(f"grid of shape {list(g.shape)} for an input of shape {list(x.shape)}")

    def lower(self, graph, node):
        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        r = len(x.shape) - 2
        fields = {"rank": r, "mode": _MODES[self.attr(node, "mode")],
                  "padding": _PADDING[self.attr(node, "padding_mode")],
                  "align_corners": int(self.attr(node, "align_corners")), "type": DT_CODES[np.dtype(x.dtype)],
                  "n": int(x.shape[0]), "c": int(x.shape[1]), "in_size": list(x.shape[2:]) + [1] * (3 - r),
                  "out_size": list(y.shape[2:]) + [1] * (3 - r)}
        taps = {0: 1, 1: 2, 2: 4}[fields["mode"]] ** r
        return Lowered([Call("o2c_grid_sample", [TensorArg(node.inputs[0], cast="void"),
                                                 TensorArg(node.input(1), cast="void"),
                                                 TensorArg(node.outputs[0], cast="void")],
                             Params("o2c_grid_sample_params_t", fields), flops=2 * taps * y.size)],
                       reason="grid sampling: inline CPU kernel")
