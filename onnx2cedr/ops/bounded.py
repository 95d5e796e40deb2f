"""Ops whose output has a dimension known only at run time: NonZero, NonMaxSuppression, Unique, and TopK
with a run-time k (kernels/src/cpu/bounded.cpp).

Such a dimension is bounded (ir.DimBound): the value's shape holds a maximum that the op's semantics
give (NonZero: the input's element count; NonMaxSuppression: batches * classes * boxes kept per class;
Unique: the slices' count; TopK: the axis length), or a smaller one the user states (convert --max-dim
NAME=N, kept in graph.max_dims). Memory is planned for the maximum; the kernel writes the actual
extent into the run's extent slot and its data dense in the actual shape; the generated code checks
the extent against the maximum (over it: O2C_ERR_BOUND and one line) and reports each graph output's
actual shape (the library's _run_shaped). A bounded value may be a graph output, or go through Cast or
a 2-D Transpose (below: they carry the dimension on, sharing the extent slot); any other reader is
refused (check_uses), since every other kernel is compiled for static shapes.
"""
from __future__ import annotations

import numpy as np

from ..errors import O2CError, UnsupportedError
from ..infer import onnx_infer
from ..ir import DimBound, Graph, Node
from . import index as _index
from . import logic as _logic
from . import movement as _movement
from .base import (Call, ExtentArg, Lowered, NullArg, OpDef, Params, ScalarArg, TensorArg, Unsupported, norm_axis, pad8,
                   register)
from .logic import DT_CODES, dt_code

I64 = np.dtype(np.int64)
F32 = np.dtype(np.float32)


def _arg(name: str, cast: str = "void") -> TensorArg:
    return TensorArg(name, 0, cast)


def _slot(node: Node) -> str:
    return next(o for o in node.outputs if o)


def _split(shape, ax: int) -> tuple[int, int, int]:
    return int(np.prod(shape[:ax], dtype=np.int64)), int(shape[ax]), int(np.prod(shape[ax + 1:], dtype=np.int64))


def parse_max_dims(specs) -> dict[str, int] | None:
    """convert --max-dim NAME=N (repeatable) -> {NAME: N}; a malformed one is a one-line error."""
    if not specs:
        return None
    out = {}
    for spec in specs:
        name, eq, n = spec.rpartition("=")
        if not eq or not name or not n.strip().isdigit():
            raise O2CError(f"--max-dim '{spec}': expected NAME=N with N a non-negative integer")
        out[name] = int(n)
    return out


def check_uses(graph: Graph) -> None:
    """Every value with a dimension known only at run time must be read by nothing but the graph's
    outputs: one line naming the first reader otherwise."""
    bounded = {k for k, v in graph.values.items() if v.bound is not None and not v.is_const}
    if not bounded:
        return
    for n in graph.nodes:
        for i in (*n.inputs, *n.captures):
            if i not in bounded:
                continue
            v = graph.values[i]
            # a reader that carries the dimension on (its outputs share the extent slot: Transpose, Cast below)
            if i == n.inputs[0] and all(graph.values[o].bound is not None and graph.values[o].bound.slot == v.bound.slot
                                        for o in n.outputs if o):
                continue
            raise UnsupportedError(
                f"node '{n.name}' ({n.op}) reads '{i}', whose dimension {v.bound.dim} is known only at run time "
                f"(at most {v.shape[v.bound.dim]}): such a value can only be a graph output (or go through "
                f"Cast or a 2-D Transpose first)")
    for k in list(graph.max_dims):
        v = graph.values.get(k)
        if v is None or v.bound is None:
            raise O2CError(f"--max-dim names '{k}', which is not a value with a dimension known only at run time")
        if v.bound.slot != k:
            raise O2CError(f"--max-dim names '{k}', which takes its maximum from '{v.bound.slot}': state it there")


@register
class NonZero(OpDef):
    op_type = "NonZero"
    dtypes = tuple(DT_CODES)
    has_infer = True
    summary = "indices of the non-zero elements; the count is known only at run time (bounded by the element count)"

    def check_node(self, graph, node):
        if not graph.values[node.inputs[0]].shape:
            raise Unsupported("a scalar input is not supported")

    def infer(self, graph, node):
        x = graph.value(node.inputs[0])
        return [(I64, (len(x.shape), x.size), DimBound(1, _slot(node)))]

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        f = {"rank": len(x.shape), "type": dt_code(x.dtype), "shape": pad8(x.shape, 1),
             "cap": graph.values[node.outputs[0]].shape[1]}
        return Lowered([Call("o2c_nonzero", [_arg(node.inputs[0]), _arg(node.outputs[0], "int64_t"),
                                             ExtentArg(_slot(node))], Params("o2c_nonzero_params_t", f))],
                       reason="bounded output (run-time count): inline CPU kernel")


