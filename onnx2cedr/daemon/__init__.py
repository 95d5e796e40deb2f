"""A long-running runtime for workloads that arrive from many clients over time, as CEDR's daemon
with sub_dag and kill_daemon: `onnx2cedr daemon` starts `cedr-run --daemon` on a per-user Unix
socket, `onnx2cedr submit` sends it APP:INSTANCES:PERIOD_US specs, `onnx2cedr stop` ends it and it
writes the logs of everything it ran (the formats of `onnx2cedr run`).

The protocol (runtime/src/daemon.h): one connection per request, one JSON object on one line each
way; a waited submission gets a second line when its instances have finished.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ..errors import O2CError
from ..run import (APP_OUTPUT, LOG_FILES, RUN_MARKER, AppSpec, _prepare_log_dir, _runtime, _runtime_error,
                   check_sanitized, runtime_command, runtime_env)

DAEMON_OUT = "daemon.out"  # in the log folder: what a --background daemon prints


class DaemonError(O2CError):
    """No daemon, or the daemon refused a request."""


def default_socket() -> Path:
    """$XDG_RUNTIME_DIR/onnx2cedr/daemon.sock when that folder exists, else /tmp/onnx2cedr-$UID/daemon.sock."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and os.access(xdg, os.W_OK):
        return Path(xdg) / "onnx2cedr" / "daemon.sock"
    return Path(f"/tmp/onnx2cedr-{os.getuid()}") / "daemon.sock"


def _socket_path(sock: Optional[Path]) -> Path:
    return Path(sock) if sock else default_socket()


def request(sock: Optional[Path], req: dict, timeout: Optional[float] = 120.0, replies: int = 1) -> list:
    """Send one request; return the reply objects (`replies` lines). DaemonError when no daemon
    listens on the socket, it closes the connection, or it refuses (its one-line reason)."""
    path = _socket_path(sock)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            raise DaemonError(f"no daemon is running on socket '{path}' (start one with `onnx2cedr daemon`)") from None
        except OSError as e:
            raise DaemonError(f"cannot connect to socket '{path}': {e.strerror or e}") from None
        s.sendall((json.dumps(req) + "\n").encode())
        f = s.makefile("r", encoding="utf-8")
        out = []
        for _ in range(replies):
            try:
                line = f.readline()
            except socket.timeout:
                raise DaemonError(f"the daemon on '{path}' did not answer within {timeout:g} s") from None
            if not line:
                raise DaemonError(f"the daemon on '{path}' closed the connection without an answer "
                                  "(it may have ended; see its output)")
            msg = json.loads(line)
            if msg.get("ok") is False:
                raise DaemonError(msg.get("error", "refused"))
            out.append(msg)
        return out
    finally:
        s.close()


def ping(sock: Optional[Path] = None, timeout: float = 5.0) -> dict:
    return request(sock, {"op": "ping"}, timeout=timeout)[0]


def daemon_command(config: Path, log_dir: Path, sock: Path, scheduler: Optional[str] = None,
                   seed: Optional[int] = None, arrival: Optional[str] = None, extra_libs: Iterable[Path] = (),
                   rb=None, sanitize=(), isolate: Optional[bool] = None) -> list:
    """rb: the runtime build (default: the one built with `sanitize`, none by default). isolate: app
    instances in child processes (None: the config's "Isolation", else on; off under --sanitize thread)."""
    rb = rb or _runtime(sanitize)
    cmd = runtime_command(rb, config, log_dir, scheduler, seed, arrival, extra_libs) + ["--daemon", "--socket", str(sock)]
    if isolate is not None:
        cmd.append("--isolate" if isolate else "--no-isolate")
    return cmd


