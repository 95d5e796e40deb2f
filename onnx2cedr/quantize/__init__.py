"""Post-training static quantization: a float ONNX model and calibration inputs in, a standard QDQ
model out (onnxruntime.quantization.quantize_static does the work), or with --scheme binary its hidden
MatMul/Gemm layers binarized in standard ops (binary.py). qonnx.py writes QONNX models in standard ops
(validate's reference for them)."""
from __future__ import annotations

from .accuracy import ALL_SCHEMES, SchemeResult, accuracy, parse_schemes
from .static import METHODS, SCHEMES, quantize

__all__ = ["quantize", "accuracy", "parse_schemes", "SchemeResult", "SCHEMES", "ALL_SCHEMES", "METHODS"]
