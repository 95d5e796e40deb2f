"""Control-flow shelf models: ONNX graphs with `If`, the way real speech models have them.

``export_vad(path)``: a voice-activity detector, an STFT-like Conv1d front end (a learned
filterbank: 25 ms windows every 10 ms, log power) + LSTM + per-frame speech probability, for two
sample rates. As in the VADs we measured, the ONNX graph takes the audio and a scalar int64 sample
rate ``sr`` and an ``If (sr == 16000)`` chooses between the two complete sub-models (each exported
from PyTorch by the TorchScript exporter, then placed in a branch with onnx.helper, their weights
as branch initializers). Input ``audio`` 1x1x4000; output ``speech_prob`` 1xTx1 (T = 23 frames at
16 kHz, 48 at 8 kHz). Compiled with ``--const sr=16000`` (or 8000) the If folds away.

``nested_shape_if()``: an If whose condition comes from shapes (``Shape(x)[2] == 4000``), whose
taken branch holds another If on ``Cast(Shape(h)[1])`` of a branch-local value, as exporters
write for streaming state: both fold once shapes are fixed.
"""
from __future__ import annotations

import io
import os
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper

from ._util import seeded_init

SAMPLES = 4000
RATES = (16000, 8000)
OPSET = 17


class VadNet(nn.Module):
    """Conv1d filterbank (win = 25 ms, hop = 10 ms at `rate`) -> log(1 + power) -> LSTM -> sigmoid."""

    def __init__(self, rate: int = 16000, bins: int = 32, hidden: int = 24):
        super().__init__()
        win, hop = rate // 40, rate // 100
        self.fbank = nn.Conv1d(1, 2 * bins, kernel_size=win, stride=hop, bias=False)
        self.bins = bins
        self.lstm = nn.LSTM(bins, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, audio):
        z = self.fbank(audio)                          # (1, 2*bins, T): real and imaginary parts
        re, im = z[:, :self.bins], z[:, self.bins:]
        feats = torch.log1p(re * re + im * im).transpose(1, 2)  # (1, T, bins)
        h, _ = self.lstm(feats)
        return torch.sigmoid(self.head(h))             # (1, T, 1)


def build(rate: int = 16000, seed: int = 0) -> VadNet:
    return seeded_init(VadNet(rate), seed)


def _export(module: nn.Module) -> onnx.ModelProto:
    buf = io.BytesIO()
    x = torch.zeros(1, 1, SAMPLES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (x,), buf, dynamo=False, opset_version=OPSET, do_constant_folding=True,
                          input_names=["audio"], output_names=["speech_prob"])
    return onnx.load_from_string(buf.getvalue())


def _as_branch(sub: onnx.ModelProto, prefix: str, outer: set[str]) -> onnx.GraphProto:
    """The sub-model's graph as an If branch: it reads the outer `audio`, every other name it
    defines is prefixed (the two branches define the same names), its weights become branch
    initializers."""
    g = sub.graph
    local = {t.name for t in g.initializer} | {o for n in g.node for o in n.output if o}
    ren = {k: prefix + k for k in local if k not in outer}
    nodes = []
    for n in g.node:
        m = onnx.NodeProto()
        m.CopyFrom(n)
        m.name = prefix + (n.name or n.op_type)
        m.input[:] = [ren.get(i, i) for i in n.input]
        m.output[:] = [ren.get(o, o) for o in n.output]
        nodes.append(m)
    inits = [numpy_helper.from_array(numpy_helper.to_array(t), ren[t.name]) for t in g.initializer]
    outs = [helper.make_tensor_value_info(ren[o.name], o.type.tensor_type.elem_type, None) for o in g.output]
    return helper.make_graph(nodes, prefix + "branch", [], outs, initializer=inits)


