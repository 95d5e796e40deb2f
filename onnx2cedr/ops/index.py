"""Index ops over any element type: Gather (run-time indices), GatherElements, ScatterElements,
GatherND, ScatterND, ArgMax/ArgMin, TopK, CumSum, Trilu, OneHot, DepthToSpace/SpaceToDepth.
All are inline CPU kernels (o2c_typed.h) or strided copies: there is no CEDR API for them."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..opset_fixups import EXT_DOMAIN
from .base import Call, Lowered, OpDef, Params, TensorArg, Unsupported, norm_axis, pad8, register
from .logic import DT_CODES, NUMERIC, _dt_name, dt_code
from .movement import Gather as _ConstGather
from .movement import const_ints, copy_call

INDEX_TYPES = (np.dtype(np.int32), np.dtype(np.int64))
_REDUCTIONS = {"none": "O2C_RED_NONE", "add": "O2C_RED_ADD", "mul": "O2C_RED_MUL", "max": "O2C_RED_MAX",
               "min": "O2C_RED_MIN"}


def _arg(name: str, cast: str = "void") -> TensorArg:
    return TensorArg(name, 0, cast)


def _dt(graph: Graph, name: str) -> np.dtype:
    return np.dtype(graph.values[name].dtype)


def _prod(xs) -> int:
    return int(np.prod([int(x) for x in xs], dtype=np.int64)) if len(xs) else 1


def _index_type(graph: Graph, name: str) -> int:
    dt = _dt(graph, name)
    if dt not in INDEX_TYPES:
        raise Unsupported(f"indices of element type {_dt_name(dt)} (int32 or int64)")
    return DT_CODES[dt]


def _check_data(graph: Graph, node: Node, i: int = 0) -> None:
    name = node.input(i)
    if name in graph.values:
        dt_code(_dt(graph, name))


def _rank_ok(*shapes) -> None:
    for s in shapes:
        if len(s) > 8:
            raise Unsupported(f"rank {len(s)} (at most 8)")


@register
class Gather(_ConstGather):
    dtypes = ()
    summary = "constant indices: copies; run-time indices: inline gather kernel"

    def check_node(self, graph, node):
        _check_data(graph, node)
        if graph.const(node.input(1)) is None and node.input(1) in graph.values:
            _index_type(graph, node.input(1))

    def lower(self, graph, node):
        idx = graph.const(node.input(1))
        if idx is not None and idx.size <= 256:
            return super().lower(graph, node)
        x = graph.values[node.inputs[0]]
        ax = norm_axis(int(self.attr(node, "axis")), len(x.shape), node)
        fields = {"outer": _prod(x.shape[:ax]), "axis_dim": x.shape[ax], "inner": _prod(x.shape[ax + 1:]),
                  "n_idx": graph.values[node.input(1)].size, "elem_size": x.dtype.itemsize,
                  "idx_type": _index_type(graph, node.input(1))}
        return Lowered([Call("o2c_gather", [_arg(node.inputs[0]), _arg(node.input(1)), _arg(node.outputs[0])],
                             Params("o2c_gather_params_t", fields))], reason="gather: inline CPU kernel")


def _elements_fields(graph: Graph, node: Node, data: str, idx: str, axis: int, reduction: str = "none") -> dict:
    d, ix = graph.values[data], graph.values[idx]
    _rank_ok(d.shape)
    return {"rank": len(d.shape), "axis": norm_axis(axis, len(d.shape), node), "type": dt_code(d.dtype),
            "idx_type": _index_type(graph, idx), "reduction": _REDUCTIONS[reduction],
            "data_shape": pad8(d.shape, 1), "idx_shape": pad8(ix.shape, 1)}


@register
class GatherElements(OpDef):
    op_type = "GatherElements"
    attrs = {"axis": 0}
    dtypes = ()
    summary = "inline CPU kernel"

    def check_node(self, graph, node):
        _check_data(graph, node)

    def lower(self, graph, node):
        f = _elements_fields(graph, node, node.inputs[0], node.inputs[1], int(self.attr(node, "axis")))
        return Lowered([Call("o2c_gather_elements", [_arg(node.inputs[0]), _arg(node.inputs[1]), _arg(node.outputs[0])],
                             Params("o2c_elements_params_t", f))], reason="gather: inline CPU kernel")


class _ScatterBase(OpDef):
    dtypes = ()
    summary = "inline CPU kernel (reduction none/add/mul/max/min)"

    def check_node(self, graph, node):
        _check_data(graph, node)
        red = self.attr(node, "reduction") if "reduction" in self.attrs else "none"
        if red not in _REDUCTIONS:
            raise Unsupported(f"reduction '{red}'")
        if red != "none" and graph.values.get(node.inputs[0]) is not None and _dt(graph, node.inputs[0]) == np.bool_:
            raise Unsupported(f"reduction '{red}' on bool")


@register
class ScatterElements(_ScatterBase):
    op_type = "ScatterElements"
    attrs = {"axis": 0, "reduction": "none"}

    def lower(self, graph, node):
        data, idx, upd = node.inputs[:3]
        f = _elements_fields(graph, node, data, idx, int(self.attr(node, "axis")), self.attr(node, "reduction"))
        return Lowered([Call("o2c_scatter_elements", [_arg(data), _arg(idx), _arg(upd), _arg(node.outputs[0])],
                             Params("o2c_elements_params_t", f))], reason="scatter: inline CPU kernel")


def _nd_fields(graph: Graph, data: str, idx: str, batch_dims: int, reduction: str = "none") -> dict:
    d, ix = graph.values[data], graph.values[idx]
    if _dt(graph, idx) != np.int64:
        raise Unsupported(f"indices of element type {_dt_name(_dt(graph, idx))} (int64)")
    k = int(ix.shape[-1])
    if k > 8:
        raise Unsupported(f"index tuples of length {k} (at most 8)")
    b = batch_dims
    return {"batch": _prod(d.shape[:b]), "n_tuples": _prod(ix.shape[b:-1]), "k": k,
            "slice": _prod(d.shape[b + k:]), "data_dims": pad8(d.shape[b:b + k], 1),
            "batch_stride": _prod(d.shape[b:]), "type": dt_code(d.dtype), "reduction": _REDUCTIONS[reduction]}


@register
class GatherND(OpDef):
    op_type = "GatherND"
    attrs = {"batch_dims": 0}
    dtypes = ()
    summary = "inline CPU kernel"

    def check_node(self, graph, node):
        _check_data(graph, node)

    def lower(self, graph, node):
        f = _nd_fields(graph, node.inputs[0], node.inputs[1], int(self.attr(node, "batch_dims")))
        return Lowered([Call("o2c_gather_nd", [_arg(node.inputs[0]), _arg(node.inputs[1], "int64_t"),
                                               _arg(node.outputs[0])], Params("o2c_nd_params_t", f))],
                       reason="gather: inline CPU kernel")


@register
class ScatterND(_ScatterBase):
    op_type = "ScatterND"
    attrs = {"reduction": "none"}

    def lower(self, graph, node):
        data, idx, upd = node.inputs[:3]
        f = _nd_fields(graph, data, idx, 0, self.attr(node, "reduction"))
        return Lowered([Call("o2c_scatter_nd", [_arg(data), _arg(idx, "int64_t"), _arg(upd), _arg(node.outputs[0])],
                             Params("o2c_nd_params_t", f))], reason="scatter: inline CPU kernel")


def _split(shape, ax: int) -> tuple[int, int, int]:
    return _prod(shape[:ax]), int(shape[ax]), _prod(shape[ax + 1:])


def _make_arg(name: str, is_max: bool):
    class Arg(OpDef):
        op_type = name
        attrs = {"axis": 0, "keepdims": 1, "select_last_index": 0}
        dtypes = NUMERIC
        summary = "index of the " + ("largest" if is_max else "smallest") + " value (int64)"

        def lower(self, graph, node):
            x = graph.values[node.inputs[0]]
            ax = norm_axis(int(self.attr(node, "axis")), len(x.shape), node)
            outer, n, inner = _split(x.shape, ax)
            f = {"outer": outer, "n": n, "inner": inner, "type": dt_code(x.dtype), "is_max": int(is_max),
                 "select_last": int(self.attr(node, "select_last_index"))}
            return Lowered([Call("o2c_arg_reduce", [_arg(node.inputs[0]), _arg(node.outputs[0], "int64_t")],
                                 Params("o2c_arg_params_t", f))], reason="arg reduction: inline CPU kernel")

    Arg.__name__ = f"Op{name}"
    return Arg


register(_make_arg("ArgMax", True))
register(_make_arg("ArgMin", False))


@register
class TopK(OpDef):
    op_type = "TopK"
    attrs = {"axis": -1, "largest": 1, "sorted": 1}
    dtypes = NUMERIC
    summary = "k largest/smallest along an axis, sorted (ties: lower index first)"
    constraints = "K must be known at compile time"

    def check_node(self, graph, node):
        const_ints(graph, node.input(1), "K")

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        ax = norm_axis(int(self.attr(node, "axis")), len(x.shape), node)
        k = const_ints(graph, node.input(1), "K")[0]
        outer, n, inner = _split(x.shape, ax)
        if not 0 <= k <= n:
            raise Unsupported(f"K={k} for an axis of size {n}")
        vals, idx = node.outputs[0], node.outputs[1] if len(node.outputs) > 1 else ""
        if not vals or not idx:
            raise Unsupported("both outputs (values and indices) must be present")
        f = {"outer": outer, "n": n, "inner": inner, "k": k, "type": dt_code(x.dtype),
             "largest": int(self.attr(node, "largest"))}
        return Lowered([Call("o2c_topk", [_arg(node.inputs[0]), _arg(vals), _arg(idx, "int64_t")],
                             Params("o2c_topk_params_t", f))], reason="top-k: inline CPU kernel")


@register
class CumSum(OpDef):
    op_type = "CumSum"
    product = False
    attrs = {"exclusive": 0, "reverse": 0}
    dtypes = tuple(d for d in NUMERIC)
    summary = "cumulative sum along an axis"
    constraints = "axis must be known at compile time"

    def check_node(self, graph, node):
        const_ints(graph, node.input(1), "axis")

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        ax = norm_axis(const_ints(graph, node.input(1), "axis")[0], len(x.shape), node)
        outer, n, inner = _split(x.shape, ax)
        f = {"outer": outer, "n": n, "inner": inner, "type": dt_code(x.dtype),
             "exclusive": int(self.attr(node, "exclusive")), "reverse": int(self.attr(node, "reverse")),
             "product": int(self.product)}
        return Lowered([Call("o2c_cumsum", [_arg(node.inputs[0]), _arg(node.outputs[0])],
                             Params("o2c_cumsum_params_t", f))], reason="scan: inline CPU kernel")


@register
class CumProd(CumSum):
    """Opset 26: no schema at the internal opset; carried in the private domain (see opset_fixups)."""

    op_type = "CumProd"
    domain = EXT_DOMAIN
    product = True
    has_infer = True
    summary = "cumulative product along an axis"

    def infer(self, graph, node):
        x = graph.value(node.inputs[0])
        return [(x.dtype, x.shape)]


@register
class CumProdListed(CumProd):
    """The op table's entry (models carry CumProd in the private domain)."""

    domain = ""


