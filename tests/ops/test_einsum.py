"""Einsum: matrix-product equations (GEMM) and the generic strided loop, against onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from onnx2cedr.ops.einsum import parse_equation
from tests.oncheck import check, gemm_tol, rand

H = helper.make_node

CASES = [
    # (equation, operand shapes, expected lowering: 'gemm' or 'loop')
    ("ij,jk->ik", [(3, 4), (4, 5)], "gemm"),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], "gemm"),
    ("bhid,bhjd->bhij", [(2, 2, 3, 8), (2, 2, 5, 8)], "gemm"),  # attention scores: B transposed
    ("ji,jk->ik", [(4, 3), (4, 5)], "gemm"),
    ("i,i", [(7,), (7,)], "gemm"),  # inner product, implicit output
    ("i,j->ij", [(3,), (4,)], "gemm"),  # outer product
    ("ij->ji", [(3, 4)], "loop"),
    ("ij->i", [(3, 4)], "loop"),
    ("ij->", [(3, 4)], "loop"),
    ("ii->i", [(4, 4)], "loop"),
    ("...ii->...i", [(2, 3, 3)], "loop"),
    ("bij,bkj->bki", [(2, 3, 4), (2, 5, 4)], "loop"),  # output order not batch+M+N
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)], "loop"),
    ("...ij,...jk", [(2, 1, 3, 4), (1, 5, 4, 2)], "loop"),  # broadcast ellipsis
    ("abc,cd->abd", [(2, 3, 4), (4, 5)], "gemm"),  # M spans two dims
]


@pytest.mark.parametrize("eq,shapes,kind", CASES, ids=[c[0].replace(",", "_").replace("->", "-").replace("...", "E")
                                                        for c in CASES])
def test_einsum(eq, shapes, kind):
    feeds = {f"x{i}": rand(*s, seed=i + 1) for i, s in enumerate(shapes)}
    ours = check(H("Einsum", list(feeds), ["y"], equation=eq), feeds, ["y"], tol=gemm_tol(16))
    assert ours[0].dtype == np.float32


def test_parse_implicit_output_and_ellipsis():
    assert parse_equation("ij,jk", [2, 2]) == ([["i", "j"], ["j", "k"]], ["i", "k"])
    subs, out = parse_equation("...ii->...i", [4])
    assert len(subs[0]) == 4 and out[-1] == "i" and len(out) == 3


def test_gemm_or_loop_placement():
    import onnx2cedr
    from tests.oncheck import make_model

    for eq, shapes, kind in CASES:
        feeds = {f"x{i}": rand(*s, seed=i + 1) for i, s in enumerate(shapes)}
        desc = onnx2cedr.inspect(make_model([H("Einsum", list(feeds), ["y"], equation=eq)], feeds, ["y"]))
        text = str(desc)
        assert ("DASH_GEMM_RE" in text) == (kind == "gemm"), eq


@pytest.mark.parametrize("dtype,tol", [(np.float64, (1e-12, 1e-12)), (np.float16, (2e-3, 2e-3))])
def test_einsum_other_float_types(dtype, tol):
    """float64/float16 operands: the typed strided loop (accumulates in double, one rounding), also
    for a matrix-product equation (DASH_GEMM_RE is float32 only)."""
    feeds = {"a": rand(2, 3, 4, seed=1, dtype=dtype), "b": rand(2, 4, 5, seed=2, dtype=dtype),
             "c": rand(3, 3, seed=3, dtype=dtype)}
    nodes = [H("Einsum", ["a", "b"], ["y"], equation="bij,bjk->bik"), H("Einsum", ["c"], ["t"], equation="ii->i")]
    ours = check(nodes, feeds, ["y", "t"], tol=tol)
    assert ours[0].dtype == dtype
