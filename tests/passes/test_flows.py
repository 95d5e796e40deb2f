import io

import numpy as np
import onnx
import pytest
from onnx import helper
from tests.passes.passutil import assert_close, feeds_for, make_model, op_counts, rand, run_ort, to_ir

from onnx2cedr.errors import ModelError
from onnx2cedr.export_onnx import graph_to_model
from onnx2cedr.passes import (CLEANUP, FUSION, LAYOUT, LOWERING, PASSES, QUANTIZED, FlowDidNotConverge, optimize,
                               run_flow)
from onnx2cedr.passes.common import Pass


def _optimized_agrees(model, shapes=None, **kw):
    g = to_ir(model, shapes)
    feeds = feeds_for(g)
    ref = run_ort(model, feeds)
    stats = optimize(g, **kw)
    out = graph_to_model(g)
    onnx.checker.check_model(out, full_check=True)
    assert_close(ref, run_ort(out, feeds), rtol=1e-4, atol=1e-5)
    return g, stats


def _handmade():
    """Conv -> Add(bias) -> BN -> Relu -> Shape-chain flatten -> MatMul -> Add -> Identity -> Relu"""
    c = 4
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Add", ["c", "cb"], ["cb_out"], name="conv_bias"),
             helper.make_node("BatchNormalization", ["cb_out", "s", "b", "m", "v"], ["bn"], name="bn"),
             helper.make_node("Relu", ["bn"], ["r"], name="relu"),
             helper.make_node("Shape", ["r"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["r", "target"], ["flat"]),
             helper.make_node("MatMul", ["flat", "fw"], ["mm"], name="fc"),
             helper.make_node("Add", ["mm", "fb"], ["fc_out"], name="fc_bias"),
             helper.make_node("Dropout", ["fc_out"], ["dropped"]),
             helper.make_node("Identity", ["dropped"], ["id"]),
             helper.make_node("Relu", ["id"], ["y"], name="relu2")]
    inits = {"w": rand(c, 3, 3, 3), "cb": rand(c, 1, 1, seed=1), "s": rng.uniform(0.5, 2, c).astype(np.float32),
             "b": rand(c, seed=2), "m": rand(c, seed=3), "v": rng.uniform(0.5, 2, c).astype(np.float32),
             "zero": np.array(0, np.int64), "ax0": np.array([0], np.int64), "minus1": np.array([-1], np.int64),
             "fw": rand(c * 25, 10, seed=4, scale=0.1), "fb": rand(10, seed=5), "unused": rand(3)}
    return make_model(nodes, [("x", [2, 3, 5, 5])], [("y", [2, 10])], inits)


def test_default_pipeline_on_handmade_model():
    g, stats = _optimized_agrees(_handmade())
    assert op_counts(g) == {"Conv": 1, "Reshape": 1, "Gemm": 1}
    conv, _, gemm = g.nodes
    assert conv.act.op == "Relu" and gemm.act.op == "Relu" and gemm.outputs == ["y"]
    assert set(conv.fused_from) == {"conv_bias", "bn", "relu"}
    assert "unused" not in g.values
    assert [name for name, _ in stats] == ["expand_attention", "lower_dft", "lower_compress", "lower_col2im", "lower_qonnx",
                                           "lower_qoperator", "fuse_qdq", "fuse_qadd", "fuse_qpool", "fuse_qconcat",
                                           "fuse_qrequant", "remove_identity", "constant_fold", "dead_code",
                                           "fold_transpose", "sink_reshape", "merge_reshapes", "fold_batchnorm",
                                           "fold_channel_scale", "fuse_bias", "fuse_binary", "fuse_act_chain", "fuse_activation"]
    # the model has no Attention, no QDQ pair, no Transpose, no reshape before an element-wise op, nor a Mul
    # after a layer, nor an activation written as a chain
    assert all(n > 0 for name, n in stats if name not in ("expand_attention", "lower_dft", "lower_compress", "lower_col2im",
                                                          "lower_qonnx", "lower_qoperator", "fuse_qdq", "fuse_qadd",
                                                          "fuse_qpool", "fuse_qconcat", "fuse_qrequant", "fold_transpose",
                                                          "sink_reshape", "merge_reshapes", "fold_channel_scale",
                                                          "fuse_binary", "fuse_act_chain"))
    # a second run changes nothing
    assert all(n == 0 for _, n in optimize(g))


