"""Control flow: an If is compiled when its condition is known at compile time; a Loop or a Scan
with a static trip count is unrolled (passes/unroll_loop.py).

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


@register
class OpLoop(OpDef):
    op_type = "Loop"
    attrs = {"body": None}
    dtypes = None
    fold_only = True
    summary = ("unrolled at compile time (passes/unroll_loop.py) when its trip count and condition are known "
               "once shapes are fixed and constants folded, and its body passes its condition through or makes "
               "it constant; at most 1,024 iterations and 4,096 unrolled nodes; scan outputs are stacked")


@register
class OpScan(OpDef):
    op_type = "Scan"
    attrs = {"body": None, "num_scan_inputs": None, "scan_input_axes": None, "scan_input_directions": None,
             "scan_output_axes": None, "scan_output_directions": None}
    dtypes = None
    fold_only = True
    summary = ("unrolled at compile time (passes/unroll_loop.py): its length is a static dimension; each "
               "iteration reads its elements with Gather (either direction, any axis), scan outputs are stacked; "
               "at most 1,024 iterations and 4,096 unrolled nodes")
