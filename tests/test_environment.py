"""The set-up installs exactly requirements.lock (scripts/setup.sh, and so CI), and the lock agrees
with the ranges pyproject.toml gives users."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"


def _check_lock():
    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_installed_environment_is_the_lock():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_lock.py")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_drift_is_one_line_naming_the_package(tmp_path):
    cl = _check_lock()
    lock = cl.read_lock(LOCK)
    have = dict(lock)
    have["ml-dtypes"] = "0.6.0"
    del have["numpy"]
    have["left-pad"] = "1.0"
    lines = cl.drifts(lock, have)
    assert lines == [f"ml-dtypes: 0.6.0 installed, the lock says {lock['ml-dtypes']}",
                     f"numpy: not installed, the lock says {lock['numpy']}",
                     "left-pad: 1.0 installed, not in the lock"]
    bad = tmp_path / "bad.lock"
    bad.write_text("numpy>=1.26\n")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_lock.py"), str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not an exact pin" in r.stderr


def test_lock_pins_every_requirement_within_pyproject_ranges():
    lock = _check_lock().read_lock(LOCK)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    norm = _check_lock().norm
    for text in reqs:
        req = Requirement(text)
        name = norm(req.name)
        assert name in lock, f"{req.name} (pyproject.toml) is not in requirements.lock"
        assert req.specifier.contains(lock[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={lock[name]}, outside pyproject.toml's '{text}'")
    # the build tools and pip itself are locked too: nothing the set-up installs is left to the day
    for tool in ("pip", "setuptools", "wheel"):
        assert tool in lock, tool


@pytest.mark.parametrize("script", ["setup.sh", "lock.sh"])
def test_scripts_use_the_lock(script):
    text = (ROOT / "scripts" / script).read_text()
    assert "requirements.lock" in text
    if script == "setup.sh":  # no install step that resolves versions on its own
        for line in text.splitlines():
            if line.lstrip().startswith("install ") and "requirements.lock" not in line:
                assert "--no-deps" in line, line


def test_every_subpackage_is_in_the_wheel():
    """pyproject.toml lists the packages a wheel carries by name: every onnx2cedr/ folder with an
    __init__.py must be among them (an installed `onnx2cedr quantize` once lacked its subpackage)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "onnx2cedr").rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert found - listed == set(), f"not in pyproject.toml's packages: {sorted(found - listed)}"
