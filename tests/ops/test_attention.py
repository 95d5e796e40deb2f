"""Attention (opset 23/24): expanded by the pass expand_attention into Einsum products (DASH_GEMM_RE for
float32) around AttentionSoftmax; single-node models against onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import onnx2cedr
from onnx2cedr.errors import O2CError
from tests.oncheck import check, make_model, rand

H = helper.make_node
TOL = (2e-5, 2e-5)


def _qkv(b, hq, hkv, s, t, d, dv, rank, dtype=np.float32, seed=0):
    if rank == 4:
        shapes = [(b, hq, s, d), (b, hkv, t, d), (b, hkv, t, dv)]
    else:
        shapes = [(b, s, hq * d), (b, t, hkv * d), (b, t, hkv * dv)]
    return {n: rand(*shp, seed=seed + k, dtype=dtype) for k, (n, shp) in enumerate(zip("qkv", shapes))}


def test_attention_4d_float_mask_softcap_qk_bias():
    feeds = _qkv(2, 3, 3, 4, 6, 8, 5, 4)
    feeds["m"] = rand(4, 6, seed=9)
    check(H("Attention", ["q", "k", "v", "m"], ["y", "", "", "qk"], softcap=2.0, qk_matmul_output_mode=2),
          feeds, ["y", "qk"], opset=23, tol=TOL)


def test_attention_3d_gqa_causal_past_present():
    feeds = _qkv(2, 6, 2, 3, 3, 8, 4, 3)
    feeds["pk"], feeds["pv"] = rand(2, 2, 5, 8, seed=11), rand(2, 2, 5, 4, seed=12)
    check(H("Attention", ["q", "k", "v", "", "pk", "pv"], ["y", "pk_out", "pv_out"], q_num_heads=6, kv_num_heads=2,
            is_causal=1), feeds, ["y", "pk_out", "pv_out"], opset=23, tol=TOL)


def test_attention_4d_bool_mask_scale_softmax_output():
    feeds = _qkv(1, 4, 1, 5, 7, 4, 4, 4)  # multi-query: one key/value head
    rng = np.random.default_rng(3)
    feeds["m"] = rng.integers(0, 2, (1, 4, 5, 7)).astype(np.bool_)
    feeds["m"][..., 0] = True
    check(H("Attention", ["q", "k", "v", "m"], ["y", "", "", "qk"], scale=0.3, qk_matmul_output_mode=3),
          feeds, ["y", "qk"], opset=23, tol=TOL)


def test_attention_nonpad_kv_seqlen():
    feeds = _qkv(2, 4, 2, 2, 6, 8, 8, 4)
    feeds["n"] = np.array([3, 6], np.int64)
    check(H("Attention", ["q", "k", "v", "", "", "", "n"], ["y"], is_causal=1), feeds, ["y"], opset=24, tol=TOL)


def test_attention_float16():
    feeds = _qkv(1, 2, 2, 3, 4, 8, 8, 4, dtype=np.float16)
    check(H("Attention", ["q", "k", "v"], ["y"], is_causal=1), feeds, ["y"], opset=23, tol=(2e-3, 2e-3))


def test_attention_float32_products_on_gemm():
    feeds = _qkv(1, 4, 2, 3, 5, 8, 8, 4)
    desc = onnx2cedr.inspect(make_model([H("Attention", ["q", "k", "v"], ["y"])], feeds, ["y"], opset=23))
    layers = desc["layers"]
    assert [ly["op"] for ly in layers if ly["placement"] != "view"] == ["Einsum", "AttentionSoftmax", "Einsum"]
    assert [ly["placement"] for ly in layers if ly["op"] == "Einsum"] == ["DASH_GEMM_RE"] * 2


@pytest.mark.parametrize("attrs,inputs,why", [
    ({}, "3d", "q_num_heads and kv_num_heads"),
    ({"softmax_precision": 10}, "4d", "softmax_precision=10"),
    ({"q_num_heads": 3, "kv_num_heads": 3}, "4d-gqa", "q_num_heads=3, kv_num_heads=3 disagree"),
])
def test_attention_errors_name_the_problem(attrs, inputs, why):
    feeds = _qkv(1, 4, 2, 3, 5, 8, 8, 3 if inputs == "3d" else 4)
    model = make_model([H("Attention", ["q", "k", "v"], ["y"], **attrs)], feeds, ["y"], opset=23)
    with pytest.raises(O2CError, match=why):
        onnx2cedr.inspect(model)
