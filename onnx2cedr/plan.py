"""Placement and memory planning.

placement: every node is lowered (ops registry); a call with a CEDR API stays on the API unless the
user forces the node onto the CPU; the decision and its reason are recorded.
memory: reshape-like nodes alias their input (one storage per alias group), and a Concat or Split
along a leading axis is a view too (its pieces are blocks of the whole); graph inputs and
outputs live in the caller's buffers; every other value gets an offset in one arena, reused by
liveness (greedy best fit, largest first); element-wise nodes write in place over an input that
dies with them; constants go into the weights file.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, NamedTuple

import numpy as np

from .errors import ModelError, UnsupportedError
from .ir import Graph, Node
from .ops import Alias, Call, Lowered, TensorArg, Unsupported, get_op, lower_for
from .ops.base import dense_strides
from .ops.movement import copy_call

ALIGN = 64


def _align(x: int) -> int:
    return (x + ALIGN - 1) // ALIGN * ALIGN


@dataclasses.dataclass
class NodePlan:
    node: Node
    calls: list[Call]
    placement: str  # CEDR API name, 'cpu' (inline kernel) or 'view' (no code)
    reason: str
    flops: int
    alias: Alias | None = None  # set for views: the output shares the input's storage
    temps: list[str] = dataclasses.field(default_factory=list)  # arena values live only inside this node


@dataclasses.dataclass
class Storage:
    kind: str  # 'input' | 'output' | 'const' | 'arena'
    index: int = 0  # input/output position
    offset: int = 0  # bytes, for const and arena


@dataclasses.dataclass
class Plan:
    graph: Graph
    nodes: list[NodePlan]
    root: dict[str, str]  # value -> the value whose storage it shares
    storage: dict[str, Storage]  # by root
    arena_bytes: int
    weights: list[tuple[str, int]]  # (const value, byte offset), file order
    weights_bytes: int
    final_copies: list[Call]  # graph outputs that alias inputs/constants/other outputs
    liveness_lower_bound: int
    waves: list[int] = dataclasses.field(default_factory=list)  # per node: its wave (see assign_waves)


def place(graph: Graph, cpu_nodes: Iterable[str] = (), cpu_apis: Iterable[str] = (), target=None) -> list[NodePlan]:
    """Lower every node for the target (onnx2cedr/targets/; default: the extended API set). A
    call to an API the target lacks runs inline; a node forced onto the CPU gets the generic
    lowering, inline."""
    from .targets import DEFAULT, get_target

    target = get_target(target or DEFAULT)
    cpu_nodes, cpu_apis = set(cpu_nodes), set(cpu_apis)
    names = {n.name for n in graph.nodes}
    for c in cpu_nodes:
        if c not in names:
            raise ModelError(f"--cpu names node '{c}', which is not in the graph after optimization")
    plans, problems = [], {}
    for n in graph.nodes:
        opdef = get_op(n)
        try:
            if opdef is None:
                raise Unsupported("not supported")
            low: Lowered = opdef.lower(graph, n) if n.name in cpu_nodes else lower_for(opdef, graph, n, target.lowering_keys)
            if any(c.api in cpu_apis for c in low.calls if c.api):
                low = opdef.lower(graph, n)
        except Unsupported as e:
            problems.setdefault(f"{n.op} ({e})", []).append(n.name)
            continue
        reason = low.reason
        api_calls = [c for c in low.calls if c.api]
        if api_calls and (n.name in cpu_nodes or any(c.api in cpu_apis for c in api_calls)):
            for c in low.calls:
                c.api = None
            reason = "forced onto the CPU by the user (--cpu)"
        missing = sorted({c.api_symbol for c in low.calls if c.api and not target.provides(c.api_symbol)})
        if missing:
            for c in low.calls:
                if c.api and not target.provides(c.api_symbol):
                    c.api = None
            reason = f"{target.name} target: inline, {', '.join(missing)} not in its API set ({reason})"
        if low.alias is not None:
            placement = "view"
        elif any(c.api for c in low.calls):
            placement = next(c.api for c in low.calls if c.api)  # the (first) API the node calls
        else:
            placement = "cpu"
        calls = [] if low.alias is not None else low.calls
        plans.append(NodePlan(n, calls, placement, reason, sum(c.flops for c in calls), low.alias, list(low.temps)))
    if problems:
        parts = [f"{what}: " + ", ".join(f"'{x}'" for x in v[:5]) for what, v in sorted(problems.items())]
        raise UnsupportedError(f"{sum(len(v) for v in problems.values())} node(s) cannot be lowered: " + "; ".join(parts))
    return plans


def assign_waves(nodes: list[NodePlan]) -> list[int]:
    """Wave of each node: 1 + the latest wave among the producers of its inputs. Nodes of one wave
    do not depend on each other, so the generated code issues their CEDR calls together (`_nb`,
    one barrier) and the runtime may run them on different PEs at once. Views cost nothing and
    join their source's wave."""
    produced: dict[str, int] = {}
    waves = []
    for p in nodes:
        w_in = max((produced[i] for i in p.node.inputs if i and i in produced), default=-1)
        w = max(w_in if p.alias is not None or p.placement == "view" else w_in + 1, 0)
        for o in p.node.outputs:
            if o:
                produced[o] = w
        waves.append(w)
    return waves


