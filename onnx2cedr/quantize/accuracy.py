"""`onnx2cedr accuracy`: the float model and its quantized versions, each compiled and run on labelled
inputs: top-1 accuracy of the generated code, its drop against the float model's generated code,
the weights' size and the CPU latency of the library (one thread; the schemes interleaved run by run
so that load on the machine hits them alike); with `accels`, the latency of the app with each
accelerator type on the runtime (accel_latency.py says how it is obtained)."""
from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import O2CError
from .static import SCHEMES, quantize

ALL_SCHEMES = ("float",) + SCHEMES


@dataclasses.dataclass
class SchemeResult:
    scheme: str
    top1: float            # fraction of the labelled samples
    drop_points: float     # float's top-1 minus this one's, in percentage points
    weights_bytes: int     # the compiled model's weights file
    latency_us: float      # median per run, library, one thread
    integer_layers: int    # layers that run in integer kernels (QConv/QGemm, XNOR/popcount BGemm)
    # per accelerator type: {"latency_us", "accelerator_us", "offloaded" (APIs sent to it), "calls_on_accelerator"}
    accel: dict = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_schemes(text: str) -> list[str]:
    schemes = [s.strip() for s in text.split(",") if s.strip()]
    for s in schemes:
        if s not in ALL_SCHEMES:
            raise O2CError(f"unknown scheme '{s}' (schemes: {', '.join(ALL_SCHEMES)})")
    if "float" not in schemes:
        schemes = ["float"] + schemes  # the drop is measured against it
    return list(dict.fromkeys(schemes))


def accuracy(model: str | os.PathLike, inputs: str | os.PathLike, labels: str, schemes: Sequence[str],
             calib: str | os.PathLike | None = None, calib_samples: int | None = None, per_channel: bool = False,
             method: str = "minmax", runs: int = 30, accels: Sequence[str] = (),
             config: str | os.PathLike | None = None) -> list[SchemeResult]:
    from ..compiler import convert
    from ..runner import ModelLibrary
    from ..validation import load_inputs

    if any(s != "float" for s in schemes) and calib is None:
        raise O2CError("--calib is needed to quantize (the schemes other than float)")
    try:
        z = np.load(inputs)
    except Exception as e:
        raise O2CError(f"cannot read inputs '{inputs}': {str(e).splitlines()[0]}") from None
    if labels not in z.files:
        raise O2CError(f"inputs file '{inputs}' has no labels array '{labels}' (keys: {', '.join(z.files)})")
    y = np.asarray(z[labels]).reshape(-1)
    libs: dict[str, ModelLibrary] = {}
    on_accel: dict[str, dict] = {}
    apps: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="o2c-accuracy-") as tmp:
        for s in schemes:
            src = Path(model) if s == "float" else quantize(model, calib, Path(tmp) / f"{s}.onnx", scheme=s,
                                                            per_channel=per_channel, method=method,
                                                            samples=calib_samples)
            res = convert(src, Path(tmp) / f"out_{s}", artifacts=("lib", "app") if accels else ("lib",))
            libs[s] = ModelLibrary(res.out_dir)
            apps[s] = res.artifacts.get("app")
        first = next(iter(libs.values()))
        samples = load_inputs(inputs, first, exclude=[labels])
        if len(samples) != len(y):
            raise O2CError(f"{len(y)} labels for {len(samples)} samples")
        top1 = {}
        for s, lib in libs.items():
            hits = sum(int(np.argmax(lib.run(x)[0].reshape(-1)) == int(t)) for x, t in zip(samples, y))
            top1[s] = hits / len(y)
        if accels:
            from .accel_latency import accelerator_latencies

            for s, lib in libs.items():
                on_accel[s] = accelerator_latencies(lib, samples[0], apps[s], accels, config)
        times: dict[str, list[float]] = {s: [] for s in libs}
        for _ in range(max(1, runs // 5)):  # interleaved: 5 runs of each scheme per round
            for s, lib in libs.items():
                totals, _ = lib.profile(samples[0], runs=5, warmup=1)
                times[s] += list(totals / 1e3)
        out = []
        for s, lib in libs.items():
            ops = [ly["op"] for ly in lib.desc["layers"]]
            out.append(SchemeResult(s, top1[s], 100 * (top1["float"] - top1[s]),
                                    int(lib.desc["memory"]["weights_bytes"]), statistics.median(times[s]),
                                    sum(o in ("QConv", "QGemm", "BGemm") for o in ops), on_accel.get(s, {})))
        return out
