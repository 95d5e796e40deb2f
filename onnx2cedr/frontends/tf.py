"""TensorFlow SavedModel frontend: one signature of the SavedModel through tf2onnx.

The signature is wrapped in a tf.function whose inputs have the batch dimension fixed and whose
outputs are the signature's, in sorted key order; tf2onnx names the ONNX inputs and outputs after
the signature's keys. A TF op tf2onnx cannot convert is reported with the node (and so the name
scope, which for a Keras-made SavedModel is the layer) it sits in.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import onnx

from ..errors import ModelError, O2CError
from . import parity
from .common import (FrontendError, as_arrays, finalize, first_line, fix_io_shapes, parity_samples, quiet,
                     random_like, require, to_numpy, unknown_ops)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _tf():
    tf = require("tensorflow", "TensorFlow", "tf")
    require("tf2onnx", "TensorFlow", "tf")
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    return tf


def is_saved_model(path) -> bool:
    p = Path(path)
    return p.is_dir() and ((p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file())


def from_tf(saved_model_dir, example_inputs=None, *, signature: str = "serving_default", batch: int = 1,
            opset: int | None = None, name: str | None = None, samples: int = 3, rtol: float = 1e-4,
            atol: float = 1e-5, seed: int = 0) -> onnx.ModelProto:
    """Convert one signature of a TF2 SavedModel to ONNX and check it against TensorFlow.

    example_inputs: arrays in the order of the signature's sorted input names; by default, random
    inputs of the signature's shapes with the batch dimension set to `batch`."""
    tf = _tf()
    import tf2onnx

    if not is_saved_model(saved_model_dir):
        raise ModelError(f"'{saved_model_dir}' is not a SavedModel folder (no saved_model.pb in it)")
    try:
        with quiet():
            loaded = tf.saved_model.load(str(saved_model_dir))
    except Exception as e:
        raise ModelError(f"cannot load SavedModel '{saved_model_dir}': {first_line(e)}") from None
    sigs = dict(loaded.signatures)
    if signature not in sigs:
        raise ModelError(f"SavedModel '{saved_model_dir}' has no signature '{signature}' "
                         f"(signatures: {', '.join(sorted(sigs)) or 'none'})")
    fn = sigs[signature]
    specs = fn.structured_input_signature[1]
    names = sorted(specs)
    if example_inputs is not None:
        arrays = as_arrays(example_inputs)
        if len(arrays) != len(names):
            raise O2CError(f"{len(arrays)} example input(s) given; signature '{signature}' takes "
                           f"{len(names)} ({', '.join(names)})")
    else:
        arrays = []
        for n in names:
            shape = list(specs[n].shape)
            if shape and shape[0] is None:
                shape[0] = batch
            if any(d is None for d in shape):
                raise O2CError(f"SavedModel input '{n}' has shape {specs[n].shape} with unknown dimensions "
                               f"besides the batch; pass example inputs")
            arrays.append(np.zeros(shape, dtype=specs[n].dtype.as_numpy_dtype))
        arrays = random_like(arrays, seed)
    fixed = [tf.TensorSpec(a.shape, tf.as_dtype(a.dtype), name=n) for n, a in zip(names, arrays)]

    @tf.function(input_signature=fixed)
    def wrapped(*args):
        out = fn(**dict(zip(names, args)))
        return {k: out[k] for k in sorted(out)}

    label = f"tf2onnx {tf2onnx.__version__} (TensorFlow {tf.__version__})"
    try:
        with quiet():
            proto, _ = tf2onnx.convert.from_function(wrapped, input_signature=fixed, opset=opset)
    except Exception as e:
        raise FrontendError(f"{label} failed: {first_line(e)}") from None
    bad = unknown_ops(proto)
    if bad:
        kinds = sorted({n.op_type for n in bad})
        scope = bad[0].name.rsplit("/", 1)[0] if "/" in bad[0].name else bad[0].name
        raise FrontendError(f"{label} failed at layer '{scope}': TF op{'s' if len(kinds) > 1 else ''} "
                            f"{', '.join(repr(k) for k in kinds)} {'have' if len(kinds) > 1 else 'has'} no "
                            f"ONNX conversion (node '{bad[0].name}')")
    proto = finalize(proto, name or Path(saved_model_dir).resolve().name, label)

    def run(*xs):
        out = wrapped(*(tf.constant(x) for x in xs))
        return [to_numpy(out[k]) for k in sorted(out)]

    ref = run(*arrays)
    fix_io_shapes(proto, arrays, ref)
    parity.check(proto, run, parity_samples(arrays, samples, seed), "TensorFlow", label, rtol, atol)
    return proto
