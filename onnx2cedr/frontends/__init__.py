"""Frontends: PyTorch, Keras 3, TensorFlow SavedModel and JAX models in, one ONNX model out.

Each frontend exports with the framework's own exporter, then runs the framework and onnxruntime
on the same inputs (the parity check, see parity.py) before the compiler sees the model: over
tolerance is an error naming the exporter. The frameworks are optional extras; a missing one is a
one-line error naming the extra that installs it. Frameworks are imported only when used.

    from_torch(module, example_inputs)      onnx2cedr[torch]
    from_keras(model_or_path)               onnx2cedr[tf]
    from_tf(saved_model_dir)                onnx2cedr[tf]
    from_jax(fn, params, example_inputs)    onnx2cedr[jax]
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import onnx

from ..errors import O2CError
from .common import FrontendError, load_factory, parse_dims, save
from .parity import ParityReport, report_of

FRAMEWORKS = ("torch", "keras", "tf", "jax")
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def from_torch(module, example_inputs, **kwargs) -> onnx.ModelProto:
    from .pytorch import from_torch as f

    return f(module, example_inputs, **kwargs)


def from_keras(model_or_path, example_inputs=None, **kwargs) -> onnx.ModelProto:
    from .keras import from_keras as f

    return f(model_or_path, example_inputs, **kwargs)


def from_tf(saved_model_dir, example_inputs=None, **kwargs) -> onnx.ModelProto:
    from .tf import from_tf as f

    return f(saved_model_dir, example_inputs, **kwargs)


def from_jax(fn, params=None, example_inputs=(), **kwargs) -> onnx.ModelProto:
    from .jax import from_jax as f

    return f(fn, params, example_inputs, **kwargs)


def is_framework_input(spec: str | os.PathLike) -> bool:
    """Whether a model argument names a framework model rather than an ONNX file."""
    s = str(spec)
    if s.endswith(KERAS_SUFFIXES):
        return True
    if ".py:" in s:
        return True
    from .tf import is_saved_model

    return is_saved_model(s)


def _random_inputs(shapes: Sequence[Sequence[int]], seed: int) -> list:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(s)).astype(np.float32) for s in shapes]


def import_model(spec: str | os.PathLike, framework: str | None = None,
                 input_shapes: Sequence[Sequence[int] | str] = (), *, seed: int = 0,
                 **kwargs: Any) -> onnx.ModelProto:
    """Import what a command-line argument names: a .keras/.h5 file (Keras), a SavedModel folder
    (TensorFlow), or FILE.py:FACTORY (PyTorch, Keras or JAX: told by what FACTORY returns, or by
    `framework`). FACTORY is a function without arguments or the object itself; it returns

      PyTorch: nn.Module, or (nn.Module, example_inputs)
      Keras:   keras.Model
      JAX:     fn, (fn, params) or (fn, params, example_inputs)

    Example inputs not given by the factory are random float32 arrays of `input_shapes`."""
    if framework is not None and framework not in FRAMEWORKS:
        raise O2CError(f"unknown framework '{framework}' (choose from {', '.join(FRAMEWORKS)})")
    shapes = [parse_dims(s) if isinstance(s, str) else tuple(s) for s in input_shapes]
    s = str(spec)
    if ".py:" not in s:
        if s.endswith(KERAS_SUFFIXES) or framework == "keras":
            if framework not in (None, "keras"):
                raise O2CError(f"'{s}' is a Keras file, not a {framework} model")
            return from_keras(s, _random_inputs(shapes, seed) if shapes else None, seed=seed, **kwargs)
        from .tf import is_saved_model

        if is_saved_model(s) or framework == "tf":
            if framework not in (None, "tf"):
                raise O2CError(f"'{s}' is a TensorFlow SavedModel, not a {framework} model")
            return from_tf(s, _random_inputs(shapes, seed) if shapes else None, seed=seed, **kwargs)
        if not Path(s).exists():
            raise O2CError(f"'{s}' does not exist")
        raise O2CError(f"'{s}' is neither a .keras file, a SavedModel folder nor FILE.py:FACTORY")
    obj, attr = load_factory(s)
    kind = framework or _kind_of(obj)
    kwargs.setdefault("name", attr)
    if kind == "torch":
        module, example = (obj if isinstance(obj, tuple) else (obj, None))
        if example is None:
            if not shapes:
                raise O2CError(f"{attr} gives no example inputs: pass --input-shape (e.g. 1x3x32x32)")
            example = tuple(_random_inputs(shapes, seed))
        return from_torch(module, example, seed=seed, **kwargs)
    if kind == "keras":
        return from_keras(obj, _random_inputs(shapes, seed) if shapes else None, seed=seed, **kwargs)
    if kind == "tf":
        raise O2CError("a TensorFlow model is given as a SavedModel folder, not FILE.py:FACTORY")
    parts = obj if isinstance(obj, tuple) else (obj,)
    if not 1 <= len(parts) <= 3 or not callable(parts[0]):
        raise O2CError(f"{attr} must give fn, (fn, params) or (fn, params, example_inputs) for JAX")
    fn, params, example = (tuple(parts) + (None, None))[:3]
    if example is None:
        if not shapes:
            raise O2CError(f"{attr} gives no example inputs: pass --input-shape (e.g. 1x32x32x3)")
        example = _random_inputs(shapes, seed)
    return from_jax(fn, params, example, seed=seed, **kwargs)


def _kind_of(obj) -> str:
    import sys

    target = obj[0] if isinstance(obj, tuple) and obj else obj
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(target, torch.nn.Module):
        return "torch"
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(target, keras.Model):
        return "keras"
    if callable(target):
        return "jax"
    raise O2CError(f"cannot tell which framework a {type(target).__name__} belongs to; pass --framework")


__all__ = ["from_torch", "from_keras", "from_tf", "from_jax", "import_model", "is_framework_input", "save",
           "report_of", "ParityReport", "FrontendError", "FRAMEWORKS"]