@register
class Trilu(OpDef):
    op_type = "Trilu"
    attrs = {"upper": 1}
    dtypes = ()
    summary = "upper/lower triangle of the last two dims"
    constraints = "k must be known at compile time"

    def check_node(self, graph, node):
        const_ints(graph, node.input(1), "k")
        _check_data(graph, node)

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        if len(x.shape) < 2:
            raise Unsupported(f"input of rank {len(x.shape)} (at least 2)")
        k = (const_ints(graph, node.input(1), "k") or [0])[0]
        f = {"batch": _prod(x.shape[:-2]), "rows": x.shape[-2], "cols": x.shape[-1], "k": k,
             "elem_size": x.dtype.itemsize, "upper": int(self.attr(node, "upper"))}
        return Lowered([Call("o2c_trilu", [_arg(node.inputs[0]), _arg(node.outputs[0])], Params("o2c_trilu_params_t", f))],
                       reason="masking: inline CPU kernel")


@register
class OneHot(OpDef):
    op_type = "OneHot"
    attrs = {"axis": -1}
    dtypes = ()
    summary = "one-hot encoding (indices out of range give all-off rows)"
    constraints = "depth must be known at compile time"

    def check_node(self, graph, node):
        if graph.const(node.input(1)) is None:
            raise Unsupported("depth must be a compile-time constant")
        if node.input(0) in graph.values:
            dt_code(_dt(graph, node.input(0)), "indices of element type")

    def lower(self, graph, node):
        idx, _, values = node.inputs[:3]
        y = graph.values[node.outputs[0]]
        ax = norm_axis(int(self.attr(node, "axis")), len(y.shape), node)
        depth = y.shape[ax]
        if graph.values[values].size != 2:
            raise Unsupported("values must hold two elements (off, on)")
        f = {"outer": _prod(y.shape[:ax]), "depth": depth, "inner": _prod(y.shape[ax + 1:]),
             "idx_type": DT_CODES[_dt(graph, idx)], "elem_size": y.dtype.itemsize}
        return Lowered([Call("o2c_onehot", [_arg(idx), _arg(values), _arg(node.outputs[0])],
                             Params("o2c_onehot_params_t", f))], reason="one-hot: inline CPU kernel")


