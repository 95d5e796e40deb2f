"""Validation: the same inputs through onnxruntime (the golden reference) and the built library."""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import onnx

from .compiler import convert
from .errors import ModelError, O2CError
from .quantize.qonnx import has_qonnx, to_standard
from .runner import ModelLibrary

ORT_MAX_IR = 10

# An element is "tiny" when |ref| < TINY * max|ref| of its output (per sample). Float32 rounding
# error is absolute with respect to the magnitudes flowing into an element (about the output's
# largest values), not to the element itself: on the zoo's tiny_yolo it is ~1.2e-6 * max|ref|
# everywhere, so an element of 1e-3 * max|ref| carries ~1e-3 relative error from rounding alone.
# Below 1e-2 * max|ref| an element-wise relative bound of 1e-4 would fail correct models; tiny
# elements are held to the scale rule only.
TINY = 1e-2


@dataclasses.dataclass
class OutputReport:
    name: str
    shape: list[int]
    max_abs_err: float
    max_rel_err: float  # max |ours - ref| / max |ref|, worst sample
    min_cosine: float
    top1: float | None  # agreement fraction, classifier-shaped outputs only
    top5: float | None
    passed: bool
    # max |ours - ref| / |ref| over the elements that are not tiny (|ref| >= TINY * max|ref|), worst sample
    max_elem_rel_err: float = 0.0
    # a quantized output (made by a DequantizeLinear or QuantizeLinear of scalar scale): its errors in
    # steps of that scale (LSBs); it passes when no element is off by more than one
    lsb_scale: float | None = None
    max_lsb: int | None = None
    lsb_elements: int = 0  # elements (over all samples) off by one LSB or more

    @property
    def lsb_summary(self) -> str | None:
        if self.max_lsb is None:
            return None
        return "exact" if self.max_lsb == 0 else f"max {self.max_lsb} LSB ({self.lsb_elements} elements)"

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "quantized": self.lsb_summary}


@dataclasses.dataclass
class LayerReport:
    node: str
    op: str
    tensor: str
    max_abs_err: float
    max_rel_err: float
    passed: bool
    max_elem_rel_err: float = 0.0


@dataclasses.dataclass
class Comparison:
    """One output of one sample against the reference (see close())."""

    max_abs_err: float
    max_rel_err: float       # max |ours - ref| / max |ref|
    max_elem_rel_err: float  # max |ours - ref| / |ref| over the elements that are not tiny
    cosine: float
    passed: bool


@dataclasses.dataclass
class ValidationReport:
    model: str
    samples: int
    rtol: float
    atol: float
    outputs: list[OutputReport]
    layers: list[LayerReport] | None = None
    accuracy: dict[str, float] | None = None  # with labels: {'ours': .., 'onnxruntime': ..}
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    @property
    def first_divergence(self) -> LayerReport | None:
        for layer in self.layers or []:
            if not layer.passed:
                return layer
        return None

    def as_dict(self) -> dict[str, Any]:
        d = {"model": self.model, "samples": self.samples, "rtol": self.rtol, "atol": self.atol,
             "passed": self.passed, "outputs": [o.as_dict() for o in self.outputs], "notes": self.notes,
             "accuracy": self.accuracy}
        if self.layers is not None:
            d["layers"] = [dataclasses.asdict(x) for x in self.layers]
            fd = self.first_divergence
            d["first_divergence"] = None if fd is None else dataclasses.asdict(fd)
        return d


