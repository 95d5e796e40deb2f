"""Export zoo models to ONNX.

    python -m models.export --out DIR [--model NAME ...] [--opset 17]
                            [--dynamo] [--dynamic-batch] [--train-cache FILE]
    python -m models.export --demo      # regenerate models/demo/*

Default exporter is the TorchScript one (``dynamo=False``); ``--dynamo``
selects ``torch.export``-based exporter.  Fixed shapes (batch 1) unless
``--dynamic-batch``, which makes dim 0 of the input and every output the
symbolic dim ``batch``.

onnx 1.23 stamps files with IR version 14, which onnxruntime 1.31 refuses, so
after export the declared IR version is clamped to <= 10 and the file is
re-saved, checked with ``onnx.checker`` and loaded by onnxruntime.  The
declared graph-output shapes are also re-stamped from the PyTorch outputs
(the TorchScript exporter gets tiny_yolo's wrong, see _set_output_shapes).

BatchNormalization is kept as separate ONNX nodes by default (the zoo's BN
layers carry random non-trivial statistics precisely so that onnx2cedr's own
BN folding is exercised).  Both exporters would otherwise fold BN into the
preceding Conv: the TorchScript exporter does so in TrainingMode.EVAL with
constant folding, so we export with TrainingMode.PRESERVE on an eval() model
(same inference graph, BN nodes with training_mode=0); the dynamo exporter's
onnxscript optimizer has a fuse-batchnorm rewrite rule, which we switch off
for the optimisation pass.  ``--fold-bn`` restores the exporters' folding.

The dynamo exporter has no opset-17 implementations: it exports opset 18 and
its 17 down-conversion fails for ReduceMean (axes input), so with
``dynamo=True`` the opset is raised to at least 18.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import time
import warnings

import numpy as np
import torch

from . import MODELS, get
from ._util import count_macs, count_params

MAX_IR_VERSION = 10
DEMO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo")
DEMO_ONNX = os.path.join(DEMO_DIR, "lenet5_digits.onnx")
DEMO_DATA = os.path.join(DEMO_DIR, "digits_test.npz")
DEMO_MAX_BYTES = 1 << 20


def load_model(name: str, seed: int = 0, train_cache=None) -> torch.nn.Module:
    """The module that ``export_model`` exports: trained weights for models
    with a trainer (LeNet-5), seeded random weights otherwise; eval() mode."""
    spec = get(name)
    model = spec.trained(train_cache) if spec.train is not None else spec.build(seed)
    return model.eval()


def fix_ir_version(path, max_ir: int = MAX_IR_VERSION) -> int:
    """Clamp the IR version declared by ``path`` to ``max_ir``; return it."""
    import onnx

    m = onnx.load(str(path))
    if m.ir_version > max_ir:
        m.ir_version = max_ir
        onnx.save(m, str(path))
    return m.ir_version


def _set_output_shapes(model_proto, shapes, dynamic_batch: bool) -> bool:
    """Re-stamp graph output shapes from the PyTorch reference.

    The TorchScript exporter cannot infer shapes through the Pad-pads
    computation it emits for ZeroPad2d (its Slice has step -1 and is not
    constant-folded), and then invents output dims such as
    ``[batch, 75, batch, Convyolo_s32_dim_3]`` for tiny_yolo -- H wrongly
    tied to the batch symbol.  Returns True if anything changed.
    """
    changed = False
    for out, shape in zip(model_proto.graph.output, shapes):
        dims = out.type.tensor_type.shape.dim
        want = [("batch" if (i == 0 and dynamic_batch) else int(v))
                for i, v in enumerate(shape)]
        have = [d.dim_param if d.HasField("dim_param") else
                (d.dim_value if d.HasField("dim_value") else None) for d in dims]
        if have == want:
            continue
        changed = True
        del dims[:]
        for v in want:
            d = out.type.tensor_type.shape.dim.add()
            if isinstance(v, str):
                d.dim_param = v
            else:
                d.dim_value = v
    return changed


def _finalize(path, out_shapes, dynamic_batch: bool, max_ir: int = MAX_IR_VERSION) -> None:
    """Clamp the IR version and fix declared output shapes, in one save."""
    import onnx

    m = onnx.load(str(path))
    changed = _set_output_shapes(m, out_shapes, dynamic_batch)
    if m.ir_version > max_ir:
        m.ir_version = max_ir
        changed = True
    if changed:
        onnx.save(m, str(path))


def ort_session(path, optimize: bool = False):
    """Single-threaded onnxruntime CPU session.

    Graph optimisations are off by default: onnxruntime 1.31's level-1
    PadFusion folds a zero-valued Pad into a following MaxPool's ``pads``,
    which is wrong (MaxPool pads with -inf) and changes tiny_yolo's output
    (ZeroPad2d((0,1,0,1)) + MaxPool2d(2, 1)).  Unoptimised ORT is the
    reference that matches PyTorch.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def export_model(name: str, path, opset: int = 17, *, dynamic_batch: bool = False,
                 dynamo: bool = False, fold_bn: bool = False, seed: int = 0,
                 train_cache=None, model: torch.nn.Module | None = None,
                 check: bool = True) -> str:
    """Export zoo model ``name`` to ``path`` and return ``path``.

    ``model`` overrides the module (e.g. an already trained LeNet);
    otherwise :func:`load_model` is used (``train_cache`` is the LeNet
    state-dict cache file: loaded if it exists, written after training).
    """
    import onnx

    spec = get(name)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    if model is None:
        model = load_model(name, seed=seed, train_cache=train_cache)
    model.eval()
    x = torch.randn(spec.input_shape, generator=torch.Generator().manual_seed(seed))
    in_name, out_names = spec.input_name, list(spec.output_names)

    kwargs = dict(input_names=[in_name], output_names=out_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not dynamo:
            dyn = None
            if dynamic_batch:
                dyn = {n: {0: "batch"} for n in [in_name] + out_names}
            mode = torch.onnx.TrainingMode.EVAL if fold_bn else torch.onnx.TrainingMode.PRESERVE
            torch.onnx.export(model, (x,), path, dynamo=False, opset_version=opset,
                              do_constant_folding=True, training=mode,
                              dynamic_axes=dyn, **kwargs)
        else:
            dyn_shapes = None
            if dynamic_batch:
                dyn_shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},)
                # batch 1 would be specialised by torch.export (0/1 rule)
                x = x.expand(2, *x.shape[1:]).contiguous()
            prog = torch.onnx.export(model, (x,), None, dynamo=True,
                                     opset_version=max(opset, 18),
                                     dynamic_shapes=dyn_shapes, optimize=False,
                                     verify=False, verbose=False, **kwargs)
            _optimize_dynamo_program(prog, fold_bn=fold_bn)
            prog.save(path, external_data=False)
        model.eval()
    with torch.no_grad():
        ref = model(x)
    ref = ref if isinstance(ref, (tuple, list)) else (ref,)
    _finalize(path, [tuple(r.shape) for r in ref], dynamic_batch)
    if check:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        ort_session(path)  # raises if onnxruntime cannot load it
    return path


