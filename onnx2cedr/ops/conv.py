"""Convolution family: Conv and ConvTranspose (1-D/2-D/3-D) -> DASH_CONV / DASH_CONV_TRANSPOSE."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from . import public_api as pub
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, act_fields, pad3, register

_AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


def same_pads(in_size, out_size, kernel, stride, dilation, auto_pad):
    """pad_begin per axis for SAME_UPPER/SAME_LOWER (extra padding at the end / at the start)."""
    begin = []
    for i, o, k, s, d in zip(in_size, out_size, kernel, stride, dilation):
        total = max(0, (o - 1) * s + (k - 1) * d + 1 - i)
        begin.append(total // 2 if auto_pad == "SAME_UPPER" else total - total // 2)
    return begin


def spatial_attrs(op: OpDef, node: Node, rank: int, kernel_from):
    kernel = list(op.attr(node, "kernel_shape") or kernel_from)
    strides = list(op.attr(node, "strides") or [1] * rank)
    dilations = list(op.attr(node, "dilations") or [1] * rank)
    pads = list(op.attr(node, "pads") or [0] * (2 * rank))
    auto_pad = op.attr(node, "auto_pad") or "NOTSET"
    if auto_pad not in _AUTO_PADS:
        raise Unsupported(f"auto_pad '{auto_pad}' is not valid")
    if not (len(kernel) == len(strides) == len(dilations) == rank and len(pads) == 2 * rank):
        raise Unsupported(f"kernel_shape/strides/dilations/pads do not match {rank} spatial dimensions")
    if min(strides) < 1 or min(dilations) < 1 or min(kernel) < 1 or min(pads) < 0:
        raise Unsupported("strides, dilations and kernel sizes must be positive and pads non-negative")
    return kernel, strides, dilations, pads, auto_pad


def conv_call(graph: Graph, node: Node, groups: int, kernel, strides, dilations, begin, inline: str, api: str,
              flops: int) -> Call:
    """The DASH_CONV / DASH_CONV_TRANSPOSE call (same parameter struct) for a conv-family node."""
    x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
    has_bias = bool(node.input(2))
    fields = {
        "spatial_rank": len(x.shape) - 2, "has_bias": int(has_bias), "batch": x.shape[0],
        "in_channels": x.shape[1], "out_channels": y.shape[1], "groups": groups,
        "in_size": pad3(x.shape[2:], 1), "out_size": pad3(y.shape[2:], 1), "kernel": pad3(kernel, 1),
        "stride": pad3(strides, 1), "dilation": pad3(dilations, 1), "pad_begin": pad3(begin, 0),
        "act": act_fields(node),
    }
    args = [TensorArg(node.inputs[0]), TensorArg(node.inputs[1]),
            TensorArg(node.inputs[2]) if has_bias else NullArg(), TensorArg(node.outputs[0])]
    return Call(inline, args, Params("dash_conv_params_t", fields), api=api, flops=flops)


class _ConvBase(OpDef):
    attrs = {"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None, "pads": None,
             "strides": None}

    def check_node(self, graph, node):
        x = graph.values.get(node.inputs[0])
        if x is not None and not 3 <= len(x.shape) <= 5:
            raise Unsupported(f"input rank {len(x.shape)} (1-D, 2-D and 3-D convolutions are supported)")
        if x is not None and node.input(1) in graph.values:
            w = graph.values[node.input(1)]
            spatial_attrs(self, node, len(x.shape) - 2, w.shape[2:])


@register
class Conv(_ConvBase):
    op_type = "Conv"
    api = "DASH_CONV"
    summary = "N-D convolution, any stride/pad/dilation/groups, fused bias + activation"
    lowerings = {"public": "lower_public", "public_conv_int16": "lower_public_int16"}

    def flops(self, graph, node):
        w = graph.values[node.inputs[1]]
        out = graph.values[node.outputs[0]]
        k = 1
        for d in w.shape[1:]:
            k *= d
        return 2 * out.size * k

    def lower(self, graph: Graph, node: Node) -> Lowered:
        x, w = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        y = graph.values[node.outputs[0]]
        rank = len(x.shape) - 2
        kernel, strides, dilations, pads, auto_pad = spatial_attrs(self, node, rank, w.shape[2:])
        in_size, out_size = list(x.shape[2:]), list(y.shape[2:])
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            begin = same_pads(in_size, out_size, kernel, strides, dilations, auto_pad)
        elif auto_pad == "VALID":
            begin = [0] * rank
        else:
            begin = pads[:rank]
        call = conv_call(graph, node, int(self.attr(node, "group")), kernel, strides, dilations, begin, "o2c_conv",
                         "DASH_CONV", self.flops(graph, node))
        return Lowered([call], reason=f"{rank}-D convolution: DASH_CONV")

    def lower_public(self, graph: Graph, node: Node) -> Lowered:
        """im2col + DASH_GEMM_flt per image: C (out_channels x pixels) = W (out_channels x K) . cols."""
        low = self.lower(graph, node)
        p = low.calls[0].params.fields
        w = graph.const(node.inputs[1])
        if p["groups"] != 1:
            return pub.inline(low, f"public target: inline, grouped convolution (group {p['groups']})")
        if w is None:
            return pub.inline(low, "public target: inline, the weights are not constant")
        cout, cin = p["out_channels"], p["in_channels"]
        kk = cin * int(np.prod(p["kernel"]))
        pix = int(np.prod(p["out_size"]))
        ok, reason = pub.gemm_decision(cout * kk * pix, kk * pix + cout * pix,
                                       f"im2col {cout}x{kk}x{pix} product per image")
        if not ok:
            return pub.inline(low, reason)
        wc = pub.packed_const(graph, node, "w", np.asarray(w, dtype=np.float32).reshape(cout, kk))
        cols = pub.temp(graph, node, "cols", (kk, pix))
        out = pub.temp(graph, node, "c", (cout, pix))
        bias = node.input(2) or None
        pix_in = int(np.prod(p["in_size"]))
        calls = []
        for b in range(p["batch"]):
            im2col = dict(p, batch=1)
            calls.append(Call("o2c_im2col_cplx", [TensorArg(node.inputs[0], b * cin * pix_in),
                                                  TensorArg(cols, cast=pub.CPLX)],
                              Params("dash_conv_params_t", im2col), comment=f"image {b}: im2col (complex)"))
            calls.append(pub.cgemm_call(wc, cols, out, cout, kk, pix))
            calls.append(pub.unpack_call(node, out, bias, node.outputs[0], cout, pix, 3, offset=b * cout * pix))
        return Lowered(calls, reason=reason, temps=[cols, out])

    def lower_public_int16(self, graph: Graph, node: Node) -> Lowered:
        """--conv int16: DASH_CONV_2D_int per (input, output) channel pair, accumulated with DASH_ZIP_flt."""
        low = self.lower(graph, node)
        p = low.calls[0].params.fields
        w = graph.const(node.inputs[1])
        k = p["kernel"][0]
        why = None
        if p["spatial_rank"] != 2:
            why = f"{p['spatial_rank']}-D"
        elif p["groups"] != 1:
            why = f"group {p['groups']}"
        elif w is None:
            why = "weights not constant"
        elif p["kernel"][1] != k or k % 2 == 0:
            why = f"kernel {p['kernel'][:2]} not square and odd"
        elif p["dilation"][:2] != [1, 1]:
            why = "dilation"
        if why is None:
            h = k // 2
            x = graph.values[node.inputs[0]]
            ends = [(o - 1) * s - b + h for o, s, b in zip(p["out_size"][:2], p["stride"][:2], p["pad_begin"][:2])]
            if min(p["pad_begin"][:2]) > h or any(e > i - 1 for e, i in zip(ends, x.shape[2:])):
                why = "padding wider than half the kernel"
        if why is not None:
            low = self.lower_public(graph, node)
            low.reason = f"int16 scheme not applicable ({why}); {low.reason}"
            return low
        return pub.int16_conv(graph, node, p, np.asarray(w, dtype=np.float32), k)


@register
class ConvTranspose(_ConvBase):
    op_type = "ConvTranspose"
    attrs = {**_ConvBase.attrs, "output_padding": None, "output_shape": None}
    api = "DASH_CONV_TRANSPOSE"
    summary = "N-D transposed convolution, fused bias + activation"

    def flops(self, graph, node):
        w = graph.values[node.inputs[1]]
        x = graph.values[node.inputs[0]]
        k = 1
        for d in w.shape[1:]:
            k *= d
        return 2 * x.size * k

    def lower(self, graph: Graph, node: Node) -> Lowered:
        x, w = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        y = graph.values[node.outputs[0]]
        rank = len(x.shape) - 2
        kernel, strides, dilations, pads, auto_pad = spatial_attrs(self, node, rank, w.shape[2:])
        in_size, out_size = list(x.shape[2:]), list(y.shape[2:])
        out_pad = list(self.attr(node, "output_padding") or [0] * rank)
        if self.attr(node, "output_shape") is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            begin = []
            for i in range(rank):
                total = strides[i] * (in_size[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 - out_size[i]
                total = max(total, 0)
                # onnxruntime puts the odd unit at the end for SAME_UPPER and explicit output_shape
                begin.append(total - total // 2 if auto_pad == "SAME_LOWER" else total // 2)
        elif auto_pad == "VALID":
            begin = [0] * rank
        else:
            begin = pads[:rank]
        call = conv_call(graph, node, int(self.attr(node, "group")), kernel, strides, dilations, begin,
                         "o2c_conv_transpose", "DASH_CONV_TRANSPOSE", self.flops(graph, node))
        return Lowered([call], reason=f"{rank}-D transposed convolution: DASH_CONV_TRANSPOSE")
