"""RNN, GRU and LSTM against onnxruntime: directions, layouts, biases, initial states, sequence
lengths, clip, peepholes, non-default activations."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.oncheck import assert_close, check, make_model, rand, run_ort, run_ours

H = helper.make_node
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}

CASES = [
    # (op, attrs, seq, batch, input, hidden, extras)
    ("RNN", {}, 4, 2, 3, 5, ""),
    ("RNN", {"direction": "bidirectional"}, 3, 2, 3, 4, "B h0"),
    ("RNN", {"direction": "reverse", "activations": ["Relu"]}, 4, 3, 2, 3, "B lens"),
    ("GRU", {}, 4, 2, 3, 5, "B"),
    ("GRU", {"linear_before_reset": 1}, 4, 2, 3, 5, "B h0"),
    ("GRU", {"direction": "bidirectional"}, 3, 2, 4, 3, "B lens h0"),
    ("GRU", {"layout": 1, "clip": 0.5}, 3, 2, 3, 4, "B"),
    ("LSTM", {}, 4, 2, 3, 5, "B"),
    ("LSTM", {"direction": "reverse"}, 4, 2, 3, 4, "B h0 c0 P"),
    ("LSTM", {"direction": "bidirectional", "clip": 1.0}, 3, 3, 2, 4, "B lens h0 c0"),
    ("LSTM", {"layout": 1}, 3, 2, 3, 4, "B h0 c0"),
    ("LSTM", {"activations": ["HardSigmoid", "Tanh", "Relu"], "activation_alpha": [0.3],
              "activation_beta": [0.4]}, 3, 2, 3, 4, "B"),
    # batches above the kernel's small-batch bound (8): the recurrent product through the GEMM engine
    ("GRU", {"direction": "bidirectional"}, 3, 11, 4, 6, "B lens h0"),
    ("LSTM", {"direction": "bidirectional"}, 4, 10, 3, 5, "B lens h0 c0 P"),
]


@pytest.mark.parametrize("op,attrs,seq,batch,inp,hid,extras", CASES,
                         ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_recurrent(op, attrs, seq, batch, inp, hid, extras):
    g = GATES[op]
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    bf = attrs.get("layout", 0) == 1
    x = rand(*((batch, seq, inp) if bf else (seq, batch, inp)), seed=1)
    inits = {"W": rand(dirs, g * hid, inp, seed=2) * 0.5, "R": rand(dirs, g * hid, hid, seed=3) * 0.5}
    ins = ["x", "W", "R", "", "", "", "", ""]
    feeds = {"x": x}
    ex = extras.split()
    if "B" in ex:
        inits["B"] = rand(dirs, 2 * g * hid, seed=4) * 0.3
        ins[3] = "B"
    if "lens" in ex:
        feeds["lens"] = np.array([seq - k % seq for k in range(batch)], np.int32)
        ins[4] = "lens"
    st = (batch, dirs, hid) if bf else (dirs, batch, hid)
    if "h0" in ex:
        feeds["h0"] = rand(*st, seed=5)
        ins[5] = "h0"
    if "c0" in ex:
        feeds["c0"] = rand(*st, seed=6)
        ins[6] = "c0"
    if "P" in ex:
        inits["P"] = rand(dirs, 3 * hid, seed=7) * 0.3
        ins[7] = "P"
    while not ins[-1]:
        ins.pop()
    outs = ["y", "yh"] + (["yc"] if op == "LSTM" else [])
    if not bf:
        check(H(op, ins, outs, hidden_size=hid, **attrs), feeds, outs, inits, tol=(2e-5, 2e-6))
        return
    # onnxruntime has no batch-first kernels: the reference is the layout-0 node on transposed data
    ours = run_ours(make_model([H(op, ins, outs, hidden_size=hid, **attrs)], feeds, outs, inits), feeds)
    seq_first = {k: (v.transpose(1, 0, 2) if k in ("x", "h0", "c0") else v) for k, v in feeds.items()}
    ref_attrs = {k: v for k, v in attrs.items() if k != "layout"}
    ref = run_ort(make_model([H(op, ins, outs, hidden_size=hid, **ref_attrs)], seq_first, outs, inits), seq_first)
    ref = [ref[0].transpose(2, 0, 1, 3)] + [r.transpose(1, 0, 2) for r in ref[1:]]
    assert_close(ours, ref, 2e-5, 2e-6, what=op)