def prepare(config: Path, log_dir: Path, sock: Optional[Path], force: bool = False) -> tuple[Path, Path]:
    """Check the config, make the log folder (emptied of an earlier run's logs) and the socket's folder."""
    config = Path(config)
    if not config.is_file():
        raise O2CError(f"config '{config}': no such file")
    path = _socket_path(sock)
    try:  # refused before the log folder is touched (it may be the running daemon's)
        pid = ping(path, timeout=5.0).get("pid")
    except DaemonError:
        pid = None
    if pid is not None:
        raise DaemonError(f"a daemon (pid {pid}) is already running on socket '{path}'")
    log_dir = Path(log_dir)
    _prepare_log_dir(log_dir, force)
    log_dir.mkdir(parents=True, exist_ok=True)
    for name in LOG_FILES + (DAEMON_OUT,):
        (log_dir / name).unlink(missing_ok=True)
    shutil.rmtree(log_dir / APP_OUTPUT, ignore_errors=True)
    (log_dir / RUN_MARKER).write_text(json.dumps({"daemon": True}) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return log_dir, path


@dataclass
class Started:
    pid: int
    socket: Path
    log_dir: Path


def start_background(config: Path, log_dir: Path, sock: Optional[Path] = None, scheduler: Optional[str] = None,
                     seed: Optional[int] = None, arrival: Optional[str] = None, extra_libs: Iterable[Path] = (),
                     force: bool = False, timeout: float = 60.0, rb=None, sanitize=(),
                     isolate: Optional[bool] = None) -> Started:
    """Start a detached daemon; return once it answers on its socket (its output goes to
    LOG_DIR/daemon.out). DaemonError with the daemon's own one-line reason when it does not start."""
    created = not Path(log_dir).exists()
    log_dir, path = prepare(config, log_dir, sock, force)
    try:
        return _start(config, log_dir, path, scheduler, seed, arrival, extra_libs, timeout, rb or _runtime(sanitize),
                      isolate)
    except DaemonError:
        if created:  # a daemon that did not start leaves no folder behind
            shutil.rmtree(log_dir, ignore_errors=True)
        raise


def _start(config, log_dir, path, scheduler, seed, arrival, extra_libs, timeout, rb, isolate=None) -> Started:
    cmd = daemon_command(config, log_dir, path, scheduler, seed, arrival, extra_libs, rb, isolate=isolate)
    with open(log_dir / DAEMON_OUT, "w") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=runtime_env())
    deadline = time.monotonic() + timeout
    while True:
        rc = proc.poll()
        if rc is not None:
            raise DaemonError(_runtime_error((log_dir / DAEMON_OUT).read_text(errors="replace"), rc))
        try:
            if ping(path, timeout=2.0).get("pid") == proc.pid:
                return Started(proc.pid, path, log_dir)
        except DaemonError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise DaemonError(f"the daemon did not answer on '{path}' within {timeout:g} s")
        time.sleep(0.05)


def _sanitizers_of(pid) -> set:
    """The sanitizer runtimes (address, thread) a local daemon process has mapped."""
    try:
        maps = Path(f"/proc/{int(pid)}/maps").read_text()
    except (OSError, TypeError, ValueError):
        return set()
    return {name for name, lib in (("address", "libasan"), ("thread", "libtsan")) if lib in maps}


def submit(apps: Sequence[AppSpec], sock: Optional[Path] = None, wait: bool = False,
           timeout: Optional[float] = None) -> list:
    """Submit a workload; returns the acceptance (and, with wait, the finished instances)."""
    if not apps:
        raise O2CError("nothing to submit: give at least one APP[:INSTANCES[:PERIOD_US]]")
    # an instrumented app would take down a daemon without its sanitizer's runtime (it dies on load)
    check_sanitized(apps, _sanitizers_of(ping(sock).get("pid")))
    req = {"op": "submit", "apps": [a.arg() for a in apps], "wait": bool(wait)}
    # acceptance comes once the apps are checked and loaded; a waited reply when they finish
    return request(sock, req, timeout=timeout if wait else (timeout or 120.0), replies=2 if wait else 1)


def stop(sock: Optional[Path] = None, now: bool = False, timeout: Optional[float] = None) -> dict:
    """Stop the daemon; returns once it has written its logs ({"summary", "exit_code"})."""
    return request(sock, {"op": "stop", "now": bool(now)}, timeout=timeout)[0]
