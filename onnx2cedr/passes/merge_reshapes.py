"""Join a chain of pure reshapes (Reshape, Flatten, Squeeze, Unsqueeze) into one Reshape.

A reshape whose output only feeds another reshape is redundant: the second one is rewritten as a
Reshape of the first one's input to its own (inferred, static) output shape, and the first one is
left to dead_code. A Squeeze followed by the Unsqueeze that undoes it becomes a Reshape that keeps
the shape, which remove_identity then drops.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph
from .common import Pass, single_output, sole_consumer
from .sink_reshape import RESHAPES


class MergeReshapes(Pass):
    NAME = "merge_reshapes"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for second in [n for n in graph.nodes if n.op in RESHAPES and not n.domain]:
            producers, consumers = graph.producers(), graph.consumers()
            if not second.inputs or not second.inputs[0] or single_output(second) is None:
                continue
            first = producers.get(second.inputs[0])
            if first is None or first.op not in RESHAPES or first.domain or single_output(first) is None:
                continue
            if sole_consumer(graph, first.outputs[0], consumers) is not second or not first.inputs[0]:
                continue
            out = graph.values.get(second.outputs[0])
            if out is None or any(d < 0 for d in out.shape):
                continue
            shape = graph.fresh_name(f"{second.name}_shape")
            graph.add_const(shape, np.asarray(out.shape, dtype=np.int64))
            second.op, second.attrs = "Reshape", {}
            second.inputs = [first.inputs[0], shape]
            second.fused_from.extend([first.name] + list(first.fused_from))
            graph.nodes = [n for n in graph.nodes if n is not first]
            graph.values.pop(first.outputs[0], None)
            changed = True
        return changed


PASS = MergeReshapes()