def vad_model(seed: int = 0) -> onnx.ModelProto:
    """The two-rate VAD as one ONNX model with `If (sr == 16000)` (see the module docstring)."""
    hi, lo = (_export(build(r, seed)) for r in RATES)
    outer = {"audio"}
    then_g, else_g = _as_branch(hi, "sr16k/", outer), _as_branch(lo, "sr8k/", outer)
    nodes = [helper.make_node("Equal", ["sr", "rate_16k"], ["is_16k"], name="sr_is_16k"),
             helper.make_node("If", ["is_16k"], ["speech_prob"], name="choose_rate",
                              then_branch=then_g, else_branch=else_g)]
    graph = helper.make_graph(
        nodes, "vad_two_rates",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 1, SAMPLES]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("speech_prob", TensorProto.FLOAT, [1, "frames", 1])],
        initializer=[numpy_helper.from_array(np.array(16000, np.int64), "rate_16k")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def export_vad(path, seed: int = 0) -> str:
    path = os.fspath(path)
    onnx.save(vad_model(seed), path)
    return path


def nested_shape_if(length: int = SAMPLES) -> onnx.ModelProto:
    """x (1x1xlength) -> If(Shape(x)[2] == 4000): then [h = Conv(x); If(Cast(Shape(h)[1], bool)):
    then Relu(h) * 2, else -h], else Abs(x) pooled to the same shape. Weights seeded."""
    rng = np.random.default_rng(0)
    f = TensorProto.FLOAT
    w = numpy_helper.from_array(rng.standard_normal((8, 1, 40)).astype(np.float32) * 0.2, "w")
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    inner_then = helper.make_graph(
        [helper.make_node("Relu", ["h"], ["r"], name="inner_relu"),
         helper.make_node("Mul", ["r", "two"], ["inner_out"], name="inner_scale")],
        "inner_then", [], [helper.make_tensor_value_info("inner_out", f, None)], initializer=[two])
    inner_else = helper.make_graph(
        [helper.make_node("Neg", ["h"], ["neg_h"], name="inner_neg")],
        "inner_else", [], [helper.make_tensor_value_info("neg_h", f, None)])
    one = numpy_helper.from_array(np.array([1], np.int64), "one")
    then_g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["h"], name="conv", strides=[20]),
         helper.make_node("Shape", ["h"], ["h_shape"], name="h_shape"),
         helper.make_node("Gather", ["h_shape", "one"], ["channels"], name="channels", axis=0),
         helper.make_node("Cast", ["channels"], ["has_channels"], name="has_channels", to=TensorProto.BOOL),
         helper.make_node("Squeeze", ["has_channels"], ["cond_inner"], name="squeeze"),
         helper.make_node("If", ["cond_inner"], ["then_out"], name="inner_if", then_branch=inner_then,
                          else_branch=inner_else)],
        "outer_then", [], [helper.make_tensor_value_info("then_out", f, None)], initializer=[w, one])
    else_g = helper.make_graph(
        [helper.make_node("Abs", ["x"], ["ax"], name="abs"),
         helper.make_node("AveragePool", ["ax"], ["else_out"], name="pool", kernel_shape=[40], strides=[20])],
        "outer_else", [], [helper.make_tensor_value_info("else_out", f, None)])
    nodes = [helper.make_node("Shape", ["x"], ["x_shape"], name="x_shape"),
             helper.make_node("Gather", ["x_shape", "axis2"], ["length"], name="length", axis=0),
             helper.make_node("Equal", ["length", "want"], ["cond"], name="is_4000"),
             helper.make_node("If", ["cond"], ["y0"], name="outer_if", then_branch=then_g, else_branch=else_g),
             helper.make_node("Sigmoid", ["y0"], ["y"], name="out")]
    graph = helper.make_graph(
        nodes, "nested_shape_if", [helper.make_tensor_value_info("x", f, [1, 1, length])],
        [helper.make_tensor_value_info("y", f, [1, "channels", "frames"])],
        initializer=[numpy_helper.from_array(np.array(2, np.int64), "axis2"),
                     numpy_helper.from_array(np.array(4000, np.int64), "want")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m
