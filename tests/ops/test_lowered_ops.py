"""Ops lowered by a pass onto ops that exist (ops/rearrange.py): Compress with a constant condition
(a Gather) and Col2Im (a grouped ConvTranspose with one-hot weights), against onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.oncheck import check, rand

H = helper.make_node


@pytest.mark.parametrize("axis,cond", [(0, [1, 0, 1, 1]), (1, [0, 1, 1]), (-1, [1, 1, 0, 1, 0]), (None, [0, 1] * 10)])
def test_compress_with_a_constant_condition(axis, cond):
    feeds = {"x": rand(4, 5, 3, seed=2)}
    if axis == 1:
        feeds = {"x": rand(4, 3, 2, seed=2)}
    if axis == -1:
        feeds = {"x": rand(2, 3, 5, seed=2)}
    attrs = {} if axis is None else {"axis": axis}
    check([H("Compress", ["x", "c"], ["y"], **attrs)], feeds, ["y"], {"c": np.array(cond, bool)}, opset=17,
          tol=(0, 0))


@pytest.mark.parametrize("image,block,attrs", [
    ((6, 7), (2, 3), {}),
    ((9, 8), (3, 3), {"strides": [2, 2], "pads": [1, 0, 1, 2]}),
    ((8, 8), (2, 2), {"dilations": [2, 3]}),
    ((3, 4, 6), (1, 2, 3), {}),
])
def test_col2im(image, block, attrs):
    d = len(image)
    st, dil = attrs.get("strides", [1] * d), attrs.get("dilations", [1] * d)
    pads = attrs.get("pads", [0] * 2 * d)
    L = int(np.prod([(image[i] + pads[i] + pads[d + i] - dil[i] * (block[i] - 1) - 1) // st[i] + 1 for i in range(d)]))
    C = 3
    feeds = {"cols": rand(2, C * int(np.prod(block)), L, seed=5)}
    inits = {"img": np.array(image, np.int64), "blk": np.array(block, np.int64)}
    out = check([H("Col2Im", ["cols", "img", "blk"], ["y"], **attrs)], feeds, ["y"], inits, opset=18, tol=(1e-6, 1e-6))
    assert out[0].shape == (2, C) + image
