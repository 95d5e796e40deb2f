"""Ops newer than the internal opset 21 (carried in the private domain, see opset_fixups):
RotaryEmbedding (23) against onnxruntime; BitCast and CumProd (26, beyond onnxruntime) against onnx's
reference evaluator."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from tests.oncheck import assert_close, check, make_model, rand, run_ours

H = helper.make_node


@pytest.mark.parametrize("interleaved", [0, 1])
def test_rotary_embedding(interleaved):
    b, s, h, d, maxpos = 2, 3, 2, 8, 10
    feeds = {"x4": rand(b, h, s, d, seed=1), "x3": rand(b, s, h * d, seed=2),
             "pos": np.random.default_rng(3).integers(0, maxpos, (b, s)).astype(np.int64)}
    inits = {"cos": rand(maxpos, d // 2, seed=4), "sin": rand(maxpos, d // 2, seed=5),
             "cos_p": rand(maxpos, 2, seed=6), "sin_p": rand(maxpos, 2, seed=7)}
    nodes = [H("RotaryEmbedding", ["x4", "cos", "sin", "pos"], ["y4"], interleaved=interleaved),
             H("RotaryEmbedding", ["x3", "cos_p", "sin_p", "pos"], ["y3"], interleaved=interleaved, num_heads=h,
               rotary_embedding_dim=4)]
    check(nodes, feeds, ["y4", "y3"], inits, opset=23, tol=(1e-6, 1e-6))


def _against_reference(nodes, feeds, outputs, opset):
    model = make_model(nodes, feeds, outputs, opset=opset)
    ref = ReferenceEvaluator(model).run(None, feeds)
    ours = run_ours(model, feeds)
    assert_close(ours, ref, 0, 0)


def test_bitcast():
    feeds = {"f": rand(3, 4, seed=1), "i": np.arange(-3, 3, dtype=np.int16), "z": np.array([True, False])}
    nodes = [H("BitCast", ["f"], ["fi"], to=TensorProto.INT32), H("BitCast", ["i"], ["iu"], to=TensorProto.UINT16),
             H("BitCast", ["z"], ["zu"], to=TensorProto.UINT8)]
    _against_reference(nodes, feeds, ["fi", "iu", "zu"], opset=26)


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumprod(exclusive, reverse):
    feeds = {"x": rand(3, 4, seed=1, low=0.5, high=1.5).astype(np.float64), "k": np.arange(1, 7, dtype=np.int32)}
    inits = {"ax1": np.array(1, np.int64), "ax0": np.array(0, np.int64)}
    nodes = [H("CumProd", ["x", "ax1"], ["y"], exclusive=exclusive, reverse=reverse),
             H("CumProd", ["k", "ax0"], ["ky"], exclusive=exclusive, reverse=reverse)]
    model = make_model(nodes, feeds, ["y", "ky"], inits, opset=26)
    ref = ReferenceEvaluator(model).run(None, feeds)
    assert_close(run_ours(model, feeds), ref, 1e-15, 1e-15)


@pytest.mark.parametrize("activation", ["none", "silu"])
def test_causal_conv_with_state(activation):
    feeds = {"x": rand(2, 3, 6, seed=1), "past": rand(2, 3, 3, seed=2)}
    inits = {"w": rand(3, 1, 4, seed=3), "b": rand(3, seed=4)}
    nodes = [H("CausalConvWithState", ["x", "w", "b", "past"], ["y", "state"], activation=activation),
             H("CausalConvWithState", ["x", "w"], ["y0"], activation=activation)]
    model = make_model(nodes, feeds, ["y", "state", "y0"], inits, opset=27)
    assert_close(run_ours(model, feeds), ReferenceEvaluator(model).run(None, feeds), 1e-6, 1e-6)


def test_swiglu():
    feeds = {"a": rand(3, 8, seed=1), "b": rand(3, 8, seed=2)}
    nodes = [H("SwiGLU", ["a", "b"], ["y"]), H("SwiGLU", ["a", "b"], ["y2"], alpha=1.7)]
    model = make_model(nodes, feeds, ["y", "y2"], opset=28)
    assert_close(run_ours(model, feeds), ReferenceEvaluator(model).run(None, feeds), 1e-6, 1e-6)


def test_function_ops_newer_than_the_internal_opset_are_expanded():
    """LinearAttention (27) has no earlier version and no definition here; onnx defines it as a function
    of older ops, and the loader inlines that body (a context-dependent one, built for the node's
    attributes and input types) before converting the opset: checked against onnx's reference."""
    feeds = {n: rand(2, 4, 32, seed=k) for k, n in enumerate(("q", "k", "v"))}
    feeds["decay"] = (np.abs(rand(2, 4, 32, seed=9)) * 0.5).astype(np.float32)
    nodes = [H("LinearAttention", ["q", "k", "v", "", "decay"], ["y", "state"], q_num_heads=4, kv_num_heads=4,
               update_rule="gated")]
    model = make_model(nodes, feeds, ["y", "state"], opset=27)
    ref = ReferenceEvaluator(model).run(None, feeds)
    assert_close(run_ours(model, feeds), ref, 1e-5, 1e-5)


