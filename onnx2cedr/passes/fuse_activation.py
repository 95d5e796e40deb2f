"""Fuse an activation into the epilogue of the node that produces its input.

Producer in {Conv, ConvTranspose, Gemm, MatMul, Add, Sub, Mul, Div, BatchNormalization},
activation in {Relu, LeakyRelu, Clip (constant or absent bounds), Sigmoid, Tanh, HardSigmoid,
HardSwish, Elu, Swish (the opset-24 op, in the private domain), Gelu (both forms), Mish} - the
last three also as the chains exporters write, which fuse_act_chain turns into these ops: the
producer gets `act` (attributes with their defaults filled in; Clip stores {'min', 'max'} as
floats, +-inf when absent; Gelu keeps its 'approximate' string), writes the activation's output
(so a graph output keeps its name), and the activation node goes away.

Legal only when the producer's output is read by the activation alone, is not a graph output, the
producer has no activation yet, and the type is float32.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Activation, Graph, Node
from ..opset_fixups import EXT_DOMAIN
from .common import Pass, merge_follower, single_output, sole_consumer

PRODUCERS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div",
                       "BatchNormalization"})

# activation -> its attributes and their ONNX defaults
ACTIVATIONS: dict[str, dict[str, float]] = {
    "Relu": {}, "LeakyRelu": {"alpha": 0.01}, "Clip": {}, "Sigmoid": {}, "Tanh": {},
    "HardSigmoid": {"alpha": 0.2, "beta": 0.5}, "HardSwish": {}, "Elu": {"alpha": 1.0},
    "Swish": {"alpha": 1.0}, "Mish": {}, "Gelu": {},
}
# ops that may come in the private domain (newer than the internal opset: opset_fixups)
EXT_ACTIVATIONS = frozenset({"Swish"})


def activation_of(graph: Graph, node: Node) -> Activation | None:
    """The node as an Activation, or None when it is not a fusable activation."""
    if node.op not in ACTIVATIONS or node.act is not None or single_output(node) is None:
        return None
    if node.domain and not (node.domain == EXT_DOMAIN and node.op in EXT_ACTIVATIONS):
        return None
    if node.op == "Gelu":
        approximate = node.attrs.get("approximate", "none")
        if isinstance(approximate, bytes):
            approximate = approximate.decode()
        if set(node.attrs) - {"approximate"} or approximate not in ("none", "tanh"):
            return None
        return Activation("Gelu", {"approximate": approximate}, node.name)
    if node.op == "Clip":
        bounds = {}
        for k, key, absent in ((1, "min", -math.inf), (2, "max", math.inf)):
            name = node.input(k)
            data = graph.const(name)
            if name and (data is None or data.size != 1):
                return None
            bounds[key] = absent if data is None else float(np.asarray(data).reshape(()))
        return Activation("Clip", bounds, node.name)
    defaults = ACTIVATIONS[node.op]
    if set(node.attrs) - set(defaults):
        return None  # an attribute we do not know: leave the node to the op checks
    attrs = {k: float(node.attrs.get(k, v)) for k, v in defaults.items()}
    return Activation(node.op, attrs, node.name)


class FuseActivation(Pass):
    NAME = "fuse_activation"

    def apply(self, graph: Graph) -> bool:
        changed = False
        producers, consumers = graph.producers(), graph.consumers()
        for act_node in [n for n in graph.nodes if n.op in ACTIVATIONS]:
            act = activation_of(graph, act_node)
            if act is None or not act_node.inputs:
                continue
            x = act_node.inputs[0]
            prod = producers.get(x)
            if prod is None or prod.op not in PRODUCERS or prod.domain or prod.act is not None:
                continue
            if single_output(prod) != x or sole_consumer(graph, x, consumers) is not act_node:
                continue
            vx, vy = graph.values.get(x), graph.values.get(act_node.outputs[0])
            if vx is None or vy is None or vx.dtype != np.float32 or vy.dtype != np.float32 or vx.shape != vy.shape:
                continue
            prod.act = act
            merge_follower(graph, prod, act_node, producers, consumers)
            changed = True
        return changed


PASS = FuseActivation()
