"""What the frontend tests share: convert + validate a model, the CEDR calls it lowers to, and
where its Transposes are."""
from __future__ import annotations

import onnx

import onnx2cedr

# What the VGG-style CNN of nets.py lowers to (one entry per layer after passes, in order), from
# any framework; a channels-last one may add one Transpose at the input.
VGG_CALLS = [["DASH_CONV_flt"], ["DASH_CONV_flt"], ["DASH_POOL_flt"], ["DASH_CONV_flt"], ["DASH_POOL_flt"], [],
             ["DASH_GEMM_RE_flt"], ["DASH_GEMM_RE_flt"]]
VALIDATION_SAMPLES = 20


def layers(model: onnx.ModelProto) -> list[dict]:
    return onnx2cedr.inspect(model)["layers"]


def calls_without_input_transpose(model: onnx.ModelProto) -> list[list[str]]:
    ls = layers(model)
    inside = transposes_inside(model)
    assert not inside, f"Transposes left inside the graph: {inside}"
    return [layer["calls"] for layer in ls if layer["op"] != "Transpose"]


def transposes_inside(model: onnx.ModelProto) -> list[str]:
    """Transposes after passes that do not read the graph input (directly or through reshapes)."""
    d = onnx2cedr.inspect(model)
    reach = {t["name"] for t in d["inputs"]}
    computed = {t["name"] for t in d["tensors"]}
    bad = []
    for layer in d["layers"]:
        from_input = all(i in reach for i in layer["inputs"] if i in computed)
        if layer["op"] in ("Reshape", "Unsqueeze", "Squeeze", "Flatten", "Transpose") and from_input:
            reach.update(layer["outputs"])
        if layer["op"] == "Transpose" and not from_input:
            bad.append(layer["name"])
    return bad


def check_validates(model: onnx.ModelProto, samples: int = VALIDATION_SAMPLES):
    """Convert and run against onnxruntime: rel err <= 1e-4 and 100% top-1 on every output."""
    rep = onnx2cedr.validate(model, samples=samples, rtol=1e-4)
    for o in rep.outputs:
        assert o.passed and o.max_rel_err <= 1e-4, (o.name, o.max_rel_err)
        if o.top1 is not None:
            assert o.top1 == 1.0, (o.name, o.top1)
    return rep
