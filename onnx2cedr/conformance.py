"""Conformance harness over the test data shipped in the onnx package.

Cases: every backend node test (the shipped onnx/backend/test/data/node folders when the wheel has
them, else generated offline from ``onnx.backend.test.case.node``) and the model folders with
reference data (simple, real (the 'light' models), pytorch-converted, pytorch-operator).

Each case is compiled (load -> passes -> placement -> plan -> codegen) in Python; the generated
sources of many cases go into one translation unit and one shared object linked against the
kernel library compiled once; every case then runs in-process through ctypes (in a child
process, so that a crash costs one case, not the run) and its outputs are compared with the
reference outputs under a tolerance chosen by op class. A case passes only when every output
matches; a case that does not convert is recorded with its one-line reason.

A static-shape compiler needs the inputs that decide output shapes (Reshape's shape, Slice's
starts, a Reduce's axes, an If's condition, ...) at compile time. When a case does not compile as given, it is
retried with its non-float inputs that only feed such parameter positions (never input 0 of a
node) turned into constants ("params frozen"); then also with the small integer inputs (and float
scalars) whose values reach such a position through shape arithmetic (a size vector sliced and
gathered into Range's bounds, Range's bounds turned into a Loop's trip count, as in function bodies);
the data inputs stay run-time inputs. A case whose
every node then folds at compile time is reported as "folded".
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

MODEL_FOLDERS = ("simple", "real", "pytorch-converted", "pytorch-operator")

# ---- op classes and their tolerances: |ours - ref| <= atol + rtol * |ref| (NaN == NaN); for outputs of a
# float type narrower than float32 both are at least the type's epsilon (see compare) ----
TOLERANCES: dict[str, tuple[float, float]] = {
    "exact": (0.0, 0.0),
    "eltwise": (1e-5, 1e-6),
    "transcendental": (1e-5, 1e-5),
    "reduction": (1e-4, 1e-5),
    "matmul/conv": (1e-4, 1e-4),
    "model": (1e-3, 1e-4),
}
_EXACT_OPS = {
    "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Concat", "Split", "Expand",
    "Tile", "Gather", "GatherElements", "GatherND", "ScatterElements", "ScatterND", "Scatter", "Pad", "Shape", "Size",
    "ConstantOfShape", "Constant", "Range", "Cast", "CastLike", "Where", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "ArgMax", "ArgMin", "TopK", "DepthToSpace",
    "SpaceToDepth", "Trilu", "Mod", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "OneHot",
    "EyeLike", "IsNaN", "IsInf", "Relu", "Neg", "Abs", "Max", "Min", "MaxPool", "Dropout", "Sign", "Floor", "Ceil",
    "Round", "NonZero", "Compress", "ReverseSequence", "Unique", "MaxUnpool", "Hardmax",
}
_TRANSCENDENTAL_OPS = {
    "Exp", "Log", "Sqrt", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
    "Tanh", "Sigmoid", "Softplus", "Softsign", "Erf", "Elu", "Selu", "Celu", "Gelu", "Mish", "Pow", "HardSwish",
    "HardSigmoid", "ThresholdedRelu", "LeakyRelu", "PRelu", "Reciprocal", "Div", "Softmax", "LogSoftmax",
}
# GridSample: weighted sums over up to 64 neighbours, like a convolution (its reference outputs are
# also written to 4 decimals)
_GEMM_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "ConvInteger", "MatMulInteger", "DeformConv",
             "Attention", "RNN", "GRU", "LSTM", "Col2Im", "GridSample"}
_REDUCTION_OPS = {
    "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceSumSquare", "CumSum", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool",
    "GlobalLpPool", "BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
    "LRN", "MeanVarianceNormalization", "LpNormalization", "Mean", "Sum", "RMSNormalization", "Resize", "Upsample",
    "NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss", "RoiAlign", "AffineGrid", "DFT", "STFT",
}
_ORDER = ["exact", "eltwise", "transcendental", "reduction", "matmul/conv", "model"]


def op_class(ops: Iterable[str], model_case: bool = False) -> str:
    """The loosest class among the ops of a case (model folders: 'model')."""
    if model_case:
        return "model"
    cls = "exact"
    for op in ops:
        c = ("matmul/conv" if op in _GEMM_OPS else "reduction" if op in _REDUCTION_OPS else
             "transcendental" if op in _TRANSCENDENTAL_OPS else "exact" if op in _EXACT_OPS else "eltwise")
        if _ORDER.index(c) > _ORDER.index(cls):
            cls = c
    return cls


# ---- cases ----
@dataclasses.dataclass
class Case:
    name: str
    kind: str  # 'node' or a model folder name
    op: str  # the op under test (node cases) or the folder's model name
    model: onnx.ModelProto
    inputs: list[Any]
    outputs: list[Any]
    more: list[tuple[list[Any], list[Any]]] = dataclasses.field(default_factory=list)  # further data sets

    @property
    def datasets(self) -> list[tuple[list[Any], list[Any]]]:
        return [(list(self.inputs), list(self.outputs))] + [(list(i), list(o)) for i, o in self.more]


# pass: every output of every data set matches; disputed: the shipped reference contradicts the ONNX
# spec and our outputs follow the spec (kept apart: neither a pass nor a mismatch); no-data: the case
# has nothing to compare against (a model the wheel does not ship). mismatch, crash, error (the
# compiler raised something other than its one-line refusal) and build-error are bugs.
STATUSES = ("pass", "disputed", "unsupported", "no-data", "mismatch", "crash", "error", "build-error")
FAILURES = ("mismatch", "crash", "error", "build-error")


@dataclasses.dataclass
class Result:
    name: str
    kind: str
    op: str
    status: str  # one of STATUSES
    op_class: str = ""
    reason: str = ""
    mode: str = ""  # '' (as given) | 'params frozen' | 'folded'
    placements: list[list[str]] = dataclasses.field(default_factory=list)  # [op, placement, reason]
    max_err: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def data_root() -> Path:
    return Path(onnx.__file__).parent / "backend" / "test" / "data"


def _load_pb(path: str, vi: onnx.ValueInfoProto | None):
    raw = Path(path).read_bytes()
    if vi is not None and vi.type.HasField("sequence_type"):
        s = onnx.SequenceProto()
        s.ParseFromString(raw)
        return ("sequence", s)
    if vi is not None and vi.type.HasField("optional_type"):
        o = onnx.OptionalProto()
        o.ParseFromString(raw)
        return ("optional", o)
    t = onnx.TensorProto()
    t.ParseFromString(raw)
    return numpy_helper.to_array(t)


def _folder_case(d: Path, kind: str, op: str) -> Case:
    model = onnx.load(str(d / "model.onnx"))
    sets = []
    for ds in sorted(glob.glob(str(d / "test_data_set_*")), key=lambda p: int(p.rsplit("_", 1)[1])):
        ins = [_load_pb(p, model.graph.input[k] if k < len(model.graph.input) else None)
               for k, p in enumerate(sorted(glob.glob(os.path.join(ds, "input_*.pb")), key=_pb_index))]
        outs = [_load_pb(p, model.graph.output[k] if k < len(model.graph.output) else None)
                for k, p in enumerate(sorted(glob.glob(os.path.join(ds, "output_*.pb")), key=_pb_index))]
        sets.append((ins, outs))
    if not sets:
        return Case(d.name, kind, op, model, [], [("no-data", "the folder has no test_data_set_*")])
    return Case(d.name, kind, op, model, sets[0][0], sets[0][1], sets[1:])


def _pb_index(p: str) -> int:
    return int(re.search(r"_(\d+)\.pb$", p).group(1))


def _main_op(model: onnx.ModelProto) -> str:
    ops = [n.op_type for n in model.graph.node if n.op_type != "Constant"] or [n.op_type for n in model.graph.node]
    return ops[-1] if ops else "?"


def node_cases() -> list[Case]:
    """Every backend node test case: the shipped folders, else generated from onnx's case code."""
    folder = data_root() / "node"
    cases: list[Case] = []
    if folder.is_dir() and any(folder.iterdir()):
        dirs = sorted(p for p in folder.iterdir() if (p / "model.onnx").is_file())
        ops = {}
        for d in dirs:
            if not d.name.endswith("_expanded") and "_expanded_ver" not in d.name:
                ops[d.name] = _main_op(onnx.load(str(d / "model.onnx")))
        for d in dirs:
            base = re.sub(r"_expanded(_ver\d+)?$", "", d.name)
            try:
                c = _folder_case(d, "node", ops.get(base, "?"))
            except Exception as e:  # unreadable data: recorded by the caller as an error
                c = Case(d.name, "node", ops.get(base, "?"), onnx.ModelProto(), [], [("no-data", f"unreadable: {e}")])
            if c.op == "?":
                c.op = _main_op(c.model)
            cases.append(c)
        return cases
    from onnx.backend.test.case import node as node_mod

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generated = node_mod.collect_testcases(None)
    ops = {}
    for tc in generated:
        if "_expanded" not in tc.name:
            ops[tc.name] = _main_op(tc.model)
    for tc in generated:
        base = re.sub(r"_expanded(_ver\d+)?$", "", tc.name)
        sets = [(list(i), list(o)) for i, o in tc.data_sets] or [([], [("no-data", "the case has no data set")])]
        cases.append(Case(tc.name, "node", ops.get(base) or _main_op(tc.model), tc.model, sets[0][0], sets[0][1],
                          sets[1:]))
    return cases


