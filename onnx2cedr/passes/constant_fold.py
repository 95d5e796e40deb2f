"""Evaluate at compile time every node whose result does not depend on the graph's inputs.

That is a node whose inputs are all constants (Constant, ConstantOfShape, the Gather/Concat/
Unsqueeze/Slice/Cast/Reshape/Range/Equal/Where/... chains exporters emit, Transpose/Reshape of a
weight), Shape/Size of any value, since every shape in the IR is static, OptionalHasElement (every
value is present; only an absent input is not), and CastLike of a constant
(its second input only names the element type). Each node is run
alone through onnx's reference evaluator (a fresh one-node model: nothing is cached between
graphs); its outputs become constant values and the node goes away.

A node whose outputs would be much bigger than its inputs (a large ConstantOfShape, Expand,
Tile, ...) is left alone: it is cheaper to compute at run time than to store. Except when what it
makes is a weight (a Conv's or Gemm's W or bias, a MatMul's B, an RNN's W/R/B; directly or through
other constant-only nodes such as a Transpose or Reshape): stored, a weight costs file size, while
computed it costs run time on every run (the onnx wheel's AlexNet, VGG-19 and ZFNet make theirs
with ConstantOfShape), so weight chains fold up to a larger cap.

The loader's infer_and_fold also folds If nodes whose condition is constant (fold_if).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from ..ir import Graph, Node
from .common import Pass

# Ops that must not be folded: their result differs from run to run.
_NONDETERMINISTIC = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                               "Multinomial", "Bernoulli"})


def _has_subgraph(node: Node) -> bool:
    return any(isinstance(v, onnx.AttributeProto) and v.type in (onnx.AttributeProto.GRAPH,
                                                                  onnx.AttributeProto.GRAPHS)
               for v in node.attrs.values())


def _shape_only(graph: Graph, node: Node) -> list[np.ndarray] | None:
    """Shape and Size need the static shape of their input, not its data."""
    v = graph.values.get(node.input(0))
    if v is None:
        return None
    if node.op == "Shape":
        start = int(node.attrs.get("start", 0))
        end = node.attrs.get("end")
        dims = v.shape[start:] if end is None else v.shape[start:int(end)]  # ONNX clamps like Python
        return [np.array(dims, dtype=np.int64)]
    if node.op == "Size":
        return [np.array(v.size, dtype=np.int64)]
    return None


def _presence(graph: Graph, node: Node) -> list[np.ndarray] | None:
    """OptionalHasElement: whether its input is there. Every value of the IR is a tensor that exists
    (optionals are resolved when loading), so only an absent input (none, or an empty name) is false."""
    x = node.input(0)
    if x and x not in graph.values:
        return None
    return [np.array(bool(x), dtype=np.bool_)]


def _range_of_one_element_tensors(graph: Graph, node: Node) -> list[np.ndarray] | None:
    """Range whose start, limit and delta are one-element tensors of shape (1,), not scalars: what
    ONNX's own function bodies emit (AffineGrid's expansion gathers them from a shape), which its
    shape inference and reference evaluator reject, and onnxruntime accepts as the scalars."""
    vals = [graph.const(i) for i in node.inputs[:3]]
    if len(vals) != 3 or any(v is None or v.size != 1 for v in vals) or all(v.ndim == 0 for v in vals):
        return None
    start, limit, delta = (np.asarray(v).reshape(()) for v in vals)
    if delta == 0:
        return None
    return [np.arange(start, limit, delta).astype(np.asarray(vals[0]).dtype)]


def evaluate_constant(graph: Graph, node: Node) -> list[np.ndarray] | None:
    """A node's outputs computed from its constant inputs (None: it cannot be evaluated here)."""
    if node.op == "Range" and not node.domain:
        r = _range_of_one_element_tensors(graph, node)
        if r is not None:
            return r
    return _evaluate(graph, node)


