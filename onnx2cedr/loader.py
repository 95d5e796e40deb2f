"""Load and normalize an ONNX model into the IR.

Steps: parse (external data read directly into numpy, never through the protobuf), move large
initializers out of the proto so that onnx's tools stay cheap, inline local functions, convert to
the internal opset, fix symbolic dimensions from the user's shapes, build the IR, check that every
op is supported (all failures in one error), infer static shapes.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .errors import ModelError, UnsupportedError
from .limits import check_shape, check_total
from .export_onnx import attr_from_proto
from .ir import INTERNAL_OPSET, Graph

# Initializers above this many elements leave the proto while onnx's tools run on it.
_SMALL_CONST = 4096

ShapeSpec = Mapping[str, Sequence[int]]


def parse_shape_args(specs: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    """Parse CLI shape overrides 'name=1x3x224x224' (the name may itself contain '=')."""
    out: dict[str, tuple[int, ...]] = {}
    for spec in specs or ():
        name, sep, dims = spec.rpartition("=")
        if not sep or not name or not re.fullmatch(r"\d+(x\d+)*", dims.strip()):
            raise ModelError(f"bad --shape '{spec}': expected NAME=DxDxD, e.g. input=1x3x224x224")
        out[name] = tuple(int(d) for d in dims.strip().split("x"))
    return out


def parse_const_args(specs: Sequence[str] | None) -> dict[str, str]:
    """Parse CLI bindings 'name=VALUE' (a number, or a comma list); values are converted to the
    input's declared element type when the model is loaded (bind_consts)."""
    out: dict[str, str] = {}
    for spec in specs or ():
        name, sep, value = spec.rpartition("=")
        if not sep or not name or not value.strip():
            raise ModelError(f"bad --const '{spec}': expected NAME=VALUE or NAME=V1,V2,..., e.g. sr=16000")
        if name in out:
            raise ModelError(f"--const binds '{name}' twice")
        out[name] = value
    return out


def _const_items(name: str, value, dtype: np.dtype) -> np.ndarray:
    """The elements of a --const value (a string from the command line, or Python/numpy data) in
    `dtype`, refusing any that the type cannot hold exactly."""
    what = f"--const {name}={value}" if isinstance(value, str) else f"const '{name}'"
    kind = "bool" if dtype == np.bool_ else "integer" if np.issubdtype(dtype, np.integer) else \
        "float" if np.issubdtype(dtype, np.floating) else None
    if kind is None:
        raise ModelError(f"{what}: input '{name}' has element type {dtype}, which cannot be bound")
    if isinstance(value, str):
        words = {"true": True, "false": False, "1": True, "0": False}
        items = []
        for tok in (t.strip() for t in value.split(",")):
            try:
                items.append(words[tok.lower()] if kind == "bool" else int(tok) if kind == "integer" else float(tok))
            except (KeyError, ValueError):
                raise ModelError(f"{what}: '{tok}' is not a value of type {dtype}") from None
        arr = np.array(items, dtype=object)
    else:
        arr = np.asarray(value, dtype=object)
    flat = arr.reshape(-1)
    try:
        out = np.array(flat.tolist(), dtype=dtype)
        exact = kind == "float" or all(a == b for a, b in zip(out.tolist(), flat.tolist()))
    except (TypeError, ValueError, OverflowError):
        exact = False
    if not exact:
        raise ModelError(f"{what}: input '{name}' is {dtype}, which cannot hold {flat.tolist()[:8]}")
    return out