def _dummy_input(vi: onnx.ValueInfoProto) -> np.ndarray:
    """The input onnx's backend runner feeds the 'light' models: arange(n)/n in the declared shape."""
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim)
    n = int(np.prod(shape))
    return (np.arange(n).reshape(shape) / n).astype(np.float32)


def model_cases(folders: Sequence[str] = MODEL_FOLDERS) -> list[Case]:
    root = data_root()
    cases = []
    for kind in folders:
        for d in sorted((root / kind).iterdir()) if (root / kind).is_dir() else []:
            try:
                if (d / "model.onnx").is_file():
                    cases.append(_folder_case(d, kind, d.name))
                elif (d / "data.json").is_file():
                    info = json.loads((d / "data.json").read_text())
                    url = info.get("url", "")
                    light = Path(onnx.__file__).parent.parent / url
                    if not url.startswith("onnx/backend/test/data/light/") or not light.is_file():
                        cases.append(Case(d.name, kind, d.name, onnx.ModelProto(), [],
                                          [("no-data", f"model not shipped (would download {url})")]))
                        continue
                    model = onnx.load(str(light))
                    inits = {t.name for t in model.graph.initializer}
                    ins = [_dummy_input(vi) for vi in model.graph.input if vi.name not in inits]
                    outs = []
                    for k in range(len(model.graph.output)):
                        p = light.with_name(f"{light.stem}_output_{k}.pb")
                        outs.append(_load_pb(str(p), None) if p.is_file() else ("no-data", "no reference output"))
                    cases.append(Case(d.name, kind, d.name, model, ins, outs))
            except Exception as e:
                cases.append(Case(d.name, kind, d.name, onnx.ModelProto(), [], [("no-data", f"unreadable: {e}")]))
    return cases


def all_cases(node: bool = True, models: bool = True) -> list[Case]:
    return (node_cases() if node else []) + (model_cases() if models else [])


# ---- compile ----
def _one_line(e: BaseException) -> str:
    s = " ".join(str(e).split())
    return s if s else type(e).__name__


def _non_tensor(x) -> str | None:
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str):
        return x[1] if x[0] == "no-data" else f"{x[0]} values are not supported"
    if isinstance(x, list):
        return "sequence values are not supported"
    if x is None:
        return "optional (absent) values are not supported"
    if isinstance(x, onnx.TensorProto):
        return None
    if not isinstance(x, np.ndarray) and not np.isscalar(x):
        return f"{type(x).__name__} values are not supported"
    return None


def _as_array(x) -> np.ndarray:
    if isinstance(x, onnx.TensorProto):
        return numpy_helper.to_array(x)
    return np.asarray(x)


# ops whose input 0 is a parameter that decides the output's shape (a window's size, Range's start)
_SHAPE_INPUT0 = {"HannWindow", "HammingWindow", "BlackmanWindow", "Range"}


