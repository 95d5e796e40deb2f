"""User-facing errors: one line, naming the model element at fault."""
from __future__ import annotations


class O2CError(Exception):
    """An error caused by the user's input (model, shapes, config, environment).

    The CLI prints ``error: <message>`` on one line and exits non-zero; no traceback.
    """

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class ModelError(O2CError):
    """The model is malformed, inconsistent or uses something we do not support."""


class UnsupportedError(ModelError):
    """One or more ops, attributes or dtypes are not supported."""


class BuildError(O2CError):
    """The C++ toolchain is missing or compiling the generated code failed."""

    exit_code = 3


class ValidationError(O2CError):
    """Validation ran and the results are over tolerance."""

    exit_code = 1
