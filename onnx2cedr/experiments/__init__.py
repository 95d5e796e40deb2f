"""Experiments: design-space exploration of SoC compositions, schedulers and workloads.

    exp = onnx2cedr.experiments.load("study.yaml")      # YAML, checked against spec.SCHEMA
    onnx2cedr.experiments.run(exp, "out/")               # -> out/results.csv (+ .parquet)
    onnx2cedr.experiments.export("out/", "study.o2cx")   # one self-contained file
    onnx2cedr.experiments.reproduce("study.o2cx", "out2/")

The modules follow a point's way: spec (the file) -> space (the grid) -> workload (apps and
their profiles) -> engines (sim or real, one row) -> metrics -> results (the folder, tables) ->
runner (the sweep), search (Optuna), compare (sim against real), report (HTML), repro
(export/reproduce).
"""
from __future__ import annotations

from .spec import Experiment, ExperimentError, from_doc, load


def run(exp, out_dir, **kwargs):
    from .runner import run as _run

    return _run(exp, out_dir, **kwargs)


def export(out_dir, path, **kwargs):
    from .repro import export as _export

    return _export(out_dir, path, **kwargs)


def reproduce(path, out_dir, **kwargs):
    from .repro import reproduce as _reproduce

    return _reproduce(path, out_dir, **kwargs)


def report(out_dir, **kwargs):
    from .report import write_report

    return write_report(out_dir, **kwargs)


__all__ = ["Experiment", "ExperimentError", "load", "from_doc", "run", "export", "reproduce", "report"]
