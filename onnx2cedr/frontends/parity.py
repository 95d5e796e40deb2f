"""The parity check: the framework and onnxruntime on the same inputs, before anything else.

A frontend's ONNX model is only as good as the exporter that wrote it. When onnxruntime's results
differ from the framework's, the exporter is at fault, not the compiler, and this is where that is
said: over tolerance is a ValidationError naming the exporter, with the error figures of both runs.
The report travels with the model (metadata 'onnx2cedr.parity', JSON).
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Sequence

import numpy as np
import onnx

from ..errors import ModelError, ValidationError
from .common import FrontendError, get_metadata, set_metadata

METADATA_KEY = "onnx2cedr.parity"


@dataclasses.dataclass
class OutputParity:
    name: str
    shape: list[int]
    max_abs_err: float
    max_rel_err: float  # max |onnxruntime - framework| / max |framework|, worst sample
    framework_max_abs: float  # largest magnitude in the framework's result
    onnxruntime_max_abs: float  # and in onnxruntime's
    top1: float | None  # argmax agreement, classifier-shaped outputs only
    passed: bool


@dataclasses.dataclass
class ParityReport:
    framework: str
    exporter: str
    samples: int
    rtol: float
    atol: float
    outputs: list[OutputParity]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    @property
    def max_rel_err(self) -> float:
        return max((o.max_rel_err for o in self.outputs), default=0.0)

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["passed"] = self.passed
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ParityReport":
        outs = [OutputParity(**o) for o in d["outputs"]]
        return cls(d["framework"], d["exporter"], d["samples"], d["rtol"], d["atol"], outs)

    def summary(self) -> str:
        parts = []
        for o in self.outputs:
            s = f"'{o.name}' max abs err {o.max_abs_err:.3g}, max rel err {o.max_rel_err:.3g}"
            if o.top1 is not None:
                s += f", top-1 {100 * o.top1:.0f}%"
            parts.append(s)
        return (f"{self.framework} vs onnxruntime ({self.exporter}), {self.samples} sample(s): "
                + "; ".join(parts) + (" - within tolerance" if self.passed else " - OVER TOLERANCE"))


def _session(model: onnx.ModelProto, exporter: str):
    from ..validation import _ort_session

    try:
        return _ort_session(model, [])
    except ModelError as e:
        raise FrontendError(f"{exporter} wrote a model that onnxruntime cannot load ({e})") from None


def check(model: onnx.ModelProto, run_framework: Callable[..., Sequence[np.ndarray]],
          samples: Sequence[Sequence[np.ndarray]], framework: str, exporter: str, rtol: float = 1e-4,
          atol: float = 1e-5, raise_on_failure: bool = True) -> ParityReport:
    """Run every sample through `run_framework` (arrays in, flat list of arrays out) and through
    onnxruntime on `model`; compare output by output. Records the report in the model's metadata
    and raises ValidationError when over tolerance (unless raise_on_failure is False)."""
    from ..validation import compare

    sess = _session(model, exporter)
    in_names = [i.name for i in sess.get_inputs()]
    out_names = [o.name for o in sess.get_outputs()]
    acc: dict[str, dict[str, Any]] = {}
    for sample in samples:
        if len(sample) != len(in_names):
            raise FrontendError(f"{exporter} wrote a model with {len(in_names)} input(s) "
                                f"({', '.join(in_names)}); {framework} takes {len(sample)}")
        ref = [np.asarray(r) for r in run_framework(*sample)]
        try:
            got = sess.run(out_names, dict(zip(in_names, sample)))
        except Exception as e:
            raise FrontendError(f"onnxruntime failed to run {exporter}'s model: "
                                f"{str(e).splitlines()[0][:300]}") from None
        if len(ref) != len(got):
            raise FrontendError(f"{exporter} wrote a model with {len(got)} output(s); {framework} "
                                f"returns {len(ref)}")
        for name, r, g in zip(out_names, ref, got):
            g = np.asarray(g)
            if r.shape != g.shape:
                raise ValidationError(f"parity check failed: output '{name}' has shape {list(g.shape)} in "
                                      f"onnxruntime and {list(r.shape)} in {framework}; the exporter "
                                      f"({exporter}) is at fault")
            mabs, rel, _ = compare(g, r)
            a = acc.setdefault(name, {"shape": list(r.shape), "abs": 0.0, "rel": 0.0, "fmax": 0.0, "omax": 0.0,
                                      "top1": []})
            a["abs"], a["rel"] = max(a["abs"], mabs), max(a["rel"], rel)
            if r.size and np.issubdtype(r.dtype, np.number):
                a["fmax"] = max(a["fmax"], float(np.max(np.abs(r.astype(np.float64)))))
                a["omax"] = max(a["omax"], float(np.max(np.abs(g.astype(np.float64)))))
            if r.ndim == 2 and r.shape[1] > 1 and np.issubdtype(r.dtype, np.floating):
                a["top1"].extend((np.argmax(r, 1) == np.argmax(g, 1)).astype(int).tolist())
    outputs = [OutputParity(name, a["shape"], a["abs"], a["rel"], a["fmax"], a["omax"],
                            float(np.mean(a["top1"])) if a["top1"] else None,
                            a["abs"] <= atol or a["rel"] <= rtol)
               for name, a in acc.items()]
    rep = ParityReport(framework, exporter, len(samples), rtol, atol, outputs)
    set_metadata(model, METADATA_KEY, json.dumps(rep.as_dict()))
    if raise_on_failure and not rep.passed:
        bad = [o for o in outputs if not o.passed]
        raise ValidationError(
            f"parity check failed: the exporter ({exporter}) is at fault, onnxruntime disagrees with "
            f"{framework} on the same inputs ({len(samples)} sample(s)): " + "; ".join(
                f"output '{o.name}' max abs err {o.max_abs_err:.3g} (atol {atol:g}), max rel err "
                f"{o.max_rel_err:.3g} (rtol {rtol:g}); largest magnitude {o.framework_max_abs:.3g} in "
                f"{framework}, {o.onnxruntime_max_abs:.3g} in onnxruntime" for o in bad))
    return rep


def report_of(model: onnx.ModelProto) -> ParityReport | None:
    """The parity report a frontend stored in the model, if any."""
    raw = get_metadata(model, METADATA_KEY)
    return None if raw is None else ParityReport.from_dict(json.loads(raw))
