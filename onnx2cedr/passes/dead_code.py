"""Remove what no graph output depends on: nodes, their values, unused constants; and unused
trailing optional outputs of live nodes (e.g. Dropout's mask, MaxPool's indices).

Graph inputs stay even when unused: they are the model's interface.
"""
from __future__ import annotations

import onnx

from ..ir import Graph, Node
from .common import Pass


def _optional_outputs(graph: Graph, node: Node) -> set[int]:
    """Indices of the node's outputs its schema marks optional."""
    try:
        schema = onnx.defs.get_schema(node.op, graph.opset, node.domain)
    except onnx.defs.SchemaError:
        return set()
    opt = onnx.defs.OpSchema.FormalParameterOption.Optional
    return {i for i, p in enumerate(schema.outputs) if p.option == opt}


class DeadCode(Pass):
    NAME = "dead_code"

    def apply(self, graph: Graph) -> bool:
        changed = False
        live: set[str] = set(graph.outputs)
        keep: list[Node] = []
        for node in reversed(graph.nodes):
            if any(o and o in live for o in node.outputs):
                keep.append(node)
                live.update(i for i in node.inputs if i)
            else:
                changed = True
        keep.reverse()
        graph.nodes = keep

        for node in keep:
            unused = [k for k, o in enumerate(node.outputs) if o and o not in live]
            if not unused:
                continue
            optional = _optional_outputs(graph, node)
            outs = list(node.outputs)
            for k in unused:
                if k in optional and k > 0:
                    outs[k] = ""
            while outs and outs[-1] == "":
                outs.pop()
            if outs != node.outputs:
                node.outputs = outs
                changed = True

        referenced = set(graph.inputs) | set(graph.outputs)
        for node in graph.nodes:
            referenced.update(x for x in (*node.inputs, *node.outputs) if x)
        for name in [k for k in graph.values if k not in referenced]:
            del graph.values[name]
            changed = True
        return changed


PASS = DeadCode()
