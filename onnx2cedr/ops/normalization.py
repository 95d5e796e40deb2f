"""Normalizations over a set of axes -> the inline CPU kernel o2c_normalize (no CEDR API):
LayerNormalization, RMSNormalization, InstanceNormalization, GroupNormalization,
MeanVarianceNormalization, LpNormalization."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, norm_axis, pad8, register
from .eltwise import broadcast_strides


def _collapse(shape, reduce, sstr, bstr):
    """Drop size-1 axes and merge neighbours that agree on the reduce flag and whose scale/bias
    strides nest (fewer, longer rows for the kernel)."""
    dims = [(int(n), int(r), int(s), int(b)) for n, r, s, b in zip(shape, reduce, sstr, bstr) if n != 1]
    if not dims:
        return [1], [1], [0], [0]
    merged = [list(dims[-1])]
    for n, r, s, b in reversed(dims[:-1]):
        pn, pr, ps, pb = merged[-1]
        if r == pr and s == ps * pn and b == pb * pn:
            merged[-1] = [pn * n, pr, ps, pb]
        else:
            merged.append([n, r, s, b])
    merged.reverse()
    return [m[0] for m in merged], [m[1] for m in merged], [m[2] for m in merged], [m[3] for m in merged]


def norm_call(graph: Graph, node: Node, kind: str, shape: Sequence[int], reduce: Sequence[int], eps: float,
              scale: str = "", bias: str = "", scale_strides=None, bias_strides=None,
              mean_out: str = "", inv_out: str = "") -> Call:
    """One o2c_normalize call. shape is a view of the input (same element order); scale/bias
    strides are element strides per axis of that view (computed from numpy broadcasting when
    not given)."""
    rank = len(shape)
    if scale and scale_strides is None:
        scale_strides = broadcast_strides(graph.values[scale].shape, shape)
    if bias and bias_strides is None:
        bias_strides = broadcast_strides(graph.values[bias].shape, shape)
    ss = list(scale_strides) if scale else [0] * rank
    bs = list(bias_strides) if bias else [0] * rank
    # the kept axes' order is the dense order of the statistics outputs: merging keeps it
    shp, red, ss, bs = _collapse(shape, reduce, ss, bs)
    if len(shp) > 8:
        raise Unsupported(f"normalizing over a layout of {len(shp)} dimensions (at most 8)")
    fields = {"kind": kind, "rank": len(shp), "epsilon": float(eps), "shape": pad8(shp, 1),
              "reduce": pad8(red, 0), "scale_stride": pad8(ss, 0), "bias_stride": pad8(bs, 0)}
    args = [TensorArg(node.inputs[0]), TensorArg(scale) if scale else NullArg(), TensorArg(bias) if bias else NullArg(),
            TensorArg(node.outputs[0]), TensorArg(mean_out) if mean_out else NullArg(),
            TensorArg(inv_out) if inv_out else NullArg()]
    n = int(np.prod(shape, dtype=np.int64))
    return Call("o2c_normalize", args, Params("o2c_norm_params_t", fields), flops=8 * n)


def _same_as_input(graph: Graph, node: Node):
    """Output 0 has the input's type and shape (ops whose onnx schema has no shape inference)."""
    x = graph.value(node.inputs[0])
    return [(x.dtype, x.shape)]


def _check_float_inputs(graph: Graph, node: Node, names: Sequence[str]) -> None:
    for i in names:
        if i and i in graph.values and graph.values[i].dtype != np.float32:
            raise Unsupported(f"input '{i}' has element type {graph.values[i].dtype} (supported: float32)")


def _check_stash(op: OpDef, node: Node) -> None:
    st = int(op.attr(node, "stash_type"))
    if st != 1:
        raise Unsupported(f"stash_type={st} (only 1, float32 statistics, is supported)")