@register
class NonMaxSuppression(OpDef):
    op_type = "NonMaxSuppression"
    attrs = {"center_point_box": 0}
    dtypes = (F32,)
    has_infer = True
    summary = ("greedy box selection per batch and class; the count is known only at run time (bounded by "
               "batches * classes * max_output_boxes_per_class, or * boxes when that is not a constant)")

    def check_node(self, graph, node):
        b, s = graph.values[node.inputs[0]].shape, graph.value(node.input(1)).shape
        if len(b) != 3 or b[2] != 4 or len(s) != 3 or s[0] != b[0] or s[2] != b[1]:
            raise Unsupported(f"boxes {list(b)} and scores {list(s)} must be [batches, boxes, 4] and "
                              f"[batches, classes, boxes]")
        if self.attr(node, "center_point_box") not in (0, 1):
            raise Unsupported("center_point_box must be 0 or 1")
        for k, what, dt in ((2, "max_output_boxes_per_class", I64), (3, "iou_threshold", F32),
                            (4, "score_threshold", F32)):
            i = node.input(k)
            if i and (graph.values[i].dtype != dt or graph.values[i].size != 1):
                raise Unsupported(f"{what} must be one {dt} element")

    def infer(self, graph, node):
        batches, boxes, _ = graph.value(node.inputs[0]).shape
        classes = graph.value(node.input(1)).shape[1]
        per_class = boxes
        m = graph.const(node.input(2))
        if node.input(2) and m is not None:
            per_class = min(boxes, max(int(np.asarray(m).reshape(-1)[0]), 0))
        elif not node.input(2):
            per_class = 0
        return [(I64, (batches * classes * per_class, 3), DimBound(0, _slot(node)))]

    def lower(self, graph, node):
        batches, boxes, _ = graph.values[node.inputs[0]].shape
        classes = graph.values[node.input(1)].shape[1]
        opt = [_arg(node.input(k), c) if node.input(k) else NullArg(c)
               for k, c in ((2, "int64_t"), (3, "float"), (4, "float"))]
        f = {"batches": batches, "classes": classes, "boxes": boxes,
             "center_point_box": int(self.attr(node, "center_point_box")), "pad_": 0,
             "cap": graph.values[node.outputs[0]].shape[0]}
        return Lowered([Call("o2c_nms", [_arg(node.inputs[0], "float"), _arg(node.input(1), "float"), *opt,
                                         _arg(node.outputs[0], "int64_t"), ExtentArg(_slot(node))],
                             Params("o2c_nms_params_t", f))],
                       reason="bounded output (run-time count): inline CPU kernel")


@register
class Unique(OpDef):
    op_type = "Unique"
    attrs = {"axis": None, "sorted": 1}
    dtypes = tuple(DT_CODES)
    has_infer = True
    summary = "unique elements or slices, all four outputs; the count is known only at run time (bounded by the input's)"

    def _geometry(self, graph, node) -> tuple[tuple[int, ...], int | None]:
        x = graph.value(node.inputs[0])
        axis = self.attr(node, "axis")
        if axis is None:
            return (x.size,), None
        return x.shape, norm_axis(int(axis), len(x.shape), node)

    def check_node(self, graph, node):
        self._geometry(graph, node)

    def infer(self, graph, node):
        x = graph.value(node.inputs[0])
        shape, ax = self._geometry(graph, node)
        ax = 0 if ax is None else ax
        n = shape[ax]
        b = DimBound(0, _slot(node))
        return [(x.dtype, shape, DimBound(ax, _slot(node))), (I64, (n,), b), (I64, (n,), None), (I64, (n,), b)]

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        shape, ax = self._geometry(graph, node)
        outer, n, inner = _split(shape, 0 if ax is None else ax)
        outs = [node.outputs[k] if k < len(node.outputs) else "" for k in range(4)]
        caps = {graph.values[o].shape[0 if k else (ax or 0)] for k, o in enumerate(outs) if o and k != 2}
        f = {"outer": outer, "n": n, "inner": inner, "type": dt_code(x.dtype), "sorted": int(self.attr(node, "sorted")),
             "cap": min(caps)}
        args = [_arg(node.inputs[0])] + [(_arg(o, "void" if k == 0 else "int64_t") if o else
                                          NullArg("void" if k == 0 else "int64_t")) for k, o in enumerate(outs)]
        return Lowered([Call("o2c_unique", args + [ExtentArg(_slot(node))], Params("o2c_unique_params_t", f))],
                       reason="bounded output (run-time count): inline CPU kernel")


