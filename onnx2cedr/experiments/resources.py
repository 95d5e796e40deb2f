"""Area of an accelerator instance, estimated from the HLS-style kernels' tile sizes.

The tile sizes are read from `kernels/accel/*.cpp` (the `constexpr` parameters of each pipeline),
so a change to a kernel's array changes its estimate. The per-operator costs are those of a
single-precision floating-point operator on an UltraScale+ fabric with full DSP usage: a
multiplier takes 3 DSP48E2 slices and an adder 2 (Xilinx Floating-Point Operator product guide),
about 350 LUTs of glue each; on-chip buffers are counted in 36 Kb block RAMs holding 4 KiB of
data each. These are estimates for trading area against speed, not synthesis results: an
experiment's `resources:` key replaces them per type.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

DSP_PER_FMUL, DSP_PER_FADD = 3, 2
LUT_PER_FOP = 350
LUT_CONTROL = 4000          # per accelerator: AXI interfaces, control FSM, address generators
BRAM_BYTES = 4096


def _accel_dir() -> Path:
    from ..build import kernels_dir

    return Path(kernels_dir()) / "accel"


@lru_cache(maxsize=None)
def tile_constants() -> dict[str, int]:
    """Every `constexpr int64_t NAME = VALUE;` (or `int`) of the accelerator sources."""
    out: dict[str, int] = {}
    pat = re.compile(r"constexpr\s+(?:int64_t|int)\s+(\w+)\s*=\s*(?:int64_t\(1\)\s*<<\s*)?(\d+)\s*;")
    for f in sorted(_accel_dir().glob("*.cpp")):
        for m in pat.finditer(f.read_text()):
            text = m.group(0)
            v = int(m.group(2))
            out[m.group(1)] = (1 << v) if "<<" in text else v
    return out


def _brams(nbytes: float) -> int:
    return int(math.ceil(nbytes / BRAM_BYTES))


def estimate(kind: str) -> dict[str, int]:
    """{dsp, bram, lut} of one accelerator instance of type `kind` (conv, gemm, fft, zip)."""
    c = tile_constants()
    if kind == "conv":
        macs = c["CONV_PM"] * c["CONV_PN"]
        fmul = fadd = macs
        buffers = 4 * (c["CONV_WBUF"] + c["CONV_PM"] * c["CONV_SEG_MAX"] + c["C2D_STRIP"] * c["C2D_TAPS"])
    elif kind == "gemm":
        macs = c["GEMM_T"] ** 2 + c["GEMV_LANES"]
        fmul = fadd = macs
        buffers = 4 * (c["GEMM_T"] * c["GEMM_KBUF"] + 2 * c["GEMM_KT"] * c["GEMM_T"])
    elif kind == "fft":
        # a radix-2 butterfly: one complex multiply (4 mul + 2 add) and two complex adds (4 add)
        fmul, fadd = 4 * c["FFT_B"], 6 * c["FFT_B"]
        buffers = 8 * c["FFT_MAX_N"] + 8 * c["FFT_MAX_N"] // 2  # samples + twiddles (complex float)
    elif kind == "zip":
        # a lane: one complex multiply (4 mul + 2 add), or a complex add
        fmul, fadd = 4 * c["ZIP_LANES"], 2 * c["ZIP_LANES"]
        buffers = 3 * 8 * c["ZIP_CHUNK"]  # two operand FIFOs and the result FIFO (complex float)
    else:
        raise KeyError(kind)
    return {"dsp": DSP_PER_FMUL * fmul + DSP_PER_FADD * fadd,
            "bram": _brams(buffers),
            "lut": LUT_PER_FOP * (fmul + fadd) + LUT_CONTROL}


def per_instance(overrides: dict) -> dict[str, dict[str, float]]:
    """Per accelerator type: the estimate, with the experiment's `resources:` entries on top."""
    out = {}
    for kind in ("conv", "gemm", "fft", "zip"):
        est = dict(estimate(kind))
        est.update((overrides or {}).get(kind, {}))
        out[kind] = est
    return out


def totals(platform: dict[str, int], table: dict[str, dict[str, float]]) -> dict[str, float]:
    """Area of a composition: the sum over its accelerator instances."""
    tot = {"dsp": 0.0, "bram": 0.0, "lut": 0.0}
    for kind, per in table.items():
        n = platform.get(kind, 0)
        for k in tot:
            tot[k] += n * per.get(k, 0)
    return tot
