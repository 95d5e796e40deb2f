"""Remove nodes that compute nothing: Identity, inference-mode Dropout, Cast to the same type, and
Reshape/Flatten/Squeeze/Unsqueeze that keep the shape.

A graph output's name survives: when the removed node writes a graph output, its input's producer
is made to write that name instead (when the input is an ordinary intermediate); otherwise the
node stays.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import Pass, drop_if_unused

_SHAPE_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")


def _is_false(graph: Graph, name: str) -> bool:
    """An absent input, or a constant false (the default of Dropout's training_mode)."""
    if not name:
        return True
    data = graph.const(name)
    return data is not None and data.size == 1 and not bool(np.asarray(data).reshape(()))


def _noop_input(graph: Graph, node: Node) -> str | None:
    """The input the node passes through unchanged, or None if it is not a no-op."""
    if node.domain or node.act is not None or not node.inputs or not node.inputs[0] \
            or not node.outputs or not node.outputs[0]:
        return None
    x, y = node.inputs[0], node.outputs[0]
    vx, vy = graph.values.get(x), graph.values.get(y)
    if vx is None or vy is None or vx.dtype != vy.dtype or vx.shape != vy.shape:
        return None
    if node.op in ("Identity", "Cast") or node.op in _SHAPE_OPS:
        return x
    if node.op == "Dropout":
        # inference only: training_mode absent or constant false (the ratio is then irrelevant);
        # the mask output must be unused
        mask = node.outputs[1] if len(node.outputs) > 1 else ""
        if mask and (mask in graph.outputs or any(mask in n.inputs for n in graph.nodes)):
            return None
        return x if _is_false(graph, node.input(2)) else None
    return None


def _producer_can_write(graph: Graph, node: Node, x: str) -> bool:
    """Can x's producer be made to write another name? Not for inputs, outputs, constants."""
    if x in graph.inputs or x in graph.outputs or graph.const(x) is not None:
        return False
    return any(x in n.outputs for n in graph.nodes if n is not node)


class RemoveIdentity(Pass):
    NAME = "remove_identity"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for node in list(graph.nodes):
            x = _noop_input(graph, node)
            if x is None:
                continue
            y = node.outputs[0]
            if y not in graph.outputs:
                graph.nodes = [n for n in graph.nodes if n is not node]
                graph.replace_uses(y, x)
                drop_if_unused(graph, node.outputs)
            elif _producer_can_write(graph, node, x):
                # y is a graph output: x's producer writes y, and x's other readers read y
                graph.nodes = [n for n in graph.nodes if n is not node]
                for n in graph.nodes:
                    n.outputs = [y if o == x else o for o in n.outputs]
                    n.inputs = [y if i == x else i for i in n.inputs]
                drop_if_unused(graph, [x, *node.outputs[1:]])
            else:
                continue
            changed = True
        return changed


PASS = RemoveIdentity()
