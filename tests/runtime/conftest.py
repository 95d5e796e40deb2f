"""Runtime tests: the runtime, simulator, kernel libraries and bundled apps, built once per
session through the same cached builder the CLI uses."""
from __future__ import annotations

import pytest

from onnx2cedr.runtime_build import RuntimeBuild


@pytest.fixture(scope="session")
def rt() -> RuntimeBuild:
    return RuntimeBuild().ensure()
