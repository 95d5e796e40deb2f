"""Shared test fixtures. Tests build everything they need (models, artifacts) in temp folders."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the models/ package lives at the repository root
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def kernel_lib():
    """The compiled kernel library (built once per cache key; shared by every test)."""
    from onnx2cedr.build import KernelLib

    return KernelLib().ensure()
