"""Graph rewrite passes and the flows that run them.

A pass is one file, one name, one job: ``apply(graph) -> changed``. A flow is an ordered list of
passes run to a fixed point (every pass in order, again and again, until a whole round changes
nothing), with an iteration cap; shapes are re-inferred after every change.
"""
from __future__ import annotations

import warnings
from typing import Iterable, Sequence

from ..errors import ModelError
from ..infer import infer_graph
from ..ir import Graph
from .common import Pass
from .constant_fold import PASS as constant_fold
from .dead_code import PASS as dead_code
from .expand_attention import PASS as expand_attention
from .fold_batchnorm import PASS as fold_batchnorm
from .fold_channel_scale import PASS as fold_channel_scale
from .fold_transpose import PASS as fold_transpose
from .fuse_act_chain import PASS as fuse_act_chain
from .fuse_activation import PASS as fuse_activation
from .fuse_bias import PASS as fuse_bias
from .fuse_binary import PASS as fuse_binary
from .fuse_qadd import PASS as fuse_qadd
from .fuse_qconcat import PASS as fuse_qconcat
from .fuse_qdq import PASS as fuse_qdq
from .fuse_qpool import PASS as fuse_qpool
from .fuse_qrequant import PASS as fuse_qrequant
from .lower_col2im import PASS as lower_col2im
from .lower_compress import PASS as lower_compress
from .lower_dft import PASS as lower_dft
from .lower_qonnx import PASS as lower_qonnx
from .lower_qoperator import PASS as lower_qoperator
from .merge_reshapes import PASS as merge_reshapes
from .remove_identity import PASS as remove_identity
from .sink_reshape import PASS as sink_reshape

# composite ops lowered to ops that exist (not an optimization: without it they cannot be placed); first,
# so that the rest of the pipeline sees the pieces (QONNX quantizers: standard ops)
LOWERING: list[Pass] = [expand_attention, lower_dft, lower_compress, lower_col2im, lower_qonnx]
# QDQ patterns around Conv/Gemm/MatMul into integer layers: before constant folding, which would
# fold the weights' DequantizeLinear into float constants; QOperator layers (QLinearConv, ...) onto the same
# and the Add / pooling / Concat layers between them onto int8 layers, DequantizeLinear -> QuantizeLinear
# pairs into nothing (or a requantization), so that activations stay int8 from one integer layer to the next
QUANTIZED: list[Pass] = [lower_qoperator, fuse_qdq, fuse_qadd, fuse_qpool, fuse_qconcat, fuse_qrequant]
CLEANUP: list[Pass] = [remove_identity, constant_fold, dead_code]
# channels-last exporters' Transposes and unit-dimension reshapes (1-D convolutions written as 2-D)
# go before fusion, so that what they separated can fuse
LAYOUT: list[Pass] = [fold_transpose, sink_reshape, merge_reshapes, remove_identity, dead_code]
# (binarized layers onto XNOR/popcount after the folds into their weights and bias, before activations fuse)
FUSION: list[Pass] = [fold_batchnorm, fold_channel_scale, fuse_bias, fuse_binary, fuse_act_chain, fuse_activation,
                      dead_code]
FLOWS: list[tuple[str, list[Pass]]] = [("lowering", LOWERING), ("quantized", QUANTIZED), ("cleanup", CLEANUP), ("layout", LAYOUT),
                                       ("fusion", FUSION)]

PASSES: dict[str, Pass] = {p.NAME: p for p in (expand_attention, lower_dft, lower_compress, lower_col2im, lower_qonnx, lower_qoperator, fuse_qdq, fuse_qadd, fuse_qpool, fuse_qconcat, fuse_qrequant, remove_identity, constant_fold, dead_code, fold_transpose,
                                               sink_reshape, merge_reshapes, fold_batchnorm, fold_channel_scale,
                                               fuse_bias, fuse_binary, fuse_act_chain, fuse_activation)}


class FlowDidNotConverge(RuntimeWarning):
    """A flow hit its iteration cap while its passes were still changing the graph."""


def run_flow(graph: Graph, passes: Sequence[Pass], max_iter: int = 20) -> list[tuple[str, int]]:
    """Run `passes` in order until a whole round changes nothing (at most max_iter rounds).

    Returns (pass name, rounds in which it changed the graph), in flow order. Hitting the cap
    is a warning (FlowDidNotConverge), not an error: the graph is still valid after every pass.
    """
    counts: dict[str, int] = {p.NAME: 0 for p in passes}
    for _ in range(max_iter):
        round_changed = False
        for p in passes:
            if p.apply(graph):
                counts[p.NAME] += 1
                round_changed = True
                graph.toposort()
                infer_graph(graph)
        if not round_changed:
            return list(counts.items())
    warnings.warn(f"pass flow [{', '.join(p.NAME for p in passes)}] still changed the graph after "
                  f"{max_iter} rounds; stopped there", FlowDidNotConverge, stacklevel=2)
    return list(counts.items())


def check_pass_names(names: Iterable[str]) -> None:
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise ModelError(f"unknown pass '{unknown[0]}' (passes: {', '.join(sorted(PASSES))})")


def optimize(graph: Graph, disabled: Iterable[str] = (), max_iter: int = 20) -> list[tuple[str, int]]:
    """The default pipeline (LOWERING, QUANTIZED, CLEANUP, LAYOUT, then FUSION) minus the passes named in `disabled`.

    Returns (pass name, times it changed something) for reports, one entry per pass in pipeline
    order (a pass used by several flows is summed); a disabled pass is not listed.
    """
    disabled = set(disabled)
    check_pass_names(disabled)
    total: dict[str, int] = {}
    for _, flow in FLOWS:
        passes = [p for p in flow if p.NAME not in disabled]
        for name, n in run_flow(graph, passes, max_iter=max_iter):
            total[name] = total.get(name, 0) + n
    return list(total.items())


__all__ = ["LOWERING", "QUANTIZED", "CLEANUP", "LAYOUT", "FUSION", "FLOWS", "PASSES", "Pass", "run_flow", "optimize", "check_pass_names",
           "FlowDidNotConverge"]
