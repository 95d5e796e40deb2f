"""Unroll a `Loop` whose trip count is known at compile time, and a `Scan` (its length is a static
dimension), when the unrolled graph stays small.

A static-shape compiler sees a loop with a fixed trip count as straight-line code: iteration i is
the body inlined with its inputs bound (the iteration number to the constant i, the condition to
true, the loop-carried values to the previous iteration's results). Names the body defines are
renamed where they collide, as fold_if does for a branch; names it reads from enclosing scopes
stay. Scan outputs (each iteration's value of a body output) are stacked: Unsqueeze on the scan
axis, then one Concat.

Loop (opset 11+): inputs (M, cond, v_initial...), body (iter_num, cond_in, v_in...) -> (cond_out,
v_out..., scan_out...). Unrolled when M is a constant (or absent and the loop would run forever:
refused), the initial condition is a constant, and the body's cond_out passes cond_in through
(Identity chains) or is a constant: then every iteration's condition is known. A loop that stops
after 0 iterations is refused when it has scan outputs (their shape would come from the body's
never-run output).

Scan (opset 9+): inputs (state..., scan inputs...), attributes num_scan_inputs, scan_input_axes,
scan_input_directions, scan_output_axes, scan_output_directions. Iteration t reads element t
(or L-1-t in reverse) of each scan input along its axis (a Gather with a constant index).

Runs inside the loader's shape inference and constant folding (constant_fold's walk), so the
trip count computed by `Ceil(...)` of constants is known, and a node after the loop sees the
unrolled shapes. A loop that cannot be unrolled is an error naming why.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ModelError, UnsupportedError
from ..export_onnx import attr_from_proto
from ..ir import Graph, Node
from .common import Pass
from .fold_if import _GRAPH_TYPES, _all_names, _fresh, _rename_free, captures, subgraphs

# An unrolled loop may grow the graph by at most this many nodes (iterations x body nodes).
MAX_UNROLLED_NODES = 4096
MAX_ITERATIONS = 1024


def _body(node: Node) -> onnx.GraphProto:
    a = node.attrs.get("body")
    if not isinstance(a, onnx.AttributeProto) or a.type != onnx.AttributeProto.GRAPH:
        raise ModelError(f"{node.op} '{node.name}': it has no body graph")
    return a.g


def _in_use(graph: Graph, node: Node) -> set[str]:
    names = set(graph.values) | set(graph.inputs) | set(graph.outputs)
    for n in graph.nodes:
        names.update(x for x in (*n.inputs, *n.outputs) if x)
        for sub in subgraphs(n.attrs):
            names |= _all_names(sub)
    return names


class _Inliner:
    """Copies of one body into the enclosing graph, each with its inputs bound."""

    def __init__(self, graph: Graph, node: Node, body: onnx.GraphProto):
        self.graph, self.node, self.body = graph, node, body
        self.names = _in_use(graph, node)
        self.node_names = {n.name for n in graph.nodes}
        self.new: list[Node] = []

    def fresh(self, base: str) -> str:
        return _fresh(self.names, base, self.node.name)

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.graph.add_const(name, value)
        return name

    def add(self, op: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        name = _fresh(self.node_names, f"{self.node.name}/{op}", self.node.name)
        self.new.append(Node(op=op, name=name, inputs=inputs, outputs=outputs, attrs=attrs))

    def copy(self, bind: dict[str, str], it: int) -> list[str]:
        """One copy of the body with its inputs bound to outer names; returns the names of its outputs."""
        ren = dict(bind)
        for t in self.body.initializer:
            try:
                ren[t.name] = self.const(f"{t.name}@{it}", numpy_helper.to_array(t))
            except Exception as e:
                raise ModelError(f"{self.node.op} '{self.node.name}': body initializer '{t.name}' cannot be read: "
                                 f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        for p in self.body.node:
            for o in p.output:
                if o:
                    ren[o] = self.fresh(f"{o}@{it}")
        for k, p in enumerate(self.body.node):
            attrs = {}
            for a in p.attribute:
                v = attr_from_proto(a)
                if isinstance(v, onnx.AttributeProto) and v.type in _GRAPH_TYPES:  # nested control flow
                    c = onnx.AttributeProto()
                    c.CopyFrom(v)
                    for sub in ([c.g] if c.type == onnx.AttributeProto.GRAPH else list(c.graphs)):
                        _rename_free(sub, ren)
                    v = c
                attrs[a.name] = v
            name = _fresh(self.node_names, f"{p.name or f'{p.op_type}_{k}'}@{it}", self.node.name)
            self.new.append(Node(op=p.op_type, name=name, inputs=[ren.get(i, i) for i in p.input],
                                 outputs=[ren[o] if o else "" for o in p.output], attrs=attrs,
                                 domain=p.domain if p.domain != "ai.onnx" else "", captures=captures(attrs)))
        return [ren.get(o.name, o.name) for o in self.body.output]

    def check_size(self, iterations: int) -> None:
        if iterations > MAX_ITERATIONS or iterations * max(1, len(self.body.node)) > MAX_UNROLLED_NODES:
            raise UnsupportedError(
                f"{self.node.op} '{self.node.name}': {iterations} iterations of a {len(self.body.node)}-node body "
                f"are too many to unroll (at most {MAX_ITERATIONS} iterations and {MAX_UNROLLED_NODES} nodes); "
                f"loops that run at run time are not supported")

    def stack(self, per_iter: list[str], out: str, axis: int, reverse: bool) -> None:
        """out = the per-iteration values stacked along a new axis."""
        if reverse:
            per_iter = per_iter[::-1]
        ax = self.const("axes", np.array([axis], dtype=np.int64))
        parts = []
        for v in per_iter:
            u = self.fresh(f"{v}/unsqueezed")
            self.add("Unsqueeze", [v, ax], [u])
            parts.append(u)
        if len(parts) == 1:
            self.add("Identity", parts, [out])
        else:
            self.add("Concat", parts, [out], axis=axis)

    def replace(self) -> list[Node]:
        at = next(k for k, n in enumerate(self.graph.nodes) if n is self.node)
        self.graph.nodes[at:at + 1] = self.new
        return self.new


def _passthrough(body: onnx.GraphProto, out: str, target: str) -> bool:
    """Whether body output `out` is body input `target` through Identity nodes."""
    prod = {o: n for n in body.node for o in n.output if o}
    seen = set()
    while out not in seen:
        seen.add(out)
        if out == target:
            return True
        n = prod.get(out)
        if n is None or n.op_type != "Identity" or n.domain not in ("", "ai.onnx"):
            return False
        out = n.input[0]
    return False


def _body_const(body: onnx.GraphProto, out: str) -> np.ndarray | None:
    for t in body.initializer:
        if t.name == out:
            return numpy_helper.to_array(t)
    for n in body.node:
        if out in n.output and n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
            for a in n.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
    return None


def _scalar(graph: Graph, node: Node, k: int, what: str):
    v = graph.const(node.input(k))
    if v is None:
        return None
    v = np.asarray(v)
    if v.size != 1:
        raise ModelError(f"{node.op} '{node.name}': its {what} has {v.size} elements; it must have one")
    return v.reshape(-1)[0]


def _not_constant(graph: Graph, node: Node, k: int, what: str) -> UnsupportedError:
    from .fold_if import condition_sources

    probe = Node("If", node.name, [node.input(k)], [])
    src = condition_sources(graph, probe)
    hint = ""
    if src:
        which = ", ".join(f"'{s}'" for s in src)
        binds = " ".join(f"--const {s}=VALUE" for s in src)
        hint = (f"; it depends on graph input{'s' if len(src) > 1 else ''} {which}: bind "
                f"{'them' if len(src) > 1 else 'it'} with {binds}")
    return UnsupportedError(f"Loop '{node.name}': its {what} is not known at compile time (a loop is compiled by "
                            f"unrolling it){hint}")


def unroll_loop(graph: Graph, node: Node) -> list[Node]:
    body = _body(node)
    n_carried = len(node.inputs) - 2
    if n_carried < 0 or len(body.input) != n_carried + 2 or len(body.output) < n_carried + 1:
        raise ModelError(f"Loop '{node.name}': its body has {len(body.input)} input(s) and {len(body.output)} "
                         f"output(s) for {max(0, n_carried)} loop-carried value(s)")
    n_scan = len(body.output) - 1 - n_carried
    if len(node.outputs) != n_carried + n_scan:
        raise ModelError(f"Loop '{node.name}': it has {len(node.outputs)} output(s), its body makes "
                         f"{n_carried + n_scan}")
    trip = _scalar(graph, node, 0, "trip count") if node.input(0) else None
    if node.input(0) and trip is None:
        raise _not_constant(graph, node, 0, "trip count")
    cond = _scalar(graph, node, 1, "condition") if node.input(1) else True
    if node.input(1) and cond is None:
        raise _not_constant(graph, node, 1, "condition")
    cond_in, cond_out = body.input[1].name, body.output[0].name
    if _passthrough(body, cond_out, cond_in):
        next_cond = None  # stays what it was
    else:
        c = _body_const(body, cond_out)
        if c is None or np.asarray(c).size != 1:
            raise UnsupportedError(f"Loop '{node.name}': its body computes its condition at run time (a loop is "
                                   f"compiled by unrolling it: its condition must pass through or be constant)")
        next_cond = bool(np.asarray(c).reshape(-1)[0])
    # how many iterations run
    if trip is None and (not bool(cond) or next_cond is False):
        iterations = 1 if bool(cond) else 0
    elif trip is None:
        raise UnsupportedError(f"Loop '{node.name}': it has no trip count and its condition stays true: it would "
                               f"not end")
    else:
        t = int(trip)
        iterations = 0 if not bool(cond) else (min(t, 1) if next_cond is False else max(t, 0))
    for b, x in zip(body.input[2:], node.inputs[2:]):
        _check_bound(graph, node, b, _shape(graph, x))
    inl = _Inliner(graph, node, body)
    inl.check_size(iterations)
    if iterations == 0 and n_scan:
        raise UnsupportedError(f"Loop '{node.name}': it runs 0 times and has scan outputs (their shape is not "
                               f"known)")
    carried = list(node.inputs[2:])
    scans: list[list[str]] = [[] for _ in range(n_scan)]
    true_c = inl.const("cond_true", np.array(True))
    for i in range(iterations):
        bind = {body.input[0].name: inl.const(f"{node.name}/iter", np.array(i, dtype=np.int64)),
                cond_in: true_c}
        bind.update({b.name: v for b, v in zip(body.input[2:], carried)})
        outs = inl.copy(bind, i)
        carried = outs[1:1 + n_carried]
        for k in range(n_scan):
            scans[k].append(outs[1 + n_carried + k])
    for o, v in zip(node.outputs[:n_carried], carried):
        if o:
            inl.add("Identity", [v], [o])
    for o, per in zip(node.outputs[n_carried:], scans):
        if o:
            inl.stack(per, o, 0, False)
    return inl.replace()


def _declared(vi: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    """A body input's declared shape when every dimension is a number, else None."""
    t = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    dims = []
    for d in t.shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


