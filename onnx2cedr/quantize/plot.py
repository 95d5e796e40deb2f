"""`onnx2cedr accuracy --plot FILE.png`: the per-scheme results as one figure (matplotlib, no display):
top-1 accuracy, weights size, and latency on the CPU and with each accelerator type."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..errors import O2CError


def plot_schemes(rows: Sequence, out: str | os.PathLike, title: str = "") -> Path:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise O2CError("--plot needs matplotlib (pip install matplotlib)") from None
    out = Path(out)
    names = [r.scheme for r in rows]
    types = sorted({t for r in rows for t in r.accel})
    fig, ax = plt.subplots(1, 3, figsize=(13, 4))
    ax[0].bar(names, [100 * r.top1 for r in rows], color="tab:blue")
    ax[0].set_ylabel("top-1 (%)")
    lo = min(100 * r.top1 for r in rows)
    ax[0].set_ylim(max(0.0, lo - 5), 100)
    for i, r in enumerate(rows):
        ax[0].annotate(f"{100 * r.top1:.2f}%\ndrop {r.drop_points:+.2f}", (i, 100 * r.top1), ha="center", va="bottom",
                       fontsize=8)
    ax[1].bar(names, [r.weights_bytes / 1024 for r in rows], color="tab:green")
    ax[1].set_ylabel("weights (KiB)")
    targets = ["cpu"] + types
    width = 0.8 / len(targets)
    for j, t in enumerate(targets):
        vals = [r.latency_us if t == "cpu" else r.accel.get(t, {}).get("latency_us", float("nan")) for r in rows]
        ax[2].bar([i + (j - (len(targets) - 1) / 2) * width for i in range(len(rows))], vals, width,
                  label="CPU (library, 1 thread)" if t == "cpu" else f"CPU + {t} PE (modeled)")
    ax[2].set_xticks(range(len(rows)), names)
    ax[2].set_ylabel("latency (us)")
    ax[2].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part.png")
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, out)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return out
