"""Lower each Attention node (see ops/attention.py) to ops that exist already:

    Q, K, V (3-D: Reshape + Transpose to (batch, heads, seq, head size))
    K, V <- Concat(past, K/V) along the sequence (the present_key/present_value outputs)
    scores = Einsum('bhsd,bhtd->bhst', Q, K)           float32: one batched DASH_GEMM_RE, Kᵀ for free
    probs[, qk_matmul_output] = AttentionSoftmax(scores, attn_mask, nonpad_kv_seqlen)
    Y = Einsum('bhst,bhtd->bhsd', probs, V)             (3-D: Transpose + Reshape back)

Grouped-query attention (q_num_heads = g * kv_num_heads) needs no repeated K/V: query heads
h = kv*g + j are contiguous per kv head, so Q viewed as (batch, kv_heads, g*seq, head size) pairs
each group with its one K/V matrix (a Reshape, which is a view). The scale goes into
AttentionSoftmax (applied to the raw scores), as do softcap and every mask.

A lowering, not an optimization: with this pass disabled, Attention cannot be placed.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..opset_fixups import EXT_DOMAIN
from ..ops.attention import attention_spec
from .common import Pass


class ExpandAttention(Pass):
    NAME = "expand_attention"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for n in [n for n in graph.nodes if n.op == "Attention" and n.domain in ("", EXT_DOMAIN)]:
            new = _expand(graph, n)
            i = graph.nodes.index(n)
            graph.nodes[i:i + 1] = new
            changed = True
        return changed


def _expand(graph: Graph, node: Node) -> list[Node]:
    sp = attention_spec(graph, node)
    ins = list(node.inputs) + [""] * (7 - len(node.inputs))
    outs = list(node.outputs) + [""] * (4 - len(node.outputs))
    q, k, v, mask, past_k, past_v, nonpad = ins[:7]
    y_out, pk_out, pv_out, qk_out = outs[:4]
    b, hq, hkv, s, t, tt = sp.batch, sp.q_heads, sp.kv_heads, sp.q_len, sp.kv_len, sp.total_len
    d, dv, g = sp.head_size, sp.v_head_size, sp.q_heads // sp.kv_heads
    base = node.name or "attention"
    taken = {n.name for n in graph.nodes}
    new: list[Node] = []

    def value(what: str, shape) -> str:
        name = graph.fresh_name(f"{base}::{what}")
        graph.add_value(name, sp.dtype, shape)
        return name

    def add(op: str, inputs: list[str], outputs: list[str], domain: str = "", **attrs) -> None:
        name, k_ = f"{base}::{op.lower()}", 0
        while name in taken:
            k_ += 1
            name = f"{base}::{op.lower()}_{k_}"
        taken.add(name)
        new.append(Node(op, name, inputs, outputs, attrs, domain=domain))

    def reshape(x: str, shape, out: str = "") -> str:
        shp = graph.add_const(graph.fresh_name(f"{base}::shape"), np.array(shape, np.int64)).name
        out = out or value("view", shape)
        add("Reshape", [x, shp], [out])
        return out

    def to_heads(x: str, seq: int, heads: int, size: int, what: str) -> str:
        if sp.rank == 4:
            return x
        split = reshape(x, [b, seq, heads, size])
        out = value(what, (b, heads, seq, size))
        add("Transpose", [split], [out], perm=[0, 2, 1, 3])
        return out

    q4 = to_heads(q, s, hq, d, "q")
    k4 = to_heads(k, t, hkv, d, "k")
    v4 = to_heads(v, t, hkv, dv, "v")
    kv = []
    for past, cur, out, size, what in ((past_k, k4, pk_out, d, "key"), (past_v, v4, pv_out, dv, "value")):
        if past:
            full = out or value(f"all_{what}", (b, hkv, tt, size))
            add("Concat", [past, cur], [full], axis=2)
            kv.append(full)
        else:
            if out:
                add("Identity", [cur], [out])
            kv.append(cur)
    qg = reshape(q4, [b, hkv, g * s, d]) if g > 1 else q4
    scores = value("scores", (b, hkv, g * s, tt))
    add("Einsum", [qg, kv[0]], [scores], equation="bhsd,bhtd->bhst")
    if g > 1:
        scores = reshape(scores, [b, hq, s, tt])
    probs = value("probs", (b, hq, s, tt))
    attrs = {"scale": sp.scale, "softcap": float(node.attrs.get("softcap", 0.0)),
             "is_causal": int(node.attrs.get("is_causal", 0)), "offset": sp.past_len,
             "left_window_size": int(node.attrs.get("left_window_size", -1)),
             "right_window_size": int(node.attrs.get("right_window_size", -1)),
             "qk_matmul_output_mode": int(node.attrs.get("qk_matmul_output_mode", 0)),
             "compute_double": int(sp.compute_double)}
    sm_ins = [scores, mask, nonpad]
    while sm_ins and not sm_ins[-1]:
        sm_ins.pop()
    add("AttentionSoftmax", sm_ins, [probs] + ([qk_out] if qk_out else []), domain=EXT_DOMAIN, **attrs)
    pg = reshape(probs, [b, hkv, g * s, tt]) if g > 1 else probs
    y4_shape = (b, hq, s, dv)
    if g == 1 and sp.rank == 4:
        add("Einsum", [pg, kv[1]], [y_out], equation="bhst,bhtd->bhsd")
        return new
    yg = value("y", (b, hkv, g * s, dv))
    add("Einsum", [pg, kv[1]], [yg], equation="bhst,bhtd->bhsd")
    if sp.rank == 4:
        reshape(yg, list(y4_shape), y_out)
        return new
    y4 = reshape(yg, list(y4_shape)) if g > 1 else yg
    yt = value("y_seq", (b, s, hq, dv))
    add("Transpose", [y4], [yt], perm=[0, 2, 1, 3])
    reshape(yt, [b, s, hq * dv], y_out)
    return new


PASS = ExpandAttention()
