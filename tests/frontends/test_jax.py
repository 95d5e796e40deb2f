"""JAX frontend (jax2onnx): the VGG-style CNN as a Flax NNX module, a plain function with a
parameter pytree, an export failure named by primitive and source line, the CLI."""
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from onnx2cedr import from_jax
from onnx2cedr.cli import app
from onnx2cedr.frontends import FrontendError, report_of
from tests.frontends import nets
from tests.frontends.util import VGG_CALLS, calls_without_input_transpose, check_validates, transposes_inside

X = np.random.default_rng(0).standard_normal((1, nets.IMAGE, nets.IMAGE, nets.CIN)).astype(np.float32)


@pytest.fixture(scope="module")
def vgg():
    return from_jax(nets.jax_vgg(), None, [X], name="vgg_jax")


def test_vgg_flax_module(vgg):
    rep = report_of(vgg)
    assert rep.passed and rep.max_rel_err <= 1e-4 and rep.outputs[0].top1 == 1.0 and "jax2onnx" in rep.exporter
    assert vgg.graph.name == "vgg_jax"
    assert calls_without_input_transpose(vgg) == VGG_CALLS
    check_validates(vgg)


def _mlp(params, x):
    h = jax.nn.relu(x @ params["w0"] + params["b0"])
    return jnp.tanh(h @ params["w1"] + params["b1"])


def test_function_with_parameter_pytree():
    rng = np.random.default_rng(1)
    params = {"w0": rng.standard_normal((12, 16)).astype(np.float32) * 0.3, "b0": np.zeros(16, np.float32),
              "w1": rng.standard_normal((16, 4)).astype(np.float32) * 0.3, "b1": np.ones(4, np.float32)}
    m = from_jax(_mlp, params, [rng.standard_normal((2, 12)).astype(np.float32)])
    assert report_of(m).passed and len(m.graph.input) == 1  # the parameters became weights
    assert transposes_inside(m) == []
    check_validates(m, samples=5)


def _spectrum(x):
    return jnp.linalg.eigh(x @ x.T)[0]


def test_export_failure_names_primitive_and_line():
    with pytest.raises(FrontendError, match=r"jax2onnx .* failed at primitive 'eigh' at .*test_jax.py:\d+"):
        from_jax(_spectrum, None, [np.ones((4, 4), np.float32)])


def test_cli_import_jax(tmp_path):
    factory = tmp_path / "jnet.py"
    factory.write_text(textwrap.dedent("""
        import numpy as np
        import jax

        def build():
            w = np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4)
            return (lambda p, x: jax.nn.sigmoid(x @ p)), w
    """))
    out = tmp_path / "j.onnx"
    r = CliRunner().invoke(app, ["import", "jax", f"{factory}:build", "--input-shape", "3x6", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "parity: JAX vs onnxruntime" in r.output and out.is_file()
    r = CliRunner().invoke(app, ["validate", f"{factory}:build", "--input-shape", "3x6", "--samples", "2"])
    assert r.exit_code == 0, r.output
