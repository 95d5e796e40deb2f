"""Lower each Compress (ops/rearrange.py) with a constant condition to a Gather of the kept indices
(along the axis; of the flattened input, through a Reshape, when there is no axis). A lowering:
with this pass disabled, Compress cannot be placed."""
from __future__ import annotations

from ..ir import Graph, Node
from ..ops.rearrange import compress_spec
from .common import Pass


class LowerCompress(Pass):
    NAME = "lower_compress"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for n in [n for n in graph.nodes if n.op == "Compress" and not n.domain]:
            sp = compress_spec(graph, n)
            idx, axis = sp.kept, sp.axis
            taken = set(graph.values) | {o for m in graph.nodes for o in m.outputs}
            name = f"{n.name}/kept"
            while name in taken:
                name += "_"
            graph.add_const(name, idx)
            x, new = n.inputs[0], []
            if axis is None:
                flat, shape = f"{name}/flat", f"{name}/shape"
                graph.add_const(shape, __import__("numpy").array([-1], dtype="int64"))
                new.append(Node("Reshape", f"{n.name}/flatten", [x, shape], [flat]))
                x, axis = flat, 0
            new.append(Node("Gather", n.name, [x, name], list(n.outputs), attrs={"axis": axis}))
            i = graph.nodes.index(n)
            graph.nodes[i:i + 1] = new
            changed = True
        return changed


PASS = LowerCompress()
