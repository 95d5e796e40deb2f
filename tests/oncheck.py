"""Single-node (and small-graph) checks: a model through onnxruntime and through the generated code."""
from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import onnx2cedr
from onnx2cedr.runner import ModelLibrary

_counter = itertools.count()

# tolerance by op class: exact for data movement, a few ULP for element-wise, scaled for reductions
TOL = {"exact": (0.0, 0.0), "eltwise": (1e-6, 1e-6), "reduce": (1e-5, 1e-5), "transcendental": (2e-6, 1e-6)}


def make_model(nodes, inputs: Mapping[str, np.ndarray], outputs: Sequence[str],
               initializers: Mapping[str, np.ndarray] | None = None, opset: int = 21) -> onnx.ModelProto:
    ins = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
           for k, v in inputs.items()]
    outs = [onnx.ValueInfoProto(name=o) for o in outputs]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()]
    g = helper.make_graph(nodes, "g", ins, outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 17 else 10
    return m


def run_ort(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, dict(feeds))


def run_ours(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], workdir: Path | None = None,
             **convert_kwargs) -> list[np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(workdir or tmp) / f"m{next(_counter)}"
        onnx2cedr.convert(model, out, artifacts=("lib",), **convert_kwargs)
        lib = ModelLibrary(out)
        return lib.run([feeds[name] for name, _, _ in lib.inputs])


def assert_close(ours, ref, rtol: float, atol: float, what: str = "") -> None:
    assert len(ours) == len(ref)
    for k, (o, r) in enumerate(zip(ours, ref)):
        r = np.asarray(r)
        assert o.shape == r.shape, f"{what} output {k}: shape {o.shape} != {r.shape}"
        assert o.dtype == r.dtype, f"{what} output {k}: dtype {o.dtype} != {r.dtype}"
        if rtol == 0 and atol == 0:
            np.testing.assert_array_equal(o, r, err_msg=f"{what} output {k}")
        else:
            scale = max(float(np.max(np.abs(r))) if r.size else 0.0, 1.0)
            np.testing.assert_allclose(o, r, rtol=rtol, atol=atol * scale, err_msg=f"{what} output {k}")


def check(nodes, inputs: Mapping[str, np.ndarray], outputs: Sequence[str],
          initializers: Mapping[str, np.ndarray] | None = None, opset: int = 21, tol: str | tuple = "eltwise",
          **convert_kwargs) -> list[np.ndarray]:
    """Build the model, run both, compare with the op class's tolerance; returns our outputs."""
    if isinstance(nodes, onnx.NodeProto):
        nodes = [nodes]
    model = make_model(nodes, inputs, outputs, initializers, opset)
    ref = run_ort(model, inputs)
    ours = run_ours(model, inputs, **convert_kwargs)
    rtol, atol = TOL[tol] if isinstance(tol, str) else tol
    assert_close(ours, ref, rtol, atol, what=nodes[0].op_type)
    return ours


def gemm_tol(k: int) -> tuple[float, float]:
    """Tolerance for a reduction of length k in float32."""
    return (1e-6 * max(1.0, np.sqrt(k)) * 4, 2e-6 * max(1.0, np.sqrt(k)))


def rand(*shape, seed: int = 0, dtype=np.float32, low=None, high=None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if low is not None:
        return rng.uniform(low, high, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def cli(*args):
    """Run the onnx2cedr CLI in-process (typer's runner): the result has exit_code and output."""
    from typer.testing import CliRunner

    from onnx2cedr.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(r) -> str:
    """The CLI result's only non-blank line, an 'error:' line; returns it."""
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    return lines[0]
