"""The dynamic symbols of a built app: what it needs from the runtime and what it exports, checked
against a target's API set after the build."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BuildError

if TYPE_CHECKING:
    from . import Target


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