def _check_bound(graph: Graph, node: Node, vi: onnx.ValueInfoProto, shape) -> None:
    """A body input declared with a static shape must get a value of that shape (an opset-8 Scan, with
    its batch axis, that the version converter turned into a later one does not: refused)."""
    want = _declared(vi)
    if want is None or shape is None or tuple(int(d) for d in shape) == want:
        return
    raise UnsupportedError(f"{node.op} '{node.name}': body input '{vi.name}' is declared with shape {list(want)}, "
                           f"the value bound to it has shape {[int(d) for d in shape]}")


def _shape(graph: Graph, name: str):
    v = graph.values.get(name)
    if v is None or v.shape is None or any(not isinstance(d, (int, np.integer)) for d in v.shape):
        return None
    return v.shape


def _ints(node: Node, name: str, n: int, default: int) -> list[int]:
    v = node.attrs.get(name)
    if v is None:
        return [default] * n
    v = [int(x) for x in v]
    if len(v) != n:
        raise ModelError(f"Scan '{node.name}': attribute '{name}' has {len(v)} value(s), expected {n}")
    return v


def unroll_scan(graph: Graph, node: Node) -> list[Node]:
    body = _body(node)
    m = node.attrs.get("num_scan_inputs")
    if not isinstance(m, (int, np.integer)) or not 1 <= int(m) <= len(node.inputs):
        raise ModelError(f"Scan '{node.name}': num_scan_inputs must be between 1 and its {len(node.inputs)} input(s)")
    m = int(m)
    n_state = len(node.inputs) - m
    n_scan_out = len(node.outputs) - n_state
    if len(body.input) != n_state + m or len(body.output) != len(node.outputs) or n_scan_out < 0:
        raise ModelError(f"Scan '{node.name}': its body has {len(body.input)} input(s) and {len(body.output)} "
                         f"output(s) for {n_state} state and {m} scan input(s), {len(node.outputs)} output(s)")
    xs = node.inputs[n_state:]
    in_axes = _ints(node, "scan_input_axes", m, 0)
    in_dirs = _ints(node, "scan_input_directions", m, 0)
    out_axes = _ints(node, "scan_output_axes", n_scan_out, 0)
    out_dirs = _ints(node, "scan_output_directions", n_scan_out, 0)
    lengths = set()
    for k, x in enumerate(xs):
        v = graph.values.get(x)
        if v is None or v.shape is None or any(not isinstance(d, (int, np.integer)) for d in v.shape):
            raise UnsupportedError(f"Scan '{node.name}': scan input '{x}' has no static shape")
        r = len(v.shape)
        if not -r <= in_axes[k] < r:
            raise ModelError(f"Scan '{node.name}': scan_input_axes[{k}] = {in_axes[k]} is out of range for rank {r}")
        in_axes[k] %= r
        lengths.add(int(v.shape[in_axes[k]]))
    if len(lengths) != 1:
        raise ModelError(f"Scan '{node.name}': its scan inputs have different lengths ({sorted(lengths)})")
    L = lengths.pop()
    for b, x in zip(body.input[:n_state], node.inputs[:n_state]):
        _check_bound(graph, node, b, _shape(graph, x))
    for k, (b, x) in enumerate(zip(body.input[n_state:], xs)):
        sh = list(_shape(graph, x))
        _check_bound(graph, node, b, sh[:in_axes[k]] + sh[in_axes[k] + 1:])
    inl = _Inliner(graph, node, body)
    inl.check_size(L)
    if L == 0 and n_scan_out:
        raise UnsupportedError(f"Scan '{node.name}': its scan inputs are empty (the scan outputs' shape is not known)")
    state = list(node.inputs[:n_state])
    scans: list[list[str]] = [[] for _ in range(n_scan_out)]
    for t in range(L):
        bind = {b.name: v for b, v in zip(body.input[:n_state], state)}
        for k, (b, x) in enumerate(zip(body.input[n_state:], xs)):
            idx = inl.const(f"{node.name}/index", np.array(L - 1 - t if in_dirs[k] else t, dtype=np.int64))
            e = inl.fresh(f"{x}@{t}")
            inl.add("Gather", [x, idx], [e], axis=in_axes[k])
            bind[b.name] = e
        outs = inl.copy(bind, t)
        state = outs[:n_state]
        for k in range(n_scan_out):
            scans[k].append(outs[n_state + k])
    for o, v in zip(node.outputs[:n_state], state):
        if o:
            inl.add("Identity", [v], [o])
    for k, (o, per) in enumerate(zip(node.outputs[n_state:], scans)):
        if o:
            axis = out_axes[k]
            if axis < 0:  # relative to the stacked output's rank: the body output's rank + 1
                bv = graph.values.get(per[0])
                rank = len(bv.shape) + 1 if bv is not None and bv.shape is not None else None
                if rank is None:
                    raise UnsupportedError(f"Scan '{node.name}': a negative scan_output_axes needs the output's rank")
                axis %= rank
            inl.stack(per, o, axis, bool(out_dirs[k]))
    return inl.replace()


class UnrollLoop(Pass):
    NAME = "unroll_loop"

    def fold_node(self, graph: Graph, node: Node) -> bool:
        """Unroll `node` if it is a Loop or a Scan (an error when it cannot be)."""
        if node.domain or node.op not in ("Loop", "Scan"):
            return False
        (unroll_loop if node.op == "Loop" else unroll_scan)(graph, node)
        return True

    def apply(self, graph: Graph) -> bool:
        changed = False
        k = 0
        while k < len(graph.nodes):
            if self.fold_node(graph, graph.nodes[k]):
                changed = True
            else:
                k += 1
        return changed


PASS = UnrollLoop()