def bind_consts(model: onnx.ModelProto, consts: Mapping[str, object] | None, arrays: dict[str, np.ndarray],
                shapes: ShapeSpec | None) -> dict[str, np.ndarray]:
    """Turn the graph inputs named in `consts` into constants (added to `arrays`; small ones also
    become initializers of `model`, which no longer lists them as inputs). Each value takes the
    input's declared element type and shape (--shape's, when given); a scalar value fills a
    one-element input. Returns the bound arrays."""
    real = {vi.name: vi for vi in model.graph.input if vi.name not in arrays}
    bound: dict[str, np.ndarray] = {}
    for name, value in (consts or {}).items():
        vi = real.get(name)
        if vi is None:
            raise ModelError(f"--const names '{name}', which is not a graph input "
                             f"(inputs: {', '.join(sorted(real)) or 'none'})")
        if not vi.type.HasField("tensor_type"):
            raise UnsupportedError(f"--const {name}: the input is not a tensor")
        try:
            dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        except Exception:
            raise UnsupportedError(f"--const {name}: the input has an unsupported element type") from None
        items = _const_items(name, value, np.dtype(dtype))
        dims = list((shapes or {}).get(name, ())) or _dims_of(vi)
        if dims is None:
            shape = () if items.size == 1 else (items.size,)
        elif all(isinstance(d, int) for d in dims):
            shape = tuple(dims)
        elif len(dims) == 1:
            shape = (items.size,)
        else:
            raise ModelError(f"--const {name}: the input has symbolic dimensions; give its shape with --shape {name}=...")
        size = int(np.prod(shape, dtype=np.int64))
        if items.size != size:
            raise ModelError(f"--const {name}: {items.size} value(s) given, the input has shape {list(shape)} "
                             f"({size} element(s))")
        arr = items.reshape(shape)
        arrays[name] = bound[name] = arr
        if arr.size <= _SMALL_CONST:
            model.graph.initializer.append(numpy_helper.from_array(arr, name))
            keep = [i for i in model.graph.input if i.name != name]
            del model.graph.input[:]
            model.graph.input.extend(keep)
    return bound


