"""Run apps on the CEDR-compatible runtime: `onnx2cedr run` and `onnx2cedr calibrate`.

The runtime (`cedr-run`, built once and cached) plays both CEDR roles, daemon and submitter, in
one process for the length of the workload: no root, no IPC objects left behind, it exits when
the last instance has finished. This module resolves app specs, keeps the log folder atomic
(written to a temporary sibling and renamed; a failed start leaves nothing behind) and turns the
runtime's one-line errors into ours.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

from .errors import O2CError

RUN_MARKER = ".onnx2cedr-run"
LOG_FILES = ("timing_trace.log", "schedule_trace.log", "appruntime_trace.log", "summary.json")
APP_OUTPUT = "app_output"  # in the log folder: <app>.<app_id>.log, one per instance (its stdout + stderr)


class RunError(O2CError):
    """The runtime could not start or failed while running."""


class AppFailure(O2CError):
    """The workload ran, but some app instances returned non-zero."""

    exit_code = 1


@dataclass
class AppSpec:
    path: Path
    instances: int
    period_us: float

    def arg(self) -> str:
        return f"{self.path}:{self.instances}:{self.period_us:g}"


@dataclass
class RunResult:
    log_dir: Path
    summary: dict
    returncode: int


def _runtime(sanitize=()):
    """The runtime build (instrumented with `sanitize`: its own cache key), built if needed."""
    from .runtime_build import RuntimeBuild

    return RuntimeBuild(sanitize=sanitize).ensure()


def runtime_env() -> dict:
    """The environment the runtime is started with: the sanitizers' options (halt on the first
    report) ahead of the user's own, which win; ignored by an uninstrumented runtime."""
    from .build import sanitizer_env

    return sanitizer_env()


def check_sanitized(apps: Sequence[AppSpec], ours: Iterable[str]) -> None:
    """An app converted with --sanitize address (or thread) loads only into a runtime carrying the
    same sanitizer runtime: one line when it would not (the app's model.json says how it was built).
    An uninstrumented app may run on an instrumented runtime (its own code unchecked). ours: the
    runtime's sanitizers."""
    ours = set(ours)
    for a in apps:
        desc = a.path.parent / "model.json"
        try:
            theirs = set(json.loads(desc.read_text()).get("sanitize") or ()) if desc.is_file() else set()
        except (OSError, ValueError, AttributeError):
            continue
        if theirs & {"address", "thread"} - ours:
            raise O2CError(f"app '{a.path}' was built with --sanitize {','.join(sorted(theirs))}: run it on a runtime "
                           f"built the same way (run --sanitize {','.join(sorted(theirs))})")


def resolve_app(target: str, rb=None) -> Path:
    """An app is a CEDR app shared object, a folder made by `convert` (its *-app.so), or the
    name of a bundled app (radar_correlator, pulse_doppler, wifi_tx)."""
    p = Path(target)
    if p.is_dir():
        found = sorted(p.glob("*-app.so"))
        if len(found) != 1:
            raise O2CError(f"app '{target}': a folder must hold exactly one *-app.so made by `onnx2cedr convert` "
                           f"(found {len(found)})")
        return found[0].resolve()
    if p.exists():
        return p.resolve()
    if "/" not in target and not target.endswith(".so"):
        rb = rb or _runtime()
        if target in rb.app_names():
            return rb.app_so(target)
        raise O2CError(f"app '{target}': no such file, and not a bundled app ({', '.join(rb.app_names())})")
    raise O2CError(f"app '{target}': no such file")


