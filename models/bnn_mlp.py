"""A binarized MLP and its float twin on scikit-learn's 8x8 digits (the 75/25 split of digits.py).

    x (64, pixels / 16) -> Linear 64->H -> BN -> act -> Linear H->H -> BN -> act
                        -> Linear H->H -> BN -> act -> Linear H->10 (logits)

The binarized one: act = sign (BipolarQuant, +1 for x >= 0), the two hidden H->H layers with bipolar
weights (sign of latent float weights, one scale per output channel: mean |w|), trained with the
straight-through estimator (the gradient of sign is that of hardtanh; latent weights clipped to
[-1, 1]); the first and the last layer stay float, as is common practice. The float twin: the same
layers with float weights and act = ReLU. Both train in a few seconds on one thread, seeded.

export_onnx writes the binarized one as a QONNX model (qonnx.custom_op.general BipolarQuant on the
activations and on the hidden weights, BatchNormalization between), the float one in standard ops.
"""
from __future__ import annotations

import numpy as np

HIDDEN = 256
EPOCHS = 20
QONNX = "qonnx.custom_op.general"


def load(seed: int = 0):
    """(x_train, y_train, x_test, y_test): float32 (N, 64) pixels / 16, int64 labels."""
    from sklearn.datasets import load_digits

    from .digits import split_indices

    d = load_digits()
    x = (d.images.reshape(len(d.images), 64) / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    tr, te = split_indices(len(x), seed)
    return x[tr], y[tr], x[te], y[te]


def _net(binary: bool, hidden: int):
    import torch
    import torch.nn as nn

    class SignSTE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * (x.abs() <= 1).to(g.dtype)

    class Sign(nn.Module):
        def forward(self, x):
            return SignSTE.apply(x)

    class BinaryLinear(nn.Linear):
        def bipolar(self):
            scale = self.weight.abs().mean(dim=1, keepdim=True).detach()
            return SignSTE.apply(self.weight) * scale

        def forward(self, x):
            return nn.functional.linear(x, self.bipolar(), self.bias)

    act = Sign if binary else nn.ReLU
    hid = BinaryLinear if binary else nn.Linear
    return nn.Sequential(nn.Linear(64, hidden), nn.BatchNorm1d(hidden), act(),
                         hid(hidden, hidden, bias=False), nn.BatchNorm1d(hidden), act(),
                         hid(hidden, hidden, bias=False), nn.BatchNorm1d(hidden), act(),
                         nn.Linear(hidden, 10))


def train(binary: bool, seed: int = 0, epochs: int = EPOCHS, hidden: int = HIDDEN, data=None, lr: float | None = None,
          batch: int = 128):
    """The trained torch module (eval mode)."""
    import torch

    x_tr, y_tr, _, _ = data if data is not None else load()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        net = _net(binary, hidden)
        opt = torch.optim.Adam(net.parameters(), lr=lr or (1e-2 if binary else 3e-3))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
        xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            net.train()
            for idx in torch.randperm(len(xt), generator=gen).split(batch):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
                opt.step()
                if binary:
                    with torch.no_grad():
                        for m in (net[3], net[6]):
                            m.weight.clamp_(-1, 1)
            sched.step()
        net.eval()
        return net
    finally:
        torch.set_num_threads(threads)


def predict(net, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def export_onnx(net, path, binary: bool) -> None:
    """Write `net` (from train) as ONNX: input 'x' (1, 64), output 'logits' (1, 10)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []

    def const(name, a):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(a, dtype=np.float32), name))
        return name

    def bn(i, src, m):
        out = f"bn{i}"
        nodes.append(helper.make_node("BatchNormalization", [src, const(f"bn{i}_g", m.weight.detach().numpy()),
                                                             const(f"bn{i}_b", m.bias.detach().numpy()),
                                                             const(f"bn{i}_m", m.running_mean.numpy()),
                                                             const(f"bn{i}_v", m.running_var.numpy())],
                                      [out], epsilon=float(m.eps), name=f"bn{i}"))
        return out

    def act(i, src):
        out = f"act{i}"
        if binary:
            nodes.append(helper.make_node("BipolarQuant", [src, const(f"act{i}_scale", np.float32(1.0))], [out],
                                          domain=QONNX, name=f"sign{i}"))
        else:
            nodes.append(helper.make_node("Relu", [src], [out], name=f"relu{i}"))
        return out

    def hidden(i, src, m):
        w = m.weight.detach().numpy().T  # K x N
        if binary:
            scale = np.abs(w).mean(axis=0, keepdims=True)
            nodes.append(helper.make_node("BipolarQuant", [const(f"fc{i}_w", w), const(f"fc{i}_wscale", scale)],
                                          [f"fc{i}_wq"], domain=QONNX, name=f"fc{i}_wquant"))
            w_name = f"fc{i}_wq"
        else:
            w_name = const(f"fc{i}_w", w)
        nodes.append(helper.make_node("MatMul", [src, w_name], [f"fc{i}"], name=f"fc{i}"))
        return f"fc{i}"

    nodes.append(helper.make_node("Gemm", ["x", const("fc0_w", net[0].weight.detach().numpy()),
                                           const("fc0_b", net[0].bias.detach().numpy())], ["fc0"], transB=1,
                                  name="fc0"))
    h = act(0, bn(0, "fc0", net[1]))
    h = act(1, bn(1, hidden(1, h, net[3]), net[4]))
    h = act(2, bn(2, hidden(2, h, net[6]), net[7]))
    nodes.append(helper.make_node("Gemm", [h, const("fc3_w", net[9].weight.detach().numpy()),
                                           const("fc3_b", net[9].bias.detach().numpy())], ["logits"], transB=1,
                                  name="fc3"))
    graph = helper.make_graph(nodes, "bnn_mlp" if binary else "mlp", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 64])], [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(QONNX, 1)] if binary else [])
    model = helper.make_model(graph, opset_imports=opsets, producer_name="onnx2cedr models/bnn_mlp.py")
    model.ir_version = 8
    onnx.save(model, str(path))