def _freezable(model: onnx.ModelProto, feeds: dict[str, np.ndarray], floats: bool = False) -> list[str]:
    """Graph inputs read only at parameter positions (never a node's input 0, except an If's
    condition, which picks the branch, a Loop's trip count and condition, which fix its
    unrolling, and the size of a window or the start of a Range): the non-float ones, or (floats) also small float ones
    (Resize's scales, OneHot's depth, ...)."""
    pos: dict[str, set[int]] = {}
    for n in model.graph.node:
        for k, i in enumerate(n.input):
            if i:
                control = (n.op_type == "If" and k == 0) or (n.op_type == "Loop" and k in (0, 1)) or \
                    (n.op_type in _SHAPE_INPUT0 and k == 0)
                pos.setdefault(i, set()).add(-1 if control else k)
    outs = {o.name for o in model.graph.output}
    names = []
    for vi in model.graph.input:
        a = feeds.get(vi.name)
        if a is None or vi.name in outs:
            continue
        if np.issubdtype(a.dtype, np.floating) and (not floats or a.size > 16):
            continue
        p = pos.get(vi.name, set())
        if p and 0 not in p:
            names.append(vi.name)
    return names


# (op, input position) pairs that give an output's shape, and ops that pass integer shape values on
_SHAPE_PARAMS = {"Reshape": {1}, "Expand": {1}, "ConstantOfShape": {0}, "Range": {0, 1, 2}, "Tile": {1},
                 "Slice": {1, 2, 3, 4}, "Unsqueeze": {1}, "Squeeze": {1}, "Pad": {1}, "Resize": {2, 3},
                 "Upsample": {1}, "OneHot": {1}, "Split": {1}, "TopK": {1}, "If": {0}, "Loop": {0, 1}}
_SHAPE_CARRIERS = {"Gather", "Slice", "Concat", "Unsqueeze", "Squeeze", "Split", "Identity", "Reshape", "Cast",
                   "If", "Add", "Sub", "Mul", "Div", "Max", "Min", "Neg", "Abs", "Ceil", "Floor", "Round", "Relu"}


def _uses(graph: onnx.GraphProto, holder: onnx.NodeProto | None, out: dict[str, list]) -> None:
    """value name -> [(node, position, the top-level node that holds it)], subgraphs included (a name a
    branch reads from the outer scope counts as read by its node there; results leave through the holder)."""
    for n in graph.node:
        top = holder or n
        for k, i in enumerate(n.input):
            if i:
                out.setdefault(i, []).append((n, k, top))
        for a in n.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                _uses(g, top, out)


def _decides_shapes(model: onnx.ModelProto, name: str) -> bool:
    """Whether the value of input `name`, passed on through integer shape arithmetic (Gather, Slice,
    Concat, ..., If branches), reaches a position that gives an output's shape (Reshape's shape,
    Expand's, ConstantOfShape's, Range's bounds, ...): an input that decides shapes, which a
    static-shape compiler needs at compile time."""
    uses: dict[str, list] = {}
    _uses(model.graph, None, uses)
    seen, todo = {name}, [name]
    while todo:
        v = todo.pop()
        for n, k, top in uses.get(v, []):
            if k in _SHAPE_PARAMS.get(n.op_type, ()):
                return True
            if n.op_type in _SHAPE_CARRIERS:
                outs = [o for o in n.output if o]
                if top is not n:  # inside a branch: the holder's outputs carry it on as well
                    outs += [o for o in top.output if o]
                for o in outs:
                    if o not in seen:
                        seen.add(o)
                        todo.append(o)
    return False


