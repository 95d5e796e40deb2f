"""`onnx2cedr experiment ...`: the command group (added to the CLI by onnx2cedr/cli.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

experiment_app = typer.Typer(no_args_is_help=True, help="Design-space exploration: SoC compositions, schedulers and "
                             "workloads, swept or searched, simulated or measured; reproducible (docs/experiments.md).")


def _ui():
    from ..cli import _fail, err, out

    return _fail, out, err


@experiment_app.command("run")
def run_cmd(experiment: Path = typer.Argument(..., help="The experiment file (YAML)."),
            output: Path = typer.Option(..., "-o", "--output", help="Results folder (a killed sweep resumes in it)."),
            executor: str = typer.Option("local", "--executor", help="local, or ray (one task per point)."),
            address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: start a "
                                                  "local one)."),
            jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Simulated points at once (default: cores)."),
            search: bool = typer.Option(False, "--search", help="Optuna search toward the experiment's objectives "
                                        "instead of the full grid."),
            trials: Optional[int] = typer.Option(None, "--trials", help="Search trials (default: search.trials)."),
            restart: bool = typer.Option(False, "--restart", help="Drop the folder's results and start over."),
            reprofile: bool = typer.Option(False, "--reprofile", help="Measure the apps' profiles anew (sim; "
                                           "they are cached per machine otherwise)."),
            no_report: bool = typer.Option(False, "--no-report", help="Skip report.html."),
            progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: "
                                                    "when stderr is a terminal).")):
    """Run an experiment: every point of its design space into DIR/results.csv and results.parquet."""
    from . import load
    from ..errors import O2CError
    from .runner import parse_progress_flag, run

    _fail, out, _ = _ui()
    try:
        exp = load(experiment)
        path = run(exp, output, executor=executor, address=address, jobs=jobs, restart=restart,
                   progress=parse_progress_flag(progress), search=search, trials=trials, reprofile=reprofile)
        summary = _summary(path)
        front = _front_table(exp, path)
        if not no_report:
            from .report import write_report

            write_report(output)
    except O2CError as e:
        _fail(e)
    out.print(summary)
    if front is not None:
        out.print(front)
    out.print(f"results: {path}" + ("" if no_report else f"; report: {Path(output) / 'report.html'}"))


def _front_table(exp, path: Path, most: int = 10):
    """The Pareto front of the objectives (the best points for one), as a table; None without
    objectives."""
    from rich.table import Table

    from .results import read_csv
    from .search import objectives, pareto
    from .space import swept

    objs = objectives(exp.doc)
    if not objs:
        return None
    rows = []
    for r in read_csv(path):
        row = {}
        for k, v in r.items():
            try:
                row[k] = float(v) if v != "" else float("nan")
            except ValueError:
                row[k] = v
        rows.append(row)
    front = pareto(rows, objs, exp.doc["constraints"])
    keys = [k for k in swept(exp) if k != "platform"]
    comp = "platform" in swept(exp) or any(k.startswith("platform.") for k in keys)
    keys = [k for k in keys if not k.startswith("platform.")]
    t = Table(title=f"Pareto front ({len(front)} point(s)" + (f", first {most}" if len(front) > most else "") + ")")
    for col in ["point"] + (["composition"] if comp else []) + keys + [m for m, _ in objs]:
        t.add_column(col)
    for p in front[:most]:
        cells = [str(int(p["point"]))]
        if comp:
            cells.append("+".join(f"{int(p[f'platform.{ty}'])} {ty}" for ty in ("cpu", "conv", "gemm", "fft", "zip")
                                  if int(p[f"platform.{ty}"]) > 0))
        cells += [f"{p[k]:g}" if isinstance(p[k], float) else str(p[k]) for k in keys]
        cells += [f"{p[m]:.4g}" for m, _ in objs]
        t.add_row(*cells)
    return t


def _summary(path: Path) -> str:
    from .results import read_csv

    rows = read_csv(path)
    points = len({r["point_id"] for r in rows})
    return f"{len(rows)} rows ({points} points)"


@experiment_app.command("export")
def export_cmd(results: Path = typer.Argument(..., help="A results folder of `experiment run`."),
               output: Path = typer.Option(..., "-o", "--output", help="The file to write (.o2cx, YAML)."),
               embed: bool = typer.Option(False, "--embed", help="Embed the models (else their hashes only).")):
    """Write one self-contained file a collaborator re-runs with `experiment reproduce`."""
    from ..errors import O2CError
    from .repro import export

    _fail, out, _ = _ui()
    try:
        info = export(results, output, embed=embed)
    except O2CError as e:
        _fail(e)
    out.print(f"wrote {output} ({info['rows']} rows, digest {info['digest'][:16]}, "
              f"{'models embedded' if embed else 'model hashes'})")


@experiment_app.command("reproduce")
def reproduce_cmd(file: Path = typer.Argument(..., help="A file written by `experiment export`."),
                  output: Path = typer.Option(..., "-o", "--output", help="Folder for the re-run."),
                  tolerance: Optional[float] = typer.Option(None, "--tolerance", help="Real engine: allowed relative "
                                                            "difference of each metric (default 0.25)."),
                  progress: Optional[bool] = typer.Option(None, "--progress/--no-progress")):
    """Re-run an exported experiment and compare: identical for sim, within a tolerance for real."""
    from ..errors import O2CError
    from .repro import reproduce
    from .runner import parse_progress_flag

    _fail, out, err = _ui()
    try:
        verdict = reproduce(file, output, tolerance=tolerance, progress=parse_progress_flag(progress))
    except O2CError as e:
        _fail(e)
    out.print(verdict.summary())
    if not verdict.ok:
        for line in verdict.differences[:10]:
            err.print(f"  {line}")
        raise typer.Exit(1)


@experiment_app.command("report")
def report_cmd(results: Path = typer.Argument(..., help="A results folder of `experiment run`."),
               gantt_point: Optional[int] = typer.Option(None, "--gantt-point", help="Grid index of the point whose "
                                                         "Gantt chart to draw (default: report.gantt_point).")):
    """(Re)write DIR/report.html and its PNGs."""
    from ..errors import O2CError
    from .report import write_report

    _fail, out, _ = _ui()
    try:
        path = write_report(results, gantt_point=gantt_point)
    except O2CError as e:
        _fail(e)
    out.print(f"report: {path}")