def _read_model_proto(path: Path) -> onnx.ModelProto:
    if not path.exists():
        raise ModelError(f"model file '{path}' does not exist")
    if path.is_dir():
        raise ModelError(f"'{path}' is a folder, not an ONNX model file")
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError, but versions differ
        raise ModelError(f"'{path.name}' is not a valid ONNX model (protobuf parse failed: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if not model.HasField("graph") or (len(model.graph.node) == 0 and len(model.graph.output) == 0):
        raise ModelError(f"'{path.name}' is not a valid ONNX model (it has no graph; truncated or not ONNX?)")
    if not model.graph.output:
        raise ModelError(f"'{path.name}': the graph declares no outputs (truncated file?)")
    _check_text(model.graph, path.name)
    return model


def _check_text(g: onnx.GraphProto, file: str) -> None:
    """Every name the compiler reads is text: protobuf hands over the bytes of a string field that
    is not valid UTF-8 (a corrupt file), which nothing downstream expects."""
    def bad(what: str, v) -> None:
        if isinstance(v, bytes):
            raise ModelError(f"'{file}': {what} {v[:40]!r} is not valid UTF-8 (corrupt file?)")

    bad("the graph name", g.name)
    for coll, what in ((g.input, "graph input"), (g.output, "graph output"), (g.value_info, "value"),
                       (g.initializer, "initializer")):
        for x in coll:
            bad(f"the {what} name", x.name)
    for i, n in enumerate(g.node):
        for v in [n.name, n.op_type, n.domain, *n.input, *n.output, *(a.name for a in n.attribute)]:
            bad(f"a name in node #{i}", v)
        for a in n.attribute:
            if a.HasField("g"):
                _check_text(a.g, file)
            for sub in a.graphs:
                _check_text(sub, file)


def _text(v) -> str:
    """A proto string field as text: protobuf hands over the bytes of one that is not valid UTF-8."""
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v


def _external_array(t: onnx.TensorProto, base: Path) -> np.ndarray:
    info = {_text(e.key): _text(e.value) for e in t.external_data}
    loc = info.get("location", "")
    if not loc:
        raise ModelError(f"initializer '{t.name}' is stored externally but names no location")
    if "\0" in loc:
        raise ModelError(f"initializer '{t.name}': external data location {loc!r} contains a NUL byte")
    if os.path.isabs(loc) or loc.startswith(("/", "\\")):
        raise ModelError(f"initializer '{t.name}': external data location '{loc}' is an absolute path; "
                         f"only paths inside the model's folder are allowed")
    root = base.resolve()
    target = (root / loc).resolve()
    if root != target and root not in target.parents:
        raise ModelError(f"initializer '{t.name}': external data location '{loc}' escapes the model's folder")
    if not target.is_file():
        raise ModelError(f"initializer '{t.name}': external data file '{loc}' not found beside the model")
    dtype = helper.tensor_dtype_to_np_dtype(t.data_type)
    count = check_shape(f"initializer '{t.name}'", t.dims, dtype)
    try:
        offset = int(info.get("offset", 0) or 0)
        length = int(info.get("length", 0) or 0) or count * dtype.itemsize
    except ValueError:
        raise ModelError(f"initializer '{t.name}': external data offset '{info.get('offset')}' or length "
                         f"'{info.get('length')}' is not an integer") from None
    if offset < 0 or length < 0:
        raise ModelError(f"initializer '{t.name}': external data offset {offset} or length {length} is negative")
    if length != count * dtype.itemsize:
        raise ModelError(f"initializer '{t.name}': external data length {length} does not match "
                         f"its shape {list(t.dims)} ({count * dtype.itemsize} bytes)")
    if offset + length > target.stat().st_size:
        raise ModelError(f"initializer '{t.name}': external data '{loc}' is shorter than offset+length "
                         f"({offset}+{length} bytes)")
    arr = np.fromfile(target, dtype=dtype.newbyteorder("<"), count=count, offset=offset)
    return arr.astype(dtype, copy=False).reshape(tuple(t.dims))


def _tensor_to_array(t: onnx.TensorProto, base: Path | None) -> np.ndarray:
    if t.data_location == onnx.TensorProto.EXTERNAL:
        if base is None:
            raise ModelError(f"initializer '{t.name}' uses external data but the model was given in memory")
        return _external_array(t, base)
    try:
        return numpy_helper.to_array(t)
    except Exception as e:
        raise ModelError(f"initializer '{t.name}' cannot be read: {str(e).splitlines()[0]}") from None


def _detach_initializers(model: onnx.ModelProto, base: Path | None) -> dict[str, np.ndarray]:
    """Read every main-graph initializer into numpy; big ones leave the proto (kept as typed inputs)."""
    g = model.graph
    arrays: dict[str, np.ndarray] = {}
    keep = []
    input_names = {i.name for i in g.input}
    declared = 0  # the weights' total as declared, before any is read
    for t in g.initializer:
        try:
            itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
        except Exception:
            raise ModelError(f"initializer '{t.name}' has an unknown element type {t.data_type}") from None
        declared += check_shape(f"initializer '{t.name}'", t.dims) * itemsize
    check_total("initializers", declared)
    for t in g.initializer:
        arr = _tensor_to_array(t, base)
        arrays[t.name] = arr
        if arr.size <= _SMALL_CONST:
            t.ClearField("external_data")
            t.data_location = onnx.TensorProto.DEFAULT
            keep.append(numpy_helper.from_array(arr, t.name))
        elif t.name not in input_names:
            g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    del g.initializer[:]
    g.initializer.extend(keep)
    return arrays


def _default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    raise ModelError("the model imports no version of the default ONNX operator set")


def _normalize_proto(model: onnx.ModelProto) -> onnx.ModelProto:
    if model.functions:
        try:
            import onnx.inliner as inliner  # aliased: a bare `import onnx.x` would make `onnx` local here
            model = inliner.inline_local_functions(model)
        except Exception as e:
            raise ModelError(f"inlining the model's local functions failed: {str(e).splitlines()[0]}") from None
    # IR < 4 required initializers to be listed as graph inputs; many old files do not, and onnx's
    # tools then treat them as undefined. Nothing else in IR 4..8 changes what a graph computes.
    if model.ir_version < 4:
        model.ir_version = 4
    src = _default_opset(model)
    from . import opset_fixups
    from .ops import all_ops

    # ops defined as functions of other ops, with no definition here: their bodies
    registered = {(o.domain, o.op_type) for o in all_ops()}
    model = opset_fixups.expand_function_ops(model, src, lambda d, op: (d, op) in registered)
    if src != INTERNAL_OPSET:  # semantics changes the converter passes over silently
        model = opset_fixups.apply(model, src)
    if src != INTERNAL_OPSET and _same_schemas(model, src):
        # no op of the model changed between the two opsets: the adapters would only renumber it
        for imp in model.opset_import:
            if imp.domain in ("", "ai.onnx"):
                imp.version = INTERNAL_OPSET
    elif src != INTERNAL_OPSET:  # older opsets (down to 1) go through onnx's adapters; failures are reported
        try:
            import onnx.version_converter as converter
            model = converter.convert_version(model, INTERNAL_OPSET)
        except Exception as e:
            if src > INTERNAL_OPSET and _only_types_changed(model, src):
                return model  # kept at its own opset: its ops read the same since INTERNAL_OPSET
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UnsupportedError(f"converting the model from opset {src} to opset {INTERNAL_OPSET} failed: {msg}") from None
    return model


def _same_schemas(model: onnx.ModelProto, src: int) -> bool:
    """Whether every node of the default domain has the same operator version at opset src as at
    INTERNAL_OPSET (and no node holds a subgraph): then converting the model changes nothing but
    its opset number."""
    for n in model.graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in n.attribute):
            return False
        if n.domain not in ("", "ai.onnx"):
            continue
        try:
            if onnx.defs.get_schema(n.op_type, src, "").since_version != \
                    onnx.defs.get_schema(n.op_type, INTERNAL_OPSET, "").since_version:
                return False
        except onnx.defs.SchemaError:
            return False
    return True