def _shape_inputs(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[str]:
    """The small graph inputs whose values decide shapes (_decides_shapes), wherever else they are read:
    integer ones (a size vector), and float scalars (Range's bounds, which its function body turns into
    a Loop's trip count)."""
    outs = {o.name for o in model.graph.output}

    def small(a: np.ndarray) -> bool:
        return (a.dtype.kind in "iu" and a.size <= 64) or \
            ((a.dtype.kind == "f" or a.dtype.name == "bfloat16") and a.size <= 1)

    return [vi.name for vi in model.graph.input
            if vi.name in feeds and vi.name not in outs and small(np.asarray(feeds[vi.name]))
            and _decides_shapes(model, vi.name)]


def _freeze(model: onnx.ModelProto, feeds: dict[str, np.ndarray], names: Sequence[str]) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    keep = [vi for vi in m.graph.input if vi.name not in names]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    m.graph.initializer.extend(numpy_helper.from_array(feeds[n], n) for n in names)
    return m


@dataclasses.dataclass
class Prepared:
    index: int
    sym: str
    source: str  # the generated model.cpp
    weights_file: str
    weights: bytes
    sets: list[tuple[list[np.ndarray], list[np.ndarray]]]  # (inputs, references) per data set
    out_shapes: list[list[int]]  # the compiled graph's own output shapes: the buffers the code writes
    out_dtypes: list[str]
    disputed: str = ""  # why the references in `sets` are the spec's, not the shipped ones


def spec_references(model: onnx.ModelProto, feeds: dict[str, np.ndarray], refs: Sequence[np.ndarray]
                    ) -> tuple[list[np.ndarray], str] | None:
    """Where onnx's generated reference contradicts the ONNX spec: the spec's outputs and why.

    Today one rule: a Cast/CastLike from a float type to a 4- or 2-bit integer rounds half to even and
    saturates (the spec's int4 document; onnx.numpy_helper.saturate_cast), while onnx's backend test
    generator writes numpy's astype, whose result depends on the installed ml_dtypes (out-of-range
    values wrap in 0.6 and become 0 in 0.7)."""
    from .ops.logic import SUB_BYTE_CAST_RULE, cast_array, sub_byte_int_range

    producer = {o: n for n in model.graph.node for o in n.output}
    spec, diffs = [], []
    for k, (vi, ref) in enumerate(zip(model.graph.output, refs)):
        n = producer.get(vi.name)
        x = feeds.get(n.input[0]) if n is not None and n.op_type in ("Cast", "CastLike") and n.input else None
        if (x is None or sub_byte_int_range(ref.dtype) is None or not (x.dtype.kind == "f" or "float" in x.dtype.name)
                or x.shape != ref.shape):
            spec.append(ref)
            continue
        want = cast_array(x, ref.dtype)
        bad = int(np.count_nonzero(want.astype(np.int8) != ref.astype(np.int8)))
        if bad:
            diffs.append(f"output {k} differs at {bad} of {ref.size} elements")
        spec.append(want)
    if not diffs:
        return None
    import ml_dtypes

    return spec, (f"reference disputed: onnx's expected output (numpy astype with ml_dtypes {ml_dtypes.__version__}) "
                  f"contradicts the spec rule for casts to 4-/2-bit integers ({SUB_BYTE_CAST_RULE}): "
                  f"{'; '.join(diffs)}")


def compile_case(case: Case, index: int) -> tuple[Result, Prepared | None]:
    """Compile one case; returns its result so far (status '' when it compiled) and its sources."""
    from .codegen import generate
    from .compiler import compile_model
    from .errors import O2CError
    from .plan import write_weights

    res = Result(case.name, case.kind, case.op, "", op_class([n.op_type for n in case.model.graph.node],
                                                            model_case=case.kind != "node"))
    for x in [x for ins, outs in case.datasets for x in list(ins) + list(outs)]:
        why = _non_tensor(x)
        if why:
            res.status, res.reason = ("no-data" if isinstance(x, tuple) and x[0] == "no-data" else "unsupported"), why
            return res, None
    sets = [([_as_array(x) for x in i], [_as_array(x) for x in o]) for i, o in case.datasets]
    ins, refs = sets[0]
    inits = {t.name for t in case.model.graph.initializer}
    in_names = [vi.name for vi in case.model.graph.input if vi.name not in inits]
    if len(in_names) != len(ins):
        # some older folders list initializers as inputs with data only for the real ones
        in_names = [vi.name for vi in case.model.graph.input][:len(ins)]
    feeds = dict(zip(in_names, ins))
    sym = f"o2c_case{index}"
    attempts = [(case.model, "")]
    frozen = _freezable(case.model, feeds)
    if frozen:
        attempts.append((_freeze(case.model, feeds, frozen), "params frozen"))
    frozen_f = _freezable(case.model, feeds, floats=True)
    if frozen_f and frozen_f != frozen:
        attempts.append((_freeze(case.model, feeds, frozen_f), "params frozen"))
    shape_in = sorted(set(_shape_inputs(case.model, feeds)) | set(frozen))
    if shape_in and shape_in != sorted(frozen_f) and shape_in != sorted(frozen):
        attempts.append((_freeze(case.model, feeds, shape_in), "params frozen"))
    comp, first_err = None, None
    for model, mode in attempts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                comp = compile_model(model, name=sym)
            res.mode, used = mode, model
            break
        except O2CError as e:
            first_err = e  # the last attempt's reason: what is left with the parameters frozen
        except Exception as e:  # a compiler bug: recorded, never a crash of the harness
            first_err = first_err or e
            if not isinstance(first_err, O2CError):
                break
    if comp is None:
        res.status = "unsupported" if isinstance(first_err, O2CError) else "error"
        res.reason = (_one_line(first_err) if isinstance(first_err, O2CError)
                      else f"{type(first_err).__name__}: {_one_line(first_err)}")
        return res, None
    try:
        g = comp.graph
        if len(g.outputs) != len(refs):
            raise ValueError(f"{len(g.outputs)} outputs, {len(refs)} reference outputs")
        res.placements = [[p.node.op, p.placement, p.reason] for p in comp.plan.nodes]
        if not comp.plan.nodes and res.mode:
            res.mode = "folded"
        with tempfile.TemporaryDirectory() as tmp:
            wpath = Path(tmp) / f"{sym}.weights"
            mid = write_weights(comp.plan, wpath)
            gen = generate(comp.plan, sym, wpath.name, mid, case.name)
            weights = wpath.read_bytes()
        kept = {vi.name for vi in used.graph.input}
        frozen_now = [n for n in feeds if n not in kept]
        prepared_sets, disputes = [], []
        for j, (s_ins, s_refs) in enumerate(sets):
            where = f"data set {j}: " if len(sets) > 1 else ""
            s_feeds = dict(zip(in_names, s_ins))
            for name in frozen_now:  # compiled in as constants from data set 0
                if name in s_feeds and not np.array_equal(s_feeds[name], feeds[name]):
                    raise ValueError(f"{where}input '{name}' differs from data set 0, whose value is compiled in")
            if len(s_refs) != len(g.outputs):
                raise ValueError(f"{where}{len(s_refs)} reference outputs, the model has {len(g.outputs)}")
            ins_cast = []
            for i in g.inputs:
                v, a = g.values[i], s_feeds[i]
                if tuple(a.shape) != v.shape:
                    raise ValueError(f"{where}input '{i}' has shape {list(a.shape)}, the model expects "
                                     f"{list(v.shape)}")
                if a.dtype.kind == "V" and a.dtype.itemsize == np.dtype(v.dtype).itemsize:
                    a = a.view(v.dtype)  # bfloat16 and the like, stored by the test as raw 16-bit values
                ins_cast.append(np.ascontiguousarray(a.astype(v.dtype, copy=False)))
            s_refs = [r.view(np.dtype(g.values[o].dtype)) if r.dtype.kind == "V" and
                      r.dtype.itemsize == np.dtype(g.values[o].dtype).itemsize else r
                      for r, o in zip(s_refs, g.outputs)]
            if case.kind == "node":
                sr = spec_references(case.model, s_feeds, s_refs)
                if sr is not None:
                    s_refs, why = sr
                    disputes.append(where + why)
            prepared_sets.append((ins_cast, s_refs))
        prep = Prepared(index, sym, gen["model.cpp"], wpath.name, weights, prepared_sets,
                        [list(g.values[o].shape) for o in g.outputs], [str(g.values[o].dtype) for o in g.outputs],
                        "; ".join(disputes))
        res.op_class = res.op_class if case.kind != "node" else op_class(
            [n.op_type for n in case.model.graph.node] + [p[0] for p in res.placements])
        return res, prep
    except Exception as e:
        res.status, res.reason = "error", f"{type(e).__name__}: {_one_line(e)}"
        return res, None


# ---- build: many cases per translation unit ----
_INCLUDE_RE = re.compile(r"^#(include|define O2C_EXPORT)\b.*$", re.M)


def _batch_source(preps: Sequence[Prepared]) -> str:
    parts = ["// onnx2cedr conformance batch: generated sources, one namespace per case\n",
             "#include <cstdint>\n#include <cmath>\n#include <cstdio>\n#include <cstring>\n#include <mutex>\n#include <pthread.h>\n",
             '#include "dash_ml.h"\n#include "o2c_kernels.h"\n#include "o2c_model.h"\n',
             '#define O2C_EXPORT extern "C" __attribute__((visibility("default")))\n']
    for p in preps:
        body = _INCLUDE_RE.sub("", p.source)
        parts.append(f"\n#define o2c_model_info o2c_model_info_{p.sym}\nnamespace {p.sym}_ns {{\n{body}\n}}\n"
                     f"#undef o2c_model_info\n")
    return "".join(parts)


def _build_batch(preps: Sequence[Prepared], work: Path, kl) -> Path:
    """Compile and link one shared object for a batch (cached by content); weights beside it."""
    from .build import _run, build_once, cache_root

    src = _batch_source(preps)
    h = hashlib.blake2b(digest_size=16)
    h.update(kl.key.encode())
    h.update(src.encode())
    key = h.hexdigest()
    final = cache_root() / "conformance" / key

    def build(tmp: Path) -> None:
        (tmp / "batch.cpp").write_text(src)
        # -O1: the generated code only calls kernels; optimizing it hard buys nothing here
        flags = [f for f in kl.flags if not f.startswith("-O")] + ["-O1"]
        _run(kl.cxx.split() + flags + ["-fvisibility=hidden", "-I", str(kl.include), "-c", str(tmp / "batch.cpp"),
                                       "-o", str(tmp / "batch.o")], "compiling a conformance batch")
        _run(kl.cxx.split() + ["-pthread", "-shared", str(tmp / "batch.o"), str(kl.inline), str(kl.core),
                               "-Wl,--exclude-libs,ALL", "-ldl", "-o", str(tmp / "libbatch.so")],
             "linking a conformance batch")
        (tmp / "batch.o").unlink()

    build_once(final, key, build)
    out = work / f"batch_{key[:12]}"
    out.mkdir(parents=True, exist_ok=True)
    lib = out / "libbatch.so"
    if not lib.exists():  # a copy, not a link: the library finds its weights files beside itself
        shutil.copy2(final / "libbatch.so", lib)
    for p in preps:
        (out / p.weights_file).write_bytes(p.weights)
    return out


# ---- run (in a child process) ----
def _type_eps(dt: np.dtype) -> float:
    try:
        return float(np.finfo(dt).eps)
    except (TypeError, ValueError):
        import ml_dtypes  # bfloat16 and the float8 types

        return float(ml_dtypes.finfo(dt).eps)


def compare(ours: Sequence[np.ndarray], refs: Sequence[np.ndarray], cls: str) -> tuple[bool, str, float]:
    worst = 0.0
    for k, (o, r) in enumerate(zip(ours, refs)):
        rtol, atol = TOLERANCES[cls]
        r = np.asarray(r)
        if r.dtype.kind == "V" and r.dtype.itemsize == o.dtype.itemsize:
            r = r.view(o.dtype)  # bfloat16 comes back from .npz as raw 16-bit values
        if o.shape != r.shape:
            return False, f"output {k}: shape {list(o.shape)}, reference {list(r.shape)}", worst
        if o.dtype != r.dtype:
            return False, f"output {k}: dtype {o.dtype}, reference {r.dtype}", worst
        if not r.size:
            continue
        is_float = r.dtype.kind in "fc" or "float" in r.dtype.name  # ml_dtypes' bfloat16/float8 are kind 'V'
        if is_float and r.dtype.itemsize < 4 and cls != "exact":
            # float16/bfloat16: kernels compute in float and round once per op where the reference
            # may round after every step; the tolerance is at least one unit of the type's precision
            eps = _type_eps(r.dtype)
            rtol, atol = max(rtol, eps), max(atol, eps)
        if not is_float:
            bad = int(np.count_nonzero(o != r))
            if bad:
                return False, f"output {k}: {bad} of {r.size} elements differ (exact)", worst
            continue
        of, rf = o.astype(np.float64), r.astype(np.float64)
        nan_ok = np.isnan(of) == np.isnan(rf)
        inf_ok = np.where(np.isinf(rf), of == rf, True)
        if not nan_ok.all() or not inf_ok.all():
            return False, f"output {k}: NaN/Inf pattern differs", worst
        fin = np.isfinite(rf)
        diff = np.abs(of[fin] - rf[fin])
        lim = atol + rtol * np.abs(rf[fin])
        if diff.size:
            worst = max(worst, float(np.max(diff)))
        if np.any(diff > lim):
            i = int(np.argmax(diff - lim))
            return False, (f"output {k}: max abs err {float(diff.max()):.3g} over tolerance "
                           f"(rtol {rtol:g}, atol {atol:g}; ref {float(rf[fin][i]):.6g}, ours {float(of[fin][i]):.6g})"), worst
    return True, "", worst


def _run_child(manifest: Path) -> None:
    """Child: run every case of a batch manifest; one JSON line per case (a 'start' line first,
    so that the parent knows which case was running if this process dies)."""
    import ctypes

    from .runner import actual_view

    m = json.loads(manifest.read_text())
    lib = ctypes.CDLL(m["lib"], mode=ctypes.RTLD_LOCAL)
    pp = ctypes.POINTER(ctypes.c_void_p)
    data = np.load(m["data"], allow_pickle=False)
    out = sys.stdout
    for c in m["cases"]:
        out.write(json.dumps({"start": c["sym"]}) + "\n")
        out.flush()
        # _run_shaped: the outputs' actual shapes (a dimension known only at run time: its extent)
        fn = getattr(lib, f"{c['sym']}_run_shaped")
        fn.argtypes = [pp, pp, ctypes.POINTER(ctypes.c_int64)]
        fn.restype = ctypes.c_int
        ok, why, worst = True, "", 0.0
        for j in range(c["n_sets"]):
            where = f"data set {j}: " if c["n_sets"] > 1 else ""
            ins = [data[f"{c['sym']}_s{j}_in{k}"] for k in range(c["n_in"])]
            refs = [data[f"{c['sym']}_s{j}_ref{k}"] for k in range(c["n_out"])]
            # the buffers have the compiled graph's own shapes, so a shape the compiler got wrong shows
            outs = [np.empty(tuple(s), dtype=np.dtype(dt)) for s, dt in zip(c["out_shapes"], c["out_dtypes"])]
            ip = (ctypes.c_void_p * max(len(ins), 1))(*[a.ctypes.data for a in ins])
            op = (ctypes.c_void_p * max(len(outs), 1))(*[a.ctypes.data for a in outs])
            shapes = np.zeros((max(len(outs), 1), 8), np.int64)
            rc = fn(ip, op, shapes.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)))
            if rc == 0:
                outs = [actual_view(a, shapes[k, :a.ndim]) for k, a in enumerate(outs)]
            if rc != 0:
                le = getattr(lib, f"{c['sym']}_last_error")
                le.restype = ctypes.c_char_p
                msg = (le() or b"").decode(errors="replace")
                ok, why = False, f"{where}the model returned code {rc}: {msg}"
                break
            ok, why, err = compare(outs, refs, c["cls"])
            worst = max(worst, err)
            if not ok:
                why = where + why
                break
        out.write(json.dumps({"sym": c["sym"], "ok": ok, "reason": why, "err": worst}) + "\n")
        out.flush()


