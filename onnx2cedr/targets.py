"""Targets: the API set a converted app may call, handed to the compiler as data.

A target names the CEDR APIs the runtime it is built for provides. Placement lowers every node
with the lowering its op family declares for the target (``OpDef.lowerings``), or with the
generic one; any call to an API outside the target's set then runs inline in the app (the
kernel library's CPU code is linked into it). After the build, the app's undefined ``DASH_*``
symbols are checked against the set (``check_app_symbols``).

An extended app also carries an exported inline fallback for each ML API form it calls
(``Target.app_fallbacks``; kernels/entry/app_fallback.cpp): a runtime that defines the API (ours)
interposes it and schedules the call; one that does not (the public daemon) leaves the app's own
definition bound, so the layer runs inline. Its ML APIs are therefore not undefined symbols: they
are "scheduled if available", while the undefined ones are "required".
"""
from __future__ import annotations

import dataclasses
import shutil
import struct
import subprocess
from pathlib import Path

from .errors import BuildError, O2CError

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


def _dynsym(data: bytes) -> tuple[list[str], list[str]] | None:
    """(undefined, defined) symbols of an ELF64 little-endian shared object's .dynsym; None if not one."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    undef, defined = set(), set()
    for s in secs:
        if s[1] != 11:  # SHT_DYNSYM
            continue
        off, size, link, entsize = s[4], s[5], s[6], s[9] or 24
        stroff = secs[link][4]
        for k in range(1, size // entsize):
            name_off, _info, _other, shndx = struct.unpack_from("<IBBH", data, off + k * entsize)
            end = data.index(b"\0", stroff + name_off)
            (undef if shndx == 0 else defined).add(data[stroff + name_off:end].decode())
    return sorted(undef), sorted(defined)


def _symbols(path: Path, which: int) -> list[str]:
    got = _dynsym(Path(path).read_bytes())
    if got is not None:
        return got[which]
    if shutil.which("nm") is None:
        raise BuildError(f"cannot list the symbols of '{path}': not an ELF64 little-endian object and no nm")
    flag = "--undefined-only" if which == 0 else "--defined-only"
    r = subprocess.run(["nm", "-D", flag, str(path)], capture_output=True, text=True)
    return sorted({ln.split()[-1] for ln in r.stdout.splitlines() if ln.strip()})


def undefined_symbols(path: Path) -> list[str]:
    """The undefined dynamic symbols of a shared object (ELF64 read directly, else nm -D)."""
    return _symbols(path, 0)


def defined_symbols(path: Path) -> list[str]:
    """The dynamic symbols a shared object defines (exports)."""
    return _symbols(path, 1)


def check_app_symbols(app: Path, target: Target) -> dict[str, list[str]]:
    """The app's DASH_* symbols: "required" (undefined: the runtime must provide them, or the app
    cannot load) and "scheduled_if_available" (the ML APIs the app exports inline fallbacks for: a
    runtime that defines them schedules the calls, else they run on the app thread). A one-line
    BuildError names any required symbol the target lacks."""
    dash = [s for s in undefined_symbols(app) if s.startswith("DASH_")]
    bad = [s for s in dash if not target.allows_symbol(s)]
    if bad:
        raise BuildError(f"the app '{Path(app).name}' needs {', '.join(bad)}, which the {target.name} API set "
                         f"does not provide")
    return {"required": dash,
            "scheduled_if_available": [s for s in defined_symbols(app) if s.startswith("DASH_")]}
