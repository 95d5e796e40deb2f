"""Einsum: a (batched) float32 matrix product when the operands' layouts allow it -> DASH_GEMM_RE;
every other equation (diagonals, sums, transposes, outer/inner products of any layout, three
operands) and float64/float16/bfloat16 operands -> the generic strided sum-of-products kernel
o2c_einsum (inline CPU; accumulates in double, rounds once to the element type)."""
from __future__ import annotations

import string

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, dense_strides, pad8, register
from .gemm import _gemm_call

_MAX_OPERANDS = 3
F32 = np.dtype(np.float32)
# element types o2c_einsum computes in (O2C_DT_* codes); float32 products may go to DASH_GEMM_RE
_TYPES = {F32: 1, np.dtype(np.float64): 11, np.dtype(np.float16): 10}
try:
    import ml_dtypes

    _TYPES[np.dtype(ml_dtypes.bfloat16)] = 16
except ImportError:  # pragma: no cover
    pass


def parse_equation(eq: str, ranks: list[int]) -> tuple[list[list[str]], list[str]]:
    """Subscripts per operand and of the output, with '...' expanded into fresh letters
    (right-aligned across operands, numpy style). Implicit output: ellipsis dims, then the letters
    that appear once, alphabetically."""
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise Unsupported(f"equation '{eq}' names {len(terms)} operand(s), the node has {len(ranks)}")
    used = set(c for c in eq if c.isalpha())
    fresh = [c for c in string.ascii_letters if c not in used]
    ell_rank = 0
    for t, r in zip(terms, ranks):
        if "..." in t:
            ell_rank = max(ell_rank, r - len(t.replace("...", "")))
    if ell_rank > len(fresh):
        raise Unsupported("too many ellipsis dimensions")
    ell = fresh[:ell_rank]
    subs = []
    for t, r in zip(terms, ranks):
        if not all(c.isalpha() for c in t.replace("...", "")):
            raise Unsupported(f"equation term '{t}' is not letters and '...'")
        if "..." in t:
            head, _, tail = t.partition("...")
            n = r - len(head) - len(tail)
            if n < 0:
                raise Unsupported(f"equation term '{t}' has more subscripts than the operand's rank {r}")
            s = list(head) + ell[ell_rank - n:] + list(tail)
        else:
            s = list(t)
        if len(s) != r:
            raise Unsupported(f"equation term '{t}' does not match the operand's rank {r}")
        subs.append(s)
    if arrow:
        if "..." in rhs:
            head, _, tail = rhs.partition("...")
            out = list(head) + ell + list(tail)
        else:
            out = list(rhs)
        if not all(c.isalpha() for c in out):
            raise Unsupported(f"output subscripts '{rhs}' are not letters and '...'")
        if len(set(out)) != len(out):
            raise Unsupported(f"output subscripts '{rhs}' repeat a letter")
        missing = [c for c in out if not any(c in s for s in subs)]
        if missing:
            raise Unsupported(f"output subscript '{missing[0]}' appears in no operand")
    else:
        counts: dict[str, int] = {}
        for s in subs:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + sorted(c for c, k in counts.items() if k == 1 and c not in ell)
    return subs, out


def _sizes(subs, shapes) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for s, shp in zip(subs, shapes):
        for c, d in zip(s, shp):
            d = int(d)
            old = sizes.get(c)
            if old is None or old == 1:
                sizes[c] = d
            elif d != 1 and d != old:
                raise Unsupported(f"subscript '{c}' has sizes {old} and {d}")
    return sizes


def _operand_strides(s: list[str], shape, letters: list[str], sizes) -> list[int]:
    """Element strides of one operand per letter of the index space (repeated letters add up:
    diagonals; broadcast size-1 dims and absent letters get 0)."""
    dense = dense_strides(shape)
    st = {c: 0 for c in letters}
    for c, d, ds in zip(s, shape, dense):
        if int(d) == 1 and sizes[c] != 1:
            continue
        st[c] += ds
    return [st[c] for c in letters]


def _try_gemm(graph: Graph, node: Node, subs, out, sizes) -> Lowered | None:
    """Two operands whose per-batch matrices are dense: C[b, m, n] = sum_k A[b, m|k ..] B[b, k|n ..]."""
    if len(subs) != 2:
        return None
    a, b = subs
    if len(set(a)) != len(a) or len(set(b)) != len(b):
        return None  # diagonals
    shapes = [graph.values[i].shape for i in node.inputs]
    if any(int(d) == 1 and sizes[c] != 1 for s, shp in zip(subs, shapes) for c, d in zip(s, shp)):
        return None  # broadcasting
    batch = [c for c in out if c in a and c in b]
    ms = [c for c in out if c in a and c not in b]
    ns = [c for c in out if c in b and c not in a]
    ks = [c for c in a if c in b and c not in out]
    if any(c not in out and c not in ks for c in a + b):
        return None  # a letter summed within one operand: a reduction first
    if out != batch + ms + ns:
        return None

    def layout(s, first, second):
        """trans flag when s is batch+first+second (0) or batch+second+first (1) in order."""
        if s == batch + first + second:
            return 0
        if s == batch + second + first:
            return 1
        return None

    ta, tb = layout(a, ms, ks), layout(b, ks, ns)
    if ta is None or tb is None:
        return None
    prod = lambda cs: int(np.prod([sizes[c] for c in cs], dtype=np.int64))  # noqa: E731
    nb, m, n, k = prod(batch), prod(ms), prod(ns), prod(ks)
    fields = {"batch": nb, "M": m, "N": n, "K": k, "stride_a": m * k if nb > 1 else 0,
              "stride_b": k * n if nb > 1 else 0, "stride_c": m * n if nb > 1 else 0, "trans_a": ta, "trans_b": tb,
              "alpha": 1.0, "beta": 1.0, "bias_kind": 0, "act": {"op": "DASH_ACT_NONE", "alpha": 0.0, "beta": 0.0}}
    call = _gemm_call(node.inputs[0], node.inputs[1], None, node.outputs[0], fields, 2 * nb * m * n * k)
    return Lowered([call], reason="einsum as a batched matrix product: DASH_GEMM_RE")