def _evaluate(graph: Graph, node: Node) -> list[np.ndarray] | None:
    from onnx.reference import ReferenceEvaluator

    from ..export_onnx import node_to_protos

    feeds = {i: np.asarray(graph.values[i].data) for i in dict.fromkeys(node.inputs) if i}
    protos, inits, _ = node_to_protos(graph, node)
    ins = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape))
           for k, a in feeds.items()]
    outs = [helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(graph.values[o].dtype), None)
            if o in graph.values else onnx.ValueInfoProto(name=o) for o in node.outputs if o]
    model = helper.make_model(helper.make_graph(protos, "fold", ins, outs, initializer=inits),
                              opset_imports=[helper.make_opsetid("", graph.opset)])
    model.ir_version = 10
    if node.op in ("Cast", "CastLike") and node.outputs and node.outputs[0]:
        from ..ops.logic import cast_array, sub_byte_int_range

        to = graph.values[node.outputs[0]].dtype
        if sub_byte_int_range(to) is not None:  # the spec's rule, not the installed ml_dtypes' astype
            return [cast_array(feeds[node.inputs[0]], to)]
    try:
        results = ReferenceEvaluator(model).run(None, feeds)
    except Exception:  # an op the reference cannot run, or bad data: leave it to run time
        return None
    if not all(isinstance(r, (np.ndarray, np.generic)) for r in results):
        return None  # sequences, optionals
    return [np.asarray(r) for r in results]


# input positions that hold weights: folded constants there are packed or read as they are
_WEIGHT_INPUTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "MatMul": (1,),
                  "LSTM": (1, 2, 3), "GRU": (1, 2, 3), "RNN": (1, 2, 3)}


def feeds_weights(graph: Graph, value: str, consumers: dict[str, list[Node]], depth: int = 8) -> bool:
    """Whether every reader of `value` takes it as a weight, directly or through nodes whose other
    inputs are constants (a Transpose, Reshape or Cast of a weight), and no graph output is it."""
    users = consumers.get(value, [])
    if not users or value in graph.outputs or depth == 0:
        return False
    for u in users:
        at = [k for k, i in enumerate(u.inputs) if i == value]
        if not u.domain and u.op in _WEIGHT_INPUTS and all(k in _WEIGHT_INPUTS[u.op] for k in at):
            continue
        others_const = all(not i or i == value or graph.const(i) is not None for i in u.inputs)
        outs = [o for o in u.outputs if o]
        if not (others_const and outs and not u.domain and not _has_subgraph(u)
                and all(feeds_weights(graph, o, consumers, depth - 1) for o in outs)):
            return False
    return True