def parse_app_spec(text: str, rb=None) -> AppSpec:
    """PATH[:INSTANCES[:PERIOD_US]] (defaults 1 instance, period 0)."""
    parts = text.rsplit(":", 2)
    # a path may contain ':'; only trailing numeric fields count as instances/period
    nums: list[str] = []
    while len(parts) > 1 and len(nums) < 2 and _is_number(parts[-1]):
        nums.insert(0, parts.pop())
    if len(parts) > 1:
        parts = [":".join(parts)]
    path = parts[0]
    if not path:
        raise O2CError(f"app spec '{text}': expected APP[:INSTANCES[:PERIOD_US]]")
    instances = 1
    period = 0.0
    if nums:
        try:
            instances = int(nums[0])
        except ValueError:
            raise O2CError(f"app spec '{text}': instances must be a whole number, got '{nums[0]}'") from None
        if instances < 1:
            raise O2CError(f"app spec '{text}': instances must be at least 1")
    if len(nums) > 1:
        period = float(nums[1])
        if period < 0:
            raise O2CError(f"app spec '{text}': the period must not be negative")
    return AppSpec(resolve_app(path, rb), instances, period)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer", "runtime error:")


def _runtime_error(stderr: str, rc: int) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    san = [ln for ln in lines if any(r in ln for r in SANITIZER_REPORTS)]
    if san:  # an instrumented runtime stopped on its first report: that line says why
        return f"sanitizer report: {san[0]}"
    errs = [ln for ln in lines if "error:" in ln]
    msg = (errs or lines or [f"the runtime exited with code {rc}"])[-1]
    for prefix in ("cedr-run: error: ", "cedr-run: "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


def _instance_reports(log_dir: Path) -> str:
    """Sanitizer report lines the instances wrote to their output files (an instrumented runtime that
    stopped on an app's report printed it there), each prefixed with its instance's file name."""
    lines = []
    for p in sorted((Path(log_dir) / APP_OUTPUT).glob("*.log")):
        for ln in p.read_text(errors="replace").splitlines():
            if any(r in ln for r in SANITIZER_REPORTS):
                lines.append(f"{p.stem}: {ln.strip()}")
    return "\n" + "\n".join(lines)


def _prepare_log_dir(log_dir: Path, force: bool) -> None:
    if log_dir.exists() and not log_dir.is_dir():
        raise O2CError(f"log folder '{log_dir}' exists and is not a folder")
    if log_dir.is_dir() and any(log_dir.iterdir()) and not (log_dir / RUN_MARKER).exists() and not force:
        raise O2CError(f"log folder '{log_dir}' is not empty and was not written by `onnx2cedr run` "
                       "(use --force to replace it)")


def runtime_command(rb, config: Path, log_dir: Path, scheduler: Optional[str] = None, seed: Optional[int] = None,
                    arrival: Optional[str] = None, extra_libs: Iterable[Path] = ()) -> list[str]:
    """cedr-run with its kernel libraries, the config, the log folder (each instance's output in its
    app_output/ folder) and the run options; `run` and the daemon add their own."""
    cmd = [str(rb.cedr_run)]
    for lib in list(rb.default_libs) + [Path(p) for p in extra_libs]:
        cmd += ["--lib", str(lib)]
    cmd += ["--config", str(config), "--log-dir", str(log_dir), "--app-output", str(Path(log_dir) / APP_OUTPUT)]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if arrival:
        cmd += ["--arrival", arrival]
    return cmd


def run(config: Path, log_dir: Path, apps: Sequence[AppSpec], scheduler: Optional[str] = None,
        seed: Optional[int] = None, arrival: Optional[str] = None, force: bool = False,
        extra_libs: Iterable[Path] = (), timeout: Optional[float] = None, rb=None, sanitize=(),
        isolate: Optional[bool] = None) -> RunResult:
    """Run the workload; returns the summary. sanitize: run on the runtime built with these sanitizers
    (`run --sanitize`; ignored when rb is given). Raises RunError when the runtime refuses to start
    (nothing is written) or fails; a run where some instances returned non-zero still returns
    (returncode 1) with its logs in place. isolate: each instance in a child process (`--isolate`; a
    crash or a hang fails that instance only); None: the config's "Isolation", else off."""
    config = Path(config)
    if not config.is_file():
        raise O2CError(f"config '{config}': no such file")
    if not apps:
        raise O2CError("no apps to run: give at least one APP[:INSTANCES[:PERIOD_US]]")
    log_dir = Path(log_dir)
    _prepare_log_dir(log_dir, force)
    rb = rb or _runtime(sanitize)
    if not rb.cedr_run.exists():
        raise RunError("the runtime executable was not built (runtime/src is incomplete)")
    check_sanitized(apps, rb.sanitize)
    log_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{log_dir.name}.", dir=log_dir.parent))
    try:
        cmd = runtime_command(rb, config, tmp, scheduler, seed, arrival, extra_libs) + ["--quiet"]
        if isolate is not None:
            cmd.append("--isolate" if isolate else "--no-isolate")
        cmd += [a.arg() for a in apps]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=runtime_env())
        except subprocess.TimeoutExpired:
            raise RunError(f"the workload did not finish within {timeout:g} s") from None
        if res.returncode not in (0, 1) or not (tmp / "summary.json").exists():
            raise RunError(_runtime_error(res.stderr + _instance_reports(tmp), res.returncode))
        summary = json.loads((tmp / "summary.json").read_text())
        (tmp / RUN_MARKER).write_text(json.dumps({"command": cmd[1:], "stderr": res.stderr[-4000:]}, indent=1))
        if log_dir.exists():
            shutil.rmtree(log_dir)
        os.rename(tmp, log_dir)
        return RunResult(log_dir, summary, res.returncode)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def app_outputs(log_dir: Path) -> dict:
    """{(app name, app_id): text} of every instance's output file in a run's log folder, in app_id order."""
    out = {}
    folder = Path(log_dir) / APP_OUTPUT
    found = []
    for p in folder.glob("*.log") if folder.is_dir() else ():
        name, _, num = p.stem.rpartition(".")
        if name and num.isdigit():
            found.append((int(num), name, p))
    for num, name, p in sorted(found):
        out[(name, num)] = p.read_text(errors="replace")
    return out


