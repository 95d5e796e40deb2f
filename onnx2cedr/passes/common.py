"""What the passes share: the Pass shape and small graph queries used by their legality checks."""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..ir import Graph, Node


class Pass:
    """One named graph rewrite. apply() mutates the graph in place and says whether it changed it."""

    NAME: ClassVar[str] = ""

    def apply(self, graph: Graph) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<pass {self.NAME}>"


FLOAT_TYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def sole_consumer(graph: Graph, value: str, consumers: dict[str, list[Node]]) -> Node | None:
    """The one node reading `value` (read once), or None when it is read by several, by none, or
    is a graph output (then the outside world is a second reader)."""
    users = consumers.get(value, [])
    if len(users) != 1 or value in graph.outputs:
        return None
    return users[0]


def single_output(node: Node) -> str | None:
    """The node's only output name, or None if it has several (optional outputs in use)."""
    outs = [o for o in node.outputs if o]
    return outs[0] if len(outs) == 1 and node.outputs[0] == outs[0] else None


def merge_follower(graph: Graph, producer: Node, follower: Node,
                   producers: dict[str, Node] | None = None,
                   consumers: dict[str, list[Node]] | None = None) -> None:
    """`follower` (the sole reader of producer's output 0) is absorbed into `producer`: the
    producer now writes the follower's output, so a graph output keeps its name, and takes over
    the follower's fused activation (the producer must have none). The producer and
    consumer maps, when given, are kept up to date."""
    old, new = producer.outputs[0], follower.outputs[0]
    producer.outputs[0] = new
    producer.fused_from.extend([follower.name] + list(follower.fused_from))
    if follower.act is not None:  # e.g. a BN whose Relu was fused first: the producer takes it over
        assert producer.act is None, f"{producer} already has an activation"
        producer.act = follower.act
    graph.nodes = [n for n in graph.nodes if n is not follower]
    if producers is not None:
        producers.pop(old, None)
        producers[new] = producer
    if consumers is not None:
        consumers.pop(old, None)
        for i in follower.inputs:
            if i and i in consumers:
                consumers[i] = [n for n in consumers[i] if n is not follower]
    graph.values.pop(old, None)


def drop_if_unused(graph: Graph, names) -> None:
    """Forget the computed (non-constant) values among `names` that nothing refers to any more.
    Unused constants are left to dead_code."""
    names = [n for n in names if n and n in graph.values and not graph.values[n].is_const
             and n not in graph.inputs and n not in graph.outputs]
    if not names:
        return
    referenced = {x for n in graph.nodes for x in (*n.inputs, *n.outputs)}
    for n in names:
        if n not in referenced:
            del graph.values[n]


def float_attr(node: Node, name: str, default: float) -> float:
    v = node.attrs.get(name, default)
    return float(v)


def int_attr(node: Node, name: str, default: int) -> int:
    return int(node.attrs.get(name, default))