def _optimize_dynamo_program(prog, fold_bn: bool) -> None:
    """Run the exporter's standard onnxscript optimisation (constant folding,
    dead-code removal, ...), minus the BatchNorm-into-Conv fusion unless
    ``fold_bn``.  Uses onnxscript internals; falls back to the stock
    optimiser (BN folded) if they move."""
    if fold_bn:
        prog.optimize()
        return
    try:
        from onnxscript import rewriter
        from onnxscript.rewriter.rules.common import _fuse_batchnorm
        saved = rewriter._DEFAULT_REWRITE_RULES
    except (ImportError, AttributeError):  # pragma: no cover
        print("models.export: cannot disable onnxscript's BN fusion; BN will be folded",
              file=sys.stderr)
        prog.optimize()
        return
    drop = set(_fuse_batchnorm.rules)
    rewriter._DEFAULT_REWRITE_RULES = tuple(r for r in saved if r not in drop)
    try:
        prog.optimize()
    finally:
        rewriter._DEFAULT_REWRITE_RULES = saved


def op_histogram(path) -> dict:
    import onnx

    m = onnx.load(str(path))
    return dict(collections.Counter(n.op_type for n in m.graph.node))


def compare(name: str, path, model: torch.nn.Module, batch: int = 1, seed: int = 1,
            optimize: bool = False):
    """Run ORT and PyTorch on the same random input; return the list of
    (max_abs_err, output_scale) per output."""
    spec = get(name)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((batch,) + tuple(spec.input_shape[1:]), generator=g)
    with torch.no_grad():
        ref = model.eval()(x)
    ref = ref if isinstance(ref, (tuple, list)) else (ref,)
    out = ort_session(path, optimize=optimize).run(None, {spec.input_name: x.numpy()})
    res = []
    for r, o in zip(ref, out):
        r = r.numpy()
        assert r.shape == o.shape, (r.shape, o.shape)
        res.append((float(np.abs(r - o).max()), float(np.abs(r).max())))
    return res