class _LastAxesNorm(OpDef):
    """LayerNormalization / RMSNormalization: statistics over the axes from `axis` on."""

    kind = ""
    max_outputs = 1  # LayerNormalization: Y, Mean, InvStdDev
    has_bias = False

    def check_node(self, graph, node):
        _check_stash(self, node)
        _check_float_inputs(graph, node, node.inputs[1:])
        if len(node.outputs) > self.max_outputs:
            raise Unsupported(f"{len(node.outputs)} outputs (at most {self.max_outputs})")
        x = graph.values.get(node.inputs[0])
        if x is not None:
            if not x.shape:
                raise Unsupported("a scalar input")
            norm_axis(int(self.attr(node, "axis")), len(x.shape), node)
            for i in node.inputs[1:3]:
                if i and i in graph.values:
                    s = graph.values[i].shape
                    if len(s) > len(x.shape) or any(a != 1 and a != b for a, b in zip(s[::-1], x.shape[::-1])):
                        raise Unsupported(f"'{i}' of shape {list(s)} does not broadcast to the input {list(x.shape)}")

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        ax = norm_axis(int(self.attr(node, "axis")), len(x.shape), node)
        reduce = [0] * ax + [1] * (len(x.shape) - ax)
        call = norm_call(graph, node, self.kind, x.shape, reduce, float(self.attr(node, "epsilon")),
                         scale=node.input(1), bias=node.input(2) if self.has_bias else "",
                         mean_out=node.outputs[1] if len(node.outputs) > 1 else "",
                         inv_out=node.outputs[2] if len(node.outputs) > 2 else "")
        return Lowered([call], reason=f"{node.op}: inline CPU kernel")


@register
class LayerNormalization(_LastAxesNorm):
    op_type = "LayerNormalization"
    attrs = {"axis": -1, "epsilon": 1e-5, "stash_type": 1}
    kind = "O2C_NORM_MEAN_VAR"
    max_outputs = 3
    has_bias = True
    summary = "normalize over the trailing axes, scale and optional bias; Mean/InvStdDev outputs"


@register
class RMSNormalization(_LastAxesNorm):
    op_type = "RMSNormalization"
    attrs = {"axis": -1, "epsilon": 1e-5, "stash_type": 1}
    kind = "O2C_NORM_RMS"
    has_infer = True  # opset 23: no schema at the internal opset
    summary = "x / sqrt(mean(x^2) + eps) over the trailing axes, times scale"

    def infer(self, graph, node):
        return _same_as_input(graph, node)


