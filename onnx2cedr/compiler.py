"""The pipeline: load -> passes -> placement -> memory plan -> codegen -> build, into an output folder
that appears complete or not at all."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import onnx

from . import __version__
from .build import (ARTIFACTS, ML_FALLBACK_SYMBOLS, KernelLib, artifact_names, build_model, kernels_dir,
                    sanitizer_env, sanitizer_preload)
from .codegen import c_identifier, generate, render_cmake
from .errors import ModelError, O2CError
from .ir import Graph
from .limits import check_total
from .loader import load_model
from .plan import Plan, place, plan_memory, write_weights
from .targets import DEFAULT as DEFAULT_API
from .targets import check_app_symbols, get_target

MARKER = "model.json"


@dataclasses.dataclass
class Compiled:
    """A model taken through the compiler front and middle (no files written)."""

    graph: Graph
    plan: Plan
    proto: onnx.ModelProto
    passes: list[tuple[str, int]]
    name: str
    sym: str
    source: str
    timings: dict[str, float]
    api: str = DEFAULT_API
    conv: str = "gemm"


@dataclasses.dataclass
class ConvertResult:
    out_dir: Path
    name: str
    sym: str
    artifacts: dict[str, Path]
    model_json: dict[str, Any]
    timings: dict[str, float]

    @property
    def library(self) -> Path:
        return self.artifacts["lib"]


def compile_model(model, shapes: Mapping[str, Sequence[int]] | None = None, batch: int | None = None,
                  name: str | None = None, cpu_nodes: Iterable[str] = (), cpu_apis: Iterable[str] = (),
                  disable_passes: Iterable[str] = (), api: str = DEFAULT_API, conv: str | None = None,
                  consts: Mapping[str, Any] | None = None, max_dims: Mapping[str, int] | None = None) -> Compiled:
    """api: the target API set (onnx2cedr/targets/): 'extended' (ours) or 'public' (the public
    CEDR release's APIs only, every other layer inline in the app); conv: the public target's
    convolution scheme, 'gemm' (default) or 'int16'; consts: graph inputs bound to constant
    values, e.g. {"sr": 16000} (they leave the compiled model's inputs); max_dims: stated maxima of
    dimensions known only at run time, e.g. {"boxes_selected": 100} (ops/bounded.py)."""
    from .infer import infer_graph
    from .ops.bounded import check_uses
    from .passes import optimize

    target = get_target(api, conv)
    t = {}
    t0 = time.perf_counter()
    graph, proto = load_model(model, shapes=shapes, batch=batch, name=name, consts=consts)
    if max_dims:
        for k, n in max_dims.items():
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
                raise O2CError(f"--max-dim {k}: the maximum must be a non-negative integer, got {n!r}")
        graph.max_dims = {k: int(n) for k, n in max_dims.items()}
        infer_graph(graph)
    t["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    applied = optimize(graph, disabled=tuple(disable_passes))
    check_uses(graph)
    t["passes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    nodes = place(graph, cpu_nodes, cpu_apis, target)
    plan = plan_memory(graph, nodes)
    check_total("activation arena", plan.arena_bytes)
    check_total("weights", plan.weights_bytes)
    t["plan"] = time.perf_counter() - t0
    source = str(model) if not isinstance(model, onnx.ModelProto) else "<in-memory model>"
    return Compiled(graph, plan, proto, applied, graph.name, c_identifier(graph.name), source, t, target.name, target.conv)


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist() if v.size <= 64 else f"<tensor {list(v.shape)} {v.dtype}>"
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if np.isfinite(f) else str(f)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, onnx.AttributeProto):
        return f"<{onnx.AttributeProto.AttributeType.Name(v.type).lower()}>"
    return v


def describe(c: Compiled) -> dict[str, Any]:
    """The layer DAG and plan as plain data: model.json and `inspect --json`."""
    g, plan = c.graph, c.plan

    def tensor(v):
        val = g.values[v]
        st = plan.storage.get(plan.root.get(v, v))
        return {"name": v, "dtype": str(val.dtype), "shape": list(val.shape), "bytes": val.nbytes,
                # a dimension known only at run time: "shape" holds its maximum there
                **({"bound": {"dim": val.bound.dim, "max": val.shape[val.bound.dim], "stated": val.bound.stated}}
                   if val.bound is not None else {}),
                "storage": None if st is None else {"kind": st.kind, "index": st.index, "offset": st.offset},
                "alias_of": plan.root.get(v) if plan.root.get(v, v) != v else None}

    producers = {o: p.node.name for p in plan.nodes for o in p.node.outputs if o}
    layers = []
    for idx, p in enumerate(plan.nodes):
        n = p.node
        layers.append({
            "index": idx, "name": n.name, "op": n.op,
            "attributes": {k: _jsonable(v) for k, v in sorted(n.attrs.items())},
            "activation": None if n.act is None else {"op": n.act.op, "attributes": _jsonable(n.act.attrs),
                                                      "from": n.act.name},
            "fused_from": list(n.fused_from),
            "inputs": [i for i in n.inputs if i], "outputs": [o for o in n.outputs if o],
            "depends_on": sorted({producers[i] for i in n.inputs if i in producers}),
            "placement": p.placement, "reason": p.reason,
            "calls": [c_.api_symbol or c_.inline for c_ in p.calls],
            "flops": int(p.flops),
        })
    values = sorted({v for p in plan.nodes for v in p.node.inputs + p.node.outputs if v and v in g.values}
                    | set(g.inputs) | set(g.outputs))
    return {
        "generator": f"onnx2cedr {__version__}",
        "name": c.name, "symbol": c.sym, "source": c.source, "opset": g.opset, "api": c.api,
        **({"conv": c.conv} if c.api == "public" else {}),
        "inputs": [tensor(i) for i in g.inputs], "outputs": [tensor(o) for o in g.outputs],
        "bound_inputs": [{"name": k, "dtype": str(a.dtype), "shape": list(a.shape), "value": a.tolist()}
                         for k, a in g.bound_inputs.items()],
        "layers": layers,
        "tensors": [tensor(v) for v in values if not g.values[v].is_const],
        "constants": [{"name": n, "offset": off, "bytes": g.values[n].nbytes, "shape": list(g.values[n].shape),
                       "dtype": str(g.values[n].dtype)} for n, off in plan.weights],
        "passes": [{"pass": k, "changes": v} for k, v in c.passes],
        "memory": {"arena_bytes": plan.arena_bytes, "liveness_lower_bound_bytes": plan.liveness_lower_bound,
                   "weights_bytes": plan.weights_bytes},
        "flops": int(sum(p.flops for p in plan.nodes)),
        "apis": sorted({c_.api_symbol for p in plan.nodes for c_ in p.calls if c_.api}),
    }


def default_inputs(graph: Graph, seed: int = 0) -> list[np.ndarray]:
    """Deterministic inputs: standard normal for floats, small non-negative integers otherwise."""
    rng = np.random.default_rng(seed)
    out = []
    for i in graph.inputs:
        v = graph.values[i]
        if np.issubdtype(v.dtype, np.floating):
            out.append(rng.standard_normal(v.shape).astype(v.dtype))
        elif v.dtype == np.bool_:
            out.append(rng.integers(0, 2, v.shape).astype(np.bool_))
        else:
            out.append(rng.integers(0, 4, v.shape).astype(v.dtype))
    return out


MAX_THREADS = 64  # O2C_MAX_THREADS in kernels/include/o2c_kernels.h


def check_threads(threads) -> int:
    """The thread count as an int in [1, MAX_THREADS], else a one-line error."""
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= int(threads) <= MAX_THREADS:
        raise O2CError(f"--threads must be an integer from 1 to {MAX_THREADS}, got {threads!r}")
    return int(threads)


def _prepare_out(out_dir: Path, force: bool) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise O2CError(f"output path '{out_dir}' exists and is not a folder")
        ours = (out_dir / MARKER).is_file()
        if any(out_dir.iterdir()) and not ours and not force:
            raise O2CError(f"output folder '{out_dir}' exists and is not an onnx2cedr output; "
                           f"choose another folder or pass --force")


def _packed_bytes(lib: Path | None, sym: str, kl: KernelLib | None = None) -> int | None:
    """Bytes of weights the built kernel library packs at load for its CPU kernels (the layout, and so
    the size, belongs to the library's build: it is asked, not computed here). Asked in a child
    process: loaded here, the library would stay mapped under its build folder's name, and a later
    load of the final folder's copy would get that instance (same file) and look for its weights
    in the build folder. None without a library. An instrumented library (kl.sanitize) is loaded with
    its sanitizer's runtime preloaded, leak checks off (Python's own allocations are not ours)."""
    if lib is None:
        return None
    import subprocess
    import sys

    env = None
    if kl is not None and kl.sanitize:
        env = sanitizer_env()
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
        env["LD_PRELOAD"] = " ".join(sanitizer_preload(kl.cxx, kl.sanitize) + env.get("LD_PRELOAD", "").split())

    code = ("import ctypes, sys\n"
            "f = getattr(ctypes.CDLL(sys.argv[1]), sys.argv[2] + '_packed_bytes')\n"
            "f.restype = ctypes.c_size_t\n"
            "print(f())\n")
    try:
        r = subprocess.run([sys.executable, "-c", code, str(Path(lib).resolve()), sym], capture_output=True,
                           text=True, timeout=60, env=env)
        return int(r.stdout.strip()) if r.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def convert(model, out_dir: str | os.PathLike, shapes: Mapping[str, Sequence[int]] | None = None,
            batch: int | None = None, name: str | None = None, cpu_nodes: Iterable[str] = (),
            cpu_apis: Iterable[str] = (), disable_passes: Iterable[str] = (),
            artifacts: Iterable[str] = ARTIFACTS, app_inputs: Sequence[np.ndarray] | None = None,
            native: bool = True, force: bool = False, threads: int = 1, api: str = DEFAULT_API,
            conv: str | None = None, consts: Mapping[str, Any] | None = None, target: str | None = None,
            cxx: str | None = None, sysroot: str | os.PathLike | None = None, sanitize=(),
            max_dims: Mapping[str, int] | None = None) -> ConvertResult:
    """Convert a model (path or ModelProto) into a built CEDR application in out_dir.

    threads: worker threads the generated code's large kernels split their outputs over when run
    standalone or through the library (results are bit-identical for any count; under the CEDR
    runtime each PE is one thread and this setting does not apply).
    api: the target API set, 'extended' (default) or 'public': with 'public' the app calls only the
    public CEDR APIs (checked on the built app: a BuildError names any other DASH_* symbol).
    consts: graph inputs bound to constant values, e.g. {"sr": 16000} (model.json's bound_inputs).
    target: None (this machine) or a cross target, "aarch64-linux-gnu" (generic armv8-a code; native
    does not apply); cxx: a compiler to use instead (a vendor toolchain's g++; $CXX is taken for a
    cross target when it builds for it); sysroot: --sysroot for every compile and link (model.json's
    "target" records the triple).
    sanitize: "address,undefined", "thread" (or a list): the kernel library and the model are built
    instrumented (-fsanitize=... -fno-omit-frame-pointer -g1 -O0, their own cache keys; model.json's
    "sanitize"). The app then runs on a runtime built the same way (`run --sanitize`); the library
    loads into Python only with the sanitizer's runtime preloaded (address, thread).
    The folder is assembled beside out_dir and moved into place only when everything succeeded."""
    out_dir = Path(out_dir)
    threads = check_threads(threads)
    api_target = get_target(api, conv)
    kl = KernelLib(native, target, cxx, sysroot, sanitize)  # a missing cross compiler fails before any work
    artifacts = tuple(artifacts)
    for a in artifacts:
        if a not in ARTIFACTS:
            raise O2CError(f"unknown artifact '{a}' (choose from {', '.join(ARTIFACTS)})")
    _prepare_out(out_dir, force)
    c = compile_model(model, shapes, batch, name, cpu_nodes, cpu_apis, disable_passes, api_target.name,
                      api_target.conv, consts, max_dims)
    timings = dict(c.timings)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        t0 = time.perf_counter()
        weights_file = f"{c.sym}.weights"
        wf = write_weights(c.plan, tmp / weights_file)
        gen = generate(c.plan, c.name, weights_file, wf, c.source, threads=threads)
        (tmp / "model.cpp").write_text(gen["model.cpp"])
        (tmp / "CMakeLists.txt").write_text(render_cmake(
            c.name, c.sym, str(kernels_dir()), ML_FALLBACK_SYMBOLS if api_target.app_fallbacks else ()))
        desc = describe(c)
        desc["weights_file"] = weights_file
        desc["weights_crc32"] = f"{wf.crc32:08x}"
        desc["threads"] = threads
        desc["traced"] = gen["traced"]
        desc["artifacts"] = {a: artifact_names(c.sym)[a] for a in artifacts}
        desc["target"] = kl.tc.triple
        desc["cross_built"] = kl.tc.cross
        desc["toolchain"] = {"cxx": kl.cxx, "sysroot": kl.tc.sysroot_path}
        desc["sanitize"] = list(kl.sanitize)
        ins = list(app_inputs) if app_inputs is not None else default_inputs(c.graph)
        if len(ins) != len(c.graph.inputs):
            raise ModelError(f"{len(ins)} app inputs given, the model has {len(c.graph.inputs)}")
        (tmp / "app_inputs").mkdir()
        for k, (iname, arr) in enumerate(zip(c.graph.inputs, ins)):
            v = c.graph.values[iname]
            arr = np.asarray(arr)
            if tuple(arr.shape) != v.shape:
                raise ModelError(f"app input '{iname}' has shape {list(arr.shape)}, the model expects {list(v.shape)}")
            np.save(tmp / "app_inputs" / f"input_{k}.npy", arr.astype(v.dtype))
        timings["codegen"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        built = build_model(tmp, c.sym, artifacts, ml_fallbacks=api_target.app_fallbacks, kl=kl)
        timings["build"] = time.perf_counter() - t0
        if "app" in built:
            desc["app_dash_symbols"] = check_app_symbols(built["app"], api_target)
        # a cross-built library cannot be loaded here to ask it
        desc["memory"]["packed_weights_bytes"] = None if kl.tc.cross else _packed_bytes(built.get("lib"), c.sym, kl)
        (tmp / MARKER).write_text(json.dumps(desc, indent=1, sort_keys=False) + "\n")
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.rename(out_dir, old)
            os.rename(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    arts = {a: out_dir / p.name for a, p in built.items()}
    return ConvertResult(out_dir, c.name, c.sym, arts, desc, timings)
