"""Latency of a compiled model with one accelerator type, for `onnx2cedr accuracy`: a modeled figure.

latency(type) = the CPU time of the layers the type does not implement (the library's per-layer
medians, one thread, measured) + the modeled latency of the layers it runs. The latter is what the
runtime predicts for each such call on that type: the accelerator's own cycle / byte model
(kernels/accel, the <API>_<prec>_<type>_estimate companions) under the type's "Accelerators"
settings (clock, bandwidth, invocation overhead; runtime/configs/soc_demo.json by default),
    overhead_ns + cycles / clock + bytes / bandwidth,
read from the task trace (--task-trace) of one run of the app on cedr-run with one CPU PE and one PE of
the type, every call the type implements sent to it (the config gives the CPU a prohibitive constant
cost for those APIs, so the MET scheduler picks the accelerator). The layers are summed in sequence
(no overlap of parallel branches). Not a hardware measurement, and not the host emulation's time."""
from __future__ import annotations

import ctypes
import json
import tempfile
from pathlib import Path
from typing import Sequence

from ..errors import O2CError

METHOD = ("modeled: CPU layers' measured library time + the accelerator's cycle/byte model for the layers it "
          "implements (config {config}), in sequence")


def default_config() -> Path:
    """runtime/configs/soc_demo.json of this installation (the source checkout's or the package's)."""
    from ..runtime_build import runtime_dir

    return runtime_dir() / "configs" / "soc_demo.json"


def _implemented(accel_lib: Path, calls: Sequence[str], pe_type: str) -> list[str]:
    """The APIs (without precision) among `calls` (e.g. DASH_QCONV_i8) that the accelerator library
    implements for pe_type (DASH_QCONV_i8_conv)."""
    lib = ctypes.CDLL(str(accel_lib))
    apis = []
    for call in calls:
        try:
            getattr(lib, f"{call}_{pe_type}")
        except AttributeError:
            continue
        apis.append(call.rsplit("_", 1)[0])
    return sorted(set(apis))


def accelerator_latencies(lib, sample, app: Path, types: Sequence[str], config: Path | None = None,
                          runs: int = 20) -> dict[str, dict]:
    """{type: {"latency_us", "offloaded" (APIs), "calls_on_accelerator", "accelerator_us"}} for each type.
    lib: the model's ModelLibrary (per-layer CPU times on `sample`); app: its app artifact."""
    import subprocess

    import numpy as np

    from ..run import runtime_command, runtime_env
    from ..runtime_build import RuntimeBuild

    config = Path(config) if config else default_config()
    try:
        base = json.loads(config.read_text())
    except (OSError, ValueError) as e:
        raise O2CError(f"config '{config}': {str(e).splitlines()[0]}") from None
    accels = base.get("Accelerators", {})
    layers = lib.desc["layers"]
    calls = sorted({c for ly in layers for c in ly.get("calls", [])})
    _, per_layer = lib.profile(sample, runs=runs, warmup=2)
    cpu_ns = np.median(per_layer, axis=0)
    rb = RuntimeBuild().ensure()
    out: dict[str, dict] = {}
    for t in types:
        if t not in accels:
            raise O2CError(f"accelerator type '{t}' has no \"Accelerators\" entry in config '{config}' "
                           f"(types: {', '.join(sorted(accels)) or 'none'})")
        apis = _implemented(rb.accel_lib, calls, t)
        cfg = {"Worker Threads": {"cpu": 1, t: 1}, "Scheduler": "MET", "Random Seed": 0,
               "DASH Binary Paths": [], "Features": {"Enable Queueing": True, "Fixed Periodic Injection": True,
                                                     "Exit When Idle": True, "Model Accelerator Latency": False},
               "Accelerators": {t: accels[t]}, "DASH API Costs": {f"{a}_cpu": 1e12 for a in apis},
               # an emulation slowed by a loaded host is not rerouted to the CPU (an overrun)
               "Faults": {"deadline_min_us": 1e7}}
        with tempfile.TemporaryDirectory(prefix="o2c-accel-lat-") as tmp:
            cp, tt = Path(tmp) / "config.json", Path(tmp) / "tasks.json"
            cp.write_text(json.dumps(cfg))
            cmd = runtime_command(rb, cp, Path(tmp) / "logs") + ["--quiet", "--task-trace", str(tt), f"{app}:1:0"]
            r = subprocess.run(cmd, capture_output=True, text=True, env=runtime_env())
            if r.returncode != 0 or not tt.is_file():
                msg = (r.stderr.strip().splitlines() or ["no task trace"])[-1]
                raise O2CError(f"the app failed on the runtime with a '{t}' PE: {msg}")
            tasks = json.loads(tt.read_text())["tasks"]
        on_t = [x for x in tasks if x["pe_type"] == t]
        accel_ns = sum(float(x["pred_ns"][t]) for x in on_t)
        offloaded = [i for i, ly in enumerate(layers) if ly.get("calls") and
                     all(c.rsplit("_", 1)[0] in apis for c in ly["calls"])]
        cpu_rest = float(sum(cpu_ns[i] for i in range(len(layers)) if i not in set(offloaded)))
        out[t] = {"latency_us": (cpu_rest + accel_ns) / 1e3, "accelerator_us": accel_ns / 1e3, "offloaded": apis,
                  "calls_on_accelerator": len(on_t)}
    return out


def method_note(config: Path | None) -> str:
    return METHOD.format(config=Path(config).name if config else "soc_demo.json")
