"""onnxruntime.quantization.quantize_static behind the npz conventions of `validate --inputs`.

A scheme names the activation and weight types of the QDQ pairs: int8 (QInt8 activations, QInt8
symmetric weights) or int16 (QInt16 both; opset 21's QuantizeLinear carries int16, so the model
needs no contrib ops). The result is written atomically with an IR version onnxruntime loads."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx

from ..errors import ModelError, O2CError

SCHEMES = ("int8", "int16", "binary")  # binary: quantize/binary.py
METHODS = ("minmax", "percentile", "entropy")
# the highest IR version onnxruntime 1.31 loads (onnx 1.23 writes 14)
MAX_IR = 10


class _Inputs:
    """The model's graph inputs as load_inputs reads them: (name, dtype, shape)."""

    def __init__(self, model: onnx.ModelProto):
        init = {i.name for i in model.graph.initializer}
        self.inputs = []
        for vi in model.graph.input:
            if vi.name in init:
                continue
            tt = vi.type.tensor_type
            dims = []
            for d in tt.shape.dim:
                if not d.HasField("dim_value"):
                    raise ModelError(f"input '{vi.name}' has a symbolic dimension "
                                     f"'{d.dim_param or '?'}'; quantize needs static input shapes")
                dims.append(int(d.dim_value))
            dt = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
            self.inputs.append((vi.name, np.dtype(dt), tuple(dims)))


def calibration_samples(model: onnx.ModelProto, calib: str | os.PathLike,
                        samples: int | None = None) -> list[dict[str, np.ndarray]]:
    """The feeds of the calibration run (at most `samples` of them)."""
    from ..validation import load_inputs

    spec = _Inputs(model)
    batches = load_inputs(calib, spec)
    if samples is not None:
        if samples < 1:
            raise O2CError("--samples must be at least 1")
        batches = batches[:samples]
    return [{name: a for (name, _, _), a in zip(spec.inputs, b)} for b in batches]


def quantize(model: str | os.PathLike, calib: str | os.PathLike, output: str | os.PathLike, scheme: str = "int8",
             per_channel: bool = False, method: str = "minmax", exclude: Sequence[str] = (),
             samples: int | None = None, reduce_range: bool = False) -> Path:
    """Quantize `model` with the calibration inputs of `calib` into the QDQ model `output`.
    reduce_range: 7-bit weights (onnxruntime's reduce_range; int8 weights in [-64, 64]), which the AVX2
    integer kernel multiplies with vpmaddubsw without the activations' signs (see docs/quantization.md)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    if scheme not in SCHEMES:
        raise O2CError(f"unknown scheme '{scheme}' (schemes: {', '.join(SCHEMES)})")
    if method not in METHODS:
        raise O2CError(f"unknown calibration method '{method}' (methods: {', '.join(METHODS)})")
    if scheme == "binary":  # hidden MatMul/Gemm layers binarized, in standard ops (not onnxruntime's)
        from .binary import binarize, check_options

        check_options(reduce_range)
        return binarize(model, calib, output, exclude=exclude, samples=samples)
    try:
        proto = onnx.load(str(model))
    except Exception as e:
        raise ModelError(f"cannot read model '{model}': {str(e).splitlines()[0][:200]}") from None
    names = {n.name for n in proto.graph.node}
    for x in exclude:
        if x not in names:
            raise ModelError(f"--exclude: no node named '{x}' in the model")
    feeds = calibration_samples(proto, calib, samples)
    qtype = QuantType.QInt8 if scheme == "int8" else QuantType.QInt16

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    meth = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
            "entropy": CalibrationMethod.Entropy}[method]
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".o2c-quantize-", dir=out.parent) as tmp:
        src = Path(tmp) / "float.onnx"
        if proto.ir_version > MAX_IR:
            proto.ir_version = MAX_IR
        onnx.save(proto, str(src))
        dst = Path(tmp) / "q.onnx"
        quiet = logging.getLogger()
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # its advice to pre-process and its opset notes are not ours to print
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print progress
                quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, activation_type=qtype,
                                weight_type=qtype, per_channel=per_channel, calibrate_method=meth,
                                reduce_range=reduce_range,
                                nodes_to_exclude=list(exclude),
                                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        except O2CError:
            raise
        except Exception as e:
            raise ModelError(f"quantization failed: {str(e).splitlines()[0][:300] if str(e) else type(e).__name__}") \
                from None
        finally:
            quiet.setLevel(level)
        write_model(onnx.load(str(dst)), out)
    return out


def write_model(proto: onnx.ModelProto, out: Path) -> None:
    """Save a quantized model as onnxruntime loads it (IR version at most MAX_IR), atomically: a temporary
    file in the same folder, then renamed, so a failure never leaves a partial model at `out`."""
    if proto.ir_version > MAX_IR:
        proto.ir_version = MAX_IR
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix=".o2c-", suffix=".onnx", dir=out.parent)
    os.close(fd)
    try:
        onnx.save(proto, part)
        os.replace(part, out)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
