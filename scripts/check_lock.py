"""Check that the running environment is exactly requirements.lock: every locked package installed
at its locked version, nothing else installed beside onnx2cedr. Prints one line per drift and exits
1; silent with exit 0 when the environment matches.

    .venv/bin/python scripts/check_lock.py [requirements.lock]
"""
from __future__ import annotations

import re
import site
import sys
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"
OURS = {"onnx2cedr"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for k, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if not m:
            raise ValueError(f"{path.name}:{k}: not an exact pin: {line!r}")
        pins[norm(m.group(1))] = m.group(2)
    return pins


def installed() -> dict[str, str]:
    """The distributions installed into this interpreter's site-packages. Only those folders are
    read: a package that puts its own vendored copies on sys.path once imported (ray adds
    ray/thirdparty_files, with colorama and psutil) does not count as an installed package."""
    out: dict[str, str] = {}
    paths = [p for p in site.getsitepackages() if Path(p).is_dir()]
    for d in metadata.distributions(path=paths):  # in path order: the first of a name is imported
        name = d.metadata["Name"]
        if name:
            out.setdefault(norm(name), d.version)
    return out


def drifts(lock: dict[str, str], have: dict[str, str]) -> list[str]:
    lines = []
    for name, want in sorted(lock.items()):
        got = have.get(name)
        if got is None:
            lines.append(f"{name}: not installed, the lock says {want}")
        elif got != want:
            lines.append(f"{name}: {got} installed, the lock says {want}")
    for name in sorted(set(have) - set(lock) - OURS):
        lines.append(f"{name}: {have[name]} installed, not in the lock")
    return lines


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else LOCK
    try:
        lock = read_lock(path)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    bad = drifts(lock, installed())
    for line in bad:
        print(f"error: environment drift: {line} ({path.name}; bash scripts/setup.sh installs the lock)",
              file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