def plan_memory(graph: Graph, nodes: list[NodePlan]) -> Plan:
    """Storage for every value. Nodes are reordered by wave (a topological order); liveness is
    measured in waves, so two values share arena bytes only when no wave needs both: the nodes
    of a wave may run concurrently."""
    waves = assign_waves(nodes)
    order = sorted(range(len(nodes)), key=lambda k: (waves[k], k))
    nodes[:] = [nodes[k] for k in order]
    waves = [waves[k] for k in order]
    vals = graph.values
    root: dict[str, str] = {}

    def find(v: str) -> str:
        while root.get(v, v) != v:
            v = root[v]
        return v

    for np_ in nodes:
        if np_.alias is not None:
            root[np_.alias.target] = find(np_.alias.source)
    for v in vals:
        root.setdefault(v, v)
    root = {v: find(v) for v in vals}

    storage: dict[str, Storage] = {}
    final_copies: list[Call] = []
    for k, i in enumerate(graph.inputs):
        storage[i] = Storage("input", k)
    # outputs: the first output of an alias group owns the group's storage when the group is produced
    # by a node; everything else is copied in at the end.
    for k, o in enumerate(graph.outputs):
        r = root[o]
        if r not in storage and not vals[r].is_const:
            storage[r] = Storage("output", k)
        else:
            out_name = f"__output_{k}"
            graph.add_value(out_name, vals[o].dtype, vals[o].shape)
            root[out_name] = out_name
            storage[out_name] = Storage("output", k)
            final_copies.append(copy_call(graph, o, out_name, vals[o].shape,
                                          dense_strides(vals[o].shape), comment=f"graph output '{o}'"))

    subs = _block_views(nodes, vals, root, storage)
    if subs:  # the Concats and Splits that became views cost no wave any more
        waves = assign_waves(nodes)
        order = sorted(range(len(nodes)), key=lambda k: (waves[k], k))
        nodes[:] = [nodes[k] for k in order]
        waves = [waves[k] for k in order]

    # constants referenced by calls -> weights file, in first-use order
    used_order: list[str] = []
    seen = set()
    for call in [c for p in nodes for c in p.calls] + final_copies:
        for a in call.args:
            if isinstance(a, TensorArg) and vals[root[a.value]].is_const and root[a.value] not in seen:
                seen.add(root[a.value])
                used_order.append(root[a.value])
    weights, off = [], 0
    for r in used_order:
        off = _align(off)
        storage[r] = Storage("const", offset=off)
        weights.append((r, off))
        off += vals[r].nbytes
    weights_bytes = _align(off)

    # liveness of arena roots, in waves
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for p, w in zip(nodes, waves):
        for i in p.node.inputs:
            if i:
                last[root[i]] = max(last.get(root[i], w), w)
        for o in list(p.node.outputs) + p.temps:
            if o:
                r = root[o]
                first.setdefault(r, w)
                last[r] = max(last.get(r, w), w)
    end = (max(waves) + 1) if waves else 0
    for c in final_copies:
        for a in c.args:
            if isinstance(a, TensorArg):
                last[root[a.value]] = end
    # a piece of a Concat's output or a Split's input lives as long as the whole, and the other way round
    for r in subs:
        parent = _top(subs, r)
        if r in first:
            first[parent] = min(first.get(parent, first[r]), first.pop(r))
            last[parent] = max(last.get(parent, last[r]), last.pop(r))
    pinned = set(subs) | {parent for parent, _ in subs.values()}
    _in_place(nodes, waves, vals, root, storage, first, last, pinned)
    arena_roots = [r for r in first if r not in storage]
    arena_roots.sort(key=lambda r: (-vals[r].nbytes, first[r], r))
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last)
    live_at: dict[int, list[int]] = {}  # wave -> indices into placed of the values live in it
    top = 0
    for r in arena_roots:
        size = _align(max(vals[r].nbytes, 1))
        lo, hi = first[r], last[r]
        # the placed values whose lifetimes overlap [lo, hi] (looked up by wave: a deep graph's
        # thousands of values would otherwise make this quadratic)
        overlapping = {k for w in range(lo, hi + 1) for k in live_at.get(w, ())}
        busy = sorted((placed[k][0], placed[k][0] + placed[k][1]) for k in overlapping)
        best, cursor = None, 0
        for b0, b1 in busy:
            if b0 - cursor >= size and (best is None or b0 - cursor < best[1]):
                best = (cursor, b0 - cursor)
            cursor = max(cursor, b1)
        offset = best[0] if best is not None else cursor
        for w in range(lo, hi + 1):
            live_at.setdefault(w, []).append(len(placed))
        placed.append((offset, size, lo, hi))
        storage[r] = Storage("arena", offset=offset)
        top = max(top, offset + size)
    for r in subs:
        st = storage[_top(subs, r)]
        storage[r] = Storage(st.kind, st.index, st.offset + _sub_offset(subs, r))
    # lower bound: the largest set of simultaneously live arena values (a sweep over the waves)
    delta = [0] * (end + 2)
    for r in arena_roots:
        if first[r] <= end:
            delta[first[r]] += _align(max(vals[r].nbytes, 1))
            delta[min(last[r], end) + 1] -= _align(max(vals[r].nbytes, 1))
    bound, live = 0, 0
    for idx in range(end + 1):
        live += delta[idx]
        bound = max(bound, live)
    return Plan(graph, nodes, root, storage, top, weights, weights_bytes, final_copies, bound, waves)


