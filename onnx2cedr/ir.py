"""The compiler's graph IR: static-shaped values, nodes with plain-Python attributes.

A Graph is built from a normalized ONNX model (see loader.py). Every value has a dtype and a
fully static shape; constants carry their numpy data. Passes mutate the graph in place and
report whether they changed it (see passes/).
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any, Iterable

import numpy as np

from .errors import ModelError

INTERNAL_OPSET = 21


@dataclasses.dataclass(frozen=True)
class DimBound:
    """A dimension known only at run time (NonZero's count, NMS's selections, ...): the value's shape
    holds its maximum there (memory is planned for it) and the producing kernel writes the actual
    extent into the run's extent slot `slot` (shared by the outputs of one node), data dense in the
    actual shape. `stated`: the maximum came from the user (convert --max-dim), so a run can exceed it."""

    dim: int
    slot: str
    stated: bool = False


@dataclasses.dataclass
class Value:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    data: np.ndarray | None = None  # set for constants (initializers and folded values)
    bound: DimBound | None = None  # one dimension known only at run time (see DimBound)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclasses.dataclass
class Activation:
    """An activation fused into the producing node's epilogue (ONNX op name + attributes)."""

    op: str
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    name: str = ""  # the ONNX node it came from, for reports


@dataclasses.dataclass(eq=False)
class Node:
    op: str
    name: str
    inputs: list[str]  # "" marks an absent optional input
    outputs: list[str]
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    domain: str = ""
    act: Activation | None = None  # fused activation, if any
    fused_from: list[str] = dataclasses.field(default_factory=list)  # names of nodes merged in
    # values of the enclosing graph its subgraphs read (control flow: If branches): dependencies
    # that are not inputs
    captures: list[str] = dataclasses.field(default_factory=list)

    def input(self, i: int) -> str:
        return self.inputs[i] if i < len(self.inputs) else ""

    def __repr__(self) -> str:  # short, for error messages and debugging
        return f"{self.op}({self.name!r})"


class Graph:
    def __init__(self, name: str = "model", opset: int = INTERNAL_OPSET):
        self.name = name
        self.opset = opset
        self.values: dict[str, Value] = {}
        self.nodes: list[Node] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        # graph inputs bound to constant values when loading (--const): no longer inputs; kept for reports
        self.bound_inputs: dict[str, np.ndarray] = {}
        # values computed only on one side of a run-time If (passes/fold_if.py): value -> the conditions
        # ((condition value, taken when true?), outermost first) under which the node making it runs
        self.guards: dict[str, tuple[tuple[str, bool], ...]] = {}
        # user-stated maxima of run-time dimensions (convert --max-dim NAME=N): value -> N
        self.max_dims: dict[str, int] = {}

    # ---- values ----
    def add_value(self, name: str, dtype, shape: Iterable[int], data: np.ndarray | None = None) -> Value:
        v = Value(name, np.dtype(dtype), tuple(int(d) for d in shape), data)
        self.values[name] = v
        return v

    def add_const(self, name: str, data: np.ndarray) -> Value:
        data = np.asarray(data)
        if not data.flags.c_contiguous:  # np.ascontiguousarray would turn a 0-d scalar into shape (1,)
            data = np.ascontiguousarray(data)
        return self.add_value(name, data.dtype, data.shape, data)

    def value(self, name: str) -> Value:
        try:
            return self.values[name]
        except KeyError:
            raise ModelError(f"tensor '{name}' is used but never defined") from None

    def const(self, name: str) -> np.ndarray | None:
        """The constant data of a value, or None when it is absent ('') or computed at run time."""
        if not name:
            return None
        v = self.values.get(name)
        return None if v is None else v.data

    def fresh_name(self, base: str) -> str:
        name, k = base, 0
        while name in self.values:
            k += 1
            name = f"{base}__{k}"
        return name

    # ---- structure ----
    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self) -> dict[str, list[Node]]:
        users: dict[str, list[Node]] = defaultdict(list)
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    users[i].append(n)
        return users

    def fresh_node_name(self, base: str) -> str:
        taken = {n.name for n in self.nodes}
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}__{k}"
        return name

    def toposort(self) -> None:
        """Order nodes so every input is produced before use; error on cycles or undefined inputs."""
        produced = {o: n for n in self.nodes for o in n.outputs if o}
        available = set(self.inputs) | {k for k, v in self.values.items() if v.is_const}
        for n in self.nodes:
            for i in (*n.inputs, *n.captures):
                if i and i not in produced and i not in available:
                    raise ModelError(f"node '{n.name}' ({n.op}) reads '{i}', which is neither a graph input, "
                                     f"an initializer nor produced by any node")
        indeg = {id(n): 0 for n in self.nodes}
        users: dict[int, list[Node]] = defaultdict(list)
        for n in self.nodes:
            deps = {id(produced[i]) for i in (*n.inputs, *n.captures) if i in produced and i not in available}
            indeg[id(n)] = len(deps)
            for d in deps:
                users[d].append(n)
        ready = [n for n in self.nodes if indeg[id(n)] == 0]
        order: list[Node] = []
        while ready:
            n = ready.pop(0)
            order.append(n)
            for u in users[id(n)]:
                indeg[id(u)] -= 1
                if indeg[id(u)] == 0:
                    ready.append(u)
        if len(order) != len(self.nodes):
            stuck = [n for n in self.nodes if indeg[id(n)] > 0]
            raise ModelError(f"the graph has a cycle through node '{stuck[0].name}' ({stuck[0].op})")
        self.nodes = order

    def remove_unused_values(self) -> None:
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(i for i in n.inputs if i)
            used.update(o for o in n.outputs if o)
        for k in [k for k in self.values if k not in used]:
            del self.values[k]

    def replace_uses(self, old: str, new: str) -> None:
        """Make every reader of `old` read `new` instead (graph outputs included)."""
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]

    def copy(self) -> "Graph":
        g = Graph(self.name, self.opset)
        g.values = {k: dataclasses.replace(v) for k, v in self.values.items()}
        g.nodes = [dataclasses.replace(n, inputs=list(n.inputs), outputs=list(n.outputs), attrs=dict(n.attrs),
                                       fused_from=list(n.fused_from), captures=list(n.captures))
                   for n in self.nodes]
        g.inputs = list(self.inputs)
        g.outputs = list(self.outputs)
        g.bound_inputs = dict(self.bound_inputs)
        g.guards = dict(self.guards)
        g.max_dims = dict(self.max_dims)
        return g

    def guard(self, node: Node) -> tuple[tuple[str, bool], ...]:
        """The conditions under which `node` runs (a run-time If's branch): its outputs' common guard, or
        () when it always runs (nodes a pass made from a branch's nodes under other names run always:
        their values are only read inside the branch, so running them is safe, only wasted)."""
        gs = {self.guards.get(o, ()) for o in node.outputs if o}
        return gs.pop() if len(gs) == 1 else ()

    def weight_bytes(self) -> int:
        return sum(v.nbytes for v in self.values.values() if v.is_const)
