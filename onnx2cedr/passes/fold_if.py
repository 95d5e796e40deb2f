"""Fold every If whose condition is a compile-time constant: the taken branch's nodes replace the If.

Conditions are constant once shapes are fixed and constants folded (a `Shape -> Gather -> Equal`
chain, a `Cast(Shape(state)[1])`, a graph input bound with --const). The branch's nodes are
inlined into the enclosing graph: names it reads from outer scopes stay as they are, the names it
defines (node outputs, its initializers) are renamed where they collide with a name already in
use, its outputs become the If's outputs. An If nested in the taken branch comes along as a node
(references to renamed names rewritten inside it) and folds in turn when its own condition is
known. The loader runs this while it infers shapes and folds constants (constant_fold's
infer_and_fold), so that a node after the If sees the branch's shapes; an If whose condition is
not constant there is an error naming what the condition depends on.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ModelError
from ..export_onnx import attr_from_proto
from ..ir import Graph, Node
from .common import Pass

_GRAPH_TYPES = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)


def subgraphs(attrs: dict) -> list[onnx.GraphProto]:
    """The subgraphs held by a node's attributes (as attr_from_proto keeps them)."""
    out = []
    for v in attrs.values():
        if isinstance(v, onnx.AttributeProto) and v.type in _GRAPH_TYPES:
            out.extend([v.g] if v.type == onnx.AttributeProto.GRAPH else list(v.graphs))
    return out


def _defined(g: onnx.GraphProto) -> set[str]:
    return ({i.name for i in g.input} | {t.name for t in g.initializer}
            | {o for n in g.node for o in n.output if o})


def _node_subgraphs(n: onnx.NodeProto) -> list[onnx.GraphProto]:
    return subgraphs({a.name: a for a in n.attribute})


def free_names(g: onnx.GraphProto, bound: frozenset[str] = frozenset()) -> list[str]:
    """Names `g` (its nested subgraphs included) reads from enclosing scopes, in first-use order."""
    here = bound | _defined(g)
    out: dict[str, None] = {}
    for n in g.node:
        for i in n.input:
            if i and i not in here:
                out[i] = None
        for sub in _node_subgraphs(n):
            out.update(dict.fromkeys(free_names(sub, here)))
    for o in g.output:
        if o.name not in here:
            out[o.name] = None
    return list(out)


def captures(attrs: dict) -> list[str]:
    """The outer-scope values a node's subgraphs read (Node.captures)."""
    out: dict[str, None] = {}
    for sub in subgraphs(attrs):
        out.update(dict.fromkeys(free_names(sub)))
    return list(out)


def _all_names(g: onnx.GraphProto) -> set[str]:
    names = _defined(g) | {o.name for o in g.output}
    for n in g.node:
        names.update(i for i in n.input if i)
        for sub in _node_subgraphs(n):
            names |= _all_names(sub)
    return names


def _rename_free(g: onnx.GraphProto, ren: dict[str, str], bound: frozenset[str] = frozenset()) -> None:
    """Rewrite, in place, the references of `g` to outer-scope names renamed by `ren`."""
    here = bound | _defined(g)
    for n in g.node:
        for k, i in enumerate(n.input):
            if i and i not in here and i in ren:
                n.input[k] = ren[i]
        for sub in _node_subgraphs(n):
            _rename_free(sub, ren, here)
    for o in g.output:
        if o.name not in here and o.name in ren:
            o.name = ren[o.name]


def condition(graph: Graph, node: Node) -> bool | None:
    """The If's condition when it is known at compile time, else None."""
    c = graph.const(node.input(0))
    if c is None:
        return None
    c = np.asarray(c)
    if c.size != 1:
        raise ModelError(f"If '{node.name}': its condition has {c.size} elements; it must have one")
    return bool(c.reshape(-1)[0])


