"""Resize (and Upsample, which version conversion turns into Resize): the ONNX coordinate rules
are evaluated here, at compile time, into per-axis tap tables (input index + weight per output
coordinate); the inline CPU kernel only applies them."""
from __future__ import annotations


import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, OpDef, Params, TensorArg, Unsupported, pad8, register

_MODES = ("nearest", "linear", "cubic")
_TRANSFORMS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _source_coord(x: np.ndarray, scale: float, in_len: int, out_len: int, mode: str) -> np.ndarray:
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = out_len / (scale * in_len)
        center = in_len / 2.0
        offset = center * (1 - adjustment)
        return offset + (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out_len > 1 else np.zeros_like(x)
    if mode == "align_corners":
        # the resized length is in_len*scale, not rounded (as onnx's reference and onnxruntime)
        return x * (in_len - 1) / (in_len * scale - 1) if out_len > 1 else np.zeros_like(x)
    return x / scale  # asymmetric


def _nearest_index(c: np.ndarray, rule: str, scale: float) -> np.ndarray:
    if rule == "round_prefer_floor":
        idx = np.where(c == np.floor(c) + 0.5, np.floor(c), np.round(c))
    elif rule == "round_prefer_ceil":
        idx = np.where(c == np.floor(c) + 0.5, np.ceil(c), np.round(c))
    elif rule == "floor":
        idx = np.floor(c)
    else:
        idx = np.ceil(c)
    return idx.astype(np.int64)


def _cubic_weights(t: np.ndarray, a: float) -> np.ndarray:
    """Weights of taps at offsets -1, 0, 1, 2 for a fractional position t in [0, 1)."""
    def k(s):
        s = np.abs(s)
        return np.where(s <= 1, ((a + 2) * s - (a + 3)) * s * s + 1,
                        np.where(s < 2, ((a * s - 5 * a) * s + 8 * a) * s - 4 * a, 0.0))
    return np.stack([k(t + 1), k(t), k(1 - t), k(2 - t)], axis=-1)


def axis_table(in_len, out_len, scale, mode, transform, nearest, cubic_a, exclude_outside, taps):
    x = np.arange(out_len, dtype=np.float64)
    c = _source_coord(x, scale, in_len, out_len, transform)
    if mode == "nearest":
        idx = np.clip(_nearest_index(c, nearest, scale), 0, in_len - 1)[:, None]
        w = np.ones((out_len, 1))
    elif mode == "linear":
        c = np.clip(c, 0, in_len - 1)
        i0 = np.floor(c).astype(np.int64)
        i1 = np.minimum(i0 + 1, in_len - 1)
        f = c - i0
        idx, w = np.stack([i0, i1], -1), np.stack([1 - f, f], -1)
    else:
        i0 = np.floor(c).astype(np.int64)
        raw = i0[:, None] + np.arange(-1, 3)[None, :]
        w = _cubic_weights(c - i0, cubic_a)
        if exclude_outside:
            w = np.where((raw >= 0) & (raw < in_len), w, 0.0)
            w = w / w.sum(axis=1, keepdims=True)
        idx = np.clip(raw, 0, in_len - 1)
    if idx.shape[1] < taps:  # pad to the common tap count with zero-weight taps
        extra = taps - idx.shape[1]
        idx = np.concatenate([idx, np.repeat(idx[:, :1], extra, 1)], 1)
        w = np.concatenate([w, np.zeros((out_len, extra))], 1)
    return idx, w


@register
class Resize(OpDef):
    op_type = "Resize"
    attrs = {"antialias": 0, "axes": None, "coordinate_transformation_mode": "half_pixel", "cubic_coeff_a": -0.75,
             "exclude_outside": 0, "extrapolation_value": 0.0, "keep_aspect_ratio_policy": "stretch",
             "mode": "nearest", "nearest_mode": "round_prefer_floor"}
    summary = "nearest/linear/cubic resize via compile-time tap tables"

    def check_node(self, graph, node):
        if self.attr(node, "mode") not in _MODES:
            raise Unsupported(f"mode '{self.attr(node, 'mode')}'")
        if self.attr(node, "coordinate_transformation_mode") not in _TRANSFORMS:
            raise Unsupported(f"coordinate_transformation_mode '{self.attr(node, 'coordinate_transformation_mode')}'")
        if self.attr(node, "nearest_mode") not in _NEAREST:
            raise Unsupported(f"nearest_mode '{self.attr(node, 'nearest_mode')}'")
        if int(self.attr(node, "antialias")):
            raise Unsupported("antialias=1")
        if self.attr(node, "keep_aspect_ratio_policy") != "stretch" and node.input(3):
            raise Unsupported(f"keep_aspect_ratio_policy '{self.attr(node, 'keep_aspect_ratio_policy')}'")
        for i, what in ((2, "scales"), (3, "sizes")):
            if node.input(i) and graph.const(node.input(i)) is None:
                raise Unsupported(f"{what} must be a compile-time constant")

    def lower(self, graph: Graph, node: Node) -> Lowered:
        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        rank = len(x.shape)
        if rank > 8:
            raise Unsupported("rank above 8")
        axes = [a % rank for a in (self.attr(node, "axes") or range(rank))]
        scales = [1.0] * rank
        sc = graph.const(node.input(2))
        if sc is not None and np.asarray(sc).size:
            for a, s in zip(axes, np.asarray(sc, dtype=np.float64).reshape(-1)):
                scales[a] = float(s)
        else:
            scales = [o / i for o, i in zip(y.shape, x.shape)]
        mode = self.attr(node, "mode")
        taps = {"nearest": 1, "linear": 2, "cubic": 4}[mode]
        idx_parts, w_parts = [], []
        for d in range(rank):
            if x.shape[d] == y.shape[d] and scales[d] == 1.0:
                idx = np.arange(y.shape[d])[:, None].repeat(taps, 1)
                w = np.zeros((y.shape[d], taps))
                w[:, 0] = 1.0
            else:
                idx, w = axis_table(x.shape[d], y.shape[d], scales[d], mode,
                                    self.attr(node, "coordinate_transformation_mode"), self.attr(node, "nearest_mode"),
                                    float(self.attr(node, "cubic_coeff_a")), int(self.attr(node, "exclude_outside")),
                                    taps)
            idx_parts.append(idx.reshape(-1))
            w_parts.append(w.reshape(-1))
        idx_name = graph.add_const(graph.fresh_name(node.outputs[0] + "::resize_idx"),
                                   np.concatenate(idx_parts).astype(np.int64)).name
        w_name = graph.add_const(graph.fresh_name(node.outputs[0] + "::resize_w"),
                                 np.concatenate(w_parts).astype(np.float32)).name
        fields = {"rank": rank, "taps": taps, "in_shape": pad8(x.shape, 1), "out_shape": pad8(y.shape, 1)}
        call = Call("o2c_resize", [TensorArg(node.inputs[0]), TensorArg(node.outputs[0]),
                                   TensorArg(idx_name, 0, "int64_t"), TensorArg(w_name)],
                    Params("o2c_resize_params_t", fields), flops=y.size * taps ** rank)
        return Lowered([call], reason=f"{mode} resize: inline CPU kernel with compile-time tap tables")

    def flops(self, graph, node):
        return graph.values[node.outputs[0]].size
