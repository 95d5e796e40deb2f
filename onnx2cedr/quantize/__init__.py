"""Post-training static quantization: a float ONNX model and calibration inputs in, a standard QDQ
model out (onnxruntime.quantization.quantize_static does the work)."""
from __future__ import annotations

from .static import METHODS, SCHEMES, quantize

__all__ = ["quantize", "SCHEMES", "METHODS"]
