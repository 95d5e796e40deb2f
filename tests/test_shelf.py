"""The real-world shelf (issue 16): generated models in the families of the published ones shipping
products bundle (models/shelf.py; the fifth family, the two-rate VAD with If, is tests/test_control_flow.py).
Each is exported from PyTorch, converted, and validated against onnxruntime on a realistic input
(an image-like tensor, or text-like bytes for the byte classifier)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from models.shelf import SHELF, export_shelf
from tests.oncheck import cli

# what makes each family what it is, checked in the exported graph (so a change of exporter that
# loses the pattern is seen, rather than the test silently covering something simpler)
PATTERNS = {
    "detector": {"Conv", "Sigmoid", "Mul", "Concat", "Transpose"},   # depthwise convs, SiLU as x*sigmoid(x)
    "text_detector": {"ConvTranspose", "Resize", "Exp", "Reciprocal"},  # FPN upsampling, DB binarization
    "recognizer": {"LSTM", "LogSoftmax", "MaxPool"},
    "byte_classifier": {"Equal", "Cast", "ReduceSum", "Gemm"},        # one-hot histogram
}


@pytest.mark.parametrize("name", sorted(SHELF))
def test_shelf_model_converts_and_validates(name, tmp_path):
    spec = SHELF[name]
    path = export_shelf(name, tmp_path / f"{name}.onnx")
    graph = onnx.load(path).graph
    ops = {n.op_type for n in graph.node}
    assert PATTERNS[name] <= ops, (name, PATTERNS[name] - ops)
    if name == "detector":
        dw = [n for n in graph.node if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)]
        assert len(dw) == 8, "the detector's depthwise convolutions"
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **{spec.input_name: spec.example(1)})
    out = tmp_path / "out"
    r = cli("validate", path, "--inputs", inputs, "--json", "-o", out)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["passed"], rep
    assert [o["name"] for o in rep["outputs"]] == list(spec.output_names)
    desc = json.loads((out / "model.json").read_text())
    if name == "byte_classifier":
        assert desc["inputs"][0]["dtype"] == "int64"