def _only_types_changed(model: onnx.ModelProto, src: int) -> bool:
    """Whether every node of a model newer than INTERNAL_OPSET means the same at INTERNAL_OPSET:
    its op existed then with the same inputs and outputs, and the node sets no attribute added
    since (later versions of most ops only admit more element types, which the op registry checks)."""
    for n in model.graph.node:
        if n.domain not in ("", "ai.onnx"):
            continue
        try:
            new = onnx.defs.get_schema(n.op_type, src, "")
            if new.since_version <= INTERNAL_OPSET:
                continue
            old = onnx.defs.get_schema(n.op_type, INTERNAL_OPSET, "")
        except onnx.defs.SchemaError:
            return False
        if [i.name for i in new.inputs] != [i.name for i in old.inputs] or \
                [o.name for o in new.outputs] != [o.name for o in old.outputs]:
            return False
        if any(a.name not in old.attributes for a in n.attribute):
            return False
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in n.attribute):
            return False
    return True


def _dims_of(vi: onnx.ValueInfoProto) -> list[int | str | None]:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None  # type: ignore[return-value]
    out: list[int | str | None] = []
    for d in t.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            out.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            out.append(d.dim_param)
        elif d.HasField("dim_value") and d.dim_value == 0:
            out.append(0)
        else:
            out.append(None)
    return out


def resolve_input_shapes(model: onnx.ModelProto, shapes: ShapeSpec | None, batch: int | None,
                         initializer_names: set[str]) -> dict[str, tuple[int, ...]]:
    """Static shapes for the real graph inputs, from the model and the user's overrides."""
    shapes = dict(shapes or {})
    real = [i for i in model.graph.input if i.name not in initializer_names]
    names = {i.name for i in real}
    for k in shapes:
        if k not in names:
            raise ModelError(f"--shape names '{k}', which is not a graph input (inputs: {', '.join(sorted(names))})")
    out: dict[str, tuple[int, ...]] = {}
    for vi in real:
        if not vi.type.HasField("tensor_type"):
            raise UnsupportedError(f"graph input '{vi.name}' is not a tensor (sequences and maps are not supported)")
        dims = _dims_of(vi)
        if vi.name in shapes:
            want = shapes[vi.name]
            if dims is not None and len(dims) != len(want):
                raise ModelError(f"--shape {vi.name}: rank {len(want)} given, the model declares rank {len(dims)}")
            if dims is not None:
                for ax, (d, w) in enumerate(zip(dims, want)):
                    if isinstance(d, int) and d != w:
                        raise ModelError(f"--shape {vi.name}: dimension {ax} is {d} in the model, {w} given")
            out[vi.name] = tuple(want)
            continue
        if dims is None:
            raise ModelError(f"graph input '{vi.name}' has no declared shape; pass --shape {vi.name}=DxDx...")
        fixed = []
        for ax, d in enumerate(dims):
            if isinstance(d, int):
                fixed.append(d)
            elif ax == 0 and batch is not None:
                fixed.append(batch)
            else:
                label = f"'{d}'" if isinstance(d, str) else "unknown"
                raise ModelError(f"graph input '{vi.name}' has a symbolic dimension {label} at axis {ax}; "
                                 f"pass --shape {vi.name}=" + "x".join(str(x) if isinstance(x, int) else "N" for x in dims)
                                 + (" (or --batch N)" if ax == 0 else ""))
        out[vi.name] = tuple(fixed)
    for k, shape in out.items():
        check_shape(f"graph input '{k}'", shape)
    return out


