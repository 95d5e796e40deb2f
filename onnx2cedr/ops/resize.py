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


def _coeff_fn(mode: str, nearest: str, cubic_a: float, antialias: bool):
    """The taps' weights of one output coordinate as a function of (ratio, scale), ratio the source
    coordinate's distance to the tap left of it in (0, 1] (ONNX's definition); antialias widens the
    linear/cubic filter by 1 / scale when downsampling."""
    if mode == "nearest":
        def fn(r, s):
            if r == 1:
                return np.array([0.0, 1.0])
            up = {"round_prefer_floor": r > 0.5, "round_prefer_ceil": r >= 0.5, "floor": False, "ceil": True}[nearest]
            return np.array([0.0, 1.0]) if up else np.array([1.0, 0.0])
        return fn
    if mode == "linear":
        if not antialias:
            return lambda r, s: np.array([1 - r, r])

        def lin(r, s):
            s = min(s, 1.0)
            start = int(np.floor(-1 / s) + 1)
            c = np.clip(1 - np.abs((np.arange(start, 2 - start) - r) * s), 0, 1)
            return c / c.sum()
        return lin

    def k(x):
        x = np.abs(x)
        return np.where(x <= 1, ((cubic_a + 2) * x - (cubic_a + 3)) * x * x + 1,
                        np.where(x < 2, ((cubic_a * x - 5 * cubic_a) * x + 8 * cubic_a) * x - 4 * cubic_a, 0.0))
    if not antialias:
        return lambda r, s: k(np.array([r + 1, r, 1 - r, 2 - r]))

    def cub(r, s):
        s = min(s, 1.0)
        start = int(np.floor(-2 / s) + 1)
        c = k(s * (np.arange(start, 2 - start) - r))
        return c / c.sum()
    return cub