def check(config: Path, apps: Sequence[AppSpec] = (), extra_libs: Iterable[Path] = (), rb=None) -> str:
    """Validate the config (and apps) without running; returns the runtime's PE listing."""
    rb = rb or _runtime()
    check_sanitized(apps, rb.sanitize)
    cmd = [str(rb.cedr_run)]
    for lib in list(rb.default_libs) + [Path(p) for p in extra_libs]:
        cmd += ["--lib", str(lib)]
    cmd += ["--config", str(config), "--check"] + [a.arg() for a in apps]
    res = subprocess.run(cmd, capture_output=True, text=True, env=runtime_env())
    if res.returncode != 0:
        raise RunError(_runtime_error(res.stderr, res.returncode))
    for line in res.stderr.splitlines():  # e.g. the public release's libdash-rt.so not found: built-ins run
        if line.startswith("note: "):
            sys.stderr.write(line + "\n")
    return res.stdout


def calibrate(config: Path, output: Optional[Path] = None, extra_libs: Iterable[Path] = (), rb=None) -> dict:
    """Measure every (API, PE type) of the config, fit size-aware cost functions and write the
    config back (to `output`, default in place) with its "API Cost Functions" replaced."""
    config = Path(config)
    try:
        doc = json.loads(config.read_text())
    except OSError:
        raise O2CError(f"config '{config}': cannot read") from None
    except json.JSONDecodeError as e:
        raise O2CError(f"config '{config}': line {e.lineno}: {e.msg}") from None
    if not isinstance(doc, dict):
        raise O2CError(f"config '{config}': expected a JSON object")
    rb = rb or _runtime()
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "calibration.json"
        cmd = [str(rb.cedr_run)]
        for lib in list(rb.default_libs) + [Path(p) for p in extra_libs]:
            cmd += ["--lib", str(lib)]
        cmd += ["--config", str(config), "--calibrate", str(out)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=runtime_env())
        if res.returncode != 0 or not out.exists():
            raise RunError(_runtime_error(res.stderr, res.returncode))
        cal = json.loads(out.read_text())
    doc["API Cost Functions"] = cal["API Cost Functions"]
    target = Path(output) if output else config
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, target)
    return cal