def _block_views(nodes: list[NodePlan], vals, root: dict[str, str], storage: dict[str, Storage]) -> dict[str, tuple[str, int]]:
    """Concat and Split without a copy. When the axis has only size-1 dims before it (channels of a
    batch-1 NC... tensor, rows of a matrix, ...), each piece is one contiguous block of the whole: a
    Concat's producers can write their outputs straight into its output, and a Split's outputs can be
    read where they lie in its input. Returns {piece root: (whole's root, byte offset)} and turns each
    such node into a view (no code). A node keeps its copy unless every piece qualifies: produced by
    a node into the arena (not a graph input or output, not a constant; a Concat's whole may be a
    graph output, a Split's a graph input), its storage holding just it, not a piece of another view
    already, distinct, and at a 64-byte aligned offset (the kernels assume no more than the arena's
    alignment)."""
    subs: dict[str, tuple[str, int]] = {}
    for p in nodes:
        n = p.node
        if n.op not in ("Concat", "Split") or p.alias is not None or not p.calls or n.act is not None:
            continue
        whole, parts = (n.outputs[0], n.inputs) if n.op == "Concat" else (n.inputs[0], n.outputs)
        if len(n.outputs) < 1 or not whole:
            continue
        shape = vals[whole].shape
        axis = int(n.attrs.get("axis", 0))
        axis = axis + len(shape) if axis < 0 else axis
        R = root[whole]
        allowed = ("output",) if n.op == "Concat" else ("input",)
        if not 0 <= axis < len(shape) or int(np.prod(shape[:axis], dtype=np.int64)) != 1 or vals[R].is_const or \
                (R in storage and storage[R].kind not in allowed):
            continue
        pieces, off, ok = {}, 0, True
        for x in parts:
            r = root.get(x) if x else None
            if r is None or r == R or r in pieces or r in subs or r in storage or vals[r].is_const or \
                    vals[r].nbytes != vals[x].nbytes or vals[x].dtype != vals[whole].dtype or off % ALIGN:
                ok = False
                break
            pieces[r] = off
            off += vals[x].nbytes
        if not ok or off != vals[whole].nbytes or _top(subs, R) in pieces:
            continue
        for r, o in pieces.items():
            subs[r] = (R, o)
        p.calls, p.placement, p.flops = [], "view", 0
        p.reason = ("view: every input is written straight into its block of the output" if n.op == "Concat" else
                    "view: every output is read where it lies in the input")
    return subs


