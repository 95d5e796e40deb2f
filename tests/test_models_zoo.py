"""Model-zoo tests: every model exports to ONNX, onnxruntime agrees with
PyTorch, dynamic-batch exports carry a symbolic dim, LeNet-5 trains to
>= 95 % on the digits split, and the committed demo is consistent."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:  # plain `pytest` without a rootdir conftest
    sys.path.insert(0, _ROOT)

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import models  # noqa: E402
from models import MODELS, digits, lenet5  # noqa: E402
from models.export import (DEMO_DATA, DEMO_MAX_BYTES, DEMO_ONNX, MAX_IR_VERSION,  # noqa: E402
                           compare, export_model, main, ort_predict, ort_session)

NAMES = sorted(MODELS)
REL_TOL = 1e-4


@pytest.fixture(scope="session", autouse=True)
def _threads():
    prev = torch.get_num_threads()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope="session")
def trained_lenet():
    return lenet5.train()


@pytest.fixture(scope="session")
def digits_split():
    return digits.load()


def _model(name, trained_lenet):
    return trained_lenet if name == "lenet5" else MODELS[name].build()


def _bn_modules(model):
    return [m for m in model.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def _ops(path):
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def _dims(value_info):
    return [d.dim_param if d.HasField("dim_param") else d.dim_value
            for d in value_info.type.tensor_type.shape.dim]


def _assert_close(errs):
    for err, scale in errs:
        assert err <= REL_TOL * max(1.0, scale), (err, scale)


# --------------------------------------------------------------------------
# registry

def test_registry():
    assert set(MODELS) == {"lenet5", "vgg", "m5", "resnet8", "tiny_yolo"}
    for name, spec in MODELS.items():
        assert spec.name == name
        assert spec.input_shape[0] == 1
        assert spec.classifier == (name != "tiny_yolo")
        assert (spec.train is not None) == (name == "lenet5")
        m = spec.build()
        assert not m.training and all(not s.training for s in m.modules())
        with torch.no_grad():
            out = m(torch.randn(spec.input_shape))
        outs = out if isinstance(out, tuple) else (out,)
        assert len(outs) == len(spec.output_names)
        if spec.classifier:
            assert tuple(outs[0].shape) == (1, spec.num_classes)


def test_builds_are_deterministic():
    for name, spec in MODELS.items():
        a, b = spec.build(seed=0).state_dict(), spec.build(seed=0).state_dict()
        c = spec.build(seed=1).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
        assert any(not torch.equal(a[k], c[k]) for k in a
                   if a[k].is_floating_point()), name


@pytest.mark.parametrize("name", ["vgg", "m5", "resnet8", "tiny_yolo"])
def test_batchnorm_is_nontrivial(name):
    bns = _bn_modules(MODELS[name].build())
    assert bns
    for bn in bns:
        assert bn.running_mean.abs().min() > 0
        assert (bn.running_var - 1).abs().max() > 0.1
        assert (bn.weight - 1).abs().max() > 0.1
        assert bn.bias.abs().max() > 0


def test_output_shapes():
    expect = {"lenet5": [(1, 10)], "vgg": [(1, 10)], "m5": [(1, 35)],
              "resnet8": [(1, 10)], "tiny_yolo": [(1, 75, 4, 4), (1, 75, 8, 8)]}
    for name, shapes in expect.items():
        spec = MODELS[name]
        with torch.no_grad():
            out = spec.build()(torch.randn(spec.input_shape))
        outs = out if isinstance(out, tuple) else (out,)
        assert [tuple(o.shape) for o in outs] == shapes
    # M5 emits log-probabilities
    with torch.no_grad():
        lp = MODELS["m5"].build()(torch.randn(2, 1, 8000))
    torch.testing.assert_close(lp.exp().sum(1), torch.ones(2))


# --------------------------------------------------------------------------
# export (TorchScript exporter, default settings)

@pytest.mark.parametrize("name", NAMES)
def test_export_matches_torch(name, tmp_path, trained_lenet):
    model = _model(name, trained_lenet)
    path = export_model(name, tmp_path / f"{name}.onnx", model=model)
    proto = onnx.load(path)
    assert proto.ir_version <= MAX_IR_VERSION
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    spec = MODELS[name]
    assert [i.name for i in proto.graph.input] == [spec.input_name]
    assert [o.name for o in proto.graph.output] == list(spec.output_names)
    assert _dims(proto.graph.input[0]) == list(spec.input_shape)
    # BN is kept as separate nodes (onnx2cedr must fold it itself)
    assert _ops(path).count("BatchNormalization") == len(_bn_modules(model))
    for seed in (1, 2):
        _assert_close(compare(name, path, model, seed=seed))


def test_declared_output_shapes_are_static(tmp_path):
    # TorchScript exporter alone declares tiny_yolo's s32 output with symbolic
    # dims (H tied to the batch symbol); export_model re-stamps them.
    path = export_model("tiny_yolo", tmp_path / "y.onnx")
    outs = onnx.load(path).graph.output
    assert [_dims(o) for o in outs] == [[1, 75, 4, 4], [1, 75, 8, 8]]


def test_fold_bn_option(tmp_path):
    model = MODELS["resnet8"].build()
    path = export_model("resnet8", tmp_path / "r.onnx", model=model, fold_bn=True)
    assert "BatchNormalization" not in _ops(path)
    _assert_close(compare("resnet8", path, model))


@pytest.mark.parametrize("name", NAMES)
def test_dynamic_batch(name, tmp_path, trained_lenet):
    model = _model(name, trained_lenet)
    path = export_model(name, tmp_path / f"{name}_dyn.onnx", model=model,
                        dynamic_batch=True)
    proto = onnx.load(path)
    for vi in list(proto.graph.input) + list(proto.graph.output):
        d0 = vi.type.tensor_type.shape.dim[0]
        assert d0.HasField("dim_param") and not d0.HasField("dim_value"), vi.name
        assert d0.dim_param == "batch"
        assert all(d.HasField("dim_value") for d in vi.type.tensor_type.shape.dim[1:])
    _assert_close(compare(name, path, model, batch=3))


# --------------------------------------------------------------------------
# dynamo exporter (slower: ~1-3 s per model)

@pytest.mark.parametrize("name,dynamic", [("resnet8", True), ("tiny_yolo", False)])
def test_dynamo_export(name, dynamic, tmp_path):
    model = MODELS[name].build()
    path = export_model(name, tmp_path / f"{name}_dynamo.onnx", model=model,
                        dynamo=True, dynamic_batch=dynamic)
    proto = onnx.load(path)
    assert proto.ir_version <= MAX_IR_VERSION
    assert _ops(path).count("BatchNormalization") == len(_bn_modules(model))
    d0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert d0.HasField("dim_param") == dynamic
    _assert_close(compare(name, path, model, batch=2 if dynamic else 1))


# --------------------------------------------------------------------------
# LeNet-5 on digits and the committed demo

def test_digits_split(digits_split):
    x_tr, y_tr, x_te, y_te = digits_split
    assert x_tr.dtype == x_te.dtype == np.float32
    assert x_tr.shape[1:] == x_te.shape[1:] == (1, 32, 32)
    assert len(x_tr) + len(x_te) == 1797 and len(x_te) == 449
    assert set(np.unique(y_te)) == set(range(10))
    assert abs(float(x_tr.mean())) < 1e-4 and abs(float(x_tr.std()) - 1) < 1e-3
    x2 = digits.load()
    assert all(np.array_equal(a, b) for a, b in zip(digits_split, x2))


def test_lenet_accuracy(trained_lenet, digits_split):
    _, _, x_te, y_te = digits_split
    assert lenet5.accuracy(trained_lenet, x_te, y_te) >= 0.95


def test_lenet_train_cache(tmp_path, trained_lenet):
    cache = tmp_path / "lenet.pt"
    torch.save(trained_lenet.state_dict(), cache)
    m = MODELS["lenet5"].trained(cache_path=cache)  # loads, does not retrain
    for k, v in trained_lenet.state_dict().items():
        assert torch.equal(m.state_dict()[k], v)


def test_demo_files(digits_split):
    assert os.path.getsize(DEMO_ONNX) < DEMO_MAX_BYTES
    assert os.path.getsize(DEMO_DATA) < DEMO_MAX_BYTES
    data = np.load(DEMO_DATA)
    x, y = data["x"], data["y"]
    assert x.dtype == np.float32 and x.shape == (449, 1, 32, 32)
    np.testing.assert_array_equal(x, digits_split[2])
    np.testing.assert_array_equal(y, digits_split[3])
    mean, std = digits.normalization()
    assert np.isclose(data["mean"], mean) and np.isclose(data["std"], std)


def test_demo_onnx_accuracy_matches_torch():
    from onnx import numpy_helper

    proto = onnx.load(DEMO_ONNX)
    assert proto.ir_version <= MAX_IR_VERSION
    assert _dims(proto.graph.input[0]) == [1, 1, 32, 32]
    # PyTorch model with exactly the demo's weights
    net = lenet5.LeNet5().eval()
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy())
             for i in proto.graph.initializer}
    sd = net.state_dict()
    assert set(sd) <= set(inits)
    net.load_state_dict({k: inits[k] for k in sd})

    data = np.load(DEMO_DATA)
    x, y = data["x"], data["y"]
    with torch.no_grad():
        pt_logits = net(torch.from_numpy(x)).numpy()
    ort_logits = ort_predict(DEMO_ONNX, x)
    assert np.abs(pt_logits - ort_logits).max() <= REL_TOL * np.abs(pt_logits).max()
    pt_acc = float((pt_logits.argmax(1) == y).mean())
    ort_acc = float((ort_logits.argmax(1) == y).mean())
    assert ort_acc == pt_acc
    assert ort_acc >= 0.95


# --------------------------------------------------------------------------
# CLI

def test_cli(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--model", "resnet8", "--model", "m5",
                 "--dynamic-batch"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["m5_dyn.onnx", "resnet8_dyn.onnx"]
    out = capsys.readouterr().out
    assert "resnet8" in out and "max|err|" in out
    ort_session(tmp_path / "m5_dyn.onnx")