def _run_batch(batch_dir: Path, preps: Sequence[Prepared], results: dict[int, Result]) -> None:
    arrays = {}
    cases = []

    def storable(a: np.ndarray) -> np.ndarray:
        # ml_dtypes' types (bfloat16, float8, int4, ...) as raw bytes: .npy cannot name all of them
        return a.view(f"V{a.dtype.itemsize}") if a.dtype.type.__module__.split(".")[0] == "ml_dtypes" else a

    for p in preps:
        for j, (ins, refs) in enumerate(p.sets):
            for k, a in enumerate(ins):
                arrays[f"{p.sym}_s{j}_in{k}"] = storable(a)
            for k, a in enumerate(refs):
                arrays[f"{p.sym}_s{j}_ref{k}"] = storable(np.asarray(a))
        r = results[p.index]
        cases.append({"sym": p.sym, "n_sets": len(p.sets), "n_in": len(p.sets[0][0]), "n_out": len(p.out_shapes),
                      "out_dtypes": p.out_dtypes, "out_shapes": p.out_shapes, "cls": r.op_class})
    np.savez(batch_dir / "data.npz", **arrays)
    by_sym = {p.sym: p for p in preps}
    todo = cases
    while todo:
        man = batch_dir / "manifest.json"
        man.write_text(json.dumps({"lib": str(batch_dir / "libbatch.so"), "data": str(batch_dir / "data.npz"),
                                   "cases": todo}))
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parent.parent)
                   + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run([sys.executable, "-m", "onnx2cedr.conformance", "--run-child", str(man)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=600)
        running, done = None, set()
        for line in proc.stdout.splitlines():
            d = json.loads(line)
            if "start" in d:
                running = d["start"]
                continue
            running = None
            p = by_sym[d["sym"]]
            r = results[p.index]
            r.status = ("disputed" if p.disputed else "pass") if d["ok"] else "mismatch"
            r.reason, r.max_err = (p.disputed + "; ours follows the rule") if d["ok"] and p.disputed else \
                (d["reason"] + (" (against the spec's reference: " + p.disputed + ")" if p.disputed else "")), d["err"]
            done.add(d["sym"])
        rest = [c for c in todo if c["sym"] not in done]
        if not rest:
            break
        if running is None:  # the child failed before running anything
            for c in rest:
                r = results[by_sym[c["sym"]].index]
                r.status, r.reason = "crash", (proc.stderr.strip().splitlines() or ["the runner failed"])[-1][:300]
            break
        r = results[by_sym[running].index]
        r.status, r.reason = "crash", f"the generated code crashed (exit {proc.returncode})"
        todo = [c for c in rest if c["sym"] != running]


def run_cases(cases: Sequence[Case], work: str | os.PathLike | None = None, batch_size: int = 80,
              jobs: int | None = None, progress=None) -> list[Result]:
    """Compile, build (batched) and run every case; returns one Result per case, in order."""
    from .build import KernelLib
    from .errors import BuildError

    t0 = time.perf_counter()
    jobs = jobs or min(os.cpu_count() or 2, 4)
    results: dict[int, Result] = {}
    preps: list[Prepared] = []
    for k, c in enumerate(cases):
        r, p = compile_case(c, k)
        results[k] = r
        if p is not None:
            preps.append(p)
    if progress:
        progress(f"compiled {len(cases)} cases ({len(preps)} to build) in {time.perf_counter() - t0:.1f} s")
    kl = KernelLib().ensure()
    tmp_ctx = tempfile.TemporaryDirectory(prefix="o2c-conformance-") if work is None else None
    root = Path(tmp_ctx.name if tmp_ctx else work)
    root.mkdir(parents=True, exist_ok=True)
    batches = [preps[i:i + batch_size] for i in range(0, len(preps), batch_size)]

    def do_batch(batch: list[Prepared]) -> None:
        try:
            d = _build_batch(batch, root, kl)
        except BuildError as e:
            if len(batch) == 1:
                r = results[batch[0].index]
                r.status, r.reason = "build-error", _one_line(e)
                return
            half = len(batch) // 2  # find the case that breaks the build
            do_batch(batch[:half])
            do_batch(batch[half:])
            return
        _run_batch(d, batch, results)

    try:
        with cf.ThreadPoolExecutor(max_workers=jobs) as ex:
            list(ex.map(do_batch, batches))
    finally:
        if tmp_ctx:
            tmp_ctx.cleanup()
    if progress:
        progress(f"built and ran {len(batches)} batches; total {time.perf_counter() - t0:.1f} s")
    return [results[k] for k in range(len(cases))]


# ---- summaries, the pass set and the report ----
_RAN = ("pass", "disputed", "mismatch", "crash")  # built and run


def case_key(r: Result) -> str:
    return f"{r.kind}/{r.name}"


def write_pass_set(results: Sequence[Result], path: str | os.PathLike) -> int:
    """Write the cases that compute the right numbers (pass, or disputed: ours follows the spec where
    the shipped reference does not), one 'kind/name' a line: the set the test suite holds us to."""
    keys = sorted({case_key(r) for r in results if r.status in ("pass", "disputed")})
    Path(path).write_text("# Conformance cases that pass (or follow the spec where onnx's reference is disputed).\n"
                          "# The suite fails when one of them stops passing. Rewrite after a change that makes more\n"
                          "# pass: onnx2cedr conformance --save-passing tests/conformance_passing.txt\n"
                          + "".join(k + "\n" for k in keys))
    return len(keys)


def read_pass_set(path: str | os.PathLike) -> set[str]:
    return {ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip() and not ln.startswith("#")}


def lost_cases(results: Sequence[Result], pass_set: set[str]) -> list[str]:
    """Cases of the pass set that no longer pass, each with its status and reason (a case of the set
    that was not collected at all is lost too)."""
    by_key = {case_key(r): r for r in results}
    lost = []
    for k in sorted(pass_set):
        r = by_key.get(k)
        if r is None:
            lost.append(f"{k} (not collected)")
        elif r.status not in ("pass", "disputed"):
            lost.append(f"{k} ({r.status}: {r.reason})")
    return lost


_PROBE = [-9, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 7.5, 16]


def _describe_int4_cast(got: list[int]) -> str:
    """Words for what a float -> int4 cast did on _PROBE."""
    v = dict(zip(_PROBE, got))
    rounding = ("rounds half away from zero" if (v[0.5], v[2.5], v[-2.5]) == (1, 3, -3) else
                "rounds half to even" if (v[0.5], v[1.5], v[2.5]) == (0, 2, 2) else
                "truncates toward zero" if (v[1.5], v[-1.5]) == (1, -1) else "rounds in some other way")
    oor = {-8: "saturates", 7: "keeps the low bits (wraps)", 0: "gives 0"}.get(v[-9], f"gives {v[-9]} for -9")
    return f"{rounding} and {oor} out of range"


def onnxruntime_sub_byte_casts() -> tuple[str, list[str]]:
    """What the installed onnxruntime does for float -> 4-/2-bit integer casts, probed, beside the spec rule:
    (a description of its int4 cast, one table row per type)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from .ops.logic import cast_array

    probe = np.array(_PROBE, np.float32)
    lines, words = [], "could not be probed"
    for name, code in (("int4", TensorProto.INT4), ("uint4", TensorProto.UINT4), ("int2", TensorProto.INT2),
                       ("uint2", TensorProto.UINT2)):
        g = helper.make_graph([helper.make_node("Cast", ["x"], ["c"], to=code),
                               helper.make_node("Cast", ["c"], ["y"], to=TensorProto.FLOAT)], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [probe.size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [probe.size])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 25)])  # int2/uint2: opset 25, IR 11
        m.ir_version = 11
        try:
            so = ort.SessionOptions()
            so.log_severity_level = 3
            got = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
                None, {"x": probe})[0].astype(int).tolist()
            if name == "int4":
                words = _describe_int4_cast(got)
        except Exception as e:  # an onnxruntime without the type
            got = f"not run ({_one_line(e)[:80]})"
        import ml_dtypes

        spec = cast_array(probe, getattr(ml_dtypes, name)).astype(int).tolist()
        lines.append(f"| {name} | {spec} | {got} |")
    return words, lines


def summarize(results: Sequence[Result]) -> dict[str, Any]:
    node = [r for r in results if r.kind == "node"]
    by_status: dict[str, int] = {}
    for r in node:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    by_class: dict[str, list[int]] = {}
    for r in results:
        if r.status in _RAN:
            v = by_class.setdefault(r.op_class, [0, 0])
            v[0] += r.passed
            v[1] += 1
    return {"node_pass": sum(r.passed for r in node), "node_total": len(node),
            "node_disputed": sum(r.status == "disputed" for r in node),
            "failures": [r for r in results if r.status in FAILURES],
            "node_folded": sum(r.passed and r.mode == "folded" for r in node),
            "node_frozen": sum(r.passed and r.mode == "params frozen" for r in node),
            "by_status": by_status, "by_class": by_class,
            "models": {r.name: r for r in results if r.kind != "node"}}


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def render_report(results: Sequence[Result]) -> str:
    """The markdown report (docs/ops.md): a function of the results and the installed packages only,
    so that a test can check that the committed file is what a run writes today."""
    from .ops import all_ops

    s = summarize(results)
    node = [r for r in results if r.kind == "node"]
    models = [r for r in results if r.kind != "node"]
    lines = ["# Supported ops and ONNX conformance", "",
             "Generated by `onnx2cedr conformance --write docs/ops.md` (do not edit by hand): every backend node "
             f"test of onnx {onnx.__version__} and every case of its model folders, compiled, built and run, with "
             "outputs compared to the reference data under a tolerance chosen by op class.", "",
             f"**Node test cases: {s['node_pass']} of {s['node_total']} pass**"
             f" ({s['node_frozen']} with shape/parameter inputs frozen to constants, {s['node_folded']} folded "
             f"entirely at compile time); {s['node_disputed']} follow the spec where onnx's reference is disputed "
             "(below).",
             f"Model-folder cases: {sum(r.passed for r in models)} of {len(models)} pass.", "",
             "Status of the node cases: " + ", ".join(f"{k} {v}" for k, v in sorted(s["by_status"].items())) + ".",
             "A case passes only when every output of every data set matches the reference, in shape, element "
             "type and value; the outputs are written into buffers of the compiled graph's own shapes. "
             "`mismatch`, `crash`, `error` (the compiler raised something other than its one-line refusal) and "
             "`build-error` are bugs: the pytest suite fails on any, and on any case that leaves the pass set "
             "(`tests/conformance_passing.txt`). `unsupported` cases stop at compile time with the reason shown; "
             "`no-data` cases have no reference data in the wheel.", "",
             "| op class | tolerance (rtol, atol) | cases built and run | pass |", "|---|---|---|---|"]
    for cls in _ORDER:
        v = s["by_class"].get(cls, [0, 0])
        rt, at = TOLERANCES[cls]
        lines.append(f"| {cls} | {rt:g}, {at:g} | {v[1]} | {v[0]} |")
    from .ops.logic import SUB_BYTE_CAST_RULE

    disputed = [r for r in results if r.status == "disputed"]
    ort_words, ort_rows = onnxruntime_sub_byte_casts()
    lines += ["", "## Disputed references", "",
              "Casts from a float type to a 4- or 2-bit integer follow the ONNX spec: "
              f"{SUB_BYTE_CAST_RULE} (the spec's int4 document; `onnx.numpy_helper.saturate_cast`). The "
              "expected outputs of onnx's backend cases are written with numpy's `astype` to ml_dtypes' types "
              "instead, whose result depends on the installed ml_dtypes (0.6 wraps out-of-range values, 0.7 makes "
              "them 0). Where the shipped reference contradicts the rule, the case is `disputed`: our outputs are "
              "checked against the rule instead, and the case counts neither as a pass nor as a mismatch "
              "(`onnx2cedr conformance` prints the ml_dtypes version and the elements that differ). "
              f"{len(disputed)} cases: {_md(', '.join(r.name for r in disputed)) or 'none'}.", "",
              f"onnxruntime {_ort_version()}, probed on the inputs below (float32 -> type -> float32), "
              f"{ort_words} (to int4); the spec rounds half to even and saturates:", "",
              f"| type | input {_PROBE}: spec rule (ours) | onnxruntime |",
              "|---|---|---|"] + ort_rows
    lines += ["", "## Model folders", "", "| folder | case | class | result |", "|---|---|---|---|"]
    for r in models:
        lines.append(f"| {r.kind} | {r.name} | {r.op_class} | {'pass' if r.passed else _md(r.status + ': ' + r.reason)} |")
    # per op
    per_op: dict[str, list[Result]] = {}
    for r in node:
        per_op.setdefault(r.op, []).append(r)
    lines += ["", "## Node tests per op", "",
              "| op | pass / total | class | failing cases and reasons |", "|---|---|---|---|"]
    for op in sorted(per_op):
        rs = per_op[op]
        bad = [r for r in rs if not r.passed]
        reasons: dict[str, list[str]] = {}
        for r in bad:  # disputed: the version-independent words (the report must not depend on ml_dtypes)
            why = "reference disputed, ours follows the spec (see above)" if r.status == "disputed" else r.reason
            reasons.setdefault(f"{r.status}: {why}", []).append(r.name)
        txt = "; ".join(f"{', '.join(n[5:] if n.startswith('test_') else n for n in names[:3])}"
                        f"{' +' + str(len(names) - 3) if len(names) > 3 else ''}: {why[:160]}"
                        for why, names in sorted(reasons.items(), key=lambda x: -len(x[1])))
        cls = sorted({r.op_class for r in rs}, key=_ORDER.index)
        lines.append(f"| {op} | {sum(r.passed for r in rs)} / {len(rs)} | {', '.join(cls)} | {_md(txt)} |")
    # per CEDR API
    apis = sorted({o.api for o in all_ops() if o.api})
    lines += ["", "## CEDR APIs: which cases map to them and which fall back", ""]
    for api in apis:
        mapped: dict[str, list[str]] = {}
        fell: dict[str, list[str]] = {}
        ops_of_api = {o.op_type for o in all_ops() if o.api == api}
        for r in results:
            if r.status not in _RAN:
                continue
            for op, placement, reason in r.placements:
                if placement == api:
                    mapped.setdefault(op, []).append(r.name)
                elif op in ops_of_api and placement == "cpu":
                    fell.setdefault(f"{op}: {reason}", []).append(r.name)
        lines.append(f"### {api}")
        lines.append("")
        if mapped:
            for op, names in sorted(mapped.items()):
                u = sorted(set(names))
                lines.append(f"- {op} on {api}: {len(u)} cases ({_md(', '.join(u[:8]))}{' ...' if len(u) > 8 else ''})")
        else:
            lines.append("- no case maps to it")
        for why, names in sorted(fell.items()):
            u = sorted(set(names))
            lines.append(f"- CPU fallback, {_md(why)}: {len(u)} cases ({_md(', '.join(u[:6]))}"
                         f"{' ...' if len(u) > 6 else ''})")
        lines.append("")
    lines += ["## The op table (`onnx2cedr ops`)", "", "| op | opsets | dtypes | CEDR API / fallback | constraints |",
              "|---|---|---|---|---|"]
    for row in op_table():
        lines.append(f"| {row['op']} | {row['opsets']} | {', '.join(row['dtypes'])} | {row['maps_to']} | "
                     f"{_md(row['notes'])} |")
    return "\n".join(lines) + "\n"


def op_table() -> list[dict[str, Any]]:
    """Every registered op: opset range, dtypes, CEDR API or CPU fallback, constraints."""
    from .ir import INTERNAL_OPSET
    from .ops import all_ops

    since: dict[tuple[str, str], int] = {}
    for sch in onnx.defs.get_all_schemas_with_history():
        k = (sch.domain, sch.name)
        since[k] = min(since.get(k, sch.since_version), sch.since_version)
    from .opset_fixups import EXT_DOMAIN

    rows = []
    for o in all_ops():
        if o.domain == EXT_DOMAIN:
            continue  # the internal stand-in of a standard op newer than INTERNAL_OPSET, listed by its own name
        first = since.get((o.domain, o.op_type))
        lo = max(first or 7, 7)
        rows.append({"op": (o.domain + "." if o.domain else "") + o.op_type,
                     "opsets": f"{lo}-{INTERNAL_OPSET}+" if lo <= INTERNAL_OPSET else f"{lo}+",
                     "dtypes": ["any"] if not o.dtypes else [str(np.dtype(d)) for d in o.dtypes],
                     "maps_to": "compile time" if o.fold_only else (f"{o.api} (else CPU)" if o.api else "CPU (inline)"),
                     "notes": o.summary + (f"; {o.constraints}" if getattr(o, "constraints", "") else "")})
    return rows


def run_suite(work=None, progress=None, node: bool = True, models: bool = True,
              only: str | None = None) -> tuple[list[Result], float]:
    t0 = time.perf_counter()
    from .errors import O2CError

    rx = None
    if only:
        try:
            rx = re.compile(only)
        except re.error as e:
            raise O2CError(f"--only: not a regular expression: {e}") from None
    cases = all_cases(node, models)
    if rx is not None:
        cases = [c for c in cases if rx.search(c.name) or rx.fullmatch(c.op)]
        if not cases:
            raise O2CError(f"--only {only!r} matches no case")
    res = run_cases(cases, work, progress=progress)
    return res, time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    """The child runner (``--run-child``); everything else is ``onnx2cedr conformance``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m onnx2cedr.conformance")
    ap.add_argument("--run-child", required=True, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    _run_child(Path(args.run_child))
    return 0


if __name__ == "__main__":
    sys.exit(main())
