"""Shared helpers of the pass tests: ONNX model -> IR, onnxruntime before/after comparisons."""
from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from onnx2cedr.export_onnx import graph_to_model
from onnx2cedr.errors import ModelError
from onnx2cedr.infer import infer_graph, infer_node
from onnx2cedr.ir import Graph
from onnx2cedr.loader import _detach_initializers, _normalize_proto, proto_to_graph, resolve_input_shapes

F = TensorProto.FLOAT
OPSET = 21


def to_ir(model: onnx.ModelProto, shapes=None) -> Graph:
    """Normalize and build the IR the way the loader does, without the op-support check (so that
    the pass tests do not depend on which ops the registry accepts)."""
    proto = onnx.ModelProto()
    proto.CopyFrom(model)
    arrays = _detach_initializers(proto, None)
    input_shapes = resolve_input_shapes(proto, shapes, None, set(arrays))
    proto = _normalize_proto(proto)
    g = proto_to_graph(proto, arrays, input_shapes, proto.graph.name or "model")
    g.toposort()
    try:
        infer_graph(g)
    except ModelError:
        # a Reshape fed by a Shape chain cannot be inferred before folding: leave what cannot be
        # inferred unknown (constant_fold infers it on its way)
        for n in g.nodes:
            try:
                infer_node(g, n)
            except ModelError:
                pass
    return g


def make_model(nodes, inputs, outputs, inits=(), opset=OPSET) -> onnx.ModelProto:
    """inputs/outputs: (name, shape) pairs (float32) or ValueInfoProtos; inits: {name: array}."""
    def vi(x):
        return x if isinstance(x, onnx.ValueInfoProto) else helper.make_tensor_value_info(x[0], F, x[1])
    init = [numpy_helper.from_array(np.asarray(a), k) for k, a in dict(inits).items()]
    g = helper.make_graph(nodes, "test", [vi(i) for i in inputs], [vi(o) for o in outputs], initializer=init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def feeds_for(graph: Graph, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.inputs:
        v = graph.values[name]
        if np.issubdtype(v.dtype, np.floating):
            out[name] = rng.standard_normal(v.shape).astype(v.dtype)
        elif v.dtype == np.bool_:
            out[name] = rng.integers(0, 2, v.shape).astype(bool)
        else:
            out[name] = rng.integers(0, 5, v.shape).astype(v.dtype)
    return out


def run_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}
    return dict(zip(names, sess.run(names, {k: v for k, v in feeds.items() if k in wanted})))


def op_counts(graph: Graph) -> Counter:
    return Counter(n.op for n in graph.nodes)


def assert_close(ref: dict, got: dict, rtol=1e-5, atol=1e-5):
    assert set(ref) == set(got), (sorted(ref), sorted(got))
    for k in ref:
        r, g = np.asarray(ref[k]), np.asarray(got[k])
        assert r.shape == g.shape and r.dtype == g.dtype, (k, r.shape, g.shape, r.dtype, g.dtype)
        scale = float(np.max(np.abs(r))) if r.size and np.issubdtype(r.dtype, np.floating) else 1.0
        np.testing.assert_allclose(g, r, rtol=rtol, atol=atol * max(1.0, scale), err_msg=k)


def check_pass(model: onnx.ModelProto, the_pass, changed: bool = True, shapes=None, rtol=1e-5, atol=1e-5,
               seed: int = 1) -> Graph:
    """Apply the pass to the model's IR; assert it reports `changed`; the original model and the
    rewritten IR (exported) must agree under onnxruntime. Returns the rewritten graph."""
    g = to_ir(model, shapes)
    feeds = feeds_for(g, seed)
    ref = run_ort(model, feeds)
    assert the_pass.apply(g) is changed
    g.toposort()
    infer_graph(g)
    exported = graph_to_model(g)
    onnx.checker.check_model(exported, full_check=True)
    assert_close(ref, run_ort(exported, feeds), rtol=rtol, atol=atol)
    # the outputs keep their names, in order
    assert [o.name for o in exported.graph.output] == [o.name for o in model.graph.output]
    return g
