"""LeNet-5 (LeCun et al. 1998) for 1x32x32 inputs, trained on sklearn digits.

conv5x5(6) -> act -> pool2 -> conv5x5(16) -> act -> pool2 -> flatten(400)
-> fc120 -> act -> fc84 -> act -> fc10 (logits).

``act``/``pool`` default to the classic tanh + average pooling; pass
``activation="relu", pool="max"`` for the modern variant.
"""
from __future__ import annotations

import os
import time

import numpy as np
import torch
import torch.nn as nn

INPUT_SHAPE = (1, 1, 32, 32)
NUM_CLASSES = 10


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES, activation: str = "tanh",
                 pool: str = "avg"):
        super().__init__()
        act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
        pl = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}[pool]
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5),    # 32 -> 28
            act(),
            pl(2),                             # 28 -> 14
            nn.Conv2d(6, 16, kernel_size=5),   # 14 -> 10
            act(),
            pl(2),                             # 10 -> 5
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),
            act(),
            nn.Linear(120, 84),
            act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def build(seed: int = 0) -> LeNet5:
    """Untrained LeNet-5 with weights drawn from ``seed`` (PyTorch default init)."""
    torch.manual_seed(seed)
    return LeNet5().eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    logits = model(torch.from_numpy(x))
    return float((logits.argmax(1).numpy() == y).mean())


def train(seed: int = 0, epochs: int = 12, batch_size: int = 32, lr: float = 2e-3,
          cache_path: str | os.PathLike | None = None, verbose: bool = False) -> LeNet5:
    """Train LeNet-5 on the digits split deterministically; return it in eval().

    If ``cache_path`` names an existing state-dict file it is loaded instead of
    training; otherwise the trained weights are saved there (if given).
    """
    from . import digits

    model = build(seed)
    if cache_path is not None and os.path.exists(cache_path):
        model.load_state_dict(torch.load(cache_path, map_location="cpu"))
        return model.eval()

    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # bit-reproducible reductions
    try:
        x_tr, y_tr, x_te, y_te = digits.load()
        xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        loss_fn = nn.CrossEntropyLoss()
        t0 = time.perf_counter()
        for ep in range(epochs):
            model.train()
            perm = torch.randperm(len(xt), generator=g)
            for i in range(0, len(xt), batch_size):
                idx = perm[i:i + batch_size]
                opt.zero_grad()
                loss = loss_fn(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
            sched.step()
            if verbose:
                print(f"epoch {ep + 1}/{epochs} loss {loss.item():.4f} "
                      f"test acc {accuracy(model, x_te, y_te):.4f} "
                      f"({time.perf_counter() - t0:.1f}s)")
    finally:
        torch.set_num_threads(prev_threads)
    model.eval()
    if cache_path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(cache_path)), exist_ok=True)
        torch.save(model.state_dict(), cache_path)
    return model
