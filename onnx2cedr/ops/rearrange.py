"""Ops that only rearrange or sum values and are lowered to ops that exist by a pass:

- Compress with a constant condition: a Gather of the kept indices (passes/lower_compress.py). A
  condition known only at run time would make the output's size data-dependent: refused.
- Col2Im: the sum of the columns' blocks back into the image (the adjoint of im2col), lowered to a
  grouped ConvTranspose whose weights pick one block position per input channel
  (passes/lower_col2im.py); image_shape and block_shape must be constants.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import Graph, Node
from .base import LoweredByPass, Unsupported, register
from .logic import DT_CODES


@dataclasses.dataclass
class CompressSpec:
    kept: np.ndarray        # the kept indices (along the axis, or of the flattened input)
    axis: int | None        # normalized; None: the input is flattened
    out_shape: tuple[int, ...]


def compress_spec(graph: Graph, node: Node) -> CompressSpec:
    cond = graph.const(node.input(1))
    if cond is None:
        raise Unsupported("its condition must be a constant (the output's size depends on it)")
    cond = np.asarray(cond).reshape(-1).astype(bool)
    shape = tuple(graph.value(node.inputs[0]).shape)
    axis = node.attrs.get("axis")
    if axis is None:
        n = int(np.prod(shape, dtype=np.int64))
    else:
        axis = int(axis)
        if not -len(shape) <= axis < len(shape):
            raise Unsupported(f"axis {axis} is out of range for rank {len(shape)}")
        axis %= len(shape)
        n = int(shape[axis])
    if cond.size > n:
        raise Unsupported(f"its condition has {cond.size} values for a dimension of {n}")
    kept = np.nonzero(cond)[0].astype(np.int64)
    out = (kept.size,) if axis is None else shape[:axis] + (kept.size,) + shape[axis + 1:]
    return CompressSpec(kept, axis, out)


@register
class OpCompress(LoweredByPass):
    op_type = "Compress"
    attrs = {"axis": None}
    dtypes = tuple(DT_CODES)
    lowered_by = "lower_compress"
    summary = "lowered to a Gather of the kept indices (lower_compress); the condition must be a constant"

    def spec(self, graph, node):
        return compress_spec(graph, node)


@dataclasses.dataclass
class Col2ImSpec:
    batch: int
    channels: int
    image: tuple[int, ...]
    block: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[int, ...]  # begin..., end...
    strides: tuple[int, ...]

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (self.batch, self.channels) + self.image

    @property
    def blocks(self) -> tuple[int, ...]:
        """The number of block positions along each spatial axis."""
        d = len(self.image)
        return tuple((self.image[i] + self.pads[i] + self.pads[d + i] - self.dilations[i] * (self.block[i] - 1) - 1)
                     // self.strides[i] + 1 for i in range(d))


def col2im_spec(graph: Graph, node: Node) -> Col2ImSpec:
    x = graph.value(node.inputs[0])
    image, block = graph.const(node.input(1)), graph.const(node.input(2))
    if image is None or block is None:
        raise Unsupported("image_shape and block_shape must be constants")
    image = tuple(int(v) for v in np.asarray(image).reshape(-1))
    block = tuple(int(v) for v in np.asarray(block).reshape(-1))
    d = len(image)
    if len(block) != d or not 1 <= d <= 3:
        raise Unsupported(f"image_shape and block_shape must have the same 1 to 3 values, got {list(image)}, "
                          f"{list(block)}")
    dil = tuple(int(v) for v in node.attrs.get("dilations", [1] * d))
    pads = tuple(int(v) for v in node.attrs.get("pads", [0] * 2 * d))
    strides = tuple(int(v) for v in node.attrs.get("strides", [1] * d))
    if len(dil) != d or len(pads) != 2 * d or len(strides) != d or min(dil + strides) < 1 or min(pads) < 0 \
            or min(image + block) < 1:
        raise Unsupported("bad dilations, pads, strides, image_shape or block_shape")
    if len(x.shape) != 3:
        raise Unsupported(f"the input must be [N, C * block size, L], got shape {list(x.shape)}")
    per = int(np.prod(block))
    if x.shape[1] % per:
        raise Unsupported(f"the input's {x.shape[1]} rows are not a multiple of the block size {per}")
    sp = Col2ImSpec(int(x.shape[0]), int(x.shape[1]) // per, image, block, dil, pads, strides)
    if min(sp.blocks) < 1 or int(np.prod(sp.blocks)) != x.shape[2]:
        raise Unsupported(f"the input has {x.shape[2]} columns, the image and blocks give {int(np.prod(sp.blocks))}")
    return sp


@register
class OpCol2Im(LoweredByPass):
    op_type = "Col2Im"
    attrs = {"dilations": None, "pads": None, "strides": None}
    api = "DASH_CONV"
    lowered_by = "lower_col2im"
    summary = ("lowered to a grouped ConvTranspose with one-hot weights (lower_col2im); image_shape and "
               "block_shape must be constants")

    def spec(self, graph, node):
        return col2im_spec(graph, node)
