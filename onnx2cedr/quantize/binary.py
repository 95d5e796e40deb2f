"""`quantize --scheme binary`: post-training binarization of a float model's hidden MatMul/Gemm layers,
written in standard ONNX ops (onnxruntime runs the result, so `validate` checks it as it is).

Binarizing a trained float net after the fact loses accuracy (a net trained binarized, with a
straight-through estimator, does far better: models/bnn_mlp.py); this is the honest post-training form:

- layers: the MatMul / Gemm nodes with a 2-D constant weight and a 2-D input, except the first and
  the last weight layer of the graph (Conv, MatMul or Gemm, in graph order), which stay float as is
  common practice, and the --exclude ones. Convolutions stay float.
- weights: w -> sign(w) * a_n per output channel n, a_n = mean |w| of the channel (sign(0) = +1): the
  scale that minimizes the L2 error of a bipolar approximation.
- the activation x feeding a binarized layer: x ~ c + s * sign(x - t), per tensor, the 1-bit Lloyd-Max
  quantizer of x over the calibration inputs (two_levels: a threshold t between the means lo and hi of
  the values below and above it, c = (lo + hi) / 2, s = (hi - lo) / 2; binarizing a ReLU output at 0
  would make every bit 1). Written Where(GreaterOrEqual(Sub(x, t), 0), s, -s); the layer becomes
  Gemm(that, sign(w) * a, C + c * colsum(sign(w) * a)) (the c part of x moved into the bias);
- every BatchNormalization downstream of a binarized layer gets its mean and variance re-estimated on the
  calibration inputs (its float statistics do not describe the binarized layer's outputs).

The compiler runs each binarized layer as one XNOR/popcount layer (fuse_binary -> DASH_BGEMM_b1)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError, O2CError

WEIGHT_LAYERS = ("Conv", "MatMul", "Gemm")


def _const_map(g: onnx.GraphProto) -> dict[str, np.ndarray]:
    out = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            out[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return out


def two_levels(x: np.ndarray, rounds: int = 30) -> tuple[float, float, float]:
    """The 1-bit quantizer of the values x (Lloyd-Max): x ~ c + s * sign(x - t), with lo and hi the means of
    the values below and above the threshold t, c = (lo + hi) / 2, s = (hi - lo) / 2, and t moved to c until
    it stays (from t = mean(x)). Returns (t, c, s)."""
    x = np.asarray(x, np.float64).reshape(-1)
    t = float(x.mean()) if x.size else 0.0
    lo = hi = t
    for _ in range(rounds):
        below, above = x[x < t], x[x >= t]
        if not below.size or not above.size:
            break
        lo, hi = float(below.mean()), float(above.mean())
        nt = (lo + hi) / 2
        if nt == t:
            break
        t = nt
    s = (hi - lo) / 2
    return t, (lo + hi) / 2, s if s > 0 else 1.0


def binary_layers(model: onnx.ModelProto, exclude: Sequence[str] = ()) -> list[onnx.NodeProto]:
    """The nodes `binarize` turns binary (see the module's docstring)."""
    g = model.graph
    consts = _const_map(g)
    weighted = [n for n in g.node if n.op_type in WEIGHT_LAYERS and not n.domain and len(n.input) > 1
                and n.input[1] in consts]
    inner = weighted[1:-1]
    out = []
    for n in inner:
        w = consts[n.input[1]]
        if n.op_type == "Conv" or n.name in exclude or w.ndim != 2 or w.dtype != np.float32:
            continue
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        if n.op_type == "Gemm" and int(a.get("transA", 0)):
            continue
        if n.op_type == "Gemm" and len(n.input) > 2 and n.input[2] and n.input[2] not in consts:
            continue
        out.append(n)
    return out


def _activations(model: onnx.ModelProto, names: list[str], feeds: list[dict[str, np.ndarray]],
                 flat: bool = True) -> dict:
    """The values of the tensors `names` over the calibration feeds: flattened and concatenated, or (flat
    False) stacked sample by sample along a new leading axis."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for name in names:
        if name not in have:
            m.graph.output.append(onnx.ValueInfoProto(name=name))
    m.ir_version = min(m.ir_version, 10)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        got = [sess.run(names, f) for f in feeds]
    except Exception as e:
        raise ModelError(f"calibration run failed: {str(e).splitlines()[0][:300]}") from None
    if not flat:
        return {name: np.stack([np.asarray(r[i], np.float64) for r in got]) for i, name in enumerate(names)}
    return {name: np.concatenate([np.asarray(r[i], np.float64).reshape(-1) for r in got])
            for i, name in enumerate(names)}


def _recalibrate_batchnorm(proto: onnx.ModelProto, binarized: list[str], feeds, fresh) -> int:
    """Re-estimate the mean and variance of every BatchNormalization downstream of a binarized layer on the
    calibration inputs (in graph order, each with the ones before it already re-estimated): the float
    statistics do not describe a binarized layer's outputs. Returns how many were re-estimated."""
    g = proto.graph
    reach = set(binarized)
    bns = []
    for n in g.node:
        if any(i in reach for i in n.input):
            reach.update(o for o in n.output if o)
            if n.op_type == "BatchNormalization" and not n.domain and len(n.input) == 5:
                bns.append(n)
    for bn in bns:
        x = _activations(proto, [bn.input[0]], feeds, flat=False)[bn.input[0]]
        x = x.reshape(-1, *x.shape[2:])  # samples x batch -> one batch axis
        axes = tuple(i for i in range(x.ndim) if i != 1)
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        names = []
        for hint, a in (("mean", mean), ("var", var)):
            name = fresh(f"{bn.name or bn.output[0]}_binary_{hint}")
            g.initializer.append(numpy_helper.from_array(a.astype(np.float32), name))
            names.append(name)
        bn.input[3], bn.input[4] = names
    return len(bns)


def binarize(model: str | os.PathLike, calib: str | os.PathLike, output: str | os.PathLike,
             exclude: Sequence[str] = (), samples: int | None = None) -> Path:
    from .static import calibration_samples, write_model

    try:
        proto = onnx.load(str(model))
    except Exception as e:
        raise ModelError(f"cannot read model '{model}': {str(e).splitlines()[0][:200]}") from None
    names = {n.name for n in proto.graph.node}
    for x in exclude:
        if x not in names:
            raise ModelError(f"--exclude: no node named '{x}' in the model")
    opset = next((i.version for i in proto.opset_import if i.domain in ("", "ai.onnx")), 0)
    if opset < 12:
        raise ModelError(f"--scheme binary writes GreaterOrEqual (opset 12); the model is at opset {opset}")
    layers = binary_layers(proto, exclude)
    if not layers:
        raise ModelError("--scheme binary: no MatMul/Gemm layer with constant 2-D weights between the first and "
                         "the last weight layer (those two stay float)")
    feeds = calibration_samples(proto, calib, samples)
    acts = _activations(proto, list(dict.fromkeys(n.input[0] for n in layers)), feeds)
    g = proto.graph
    consts = _const_map(g)
    taken = {x for n in g.node for x in list(n.input) + list(n.output) + [n.name]} | set(consts)

    def fresh(base: str) -> str:
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}__{k}"
        taken.add(name)
        return name

    def const(base: str, a) -> str:
        name = fresh(base)
        g.initializer.append(numpy_helper.from_array(np.asarray(a, np.float32), name))
        return name

    replace: dict[int, list[onnx.NodeProto]] = {}
    for n in layers:
        attrs = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        trans_b = int(attrs.get("transB", 0)) if n.op_type == "Gemm" else 0
        alpha = float(attrs.get("alpha", 1.0)) if n.op_type == "Gemm" else 1.0
        beta = float(attrs.get("beta", 1.0)) if n.op_type == "Gemm" else 1.0
        w = consts[n.input[1]].astype(np.float64)
        wnk = w if trans_b else w.T
        a = np.abs(wnk).mean(axis=1, keepdims=True)
        wb = np.where(wnk >= 0, 1.0, -1.0) * a  # N x K
        t, c, s = two_levels(acts[n.input[0]])
        bias = np.zeros(wb.shape[0])
        if n.op_type == "Gemm" and len(n.input) > 2 and n.input[2]:
            c = consts[n.input[2]].astype(np.float64)
            if c.size not in (1, wb.shape[0]):
                continue  # a bias per row: left float
            bias = bias + beta * np.broadcast_to(c.reshape(-1), bias.shape)
        bias = bias + alpha * c * wb.sum(axis=1)
        base = n.name or n.output[0]
        src = n.input[0]
        nodes = []
        if t != 0.0:
            centred = fresh(f"{base}_centred")
            nodes.append(helper.make_node("Sub", [src, const(f"{base}_threshold", np.float32(t))], [centred],
                                          name=fresh(f"{base}_centre")))
            src = centred
        ge, sx = fresh(f"{base}_nonneg"), fresh(f"{base}_bipolar")
        nodes.append(helper.make_node("GreaterOrEqual", [src, const(f"{base}_zero", np.float32(0))], [ge],
                                      name=fresh(f"{base}_sign")))
        nodes.append(helper.make_node("Where", [ge, const(f"{base}_ascale", np.float32(s)),
                                                const(f"{base}_nascale", np.float32(-np.float32(s)))], [sx],
                                      name=fresh(f"{base}_binarize")))
        w_out = wb.astype(np.float32) if trans_b else wb.T.astype(np.float32)
        nodes.append(helper.make_node("Gemm", [sx, const(f"{base}_bweight", w_out), const(f"{base}_bbias", bias)],
                                      list(n.output), name=n.name, alpha=alpha, transB=trans_b))
        replace[id(n)] = nodes
    new_nodes = []
    for n in g.node:
        new_nodes += replace.get(id(n), [n])
    del g.node[:]
    g.node.extend(new_nodes)
    _recalibrate_batchnorm(proto, [o for n in layers if id(n) in replace for o in n.output], feeds, fresh)
    out = Path(output)
    write_model(proto, out)
    return out


def check_options(reduce_range: bool) -> None:
    if reduce_range:
        raise O2CError("--reduce-range applies to int8 weights, not to --scheme binary")
