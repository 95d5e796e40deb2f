"""JAX frontend: jax2onnx.

A JAX model is a function: fn(*inputs), or fn(params, *inputs) with a pytree of parameters (which
become the ONNX model's weights); a Flax NNX module is such a function. JAX has no layers, so an
export failure is reported at the primitive being converted and the line of user code that
called it (from the jaxpr equation's source information).
"""
from __future__ import annotations

import sys
from typing import Callable, Sequence

import numpy as np
import onnx

from ..errors import O2CError
from . import parity
from .common import FrontendError, as_arrays, finalize, first_line, fix_io_shapes, parity_samples, quiet, require


def _jax():
    jax = require("jax", "JAX", "jax")
    require("jax2onnx", "JAX", "jax")
    return jax


def _failing_equation(tb) -> str | None:
    """The innermost jaxpr equation being converted when the exporter raised: "primitive 'name'
    at file:line:col (function)", the location being the innermost user code on the way (an
    equation inside a library function, e.g. jnp.linalg's, has no user frame of its own)."""
    eqns = []
    while tb is not None:
        cand = tb.tb_frame.f_locals.get("eqn")
        if cand is not None and hasattr(cand, "primitive") and hasattr(cand, "source_info") \
                and (not eqns or eqns[-1] is not cand):
            eqns.append(cand)
        tb = tb.tb_next
    if not eqns:
        return None
    where = ""
    try:
        from jax._src import source_info_util

        for e in reversed(eqns):
            where = source_info_util.summarize(e.source_info)
            if where:
                break
    except Exception:  # a private module: its absence only costs the location
        pass
    return f"primitive '{eqns[-1].primitive.name}'" + (f" at {where}" if where else "")


def from_jax(fn: Callable, params=None, example_inputs: Sequence = (), *, opset: int = 21,
             input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
             name: str | None = None, samples: int = 3, rtol: float = 1e-4, atol: float = 1e-5,
             seed: int = 0) -> onnx.ModelProto:
    """Export fn(*example_inputs) (or fn(params, *example_inputs)) to ONNX with jax2onnx and check it
    against JAX on the same inputs."""
    jax = _jax()
    from jax2onnx import to_onnx
    import jax2onnx

    if not callable(fn):
        raise O2CError(f"from_jax needs a function or a callable module, got {type(fn).__name__}")
    arrays = as_arrays(example_inputs)
    if not arrays:
        raise O2CError("from_jax needs example inputs (e.g. --input-shape 1x32x32x3)")
    call = fn if params is None else (lambda *xs: fn(params, *xs))
    version = getattr(jax2onnx, "__version__", None)
    if version is None:
        from importlib.metadata import version as _v

        version = _v("jax2onnx")
    label = f"jax2onnx {version} (jax {jax.__version__})"
    model_name = name or getattr(fn, "__name__", None) or type(fn).__name__
    try:
        with quiet():
            proto = to_onnx(call, arrays, opset=opset, model_name=model_name, return_mode="proto",
                            input_names=list(input_names) if input_names else None,
                            output_names=list(output_names) if output_names else None)
    except Exception as e:
        where = _failing_equation(sys.exc_info()[2])
        raise FrontendError(f"{label} failed" + (f" at {where}" if where else "") + f": {first_line(e)}") from None
    proto = finalize(proto, model_name, label)
    jitted = jax.jit(call)

    def run(*xs):
        return [np.asarray(x) for x in jax.tree_util.tree_leaves(jitted(*xs))]

    fix_io_shapes(proto, arrays, run(*arrays))
    parity.check(proto, run, parity_samples(arrays, samples, seed), "JAX", label, rtol, atol)
    return proto
