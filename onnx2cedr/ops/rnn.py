"""RNN, GRU and LSTM -> the inline CPU kernel o2c_rnn (forward, reverse, bidirectional, both
layouts, sequence lengths, clip, activations the unary kernel implements). The projections use
the kernel library's GEMM engine inside the call: a DASH_GEMM_RE call per step would need
scratch tensors, which the memory planner does not provide to a single node."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, register

# ONNX activation name (case-insensitive) -> (dash op, alpha default, beta default)
_ACTS = {
    "relu": ("DASH_ACT_RELU", 0.0, 0.0), "tanh": ("DASH_ACT_TANH", 0.0, 0.0),
    "sigmoid": ("DASH_ACT_SIGMOID", 0.0, 0.0), "leakyrelu": ("DASH_ACT_LEAKY_RELU", 0.01, 0.0),
    "hardsigmoid": ("DASH_ACT_HARD_SIGMOID", 0.2, 0.5), "elu": ("DASH_ACT_ELU", 1.0, 0.0),
    "affine": ("DASH_UNARY_AFFINE", 1.0, 0.0), "softplus": ("DASH_UNARY_SOFTPLUS", 0.0, 0.0),
}
_CELLS = {"RNN": ("O2C_RNN_SIMPLE", 1, ["Tanh"]), "GRU": ("O2C_RNN_GRU", 3, ["Sigmoid", "Tanh"]),
          "LSTM": ("O2C_RNN_LSTM", 4, ["Sigmoid", "Tanh", "Tanh"])}
_DIRS = {"forward": 0, "reverse": 1, "bidirectional": 2}


def _make(name: str):
    kind, gates, default_acts = _CELLS[name]
    attrs = {"activation_alpha": None, "activation_beta": None, "activations": None, "clip": None,
             "direction": "forward", "hidden_size": None, "layout": 0}
    if name == "GRU":
        attrs["linear_before_reset"] = 0
    if name == "LSTM":
        attrs["input_forget"] = 0

    class Rnn(OpDef):
        op_type = name
        summary = "recurrent layer (GEMM engine for the projections, inline CPU)"

        def _acts(self, node: Node, dirs: int):
            names = self.attr(node, "activations") or default_acts * dirs
            if len(names) != len(default_acts) * dirs:
                raise Unsupported(f"{len(names)} activations given, {len(default_acts) * dirs} expected")
            alphas = list(self.attr(node, "activation_alpha") or [])
            betas = list(self.attr(node, "activation_beta") or [])
            out, ai, bi = [], 0, 0
            for a in names:
                key = str(a).lower()
                if key not in _ACTS:
                    raise Unsupported(f"activation '{a}' is not supported (supported: "
                                      f"{', '.join(sorted(_ACTS))})")
                op, da, db = _ACTS[key]
                alpha, beta = da, db
                if key in ("leakyrelu", "hardsigmoid", "elu", "affine"):
                    if ai < len(alphas):
                        alpha = float(alphas[ai])
                    ai += 1
                if key in ("hardsigmoid", "affine"):
                    if bi < len(betas):
                        beta = float(betas[bi])
                    bi += 1
                out.append({"op": op, "alpha": float(alpha), "beta": float(beta)})
            per = len(default_acts)
            rows = [out[d * per:(d + 1) * per] + [{"op": "DASH_ACT_NONE", "alpha": 0.0, "beta": 0.0}] * (3 - per)
                    for d in range(dirs)]
            while len(rows) < 2:
                rows.append([{"op": "DASH_ACT_NONE", "alpha": 0.0, "beta": 0.0}] * 3)
            return rows

        def check_node(self, graph, node):
            d = self.attr(node, "direction")
            if d not in _DIRS:
                raise Unsupported(f"direction '{d}'")
            if self.attr(node, "hidden_size") is None:
                raise Unsupported("the hidden_size attribute is missing")
            if int(self.attr(node, "layout")) not in (0, 1):
                raise Unsupported(f"layout={self.attr(node, 'layout')}")
            if name == "LSTM" and int(self.attr(node, "input_forget")):
                raise Unsupported("input_forget=1 is not supported")
            self._acts(node, 2 if d == "bidirectional" else 1)
            for k, i in enumerate(node.inputs):
                if not i or i not in graph.values:
                    continue
                want = np.int32 if k == 4 else np.float32
                if graph.values[i].dtype != want:
                    raise Unsupported(f"input '{i}' has element type {graph.values[i].dtype} (expected {np.dtype(want)})")
            if len(node.inputs) > 4 and node.inputs[4]:
                lens = graph.const(node.inputs[4])
                x = graph.values.get(node.inputs[0])
                if lens is not None and x is not None:
                    seq = x.shape[1] if int(self.attr(node, "layout")) else x.shape[0]
                    if np.any(lens < 0) or np.any(lens > seq):
                        raise Unsupported(f"sequence_lens outside [0, {seq}]")

        def flops(self, graph, node):
            x = graph.values[node.inputs[0]]
            h = int(self.attr(node, "hidden_size"))
            dirs = 2 if self.attr(node, "direction") == "bidirectional" else 1
            steps = x.shape[0] * x.shape[1]
            return 2 * dirs * steps * gates * h * (x.shape[2] + h)

        def lower(self, graph: Graph, node: Node) -> Lowered:
            x = graph.values[node.inputs[0]]
            layout = int(self.attr(node, "layout"))
            seq, batch = (x.shape[1], x.shape[0]) if layout else (x.shape[0], x.shape[1])
            d = self.attr(node, "direction")
            dirs = 2 if d == "bidirectional" else 1
            clip = self.attr(node, "clip")
            fields = {"cell": kind, "direction": _DIRS[d], "layout": layout,
                      "linear_before_reset": int(self.attr(node, "linear_before_reset") or 0) if name == "GRU" else 0,
                      "has_clip": int(clip is not None), "clip": float(clip) if clip is not None else 0.0,
                      "seq": seq, "batch": batch, "input": x.shape[2], "hidden": int(self.attr(node, "hidden_size")),
                      "act": self._acts(node, dirs)}
            ins = list(node.inputs) + [""] * (8 - len(node.inputs))
            if name != "LSTM":
                ins[6] = ins[7] = ""  # initial_c and P are LSTM-only (GRU/RNN have 6 inputs)
            casts = ["float", "float", "float", "float", "int32_t", "float", "float", "float"]
            args = [TensorArg(i, cast=c) if i else NullArg(c) for i, c in zip(ins, casts)]
            outs = list(node.outputs) + [""] * (3 - len(node.outputs))
            if name != "LSTM":
                outs[2] = ""
            args += [TensorArg(o) if o else NullArg() for o in outs]
            return Lowered([Call("o2c_rnn", args, Params("o2c_rnn_params_t", fields), flops=self.flops(graph, node))],
                           reason=f"{name}: inline CPU kernel (GEMM engine for the projections)")

    Rnn.attrs = attrs
    Rnn.__name__ = f"Op{name}"
    return Rnn


for _n in _CELLS:
    register(_make(_n))
