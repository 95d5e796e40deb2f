"""The experiment file: YAML, checked against a JSON schema, resolved to defaults.

Every problem is one line naming the key path (`workload.0.period_us: ...`). `load(path)` gives
an `Experiment`: the resolved document (defaults filled in, paths made absolute), which is what
results, exports and reproductions record.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import O2CError

SCHEDULERS = ["SIMPLE", "RANDOM", "MET", "EFT", "ETF", "HEFT_RT"]
PE_TYPES = ["cpu", "conv", "gemm", "fft", "zip"]
ACCEL_TYPES = PE_TYPES[1:]
ACCEL_PARAMS = ["clock_mhz", "bandwidth_gbps", "overhead_ns"]
# The runtime's defaults for a type the config leaves out of "Accelerators" (docs/runtime.md).
ACCEL_DEFAULTS = {"clock_mhz": 200.0, "bandwidth_gbps": 2.0, "overhead_ns": 2000.0}

# Power per PE type, W, when the experiment gives none: rough figures for a ZCU102-class SoC
# (a Cortex-A53 core ~0.5 W busy; a fabric accelerator's dynamic power scales with its DSPs).
# They are assumptions, recorded in every resolved experiment; give `power:` for a real study.
POWER_DEFAULTS = {
    "cpu": {"active_w": 0.5, "idle_w": 0.1},
    "conv": {"active_w": 1.2, "idle_w": 0.15},
    "gemm": {"active_w": 1.2, "idle_w": 0.15},
    "fft": {"active_w": 0.4, "idle_w": 0.05},
    "zip": {"active_w": 0.15, "idle_w": 0.02},
}


ROWS_VERSION = 4  # bump when a row's metrics change meaning


class ExperimentError(O2CError):
    """A malformed experiment file (one line, naming the key)."""


def _sweep(item: dict, minimum: float | None = None, integer: bool = False) -> dict:
    """A value that may be swept: a scalar, a non-empty list, or a range {from, to[, step]}."""
    scalar = dict(item)
    num = "integer" if integer else "number"
    scalar["type"] = num
    if minimum is not None:
        scalar["minimum"] = minimum
    rng = {"type": "object", "additionalProperties": False, "required": ["from", "to"],
           "properties": {"from": scalar, "to": scalar, "step": {"type": num, "exclusiveMinimum": 0}}}
    return {"oneOf": [scalar, {"type": "array", "minItems": 1, "items": scalar}, rng]}


_NUM_POS = {"type": "number", "exclusiveMinimum": 0}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "workload", "platform"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
        "description": {"type": "string"},
        "engine": {"enum": ["sim", "real"]},
        "seed": {"type": "integer", "minimum": 0},
        "repeats": {"type": "integer", "minimum": 1},
        "arrival": {"oneOf": [{"enum": ["periodic", "poisson"]},
                              {"type": "array", "minItems": 1, "items": {"enum": ["periodic", "poisson"]}}]},
        "queueing": {"type": "boolean"},
        # one injection-rate knob for the whole workload: every app's period is divided by it
        "rate_scale": _sweep({}, None),
        "workload": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object", "additionalProperties": False, "required": ["app"],
                "properties": {
                    "app": {"type": "string", "minLength": 1},
                    "input_shape": {"type": "array", "items": {"type": "string"}},
                    "instances": _sweep({}, 1, integer=True),
                    "period_us": _sweep({}, 0),
                    "deadline_ms": _NUM_POS,
                    "throughput_target": _NUM_POS,
                },
            },
        },
        # PE counts per type (each a number, a list or a range: their product is swept), or a list
        # of compositions (each one mapping of counts), e.g. [{cpu: 3}, {cpu: 3, conv: 1}]
        "platform": {"oneOf": [
            {"type": "object", "additionalProperties": False, "required": ["cpu"],
             "properties": {t: _sweep({}, 1 if t == "cpu" else 0, integer=True) for t in PE_TYPES}},
            {"type": "array", "minItems": 1,
             "items": {"type": "object", "additionalProperties": False, "required": ["cpu"],
                       "properties": {t: {"type": "integer", "minimum": 1 if t == "cpu" else 0} for t in PE_TYPES}}},
        ]},
        "schedulers": {"oneOf": [{"enum": SCHEDULERS},
                                 {"type": "array", "minItems": 1, "items": {"enum": SCHEDULERS}}]},
        "accelerators": {
            "type": "object", "additionalProperties": False,
            "properties": {t: {"type": "object", "additionalProperties": False,
                               "properties": {p: _sweep({}, 0) for p in ACCEL_PARAMS}} for t in ACCEL_TYPES},
        },
        "power": {
            "type": "object", "additionalProperties": False,
            "properties": {t: {"type": "object", "additionalProperties": False, "required": ["active_w", "idle_w"],
                               "properties": {"active_w": {"type": "number", "minimum": 0},
                                              "idle_w": {"type": "number", "minimum": 0}}} for t in PE_TYPES},
        },
        "resources": {
            "type": "object", "additionalProperties": False,
            "properties": {t: {"type": "object", "additionalProperties": False,
                               "properties": {k: {"type": "number", "minimum": 0} for k in ("dsp", "bram", "lut")}}
                           for t in ACCEL_TYPES},
        },
        "objectives": {
            "type": "array",
            "items": {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
                      "properties": {"minimize": {"type": "string"}, "maximize": {"type": "string"}}},
        },
        "constraints": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": False, "required": ["metric"],
                      "minProperties": 2,
                      "properties": {"metric": {"type": "string"}, "max": {"type": "number"},
                                     "min": {"type": "number"}}},
        },
        "search": {
            "type": "object", "additionalProperties": False,
            "properties": {"trials": {"type": "integer", "minimum": 1},
                           "sampler": {"enum": ["tpe", "nsga2", "random"]}},
        },
        "sim": {
            "type": "object", "additionalProperties": False,
            "properties": {"costs": {"enum": ["measured", "model"]},
                           "app_work": {"enum": ["pe", "free"]},
                           "profile_runs": {"type": "integer", "minimum": 1, "maximum": 50},
                           # N points spread over the grid, or the grid indices to measure
                           "compare": {"oneOf": [{"type": "integer", "minimum": 0},
                                                 {"type": "array", "items": {"type": "integer", "minimum": 0}}]}},
        },
        "real": {
            "type": "object", "additionalProperties": False,
            "properties": {"timeout_s": _NUM_POS},
        },
        "report": {
            "type": "object", "additionalProperties": False,
            "properties": {"gantt_point": {"type": "integer", "minimum": 0}},
        },
    },
}


def _path_str(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _message(e) -> str:
    """One line for a jsonschema error, naming the key."""
    where = list(e.absolute_path)
    v = e.validator
    if v == "additionalProperties":
        extra = sorted(set(e.instance) - set(e.schema.get("properties", {})))
        known = ", ".join(sorted(e.schema.get("properties", {})))
        key = _path_str(where + [extra[0]]) if extra else _path_str(where)
        return f"{key}: unknown key (known here: {known})"
    if v == "required":
        missing = [k for k in e.validator_value if k not in e.instance]
        return f"{_path_str(where + missing[:1])}: missing"
    if v == "oneOf":
        inst = e.instance
        wanted = "a number, a non-empty list, or a range {from: A, to: B, step: S}"
        if where and where[-1] in ("arrival",):
            wanted = "periodic, poisson, or a list of them"
        elif where == ["platform"]:
            wanted = "a mapping of PE counts per type, or a list of such mappings (compositions)"
        elif where and where[-1] == "schedulers":
            wanted = "one of " + ", ".join(SCHEDULERS) + ", or a list of them"
        return f"{_path_str(where)}: expected {wanted}, got {json.dumps(inst, default=str)}"
    if v == "enum":
        return f"{_path_str(where)}: expected one of {', '.join(map(str, e.validator_value))}, got {e.instance!r}"
    if v == "type":
        return f"{_path_str(where)}: expected {e.validator_value}, got {json.dumps(e.instance, default=str)}"
    if v in ("minimum", "exclusiveMinimum", "maximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<="}[v]
        return f"{_path_str(where)}: expected a value {op} {e.validator_value}, got {e.instance!r}"
    if v in ("minProperties", "maxProperties") and where and where[0] == "objectives":
        return f"{_path_str(where)}: give exactly one of minimize: or maximize: (a metric name)"
    if v == "minProperties" and where and where[0] == "constraints":
        return f"{_path_str(where)}: give max: or min: beside metric:"
    if v == "minItems":
        return f"{_path_str(where)}: must not be empty"
    if v == "pattern":
        return f"{_path_str(where)}: {e.instance!r} may hold only letters, digits, '_', '.' and '-'"
    return f"{_path_str(where)}: {e.message}"


def _best(e):
    """Inside a oneOf, the error of the branch that got furthest (recursively), unless every
    branch failed on the value's type (then the oneOf's own message says what is accepted)."""
    if e.validator == "oneOf" and e.context:
        deeper = [c for c in e.context if len(c.absolute_path) > len(e.absolute_path)]
        inner = deeper or [c for c in e.context if c.validator not in ("type", "oneOf")]
        if inner:
            return _best(max(inner, key=lambda c: len(c.absolute_path)))
    return e


def _deepest(errors):
    """The most specific error of all."""
    best = None
    for e in errors:
        cand = _best(e)
        if best is None or len(cand.absolute_path) > len(best.absolute_path):
            best = cand
    return best


def check(doc: Any) -> None:
    """Raise ExperimentError (one line) when `doc` does not follow the schema."""
    import jsonschema

    if not isinstance(doc, dict):
        raise ExperimentError("expected a mapping at the top level (name:, workload:, platform:, ...)")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ExperimentError(_message(_deepest(errors)))
    _check_range(doc.get("rate_scale"), "rate_scale")
    for x in expand(doc.get("rate_scale", 1)):
        if not x > 0:
            raise ExperimentError(f"rate_scale: expected values > 0, got {x}")
    for i, item in enumerate(doc.get("workload", [])):
        for key in ("instances", "period_us"):
            _check_range(item.get(key), f"workload.{i}.{key}")
    if isinstance(doc.get("platform"), dict):
        for t, v in doc["platform"].items():
            _check_range(v, f"platform.{t}")
    for t, params in (doc.get("accelerators") or {}).items():
        for k, v in params.items():
            _check_range(v, f"accelerators.{t}.{k}")
    for i, c in enumerate(doc.get("constraints") or []):
        if "max" not in c and "min" not in c:
            raise ExperimentError(f"constraints.{i}: give max: or min:")


def _check_range(v, key: str) -> None:
    if isinstance(v, dict):
        lo, hi = v["from"], v["to"]
        if hi < lo:
            raise ExperimentError(f"{key}: range 'to' ({hi}) is below 'from' ({lo})")
        step = v.get("step", 1)
        if (hi - lo) / step > 100000:
            raise ExperimentError(f"{key}: range gives more than 100000 values")


def expand(v) -> list:
    """The values a sweepable entry stands for (a scalar is one value)."""
    if isinstance(v, list):
        return list(v)
    if isinstance(v, dict):
        lo, hi, step = v["from"], v["to"], v.get("step", 1)
        out, k = [], 0
        while lo + k * step <= hi + 1e-9 * max(1.0, abs(hi)):
            x = lo + k * step
            out.append(int(round(x)) if all(isinstance(a, int) for a in (lo, hi, step)) else round(x, 12))
            k += 1
        return out
    return [v]


@dataclass
class Experiment:
    doc: dict                      # resolved: defaults filled in, app paths absolute where files
    source: Path | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def name(self) -> str:
        return self.doc["name"]

    def digest(self) -> str:
        """What identifies the design space: results in a folder belong to one digest (and to one
        version of the rows' metrics: a tool that computes them differently starts afresh)."""
        keep = {k: v for k, v in self.doc.items() if k not in ("description", "report", "search")}
        keep["_rows"] = ROWS_VERSION
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def _absolute_app(app: str, base_dir: Path) -> str:
    """A file or folder named relative to the experiment file (else to the working directory)
    becomes absolute; bundled app names and zoo: names stay as they are."""
    if app.startswith("zoo:"):
        return app
    file_part, sep, factory = app.partition(".py:")
    target = Path(file_part + ".py") if sep else Path(app)
    for cand in (base_dir / target, Path.cwd() / target):
        if cand.exists():
            return str(cand.resolve()) + (":" + factory if sep else "")
    return app


def resolve(doc: dict, base_dir: Path) -> dict:
    """Defaults filled in, so the resolved document states every choice."""
    d = copy.deepcopy(doc)
    d.setdefault("description", "")
    d.setdefault("engine", "sim")
    d.setdefault("seed", 0)
    d.setdefault("repeats", 1)
    d.setdefault("arrival", "periodic")
    d.setdefault("queueing", True)
    d.setdefault("rate_scale", 1)
    if "schedulers" not in d:
        d["schedulers"] = ["EFT"]
    elif isinstance(d["schedulers"], str):
        d["schedulers"] = [d["schedulers"]]
    for item in d["workload"]:
        item.setdefault("instances", 1)
        item.setdefault("period_us", 0)
        item["app"] = _absolute_app(item["app"], base_dir)
    for comp in d["platform"] if isinstance(d["platform"], list) else [d["platform"]]:
        for t in PE_TYPES:
            comp.setdefault(t, 0)
    acc = d.setdefault("accelerators", {})
    for t in ACCEL_TYPES:
        params = acc.setdefault(t, {})
        for k, v in ACCEL_DEFAULTS.items():
            params.setdefault(k, v)
    power = d.setdefault("power", {})
    for t in PE_TYPES:
        power.setdefault(t, dict(POWER_DEFAULTS[t]))
    d.setdefault("resources", {})
    d.setdefault("objectives", [])
    d.setdefault("constraints", [])
    search = d.setdefault("search", {})
    search.setdefault("trials", 20)
    search.setdefault("sampler", "tpe")
    sim = d.setdefault("sim", {})
    sim.setdefault("costs", "measured")
    sim.setdefault("app_work", "pe")
    sim.setdefault("profile_runs", 3)
    sim.setdefault("compare", 0)
    d.setdefault("real", {}).setdefault("timeout_s", 600)
    d.setdefault("report", {}).setdefault("gantt_point", 0)
    return d


def parse_text(text: str, where: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ExperimentError(f"{where}: {line}{problem}") from None


def load(path: Path) -> Experiment:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ExperimentError(f"experiment '{path}': cannot read ({e.strerror or e})") from None
    doc = parse_text(text, f"experiment '{path}'")
    try:
        check(doc)
    except ExperimentError as e:
        raise ExperimentError(f"experiment '{path}': {e}") from None
    base = path.resolve().parent
    return Experiment(resolve(doc, base), source=path.resolve(), base_dir=base)


def from_doc(doc: dict, base_dir: Path | None = None) -> Experiment:
    """An experiment from an already parsed document (the Python API, reproduce)."""
    check(doc)
    base = Path(base_dir or Path.cwd())
    return Experiment(resolve(doc, base), base_dir=base)