def _top(subs: dict[str, tuple[str, int]], r: str) -> str:
    while r in subs:
        r = subs[r][0]
    return r


def _sub_offset(subs: dict[str, tuple[str, int]], r: str) -> int:
    off = 0
    while r in subs:
        r, o = subs[r]
        off += o
    return off


_IN_PLACE_KERNELS = {"o2c_binary", "o2c_unary"}  # element-wise, documented safe with out == an input


def _in_place(nodes, waves, vals, root, storage, first, last, pinned=frozenset()) -> None:
    """Element-wise nodes write over an input that dies with them: the output joins the input's
    storage (root) when both live in the arena, have the same dtype and size, the input is read
    whole (offset 0; a broadcast input is smaller) and no other node of the same wave (which may
    run concurrently) reads it."""
    members: dict[str, list[str]] = {}  # root -> the values sharing its storage
    for v, r in root.items():
        members.setdefault(r, []).append(v)
    readers: dict[tuple[str, int], int] = {}
    for p, w in zip(nodes, waves):
        for r in {root[i] for i in p.node.inputs if i}:
            readers[(r, w)] = readers.get((r, w), 0) + 1
    for p, w in zip(nodes, waves):
        if len(p.calls) != 1 or p.alias is not None or p.calls[0].inline not in _IN_PLACE_KERNELS:
            continue
        args = p.calls[0].args
        out = args[-1]
        if not isinstance(out, TensorArg) or out.offset != 0:
            continue
        ro = root[out.value]
        if ro in storage or ro in pinned or first.get(ro) != w:
            continue
        for a in args[:-1]:
            if not isinstance(a, TensorArg) or a.offset != 0:
                continue
            ri = root[a.value]
            if ri == ro or ri in storage or ri in pinned or last.get(ri) != w or readers.get((ri, w)) != 1:
                continue
            vi, vo = vals[a.value], vals[out.value]
            if vi.dtype != vo.dtype or vi.nbytes != vo.nbytes or vals[ri].nbytes != vo.nbytes or \
                    [d for d in vi.shape if d != 1] != [d for d in vo.shape if d != 1]:
                continue
            for v in members.pop(ro, ()):
                root[v] = ri
                members[ri].append(v)
            last[ri] = max(last[ri], last.pop(ro))
            first.pop(ro)
            break


class WeightsFile(NamedTuple):
    """What the generated code checks a weights file against (o2c_weights_map)."""

    model_id: int
    crc32: int


WEIGHTS_MAGIC = b"O2CWGT02"
CRC_AT = 24  # the header's copy of the CRC-32 (bytes 24..28; 28..64 are zeros)


def write_weights(plan: Plan, path) -> WeightsFile:
    """Write the weights file: a 64-byte header (magic, model id, payload size, CRC-32), then each
    constant at its planned offset (little-endian, C order). The model id is derived from the
    payload's hash, so a binary refuses weights that are not its own. The CRC-32 (zlib's, IEEE) covers
    the payload, then the header without its CRC field; the generated code carries it and checks it
    when it maps the file (kernels/src/support/model_support.cpp)."""
    import hashlib
    import zlib

    h = hashlib.blake2b(digest_size=16)
    crc = 0
    with open(path, "wb") as f:
        f.write(bytes(ALIGN))
        pos = 0

        def emit(buf) -> None:
            nonlocal crc
            h.update(buf)
            crc = zlib.crc32(buf, crc)
            f.write(buf)

        for name, off in plan.weights:
            if off > pos:
                emit(bytes(off - pos))
                pos = off
            arr = np.ascontiguousarray(plan.graph.values[name].data)
            if arr.dtype.byteorder == ">":
                arr = arr.astype(arr.dtype.newbyteorder("<"))
            emit(arr.reshape(-1).view(np.uint8).data)  # byte view: also for dtypes the buffer protocol lacks (bfloat16)
            pos += arr.nbytes
        if plan.weights_bytes > pos:
            emit(bytes(plan.weights_bytes - pos))
        model_id = int(h.hexdigest()[:15], 16)
        head = WEIGHTS_MAGIC + model_id.to_bytes(8, "little") + int(plan.weights_bytes).to_bytes(8, "little")
        crc = zlib.crc32(bytes(ALIGN - CRC_AT - 4), zlib.crc32(head, crc))
        f.seek(0)
        f.write(head + crc.to_bytes(4, "little"))
    return WeightsFile(model_id, crc)
