"""Attention (opset 23..25): scaled dot-product attention with masks, causal and window masking,
grouped-query heads (kv_num_heads < q_num_heads), scale, softcap, a past/present key-value cache,
padded keys (nonpad_kv_seqlen) and the qk_matmul_output modes.

The pass expand_attention lowers a node to pieces that exist already: (for 3-D inputs) Reshape +
Transpose into heads, Concat with the past cache, Q·Kᵀ and P·V as Einsum (a batched
DASH_GEMM_RE for float32; grouped heads share their key/value matrix through the batch layout, no
copy), and between them AttentionSoftmax (private domain), one inline CPU kernel for scale, softcap,
the masks, the softmax and its fully-masked-row guard. This module checks what a node asks for
(every unsupported combination is an error naming it) and infers its outputs.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import Graph, Node
from ..opset_fixups import EXT_DOMAIN
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, register
from .logic import DT_CODES, _dt_name

_FLOATS = tuple(np.dtype(d) for d in (np.float32, np.float64, np.float16)) + tuple(
    d for d in DT_CODES if d.name == "bfloat16")
# softmax_precision (TensorProto codes) -> computed in double?
_PRECISION = {1: False, 10: False, 11: True, 16: False}


@dataclasses.dataclass
class AttentionSpec:
    """What one Attention node computes, in 4-D (batch, heads, sequence, head size) terms."""

    dtype: np.dtype
    rank: int  # of Q, K, V (3 or 4)
    batch: int
    q_heads: int
    kv_heads: int
    q_len: int
    kv_len: int  # K's own sequence length
    past_len: int
    head_size: int
    v_head_size: int
    scale: float
    compute_double: bool

    @property
    def total_len(self) -> int:
        return self.past_len + self.kv_len


def _attr(node: Node, name: str, default=None):
    return node.attrs.get(name, default)


def attention_spec(graph: Graph, node: Node) -> AttentionSpec:
    """Check an Attention node; raise Unsupported naming the first thing that cannot be compiled."""
    ins = list(node.inputs) + [""] * (7 - len(node.inputs))
    q, k, v, mask, past_k, past_v, nonpad = ins[:7]
    if len(node.inputs) > 7:
        raise Unsupported(f"{len(node.inputs)} inputs (at most 7)")
    if len(node.outputs) > 4:
        raise Unsupported(f"{len(node.outputs)} outputs (at most 4)")
    if not (q and k and v):
        raise Unsupported("Q, K and V are required")
    vq, vk, vv = graph.value(q), graph.value(k), graph.value(v)
    dt = np.dtype(vq.dtype)
    if dt not in _FLOATS:
        raise Unsupported(f"element type {_dt_name(dt)} is not supported (float, double, float16, bfloat16)")
    for name, val in (("K", vk), ("V", vv)):
        if np.dtype(val.dtype) != dt:
            raise Unsupported(f"{name} has element type {_dt_name(val.dtype)}, Q {_dt_name(dt)} (mixed types are "
                              f"not supported)")
    rank = len(vq.shape)
    if rank not in (3, 4) or len(vk.shape) != rank or len(vv.shape) != rank:
        raise Unsupported(f"Q, K and V of ranks {len(vq.shape)}, {len(vk.shape)}, {len(vv.shape)} "
                          f"(all 3 or all 4)")
    qh, kvh = _attr(node, "q_num_heads"), _attr(node, "kv_num_heads")
    window = any(a in node.attrs for a in ("left_window_size", "right_window_size"))
    if rank == 3:
        if qh is None or kvh is None:
            raise Unsupported("3-D inputs need the q_num_heads and kv_num_heads attributes")
        qh, kvh = int(qh), int(kvh)
        if qh <= 0 or kvh <= 0:
            raise Unsupported(f"q_num_heads={qh}, kv_num_heads={kvh} (must be positive)")
        b, s, qhid = vq.shape
        _, t, khid = vk.shape
        _, tv, vhid = vv.shape
        for what, hid, heads in (("Q", qhid, qh), ("K", khid, kvh), ("V", vhid, kvh)):
            if hid % heads:
                raise Unsupported(f"{what}'s hidden size {hid} is not a multiple of its {heads} heads")
        d, dk, dv = qhid // qh, khid // kvh, vhid // kvh
    else:
        b, qh_, s, d = vq.shape
        _, kvh_, t, dk = vk.shape
        _, kvv, tv, dv = vv.shape
        if window and (qh is not None or kvh is not None):
            raise Unsupported("q_num_heads/kv_num_heads must not be given for 4-D inputs")
        if (qh is not None and int(qh) != qh_) or (kvh is not None and int(kvh) != kvh_):
            raise Unsupported(f"q_num_heads={qh}, kv_num_heads={kvh} disagree with the 4-D inputs' "
                              f"{qh_} and {kvh_} heads")
        if kvv != kvh_:
            raise Unsupported(f"K has {kvh_} heads, V {kvv}")
        qh, kvh = qh_, kvh_
    if vk.shape[0] != b or vv.shape[0] != b:
        raise Unsupported(f"batch sizes differ: Q {b}, K {vk.shape[0]}, V {vv.shape[0]}")
    if dk != d:
        raise Unsupported(f"the key head size {dk} differs from the query head size {d}")
    if tv != t:
        raise Unsupported(f"K has {t} positions, V {tv}")
    if qh % kvh:
        raise Unsupported(f"q_num_heads={qh} is not a multiple of kv_num_heads={kvh}")
    if bool(past_k) != bool(past_v):
        raise Unsupported("past_key and past_value must be given together")
    past = 0
    if past_k:
        pk, pv = graph.value(past_k), graph.value(past_v)
        if np.dtype(pk.dtype) != dt or np.dtype(pv.dtype) != dt:
            raise Unsupported("past_key/past_value have another element type than Q")
        if len(pk.shape) != 4 or len(pv.shape) != 4 or tuple(pk.shape[:2]) != (b, kvh) or pk.shape[3] != d or \
                tuple(pv.shape[:2]) != (b, kvh) or pv.shape[3] != dv or pk.shape[2] != pv.shape[2]:
            raise Unsupported(f"past_key {list(pk.shape)} / past_value {list(pv.shape)} do not match "
                              f"(batch {b}, kv heads {kvh}, head sizes {d}/{dv})")
        past = int(pk.shape[2])
    if nonpad:
        vn = graph.value(nonpad)
        if past_k:
            raise Unsupported("nonpad_kv_seqlen together with past_key/past_value")
        if np.dtype(vn.dtype) != np.int64 or tuple(vn.shape) != (b,):
            raise Unsupported(f"nonpad_kv_seqlen must be int64 of shape [{b}]")
    total = past + t
    if mask:
        vm = graph.value(mask)
        mdt = np.dtype(vm.dtype)
        if mdt != np.bool_ and mdt != dt:
            raise Unsupported(f"attn_mask of element type {_dt_name(mdt)} (bool or Q's type {_dt_name(dt)})")
        ms = tuple(vm.shape)
        if not 1 <= len(ms) <= 4:
            raise Unsupported(f"attn_mask of rank {len(ms)} (1 to 4)")
        if ms[-1] > total:
            raise Unsupported(f"attn_mask covers {ms[-1]} keys, there are {total}")
        full = (b, qh, s)
        for m, f in zip(ms[-2::-1], full[::-1]):
            if m not in (1, f):
                raise Unsupported(f"attn_mask of shape {list(ms)} does not broadcast to {[b, qh, s, total]}")
    mode = int(_attr(node, "qk_matmul_output_mode", 0))
    if mode not in (0, 1, 2, 3):
        raise Unsupported(f"qk_matmul_output_mode={mode} (0 to 3)")
    for a in ("left_window_size", "right_window_size"):
        if int(_attr(node, a, -1)) < -1:
            raise Unsupported(f"{a}={_attr(node, a)} (-1 or a size)")
    prec = _attr(node, "softmax_precision")
    compute_double = dt == np.float64
    if prec is not None:
        prec = int(prec)
        if prec not in _PRECISION:
            raise Unsupported(f"softmax_precision={prec} (1, 10, 11 or 16)")
        if prec in (10, 16) and dt.itemsize > 2:
            raise Unsupported(f"softmax_precision={prec} (a 16-bit softmax) with {_dt_name(dt)} inputs")
        compute_double = compute_double or _PRECISION[prec]
    scale = _attr(node, "scale")
    scale = float(scale) if scale is not None else 1.0 / float(np.sqrt(d))
    return AttentionSpec(dt, rank, int(b), int(qh), int(kvh), int(s), int(t), past, int(d), int(dv), scale,
                         compute_double)


class _Attention(OpDef):
    op_type = "Attention"
    attrs = {"is_causal": 0, "kv_num_heads": None, "q_num_heads": None, "qk_matmul_output_mode": 0, "scale": None,
             "softcap": 0.0, "softmax_precision": None, "left_window_size": -1, "right_window_size": -1}
    dtypes = _FLOATS
    has_infer = True  # opset 23+: no schema at the internal opset
    summary = ("scaled dot-product attention: Q·Kᵀ and P·V through Einsum (DASH_GEMM_RE for float32), masks and "
               "softmax inline (pass expand_attention)")
    constraints = "K and V of Q's element type; float or bool attn_mask"

    def check_node(self, graph, node):
        attention_spec(graph, node)

    def infer(self, graph, node):
        sp = attention_spec(graph, node)
        b, hq, hkv, s, tt = sp.batch, sp.q_heads, sp.kv_heads, sp.q_len, sp.total_len
        y = (b, s, hq * sp.v_head_size) if sp.rank == 3 else (b, hq, s, sp.v_head_size)
        shapes = [y, (b, hkv, tt, sp.head_size), (b, hkv, tt, sp.v_head_size), (b, hq, s, tt)]
        return [(sp.dtype, shp) for shp in shapes[:len(node.outputs)]]

    def flops(self, graph, node):
        sp = attention_spec(graph, node)
        return 2 * sp.batch * sp.q_heads * sp.q_len * sp.total_len * (sp.head_size + sp.v_head_size)

    def lower(self, graph, node):
        raise Unsupported("Attention is expanded by the pass expand_attention, which is disabled")


@register
class Attention(_Attention):
    """Listed in the op table under its own name; models carry it in the private domain (opset_fixups)."""


@register
class AttentionExt(_Attention):
    domain = EXT_DOMAIN


@register
class AttentionSoftmax(OpDef):
    """Internal (made by expand_attention): scores (batch, heads, q, kv) [, attn_mask, nonpad_kv_seqlen]
    -> probabilities [, qk_matmul_output]."""

    op_type = "AttentionSoftmax"
    domain = EXT_DOMAIN
    attrs = {"scale": 1.0, "softcap": 0.0, "is_causal": 0, "offset": 0, "left_window_size": -1,
             "right_window_size": -1, "qk_matmul_output_mode": 0, "compute_double": 0}
    dtypes = _FLOATS
    has_infer = True
    summary = "Attention's scale, softcap, masks and softmax (inline CPU)"

    def infer(self, graph, node):
        x = graph.value(node.inputs[0])
        return [(x.dtype, x.shape) for _ in node.outputs]

    def flops(self, graph, node):
        return 12 * graph.values[node.inputs[0]].size

    def lower(self, graph, node):
        scores, mask, nonpad = node.input(0), node.input(1), node.input(2)
        b, h, s, t = graph.values[scores].shape
        mask_type, mask_len, mstride = 0, 0, [0, 0, 0]
        if mask:
            vm = graph.values[mask]
            ms = (1,) * (4 - len(vm.shape)) + tuple(vm.shape)
            mask_type, mask_len = DT_CODES[np.dtype(vm.dtype)], int(ms[3])
            dense = [ms[1] * ms[2] * ms[3], ms[2] * ms[3], ms[3]]
            mstride = [0 if ms[d] == 1 else dense[d] for d in range(3)]
        qk = node.outputs[1] if len(node.outputs) > 1 and node.outputs[1] else ""
        fields = {"batch": b, "heads": h, "q_len": s, "kv_len": t,
                  "type": DT_CODES[np.dtype(graph.values[scores].dtype)],
                  "mask_type": mask_type, "mask_len": mask_len, "mask_stride": mstride,
                  "causal": int(_attr(node, "is_causal", 0)), "qk_mode": int(_attr(node, "qk_matmul_output_mode", 0)),
                  "offset": int(_attr(node, "offset", 0)), "left_window": int(_attr(node, "left_window_size", -1)),
                  "right_window": int(_attr(node, "right_window_size", -1)), "scale": float(_attr(node, "scale", 1.0)),
                  "softcap": float(_attr(node, "softcap", 0.0)),
                  "compute_double": int(_attr(node, "compute_double", 0))}
        args = [TensorArg(scores, cast="void"), TensorArg(mask, cast="void") if mask else NullArg("void"),
                TensorArg(nonpad, cast="int64_t") if nonpad else NullArg("int64_t"),
                TensorArg(node.outputs[0], cast="void"), TensorArg(qk, cast="void") if qk else NullArg("void")]
        return Lowered([Call("o2c_attention_softmax", args, Params("o2c_attention_softmax_params_t", fields),
                             flops=self.flops(graph, node))],
                       reason="attention masks and softmax: inline CPU kernel")


class _RotaryEmbedding(OpDef):
    """RotaryEmbedding (opset 23) -> the inline CPU kernel o2c_rotary."""

    op_type = "RotaryEmbedding"
    attrs = {"interleaved": 0, "num_heads": None, "rotary_embedding_dim": 0}
    dtypes = _FLOATS
    has_infer = True  # no schema at the internal opset
    summary = "rotary position embedding (halves or interleaved pairs, partial rotation, position ids)"

    def _layout(self, graph, node):
        """(batch, seq, heads, head size, rotary dim, heads first, cache rows)."""
        x = graph.value(node.inputs[0])
        cos, sin = graph.value(node.input(1)), graph.value(node.input(2))
        dt = np.dtype(x.dtype)
        if np.dtype(cos.dtype) != dt or np.dtype(sin.dtype) != dt:
            raise Unsupported("cos_cache/sin_cache of another element type than the input")
        if len(x.shape) == 4:
            b, h, s, d = x.shape
            heads_first = 1
        elif len(x.shape) == 3:
            nh = self.attr(node, "num_heads")
            if not nh:
                raise Unsupported("a 3-D input needs the num_heads attribute")
            b, s, hid = x.shape
            h = int(nh)
            if hid % h:
                raise Unsupported(f"hidden size {hid} is not a multiple of num_heads={h}")
            d, heads_first = hid // h, 0
        else:
            raise Unsupported(f"input of rank {len(x.shape)} (3 or 4)")
        rot = int(self.attr(node, "rotary_embedding_dim") or 0) or d
        if rot > d or rot % 2:
            raise Unsupported(f"rotary_embedding_dim={rot} (even, at most the head size {d})")
        pos = node.input(3)
        if pos:
            vp = graph.value(pos)
            if np.dtype(vp.dtype) != np.int64 or tuple(vp.shape) != (b, s):
                raise Unsupported(f"position_ids must be int64 of shape [{b}, {s}]")
            if len(cos.shape) != 2 or tuple(cos.shape) != tuple(sin.shape) or cos.shape[1] != rot // 2:
                raise Unsupported(f"caches of shape {list(cos.shape)} (expected [max_position, {rot // 2}])")
            rows = int(cos.shape[0])
        else:
            if tuple(cos.shape) != (b, s, rot // 2) or tuple(sin.shape) != (b, s, rot // 2):
                raise Unsupported(f"caches of shape {list(cos.shape)} without position_ids (expected "
                                  f"[{b}, {s}, {rot // 2}])")
            rows = b * s
        return int(b), int(s), int(h), int(d), rot, heads_first, rows

    def check_node(self, graph, node):
        self._layout(graph, node)

    def infer(self, graph, node):
        x = graph.value(node.inputs[0])
        return [(x.dtype, x.shape)]

    def lower(self, graph, node):
        b, s, h, d, rot, heads_first, rows = self._layout(graph, node)
        fields = {"batch": b, "seq": s, "heads": h, "head": d, "rot_dim": rot, "cache_rows": rows,
                  "heads_first": heads_first, "interleaved": int(self.attr(node, "interleaved") or 0),
                  "type": DT_CODES[np.dtype(graph.values[node.inputs[0]].dtype)]}
        pos = node.input(3)
        args = [TensorArg(node.inputs[0], cast="void"), TensorArg(node.input(1), cast="void"),
                TensorArg(node.input(2), cast="void"), TensorArg(pos, cast="int64_t") if pos else NullArg("int64_t"),
                TensorArg(node.outputs[0], cast="void")]
        return Lowered([Call("o2c_rotary", args, Params("o2c_rotary_params_t", fields),
                             flops=6 * graph.values[node.inputs[0]].size)],
                       reason="rotary embedding: inline CPU kernel")


@register
class RotaryEmbedding(_RotaryEmbedding):
    """Listed in the op table under its own name; models carry it in the private domain (opset_fixups)."""


@register
class RotaryEmbeddingExt(_RotaryEmbedding):
    domain = EXT_DOMAIN
