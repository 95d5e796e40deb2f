"""Control flow: an If is compiled when its condition is known at compile time.

The loader inlines the taken branch while it folds constants (passes/fold_if.py), so no If reaches
placement; one whose condition is only known at run time stops the loader with a one-line error
naming the graph inputs the condition depends on (bind them with --const)."""
from __future__ import annotations

import numpy as np

from .base import OpDef, register


@register
class OpIf(OpDef):
    op_type = "If"
    attrs = {"then_branch": None, "else_branch": None}
    dtypes = (np.dtype(np.bool_),)
    fold_only = True
    summary = ("folded at compile time: the branch its condition takes, once shapes are fixed, constants "
               "folded and --const bindings applied, is inlined (nested Ifs too); a run-time condition is "
               "not supported")
