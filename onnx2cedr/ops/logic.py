"""Ops over any element type: Cast/CastLike, comparisons, logic, Where, bitwise ops, Mod, and the
integer (and float64/float16/...) variants of the float32 element-wise ops. All lower to the
typed CPU kernels of o2c_typed.h (no CEDR API: the public APIs are float or int16 only).

The float32 element-wise ops keep their DASH_BINARY/DASH_UNARY lowering (eltwise.py); the classes
registered at the bottom of this file extend them to the other element types.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..opset_fixups import EXT_DOMAIN
from .base import _REGISTRY, Call, Lowered, OpDef, Params, TensorArg, Unsupported, pad8, register
from .eltwise import _collapse, broadcast_strides

F32 = np.dtype(np.float32)

# ONNX TensorProto element type codes (o2c_typed.h O2C_DT_*)
DT_CODES = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.uint16): 4,
            np.dtype(np.int16): 5, np.dtype(np.int32): 6, np.dtype(np.int64): 7, np.dtype(np.bool_): 9,
            np.dtype(np.float16): 10, np.dtype(np.float64): 11, np.dtype(np.uint32): 12, np.dtype(np.uint64): 13}
# casts also handle the float8 formats, float4 e2m1 and 4-/2-bit integers (one element per byte)
CAST_CODES = dict(DT_CODES)
try:  # onnx represents bfloat16 (and the narrower types) with ml_dtypes' types when it is installed
    import ml_dtypes

    DT_CODES[np.dtype(ml_dtypes.bfloat16)] = 16
    CAST_CODES[np.dtype(ml_dtypes.bfloat16)] = 16
    for _name, _code in (("float8_e4m3fn", 17), ("float8_e4m3fnuz", 18), ("float8_e5m2", 19),
                         ("float8_e5m2fnuz", 20), ("uint4", 21), ("int4", 22), ("float4_e2m1fn", 23),
                         ("uint2", 25), ("int2", 26)):
        if hasattr(ml_dtypes, _name):
            CAST_CODES[np.dtype(getattr(ml_dtypes, _name))] = _code
except ImportError:  # pragma: no cover
    pass
ALL_TYPES = tuple(DT_CODES)
INT_TYPES = tuple(d for d in DT_CODES if d.kind in "iu")
NUMERIC = tuple(d for d in DT_CODES if d != np.bool_)


def dt_code(dtype, what: str = "element type", codes: dict = DT_CODES) -> int:
    dt = np.dtype(dtype)
    if dt not in codes:
        raise Unsupported(f"{what} {_dt_name(dt)} is not supported")
    return codes[dt]


def _dt_name(dt) -> str:
    try:
        from onnx import helper
        return helper.tensor_dtype_to_string(helper.np_dtype_to_tensor_dtype(np.dtype(dt))).replace("TensorProto.", "").lower()
    except Exception:
        return str(dt)


def _arg(name: str, cast: str = "void") -> TensorArg:
    return TensorArg(name, 0, cast)


def _dtype(graph: Graph, name: str) -> np.dtype:
    return np.dtype(graph.values[name].dtype)


def typed_binary_call(graph: Graph, a: str, b: str, out: str, op: str) -> Call:
    out_shape = list(graph.values[out].shape)
    shape, sa, sb = _collapse(out_shape, broadcast_strides(graph.values[a].shape, out_shape),
                              broadcast_strides(graph.values[b].shape, out_shape))
    if len(shape) > 8:
        raise Unsupported(f"broadcasting over {len(shape)} dimensions (at most 8)")
    fields = {"op": op, "type": dt_code(_dtype(graph, a)), "rank": len(shape), "out_shape": pad8(shape, 1),
              "a_stride": pad8(sa, 0), "b_stride": pad8(sb, 0)}
    return Call("o2c_binary_typed", [_arg(a), _arg(b), _arg(out)], Params("o2c_binary_typed_params_t", fields),
                flops=graph.values[out].size)


def typed_unary_call(graph: Graph, x: str, y: str, op: str) -> Call:
    fields = {"n": graph.values[y].size, "op": op, "type": dt_code(_dtype(graph, x))}
    return Call("o2c_unary_typed", [_arg(x), _arg(y)], Params("o2c_unary_typed_params_t", fields),
                flops=graph.values[y].size)


def _same_types(graph: Graph, node: Node, allowed, what: str = "") -> np.dtype:
    ins = [i for i in node.inputs if i]
    dts = {_dtype(graph, i) for i in ins if i in graph.values}
    if len(dts) > 1:
        raise Unsupported(f"inputs of different element types ({', '.join(sorted(_dt_name(d) for d in dts))})")
    dt = dts.pop() if dts else F32
    if dt not in allowed:
        raise Unsupported(f"element type {_dt_name(dt)} is not supported{what}")
    return dt


# ---------------------------------------------------------------- casts
_CAST_ATTRS = {"to": None, "saturate": 1, "round_mode": "up"}

# ONNX's rule for a cast from a float type to a 4- or 2-bit integer (its int4 technical document, and
# onnx.numpy_helper.saturate_cast): round half to even, then saturate to the type's range. numpy's
# astype to ml_dtypes' int4/uint4/int2/uint2 does not follow it (out-of-range values wrap in
# ml_dtypes 0.6 and become 0 in 0.7, fractions truncate), so it is never used for these casts.
SUB_BYTE_INT_RANGES = {"int4": (-8, 7), "uint4": (0, 15), "int2": (-2, 1), "uint2": (0, 3)}
SUB_BYTE_CAST_RULE = "round half to even, then saturate to the type's range (NaN -> 0)"


def sub_byte_int_range(dtype) -> tuple[int, int] | None:
    """(min, max) of a 4- or 2-bit integer type, else None."""
    dt = np.dtype(dtype)
    return SUB_BYTE_INT_RANGES.get(dt.name) if dt.type.__module__.split(".")[0] == "ml_dtypes" else None


def cast_array(x: np.ndarray, dtype) -> np.ndarray:
    """Cast like ONNX's Cast: the spec rule for floats to 4-/2-bit integers, numpy's astype otherwise."""
    x = np.asarray(x)
    rng = sub_byte_int_range(dtype)
    if rng is None or not (x.dtype.kind == "f" or "float" in x.dtype.name):
        return x.astype(dtype)
    v = np.rint(x.astype(np.float64))
    v = np.where(np.isnan(v), 0.0, np.clip(v, *rng))
    return v.astype(np.int8).astype(dtype)


def cast_lowering(graph: Graph, node: Node, x: str, y: str) -> Lowered:
    src, dst = _dtype(graph, x), _dtype(graph, y)
    dt_code(src, "cast from element type", CAST_CODES)
    dt_code(dst, "cast to element type", CAST_CODES)
    if src == dst:
        from .base import Alias
        return Lowered([], alias=Alias(x, y), reason="same-type cast: shares its input's memory")
    fields = {"n": graph.values[y].size, "from": CAST_CODES[src], "to": CAST_CODES[dst],
              "saturate": int(node.attrs.get("saturate", 1))}
    return Lowered([Call("o2c_cast", [_arg(x), _arg(y)], Params("o2c_cast_params_t", fields),
                         flops=graph.values[y].size)], reason="element type conversion: inline CPU kernel")


class _CastBase(OpDef):
    dtypes = ()
    summary = "element type conversion"
    constraints = "float8 e8m0 and string types are rejected; round_mode only matters for e8m0"

    def flops(self, graph, node):
        return graph.values[node.outputs[0]].size

    def check_node(self, graph, node):
        x, y = node.inputs[0], node.outputs[0]
        if x in graph.values:
            dt_code(_dtype(graph, x), "cast from element type", CAST_CODES)
        if y in graph.values:
            dt_code(_dtype(graph, y), "cast to element type", CAST_CODES)

    def lower(self, graph, node):
        return cast_lowering(graph, node, node.inputs[0], node.outputs[0])


@register
class Cast(_CastBase):
    op_type = "Cast"
    attrs = _CAST_ATTRS


@register
class CastLike(_CastBase):
    op_type = "CastLike"
    attrs = {"saturate": 1, "round_mode": "up"}


@register
class BitCast(OpDef):
    """Opset 26: the same bytes read as another type of the same width (a view: no code)."""

    op_type = "BitCast"
    attrs = {"to": None}
    dtypes = ()
    has_infer = True  # no schema at the internal opset
    summary = "reinterpret the bits as another type of the same width (a view)"

    def _to(self, node) -> np.dtype:
        from onnx import helper

        if self.attr(node, "to") is None:
            raise Unsupported("the 'to' attribute is missing")
        try:
            return np.dtype(helper.tensor_dtype_to_np_dtype(int(self.attr(node, "to"))))
        except (KeyError, TypeError, ValueError):
            raise Unsupported(f"to={self.attr(node, 'to')} is not a supported element type") from None

    def check_node(self, graph, node):
        x = graph.values.get(node.inputs[0])
        to = self._to(node)
        if x is not None and (np.dtype(x.dtype).itemsize != to.itemsize or x.dtype == object or to == object):
            raise Unsupported(f"from {_dt_name(x.dtype)} to {_dt_name(to)}: not the same width")

    def infer(self, graph, node):
        self.check_node(graph, node)
        return [(self._to(node), graph.value(node.inputs[0]).shape)]

    def lower(self, graph, node):
        from .base import Alias

        return Lowered([], alias=Alias(node.inputs[0], node.outputs[0]), reason="bit cast: a view of the input")


@register
class BitCastExt(BitCast):
    domain = EXT_DOMAIN


# ---------------------------------------------------------------- comparisons and logic
_COMPARE = {"Equal": "O2C_BIN_EQ", "Less": "O2C_BIN_LT", "Greater": "O2C_BIN_GT", "LessOrEqual": "O2C_BIN_LE",
            "GreaterOrEqual": "O2C_BIN_GE"}
_LOGIC = {"And": "O2C_BIN_AND", "Or": "O2C_BIN_OR", "Xor": "O2C_BIN_XOR"}
_BITWISE = {"BitwiseAnd": "O2C_BIN_BITAND", "BitwiseOr": "O2C_BIN_BITOR", "BitwiseXor": "O2C_BIN_BITXOR"}


def _make_typed_binary(name: str, op: str, allowed, summary: str, attrs: dict | None = None):
    class TypedBinary(OpDef):
        op_type = name
        dtypes = ()

        def check_node(self, graph, node):
            if len([i for i in node.inputs if i]) != 2:
                raise Unsupported("expects two inputs")
            _same_types(graph, node, allowed)

        def lower(self, graph, node):
            return Lowered([typed_binary_call(graph, node.inputs[0], node.inputs[1], node.outputs[0], self.op_of(node))],
                           reason="element-wise (typed): inline CPU kernel")

        def op_of(self, node):
            return op

    TypedBinary.attrs = dict(attrs or {})
    TypedBinary.summary = summary
    TypedBinary.__name__ = f"Op{name}"
    return TypedBinary


for _n, _op in _COMPARE.items():
    register(_make_typed_binary(_n, _op, ALL_TYPES if _n == "Equal" else NUMERIC, "comparison with broadcasting -> bool"))
for _n, _op in _LOGIC.items():
    register(_make_typed_binary(_n, _op, (np.dtype(np.bool_),), "logic with broadcasting"))
for _n, _op in _BITWISE.items():
    register(_make_typed_binary(_n, _op, INT_TYPES, "bitwise with broadcasting"))


@register
class Mod(_make_typed_binary("Mod", "O2C_BIN_MOD", NUMERIC, "remainder with broadcasting (fmod=0: sign of the "
                                                                   "divisor, fmod=1: of the dividend)", {"fmod": 0})):
    def op_of(self, node):
        return "O2C_BIN_FMOD" if int(self.attr(node, "fmod")) else "O2C_BIN_MOD"


@register
class BitShift(_make_typed_binary("BitShift", "O2C_BIN_SHL", INT_TYPES, "shift with broadcasting (signed right "
                                  "shifts are arithmetic)", {"direction": None})):
    def check_node(self, graph, node):
        super().check_node(graph, node)
        if self.attr(node, "direction") not in ("LEFT", "RIGHT"):
            raise Unsupported(f"direction '{self.attr(node, 'direction')}' (LEFT or RIGHT)")

    def op_of(self, node):
        return "O2C_BIN_SHL" if self.attr(node, "direction") == "LEFT" else "O2C_BIN_SHR"


def _make_typed_unary(name: str, op: str, allowed, summary: str):
    class TypedUnary(OpDef):
        op_type = name
        attrs = {}
        dtypes = ()

        def check_node(self, graph, node):
            _same_types(graph, node, allowed)

        def lower(self, graph, node):
            return Lowered([typed_unary_call(graph, node.inputs[0], node.outputs[0], op)],
                           reason="element-wise (typed): inline CPU kernel")

    TypedUnary.summary = summary
    TypedUnary.__name__ = f"Op{name}"
    return TypedUnary


register(_make_typed_unary("Not", "O2C_UN_NOT", (np.dtype(np.bool_),), "logical not"))
register(_make_typed_unary("BitwiseNot", "O2C_UN_BITNOT", INT_TYPES, "bitwise not"))


@register
class Where(OpDef):
    op_type = "Where"
    attrs = {}
    dtypes = ()
    summary = "select with broadcasting"

    def check_node(self, graph, node):
        c, x, y = node.inputs[:3]
        if c in graph.values and _dtype(graph, c) != np.bool_:
            raise Unsupported(f"condition of element type {_dt_name(_dtype(graph, c))}")
        if x in graph.values and y in graph.values and _dtype(graph, x) != _dtype(graph, y):
            raise Unsupported("X and Y have different element types")

    def lower(self, graph, node):
        c, x, y = node.inputs[:3]
        out = node.outputs[0]
        shape = list(graph.values[out].shape)
        if len(shape) > 8:
            raise Unsupported("rank above 8")
        fields = {"rank": len(shape), "elem_size": _dtype(graph, out).itemsize, "out_shape": pad8(shape, 1),
                  "c_stride": pad8(broadcast_strides(graph.values[c].shape, shape), 0),
                  "x_stride": pad8(broadcast_strides(graph.values[x].shape, shape), 0),
                  "y_stride": pad8(broadcast_strides(graph.values[y].shape, shape), 0)}
        return Lowered([Call("o2c_where", [_arg(c, "bool"), _arg(x), _arg(y), _arg(out)],
                             Params("o2c_where_params_t", fields), flops=graph.values[out].size)],
                       reason="selection: inline CPU kernel")


def fill_call(graph: Graph, out: str, value) -> Call:
    dt = _dtype(graph, out)
    dt_code(dt)
    raw = np.asarray(value, dtype=dt).reshape(()).tobytes()
    fields = {"n": graph.values[out].size, "elem_size": dt.itemsize, "value": list(raw) + [0] * (8 - len(raw))}
    return Call("o2c_fill_value", [_arg(out)], Params("o2c_fill_params_t", fields))


@register
class ConstantOfShape(OpDef):
    op_type = "ConstantOfShape"
    attrs = {"value": None}
    dtypes = ()
    summary = "fill"
    constraints = "the shape must be known at compile time"

    def lower(self, graph, node):
        v = self.attr(node, "value")
        value = np.asarray(v).reshape(-1)[0] if v is not None else np.float32(0)
        return Lowered([fill_call(graph, node.outputs[0], value)], reason="fill: inline CPU kernel")


@register
class EyeLike(OpDef):
    op_type = "EyeLike"
    attrs = {"dtype": None, "k": 0}
    dtypes = ()
    summary = "identity-like matrix"

    def check_node(self, graph, node):
        x = graph.values.get(node.inputs[0])
        if x is not None and len(x.shape) != 2:
            raise Unsupported(f"input of rank {len(x.shape)} (must be 2)")

    def lower(self, graph, node):
        y = graph.values[node.outputs[0]]
        fields = {"rows": y.shape[0], "cols": y.shape[1], "k": int(self.attr(node, "k")), "type": dt_code(y.dtype)}
        return Lowered([Call("o2c_eye", [_arg(node.outputs[0])], Params("o2c_eye_params_t", fields))],
                       reason="fill: inline CPU kernel")


# ---------------------------------------------------------------- other element types for float32 ops
_TYPED_BINARY = {"Add": "O2C_BIN_ADD", "Sub": "O2C_BIN_SUB", "Mul": "O2C_BIN_MUL", "Div": "O2C_BIN_DIV",
                 "Max": "O2C_BIN_MAX", "Min": "O2C_BIN_MIN", "Sum": "O2C_BIN_ADD"}
_TYPED_UNARY = {"Abs": "O2C_UN_ABS", "Neg": "O2C_UN_NEG", "Sign": "O2C_UN_SIGN", "Relu": "O2C_UN_RELU"}
# float math for float64/float16/bfloat16 (float32 keeps DASH_UNARY)
_TYPED_FLOAT_UNARY = {"Exp": "O2C_UN_EXP", "Log": "O2C_UN_LOG", "Sqrt": "O2C_UN_SQRT",
                      "Reciprocal": "O2C_UN_RECIPROCAL", "Floor": "O2C_UN_FLOOR", "Ceil": "O2C_UN_CEIL",
                      "Round": "O2C_UN_ROUND", "Tanh": "O2C_UN_TANH", "Sigmoid": "O2C_UN_SIGMOID", "Sin": "O2C_UN_SIN",
                      "Cos": "O2C_UN_COS", "Erf": "O2C_UN_ERF"}
FLOAT_TYPES = tuple(d for d in DT_CODES if d.kind == "f" or d.name == "bfloat16")


def _is_f32(graph: Graph, node: Node) -> bool:
    return all(_dtype(graph, i) == F32 for i in node.inputs if i and i in graph.values)


def _extend_binary(name: str, op: str):
    base = type(_REGISTRY[("", name)])

    class AnyTypeBinary(base):
        dtypes = ()

        def check(self, graph, node):
            if _is_f32(graph, node):
                return super().check(graph, node)
            self.check_attrs(node)
            if not [i for i in node.inputs if i]:
                raise Unsupported("no inputs")
            _same_types(graph, node, NUMERIC)

        def lower(self, graph, node):
            if _is_f32(graph, node):
                return super().lower(graph, node)
            ins = [i for i in node.inputs if i]
            out = node.outputs[0]
            if len(ins) == 1:
                return Lowered([typed_unary_call(graph, ins[0], out, "O2C_UN_IDENTITY")],
                               reason="element-wise (typed): inline CPU kernel")
            calls, acc = [], ins[0]
            for b in ins[1:]:
                calls.append(typed_binary_call(graph, acc, b, out, op))
                acc = out
            return Lowered(calls, reason="element-wise (typed): inline CPU kernel")

    AnyTypeBinary.__name__ = f"Op{name}"
    AnyTypeBinary.summary = base.summary + "; other element types: inline typed kernel"
    register(AnyTypeBinary)


def _extend_unary(name: str, op: str, allowed=NUMERIC):
    base = type(_REGISTRY[("", name)])

    class AnyTypeUnary(base):
        dtypes = ()

        def check(self, graph, node):
            if _is_f32(graph, node):
                return super().check(graph, node)
            self.check_attrs(node)
            _same_types(graph, node, allowed)

        def lower(self, graph, node):
            if _is_f32(graph, node):
                return super().lower(graph, node)
            return Lowered([typed_unary_call(graph, node.inputs[0], node.outputs[0], op)],
                           reason="element-wise (typed): inline CPU kernel")

    AnyTypeUnary.__name__ = f"Op{name}"
    AnyTypeUnary.summary = base.summary + "; other element types: inline typed kernel"
    register(AnyTypeUnary)


for _n, _op in _TYPED_BINARY.items():
    if ("", _n) in _REGISTRY:
        _extend_binary(_n, _op)
for _n, _op in _TYPED_UNARY.items():
    if ("", _n) in _REGISTRY:
        _extend_unary(_n, _op)
for _n, _op in _TYPED_FLOAT_UNARY.items():
    if ("", _n) in _REGISTRY:
        _extend_unary(_n, _op, FLOAT_TYPES)


def _extend_clip():
    base = type(_REGISTRY[("", "Clip")])

    class AnyTypeClip(base):
        """Clip of integers, float64, float16, ...: max with the lower bound, then min with the upper."""

        dtypes = ()

        def check(self, graph, node):
            if _is_f32(graph, node):
                return super().check(graph, node)
            for k in node.attrs:
                raise Unsupported(f"attribute '{k}' is not supported")
            _same_types(graph, node, NUMERIC)
            for i in node.inputs[1:3]:
                if i and i in graph.values and graph.values[i].size != 1:
                    raise Unsupported(f"Clip bound '{i}' is not a scalar")

        def lower(self, graph, node):
            if _is_f32(graph, node):
                return super().lower(graph, node)
            x, y = node.inputs[0], node.outputs[0]
            calls = []
            for k, op in ((1, "O2C_BIN_MAX"), (2, "O2C_BIN_MIN")):
                if node.input(k):
                    calls.append(typed_binary_call(graph, x, node.input(k), y, op))
                    x = y
            if not calls:
                calls.append(typed_unary_call(graph, x, y, "O2C_UN_IDENTITY"))
            return Lowered(calls, reason="Clip (typed): max and min, inline CPU kernel")

    AnyTypeClip.__name__ = "OpClip"
    AnyTypeClip.summary = base.summary + "; other element types: inline typed max/min"
    register(AnyTypeClip)


if ("", "Clip") in _REGISTRY:
    _extend_clip()


def _extend_pow():
    base = type(_REGISTRY[("", "Pow")])

    class AnyTypePow(base):
        """Pow over other element types. The result has the base's type (as ONNX's reference:
        ``np.power(x, y).astype(x.dtype)``): same types: the typed kernel (integer powers by repeated
        squaring); a float base with an exponent of another type: the exponent cast to the base's type;
        an integer base with an integer exponent: the exponent cast to the base's type; an integer base
        with a float exponent: both in float64, the result truncated back to the base's type."""

        dtypes = ()

        def check(self, graph, node):
            if _is_f32(graph, node):
                return super().check(graph, node)
            self.check_attrs(node)
            if len([i for i in node.inputs if i]) != 2:
                raise Unsupported("expects two inputs")
            for i in node.inputs:
                if i in graph.values and _dtype(graph, i) not in NUMERIC:
                    raise Unsupported(f"element type {_dt_name(_dtype(graph, i))} is not supported")

        def _temp(self, graph, node, what, dtype, shape, temps):
            name = graph.fresh_name(f"{node.name}/{what}")
            graph.add_value(name, np.dtype(dtype), shape)
            temps.append(name)
            return name

        def _cast(self, graph, src, dst) -> Call:
            fields = {"n": graph.values[dst].size, "from": CAST_CODES[_dtype(graph, src)],
                      "to": CAST_CODES[_dtype(graph, dst)], "saturate": 1}
            return Call("o2c_cast", [_arg(src), _arg(dst)], Params("o2c_cast_params_t", fields),
                        flops=graph.values[dst].size)

        def lower(self, graph, node):
            if _is_f32(graph, node):
                return super().lower(graph, node)
            x, y, out = node.inputs[0], node.inputs[1], node.outputs[0]
            tx, ty = _dtype(graph, x), _dtype(graph, y)
            reason = "Pow (typed): inline CPU kernel"
            if tx == ty:
                return Lowered([typed_binary_call(graph, x, y, out, "O2C_BIN_POW")], reason=reason)
            temps: list[str] = []
            if tx.kind == "f" or tx.name == "bfloat16" or ty.kind in "iu":
                yc = self._temp(graph, node, "exponent", tx, graph.values[y].shape, temps)
                calls = [self._cast(graph, y, yc)]
                if tx == F32:
                    from .eltwise import binary_call
                    calls.append(binary_call(graph, x, yc, out, "DASH_BIN_POW"))
                    return Lowered(calls, reason="Pow: exponent cast to float32, DASH_BINARY", temps=temps)
                calls.append(typed_binary_call(graph, x, yc, out, "O2C_BIN_POW"))
                return Lowered(calls, reason=f"Pow: exponent cast to the base's type; {reason}", temps=temps)
            f64 = np.dtype(np.float64)
            xc = self._temp(graph, node, "base_f64", f64, graph.values[x].shape, temps)
            yc = self._temp(graph, node, "exponent_f64", f64, graph.values[y].shape, temps)
            rc = self._temp(graph, node, "power_f64", f64, graph.values[out].shape, temps)
            calls = [self._cast(graph, x, xc), self._cast(graph, y, yc),
                     typed_binary_call(graph, xc, yc, rc, "O2C_BIN_POW"), self._cast(graph, rc, out)]
            return Lowered(calls, reason=f"Pow: integer base, float exponent in float64; {reason}", temps=temps)

    AnyTypePow.__name__ = "OpPow"
    AnyTypePow.summary = base.summary + "; other element types (mixed base/exponent types too): inline typed kernel"
    register(AnyTypePow)


if ("", "Pow") in _REGISTRY:
    _extend_pow()