class _SpaceDepth(OpDef):
    dtypes = ()
    summary = "strided copy"

    def check_node(self, graph, node):
        x = graph.values.get(node.inputs[0])
        if x is not None and len(x.shape) != 4:
            raise Unsupported(f"input of rank {len(x.shape)} (must be 4)")

    def flops(self, graph, node):
        return 0


@register
class DepthToSpace(_SpaceDepth):
    op_type = "DepthToSpace"
    attrs = {"blocksize": None, "mode": "DCR"}

    def check_node(self, graph, node):
        super().check_node(graph, node)
        if self.attr(node, "mode") not in ("DCR", "CRD"):
            raise Unsupported(f"mode '{self.attr(node, 'mode')}'")

    def lower(self, graph, node):
        n, c, h, w = graph.values[node.inputs[0]].shape
        b = int(self.attr(node, "blocksize"))
        co = c // (b * b)
        # output (n, co, h, b1, w, b2) in order; source channel = (b1*b + b2)*co + c (DCR) or c*b*b + b1*b + b2 (CRD)
        hw = h * w
        if self.attr(node, "mode") == "DCR":
            cs = {"c": hw, "b1": b * co * hw, "b2": co * hw}
        else:
            cs = {"c": b * b * hw, "b1": b * hw, "b2": hw}
        shape = [n, co, h, b, w, b]
        strides = [c * hw, cs["c"], w, cs["b1"], 1, cs["b2"]]
        return Lowered([copy_call(graph, node.inputs[0], node.outputs[0], shape, strides)],
                       reason="data movement: inline strided copy")


@register
class SpaceToDepth(_SpaceDepth):
    op_type = "SpaceToDepth"
    attrs = {"blocksize": None}

    def lower(self, graph, node):
        n, c, h, w = graph.values[node.inputs[0]].shape
        b = int(self.attr(node, "blocksize"))
        ho, wo = h // b, w // b
        # output (n, b1, b2, c, ho, wo) in order, read from x[n, c, ho*b + b1, wo*b + b2]
        shape = [n, b, b, c, ho, wo]
        strides = [c * h * w, w, 1, h * w, b * w, b]
        return Lowered([copy_call(graph, node.inputs[0], node.outputs[0], shape, strides)],
                       reason="data movement: inline strided copy")