def loop_call(graph: Graph, inputs: list[str], output: str, subs, out, sizes) -> Call:
    """One o2c_einsum call (any element type of _TYPES): operands `inputs` with subscripts `subs`."""
    if len(out) + len([c for c in sizes if c not in out]) > 8:
        raise Unsupported(f"{len(sizes)} distinct subscripts (at most 8)")
    summed = sorted(c for c in sizes if c not in out)
    letters = out + summed
    shapes = [graph.values[i].shape for i in inputs]
    strides = [_operand_strides(s, shp, letters, sizes) for s, shp in zip(subs, shapes)]
    strides += [[0] * len(letters)] * (_MAX_OPERANDS - len(strides))
    dt = np.dtype(graph.values[inputs[0]].dtype)
    if dt not in _TYPES:
        raise Unsupported(f"element type {dt} is not supported (supported: {', '.join(map(str, _TYPES))})")
    fields = {"n_inputs": len(subs), "rank_out": len(out), "rank": len(letters),
              "shape": pad8([sizes[c] for c in letters], 1), "stride": [pad8(s, 0) for s in strides],
              "type": _TYPES[dt]}
    args = [TensorArg(i, cast="void") for i in inputs] + [NullArg("void")] * (_MAX_OPERANDS - len(inputs))
    total = int(np.prod([sizes[c] for c in letters], dtype=np.int64))
    return Call("o2c_einsum", args + [TensorArg(output, cast="void")], Params("o2c_einsum_params_t", fields),
                flops=total * len(subs))


def matmul_loop_call(graph: Graph, a: str, b: str, out: str) -> Call:
    """MatMul (numpy semantics: 1-D operands, broadcast batch dims) as an o2c_einsum call."""
    ra, rb = len(graph.values[a].shape), len(graph.values[b].shape)
    ta = "k" if ra == 1 else "...mk"
    tb = "k" if rb == 1 else "...kn"
    to = ("..." if max(ra, rb) > 2 else "") + ("m" if ra > 1 else "") + ("n" if rb > 1 else "")
    subs, res = parse_equation(f"{ta},{tb}->{to}", [ra, rb])
    return loop_call(graph, [a, b], out, subs, res, _sizes(subs, [graph.values[a].shape, graph.values[b].shape]))


@register
class Einsum(OpDef):
    op_type = "Einsum"
    attrs = {"equation": None}
    summary = "matrix-product equations: DASH_GEMM_RE; others: inline strided loop"

    def _parse(self, graph, node):
        eq = self.attr(node, "equation")
        if not eq:
            raise Unsupported("the equation attribute is missing")
        ins = [i for i in node.inputs]
        if not 1 <= len(ins) <= _MAX_OPERANDS or not all(ins):
            raise Unsupported(f"{len(ins)} operands (1 to {_MAX_OPERANDS} supported)")
        shapes = [graph.values[i].shape for i in ins]
        subs, out = parse_equation(str(eq), [len(s) for s in shapes])
        sizes = _sizes(subs, shapes)
        return subs, out, sizes

    dtypes = tuple(_TYPES)
    has_infer = True  # onnx's schema at the internal opset rejects bfloat16

    def infer(self, graph, node):
        subs, out, sizes = self._parse(graph, node)
        return [(graph.value(node.inputs[0]).dtype, tuple(sizes[c] for c in out))]

    def _dtype(self, graph, node) -> np.dtype:
        dts = {np.dtype(graph.values[i].dtype) for i in node.inputs if i in graph.values}
        if len(dts) > 1:
            raise Unsupported(f"operands of different element types ({', '.join(sorted(map(str, dts)))})")
        dt = dts.pop() if dts else F32
        if dt not in _TYPES:
            raise Unsupported(f"element type {dt} is not supported (supported: {', '.join(map(str, _TYPES))})")
        return dt

    def check_node(self, graph, node):
        self._dtype(graph, node)
        if all(i in graph.values for i in node.inputs):
            subs, out, sizes = self._parse(graph, node)
            summed = [c for c in sizes if c not in out]
            if len(out) + len(summed) > 8:
                raise Unsupported(f"{len(out) + len(summed)} distinct subscripts (at most 8)")

    def lower(self, graph, node):
        subs, out, sizes = self._parse(graph, node)
        dt = self._dtype(graph, node)
        low = _try_gemm(graph, node, subs, out, sizes) if dt == F32 else None
        if low is not None:
            return low
        why = "no matrix-product layout" if dt == F32 else f"{dt} operands"
        return Lowered([loop_call(graph, node.inputs, node.outputs[0], subs, out, sizes)],
                       reason=f"einsum ({why}): inline strided loop")