def test_disabled_passes():
    g, stats = _optimized_agrees(_handmade(), disabled=("fuse_activation", "fold_batchnorm"))
    assert op_counts(g)["Relu"] == 2 and op_counts(g)["BatchNormalization"] == 1
    assert "fuse_activation" not in dict(stats)
    with pytest.raises(ModelError, match="unknown pass 'nope'"):
        optimize(to_ir(_handmade()), disabled=["nope"])


def test_registry_and_flows():
    assert set(PASSES) == {"expand_attention", "lower_dft", "lower_compress", "lower_col2im", "lower_qonnx", "lower_qoperator", "fuse_qdq", "fuse_qadd", "fuse_qpool",
                           "fuse_qconcat", "fuse_qrequant", "remove_identity", "constant_fold",
                           "dead_code", "fold_transpose", "sink_reshape", "merge_reshapes", "fold_batchnorm",
                           "fold_channel_scale", "fuse_bias", "fuse_binary", "fuse_act_chain", "fuse_activation"}
    assert [p.NAME for p in LOWERING] == ["expand_attention", "lower_dft", "lower_compress", "lower_col2im", "lower_qonnx"]
    assert [p.NAME for p in QUANTIZED] == ["lower_qoperator", "fuse_qdq", "fuse_qadd", "fuse_qpool", "fuse_qconcat",
                                           "fuse_qrequant"]
    assert [p.NAME for p in CLEANUP] == ["remove_identity", "constant_fold", "dead_code"]
    assert [p.NAME for p in LAYOUT] == ["fold_transpose", "sink_reshape", "merge_reshapes", "remove_identity",
                                        "dead_code"]
    assert [p.NAME for p in FUSION] == ["fold_batchnorm", "fold_channel_scale", "fuse_bias", "fuse_binary", "fuse_act_chain",
                                        "fuse_activation", "dead_code"]
    for name, p in PASSES.items():
        assert p.NAME == name and callable(p.apply)


class _Restless(Pass):
    NAME = "restless"

    def __init__(self):
        self.calls = 0

    def apply(self, graph):
        self.calls += 1
        return True


def test_fixed_point_cap():
    g = to_ir(make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", [3])], [("y", [3])]))
    p = _Restless()
    with pytest.warns(FlowDidNotConverge):
        stats = run_flow(g, [p, PASSES["dead_code"]], max_iter=5)
    assert p.calls == 5 and stats == [("restless", 5), ("dead_code", 0)]


def test_flow_stops_at_fixed_point():
    g = to_ir(_handmade())
    stats = dict(run_flow(g, CLEANUP))
    assert stats["constant_fold"] == 1 and stats["remove_identity"] == 1
    assert "Shape" not in op_counts(g) and "Identity" not in op_counts(g)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torch_model():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.pool = nn.MaxPool2d(2)
            self.fc1 = nn.Linear(8 * 4 * 4, 16)
            self.bn1 = nn.BatchNorm1d(16)
            self.drop = nn.Dropout(0.3)
            self.fc2 = nn.Linear(16, 5)

        def forward(self, x):
            x = self.pool(torch.relu(self.bn(self.conv(x))))
            x = x.view(x.size(0), -1)
            x = self.drop(nn.functional.relu6(self.bn1(self.fc1(x))))
            return self.fc2(x)

    torch.manual_seed(0)
    net = Net()
    for bn in (net.bn, net.bn1):  # non-trivial statistics
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    net.eval()
    buf = io.BytesIO()
    torch.onnx.export(net, (torch.randn(2, 3, 8, 8),), buf, dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17)
    m = onnx.load_from_string(buf.getvalue())
    m.ir_version = min(m.ir_version, 10)
    g, _ = _optimized_agrees(m, shapes={"x": (2, 3, 8, 8)})
    counts = op_counts(g)
    assert counts == {"Conv": 1, "MaxPool": 1, "Reshape": 1, "Gemm": 2}, counts
    acts = {n.op: n.act.op for n in g.nodes if n.act}
    assert acts == {"Conv": "Relu", "Gemm": "Clip"}