def test_preview_function_ops_are_expanded():
    """ai.onnx.preview FlexAttention: expanded into its function body the same way."""
    from onnx import helper as oh

    feeds = {n: rand(1, 2, 4, 8, seed=k) for k, n in enumerate(("Q", "K", "V"))}
    node = H("FlexAttention", ["Q", "K", "V"], ["Y"], domain="ai.onnx.preview")
    model = make_model([node], feeds, ["Y"], opset=26)
    model.opset_import.append(oh.make_opsetid("ai.onnx.preview", 1))
    ref = ReferenceEvaluator(model).run(None, feeds)
    assert_close(run_ours(model, feeds), ref, 1e-5, 1e-5)


def test_function_ops_without_a_definition_here_are_expanded():
    """CenterCropPad (18) is not in the op registry; onnx defines it as a (context-dependent) function,
    whose body the loader inlines: checked against onnxruntime."""
    feeds = {"x": rand(2, 10, 7, 3, seed=4)}
    nodes = [H("CenterCropPad", ["x", "shape"], ["y"], axes=[1, 2])]
    check(nodes, feeds, ["y"], {"shape": np.array([6, 9], np.int64)}, opset=18, tol=(0, 0))


@pytest.mark.parametrize("shape,axis,inverse,onesided,length", [
    ((2, 16, 1), 1, 0, 0, None),      # real, full
    ((2, 16, 1), 1, 0, 1, None),      # rfft: 9 bins
    ((3, 12, 2), 1, 1, 0, None),      # complex inverse
    ((2, 5, 7, 2), 1, 0, 0, 8),       # complex, padded to 8, axis not next to last
    ((2, 5, 7, 1), 2, 0, 0, 4),       # real, cut to 4
])
def test_dft_is_lowered_to_matrix_products(shape, axis, inverse, onesided, length):
    """DFT (opset 20: axis and dft_length as inputs) against onnxruntime: passes/lower_dft.py writes it as
    MatMuls with constant cosine/sine tables."""
    feeds = {"x": rand(*shape, seed=11)}
    inits = {"axis": np.array(axis, np.int64)}
    ins = ["x", "len" if length else "", "axis"]
    if length:
        inits["len"] = np.array(length, np.int64)
    node = H("DFT", ins, ["y"], inverse=inverse, onesided=onesided)
    check([node], feeds, ["y"], inits, opset=20, tol=(2e-5, 2e-5))


@pytest.mark.parametrize("window", [True, False])
def test_stft_is_lowered_to_frames_and_matrix_products(window):
    """STFT against onnxruntime: frames gathered by a constant index table, the window (a graph input
    here, not a constant) multiplied in, then the DFT's matrix products."""
    feeds = {"sig": rand(2, 100, 1, seed=12)}
    inits = {"step": np.array(6, np.int64)}
    if window:
        feeds["win"] = np.hanning(20).astype(np.float32)
        node = H("STFT", ["sig", "step", "win"], ["y"])
    else:
        inits["flen"] = np.array(20, np.int64)
        node = H("STFT", ["sig", "step", "", "flen"], ["y"], onesided=0)
    out = check([node], feeds, ["y"], inits, opset=17, tol=(2e-5, 2e-5))
    assert out[0].shape == ((2, 14, 11, 2) if window else (2, 14, 20, 2))


@pytest.mark.parametrize("shape,axis,length", [
    ((2, 6, 3, 2), 1, None),   # default length 2 (n - 1) = 10, axis not next to last
    ((3, 5, 2), 1, 9),         # odd length: no Nyquist bin
    ((2, 7, 2), 1, 8),         # more bins than 8 / 2 + 1: the extra ones are ignored
    ((2, 3, 2), 1, 8),         # fewer: the missing ones are zero
])
def test_dft_inverse_onesided_is_irfft(shape, axis, length):
    """inverse=1 with onesided=1: the real inverse of a one-sided spectrum, numpy's irfft (the imaginary
    parts of the DC and Nyquist bins drop out)."""
    x = rand(*shape, seed=13)
    inits = {"axis": np.array(axis, np.int64)}
    ins = ["x", "", "axis"]
    if length:
        inits["len"], ins[1] = np.array(length, np.int64), "len"
    model = make_model([H("DFT", ins, ["y"], inverse=1, onesided=1)], {"x": x}, ["y"], inits, opset=20)
    y = run_ours(model, {"x": x})[0]
    ref = np.fft.irfft(x[..., 0] + 1j * x[..., 1], n=length or 2 * (shape[axis] - 1), axis=axis)[..., None]
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=2e-5, atol=2e-5)
