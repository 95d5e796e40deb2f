"""Keras 3 (TensorFlow backend) and TensorFlow SavedModel frontends: the VGG-style CNN from a saved
.keras file, a 1-D conv net with Flatten + Dense, an MLP, a SavedModel, an export failure named by
layer, the CLI."""
import os

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from onnx2cedr import from_keras, from_tf  # noqa: E402
from onnx2cedr.cli import app  # noqa: E402
from onnx2cedr.errors import ModelError  # noqa: E402
from onnx2cedr.frontends import FrontendError, report_of  # noqa: E402
from tests.frontends import nets  # noqa: E402
from tests.frontends.util import VGG_CALLS, calls_without_input_transpose, check_validates, transposes_inside  # noqa: E402

assert keras.backend.backend() == "tensorflow"


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "vgg.keras"
    nets.keras_vgg().save(path)
    return path


@pytest.fixture(scope="module")
def vgg(vgg_file):
    return from_keras(vgg_file)  # loaded from the file: never called before export


def test_vgg_from_keras_file(vgg):
    rep = report_of(vgg)
    assert rep.passed and rep.max_rel_err <= 1e-4 and rep.outputs[0].top1 == 1.0 and "tf2onnx" in rep.exporter
    shape = [d.dim_value for d in vgg.graph.input[0].type.tensor_type.shape.dim]
    assert shape == [1, nets.IMAGE, nets.IMAGE, nets.CIN]  # the open batch became 1
    assert any(n.op_type == "Transpose" for n in vgg.graph.node)  # the exporter's, before passes
    # after passes: at most the input's Transpose, then the same CEDR calls as the PyTorch model
    assert calls_without_input_transpose(vgg) == VGG_CALLS
    check_validates(vgg)


def test_same_function_as_the_pytorch_weights(vgg):
    """The Keras VGG holds the PyTorch one's weights: compare with a numpy forward pass in NCHW."""
    import onnxruntime as ort

    w = nets.vgg_weights()
    x = np.random.default_rng(3).standard_normal((1, nets.CIN, nets.IMAGE, nets.IMAGE)).astype(np.float32)
    h, k = x[0].astype(np.float64), 0
    for v in nets.CFG:
        if v == "M":
            c, s = h.shape[0], h.shape[1] // 2
            h = h[:, :2 * s, :2 * s].reshape(c, s, 2, s, 2).max(axis=(2, 4))
            continue
        p = w["convs"][k]
        k += 1
        pad = np.pad(h, ((0, 0), (1, 1), (1, 1)))
        cols = np.stack([pad[:, i:i + h.shape[1], j:j + h.shape[2]] for i in range(3) for j in range(3)], 1)
        h = np.einsum("ocij,cijhw->ohw", p["w"].reshape(v, -1, 3, 3), cols.reshape(h.shape[0], 3, 3, *h.shape[1:]))
        h = h + p["b"][:, None, None]
        h = (h - p["mean"][:, None, None]) / np.sqrt(p["var"][:, None, None] + nets.EPS) * p["gamma"][:, None, None] \
            + p["beta"][:, None, None]
        h = np.maximum(h, 0)
    h = np.maximum(w["fc1_w"] @ h.reshape(-1) + w["fc1_b"], 0)
    ref = w["fc2_w"] @ h + w["fc2_b"]
    sess = ort.InferenceSession(vgg.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 2, 3, 1)})[0][0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("build", [nets.keras_conv1d, nets.keras_mlp], ids=["conv1d", "mlp"])
def test_conv1d_and_mlp(build):
    m = from_keras(build())
    assert report_of(m).passed and report_of(m).max_rel_err <= 1e-4
    assert transposes_inside(m) == []
    check_validates(m)


def test_saved_model(tmp_path):
    d = tmp_path / "sm"
    model = nets.keras_conv1d(seed=1)
    model(np.zeros((1, 64, 2), np.float32))
    model.export(str(d), format="tf_saved_model", verbose=False)
    m = from_tf(d)
    rep = report_of(m)
    assert rep.passed and rep.framework == "TensorFlow" and rep.max_rel_err <= 1e-4
    assert [o.name for o in m.graph.output] == ["output_0"]  # named after the signature's keys
    assert transposes_inside(m) == []
    check_validates(m, samples=5)
    with pytest.raises(ModelError, match="has no signature 'predict'"):
        from_tf(d, signature="predict")


class Gamma(keras.layers.Layer):
    """A layer whose TF op (Lgamma) tf2onnx has no conversion for."""

    def call(self, x):
        return tf.math.lgamma(tf.abs(x) + 1.0)


def test_export_failure_names_the_layer():
    inp = keras.Input((8,))
    x = keras.layers.Dense(8, name="d0")(inp)
    x = Gamma(name="weird")(x)
    out = keras.layers.Dense(2, name="d1")(x)
    with pytest.raises(FrontendError, match=r"failed at layer 'weird' \(Gamma\): TF op 'Lgamma' has no ONNX conversion"):
        from_keras(keras.Model(inp, out))


def test_cli_import_and_validate_keras_file(vgg_file, tmp_path):
    runner = CliRunner()
    out = tmp_path / "vgg.onnx"
    r = runner.invoke(app, ["import", "keras", str(vgg_file), "-o", str(out), "--samples", "2"])
    assert r.exit_code == 0, r.output
    assert "parity: Keras vs onnxruntime" in r.output and out.is_file() and not out.with_suffix(".onnx.data").exists()
    assert len(onnx.load(str(out)).graph.node) > 5
    r = runner.invoke(app, ["convert", str(vgg_file), "-o", str(tmp_path / "built"), "--artifact", "lib"])
    assert r.exit_code == 0, r.output
    assert "DASH_CONV" in r.output and (tmp_path / "built" / "model.json").is_file()
    r = runner.invoke(app, ["import", "keras", str(tmp_path / "missing.keras"), "-o", str(out)])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_cli_import_keeps_tensorflow_chatter_off_the_terminal(tmp_path):
    """TensorFlow's C++ logging (absl, oneDNN notices) writes to file descriptor 2 directly; a
    user of the CLI sees only our lines."""
    import subprocess
    import sys

    path = tmp_path / "mlp.keras"
    nets.keras_mlp().save(path)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    r = subprocess.run([sys.executable, "-m", "onnx2cedr", "import", "keras", str(path), "-o",
                        str(tmp_path / "m.onnx"), "--samples", "1"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert lines[0].startswith("parity: Keras vs onnxruntime") and lines[-1].startswith("wrote "), lines
    assert len(lines) == 2, lines
