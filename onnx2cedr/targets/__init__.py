"""Targets: the API set a converted app may call, handed to the compiler as data.

A target names the CEDR APIs the runtime it is built for provides. Placement lowers every node
with the lowering its op family declares for the target (``OpDef.lowerings``), or with the
generic one; any call to an API outside the target's set then runs inline in the app (the
kernel library's CPU code is linked into it). After the build, the app's undefined ``DASH_*``
symbols are checked against the set (``check_app_symbols``, in ``targets/symbols.py``).

An extended app also carries an exported inline fallback for each ML API form it calls
(``Target.app_fallbacks``; kernels/entry/app_fallback.cpp): a runtime that defines the API (ours)
interposes it and schedules the call; one that does not (the public daemon) leaves the app's own
definition bound, so the layer runs inline. Its ML APIs are therefore not undefined symbols: they
are "scheduled if available", while the undefined ones are "required".
"""
from __future__ import annotations

import dataclasses

from ..errors import O2CError

# The public CEDR release's APIs (master, Dec 2023; /work/shared/cedr-api.md): blocking names.
PUBLIC_APIS = frozenset({
    "DASH_FFT_flt", "DASH_FFT_int", "DASH_GEMM_flt", "DASH_GEMM_int", "DASH_ZIP_flt", "DASH_ZIP_int",
    "DASH_CONV_2D_int", "DASH_CONV_1D_flt", "DASH_BPSK_flt", "DASH_QAM16_flt",
    "DASH_BLAS_MADD_flt", "DASH_BLAS_MADD_int", "DASH_BLAS_MSUB_flt", "DASH_BLAS_MSUB_int",
    "DASH_BLAS_TRANSPOSE_flt", "DASH_BLAS_TRANSPOSE_int",
})


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    apis: frozenset[str] | None  # API symbols (DASH_<API>_<prec>) the runtime provides; None: all of ours
    summary: str
    # the OpDef.lowerings keys this target uses, most specific first
    lowering_keys: tuple[str, ...] = ()
    conv: str = "gemm"  # public target: how convolutions use the public APIs (gemm | int16)
    # link the ML APIs' inline fallbacks into the app (never for a target without them: any ML call
    # in such an app stays an undefined symbol, which check_app_symbols then names)
    app_fallbacks: bool = False

    def provides(self, symbol: str) -> bool:
        return self.apis is None or symbol in self.apis

    def allows_symbol(self, symbol: str) -> bool:
        """An app symbol (blocking or _nb form) the target's runtime resolves."""
        base = symbol[:-3] if symbol.endswith("_nb") else symbol
        return self.provides(base)


TARGETS = {
    "extended": Target("extended", None, "our API set: the public APIs plus the ML APIs of dash_ml.h",
                       app_fallbacks=True),
    "public": Target("public", PUBLIC_APIS, "the public CEDR release's APIs only; other layers run inline",
                     ("public",)),
}
DEFAULT = "extended"
CONV_SCHEMES = ("gemm", "int16")


def get_target(name, conv: str | None = None) -> Target:
    """The target named by --api; conv (--conv, public target only): 'gemm' (im2col + DASH_GEMM_flt,
    the default) or 'int16' (DASH_CONV_2D_int per channel pair, accumulated with DASH_ZIP_flt)."""
    t = TARGETS.get(name) if isinstance(name, str) else name if isinstance(name, Target) else None
    if t is None:
        raise O2CError(f"--api must be one of {', '.join(TARGETS)}, got {name!r}")
    if conv is None or conv == t.conv:
        return t
    if conv not in CONV_SCHEMES:
        raise O2CError(f"--conv must be one of {', '.join(CONV_SCHEMES)}, got {conv!r}")
    if t.name != "public":
        raise O2CError(f"--conv {conv} applies to the public API set only (--api public)")
    return dataclasses.replace(t, conv=conv, lowering_keys=(f"public_conv_{conv}",) + t.lowering_keys)


from .symbols import check_app_symbols, defined_symbols, undefined_symbols  # noqa: E402  (re-exported)

__all__ = ["CONV_SCHEMES", "DEFAULT", "PUBLIC_APIS", "TARGETS", "Target", "check_app_symbols", "defined_symbols",
           "get_target", "undefined_symbols"]