def condition_sources(graph: Graph, node: Node) -> list[str]:
    """The graph inputs the If's condition is computed from."""
    producers = graph.producers()
    seen, stack, found = set(), [node.input(0)], []
    while stack:
        v = stack.pop()
        if not v or v in seen:
            continue
        seen.add(v)
        if v in graph.inputs:
            found.append(v)
        p = producers.get(v)
        if p is not None:
            stack.extend([*p.inputs, *p.captures])
    return sorted(found)


def unfoldable_message(graph: Graph, node: Node) -> str:
    """What to do when a run-time If cannot be compiled (its branches disagree): bind the graph inputs
    its condition depends on, so that it folds."""
    src = condition_sources(graph, node)
    if src:
        binds = " ".join(f"--const {s}=VALUE" for s in src)
        which = ", ".join(f"'{s}'" for s in src)
        return (f"its condition depends on graph input{'s' if len(src) > 1 else ''} {which}: bind "
                f"{'them' if len(src) > 1 else 'it'} with {binds} to compile the branch it takes")
    return f"its condition '{node.input(0)}' is computed at run time"


def _names_in_use(graph: Graph, node: Node) -> set[str]:
    in_use = set(graph.values) | set(graph.inputs) | set(graph.outputs)
    for n in graph.nodes:
        in_use.update(x for x in (*n.inputs, *n.outputs) if x)
        for sub in subgraphs(n.attrs) if n is not node else ():  # other Ifs' branches, still to be inlined
            in_use |= _all_names(sub)
    return in_use


def inline_branch(graph: Graph, node: Node, taken: bool) -> list[Node]:
    """Replace the If `node` in graph.nodes by the nodes of its `taken` branch; returns them.
    Values the branch defines are added by shape inference later (its initializers now)."""
    in_use = _names_in_use(graph, node) - {o for o in node.outputs if o}  # the If's outputs are free once it is gone
    node_names = {n.name for n in graph.nodes} - {node.name}
    new = _branch_nodes(graph, node, taken, list(node.outputs), in_use, node_names)
    at = next(k for k, n in enumerate(graph.nodes) if n is node)
    graph.nodes[at:at + 1] = new
    return new


def inline_both(graph: Graph, node: Node) -> list[Node]:
    """An If whose condition is known only at run time: both branches' nodes replace it, each guarded
    by the condition (Graph.guards: the code runs a node only when its guard holds), and one IfSelect
    per output copies the taken branch's value into the If's output. Branch outputs must agree in
    shape and type (IfSelect's check says so in one line otherwise)."""
    from ..opset_fixups import EXT_DOMAIN

    cond = node.input(0)
    outer = graph.guard(node)  # an If inside a branch of a run-time If: its branches run under both
    in_use = _names_in_use(graph, node)
    node_names = {n.name for n in graph.nodes} - {node.name}
    sides = []
    for taken in (True, False):
        targets = [_fresh(in_use, f"{o or 'unused'}/{'then' if taken else 'else'}", node.name) for o in node.outputs]
        nodes = _branch_nodes(graph, node, taken, targets, in_use, node_names)
        for n in nodes:
            for o in n.outputs:
                if o:
                    graph.guards[o] = outer + ((cond, taken),)
        sides.append((nodes, targets))
    hint = unfoldable_message(graph, node)
    selects = []
    for o, t, e in zip(node.outputs, sides[0][1], sides[1][1]):
        if not o:
            continue
        name = _fresh(node_names, f"{node.name}/select_{o}", node.name)
        selects.append(Node("IfSelect", name, [cond, t, e], [o], attrs={"if_name": node.name, "hint": hint},
                            domain=EXT_DOMAIN))
        if outer:
            graph.guards[o] = outer
    new = sides[0][0] + sides[1][0] + selects
    at = next(k for k, n in enumerate(graph.nodes) if n is node)
    graph.nodes[at:at + 1] = new
    return new


