"""Control flow: an If is compiled when its condition is known at compile time; a Loop or a Scan
with a static trip count is unrolled (passes/unroll_loop.py).

The loader inlines the taken branch while it folds constants (passes/fold_if.py), so no If reaches
placement. An If whose condition is known only at run time has both branches inlined, each node
guarded by the condition (Graph.guards; the generated code tests it), and an IfSelect per output
copies the taken branch's value: the branches must then agree in output shape and type, else a
one-line error names the graph inputs to bind with --const."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..opset_fixups import EXT_DOMAIN
from .base import Call, Lowered, OpDef, Params, TensorArg, Unsupported, register


@register
class OpIf(OpDef):
    op_type = "If"
    attrs = {"then_branch": None, "else_branch": None}
    dtypes = (np.dtype(np.bool_),)
    fold_only = True
    summary = ("folded at compile time: the branch its condition takes, once shapes are fixed, constants "
               "folded and --const bindings applied, is inlined (nested Ifs too); a condition known only at run "
               "time: both branches compiled, each run only when taken (their outputs must agree in shape)")


@register
class OpLoop(OpDef):
    op_type = "Loop"
    attrs = {"body": None}
    dtypes = None
    fold_only = True
    summary = ("unrolled at compile time (passes/unroll_loop.py) when its trip count and condition are known "
               "once shapes are fixed and constants folded, and its body passes its condition through or makes "
               "it constant; at most 1,024 iterations and 4,096 unrolled nodes; scan outputs are stacked")


@register
class OpScan(OpDef):
    op_type = "Scan"
    attrs = {"body": None, "num_scan_inputs": None, "scan_input_axes": None, "scan_input_directions": None,
             "scan_output_axes": None, "scan_output_directions": None}
    dtypes = None
    fold_only = True
    summary = ("unrolled at compile time (passes/unroll_loop.py): its length is a static dimension; each "
               "iteration reads its elements with Gather (either direction, any axis), scan outputs are stacked; "
               "at most 1,024 iterations and 4,096 unrolled nodes")


@register
class OpIfSelect(OpDef):
    """A run-time If's output (passes/fold_if.py, inline_both): the taken branch's value, copied."""
    op_type = "IfSelect"
    domain = EXT_DOMAIN
    attrs = {"if_name": "", "hint": ""}
    dtypes = None
    has_infer = True
    summary = ("a run-time If's output: the value its taken branch made, copied (both branches are compiled, "
               "each runs only when the condition says; their outputs must agree in shape and type)")

    def _check(self, graph: Graph, node: Node) -> None:
        c, a, b = (graph.value(i) for i in node.inputs)
        if c.dtype != np.bool_ or c.size != 1:
            raise Unsupported(f"If '{node.attrs.get('if_name')}': its condition must be one bool")
        if a.dtype != b.dtype or tuple(a.shape) != tuple(b.shape):
            hint = node.attrs.get("hint") or ""
            raise Unsupported(f"If '{node.attrs.get('if_name')}': decided at run time, its branches must give "
                              f"outputs of the same shape and type, got {a.dtype} {list(a.shape)} and {b.dtype} "
                              f"{list(b.shape)}" + (f"; {hint}" if hint else ""))

    def check_node(self, graph, node):
        self._check(graph, node)

    def infer(self, graph, node):
        self._check(graph, node)
        a = graph.value(node.inputs[1])
        return [(a.dtype, a.shape)]

    def flops(self, graph, node):
        return 0

    def lower(self, graph, node):
        c, a, b = node.inputs
        nbytes = graph.values[a].nbytes
        return Lowered([Call("o2c_select", [TensorArg(c, cast="const uint8_t"), TensorArg(a, cast="const void"),
                                            TensorArg(b, cast="const void"), TensorArg(node.outputs[0], cast="void")],
                             Params("o2c_select_params_t", {"bytes": nbytes}))],
                       reason="the taken branch's value: inline CPU copy")


# ---- optionals, resolved at compile time: a static graph has no absent run-time values, so an optional
# is either a tensor that is there (a value of the graph) or nothing (an empty input name) ----
@register
class OpOptionalHasElement(OpDef):
    op_type = "OptionalHasElement"
    attrs = {}
    dtypes = None
    fold_only = True
    summary = ("folded at compile time (constant_fold): true for a tensor, false for an absent input "
               "(no input, or an empty name)")


@register
class OpOptionalGetElement(OpDef):
    op_type = "OptionalGetElement"
    attrs = {}
    dtypes = None
    summary = "the tensor itself (a view); an absent optional or a sequence is refused"

    def check_node(self, graph, node):
        if not node.input(0):
            raise Unsupported("the optional is absent (no element to get)")

    def flops(self, graph, node):
        return 0

    def lower(self, graph, node):
        from .base import Alias

        return Lowered([], alias=Alias(node.inputs[0], node.outputs[0]), reason="the optional's tensor: a view")
