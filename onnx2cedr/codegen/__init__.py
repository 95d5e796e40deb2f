"""C++ generation from a memory plan (jinja2 templates beside this file, StrictUndefined).

The same plan always gives the same bytes: names are derived deterministically, values are
emitted in plan order, floats with repr of their float32 value.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from .. import __version__
from ..ops import Call, ExtentArg, NullArg, ScalarArg, TensorArg
from ..ops.eltwise import c_float
from ..plan import Plan, WeightsFile

_TEMPLATES = Path(__file__).parent / "templates"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)), undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=True, autoescape=False)

_C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.int64): "int64_t",
            np.dtype(np.int32): "int32_t", np.dtype(np.int16): "int16_t", np.dtype(np.int8): "int8_t",
            np.dtype(np.uint8): "uint8_t", np.dtype(np.bool_): "bool"}


def c_identifier(name: str, prefix: str = "m_") -> str:
    """A C identifier derived from any string (ONNX names may contain any character)."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    s = re.sub(r"_+", "_", s).strip("_") or "model"
    if s[0].isdigit():
        s = prefix + s
    return s


def c_string(s: str) -> str:
    """A C string literal for any text: printable ASCII kept, everything else octal-escaped."""
    out = []
    for b in s.encode("utf-8"):
        ch = chr(b)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def c_comment(s: str) -> str:
    """Text safe inside a // comment: one line, ASCII, no trailing backslash."""
    return json.dumps(s, ensure_ascii=True)


def _c_value(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f".{k} = {_c_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(_c_value(x) for x in v) + "}"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v)) if abs(int(v)) < 2**31 else f"{int(v)}LL"
    if isinstance(v, (float, np.floating)):
        return c_float(float(v))
    if isinstance(v, str):  # enum constants
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", v):
            raise ValueError(f"not an enum constant: {v!r}")
        return v
    raise TypeError(f"cannot emit {type(v).__name__} in a parameter struct")


def npy_descr(dtype) -> str:
    dt = np.dtype(dtype)
    return dt.newbyteorder("<").str if dt.itemsize > 1 else dt.str


