"""Keras 3 frontend: keras.Model.export(format="onnx").

With the TensorFlow backend that export runs tf2onnx on the model's tf.function
(tf2onnx.convert.from_keras does not work with Keras 3); with the torch or JAX backends Keras
uses torch.onnx or jax2tf + tf2onnx. A model loaded from a .keras file has never been called, and
Keras refuses to export such a model, so it is called once on the example inputs first.

tf2onnx converts with continue_on_error: a TF op it cannot convert stays in the model as a node
that is no ONNX op. Such nodes, like an exception from the exporter, are reported with the layer
they come from, found by exporting the layers one by one.
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnx

from ..errors import ModelError, O2CError
from . import parity
from .common import (FrontendError, as_arrays, finalize, first_line, fix_io_shapes, flatten_outputs, parity_samples,
                     quiet, random_like, require, unknown_ops)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter


def _keras():
    keras = require("keras", "Keras", "tf")
    backend = keras.backend.backend()
    if backend in ("tensorflow", "jax"):
        require("tensorflow", "Keras", "tf")
        require("tf2onnx", "Keras", "tf")
        logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    return keras


def exporter_label(keras) -> str:
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        via = f"torch.onnx (torch {torch.__version__.split('+')[0]})"
    else:
        import tf2onnx

        via = ("jax2tf + " if backend == "jax" else "") + f"tf2onnx {tf2onnx.__version__}"
    return f"keras {keras.__version__} Model.export -> {via}"


def load(path: str | os.PathLike):
    """A saved Keras model (.keras, or a legacy .h5)."""
    keras = _keras()
    p = Path(path)
    if not p.exists():
        raise ModelError(f"Keras model '{path}' does not exist")
    try:
        with quiet():
            return keras.saving.load_model(str(p), compile=False)
    except Exception as e:
        raise ModelError(f"cannot load Keras model '{p.name}': {first_line(e)}") from None


def _example_inputs(model, example_inputs, batch: int, seed: int) -> list[np.ndarray]:
    if example_inputs is not None:
        return as_arrays(example_inputs)
    inputs = getattr(model, "inputs", None)
    try:
        inputs = list(inputs) if inputs else None
    except Exception:
        inputs = None
    if not inputs:
        raise O2CError(f"Keras model '{model.name}' declares no inputs (a subclassed model?): "
                       f"pass example_inputs")
    arrays = []
    for t in inputs:
        shape = list(t.shape)
        if shape and shape[0] is None:
            shape[0] = batch
        if any(d is None for d in shape):
            raise O2CError(f"Keras input '{t.name}' has shape {tuple(t.shape)} with unknown dimensions "
                           f"besides the batch; pass example_inputs")
        arrays.append(np.zeros(shape, dtype=np.dtype(t.dtype)))
    return random_like(arrays, seed)


def _call(model, arrays: Sequence[np.ndarray]):
    x: Any = arrays[0] if len(arrays) == 1 else list(arrays)
    return model(x, training=False)


def _export(model, opset: int | None, workdir: str) -> onnx.ModelProto:
    path = os.path.join(workdir, "keras.onnx")
    with quiet():
        model.export(path, format="onnx", verbose=False, opset_version=opset)
    return onnx.load_model(path, load_external_data=True)


def _unconvertible(model: onnx.ModelProto) -> str | None:
    bad = unknown_ops(model)
    if not bad:
        return None
    kinds = sorted({n.op_type for n in bad})
    return (f"TF op{'s' if len(kinds) > 1 else ''} {', '.join(repr(k) for k in kinds)} "
            f"{'have' if len(kinds) > 1 else 'has'} no ONNX conversion (node '{bad[0].name}')")


def _layer_by_scope(model, node_name: str) -> str | None:
    """Keras layers become TF name scopes ('model/conv2d_1/Conv2D'; TF may append '_N')."""
    names = {layer.name for layer in model.layers}
    for part in node_name.split("/")[1:]:
        for cand in (part, re.sub(r"_\d+$", "", part)):
            if cand in names:
                return cand
    return None


def failing_layer(model, batch: int, opset: int | None, node_name: str | None = None) -> str | None:
    """The first layer that fails to export on its own (as "'name' (Class)"), or the layer whose
    name scope holds `node_name`."""
    keras = _keras()
    with tempfile.TemporaryDirectory(prefix="o2c-keras-") as tmp:
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            try:
                spec = layer.input
            except Exception:
                break  # a subclassed model: its layers have no recorded inputs
            try:
                ins = keras.tree.map_structure(
                    lambda t: keras.Input(batch_shape=(batch,) + tuple(t.shape[1:]), dtype=t.dtype), spec)
                sub = keras.Model(ins, layer(ins))
                sub(keras.tree.map_structure(lambda t: np.zeros(t.shape, t.dtype), ins), training=False)
            except Exception:
                continue  # cannot stand alone; not evidence either way
            try:
                bad = _unconvertible(_export(sub, opset, tmp))
            except Exception:
                bad = "raised"
            if bad:
                return f"'{layer.name}' ({type(layer).__name__})"
    if node_name:
        name = _layer_by_scope(model, node_name)
        if name:
            return f"'{name}' ({type(model.get_layer(name)).__name__})"
    return None


def from_keras(model_or_path, example_inputs=None, *, batch: int = 1, opset: int | None = None,
               name: str | None = None, samples: int = 3, rtol: float = 1e-4, atol: float = 1e-5,
               seed: int = 0) -> onnx.ModelProto:
    """Export a Keras 3 model (or a saved .keras / .h5 file) to ONNX and check it against Keras.

    Input shapes come from example_inputs, else from the model's declared inputs with the batch
    dimension set to `batch`."""
    keras = _keras()
    model = load(model_or_path) if isinstance(model_or_path, (str, os.PathLike)) else model_or_path
    if not isinstance(model, keras.Model):
        raise O2CError(f"from_keras needs a keras.Model or a .keras file, got {type(model).__name__}")
    arrays = _example_inputs(model, example_inputs, batch, seed)
    label = exporter_label(keras)
    try:
        with quiet():
            _call(model, arrays)  # Keras exports only models that have been called
    except Exception as e:
        raise ModelError(f"Keras model '{model.name}' fails on inputs of shape "
                         f"{', '.join(str(list(a.shape)) for a in arrays)}: {first_line(e)}") from None
    with tempfile.TemporaryDirectory(prefix="o2c-keras-") as tmp:
        try:
            proto = _export(model, opset, tmp)
        except Exception as e:
            where = failing_layer(model, arrays[0].shape[0] if arrays[0].ndim else batch, opset)
            raise FrontendError(f"{label} failed" + (f" at layer {where}" if where else "")
                                + f": {first_line(e)}") from None
    bad = _unconvertible(proto)
    if bad:
        node = unknown_ops(proto)[0].name
        where = failing_layer(model, arrays[0].shape[0] if arrays[0].ndim else batch, opset, node)
        raise FrontendError(f"{label} failed" + (f" at layer {where}" if where else "") + f": {bad}")
    proto = finalize(proto, name or model.name, label)

    def run(*xs):
        return flatten_outputs(_call(model, xs), keras.tree.flatten)

    fix_io_shapes(proto, arrays, run(*arrays))
    parity.check(proto, run, parity_samples(arrays, samples, seed), "Keras", label, rtol, atol)
    return proto

