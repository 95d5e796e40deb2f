"""Data movement: reshape-likes are aliases (no code); Transpose, Slice, Concat, Split, Expand,
Tile, Gather and Pad lower to the strided-copy / pad CPU kernels (no CEDR API: memory traffic
only). Ops that must be folded at compile time (Shape, Constant, ...) are registered here too."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import (Alias, Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, dense_strides, norm_axis,
                   pad8, register)

ANY = ()  # no dtype restriction


def copy_call(graph: Graph, src: str, dst: str, shape, src_strides, dst_strides=None, src_offset: int = 0,
              dst_offset: int = 0, comment: str = "") -> Call:
    """A strided copy, with size-1 dims dropped and contiguous dims merged to keep the rank low."""
    shape = [int(d) for d in shape]
    if dst_strides is None:
        dst_strides = dense_strides(shape)
    dims = [(d, int(s), int(t)) for d, s, t in zip(shape, src_strides, dst_strides) if d != 1]
    merged: list[list[int]] = []
    for d, s, t in reversed(dims):
        if merged and s == merged[-1][1] * merged[-1][0] and t == merged[-1][2] * merged[-1][0]:
            merged[-1] = [merged[-1][0] * d, merged[-1][1], merged[-1][2]]
        else:
            merged.append([d, s, t])
    merged.reverse()
    if not merged:
        merged = [[1, 0, 0]]
    if len(merged) > 8:
        raise Unsupported(f"a data movement over {len(merged)} non-mergeable dimensions (at most 8)")
    elem = np.dtype(graph.values[src].dtype).itemsize
    fields = {"rank": len(merged), "elem_size": elem, "src_offset": int(src_offset),
              "shape": pad8([m[0] for m in merged], 1), "src_stride": pad8([m[1] for m in merged], 0),
              "dst_stride": pad8([m[2] for m in merged], 0)}
    return Call("o2c_copy", [TensorArg(src, 0, "void"), TensorArg(dst, dst_offset, "void")],
                Params("o2c_copy_params_t", fields), comment=comment)


class _Alias(OpDef):
    dtypes = ANY

    def flops(self, graph, node):
        return 0

    def lower(self, graph: Graph, node: Node) -> Lowered:
        return Lowered([], alias=Alias(node.inputs[0], node.outputs[0]), reason="reshape: shares its input's memory")


def _alias(name: str, attrs: dict):
    cls = type(f"Op{name}", (_Alias,), {"op_type": name, "attrs": attrs, "summary": "view (no data moved)"})
    register(cls)


_alias("Reshape", {"allowzero": 0})
_alias("Flatten", {"axis": 1})
_alias("Squeeze", {})
_alias("Unsqueeze", {})
_alias("Identity", {})


@register
class Dropout(_Alias):
    op_type = "Dropout"
    attrs = {"seed": None}
    summary = "inference: identity"

    def check_node(self, graph, node):
        tm = graph.const(node.input(2))
        if node.input(2) and (tm is None or bool(np.asarray(tm))):
            raise Unsupported("training_mode must be a constant false")

    def lower(self, graph: Graph, node: Node) -> Lowered:
        if len(node.outputs) > 1 and node.outputs[1]:  # inference: the mask is all true
            from .logic import fill_call

            x = graph.values[node.inputs[0]]
            return Lowered([copy_call(graph, node.inputs[0], node.outputs[0], x.shape, dense_strides(x.shape)),
                            fill_call(graph, node.outputs[1], True)], reason="inference: copy, mask all true")
        return super().lower(graph, node)


@register
class Transpose(OpDef):
    op_type = "Transpose"
    attrs = {"perm": None}
    dtypes = ANY
    summary = "strided copy"

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        perm = list(self.attr(node, "perm") or reversed(range(len(x.shape))))
        src = dense_strides(x.shape)
        shape = [x.shape[p] for p in perm]
        return Lowered([copy_call(graph, node.inputs[0], node.outputs[0], shape, [src[p] for p in perm])],
                       reason="data movement: inline strided copy")


def const_ints(graph: Graph, name: str, what: str) -> list[int] | None:
    if not name:
        return None
    v = graph.const(name)
    if v is None:
        raise Unsupported(f"{what} must be a compile-time constant")
    return [int(x) for x in np.asarray(v).reshape(-1)]


@register
class Slice(OpDef):
    op_type = "Slice"
    attrs = {}
    dtypes = ANY
    summary = "strided copy"

    def check_node(self, graph, node):
        for i, what in ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps")):
            const_ints(graph, node.input(i), what)

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        rank = len(x.shape)
        starts = const_ints(graph, node.input(1), "starts")
        ends = const_ints(graph, node.input(2), "ends")
        axes = const_ints(graph, node.input(3), "axes") or list(range(len(starts)))
        steps = const_ints(graph, node.input(4), "steps") or [1] * len(starts)
        src = dense_strides(x.shape)
        first = [0] * rank
        step = [1] * rank
        for s, e, a, st in zip(starts, ends, axes, steps):
            a = norm_axis(a, rank, node)
            r = range(*slice(s, e, st).indices(x.shape[a]))
            first[a], step[a] = (r.start if len(r) else 0), st
        y = graph.values[node.outputs[0]]
        offset = sum(f * s for f, s in zip(first, src))
        return Lowered([copy_call(graph, node.inputs[0], node.outputs[0], y.shape,
                                  [s * st for s, st in zip(src, step)], src_offset=offset)],
                       reason="data movement: inline strided copy")


@register
class Concat(OpDef):
    op_type = "Concat"
    attrs = {"axis": None}
    dtypes = ANY
    summary = "strided copies into views of the output"

    def lower(self, graph, node):
        y = graph.values[node.outputs[0]]
        ax = norm_axis(int(self.attr(node, "axis")), len(y.shape), node)
        dst = dense_strides(y.shape)
        calls, pos = [], 0
        for i in node.inputs:
            if not i:
                continue
            x = graph.values[i]
            if x.shape[ax] == 0:
                continue
            calls.append(copy_call(graph, i, node.outputs[0], x.shape, dense_strides(x.shape), dst,
                                   dst_offset=pos * dst[ax]))
            pos += x.shape[ax]
        return Lowered(calls, reason="data movement: inline strided copies")


@register
class Split(OpDef):
    op_type = "Split"
    attrs = {"axis": 0, "num_outputs": None}
    dtypes = ANY
    summary = "strided copies"

    def check_node(self, graph, node):
        const_ints(graph, node.input(1), "split")

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        ax = norm_axis(int(self.attr(node, "axis")), len(x.shape), node)
        src = dense_strides(x.shape)
        calls, pos = [], 0
        for o in node.outputs:
            y = graph.values[o] if o else None
            if y is not None and y.size:
                calls.append(copy_call(graph, node.inputs[0], o, y.shape, src, src_offset=pos * src[ax]))
            pos += 0 if y is None else y.shape[ax]
        return Lowered(calls, reason="data movement: inline strided copies")


@register
class Expand(OpDef):
    op_type = "Expand"
    attrs = {}
    dtypes = ANY
    summary = "broadcasting copy"

    def check_node(self, graph, node):
        const_ints(graph, node.input(1), "shape")

    def lower(self, graph, node):
        from .eltwise import broadcast_strides

        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        return Lowered([copy_call(graph, node.inputs[0], node.outputs[0], y.shape,
                                  broadcast_strides(x.shape, y.shape))], reason="data movement: broadcasting copy")


@register
class Tile(OpDef):
    op_type = "Tile"
    attrs = {}
    dtypes = ANY
    summary = "repeating copy"

    def check_node(self, graph, node):
        const_ints(graph, node.input(1), "repeats")

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        reps = const_ints(graph, node.input(1), "repeats")
        src = dense_strides(x.shape)
        shape, strides = [], []
        for r, d, s in zip(reps, x.shape, src):
            shape += [r, d]
            strides += [0, s]
        return Lowered([copy_call(graph, node.inputs[0], node.outputs[0], shape, strides)],
                       reason="data movement: repeating copy")


@register
class Gather(OpDef):
    op_type = "Gather"
    attrs = {"axis": 0}
    dtypes = ANY
    summary = "copies (indices must be constant)"

    def check_node(self, graph, node):
        idx = graph.const(node.input(1))
        if idx is None:
            raise Unsupported("indices computed at run time (only constant indices are supported)")
        if idx.size > 256:
            raise Unsupported(f"{idx.size} constant indices (at most 256)")

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        ax = norm_axis(int(self.attr(node, "axis")), len(x.shape), node)
        idx = np.asarray(graph.const(node.input(1))).reshape(-1)
        outer = int(np.prod(x.shape[:ax], dtype=np.int64))
        inner = int(np.prod(x.shape[ax + 1:], dtype=np.int64))
        n = len(idx)
        calls = []
        for j, i in enumerate(idx):
            i = int(i) + (x.shape[ax] if i < 0 else 0)
            if not 0 <= i < x.shape[ax]:
                raise Unsupported(f"index {int(idx[j])} is out of range for axis of size {x.shape[ax]}")
            calls.append(copy_call(graph, node.inputs[0], node.outputs[0], [outer, inner],
                                   [x.shape[ax] * inner, 1], [n * inner, 1], src_offset=i * inner,
                                   dst_offset=j * inner))
        return Lowered(calls, reason="data movement: inline copies")


@register
class Pad(OpDef):
    op_type = "Pad"
    attrs = {"mode": "constant"}
    dtypes = ANY
    summary = "inline pad kernel (float32 with a constant value; any type, value given at run time: typed)"

    def check_node(self, graph, node):
        const_ints(graph, node.input(1), "pads")
        const_ints(graph, node.input(3), "axes")
        if self.attr(node, "mode") not in ("constant", "reflect", "edge", "wrap"):
            raise Unsupported(f"mode '{self.attr(node, 'mode')}'")
        x = graph.values.get(node.inputs[0])
        if x is not None and np.dtype(x.dtype).itemsize not in (1, 2, 4, 8):
            raise Unsupported(f"element type {x.dtype}")

    def lower(self, graph, node):
        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        rank = len(x.shape)
        if rank > 8:
            raise Unsupported("rank above 8")
        pads = const_ints(graph, node.input(1), "pads")
        axes = const_ints(graph, node.input(3), "axes") or list(range(rank))
        begin = [0] * rank
        for k, a in enumerate(axes):
            begin[norm_axis(a, rank, node)] = pads[k]
        cv = graph.const(node.input(2))
        mode = {"constant": "O2C_PAD_CONSTANT", "reflect": "O2C_PAD_REFLECT", "edge": "O2C_PAD_EDGE",
                "wrap": "O2C_PAD_WRAP"}[self.attr(node, "mode")]
        fields = {"rank": rank, "mode": mode, "value": 0.0, "in_shape": pad8(x.shape, 1),
                  "out_shape": pad8(y.shape, 1), "pad_begin": pad8(begin, 0)}
        if x.dtype == np.float32 and (cv is not None or not node.input(2)):
            fields["value"] = float(np.asarray(cv).reshape(-1)[0]) if cv is not None and np.asarray(cv).size else 0.0
            return Lowered([Call("o2c_pad", [TensorArg(node.inputs[0]), TensorArg(node.outputs[0])],
                                 Params("o2c_pad_params_t", fields))], reason="padding: inline CPU kernel")
        # any element type, the constant read through a pointer (a weight or a run-time value)
        value = TensorArg(node.input(2), cast="void") if node.input(2) else NullArg("void")
        call = Call("o2c_pad_typed", [TensorArg(node.inputs[0], cast="void"), value,
                                      TensorArg(node.outputs[0], cast="void")],
                    Params("o2c_pad_typed_params_t", {"pad": fields, "elem_size": np.dtype(x.dtype).itemsize}))
        return Lowered([call], reason="padding (typed): inline CPU kernel")


class _FoldOnly(OpDef):
    dtypes = ANY
    fold_only = True
    summary = "folded at compile time"

    def check(self, graph, node):
        pass  # whether it folds is decided by constant folding; lowering reports what is left


# (Cast, ConstantOfShape, Where, comparisons and logic have run-time lowerings in logic.py)
# (NonZero computed at run time is in bounded.py)
for _name in ("Constant", "Shape", "Size", "Range"):
    register(type(f"Op{_name}", (_FoldOnly,), {"op_type": _name}))