def _tensor_info(name: str, dtype, shape) -> str:
    shape = list(shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize if shape else np.dtype(dtype).itemsize
    dims = "{" + ", ".join(str(int(d)) for d in shape) + "}" if shape else "{0}"
    return f"{{{c_string(name)}, {c_string(npy_descr(dtype))}, {len(shape)}, {dims}, {nbytes}}}"


class _Emitter:
    def __init__(self, plan: Plan):
        self.plan = plan
        # the run's extent slots (dimensions known only at run time), numbered in plan order
        self.slots: dict[str, int] = {}
        for p in plan.nodes:
            for o in p.node.outputs:
                b = plan.graph.values[o].bound if o in plan.graph.values else None
                if b is not None:
                    self.slots.setdefault(b.slot, len(self.slots))

    def expr(self, arg, cast_override: str | None = None) -> str:
        if isinstance(arg, NullArg):
            return "nullptr"
        if isinstance(arg, ExtentArg):
            return f"&ext[{self.slots[arg.slot]}]"
        if isinstance(arg, ScalarArg):
            return f"static_cast<{arg.ctype}>({_c_value(arg.value)})"
        assert isinstance(arg, TensorArg)
        plan = self.plan
        root = plan.root[arg.value]
        st = plan.storage[root]
        ctype = cast_override or arg.cast
        elem = np.dtype(plan.graph.values[arg.value].dtype).itemsize
        off = arg.offset * elem + st.offset
        base = {"input": f"inputs[{st.index}]", "output": f"outputs[{st.index}]", "const": "w",
                "arena": "arena"}[st.kind]
        if st.kind in ("input", "output"):
            ptr = f"static_cast<const uint8_t*>({base})" if st.kind == "input" else f"static_cast<uint8_t*>({base})"
        else:
            ptr = base
        if off:
            ptr = f"{ptr} + {off}"
        return f"({ctype}*)({ptr})"

    # kernels whose constant weights (argument 1) the CPU kernel library packs once at load: the
    # parameter struct (it has a `packed` pointer), the <prefix>_packed_bytes / <prefix>_pack functions
    # and the weights' element type
    PACKERS = {"o2c_conv": ("dash_conv_params_t", "o2c_conv", "const float"),
               "o2c_qconv": ("dash_qconv_params_t", "o2c_qconv", "const int8_t"),
               "o2c_qgemm": ("dash_qgemm_params_t", "o2c_qgemm", "const int8_t"),
               "o2c_qconv16": ("dash_qconv_params_t", "o2c_qconv16", "const int16_t"),
               "o2c_qgemm16": ("dash_qgemm_params_t", "o2c_qgemm16", "const int16_t")}

    def packable(self, c: Call) -> bool:
        """A convolution (or integer GEMM) whose weights are constants: the CPU kernel can have them
        packed once at load (the params' `packed`, made by o2c_conv_pack / o2c_qconv_pack /
        o2c_qgemm_pack; other implementations ignore it)."""
        packer = self.PACKERS.get(c.inline)
        if c.params is None or packer is None or c.params.struct != packer[0]:
            return False
        if len(c.args) < 2 or not isinstance(c.args[1], TensorArg):
            return False
        root = self.plan.root[c.args[1].value]
        return self.plan.storage[root].kind == "const"

    def call(self, c: Call, packed: list | None = None) -> dict[str, Any]:
        func = f"{c.api}_{c.prec}" if c.api else c.inline
        if c.params is None:  # a public API: arguments only, called blocking
            return {"func": func, "struct": None, "init": None, "args": ", ".join(self.expr(a) for a in c.args),
                    "comment": c_comment(c.comment), "pack": None}
        d = {"func": func, "struct": c.params.struct, "init": _c_value(c.params.fields),
             "args": ", ".join(self.expr(a) for a in c.args), "comment": c_comment(c.comment), "pack": None}
        if packed is not None and self.packable(c):
            # the parameter struct lives at namespace scope: model load fills its `packed` pointer
            d["pack"] = len(packed)
            struct, prefix, wtype = self.PACKERS[c.inline]
            packed.append({"index": len(packed), "init": d["init"], "struct": struct, "prefix": prefix,
                           "weight": self.expr(c.args[1], wtype)})
        if c.api:
            # _nb takes pointers to the arguments: every tensor is read-only except the last (the
            # output), as in every API of dash_ml.h.
            # (the integer APIs take tensors of several element types: each its argument's own)
            elem = {"flt": "float", "int": "dash_re_int_type", "i8": None, "i16": None, "b1": None}[c.prec]
            d["nb_args"] = [{"type": f"const {elem or a.cast}*" if k < len(c.args) - 1 else f"{elem or a.cast}*",
                             "expr": self.expr(a)} for k, a in enumerate(c.args)]
        return d


def generate(plan: Plan, name: str, weights_file: str, weights: WeightsFile, source: str,
             threads: int = 1) -> dict[str, Any]:
    """Render the model source; weights: what write_weights wrote (model id and CRC-32, checked when
    the file is mapped). Returns {'model.cpp': text, 'sym': ..., 'traced': [...], 'model_id': int}."""
    g = plan.graph
    em = _Emitter(plan)
    sym = c_identifier(name)
    traced_names: list[str] = []
    nodes = []
    waves: list[dict[str, Any]] = []
    packed: list[dict[str, Any]] = []
    for idx, p in enumerate(plan.nodes):
        n = p.node
        guard = g.guard(n)
        trace = []
        for o in n.outputs:
            # a run-time If's branch value is not traced: the branch may not run
            if o and o in g.values and o not in traced_names and not guard:
                v = g.values[o]
                trace.append({"index": len(traced_names), "expr": em.expr(TensorArg(o), "uint8_t"),
                              "nbytes": v.nbytes})
                traced_names.append(o)
        placement = p.placement if p.placement in ("cpu", "view") else p.placement + " (CEDR API)"
        node = {"index": idx, "comment": f"{c_comment(n.name)} {n.op} -> {placement}",
                "calls": [em.call(c, packed) for c in p.calls], "trace": trace,
                "guard": " && ".join(("" if taken else "!") + f"*{em.expr(TensorArg(c), 'const bool')}"
                                     for c, taken in guard) or None}
        nodes.append(node)
        w = plan.waves[idx] if plan.waves else idx
        if not waves or waves[-1]["index"] != w:
            waves.append({"index": w, "nodes": [], "trace": []})
        waves[-1]["nodes"].append(node)
        waves[-1]["trace"] += trace
        waves[-1].setdefault("checks", []).extend(
            {"slot": em.slots[v.bound.slot], "cap": v.shape[v.bound.dim], "dim": v.bound.dim, "name": c_string(o),
             "stated": "true" if v.bound.stated else "false"}
            for o in n.outputs if o and (v := g.values.get(o)) is not None and v.bound is not None)
    for wv in waves:
        nb = [dict(n, call=n["calls"][0]) for n in wv["nodes"]
              if len(n["calls"]) == 1 and "nb_args" in n["calls"][0] and not n["guard"]]
        wv["parallel"] = len(nb) >= 2
        wv["nb"] = nb if wv["parallel"] else []
        wv["sync"] = [n for n in wv["nodes"] if not wv["parallel"] or n["index"] not in {m["index"] for m in nb}]
    ctx = {
        "banner": f"onnx2cedr model {c_comment(name)}",
        "version": __version__,
        "source_comment": c_comment(source),
        "weights_file": c_comment(weights_file),
        "weights_file_c": c_string(weights_file),
        "model_id": weights.model_id,
        "weights_crc": f"0x{weights.crc32:08x}",
        "weights_bytes": plan.weights_bytes,
        "arena_bytes": plan.arena_bytes,
        "threads": int(threads),
        "num_nodes": len(plan.nodes),
        "inputs": [_tensor_info(i, g.values[i].dtype, g.values[i].shape) for i in g.inputs],
        "outputs": [_tensor_info(o, g.values[o].dtype, g.values[o].shape) for o in g.outputs],
        "traced": [_tensor_info(t, g.values[t].dtype, g.values[t].shape) for t in traced_names],
        "waves": waves,
        "parallel_waves": any(wv["parallel"] for wv in waves),
        "final_copies": [em.call(c) for c in plan.final_copies],
        "n_ext": len(em.slots),
        "out_dims": [{"at": 8 * k + d, "expr": f"ext[{em.slots[v.bound.slot]}]" if v.bound is not None and d == v.bound.dim
                      else str(int(n))}
                     for k, v in enumerate(g.values[o] for o in g.outputs) for d, n in enumerate(v.shape)],
        "packed": packed,
        "name_c": c_string(name),
        "sym": sym,
    }
    text = _ENV.get_template("model.cpp.j2").render(**ctx)
    return {"model.cpp": text, "sym": sym, "traced": traced_names, "model_id": weights.model_id}


def render_cmake(name: str, sym: str, kernels_dir: str, fallback_symbols: tuple[str, ...] = ()) -> str:
    """fallback_symbols: the ML API forms the app may carry inline fallbacks for (build.ML_FALLBACK_SYMBOLS;
    empty for a target without them)."""
    return _ENV.get_template("CMakeLists.txt.j2").render(name=name, sym=sym, kernels_dir=kernels_dir,
                                                         fallback_symbols=list(fallback_symbols))