def _channel_view(x_shape, groups: int):
    """(N, C, *spatial) viewed as (N, G, C/G, inner) with the last two axes reduced."""
    n, c = int(x_shape[0]), int(x_shape[1])
    inner = int(np.prod(x_shape[2:], dtype=np.int64))
    return [n, groups, c // groups, inner], [0, 0, 1, 1]


@register
class InstanceNormalization(OpDef):
    op_type = "InstanceNormalization"
    attrs = {"epsilon": 1e-5}
    summary = "per (sample, channel) normalization over the spatial axes, per-channel affine"

    def check_node(self, graph, node):
        _check_float_inputs(graph, node, node.inputs[1:])
        x = graph.values.get(node.inputs[0])
        if x is not None:
            if len(x.shape) < 2:
                raise Unsupported("input rank below 2")
            for i in node.inputs[1:3]:
                if i in graph.values and graph.values[i].size != x.shape[1]:
                    raise Unsupported(f"'{i}' must hold one value per channel ({x.shape[1]})")

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        c = int(x.shape[1])
        shape, reduce = _channel_view(x.shape, c)
        strides = [0, 1, 0, 0]
        call = norm_call(graph, node, "O2C_NORM_MEAN_VAR", shape, reduce, float(self.attr(node, "epsilon")),
                         scale=node.input(1), bias=node.input(2), scale_strides=strides, bias_strides=strides)
        return Lowered([call], reason="instance normalization: inline CPU kernel")


@register
class GroupNormalization(OpDef):
    op_type = "GroupNormalization"
    has_infer = True  # the onnx schema (a function) infers no shape
    attrs = {"epsilon": 1e-5, "num_groups": None, "stash_type": 1}
    summary = "normalization over channel groups (opset 21: per-channel scale and bias)"

    def infer(self, graph, node):
        return _same_as_input(graph, node)

    def check_node(self, graph, node):
        _check_stash(self, node)
        _check_float_inputs(graph, node, node.inputs[1:])
        if self.attr(node, "num_groups") is None:
            raise Unsupported("the num_groups attribute is missing")
        g = int(self.attr(node, "num_groups"))
        x = graph.values.get(node.inputs[0])
        if x is not None:
            if len(x.shape) < 2:
                raise Unsupported("input rank below 2")
            if g <= 0 or x.shape[1] % g:
                raise Unsupported(f"num_groups={g} does not divide the {x.shape[1]} channels")
            for i in node.inputs[1:3]:
                if i in graph.values and graph.values[i].size != x.shape[1]:
                    raise Unsupported(f"'{i}' has {graph.values[i].size} values; opset-21 GroupNormalization "
                                      f"takes one per channel ({x.shape[1]})")

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        g = int(self.attr(node, "num_groups"))
        shape, reduce = _channel_view(x.shape, g)
        strides = [0, shape[2], 1, 0]
        call = norm_call(graph, node, "O2C_NORM_MEAN_VAR", shape, reduce, float(self.attr(node, "epsilon")),
                         scale=node.input(1), bias=node.input(2), scale_strides=strides, bias_strides=strides)
        return Lowered([call], reason="group normalization: inline CPU kernel")


@register
class MeanVarianceNormalization(OpDef):
    op_type = "MeanVarianceNormalization"
    has_infer = True  # the onnx schema (a function) infers no shape
    attrs = {"axes": [0, 2, 3]}
    summary = "(x - mean) / (std + 1e-9) over the given axes"

    def infer(self, graph, node):
        return _same_as_input(graph, node)

    def _axes(self, graph, node):
        x = graph.values[node.inputs[0]]
        ax = sorted({norm_axis(int(a), len(x.shape), node) for a in self.attr(node, "axes")})
        return x, ax

    def check_node(self, graph, node):
        if node.inputs[0] in graph.values:
            self._axes(graph, node)

    def lower(self, graph, node):
        x, ax = self._axes(graph, node)
        reduce = [1 if d in ax else 0 for d in range(len(x.shape))]
        call = norm_call(graph, node, "O2C_NORM_MEAN_STD", x.shape or [1], reduce or [1], 1e-9)
        return Lowered([call], reason="mean-variance normalization: inline CPU kernel")


@register
class LpNormalization(OpDef):
    op_type = "LpNormalization"
    attrs = {"axis": -1, "p": 2}
    summary = "x / ||x||_p along one axis (p = 1 or 2)"

    def check_node(self, graph, node):
        p = int(self.attr(node, "p"))
        if p not in (1, 2):
            raise Unsupported(f"p={p} (only 1 and 2)")
        x = graph.values.get(node.inputs[0])
        if x is not None:
            if not x.shape:
                raise Unsupported("a scalar input")
            norm_axis(int(self.attr(node, "axis")), len(x.shape), node)

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        ax = norm_axis(int(self.attr(node, "axis")), len(x.shape), node)
        reduce = [1 if d == ax else 0 for d in range(len(x.shape))]
        kind = "O2C_NORM_L1" if int(self.attr(node, "p")) == 1 else "O2C_NORM_L2"
        return Lowered([norm_call(graph, node, kind, x.shape, reduce, 0.0)],
                       reason="Lp normalization: inline CPU kernel")


@register
class RMSNormalizationExt(RMSNormalization):
    """RMSNormalization of an opset-23+ model, carried in the private domain (see opset_fixups)."""

    domain = "onnx2cedr.ext"
