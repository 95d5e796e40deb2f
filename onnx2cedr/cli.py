"""The `onnx2cedr` command line."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import O2CError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Compile ONNX models into C++ applications for the CEDR heterogeneous-SoC runtime.")
# Piped output (logs, CI) gets wide tables instead of rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ShapeOpt = typer.Option(None, "--shape", help="Fix an input's shape: NAME=1x3x224x224 (repeatable).")
BatchOpt = typer.Option(None, "--batch", help="Use N for symbolic batch (first) dimensions.")
CpuOpt = typer.Option(None, "--cpu", help="Force a node onto the inline CPU fallback (repeatable).")
NoPassOpt = typer.Option(None, "--disable-pass", help="Skip a graph pass by name (repeatable).")
ConstOpt = typer.Option(None, "--const", help="Bind a graph input to a constant: NAME=VALUE or NAME=V1,V2,... in "
                        "the input's element type (repeatable); it leaves the compiled model's inputs, and an If on "
                        "it folds at compile time.")
MaxDimOpt = typer.Option(None, "--max-dim", help="State the maximum of an output's dimension known only at run "
                         "time (NonZero, NonMaxSuppression, Unique, TopK with a run-time K): NAME=N (repeatable); "
                         "a run over it fails with one line.")
ApiOpt = typer.Option("extended", "--api", help="Target API set: extended (ours) or public (the public CEDR "
                      "release's APIs only; other layers run inline in the app).")
SanitizeOpt = typer.Option(None, "--sanitize", help="Build instrumented: address,undefined or thread (address and "
                           "thread exclude each other); -fsanitize=... -g1 -O0, cached apart from normal builds.")
RunSanitizeOpt = typer.Option(None, "--sanitize", help="Use the runtime, kernel libraries and bundled apps built "
                              "instrumented (as convert --sanitize); run apps converted the same way.")
ConvOpt = typer.Option(None, "--conv", help="With --api public: gemm (im2col + DASH_GEMM_flt, the default) or int16 "
                       "(DASH_CONV_2D_int per channel pair + DASH_ZIP_flt; costs accuracy).")


def _fail(e: O2CError) -> None:
    # escaped: messages quote names with brackets, e.g. pip install 'onnx2cedr[tf]'
    err.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
    raise typer.Exit(e.exit_code)


def _shapes(shape: Optional[List[str]]):
    from .loader import parse_shape_args

    return parse_shape_args(shape)


def _consts(const: Optional[List[str]]):
    from .loader import parse_const_args

    return parse_const_args(const)


def _max_dims(max_dim: Optional[List[str]]):
    from .ops.bounded import parse_max_dims

    return parse_max_dims(max_dim)


def _human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)

InputShapeOpt = typer.Option(None, "--input-shape", help="Shape of a framework model's example input, e.g. "
                             "1x3x32x32 (repeatable, in input order; PyTorch/JAX factories need it).")


def _framework_model(model: Path, input_shape: Optional[List[str]]):
    """An ONNX path as it is; a framework model (.keras, SavedModel folder, FILE.py:FACTORY)
    imported in memory, after its parity check (printed)."""
    from .frontends import import_model, is_framework_input, report_of

    if not is_framework_input(model):
        return model
    proto = import_model(str(model), input_shapes=input_shape or ())
    rep = report_of(proto)
    if rep is not None:
        out.print(f"parity: {escape(rep.summary())}")
    return proto


@app.command()
def convert(model: Path = typer.Argument(..., help="The ONNX model file, or a framework model: MODEL.keras, "
                                          "a SavedModel folder, FILE.py:FACTORY (PyTorch, Keras, JAX)."),
            output: Path = typer.Option(..., "-o", "--output", help="Output folder."),
            shape: Optional[List[str]] = ShapeOpt, batch: Optional[int] = BatchOpt,
            name: Optional[str] = typer.Option(None, help="Model name (default: the file's stem)."),
            cpu: Optional[List[str]] = CpuOpt, disable_pass: Optional[List[str]] = NoPassOpt,
            artifact: Optional[List[str]] = typer.Option(None, "--artifact", help="lib, exe, app (default: all)."),
            portable: bool = typer.Option(False, help="Do not optimize for this machine's CPU."),
            force: bool = typer.Option(False, help="Replace a non-onnx2cedr output folder."),
            input_shape: Optional[List[str]] = InputShapeOpt,
            threads: int = typer.Option(1, "--threads", help="Worker threads for large kernels when the model runs "
                                        "standalone or as a library (outputs are identical for any count)."),
            api: str = ApiOpt, conv: Optional[str] = ConvOpt, const: Optional[List[str]] = ConstOpt,
            target: Optional[str] = typer.Option(None, "--target", help="Cross-build for a board: aarch64-linux-gnu "
                                                 "(generic armv8-a; needs g++-aarch64-linux-gnu or --cxx)."),
            cxx: Optional[str] = typer.Option(None, "--cxx", help="The C++ compiler to build with (a vendor "
                                              "toolchain's g++, e.g. PetaLinux or JetPack; default $CXX or g++)."),
            sysroot: Optional[Path] = typer.Option(None, "--sysroot", help="The target's sysroot, passed to every "
                                                   "compile and link."),
            sanitize: Optional[str] = SanitizeOpt, max_dim: Optional[List[str]] = MaxDimOpt):
    """Convert MODEL into a built CEDR application in OUTPUT."""
    from .compiler import convert as do_convert

    try:
        src = _framework_model(model, input_shape)
        res = do_convert(src, output, shapes=_shapes(shape), batch=batch, name=name, cpu_nodes=cpu or (),
                         disable_passes=disable_pass or (), artifacts=artifact or ("lib", "exe", "app"),
                         native=not portable, force=force, threads=threads, api=api, conv=conv,
                         consts=_consts(const), target=target, cxx=cxx, sysroot=sysroot, sanitize=sanitize,
                         max_dims=_max_dims(max_dim))
    except O2CError as e:
        _fail(e)
    d = res.model_json
    apis = ", ".join(d["apis"]) or "none"
    out.print(f"[bold green]converted[/] {model} -> {res.out_dir}/  ({len(d['layers'])} layers, "
              f"{d['flops'] / 1e6:.2f} MFLOP, weights {_human_bytes(d['memory']['weights_bytes'])}, "
              f"arena {_human_bytes(d['memory']['arena_bytes'])})")
    out.print(f"  CEDR APIs ({d['api']} target): {apis}")
    for a, p in sorted(res.artifacts.items()):
        out.print(f"  {a:4s} {p}")
    out.print("  " + ", ".join(f"{k} {v:.2f}s" for k, v in res.timings.items()))


@app.command()
def inspect(model: Path = typer.Argument(..., help="The ONNX model file."),
            shape: Optional[List[str]] = ShapeOpt, batch: Optional[int] = BatchOpt,
            cpu: Optional[List[str]] = CpuOpt, disable_pass: Optional[List[str]] = NoPassOpt,
            as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
            api: str = ApiOpt, conv: Optional[str] = ConvOpt, const: Optional[List[str]] = ConstOpt):
    """Show the graph after passes: each node's placement and why, FLOPs and buffer sizes."""
    from .compiler import compile_model, describe

    try:
        c = compile_model(model, shapes=_shapes(shape), batch=batch, cpu_nodes=cpu or (),
                          disable_passes=disable_pass or (), api=api, conv=conv, consts=_consts(const))
    except O2CError as e:
        _fail(e)
    d = describe(c)
    if as_json:
        sys.stdout.write(json.dumps(d, indent=1) + "\n")
        return
    sizes = {t["name"]: t["bytes"] for t in d["tensors"]}
    t = Table(title=f"{d['name']}: {len(d['layers'])} layers after passes, {d['api']} API set", show_lines=False)
    for col in ("#", "node", "op", "placement", "MFLOP", "out bytes", "reason"):
        t.add_column(col, overflow="fold")
    for layer in d["layers"]:
        op = layer["op"] + (f"+{layer['activation']['op']}" if layer["activation"] else "")
        t.add_row(str(layer["index"]), layer["name"], op, layer["placement"], f"{layer['flops'] / 1e6:.3f}",
                  _human_bytes(sum(sizes.get(o, 0) for o in layer["outputs"])), layer["reason"])
    out.print(t)
    m = d["memory"]
    out.print(f"total {d['flops'] / 1e6:.2f} MFLOP; weights {_human_bytes(m['weights_bytes'])}; activation arena "
              f"{_human_bytes(m['arena_bytes'])} (liveness lower bound {_human_bytes(m['liveness_lower_bound_bytes'])})")
    out.print("passes: " + (", ".join(f"{p['pass']}x{p['changes']}" for p in d["passes"] if p["changes"]) or "none changed"))


