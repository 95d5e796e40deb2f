"""Helpers shared by the model zoo."""
from __future__ import annotations

import torch
import torch.nn as nn


def randomize_batchnorm(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Give every BatchNorm layer non-trivial statistics and affine params.

    Freshly constructed BN layers have mean=0, var=1, weight=1, bias=0, which
    makes BN folding a no-op and hides bugs.  Here running_mean ~ N(0, 0.5),
    running_var ~ U(0.5, 2.0), weight ~ U(0.5, 1.5), bias ~ N(0, 0.2).
    """
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=generator) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=generator) * 1.5 + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=generator) + 0.5)
                    m.bias.copy_(torch.randn(c, generator=generator) * 0.2)
    return model


def seeded_init(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialise all conv/linear weights from ``seed`` (Kaiming-uniform,
    ReLU gain), randomise BN, and put the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                # Kaiming-uniform with gain sqrt(2) (ReLU): sqrt(6 / fan_in).
                # Keeps activations O(1) through the deeper random nets.
                bound = (6.0 / fan_in) ** 0.5
                m.weight.uniform_(-bound, bound, generator=g)
                if m.bias is not None:
                    b = 1.0 / fan_in ** 0.5
                    m.bias.uniform_(-b, b, generator=g)
    randomize_batchnorm(model, g)
    return model.eval()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape) -> int:
    """Multiply-accumulates of all Conv/Linear layers for one forward pass
    (BN/activations/pooling ignored; FLOPs ~= 2 * MACs)."""
    total = 0

    def hook(m, inp, out):
        nonlocal total
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            # per output element: (cin / groups) * prod(kernel)
            total += out.numel() * (m.in_channels // m.groups) * int(
                torch.tensor(m.kernel_size).prod())
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape))
    finally:
        for h in handles:
            h.remove()
    return total