def ort_predict(path, x: np.ndarray, optimize: bool = False) -> np.ndarray:
    """First output of the model for every sample of ``x``; runs the batch at
    once if the input's batch dim is symbolic, else one sample at a time."""
    sess = ort_session(path, optimize=optimize)
    inp = sess.get_inputs()[0]
    if not isinstance(inp.shape[0], int):
        return sess.run(None, {inp.name: x})[0]
    return np.concatenate([sess.run(None, {inp.name: x[i:i + 1]})[0]
                           for i in range(len(x))])


def make_demo(out_dir: str = DEMO_DIR, opset: int = 17, train_cache=None, verbose=True):
    """Write lenet5_digits.onnx (trained LeNet-5) and digits_test.npz."""
    from . import digits, lenet5

    onnx_path = os.path.join(out_dir, "lenet5_digits.onnx")
    data_path = os.path.join(out_dir, "digits_test.npz")
    model = lenet5.train(cache_path=train_cache)
    export_model("lenet5", onnx_path, opset=opset, model=model)
    _, _, x_te, y_te = digits.load()
    mean, std = digits.normalization()
    np.savez_compressed(data_path, x=x_te, y=y_te,
                        mean=np.float32(mean), std=np.float32(std))
    size = os.path.getsize(onnx_path)
    if size >= DEMO_MAX_BYTES:
        raise RuntimeError(f"{onnx_path} is {size} bytes (limit {DEMO_MAX_BYTES})")
    pt_acc = lenet5.accuracy(model, x_te, y_te)
    ort_acc = float((ort_predict(onnx_path, x_te).argmax(1) == y_te).mean())
    if verbose:
        print(f"{onnx_path}: {size} bytes; {data_path}: "
              f"{os.path.getsize(data_path)} bytes; N={len(y_te)}; "
              f"test acc torch {pt_acc:.4f} onnxruntime {ort_acc:.4f}")
    return onnx_path, data_path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.export", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="output directory")
    ap.add_argument("--model", action="append", choices=sorted(MODELS),
                    help="model to export (repeatable; default: all)")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--dynamo", action="store_true", help="use the dynamo exporter")
    ap.add_argument("--dynamic-batch", action="store_true",
                    help="symbolic batch dimension 'batch'")
    ap.add_argument("--fold-bn", action="store_true",
                    help="let the exporter fold BatchNorm into Conv")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-cache", help="LeNet-5 state-dict cache file")
    ap.add_argument("--demo", action="store_true",
                    help="regenerate models/demo/lenet5_digits.onnx + digits_test.npz")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the onnxruntime-vs-PyTorch comparison")
    args = ap.parse_args(argv)

    if args.demo:
        make_demo(opset=args.opset, train_cache=args.train_cache)
        if not args.out:
            return 0
    if not args.out:
        ap.error("--out is required (unless --demo)")

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    for name in args.model or list(MODELS):
        spec = get(name)
        model = load_model(name, seed=args.seed, train_cache=args.train_cache)
        suffix = (("_dyn" if args.dynamic_batch else "") + ("_dynamo" if args.dynamo else "")
                  + ("_foldbn" if args.fold_bn else ""))
        path = os.path.join(args.out, f"{name}{suffix}.onnx")
        t0 = time.perf_counter()
        export_model(name, path, opset=args.opset, dynamic_batch=args.dynamic_batch,
                     dynamo=args.dynamo, fold_bn=args.fold_bn, model=model)
        dt = time.perf_counter() - t0
        line = (f"{name:10s} params {count_params(model):>9,d}  "
                f"MACs {count_macs(model, spec.input_shape):>12,d}  "
                f"export {dt:5.2f}s  {os.path.getsize(path):>9,d} B  {path}")
        if not args.no_verify:
            errs = compare(name, path, model, batch=2 if args.dynamic_batch else 1)
            line += "  max|err| " + ", ".join(f"{e:.2e}/{s:.2g}" for e, s in errs)
        print(line)
        print("    ops:", op_histogram(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
