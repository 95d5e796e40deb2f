"""Driving a build of the public CEDR release (CEDR_ROOT) from tests: one helper for every test file.

The public daemon's IPC names are fixed (/dev/shm/mem1, /dev/shm/sem.sem_submission_queue), so only
one can run per host: `public_daemon` takes an flock on /tmp/onnx2cedr-public-cedr.lock, waits for
(or skips because of) a public daemon someone else runs, stops the daemon it started and removes the
IPC objects that daemon made.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

PUBLIC_LOCK = Path("/tmp/onnx2cedr-public-cedr.lock")
SHM = (Path("/dev/shm/mem1"), Path("/dev/shm/sem.sem_submission_queue"))


class PublicCedr:
    """A built public release: the source root (libdash/dash.h, daemon_config.json, build/) or its
    build folder (cedr, sub_dag, kill_daemon, libdash-rt/libdash-rt.so)."""

    def __init__(self, root: Path):
        root = root.resolve()
        if (root / "cedr").is_file() and not (root / "build" / "cedr").is_file():
            self.build, self.src = root, root.parent
        else:
            self.build, self.src = root / "build", root
        self.daemon = self.build / "cedr"
        self.sub_dag = self.build / "sub_dag"
        self.kill_daemon = self.build / "kill_daemon"
        self.libdash_rt = self.build / "libdash-rt" / "libdash-rt.so"
        self.include = self.src / "libdash"
        self.config = self.src / "daemon_config.json"
        missing = [p for p in (self.daemon, self.sub_dag, self.kill_daemon, self.libdash_rt,
                               self.include / "dash.h", self.config) if not p.exists()]
        assert not missing, f"CEDR_ROOT={root} is not a built public CEDR: missing {', '.join(map(str, missing))}"


def public_cedr_or_skip() -> PublicCedr:
    root = os.environ.get("CEDR_ROOT")
    if not root:
        pytest.skip("CEDR_ROOT not set: no public CEDR build to test against")
    return PublicCedr(Path(root))


def shm_users() -> list[int]:
    """Processes that have the public daemon's shared memory mapped (a public daemon is running)."""
    pids = []
    for maps in Path("/proc").glob("[0-9]*/maps"):
        with contextlib.suppress(OSError):
            if "/dev/shm/mem1" in maps.read_text():
                pids.append(int(maps.parent.name))
    return pids


def shm_inodes() -> dict:
    out = {}
    for p in SHM:
        with contextlib.suppress(FileNotFoundError):
            out[p] = p.stat().st_ino
    return out


@contextlib.contextmanager
def public_daemon(public: PublicCedr, cwd: Path, config: Path):
    """The public daemon started from `cwd` (which gets libdash-rt/ as in build/), stopped and its IPC
    objects removed on the way out, whatever happened. Its IPC names are fixed, so a daemon someone
    else runs would be disturbed: wait for it to end (60 s), else skip."""
    (cwd / "libdash-rt").symlink_to(public.libdash_rt.parent, target_is_directory=True)
    with open(PUBLIC_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        deadline = time.monotonic() + 60
        while shm_users():
            if time.monotonic() > deadline:
                pytest.skip(f"another public CEDR daemon is running (pid {shm_users()}): its IPC names are ours too")
            time.sleep(0.5)
        out = open(cwd / "daemon.out", "w")  # a file, not a pipe: it logs every task, and a full pipe stalls it
        proc = subprocess.Popen([str(public.daemon), "-c", str(config)], cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        ours: dict = {}
        try:
            deadline = time.monotonic() + 30
            while "Indefinite run starting" not in (cwd / "daemon.out").read_text():
                assert proc.poll() is None, (cwd / "daemon.out").read_text()[-2000:]
                assert time.monotonic() < deadline, "the public daemon did not start"
                time.sleep(0.05)
            ours = shm_inodes()  # created by this daemon (it unlinks and recreates them at start)
            yield proc
        finally:
            if proc.poll() is None:
                # kill_daemon speaks to whichever daemon owns the IPC names now: only if that is ours
                if ours and shm_inodes() == ours:
                    subprocess.run([str(public.kill_daemon)], capture_output=True, timeout=30)
                else:
                    proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            out.close()
            # its exit-when-idle path leaves them behind; remove them if they are still the ones it made
            for p, ino in ours.items():
                with contextlib.suppress(FileNotFoundError):
                    if p.stat().st_ino == ino:
                        p.unlink()


def submit_and_wait(public: PublicCedr, proc, apps: list[tuple[Path, int]], timeout=300) -> None:
    """Submit the apps (instances each, all at once) and wait for the daemon to end ("Exit When Idle")."""
    r = subprocess.run([str(public.sub_dag), "-a", ",".join(str(a) for a, _ in apps),
                        "-n", ",".join(str(n) for _, n in apps), "-p", ",".join("0" for _ in apps)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    proc.wait(timeout=timeout)


def daemon_config(public: PublicCedr, path: Path, **features) -> Path:
    """The public daemon_config.json with "Exit When Idle" (and any other features given) set."""
    doc = json.loads(public.config.read_text())
    doc["Features"].update({"Exit When Idle": True, **features})
    path.write_text(json.dumps(doc, indent=1))
    return path