def proto_to_graph(model: onnx.ModelProto, arrays: dict[str, np.ndarray],
                   input_shapes: dict[str, tuple[int, ...]], name: str) -> Graph:
    g = Graph(name=name, opset=_default_opset(model))
    mg = model.graph
    for t in mg.initializer:
        arrays.setdefault(t.name, numpy_helper.to_array(t))
    for k, arr in arrays.items():
        g.add_const(k, arr)
    for vi in mg.input:
        if vi.name in arrays:
            continue
        elem = vi.type.tensor_type.elem_type
        try:
            dtype = helper.tensor_dtype_to_np_dtype(elem)
        except Exception:
            raise UnsupportedError(f"graph input '{vi.name}' has an unsupported element type {elem}") from None
        g.add_value(vi.name, dtype, input_shapes[vi.name])
        g.inputs.append(vi.name)
    seen_names: dict[str, int] = defaultdict(int)
    for i, n in enumerate(mg.node):
        base = n.name or f"{n.op_type}_{i}"
        seen_names[base] += 1
        node_name = base if seen_names[base] == 1 else f"{base}__{seen_names[base] - 1}"
        attrs = {a.name: attr_from_proto(a) for a in n.attribute}
        from .ir import Node
        from .passes.fold_if import captures
        g.nodes.append(Node(op=n.op_type, name=node_name, inputs=list(n.input), outputs=list(n.output),
                            attrs=attrs, domain=n.domain if n.domain != "ai.onnx" else "",
                            captures=captures(attrs)))
    for o in mg.output:
        if not o.name:
            raise ModelError("a graph output has an empty name")
        g.outputs.append(o.name)
    if len(set(g.outputs)) != len(g.outputs):
        raise ModelError("the graph lists the same output twice")
    outs_seen: dict[str, str] = {}
    for n in g.nodes:
        for o in n.outputs:
            if not o:
                continue
            if o in outs_seen or o in g.inputs or o in arrays:
                raise ModelError(f"tensor '{o}' is defined twice (by node '{n.name}')")
            outs_seen[o] = n.name
    for o in g.outputs:
        if o not in outs_seen and o not in g.inputs and o not in arrays:
            raise ModelError(f"graph output '{o}' is not produced by any node")
    return g


def _check_structure(model: onnx.ModelProto, arrays: dict[str, np.ndarray]) -> None:
    """Undefined inputs and cycles, named by node, before any onnx tool sees the graph."""
    from .ir import Node

    g = Graph()
    for k in arrays:
        g.add_value(k, np.float32, (), np.zeros(()))
    for t in model.graph.initializer:
        g.add_value(t.name, np.float32, (), np.zeros(()))
    g.inputs = [i.name for i in model.graph.input if i.name not in g.values]
    for i, n in enumerate(model.graph.node):
        g.nodes.append(Node(n.op_type, n.name or f"{n.op_type}_{i}", list(n.input), list(n.output)))
    g.toposort()


def _optional_inputs_as_tensors(proto: onnx.ModelProto) -> None:
    """A graph input typed optional(tensor) becomes that tensor: the compiled code takes it as present
    (a static graph has no absent run-time values; OptionalHasElement of it folds to true)."""
    for vi in proto.graph.input:
        t = vi.type
        if t.HasField("optional_type") and t.optional_type.elem_type.HasField("tensor_type"):
            inner = onnx.TypeProto()
            inner.CopyFrom(t.optional_type.elem_type)
            vi.type.CopyFrom(inner)


def load_model(model: str | os.PathLike | onnx.ModelProto, shapes: ShapeSpec | None = None,
               batch: int | None = None, name: str | None = None,
               consts: Mapping[str, object] | None = None) -> tuple[Graph, onnx.ModelProto]:
    """Load and normalize a model. Returns the IR (shapes inferred) and the original model proto
    with static input shapes and without large initializer data (for reports). consts binds graph
    inputs to constant values (see bind_consts): they are no longer inputs of the IR."""
    from .ops import check_supported
    from .passes.constant_fold import infer_and_fold

    if isinstance(model, onnx.ModelProto):
        proto = onnx.ModelProto()
        proto.CopyFrom(model)
        base = None
        default_name = proto.graph.name or "model"
    else:
        path = Path(model)
        proto = _read_model_proto(path)
        base = path.parent
        default_name = path.stem
    arrays = _detach_initializers(proto, base)
    _optional_inputs_as_tensors(proto)
    bound = bind_consts(proto, consts, arrays, shapes)
    shapes = {k: v for k, v in (shapes or {}).items() if k not in bound}
    input_shapes = resolve_input_shapes(proto, shapes, batch, set(arrays))
    _check_structure(proto, arrays)
    proto = _normalize_proto(proto)
    graph = proto_to_graph(proto, arrays, input_shapes, name or default_name)
    graph.bound_inputs = bound
    graph.toposort()
    check_supported(graph, known_only=True)
    # fold while inferring: a Reshape fed by a Shape->Gather->Concat chain has no static shape otherwise
    infer_and_fold(graph)
    check_supported(graph)
    for o in graph.outputs:
        graph.value(o)
    return graph, proto
