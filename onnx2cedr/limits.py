"""Size caps: a model whose declared or inferred shapes are absurd is refused in one line, before
anything that size is allocated or written.

- one tensor (graph input, initializer, any inferred value): at most MAX_TENSOR_ELEMENTS elements
  (2^31; $O2C_MAX_TENSOR_ELEMENTS raises or lowers it);
- the activation arena and the weights, each: at most MAX_TOTAL_BYTES (16 GiB;
  $O2C_MAX_TOTAL_BYTES).

Shapes are multiplied as Python integers: a product that would overflow int64 is still seen.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np

from .errors import ModelError, O2CError

MAX_TENSOR_ELEMENTS = 1 << 31
MAX_TOTAL_BYTES = 16 << 30


def _env_cap(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        v = int(raw, 0)
    except ValueError:
        v = 0
    if v < 1:
        raise O2CError(f"${name} must be a positive integer, got {raw!r}")
    return v


def tensor_cap() -> int:
    return _env_cap("O2C_MAX_TENSOR_ELEMENTS", MAX_TENSOR_ELEMENTS)


def total_cap() -> int:
    return _env_cap("O2C_MAX_TOTAL_BYTES", MAX_TOTAL_BYTES)


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def check_shape(what: str, shape: Sequence[int], dtype=None) -> int:
    """The element count of a tensor shape, or a ModelError naming `what` ("graph input 'x'",
    "output 'y' of node 'n'") when a dimension is negative or the count is over the cap."""
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise ModelError(f"{what} has a negative dimension: shape {dims}")
    count = math.prod(dims)
    cap = tensor_cap()
    if count > cap:
        size = "" if dtype is None else f", {human_bytes(count * np.dtype(dtype).itemsize)}"
        raise ModelError(f"{what} has shape {dims}: {count:,} elements{size}, over the cap of {cap:,} "
                         f"elements per tensor ($O2C_MAX_TENSOR_ELEMENTS raises it)")
    return count


def check_total(what: str, nbytes: int) -> None:
    """A ModelError when a total (the activation arena, the weights) is over the cap."""
    cap = total_cap()
    if nbytes > cap:
        raise ModelError(f"the model's {what} would take {human_bytes(nbytes)} ({nbytes:,} bytes), over the cap "
                         f"of {human_bytes(cap)} ($O2C_MAX_TOTAL_BYTES raises it)")