@app.command()
def validate(model: Path = typer.Argument(..., help="The ONNX model file, or a framework model (see convert)."),
             inputs: Optional[Path] = typer.Option(None, help=".npz with one array per input (extra leading axis: samples)."),
             samples: int = typer.Option(10, help="Random samples when --inputs is not given."),
             rtol: float = typer.Option(1e-4, help="Max error relative to the reference's largest magnitude, and "
                                        "element-wise relative error (atol + rtol*|ref|) on elements of at least "
                                        "1% of that magnitude."),
             atol: float = typer.Option(1e-5, help="Absolute error always accepted."),
             per_layer: bool = typer.Option(False, "--per-layer", help="Compare every intermediate tensor."),
             output: Optional[Path] = typer.Option(None, "-o", "--output", help="Keep the converted model here."),
             shape: Optional[List[str]] = ShapeOpt, batch: Optional[int] = BatchOpt,
             cpu: Optional[List[str]] = CpuOpt, disable_pass: Optional[List[str]] = NoPassOpt,
             seed: int = typer.Option(0, help="Seed of the random inputs."),
             labels: Optional[str] = typer.Option(None, help="Array of class labels in the --inputs file: "
                                                  "report accuracy of both."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON."),
             input_shape: Optional[List[str]] = InputShapeOpt, api: str = ApiOpt,
             conv: Optional[str] = ConvOpt, const: Optional[List[str]] = ConstOpt,
             sanitize: Optional[str] = typer.Option(None, "--sanitize", help="Not supported (the library runs inside "
                                                    "Python): convert --sanitize and run the executable or app."),
             max_dim: Optional[List[str]] = MaxDimOpt):
    """Run the same inputs through onnxruntime and the generated code; exit 1 when over tolerance."""
    from .validation import validate as do_validate

    try:
        if sanitize:
            raise O2CError("validate --sanitize is not supported: validate runs the library inside Python, where an "
                           "instrumented library needs its sanitizer runtime preloaded; convert --sanitize, then run "
                           "the executable or the app (run --sanitize)")
        src = _framework_model(model, input_shape)
        rep = do_validate(src, inputs=inputs, samples=samples, rtol=rtol, atol=atol, per_layer=per_layer,
                          shapes=_shapes(shape), batch=batch, out_dir=output, seed=seed, labels=labels, cpu_nodes=cpu or (),
                          disable_passes=disable_pass or (), api=api, conv=conv, consts=_consts(const),
                          max_dims=_max_dims(max_dim))
    except O2CError as e:
        _fail(e)
    if as_json:
        sys.stdout.write(json.dumps(rep.as_dict(), indent=1) + "\n")
    else:
        t = Table(title=f"{model}: {rep.samples} sample(s) vs onnxruntime")
        quant = any(o.max_lsb is not None for o in rep.outputs)
        for col in ("output", "shape", "max abs err", "max rel err", "max elem rel err", "min cosine", "top-1",
                    "top-5") + (("quantized",) if quant else ()) + ("result",):
            t.add_column(col)
        for o in rep.outputs:
            pct = (lambda v: "-" if v is None else f"{100 * v:.1f}%")
            t.add_row(o.name, "x".join(map(str, o.shape)), f"{o.max_abs_err:.3g}", f"{o.max_rel_err:.3g}",
                      f"{o.max_elem_rel_err:.3g}", f"{o.min_cosine:.7f}", pct(o.top1), pct(o.top5),
                      *((o.lsb_summary or "-",) if quant else ()), "[green]pass[/]" if o.passed else "[red]FAIL[/]")
        out.print(t)
        for n in rep.notes:
            out.print(f"note: {n}")
        if rep.accuracy is not None:
            out.print(f"accuracy on the labels: generated code {100 * rep.accuracy['ours']:.2f}%, "
                      f"onnxruntime {100 * rep.accuracy['onnxruntime']:.2f}%")
        if rep.layers is not None:
            fd = rep.first_divergence
            out.print(f"per layer: {len(rep.layers)} intermediate tensors compared; " +
                      ("all within tolerance" if fd is None else
                       f"first divergence at node '{fd.node}' ({fd.op}), tensor '{fd.tensor}': "
                       f"max abs {fd.max_abs_err:.3g}, rel {fd.max_rel_err:.3g}"))
    if not rep.passed:
        err.print("[bold red]error:[/] validation failed: " + "; ".join(
            f"output '{o.name}' {o.lsb_summary} (at most 1 LSB allowed)" if o.max_lsb is not None else
            f"output '{o.name}' max abs err {o.max_abs_err:.3g}, max rel err {o.max_rel_err:.3g}, max element rel "
            f"err {o.max_elem_rel_err:.3g} (rtol {rtol:g}, atol {atol:g})" for o in rep.outputs if not o.passed))
        raise typer.Exit(1)


PerChannelOpt = typer.Option(False, "--per-channel", help="One weight scale per output channel.")
MethodOpt = typer.Option("minmax", "--method", help="Calibration: minmax, percentile or entropy.")


@app.command()
def quantize(model: Path = typer.Argument(..., help="The float ONNX model."),
             calib: Path = typer.Option(..., "--calib", help="Calibration inputs (.npz, the conventions of "
                                        "validate --inputs)."),
             output: Path = typer.Option(..., "-o", "--output", help="The QDQ model to write."),
             scheme: str = typer.Option("int8", "--scheme", help="int8 or int16 (activations and weights), or binary (hidden MatMul/Gemm layers)."),
             per_channel: bool = PerChannelOpt, method: str = MethodOpt,
             exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Keep a node in float (repeatable)."),
             samples: Optional[int] = typer.Option(None, "--samples", help="Use at most N calibration inputs."),
             reduce_range: bool = typer.Option(False, "--reduce-range", help="7-bit weights (int8 in [-64, 64]): "
                                               "the AVX2 integer kernel's fastest mode, at some accuracy.")):
    """Post-training static quantization (onnxruntime.quantization) into a standard QDQ model."""
    from .quantize import quantize as do_quantize

    try:
        path = do_quantize(model, calib, output, scheme=scheme, per_channel=per_channel, method=method,
                           exclude=exclude or (), samples=samples, reduce_range=reduce_range)
    except O2CError as e:
        _fail(e)
    how = "binary: hidden MatMul/Gemm layers, per-channel weight scales" if scheme == "binary" else \
        f"{scheme}, {method}{', per channel' if per_channel else ''}{', 7-bit weights' if reduce_range else ''}"
    out.print(f"[bold green]quantized[/] {model} -> {path} ({how})")


@app.command()
def accuracy(model: Path = typer.Argument(..., help="The float ONNX model."),
             inputs: Path = typer.Option(..., "--inputs", help="Labelled samples (.npz, as validate --inputs)."),
             labels: str = typer.Option(..., "--labels", help="The array of class labels in the --inputs file."),
             schemes: str = typer.Option("float,int8", "--schemes", help="Comma list of float, int8, int16, binary."),
             calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration inputs for the quantized "
                                                  "schemes (.npz)."),
             calib_samples: Optional[int] = typer.Option(None, "--calib-samples", help="Use at most N calibration "
                                                         "inputs."),
             per_channel: bool = PerChannelOpt, method: str = MethodOpt,
             runs: int = typer.Option(30, "--runs", help="Timed runs per scheme (interleaved)."),
             json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON."),
             accel: str = typer.Option("conv,gemm", "--accel", help="Accelerator types to give a latency for "
                                       "(comma list of the config's types; 'none': CPU only)."),
             config: Optional[Path] = typer.Option(None, "--config", help="Hardware config whose \"Accelerators\" "
                                                   "settings model them (default runtime/configs/soc_demo.json)."),
             plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the results into FILE.png.")):
    """Top-1 accuracy, drop against float, weights size and latency (CPU, and with each accelerator type on
    the runtime) of the generated code per scheme."""
    from .quantize import accuracy as do_accuracy
    from .quantize import parse_schemes
    from .quantize.accel_latency import method_note

    types = [] if accel.strip() in ("", "none") else [a.strip() for a in accel.split(",") if a.strip()]
    if plot is not None and plot.suffix.lower() != ".png":
        _fail(O2CError(f"--plot: '{plot}' must name a .png file"))
    try:
        rows = do_accuracy(model, inputs, labels, parse_schemes(schemes), calib=calib, calib_samples=calib_samples,
                           per_channel=per_channel, method=method, runs=runs, accels=types, config=config)
        if plot is not None:
            from .quantize.plot import plot_schemes

            plot_schemes(rows, plot, title=f"{model.name}: per quantization scheme")
    except O2CError as e:
        _fail(e)
    t = Table(title=f"{model}: generated code per scheme")
    for col in ("scheme", "top-1", "drop (points)", "weights", "CPU latency", *(f"+{x} PE" for x in types),
                "integer layers"):
        t.add_column(col)
    for r in rows:
        t.add_row(r.scheme, f"{100 * r.top1:.2f}%", f"{r.drop_points:+.2f}", _human_bytes(r.weights_bytes),
                  f"{r.latency_us:.1f} us",
                  *(f"{r.accel[x]['latency_us']:.1f} us ({r.accel[x]['calls_on_accelerator']} calls)" for x in types),
                  str(r.integer_layers))
    out.print(t)
    note = "CPU latency: the library, one thread, median (measured)."
    if types:
        note += " +TYPE PE: " + method_note(config) + "."
    out.print(note)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"model": str(model), "inputs": str(inputs), "per_channel": per_channel,
                                        "method": method, "cpu_latency": "library, one thread, median of runs",
                                        "accel_latency": method_note(config) if types else None,
                                        "schemes": [r.as_dict() for r in rows]}, indent=1) + "\n")


