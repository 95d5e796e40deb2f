"""The design space of an experiment: its parameters by key path, and the points of the grid.

A parameter is named by where it sits in the file (`scheduler`, `platform.conv`,
`workload.0.period_us`, `accelerators.conv.clock_mhz`, ...); every parameter, swept or fixed,
becomes a column of the results. A point is one value per parameter; its id is a digest of
those values, so results found in a folder can be matched to points whatever their order.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass

from .spec import ACCEL_PARAMS, ACCEL_TYPES, PE_TYPES, Experiment, expand


@dataclass(frozen=True)
class Point:
    index: int                 # position in the full grid
    params: dict               # key path -> value, in column order

    @property
    def id(self) -> str:
        return point_id(self.params)


def point_id(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def parameters(exp: Experiment) -> dict[str, list]:
    """Every parameter's values, in column order. A list of compositions is one parameter,
    `platform`, whose values are mappings of PE counts (`flatten` turns a choice into columns)."""
    d = exp.doc
    out: dict[str, list] = {"scheduler": list(d["schedulers"])}
    out["arrival"] = expand(d["arrival"])
    out["rate_scale"] = expand(d["rate_scale"])
    if isinstance(d["platform"], list):
        out["platform"] = [{t: int(c[t]) for t in PE_TYPES} for c in d["platform"]]
    else:
        for t in PE_TYPES:
            out[f"platform.{t}"] = expand(d["platform"][t])
    for t in ACCEL_TYPES:
        for k in ACCEL_PARAMS:
            out[f"accelerators.{t}.{k}"] = expand(d["accelerators"][t][k])
    for i, item in enumerate(d["workload"]):
        out[f"workload.{i}.instances"] = expand(item["instances"])
        out[f"workload.{i}.period_us"] = expand(item["period_us"])
    return out


def flatten(choice: dict) -> dict:
    """One value per parameter -> one value per column (a composition becomes platform.<type>)."""
    out = {}
    for k, v in choice.items():
        if k == "platform":
            out.update((f"platform.{t}", v[t]) for t in PE_TYPES)
        else:
            out[k] = v
    return out


def columns(exp: Experiment) -> list[str]:
    return list(flatten({k: v[0] for k, v in parameters(exp).items()}))


def swept(exp: Experiment) -> list[str]:
    """The parameters that take more than one value."""
    return [k for k, v in parameters(exp).items() if len(v) > 1]


def grid(exp: Experiment) -> list[Point]:
    """The full cartesian product, in a stable order (the first parameter varies slowest)."""
    params = parameters(exp)
    keys = list(params)
    return [Point(i, flatten(dict(zip(keys, combo)))) for i, combo in enumerate(itertools.product(*params.values()))]


def size(exp: Experiment) -> int:
    n = 1
    for v in parameters(exp).values():
        n *= len(v)
    return n


def period_us(params: dict, i: int) -> float:
    """Workload entry i's period at this point: its period_us divided by the rate scale."""
    return float(params[f"workload.{i}.period_us"]) / float(params.get("rate_scale", 1))


def platform_of(params: dict) -> dict[str, int]:
    return {t: int(params[f"platform.{t}"]) for t in PE_TYPES}


def accelerators_of(params: dict) -> dict[str, dict]:
    return {t: {k: params[f"accelerators.{t}.{k}"] for k in ACCEL_PARAMS} for t in ACCEL_TYPES}
