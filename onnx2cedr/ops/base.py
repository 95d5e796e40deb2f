"""Declarative op registry: what an op accepts, how it lowers to CEDR APIs or CPU kernels.

Each op family lives in one module of this package and registers its ops with ``@register``.
A lowering turns one IR node into one or more ``Call``s. A call either names a CEDR API
(scheduled as a task under the runtime, run inline in standalone builds) together with the inline
CPU kernel it falls back to, or only an inline kernel (data movement, ops without an API).
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Sequence

import numpy as np

from ..errors import UnsupportedError
from ..ir import Graph, Node

_REGISTRY: dict[tuple[str, str], "OpDef"] = {}

F32 = np.dtype(np.float32)


class Unsupported(Exception):
    """Raised by checks: the node cannot be compiled; the message names what is wrong."""


# ---- what a lowering produces ----
@dataclasses.dataclass
class TensorArg:
    value: str  # IR value name
    offset: int = 0  # in elements
    cast: str = "float"  # C element type the kernel expects


@dataclasses.dataclass
class NullArg:
    cast: str = "float"


@dataclasses.dataclass
class ScalarArg:
    """A value passed by value (the public APIs take sizes and enums, not a parameter struct)."""

    ctype: str  # C type, e.g. size_t, zip_op_t
    value: Any  # int, or an enum constant's name


@dataclasses.dataclass
class ExtentArg:
    """Where the kernel writes the actual extent of its outputs' dimension known only at run time
    (an int64_t*; `slot` is the DimBound's, see ir.DimBound)."""

    slot: str


@dataclasses.dataclass
class Params:
    struct: str  # C struct type, e.g. dash_conv_params_t
    fields: dict[str, Any]  # designated-initializer fields, in declaration order


@dataclasses.dataclass
class Call:
    """One kernel call. ``api`` is the CEDR API name without precision (e.g. 'DASH_CONV') or None."""

    inline: str  # the o2c_* CPU kernel
    args: list[Any]  # TensorArg | NullArg | ScalarArg, in the kernel's order (params last, separately)
    params: Params | None  # None: the function takes only args (the public APIs)
    api: str | None = None
    prec: str = "flt"
    flops: int = 0
    comment: str = ""

    @property
    def api_symbol(self) -> str | None:
        return f"{self.api}_{self.prec}" if self.api else None


@dataclasses.dataclass
class Alias:
    """The node's output is its input viewed with another shape: no code, shared storage."""

    source: str
    target: str


@dataclasses.dataclass
class Lowered:
    calls: list[Call]
    alias: Alias | None = None
    reason: str = ""  # why this placement (API constraints held, or why it fell back)
    temps: list[str] = dataclasses.field(default_factory=list)  # values the calls use only inside this node


# ---- op definitions ----
class OpDef:
    op_type: ClassVar[str] = ""
    domain: ClassVar[str] = ""
    # attribute name -> default (None: no default / optional); unknown attributes are errors
    attrs: ClassVar[dict[str, Any]] = {}
    # dtypes of input 0 the op accepts
    dtypes: ClassVar[Sequence[np.dtype]] = (F32,)
    has_infer: ClassVar[bool] = False
    # ops that only exist to be folded away at compile time (Shape, Constant, ...)
    fold_only: ClassVar[bool] = False
    api: ClassVar[str | None] = None  # the CEDR API this op maps to, for the ops table
    # target name -> method lowering the op for that target's API set (see onnx2cedr/targets/);
    # targets without an entry use `lower`, whose calls to APIs outside the set then run inline
    lowerings: ClassVar[dict[str, str]] = {}
    summary: ClassVar[str] = ""

    def attr(self, node: Node, name: str):
        if name in node.attrs:
            return node.attrs[name]
        return self.attrs.get(name)

    def check_attrs(self, node: Node) -> None:
        """Unknown attributes are errors, never silently dropped."""
        for k in node.attrs:
            if k not in self.attrs:
                raise Unsupported(f"attribute '{k}' is not supported")

    def check(self, graph: Graph, node: Node) -> None:
        """Raise Unsupported with a reason when the node cannot be compiled."""
        self.check_attrs(node)
        if node.inputs and node.inputs[0] and self.dtypes:
            dt = graph.values[node.inputs[0]].dtype if node.inputs[0] in graph.values else None
            if dt is not None and dt not in self.dtypes:
                raise Unsupported(f"element type {dt} is not supported (supported: "
                                  f"{', '.join(str(d) for d in self.dtypes)})")
        self.check_node(graph, node)

    def check_node(self, graph: Graph, node: Node) -> None:
        pass

    def infer(self, graph: Graph, node: Node):
        raise NotImplementedError

    def flops(self, graph: Graph, node: Node) -> int:
        return sum(graph.values[o].size for o in node.outputs if o in graph.values)

    def lower(self, graph: Graph, node: Node) -> Lowered:
        if self.fold_only:
            raise Unsupported(f"{node.op} must be computable at compile time (its inputs are not constant)")
        raise Unsupported(f"{node.op} has no lowering")


class LoweredByPass(OpDef):
    """An op that a lowering pass (`lowered_by`) rewrites into ops that exist, so placement never sees it:
    `spec(graph, node)` checks the node (raising Unsupported) and describes it, its `out_shape` being
    the output's shape (element type: input 0's)."""
    has_infer: ClassVar[bool] = True
    lowered_by: ClassVar[str] = ""

    def spec(self, graph: Graph, node: Node):
        raise NotImplementedError

    def check_node(self, graph: Graph, node: Node) -> None:
        self.spec(graph, node)

    def infer(self, graph: Graph, node: Node):
        return [(graph.value(node.inputs[0]).dtype, tuple(self.spec(graph, node).out_shape))]

    def lower(self, graph: Graph, node: Node) -> Lowered:
        raise Unsupported(f"{node.op} is lowered by the pass {self.lowered_by}, which is disabled")


def lower_for(opdef: OpDef, graph: Graph, node: Node, keys: Sequence[str]) -> Lowered:
    """The node lowered for a target (its lowering keys, most specific first): the op family's
    first lowering declared for one of them, else the generic one. A target lowering may return
    None (no special form for this node): the next one is tried."""
    for key in keys:
        meth = opdef.lowerings.get(key)
        if meth is not None:
            low = getattr(opdef, meth)(graph, node)
            if low is not None:
                return low
    return opdef.lower(graph, node)


def register(cls: type[OpDef]) -> type[OpDef]:
    _REGISTRY[(cls.domain, cls.op_type)] = cls()
    return cls


def get_op(node: Node) -> OpDef | None:
    return _REGISTRY.get((node.domain, node.op))


def all_ops() -> list[OpDef]:
    return [v for _, v in sorted(_REGISTRY.items())]


def check_supported(graph: Graph, known_only: bool = False) -> None:
    """Check every node; report all failures at once, grouped by op type with node names.
    known_only: only whether each op type is registered (before shapes are known)."""
    problems: dict[str, list[str]] = {}
    for n in graph.nodes:
        opdef = get_op(n)
        key = f"{n.domain + '.' if n.domain else ''}{n.op}"
        if opdef is None:
            problems.setdefault(f"{key} (not supported)", []).append(n.name)
            continue
        if known_only:
            continue
        try:
            opdef.check(graph, n)
        except Unsupported as e:
            problems.setdefault(f"{key} ({e})", []).append(n.name)
    if problems:
        parts = []
        for what, names in sorted(problems.items()):
            shown = ", ".join(f"'{x}'" for x in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            parts.append(f"{what}: {shown}")
        raise UnsupportedError(f"{sum(len(v) for v in problems.values())} node(s) cannot be compiled: " + "; ".join(parts))


# ---- helpers shared by op families ----
def act_fields(node: Node) -> dict[str, Any]:
    """The dash_act_t initializer of the node's fused activation (DASH_ACT_NONE when none)."""
    from .eltwise import activation_fields

    if node.act is None:
        return {"op": "DASH_ACT_NONE", "alpha": 0.0, "beta": 0.0}
    return activation_fields(node.act.op, node.act.attrs)


def pad3(vals: Sequence[int], fill: int) -> list[int]:
    vals = [int(v) for v in vals]
    return vals + [fill] * (3 - len(vals))


def pad8(vals: Sequence[int], fill: int) -> list[int]:
    vals = [int(v) for v in vals]
    return vals + [fill] * (8 - len(vals))


def dense_strides(shape: Sequence[int]) -> list[int]:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= int(d)
    return out[::-1]


def norm_axis(axis: int, rank: int, node: Node) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < max(rank, 1):
        raise Unsupported(f"axis {axis} is out of range for rank {rank}")
    return a