class ConstantFold(Pass):
    NAME = "constant_fold"

    def __init__(self, max_growth_bytes: int = 64 << 20, max_weight_bytes: int = 1 << 30):
        self.max_growth_bytes = max_growth_bytes
        self.max_weight_bytes = max_weight_bytes  # the cap for chains that make weights (feeds_weights)

    def foldable(self, graph: Graph, node: Node, consumers: dict[str, list[Node]] | None = None) -> bool:
        if node.domain or node.op in _NONDETERMINISTIC or _has_subgraph(node):
            return False
        outs = [o for o in node.outputs if o]
        if not outs or any(o not in graph.values for o in outs):
            return False
        if any(graph.values[o].is_const for o in outs):
            return False
        if node.op in ("Shape", "Size") and node.act is None:
            return node.input(0) in graph.values
        if node.op == "OptionalHasElement":
            return not node.input(0) or node.input(0) in graph.values
        ins = [i for i in dict.fromkeys(node.inputs) if i]
        if node.op == "CastLike":
            ins = ins[:1]  # the second input only gives the element type
        if not all(graph.const(i) is not None for i in ins):
            return False
        if node.op == "Constant":
            return True  # its data is in the model already
        grow = sum(graph.values[o].nbytes for o in outs) - sum(graph.values[i].nbytes for i in ins)
        if grow <= self.max_growth_bytes:
            return True
        if grow > self.max_weight_bytes:
            return False
        consumers = graph.consumers() if consumers is None else consumers
        return all(feeds_weights(graph, o, consumers) for o in outs)

    def fold_node(self, graph: Graph, node: Node, consumers: dict[str, list[Node]] | None = None) -> bool:
        """Fold one node if it is foldable: its outputs become constants. The caller removes it."""
        if not self.foldable(graph, node, consumers):
            return False
        results = _shape_only(graph, node) if node.op in ("Shape", "Size") and node.act is None else None
        if node.op == "OptionalHasElement":
            results = _presence(graph, node)
        if results is None and node.op == "CastLike":  # as a Cast: the second input may be computed
            to = helper.np_dtype_to_tensor_dtype(np.dtype(graph.values[node.input(1)].dtype))
            results = _evaluate(graph, Node("Cast", node.name, node.inputs[:1], list(node.outputs),
                                            {"to": to, **node.attrs}))
        if results is None:
            results = evaluate_constant(graph, node)
        outs = [o for o in node.outputs if o]
        if results is None or len(results) != len(outs):
            return False
        arrays = []
        for o, r in zip(outs, results):
            v = graph.values[o]
            b = v.bound  # a dimension known only at run time: inference gave its maximum
            if tuple(r.shape) != v.shape and not (
                    b is not None and r.ndim == len(v.shape) and r.shape[b.dim] <= v.shape[b.dim]
                    and all(r.shape[d] == v.shape[d] for d in range(r.ndim) if d != b.dim)):
                return False  # disagrees with shape inference: trust neither
            arrays.append(r.astype(v.dtype, copy=False))
        for o, a in zip(outs, arrays):
            graph.add_const(o, a)
        return True

    def apply(self, graph: Graph, infer_all: bool = False) -> bool:
        """Fold every foldable node, in order, so that chains fold in one call. Outputs whose
        shapes are not known yet (shape inference stops at a Reshape fed by a Shape chain until
        the chain is folded) are inferred on the way; with infer_all, every node is re-inferred."""
        return self.walk(graph, infer_all)

    def walk(self, graph: Graph, infer_all: bool, fold_if: bool = False, keep_dequantize: bool = False) -> bool:
        """apply()'s loop; with fold_if, an If met on the way is folded (fold_if), or both its branches
        are inlined under guards when its condition is known only at run time, and a Loop or a Scan is
        unrolled (unroll_loop), or is an error naming why it cannot be."""
        from ..infer import infer_node
        from .fold_if import PASS as FOLD_IF
        from .fold_if import inline_both
        from .unroll_loop import PASS as UNROLL

        folded: set[int] = set()
        consumers = graph.consumers()
        k, changed = 0, False
        while k < len(graph.nodes):
            node = graph.nodes[k]
            if fold_if and node.op == "If" and not node.domain:
                if not FOLD_IF.fold_node(graph, node):
                    inline_both(graph, node)  # decided at run time: both branches, guarded
                consumers, changed = graph.consumers(), True  # the branch's nodes now sit at k
                continue
            if fold_if and UNROLL.fold_node(graph, node):  # a Loop or a Scan: its iterations now sit at k
                consumers, changed = graph.consumers(), True
                continue
            if infer_all or any(o and o not in graph.values for o in node.outputs):
                infer_node(graph, node)
            if keep_dequantize and node.op == "DequantizeLinear" and not node.domain:
                pass
            elif self.fold_node(graph, node, consumers):
                folded.add(id(node))
            k += 1
        if folded:
            graph.nodes = [n for n in graph.nodes if id(n) not in folded]
        return changed or bool(folded)


def infer_and_fold(graph: Graph) -> bool:
    """Shape inference that folds constants as it goes (for the loader): a model whose Reshape
    target comes from a Shape->Gather->Unsqueeze->Concat chain cannot be inferred otherwise, nor
    what follows an If before its taken branch is inlined (an If whose condition is known only at
    run time has both branches inlined under guards). Returns whether anything was folded. A DequantizeLinear stays: the
    fuse_qdq pass reads the quantized weights through it (constant_fold folds what it leaves)."""
    return PASS.walk(graph, infer_all=True, fold_if=True, keep_dequantize=True)


PASS = ConstantFold()
