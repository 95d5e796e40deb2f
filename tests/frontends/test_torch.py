"""PyTorch frontend: the VGG-style CNN through both exporters, the parity check firing on a traced
branch, an export failure named by layer, the CLI with external data."""
import textwrap

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from onnx2cedr import from_torch
from onnx2cedr.cli import app
from onnx2cedr.errors import ValidationError
from onnx2cedr.frontends import FrontendError, report_of
from tests.frontends import nets
from tests.frontends.util import VGG_CALLS, calls_without_input_transpose, check_validates, layers

X = np.random.default_rng(0).standard_normal((1, nets.CIN, nets.IMAGE, nets.IMAGE)).astype(np.float32)


@pytest.fixture(scope="module")
def vgg():
    return nets.torch_vgg()


@pytest.fixture(scope="module")
def vgg_dynamo(vgg):
    return from_torch(vgg, X)


def test_vgg_dynamo_imports_converts_validates(vgg_dynamo):
    rep = report_of(vgg_dynamo)
    assert rep.passed and rep.max_rel_err <= 1e-4 and rep.outputs[0].top1 == 1.0
    assert "dynamo" in rep.exporter and rep.samples == 3
    assert vgg_dynamo.ir_version <= 10 and not vgg_dynamo.functions
    assert calls_without_input_transpose(vgg_dynamo) == VGG_CALLS
    assert not any(layer["op"] == "Transpose" for layer in layers(vgg_dynamo))
    check_validates(vgg_dynamo)


def test_vgg_legacy_exporter_lowers_the_same(vgg):
    m = from_torch(vgg, X, exporter="legacy", samples=2)
    assert "legacy" in report_of(m).exporter and report_of(m).passed
    assert calls_without_input_transpose(m) == VGG_CALLS


class _Branchy(torch.nn.Module):
    """Data-dependent control flow: TorchScript tracing records the branch the example takes."""

    def forward(self, x):
        return x * 2.0 if x.mean() > 10 else -x


def test_parity_check_fires_on_a_wrong_export():
    x = np.full((1, 8), 20.0, np.float32)  # takes the first branch; the random samples the second
    with pytest.raises(ValidationError) as e:
        from_torch(_Branchy(), x, exporter="legacy")
    msg = str(e.value)
    assert "\n" not in msg and "parity check failed" in msg and "torch.onnx legacy exporter" in msg
    assert "at fault" in msg and "max abs err" in msg and "max rel err" in msg
    assert "in PyTorch" in msg and "in onnxruntime" in msg


class _Histogram(torch.nn.Module):
    def forward(self, x):
        return torch.histc(x, bins=4).unsqueeze(0)


class _HasHistogram(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 6)
        self.hist = _Histogram()

    def forward(self, x):
        return self.hist(torch.relu(self.fc(x)))


def test_export_failure_names_the_layer():
    with pytest.raises(FrontendError, match=r"torch.onnx dynamo exporter .* failed at layer 'hist' \(_Histogram\)"):
        from_torch(_HasHistogram(), np.ones((2, 6), np.float32))


def test_bad_arguments_are_one_line_errors():
    from onnx2cedr.errors import O2CError

    with pytest.raises(O2CError, match="unknown PyTorch exporter 'tracing'"):
        from_torch(_Histogram(), X, exporter="tracing")
    with pytest.raises(O2CError, match="needs a torch.nn.Module"):
        from_torch(lambda x: x, X)


def test_cli_import_with_external_data_then_validate(tmp_path):
    factory = tmp_path / "net.py"
    factory.write_text(textwrap.dedent("""
        from tests.frontends.nets import torch_vgg

        def build():
            return torch_vgg()
    """))
    runner = CliRunner()
    out = tmp_path / "onnx" / "vgg.onnx"
    r = runner.invoke(app, ["import", "torch", f"{factory}:build", "--input-shape", "1x3x16x16", "-o", str(out),
                            "--external-data", "--samples", "2"])
    assert r.exit_code == 0, r.output
    assert "parity:" in r.output and "within tolerance" in r.output
    assert (tmp_path / "onnx" / "vgg.onnx.data").stat().st_size > 10_000
    m = onnx.load(str(out), load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)
    r = runner.invoke(app, ["validate", str(out), "--samples", "3"])  # the loader reads the external data
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["validate", f"{factory}:build", "--input-shape", "1x3x16x16", "--samples", "3"])
    assert r.exit_code == 0 and "parity: PyTorch vs onnxruntime" in r.output, r.output
    r = runner.invoke(app, ["import", "torch", f"{factory}:build", "-o", str(out)])
    assert r.exit_code == 2 and "pass --input-shape" in r.output