@register
class TopK(_index.TopK):
    """index.TopK, and a K known only at run time: the outputs' axis is bounded by the axis length."""

    has_infer = True
    summary = "k largest/smallest along an axis, sorted (ties: lower index first); K may be a run-time input"
    constraints = "a run-time K bounds the outputs by the axis length"

    def check_node(self, graph, node):
        if graph.const(node.input(1)) is not None:
            return super().check_node(graph, node)
        k = graph.values[node.input(1)]
        if k.dtype not in (np.dtype(np.int64), np.dtype(np.int32)) or k.size != 1:
            raise Unsupported("K must be one int64 element")

    def infer(self, graph, node):
        if graph.const(node.input(1)) is not None:
            return onnx_infer(graph, node)
        x = graph.value(node.inputs[0])
        ax = norm_axis(int(self.attr(node, "axis")), len(x.shape), node)
        b = DimBound(ax, _slot(node))
        return [(x.dtype, x.shape, b), (I64, x.shape, b)]

    def lower(self, graph, node):
        if graph.const(node.input(1)) is not None:
            return super().lower(graph, node)
        x = graph.values[node.inputs[0]]
        ax = norm_axis(int(self.attr(node, "axis")), len(x.shape), node)
        outer, n, inner = _split(x.shape, ax)
        vals, idx = node.outputs[0], node.outputs[1] if len(node.outputs) > 1 else ""
        if not vals or not idx:
            raise Unsupported("both outputs (values and indices) must be present")
        cap = graph.values[vals].shape[ax]
        f = {"outer": outer, "n": n, "inner": inner, "k": cap, "type": dt_code(x.dtype),
             "largest": int(self.attr(node, "largest"))}
        kt = graph.values[node.input(1)].dtype
        return Lowered([Call("o2c_topk_rt", [_arg(node.inputs[0]), _arg(node.input(1)),
                                             ScalarArg("int32_t", dt_code(kt)), _arg(vals),
                                             _arg(idx, "int64_t"), ExtentArg(_slot(node))],
                             Params("o2c_topk_params_t", f))],
                       reason="top-k with a run-time K (bounded output): inline CPU kernel")


@register
class Transpose(_movement.Transpose):
    """movement.Transpose, and a 2-D value with a dimension known only at run time (NonZero's result, as
    torch.nonzero exports it): the transpose carries the dimension (same extent slot)."""

    has_infer = True

    def _perm(self, node, rank: int) -> list[int]:
        return list(self.attr(node, "perm") or reversed(range(rank)))

    def infer(self, graph, node):
        x = graph.value(node.inputs[0])
        if x.bound is None:
            return onnx_infer(graph, node)
        perm = self._perm(node, len(x.shape))
        if sorted(perm) != list(range(len(x.shape))):
            raise Unsupported(f"perm {perm} is not a permutation of {len(x.shape)} axes")
        return [(x.dtype, tuple(x.shape[p] for p in perm), DimBound(perm.index(x.bound.dim), x.bound.slot,
                                                                     x.bound.stated))]

    def check_node(self, graph, node):
        x = graph.values[node.inputs[0]]
        if x.bound is not None and len(x.shape) != 2:
            raise Unsupported("a value with a dimension known only at run time transposes only in 2-D")

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        if x.bound is None:
            return super().lower(graph, node)
        if self._perm(node, 2) == [0, 1]:
            return super().lower(graph, node)  # a copy: the dense data keeps its layout
        f = {"fixed": x.shape[1 - x.bound.dim], "bounded_dim": x.bound.dim, "elem_size": np.dtype(x.dtype).itemsize}
        return Lowered([Call("o2c_transpose_rt", [_arg(node.inputs[0]), _arg(node.outputs[0]), ExtentArg(x.bound.slot)],
                             Params("o2c_transpose_rt_params_t", f))],
                       reason="transpose of a run-time extent: inline CPU kernel")


@register
class Cast(_logic.Cast):
    """logic.Cast, and a value with a dimension known only at run time: element-wise over the whole buffer
    (the dense data at its start is what counts), carrying the dimension."""

    has_infer = True

    def infer(self, graph, node):
        x = graph.value(node.inputs[0])
        res = onnx_infer(graph, node)
        if x.bound is None:
            return res
        return [(res[0][0], x.shape, x.bound)]