def general_axis_table(in_len, out_len, scale, mode, transform, nearest, cubic_a, exclude_outside, antialias,
                       roi=None):
    """Tap table of one axis by ONNX's general definition (window of the filter's width around the source
    coordinate, edge-replicated): antialiased filters and tf_crop_and_resize. Returns (idx, w, outside),
    outside marking the output coordinates that tf_crop_and_resize extrapolates."""
    y = np.arange(out_len, dtype=np.float64)
    width = scale * in_len
    outside = np.zeros(out_len, dtype=bool)
    if transform == "tf_crop_and_resize":
        r0, r1 = roi
        if width == 1:
            c = np.full(out_len, (r1 - r0) * (in_len - 1) / 2)
        else:
            c = y * (r1 - r0) * (in_len - 1) / (width - 1)
        c = c + r0 * (in_len - 1)
        outside = (c < 0) | (c > in_len - 1)
    else:
        c = _source_coord(y, scale, in_len, out_len, transform)
        if transform == "pytorch_half_pixel" and out_len <= 1:
            c = np.full(out_len, -0.5)
    fn = _coeff_fn(mode, nearest, cubic_a, antialias)
    c0 = np.floor(c).astype(np.int64)
    ratio = np.where(c == c0, 1.0, c - c0)
    w = np.stack([np.asarray(fn(float(r), scale), dtype=np.float64) for r in ratio]) if out_len else np.zeros((0, 1))
    n = w.shape[1]
    pad = int(np.ceil(n / 2))
    xp = c + pad
    p = np.floor(xp).astype(np.int64)
    frac = xp - p
    if n % 2 == 0:
        off = np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        base = -((n - 1) // 2)
        off = np.where(frac <= 0.5, base, base + 1)
    raw = (p + off)[:, None] + np.arange(n)[None, :] - pad
    if exclude_outside:
        w = np.where((raw < 0) | (raw >= in_len), 0.0, w)
        total = w.sum(axis=1, keepdims=True)
        w = w / np.where(total == 0, 1.0, total)
    idx = np.clip(raw, 0, in_len - 1)
    idx[outside] = -1
    w[outside] = 0.0
    return idx, w, outside


@register
class Resize(OpDef):
    op_type = "Resize"
    attrs = {"antialias": 0, "axes": None, "coordinate_transformation_mode": "half_pixel", "cubic_coeff_a": -0.75,
             "exclude_outside": 0, "extrapolation_value": 0.0, "keep_aspect_ratio_policy": "stretch",
             "mode": "nearest", "nearest_mode": "round_prefer_floor"}
    summary = ("nearest/linear/cubic resize via compile-time tap tables (antialiased linear/cubic, "
               "tf_crop_and_resize with extrapolation, keep_aspect_ratio_policy)")

    def check_node(self, graph, node):
        if self.attr(node, "mode") not in _MODES:
            raise Unsupported(f"mode '{self.attr(node, 'mode')}'")
        transform = self.attr(node, "coordinate_transformation_mode")
        if transform not in _TRANSFORMS + ("tf_crop_and_resize",):
            raise Unsupported(f"coordinate_transformation_mode '{transform}'")
        if self.attr(node, "nearest_mode") not in _NEAREST:
            raise Unsupported(f"nearest_mode '{self.attr(node, 'nearest_mode')}'")
        if int(self.attr(node, "antialias")) and self.attr(node, "mode") == "nearest":
            raise Unsupported("antialias=1 with mode 'nearest' (ONNX defines it for linear and cubic)")
        if self.attr(node, "keep_aspect_ratio_policy") not in ("stretch", "not_larger", "not_smaller"):
            raise Unsupported(f"keep_aspect_ratio_policy '{self.attr(node, 'keep_aspect_ratio_policy')}'")
        if transform == "tf_crop_and_resize":
            roi = graph.const(node.input(1)) if node.input(1) else None
            if roi is None:
                raise Unsupported("tf_crop_and_resize needs roi as a compile-time constant")
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
        sc = graph.const(node.input(2)) if node.input(2) else None
        sizes = graph.const(node.input(3)) if node.input(3) else None
        policy = self.attr(node, "keep_aspect_ratio_policy")
        if sc is not None and np.asarray(sc).size:
            for a, s in zip(axes, np.asarray(sc, dtype=np.float64).reshape(-1)):
                scales[a] = float(s)
        elif sizes is not None and policy != "stretch":
            # one scale for every resized axis: the smallest (not_larger) or largest (not_smaller) ratio
            ratios = [float(n) / x.shape[a] for a, n in zip(axes, np.asarray(sizes).reshape(-1))]
            common = min(ratios) if policy == "not_larger" else max(ratios)
            for a in axes:
                scales[a] = common
            want = [int(common * x.shape[d] + 0.5) if d in axes else x.shape[d] for d in range(rank)]
            if list(y.shape) != want:
                raise Unsupported(f"output shape {list(y.shape)} is not the {policy} size {want}")
        else:
            scales = [o / i for o, i in zip(y.shape, x.shape)]
        mode = self.attr(node, "mode")
        transform = self.attr(node, "coordinate_transformation_mode")
        antialias = bool(int(self.attr(node, "antialias")))
        rois = [(0.0, 1.0)] * rank
        if transform == "tf_crop_and_resize":
            # the roi keeps its own type (float32 ...): the source coordinates round as ONNX's reference
            # computes them, which decides ties of nearest rounding
            roi = np.asarray(graph.const(node.input(1))).reshape(-1)
            if roi.size != 2 * len(axes) or roi.dtype.kind != "f":
                raise Unsupported(f"roi must hold {2 * len(axes)} float values")
            for k, a in enumerate(axes):
                rois[a] = (roi[k], roi[len(axes) + k])
        general = antialias or transform == "tf_crop_and_resize"
        tables, extrapolate = [], False
        for d in range(rank):
            if x.shape[d] == y.shape[d] and np.isclose(scales[d], 1.0) and np.allclose(np.asarray(rois[d], np.float64), (0.0, 1.0)):
                tables.append((np.arange(y.shape[d])[:, None], np.ones((y.shape[d], 1))))
            elif general:
                idx, w, outside = general_axis_table(
                    x.shape[d], y.shape[d], scales[d], mode, transform, self.attr(node, "nearest_mode"),
                    float(self.attr(node, "cubic_coeff_a")), int(self.attr(node, "exclude_outside")), antialias,
                    rois[d])
                extrapolate = extrapolate or bool(outside.any())
                tables.append((idx, w))
            else:
                tables.append(axis_table(x.shape[d], y.shape[d], scales[d], mode, transform,
                                         self.attr(node, "nearest_mode"), float(self.attr(node, "cubic_coeff_a")),
                                         int(self.attr(node, "exclude_outside")),
                                         {"nearest": 1, "linear": 2, "cubic": 4}[mode]))
        taps = max(t[0].shape[1] for t in tables) if tables else 1
        idx_parts, w_parts = [], []
        for idx, w in tables:
            if idx.shape[1] < taps:  # pad to the common tap count with zero-weight taps (same index)
                extra = taps - idx.shape[1]
                idx = np.concatenate([idx, np.repeat(idx[:, :1], extra, 1)], 1)
                w = np.concatenate([w, np.zeros((w.shape[0], extra))], 1)
            idx_parts.append(idx.reshape(-1))
            w_parts.append(w.reshape(-1))
        idx_name = graph.add_const(graph.fresh_name(node.outputs[0] + "::resize_idx"),
                                   np.concatenate(idx_parts).astype(np.int64)).name
        w_name = graph.add_const(graph.fresh_name(node.outputs[0] + "::resize_w"),
                                 np.concatenate(w_parts).astype(np.float32)).name
        fields = {"rank": rank, "taps": taps, "in_shape": pad8(x.shape, 1), "out_shape": pad8(y.shape, 1),
                  "extrapolate": int(extrapolate),
                  "extrapolation_value": float(self.attr(node, "extrapolation_value")) if extrapolate else 0.0}
        call = Call("o2c_resize", [TensorArg(node.inputs[0]), TensorArg(node.outputs[0]),
                                   TensorArg(idx_name, 0, "int64_t"), TensorArg(w_name)],
                    Params("o2c_resize_params_t", fields), flops=y.size * taps ** rank)
        return Lowered([call], reason=f"{mode} resize: inline CPU kernel with compile-time tap tables")

    def flops(self, graph, node):
        return graph.values[node.outputs[0]].size