def _branch_nodes(graph: Graph, node: Node, taken: bool, targets: list[str], in_use: set[str],
                  node_names: set[str]) -> list[Node]:
    """The nodes of the If's `taken` branch, its outputs named `targets`, other names it defines renamed
    where they collide with `in_use` (updated), node names kept apart from `node_names` (updated)."""
    attr = node.attrs.get("then_branch" if taken else "else_branch")
    if not isinstance(attr, onnx.AttributeProto) or attr.type != onnx.AttributeProto.GRAPH:
        raise ModelError(f"If '{node.name}': it has no {'then' if taken else 'else'}_branch graph")
    branch = attr.g
    outs = [o.name for o in branch.output]
    if len(outs) != len(node.outputs):
        raise ModelError(f"If '{node.name}': its {'then' if taken else 'else'} branch has {len(outs)} output(s), "
                         f"the node {len(node.outputs)}")
    if branch.input:
        raise ModelError(f"If '{node.name}': a branch graph must not declare inputs")
    produced = {o for n in branch.node for o in n.output if o}
    inits = {t.name for t in branch.initializer}
    # a branch output made by one of its nodes (once) takes its target name directly
    direct = {b: o for b, o in zip(outs, targets)
              if o and b in produced and outs.count(b) == 1 and b not in inits}
    ren: dict[str, str] = {}
    for b, o in direct.items():
        ren[b] = o
        in_use.add(o)
    for name in [t.name for t in branch.initializer] + [o for n in branch.node for o in n.output if o]:
        if name not in ren:
            ren[name] = _fresh(in_use, name, node.name)
    for t in branch.initializer:
        try:
            graph.add_const(ren[t.name], numpy_helper.to_array(t))
        except Exception as e:
            raise ModelError(f"If '{node.name}': branch initializer '{t.name}' cannot be read: "
                             f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    new: list[Node] = []
    for k, p in enumerate(branch.node):
        name = _fresh(node_names, p.name or f"{p.op_type}_{k}", node.name)
        attrs = {}
        for a in p.attribute:
            v = attr_from_proto(a)
            if isinstance(v, onnx.AttributeProto) and v.type in _GRAPH_TYPES:  # a nested If: its own copy
                c = onnx.AttributeProto()
                c.CopyFrom(v)
                for sub in ([c.g] if c.type == onnx.AttributeProto.GRAPH else list(c.graphs)):
                    _rename_free(sub, ren)
                v = c
            attrs[a.name] = v
        new.append(Node(op=p.op_type, name=name, inputs=[ren.get(i, i) for i in p.input],
                        outputs=[ren[o] if o else "" for o in p.output], attrs=attrs,
                        domain=p.domain if p.domain != "ai.onnx" else "", captures=captures(attrs)))
    for b, o in zip(outs, targets):
        if o and b not in direct:  # an outer value, an initializer or a repeated output: copied
            new.append(Node("Identity", _fresh(node_names, f"{o}/copy", node.name), [ren.get(b, b)], [o]))
    return new


def _fresh(taken: set[str], base: str, scope: str) -> str:
    """`base` when free, else `scope/base`, `scope/base__1`, ...; reserved in `taken`."""
    name, k = base, 0
    while name in taken:
        name = f"{scope}/{base}" if k == 0 else f"{scope}/{base}__{k}"
        k += 1
    taken.add(name)
    return name


class FoldIf(Pass):
    NAME = "fold_if"

    def fold_node(self, graph: Graph, node: Node) -> bool:
        """Inline the taken branch of `node` if it is an If with a constant condition."""
        cond = condition(graph, node) if node.op == "If" and not node.domain else None
        if cond is None:
            return False
        inline_branch(graph, node, cond)
        return True

    def apply(self, graph: Graph) -> bool:
        """Inline the taken branch of every If whose condition is constant, in order: a nested If
        comes along and folds when the walk reaches it, if its condition is constant already."""
        changed = False
        k = 0
        while k < len(graph.nodes):
            if self.fold_node(graph, graph.nodes[k]):
                changed = True  # the branch's nodes now sit at k: walk them too
            else:
                k += 1
        return changed


PASS = FoldIf()