def _ort_session(model, notes: list[str], extra_outputs: Sequence[str] = ()):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    # The reference computes the graph as written: onnxruntime 1.31's graph rewrites are not always
    # exact (its Pad+MaxPool fusion pads a max pool with zeros), so they are off here.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if isinstance(model, onnx.ModelProto):
        proto, base = model, None
    else:
        proto, base = None, Path(model)
    if proto is None and not extra_outputs:
        try:
            return ort.InferenceSession(str(base), so, providers=["CPUExecutionProvider"])
        except Exception as e:
            if "IR version" not in str(e) and "ir_version" not in str(e):
                proto = onnx.load(str(base), load_external_data=True)
                if not has_qonnx(proto):  # QONNX quantizers: run in standard ops below
                    raise ModelError(f"onnxruntime cannot load the model: {str(e).splitlines()[0][:300]}") from None
    if proto is None:
        proto = onnx.load(str(base), load_external_data=True)
    else:
        p2 = onnx.ModelProto()
        p2.CopyFrom(proto)
        proto = p2
    if has_qonnx(proto):
        proto = to_standard(proto)
        note = ("onnxruntime cannot run QONNX's Quant / BipolarQuant: the reference runs them written in "
                "standard ONNX ops by onnx2cedr (quantize/qonnx.py, the recipe the compiler lowers them with)")
        if note not in notes:  # once, though the per-layer run opens a second session
            notes.append(note)
    if proto.ir_version > ORT_MAX_IR:
        notes.append(f"the model declares IR version {proto.ir_version}; the reference run declared "
                     f"{ORT_MAX_IR} for onnxruntime")
        proto.ir_version = ORT_MAX_IR
    have = {o.name for o in proto.graph.output}
    for name in extra_outputs:
        if name not in have:
            proto.graph.output.append(onnx.helper.ValueInfoProto(name=name))
    try:
        blob = proto.SerializeToString()
        if len(blob) < 2**31 - 1:
            return ort.InferenceSession(blob, so, providers=["CPUExecutionProvider"])
        with tempfile.TemporaryDirectory() as d:  # > 2 GB: go through external data
            p = os.path.join(d, "m.onnx")
            onnx.save(proto, p, save_as_external_data=True)
            return ort.InferenceSession(p, so, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ModelError(f"onnxruntime cannot load the model: {str(e).splitlines()[0][:300]}") from None


def load_inputs(path: str | os.PathLike, lib: ModelLibrary, exclude: Sequence[str] = ()) -> list[list[np.ndarray]]:
    """Samples from an .npz (keys: input names, or arr_0.. in order, or for a one-input model the one
    array whose shape fits); a leading extra axis holds samples."""
    try:
        z = np.load(path)
    except Exception as e:
        raise O2CError(f"cannot read inputs '{path}': {str(e).splitlines()[0]}") from None
    arrays = []
    for k, (name, dt, shape) in enumerate(lib.inputs):
        key = name if name in z.files else f"arr_{k}" if f"arr_{k}" in z.files else None
        if key is None and len(lib.inputs) == 1:  # one input: the one array whose shape fits
            fits = [f for f in z.files if f not in exclude and _samples_of(z[f], shape) is not None]
            key = fits[0] if len(fits) == 1 else None
        if key is None:
            raise O2CError(f"inputs file '{path}' has no array for input '{name}' (keys: {', '.join(z.files)})")
        a = _samples_of(z[key], shape)
        if a is None:
            raise O2CError(f"inputs '{key}' has shape {list(z[key].shape)}; expected {list(shape)}, "
                           f"[N, *{list(shape)}] or samples stacked along the batch axis")
        arrays.append(a.astype(dt))
    n = {len(a) for a in arrays}
    if len(n) != 1:
        raise O2CError(f"inputs file '{path}' holds different sample counts per input")
    return [[a[i] for a in arrays] for i in range(n.pop())]


def _samples_of(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """View an array as [samples, *shape]: one sample, a leading samples axis, or samples stacked
    along the batch (first) axis."""
    if tuple(a.shape) == shape:
        return a[None]
    if tuple(a.shape[1:]) == shape:
        return a
    if shape and a.ndim == len(shape) and tuple(a.shape[1:]) == shape[1:] and a.shape[0] % shape[0] == 0:
        return a.reshape((a.shape[0] // shape[0],) + shape)
    return None


def ort_feeds(sess, lib: ModelLibrary, sample: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """onnxruntime's feeds for one sample of the compiled model's inputs: by position, or, when
    inputs were bound at compile time (--const; model.json's bound_inputs), by name with the bound
    inputs fed their values (the reference runs the original model)."""
    names = [i.name for i in sess.get_inputs()]
    bound = {b["name"]: np.asarray(b["value"], dtype=b["dtype"]).reshape(b["shape"])
             for b in lib.desc.get("bound_inputs", [])}
    if not bound:
        return dict(zip(names, sample))
    feeds = {**dict(zip([n for n, _, _ in lib.inputs], sample)), **bound}
    return {n: feeds[n] for n in names if n in feeds}


def random_inputs(lib: ModelLibrary, samples: int, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(samples):
        s = []
        for _, dt, shape in lib.inputs:
            if np.issubdtype(dt, np.floating):
                s.append(rng.standard_normal(shape).astype(dt))
            else:
                s.append(rng.integers(0, 4, shape).astype(dt))
        out.append(s)
    return out


def _is_classifier(shape) -> bool:
    return len(shape) == 2 and shape[-1] > 1


def compare(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """(max abs error, max abs error / max |ref|, cosine similarity)."""
    c = close(ours, ref, 0.0, 0.0)
    return c.max_abs_err, c.max_rel_err, c.cosine


def close(ours: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> Comparison:
    """Compare one output with its reference. It passes when

    - non-finite values sit at the same places and are equal (inf with inf, NaN with NaN),
    - the scale rule holds: max |ours - ref| <= max(atol, rtol * max|ref|), and
    - every element that is not tiny (|ref| >= TINY * max|ref|) holds element-wise:
      |ours - ref| <= atol + rtol * |ref| (numpy.isclose's rule).

    Tiny elements are judged by the scale rule alone: their rounding error follows the output's
    largest magnitudes, not their own (see TINY). Integer and boolean outputs keep the scale rule
    with max|ref| taken as 1, i.e. they must be exact at the default tolerances."""
    o = ours.astype(np.float64).ravel()
    r = ref.astype(np.float64).ravel()
    if o.size == 0:
        return Comparison(0.0, 0.0, 0.0, 1.0, True)
    if ours.dtype == np.bool_ or np.issubdtype(ours.dtype, np.integer):
        d = float(np.max(np.abs(o - r)))
        return Comparison(d, d, d, 1.0, d <= atol or d <= rtol)
    nf_o, nf_r = o[~np.isfinite(o)], r[~np.isfinite(r)]
    if not np.array_equal(np.isfinite(o), np.isfinite(r)) or not np.array_equal(nf_o, nf_r, equal_nan=True):
        inf = float("inf")
        return Comparison(inf, inf, inf, 0.0, False)
    fin = np.isfinite(o)
    o, r = o[fin], r[fin]
    diff = np.abs(o - r)
    mabs = float(diff.max()) if diff.size else 0.0
    mag = np.abs(r)
    scale = float(mag.max()) if mag.size else 0.0
    rel = mabs / scale if scale > 0 else (0.0 if mabs == 0 else float("inf"))
    big = mag >= TINY * scale if scale > 0 else np.zeros(mag.shape, bool)
    elem_rel = float((diff[big] / mag[big]).max()) if big.any() else 0.0
    scale_ok = mabs <= atol or rel <= rtol
    elem_ok = bool(np.all(diff[big] <= atol + rtol * mag[big]))
    no, nr = np.linalg.norm(o), np.linalg.norm(r)
    cos = float(np.dot(o, r) / (no * nr)) if no > 0 and nr > 0 else (1.0 if no == nr else 0.0)
    return Comparison(mabs, rel, elem_rel, cos, scale_ok and elem_ok)


def match_outputs(ours: Sequence[str], ref: Sequence[str]) -> list[int]:
    """For each compiled output, the index of the onnxruntime output it is compared with: the one
    of the same name where there is one, else the unclaimed ones in order. Different counts are an
    error (a dropped or invented output is a compiler fault, never zipped away)."""
    if len(ours) != len(ref):
        raise ModelError(f"onnxruntime gives {len(ref)} output(s) ({_names(ref)}), the compiled model "
                         f"{len(ours)} ({_names(ours)})")
    by_name = {n: k for k, n in enumerate(ref)}
    order: list[int | None] = [by_name.get(n) for n in ours]
    claimed = set(order)
    free = iter(k for k in range(len(ref)) if k not in claimed)
    return [k if k is not None else next(free) for k in order]


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names) or "none"


def quantized_outputs(model) -> dict[str, float]:
    """Outputs of a QDQ model made by a DequantizeLinear (or QuantizeLinear) with a scalar constant scale:
    name -> the size of one quantization step in the output's own values (the scale; 1 for the
    integers a QuantizeLinear gives)."""
    try:
        proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model), load_external_data=False)
    except Exception:
        return {}
    inits = {i.name: i for i in proto.graph.initializer}
    consts = {n.output[0]: n for n in proto.graph.node if n.op_type == "Constant" and n.output}
    prod = {o: n for n in proto.graph.node for o in n.output}
    out: dict[str, float] = {}
    for o in proto.graph.output:
        n = prod.get(o.name)
        if n is None or n.domain not in ("", "ai.onnx") or n.op_type not in ("DequantizeLinear", "QuantizeLinear"):
            continue
        if n.op_type == "QuantizeLinear":
            out[o.name] = 1.0
            continue
        scale = None
        if len(n.input) > 1 and n.input[1] in inits:
            scale = onnx.numpy_helper.to_array(inits[n.input[1]])
        elif len(n.input) > 1 and n.input[1] in consts:
            attr = [a for a in consts[n.input[1]].attribute if a.name == "value"]
            scale = onnx.numpy_helper.to_array(attr[0].t) if attr else None
        if scale is not None and scale.size == 1 and float(scale.reshape(())) > 0:
            out[o.name] = float(scale.reshape(()))
    return out


def validate(model, inputs: str | os.PathLike | None = None, samples: int = 10, rtol: float = 1e-4,
             atol: float = 1e-5, per_layer: bool = False, shapes: Mapping[str, Sequence[int]] | None = None,
             batch: int | None = None, out_dir: str | os.PathLike | None = None, seed: int = 0,
             labels: str | None = None, **convert_options) -> ValidationReport:
    """Convert `model` (into out_dir, or a temporary folder), run both and compare.

    Outputs are paired by name (by position for names the compiled model does not share with the
    model); an output passes when every sample passes close(): the scale rule max|ours - ref| <=
    max(atol, rtol * max|ref|), and |ours - ref| <= atol + rtol * |ref| on every element that is not
    tiny (|ref| >= TINY * max|ref|, TINY = 1e-2)."""
    if samples < 1:
        raise O2CError("--samples must be at least 1")
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="o2c-validate-") as tmp:
        target = Path(out_dir) if out_dir is not None else Path(tmp) / "model"
        res = convert(model, target, shapes=shapes, batch=batch, artifacts=("lib",) if out_dir is None else
                      convert_options.pop("artifacts", ("lib", "exe", "app")), **convert_options)
        lib = ModelLibrary(res.out_dir)
        if res.model_json.get("conv") == "int16":
            n16 = sum(ly.get("placement") == "DASH_CONV_2D" for ly in res.model_json["layers"])
            notes.append(f"--conv int16: {n16} convolution(s) compute on int16 planes (DASH_CONV_2D_int calls); "
                         "the errors reported include that quantization's cost (the same model with --conv gemm "
                         "computes in float32)")
        if labels is not None and inputs is None:
            raise O2CError("--labels names an array of the --inputs file; give --inputs too")
        batches = load_inputs(inputs, lib, exclude=[labels] if labels else []) if inputs is not None \
            else random_inputs(lib, samples, seed)
        label_arr = None
        if labels is not None:
            z = np.load(inputs)
            if labels not in z.files:
                raise O2CError(f"inputs file '{inputs}' has no labels array '{labels}'")
            label_arr = np.asarray(z[labels]).reshape(-1)
            if len(label_arr) != len(batches):
                raise O2CError(f"{len(label_arr)} labels for {len(batches)} samples")
        hits = {"ours": 0, "onnxruntime": 0}
        sess = _ort_session(model, notes)
        out_names = [o.name for o in sess.get_outputs()]
        order = match_outputs([n for n, _, _ in lib.outputs], out_names)
        per_out: dict[str, dict[str, Any]] = {}
        steps = quantized_outputs(model)
        for si, sample in enumerate(batches):
            got = sess.run(out_names, ort_feeds(sess, lib, sample))
            ref = [np.asarray(got[k]) for k in order]  # in the compiled model's output order
            ours = lib.run(sample)
            if label_arr is not None:  # the first output holds the class scores
                hits["ours"] += int(np.argmax(ours[0].reshape(-1)) == int(label_arr[si]))
                hits["onnxruntime"] += int(np.argmax(ref[0].reshape(-1)) == int(label_arr[si]))
            for (name, _, _), o, r in zip(lib.outputs, ours, ref):
                shape = o.shape  # the actual shape (a dimension known only at run time: this run's extent)
                if tuple(np.shape(r)) != tuple(shape):
                    raise ModelError(f"output '{name}': onnxruntime gives shape {list(np.shape(r))}, "
                                     f"the compiled model {list(shape)}")
                c = close(o, r, rtol, atol)
                acc = per_out.setdefault(name, {"shape": list(shape), "abs": 0.0, "rel": 0.0, "elem": 0.0,
                                                "cos": 1.0, "ok": True, "top1": [], "top5": []})
                acc["abs"] = max(acc["abs"], c.max_abs_err)
                acc["rel"] = max(acc["rel"], c.max_rel_err)
                acc["elem"] = max(acc["elem"], c.max_elem_rel_err)
                acc["cos"] = min(acc["cos"], c.cosine)
                acc["ok"] = acc["ok"] and c.passed
                if name in steps:  # quantized: judged in LSBs
                    lsb = np.rint(np.abs(o.astype(np.float64) - r.astype(np.float64)) / steps[name])
                    acc["lsb"] = max(acc.get("lsb", 0), int(lsb.max()) if lsb.size else 0)
                    acc["lsb_n"] = acc.get("lsb_n", 0) + int(np.count_nonzero(lsb))
                if _is_classifier(shape) and np.issubdtype(o.dtype, np.floating):
                    for row_o, row_r in zip(o.reshape(shape[0], -1), r.reshape(shape[0], -1)):
                        acc["top1"].append(int(np.argmax(row_o) == np.argmax(row_r)))
                        k = min(5, row_o.size)
                        acc["top5"].append(int(np.argmax(row_r) in np.argsort(-row_o)[:k]))
        reports = []
        for name, acc in per_out.items():
            quant = name in steps
            reports.append(OutputReport(
                name, acc["shape"], acc["abs"], acc["rel"], acc["cos"],
                float(np.mean(acc["top1"])) if acc["top1"] else None,
                float(np.mean(acc["top5"])) if acc["top5"] else None,
                acc["lsb"] <= 1 if quant else acc["ok"], acc["elem"], steps.get(name),
                acc["lsb"] if quant else None, acc.get("lsb_n", 0)))
        if steps:
            notes.append("quantized outputs are compared in steps of their DequantizeLinear's scale (LSBs): "
                         "exact, or at most one LSB off where the integer kernels round differently from "
                         "onnxruntime's float Conv/Gemm between DequantizeLinear and QuantizeLinear")
        rep = ValidationReport(str(model) if not isinstance(model, onnx.ModelProto) else "<in-memory model>",
                               len(batches), rtol, atol, reports, notes=notes)
        if label_arr is not None:
            rep.accuracy = {k: v / len(batches) for k, v in hits.items()}
        if per_layer:
            rep.layers = _per_layer(model, lib, batches[0], rtol, atol, notes)
        return rep


def _per_layer(model, lib: ModelLibrary, sample, rtol, atol, notes) -> list[LayerReport]:
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model), load_external_data=False)
    original = {o for n in proto.graph.node for o in n.output if o}
    comparable = [n for n, _, _ in lib.traced if n in original]
    sess = _ort_session(model, notes, extra_outputs=comparable)
    ref = dict(zip([o.name for o in sess.get_outputs()],
                   sess.run([o.name for o in sess.get_outputs()], ort_feeds(sess, lib, sample))))
    _, traced = lib.trace(sample)
    producer = {o: (layer["name"], layer["op"]) for layer in lib.desc["layers"] for o in layer["outputs"]}
    out = []
    for name in comparable:
        if name not in ref or np.shape(ref[name]) != traced[name].shape:
            continue
        c = close(traced[name], np.asarray(ref[name]), rtol, atol)
        node, op = producer.get(name, ("?", "?"))
        out.append(LayerReport(node, op, name, c.max_abs_err, c.max_rel_err, c.passed, c.max_elem_rel_err))
    return out