@app.command()
def profile(folder: Path = typer.Argument(..., help="An output folder made by `onnx2cedr convert` (with the lib artifact)."),
            runs: int = typer.Option(100, help="Timed runs (after 3 warm-up runs); medians are reported."),
            inputs: Optional[Path] = typer.Option(None, help=".npz with the inputs (first sample used); "
                                                  "random normal inputs otherwise."),
            top: int = typer.Option(0, help="Only the N slowest layers (0: all, in order)."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Time every layer of a converted model (its library, the thread count it was converted with)."""
    import numpy as np

    from .runner import ModelLibrary
    from .validation import load_inputs, random_inputs

    try:
        lib = ModelLibrary(folder)
        x = load_inputs(inputs, lib)[0] if inputs else random_inputs(lib, 1)[0]
        totals, per = lib.profile(x, runs=runs)
    except O2CError as e:
        _fail(e)
    layers = lib.desc["layers"]
    med = np.median(per, axis=0)
    total = float(np.median(totals))
    rows = []
    wave_head = None
    for k, (layer, ns) in enumerate(zip(layers, med)):
        # a layer issued in one wave with the ones before it (_nb calls, one barrier) shares their stamp
        in_wave = k > 0 and wave_head is not None and not per[:, k].any()
        if not in_wave:
            wave_head = layer["index"]
        rows.append({"index": layer["index"], "name": layer["name"], "op": layer["op"],
                     "activation": (layer.get("activation") or {}).get("op"), "placement": layer["placement"],
                     "flops": layer["flops"], "median_ns": float(ns),
                     "gflops": layer["flops"] / ns if ns > 0 else None,
                     "timed_with": wave_head if in_wave else None})
    # a wave's time is the head's stamp: its rate counts the flops of every layer timed with it
    by_index = {r["index"]: r for r in rows}
    for r in rows:
        if r["timed_with"] is not None:
            by_index[r["timed_with"]]["wave_flops"] = by_index[r["timed_with"]].get("wave_flops", by_index[r["timed_with"]]["flops"]) + r["flops"]
            r["gflops"] = None
    for r in rows:
        if "wave_flops" in r and r["median_ns"] > 0:
            r["gflops"] = r["wave_flops"] / r["median_ns"]
    if as_json:
        sys.stdout.write(json.dumps({"model": lib.desc["name"], "threads": lib.desc.get("threads", 1), "runs": runs,
                                     "median_total_ns": total, "layers": rows}, indent=1) + "\n")
        return
    shown = sorted(rows, key=lambda r: -r["median_ns"])[:top] if top > 0 else rows
    t = Table(title=f"{lib.desc['name']}: {len(rows)} layers, {lib.desc.get('threads', 1)} thread(s), median of {runs} runs")
    for col in ("#", "layer", "op", "placement", "MFLOP", "time", "share", "GFLOP/s"):
        t.add_column(col, overflow="fold", justify="right" if col in ("#", "MFLOP", "time", "share", "GFLOP/s") else "left")
    for r in shown:
        t.add_row(str(r["index"]), r["name"], r["op"] + (f"+{r['activation']}" if r["activation"] else ""), r["placement"],
                  f"{r['flops'] / 1e6:.3f}",
                  f"with #{r['timed_with']}" if r["timed_with"] is not None else _fmt_ns(r["median_ns"]),
                  f"{100 * r['median_ns'] / total:.1f}%" if total > 0 and r["timed_with"] is None else "-",
                  "-" if not r["gflops"] or r.get("wave_flops", r["flops"]) == 0 else
                  f"{r['gflops']:.1f}" + ("*" if "wave_flops" in r else ""))
    out.print(t)
    if any(r["timed_with"] is not None for r in rows):
        out.print("with #N: issued in one wave with layer N (independent CEDR calls, one barrier); timed together "
                  "(* GFLOP/s over the whole wave)")
    out.print(f"whole run: median {_fmt_ns(total)} (min {_fmt_ns(float(totals.min()))}); "
              f"{lib.desc['flops'] / total:.1f} GFLOP/s over {lib.desc['flops'] / 1e6:.2f} MFLOP")


@app.command()
def ops(as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List the supported ops: opset range, dtypes, the CEDR API they map to or the CPU fallback, constraints."""
    from .conformance import op_table

    rows = op_table()
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    from .ir import INTERNAL_OPSET

    t = Table(title=f"{len(rows)} supported ops (models are converted to opset {INTERNAL_OPSET}; newer models "
                    f"are kept when their ops only gained element types)")
    for col in ("op", "opsets", "dtypes", "CEDR API / fallback", "notes and constraints"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["op"], r["opsets"], ", ".join(r["dtypes"]), r["maps_to"], r["notes"])
    out.print(t)


@app.command()
def conformance(write: Optional[Path] = typer.Option(None, "--write", help="Write the markdown report "
                                                     "(the project's docs/ops.md)."),
                json_out: Optional[Path] = typer.Option(None, "--json", help="Write every case's result as JSON."),
                save_passing: Optional[Path] = typer.Option(None, "--save-passing", help="Write the cases that "
                                                            "pass, one a line (the suite's "
                                                            "tests/conformance_passing.txt)."),
                only: Optional[str] = typer.Option(None, "--only", help="Only cases whose name or op matches "
                                                   "this regular expression.")):
    """Run the onnx package's backend node tests and model folders through the compiler and compare.

    Exits 1 when a case computes something else (mismatch, crash) or the compiler fails on it in a way
    other than its one-line refusal (error, build-error)."""
    import dataclasses

    from .conformance import FAILURES, render_report, run_suite, summarize, write_pass_set

    try:
        res, secs = run_suite(progress=lambda s: err.print(s), only=only)
    except O2CError as e:
        _fail(e)
    s = summarize(res)
    out.print(f"node cases: {s['node_pass']} / {s['node_total']} pass, {s['node_disputed']} disputed; model folders: "
              f"{sum(r.passed for r in s['models'].values())} / {len(s['models'])} pass; {secs:.0f} s")
    for r in res:
        if r.status == "disputed":
            out.print(f"disputed: {escape(r.name)}: {escape(r.reason)}", soft_wrap=True)
    bad = [r for r in res if r.status in FAILURES]
    for r in bad:
        err.print(f"[bold red]{r.status}:[/] {escape(r.name)}: {escape(r.reason)}", soft_wrap=True)
    if write:
        write.write_text(render_report(res))
    if json_out:
        json_out.write_text(json.dumps([dataclasses.asdict(r) for r in res], indent=0))
    if save_passing:
        write_pass_set(res, save_passing)
    if bad:
        raise typer.Exit(1)


def _fmt_ns(ns) -> str:
    if ns is None:
        return "-"
    ns = float(ns)
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


@app.command()
def run(apps: List[str] = typer.Argument(..., help="APP[:INSTANCES[:PERIOD_US]]: an app .so, a folder made by "
                                          "`convert`, or a bundled app (radar_correlator, pulse_doppler, wifi_tx)."),
        config: Path = typer.Option(..., "--config", "-c", help="Hardware composition and scheduler (JSON)."),
        log_dir: Optional[Path] = typer.Option(None, "--log-dir", help="Folder for the CEDR logs, summary.json and "
                                               "app_output/<app>.<app_id>.log (required unless --check)."),
        scheduler: Optional[str] = typer.Option(None, help="Override the config's scheduler "
                                                "(SIMPLE, RANDOM, MET, EFT, ETF, HEFT_RT)."),
        seed: Optional[int] = typer.Option(None, help="Override the config's random seed."),
        arrival: Optional[str] = typer.Option(None, help="periodic or poisson (mean gap = the period)."),
        lib: Optional[List[Path]] = typer.Option(None, "--lib", help="Extra kernel library to load (repeatable)."),
        check: bool = typer.Option(False, "--check", help="Validate config and apps, list the PEs, run nothing."),
        force: bool = typer.Option(False, help="Replace a log folder not written by `onnx2cedr run`."),
        print_output: bool = typer.Option(False, "--print-output", help="Also print every instance's output, "
                                          "each line prefixed [APP#APP_ID] (failed instances' always are)."),
        as_json: bool = typer.Option(False, "--json", help="Print summary.json."),
        sanitize: Optional[str] = RunSanitizeOpt,
        isolate: Optional[bool] = typer.Option(None, "--isolate/--no-isolate", help="Run each app instance in a "
                                               "child process: a crash or a hang (config \"Isolation\"."
                                               "\"instance_timeout_s\") fails that instance only. Default: the "
                                               "config's \"Isolation\", else off.")):
    """Run apps on the CEDR-compatible runtime with a described SoC; write CEDR logs and a summary."""
    from . import run as R
    from .build import parse_sanitize

    try:
        rb = R._runtime(parse_sanitize(sanitize))
        specs = [R.parse_app_spec(a, rb) for a in apps]
        if check:
            # as the runtime wrote it: one line per PE (rich would wrap long lines and read brackets as markup)
            sys.stdout.write(R.check(config, specs, extra_libs=lib or (), rb=rb).rstrip() + "\n")
            return
        if log_dir is None:
            raise O2CError("--log-dir DIR is required to run apps (only --check runs without one)")
        res = R.run(config, log_dir, specs, scheduler=scheduler, seed=seed, arrival=arrival, force=force,
                    extra_libs=lib or (), rb=rb, isolate=isolate)
    except O2CError as e:
        _fail(e)
    s = res.summary
    failed = {(f.get("app"), f.get("instance")) for f in s.get("failures", [])}
    for (name, app_id), text in R.app_outputs(res.log_dir).items():
        if print_output or (name, app_id) in failed:
            for line in text.splitlines():
                sys.stderr.write(f"[{name}#{app_id}] {line}\n")
    if as_json:
        sys.stdout.write(json.dumps(s, indent=1) + "\n")
    else:
        out.print(f"[bold]{s['scheduler']}[/]: {s['instances']} instances, {s['tasks']} tasks, makespan "
                  f"{_fmt_ns(s['makespan_ns'])}; enqueue-to-start p50 {_fmt_ns(s['dispatch_ns']['p50'])}, "
                  f"scheduling {_fmt_ns(s['scheduling']['per_task_ns'])}/task")
        t = Table(title="apps")
        for col in ("app", "instances", "failed", "latency p50", "p95", "max"):
            t.add_column(col)
        for a in s["apps"]:
            lat = a["latency_ns"]
            t.add_row(a["name"], str(a["instances"]), str(a["failed"]), _fmt_ns(lat["p50"]), _fmt_ns(lat["p95"]),
                      _fmt_ns(lat["max"]))
        out.print(t)
        t = Table(title="processing elements")
        for col in ("PE", "type", "tasks", "busy", "utilization"):
            t.add_column(col)
        for p in s["pes"]:
            t.add_row(p["name"], p["type"], str(p["tasks"]), _fmt_ns(p["busy_ns"]), f"{100 * p['utilization']:.1f}%")
        out.print(t)
        f = s.get("faults") or {}
        if f.get("total"):
            kinds = ", ".join(f"{f[k]} {k}" for k in ("error", "crash", "overrun") if f.get(k))
            out.print(f"faults: {f['total']} accelerator call(s) failed ({kinds}; {f.get('injected', 0)} injected) "
                      "and were re-run on a CPU PE")
        out.print(f"logs: {res.log_dir}/")
    if res.returncode != 0:
        fails = s.get("failures", [])
        f0 = fails[0] if fails else {}
        err.print(f"[bold red]error:[/] {s['failed_instances']} app instance(s) failed"
                  + (f" (first: {f0.get('app')} instance {f0.get('instance')}, exit code {f0.get('exit_code')}"
                     + (f", {'timed out, ' if f0.get('timed_out') else ''}killed by {f0['signal']}"
                        if f0.get("signal") else "") + ")"
                     if f0 else ""))
        raise typer.Exit(1)


SocketOpt = typer.Option(None, "--socket", help="The daemon's Unix socket (default $XDG_RUNTIME_DIR/onnx2cedr/"
                         "daemon.sock, else /tmp/onnx2cedr-$UID/daemon.sock).")


@app.command()
def daemon(config: Path = typer.Option(..., "--config", "-c", help="Hardware composition and scheduler (JSON)."),
           log_dir: Path = typer.Option(..., "--log-dir", help="Where the logs go when the daemon stops."),
           socket: Optional[Path] = SocketOpt,
           scheduler: Optional[str] = typer.Option(None, help="Override the config's scheduler."),
           seed: Optional[int] = typer.Option(None, help="Override the config's random seed."),
           arrival: Optional[str] = typer.Option(None, help="periodic or poisson (mean gap = the period)."),
           lib: Optional[List[Path]] = typer.Option(None, "--lib", help="Extra kernel library to load (repeatable)."),
           background: bool = typer.Option(False, "--background", help="Detach; return once it is ready "
                                           "(its output goes to LOG_DIR/daemon.out)."),
           force: bool = typer.Option(False, help="Replace a log folder not written by onnx2cedr."),
           sanitize: Optional[str] = RunSanitizeOpt,
           isolate: Optional[bool] = typer.Option(None, "--isolate/--no-isolate", help="App instances in child "
                                                  "processes (a crash or a hang fails that instance only) or as "
                                                  "threads of the daemon. Default: the config's \"Isolation\", "
                                                  "else child processes (threads under --sanitize thread).")):
    """Run the runtime as a daemon that takes submissions (`submit`) until `stop`, then writes the logs."""
    from . import daemon as D
    from . import run as R
    from .build import parse_sanitize

    try:
        san = parse_sanitize(sanitize)
        if background:
            st = D.start_background(config, log_dir, socket, scheduler, seed, arrival, lib or (), force, sanitize=san,
                                    isolate=isolate)
            sys.stdout.write(f"daemon pid {st.pid} on {st.socket}; logs in {st.log_dir}/ when stopped\n")
            return
        log, path = D.prepare(config, log_dir, socket, force)
        cmd = D.daemon_command(config, log, path, scheduler, seed, arrival, lib or (), sanitize=san, isolate=isolate)
    except O2CError as e:
        _fail(e)
    sys.stdout.flush()
    os.execve(cmd[0], cmd, R.runtime_env())  # the runtime itself serves in the foreground (Ctrl-C stops it, logs written)


@app.command()
def submit(apps: List[str] = typer.Argument(..., help="APP[:INSTANCES[:PERIOD_US]]: an app .so, a folder made by "
                                            "`convert`, or a bundled app."),
           socket: Optional[Path] = SocketOpt,
           wait: bool = typer.Option(False, "--wait", help="Wait until these instances finish; report their status."),
           timeout: Optional[float] = typer.Option(None, help="Give up waiting after this many seconds.")):
    """Submit a workload to a running daemon (CEDR's sub_dag); returns once the daemon accepted it."""
    from . import daemon as D
    from . import run as R

    try:
        specs = [R.parse_app_spec(a) for a in apps]
        replies = D.submit(specs, socket, wait=wait, timeout=timeout)
    except O2CError as e:
        _fail(e)
    acc = replies[0]
    first, last = acc["app_ids"]
    sys.stdout.write(f"submission {acc['submission']}: {acc['instances']} instance(s), app_id {first}"
                     + (f"-{last}" if last != first else "") + "\n")
    if wait:
        done = replies[1]
        for i in done["instances"]:
            state = "dropped" if i.get("dropped") else ("ok" if i["exit_code"] == 0 else f"exit code {i['exit_code']}")
            sys.stdout.write(f"  {i['app']} app_id {i['app_id']}: {state}\n")
        if done["failed"]:
            err.print(f"[bold red]error:[/] {done['failed']} app instance(s) failed")
            raise typer.Exit(1)


@app.command()
def stop(socket: Optional[Path] = SocketOpt,
         now: bool = typer.Option(False, "--now", help="Drop instances whose arrival time has not come "
                                  "(running ones still finish)."),
         timeout: Optional[float] = typer.Option(None, help="Give up waiting after this many seconds.")):
    """Stop the daemon (CEDR's kill_daemon): it waits for its instances, writes the logs and exits."""
    from . import daemon as D

    try:
        res = D.stop(socket, now=now, timeout=timeout)
    except O2CError as e:
        _fail(e)
    sys.stdout.write(f"daemon stopped: {res['summary']}\n")
    if res.get("exit_code"):
        err.print("[bold red]error:[/] some app instances failed (see summary.json)")
        raise typer.Exit(1)


@app.command()
def calibrate(config: Path = typer.Option(..., "--config", "-c", help="The hardware config to calibrate."),
              output: Optional[Path] = typer.Option(None, "-o", "--output",
                                                    help="Write the calibrated config here (default: in place).")):
    """Measure each API on each PE type of CONFIG and store size-aware cost functions in it."""
    from . import run as R

    try:
        cal = R.calibrate(config, output)
    except O2CError as e:
        _fail(e)
    t = Table(title="cost = fixed + slope x work")
    for col in ("API", "PE type", "fixed", "ns / unit of work"):
        t.add_column(col)
    for api, per_type in sorted(cal["API Cost Functions"].items()):
        for typ, f in per_type.items():
            t.add_row(api, typ, _fmt_ns(f["fixed_ns"]), f"{f['ns_per_unit']:.4g}")
    out.print(t)
    out.print(f"wrote {output or config}")


@app.command()
def gantt(log_dir: Path = typer.Argument(..., help="A log folder written by `onnx2cedr run` (or CEDR)."),
          output: Path = typer.Option(Path("gantt.png"), "-o", "--output", help=".png, .svg, .pdf or .html"),
          title: Optional[str] = typer.Option(None, help="Chart title.")):
    """Draw a Gantt chart of a run: one row per PE, tasks coloured by app."""
    from .gantt import draw

    try:
        info = draw(log_dir, output, title)
    except O2CError as e:
        _fail(e)
    out.print(f"wrote {output}: {info['tasks']} tasks, {len(info['pes'])} PEs, {len(info['apps'])} apps, "
              f"{_fmt_ns(info['span_ns'])}")


@app.command()
def package(folder: Path = typer.Argument(..., help="A folder made by `onnx2cedr convert` (any --target)."),
            output: Path = typer.Option(..., "-o", "--output", help="The archive to write, e.g. bundle.tar.gz."),
            accel: str = typer.Option("conv,fft,zip", "--accel", help="Accelerator PEs of the board's config "
                                      "(conv, fft, gemm, zip, comma-separated; none for CPUs only)."),
            cpus: int = typer.Option(3, "--cpus", help="CPU PEs of the board's config."),
            cxx: Optional[str] = typer.Option(None, "--cxx", help="The compiler that builds the runtime "
                                              "(default: the one the folder was built with)."),
            sysroot: Optional[Path] = typer.Option(None, "--sysroot", help="The target's sysroot.")):
    """Write one archive with what a board needs: the app, its weights, the runtime built for the folder's
    target, a board config and run.sh (docs/deploy.md)."""
    from .deploy import package as do_package

    try:
        res = do_package(folder, output, accels=accel, cpus=cpus, cxx=cxx, sysroot=sysroot)
    except O2CError as e:
        _fail(e)
    out.print(f"[bold green]packaged[/] {folder} -> {res.path}  ({_human_bytes(res.bytes)}, {len(res.members)} "
              f"members, for {res.target})")
    top = res.members[0].split("/")[0]
    out.print(f"  on the board: tar xzf {res.path.name} && {top}/run.sh model:1:0 pulse_doppler:4:1000")


import_app = typer.Typer(no_args_is_help=True, help="Import a PyTorch, Keras 3, TensorFlow or JAX model as ONNX, "
                         "checked against onnxruntime (the parity check).")
app.add_typer(import_app, name="import")
ImportOut = typer.Option(..., "-o", "--output", help="The ONNX file to write.")
OpsetOpt = typer.Option(None, help="ONNX opset to export (default: the exporter's).")
SamplesOpt = typer.Option(3, help="Input sets for the parity check (the first is the example input).")
PRtolOpt = typer.Option(1e-4, "--rtol", help="Parity tolerance: max error relative to the framework's largest magnitude.")
PAtolOpt = typer.Option(1e-5, "--atol", help="Parity: absolute error always accepted.")
ExtOpt = typer.Option(None, "--external-data/--no-external-data",
                      help="Weights in OUTPUT.data beside the model (default: only when over 2 GiB).")


def _import(spec: str, framework: str, output: Path, external_data: Optional[bool], input_shape, **kw) -> None:
    """Import, check parity, write the ONNX file; a failure is one line and a non-zero exit."""
    from .frontends import import_model, report_of, save

    try:
        proto = import_model(spec, framework, input_shape or (), **kw)
        files = save(proto, output, external_data)
    except O2CError as e:
        _fail(e)
    rep = report_of(proto)
    if rep is not None:
        out.print(f"parity: {escape(rep.summary())}")
    out.print(f"[bold green]wrote[/] {', '.join(map(str, files))} ({len(proto.graph.node)} nodes, "
              f"{_human_bytes(sum(f.stat().st_size for f in files))})")


@import_app.command("torch")
def import_torch(factory: str = typer.Argument(..., help="FILE.py:FACTORY giving an nn.Module "
                                               "(or (module, example_inputs))."),
                 output: Path = ImportOut, input_shape: Optional[List[str]] = InputShapeOpt,
                 exporter: str = typer.Option("dynamo", help="dynamo (torch.export) or legacy (TorchScript)."),
                 opset: Optional[int] = OpsetOpt, samples: int = SamplesOpt, rtol: float = PRtolOpt,
                 atol: float = PAtolOpt, external_data: Optional[bool] = ExtOpt):
    """Export a PyTorch module with torch.onnx."""
    _import(factory, "torch", output, external_data, input_shape, exporter=exporter, opset=opset, samples=samples,
                             rtol=rtol, atol=atol)


@import_app.command("keras")
def import_keras(model: str = typer.Argument(..., help="A .keras (or .h5) file, or FILE.py:FACTORY giving a "
                                             "keras.Model."),
                 output: Path = ImportOut, input_shape: Optional[List[str]] = InputShapeOpt,
                 batch: int = typer.Option(1, help="Batch size for inputs declared with an open batch."),
                 opset: Optional[int] = OpsetOpt, samples: int = SamplesOpt, rtol: float = PRtolOpt,
                 atol: float = PAtolOpt, external_data: Optional[bool] = ExtOpt):
    """Export a Keras 3 model with keras.Model.export (tf2onnx under the TensorFlow backend)."""
    _import(model, "keras", output, external_data, input_shape, batch=batch, opset=opset, samples=samples,
                             rtol=rtol, atol=atol)


@import_app.command("tf")
def import_tf(saved_model: str = typer.Argument(..., help="A TensorFlow SavedModel folder."),
              output: Path = ImportOut, input_shape: Optional[List[str]] = InputShapeOpt,
              signature: str = typer.Option("serving_default", help="The signature to convert."),
              batch: int = typer.Option(1, help="Batch size for inputs declared with an open batch."),
              opset: Optional[int] = OpsetOpt, samples: int = SamplesOpt, rtol: float = PRtolOpt,
              atol: float = PAtolOpt, external_data: Optional[bool] = ExtOpt):
    """Convert a SavedModel signature with tf2onnx."""
    _import(saved_model, "tf", output, external_data, input_shape, signature=signature, batch=batch, opset=opset,
                             samples=samples, rtol=rtol, atol=atol)


@import_app.command("jax")
def import_jax(factory: str = typer.Argument(..., help="FILE.py:FACTORY giving fn, (fn, params) or "
                                             "(fn, params, example_inputs)."),
               output: Path = ImportOut, input_shape: Optional[List[str]] = InputShapeOpt,
               opset: int = typer.Option(21, help="ONNX opset to export."), samples: int = SamplesOpt,
               rtol: float = PRtolOpt, atol: float = PAtolOpt, external_data: Optional[bool] = ExtOpt):
    """Export a JAX function (or Flax NNX module) with jax2onnx."""
    _import(factory, "jax", output, external_data, input_shape, opset=opset, samples=samples, rtol=rtol, atol=atol)


from .experiments.commands import experiment_app  # noqa: E402 - after the helpers it uses

app.add_typer(experiment_app, name="experiment")


def main() -> None:
    try:
        app()
    except O2CError as e:  # errors raised outside a command body
        err.print(f"[bold red]error:[/] {escape(str(e))}")
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
