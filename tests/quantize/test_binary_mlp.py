"""The binarized MLP of models/bnn_mlp.py (trained here, seeded, a few seconds: sign activations and
bipolar hidden weights, straight-through estimator) exported as a QONNX model with BipolarQuant nodes,
and its float twin: compiled by us, the binarized one stays within 3 points of the float one on the
449 held-out digits (issue 17's done-when), and equals its reference evaluation. Its two hidden layers
compile to XNOR/popcount layers (BGemm, DASH_BGEMM_b1)."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from onnx2cedr.compiler import convert
from onnx2cedr.quantize.qonnx import to_standard
from onnx2cedr.runner import ModelLibrary


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from models import bnn_mlp

    tmp = tmp_path_factory.mktemp("bnn")
    data = bnn_mlp.load()
    out = {"data": data}
    for binary in (False, True):
        net = bnn_mlp.train(binary, data=data)
        path = tmp / ("bnn.onnx" if binary else "mlp.onnx")
        bnn_mlp.export_onnx(net, path, binary)
        res = convert(path, tmp / f"out_{path.stem}", artifacts=("lib",))
        out[binary] = {"net": net, "path": path, "lib": ModelLibrary(res.out_dir), "json": res.model_json}
    return out


def _logits(lib, x):
    return np.stack([lib.run([x[i:i + 1]])[0][0] for i in range(len(x))])


def test_binarized_mlp_within_3_points_of_its_float_twin(trained):
    from models import bnn_mlp

    _, _, x, y = trained["data"]
    top1 = {b: float((_logits(trained[b]["lib"], x).argmax(1) == y).mean()) for b in (False, True)}
    torch_top1 = float((bnn_mlp.predict(trained[True]["net"], x).argmax(1) == y).mean())
    assert top1[True] >= top1[False] - 0.03, top1
    assert top1[True] > 0.9, top1  # a trained net, not chance
    assert abs(top1[True] - torch_top1) <= 1 / len(y), (top1, torch_top1)


def test_binarized_mlp_equals_its_reference(trained):
    """Against onnxruntime on the same model in standard ops: the same class for every digit and the logits
    within 1e-5. A sign flipped in any hidden unit would move the logits by one weight of the last layer
    (about 0.1), so this says every bipolar activation is the same: the bipolar arithmetic is exact."""
    import onnx

    _, _, x, _ = trained["data"]
    b = trained[True]
    ops = [ly["op"] for ly in b["json"]["layers"]]
    assert ops.count("BGemm") == 2 and ops.count("Gemm") == 2, ops  # the hidden layers run XNOR/popcount
    sess = ort.InferenceSession(to_standard(onnx.load(str(b["path"]))).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    ref = np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])
    ours = _logits(b["lib"], x)
    assert (ours.argmax(1) == ref.argmax(1)).all()
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
