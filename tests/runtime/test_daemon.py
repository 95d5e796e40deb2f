"""The daemon (`onnx2cedr daemon` / `submit` / `stop`): submissions from separate clients on one
runtime, logs written at stop with app_ids numbered over the daemon's life, refusals that leave
the daemon serving, one daemon per socket, stale sockets replaced."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from onnx2cedr import daemon as D
from onnx2cedr import run as R

from .test_run import APPRT, timing_records

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "runtime" / "configs" / "soc_demo.json"
LENET = ROOT / "models" / "demo" / "lenet5_digits.onnx"
CLI = [sys.executable, "-m", "onnx2cedr"]
WAIT = 120  # seconds: the bound of every wait (a hung daemon fails the test instead of hanging it)


def cli(*args, timeout=WAIT):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def one_line_error(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode != 0, res.stdout
    assert len(lines) == 1, res.stderr
    return lines[0]


class Daemon:
    """A foreground daemon started through the CLI (it execs the runtime, so the pid is the daemon's)."""

    def __init__(self, tmp: Path, name: str = "d"):
        # short: a Unix socket path is limited to 107 bytes
        self.dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"o2c-test-{os.getpid()}-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock = self.dir / "daemon.sock"
        self.log = tmp / f"logs-{name}"
        self.out = tmp / f"daemon-{name}.out"
        self.proc = None

    def start(self, *extra: str):
        with open(self.out, "w") as f:
            self.proc = subprocess.Popen(CLI + ["daemon", "-c", str(CONFIG), "--log-dir", str(self.log),
                                                "--socket", str(self.sock), *extra],
                                         stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = WAIT
        import time
        t0 = time.monotonic()
        while time.monotonic() - t0 < deadline:
            assert self.proc.poll() is None, self.out.read_text()
            try:
                if D.ping(self.sock, timeout=2).get("pid") == self.proc.pid:
                    return self
            except D.DaemonError:
                pass
            time.sleep(0.05)
        raise AssertionError("the daemon did not become ready")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        if self.alive():
            try:
                D.stop(self.sock, now=True, timeout=WAIT)
            except Exception:
                pass
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=WAIT)
        for p in (self.sock, self.sock.with_name(self.sock.name + ".lock")):
            p.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            pass


@pytest.fixture
def daemons(tmp_path, rt):
    made = []

    def make(name="d"):
        d = Daemon(tmp_path, name)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


@pytest.fixture(scope="module")
def lenet(tmp_path_factory, rt):
    from onnx2cedr import convert

    base = tmp_path_factory.mktemp("lenet")
    res = convert(LENET, base / "lenet")
    ins = sorted((res.out_dir / "app_inputs").glob("input_*.npy"))
    ref = base / "ref"
    subprocess.run([str(res.artifacts["exe"]), *map(str, ins), "-o", str(ref)], check=True, capture_output=True,
                   timeout=WAIT)
    return {"dir": res.out_dir, "ref": sorted(ref.glob("output_*.npy"))}


def test_two_submissions_then_stop_write_the_logs(daemons, lenet):
    d = daemons().start()
    r1 = cli("submit", "wifi_tx:2:0", "--socket", d.sock)
    assert r1.returncode == 0, r1.stderr
    assert "submission 0: 2 instance(s), app_id 0-1" in r1.stdout
    r2 = cli("submit", f"{lenet['dir']}:3:500", "--socket", d.sock, "--wait")
    assert r2.returncode == 0, r2.stderr
    assert "submission 1: 3 instance(s), app_id 2-4" in r2.stdout
    assert r2.stdout.count(": ok") == 3, r2.stdout
    st = cli("stop", "--socket", d.sock)
    assert st.returncode == 0, st.stderr
    assert "5 instance(s) (0 failed)" in st.stdout
    assert d.proc.wait(timeout=WAIT) == 0
    assert not d.sock.exists()

    s = json.loads((d.log / "summary.json").read_text())
    assert s["instances"] == 5 and s["failed_instances"] == 0
    assert {a["name"]: a["instances"] for a in s["apps"]} == {"wifi_tx": 2, "lenet5_digits-app": 3}
    apprt = (d.log / "appruntime_trace.log").read_text().splitlines()
    assert all(APPRT.match(ln) for ln in apprt)
    ids = sorted((ln.split(", ")[1].split(": ")[1], int(ln.split(", ")[0].split(": ")[1])) for ln in apprt)
    assert ids == [("lenet5_digits-app", 2), ("lenet5_digits-app", 3), ("lenet5_digits-app", 4),
                   ("wifi_tx", 0), ("wifi_tx", 1)]
    recs = timing_records(d.log)
    assert len(recs) == s["tasks"] > 0
    assert {(r["app_name"], int(r["app_id"])) for r in recs} == {(n, i) for n, i in ids}
    # every instance's own output, and the self-checks passed
    outs = R.app_outputs(d.log)
    assert "wifi_tx: ok" in outs[("wifi_tx", 0)] and "wifi_tx: ok" in outs[("wifi_tx", 1)]
    # LeNet's outputs equal the standalone executable's, bit for bit
    for k in range(3):
        for ref in lenet["ref"]:
            got = lenet["dir"] / "app_outputs" / f"instance_{k}" / ref.name
            assert got.read_bytes() == ref.read_bytes(), got


def test_refused_submissions_leave_the_daemon_serving(daemons, tmp_path):
    d = daemons().start()
    missing = cli("submit", tmp_path / "nothere.so:1:0", "--socket", d.sock)
    assert "nothere.so" in one_line_error(missing)
    junk = tmp_path / "junk.so"
    junk.write_text("not an ELF file")
    bad = cli("submit", f"{junk}:1:0", "--socket", d.sock)  # refused by the daemon itself
    assert "not an ELF file" in one_line_error(bad)
    spec = cli("submit", "wifi_tx:0:0", "--socket", d.sock)
    assert "instances" in one_line_error(spec)
    assert d.alive()
    ok = cli("submit", "wifi_tx:1:0", "--socket", d.sock, "--wait")
    assert ok.returncode == 0, ok.stderr
    assert "submission 0: 1 instance(s), app_id 0" in ok.stdout  # refused ones took no app_id
    assert cli("stop", "--socket", d.sock).returncode == 0
    assert d.proc.wait(timeout=WAIT) == 0


def test_no_daemon(tmp_path):
    sock = tmp_path / "none.sock"
    for args in (["submit", "wifi_tx:1:0"], ["stop"]):
        res = cli(*args, "--socket", sock)
        assert "no daemon is running" in one_line_error(res)


def test_second_daemon_refused_and_stale_socket_replaced(daemons):
    d = daemons("a")
    # a stale socket: bound by a process that is gone (nobody listens, nobody holds the lock)
    d.dir.mkdir(parents=True, exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(d.sock))
    s.close()
    assert d.sock.exists()
    d.start()
    assert "replaced the stale socket" in d.out.read_text()

    second = cli("daemon", "-c", CONFIG, "--log-dir", d.log.with_name("logs-second"), "--socket", d.sock)
    assert "already running" in one_line_error(second)
    assert not d.log.with_name("logs-second").exists()
    # the runtime refuses too when asked directly (the lock, not the Python check)
    rb = __import__("onnx2cedr.runtime_build", fromlist=["RuntimeBuild"]).RuntimeBuild().ensure()
    direct = subprocess.run(D.daemon_command(CONFIG, d.log.with_name("logs-direct"), d.sock, rb=rb),
                            capture_output=True, text=True, timeout=WAIT)
    assert direct.returncode == 2 and "already running" in direct.stderr
    assert d.alive() and D.ping(d.sock)["pid"] == d.proc.pid
    assert cli("stop", "--socket", d.sock).returncode == 0
    assert d.proc.wait(timeout=WAIT) == 0


def test_stop_now_drops_instances_not_yet_arrived(daemons):
    d = daemons().start()
    # 50 instances 1 s apart: the first has arrived, the others are still to come at stop --now
    assert cli("submit", "wifi_tx:1:0", "wifi_tx:50:1000000", "--socket", d.sock).returncode == 0
    st = cli("stop", "--now", "--socket", d.sock)
    assert st.returncode == 0, st.stderr
    assert d.proc.wait(timeout=WAIT) == 0
    s = json.loads((d.log / "summary.json").read_text())
    assert 2 <= s["instances"] < 51 and s["failed_instances"] == 0
    assert len((d.log / "appruntime_trace.log").read_text().splitlines()) == s["instances"]


def test_background_daemon(tmp_path, rt):
    sock = Path(os.environ.get("TMPDIR", "/tmp")) / f"o2c-test-{os.getpid()}-bg.sock"
    res = cli("daemon", "-c", CONFIG, "--log-dir", tmp_path / "logs", "--socket", sock, "--background")
    pid = None
    try:
        assert res.returncode == 0, res.stderr
        pid = D.ping(sock)["pid"]
        assert f"daemon pid {pid} on {sock}" in res.stdout
        assert cli("submit", "wifi_tx:1:0", "--socket", sock, "--wait").returncode == 0
        assert cli("stop", "--socket", sock).returncode == 0
        assert json.loads((tmp_path / "logs" / "summary.json").read_text())["instances"] == 1
    finally:
        if pid is not None:
            try:
                D.stop(sock, now=True, timeout=WAIT)
            except D.DaemonError:
                pass
        for p in (sock, sock.with_name(sock.name + ".lock")):
            p.unlink(missing_ok=True)


@pytest.mark.parametrize("mode", ["isolated", "threads"])
def test_crashing_and_exiting_instances_are_recorded_and_the_daemon_goes_on(daemons, tmp_path, rt, mode):
    """By default the daemon runs each instance in a child process, whose exit code is the app's own;
    with --no-isolate instances are threads, a crash is caught on its thread and an exit() is
    recorded as exit code 1 (the process cannot give the code back to the thread)."""
    srcs = {"crash": "int main(int, char **) { volatile int *p = nullptr; *p = 1; return 0; }\n",
            "quit": "#include <cstdlib>\nint main(int, char **) { std::exit(7); }\n"}
    for name, text in srcs.items():
        (tmp_path / f"{name}.cpp").write_text(text)
        subprocess.run(rt.cxx.split() + ["-shared", "-fPIC", "-o", str(tmp_path / f"{name}.so"),
                                         str(tmp_path / f"{name}.cpp")], check=True, timeout=WAIT)
    d = daemons().start(*(["--no-isolate"] if mode == "threads" else []))
    quit_code = 7 if mode == "isolated" else 1
    crash = cli("submit", f"{tmp_path / 'crash.so'}:2:0", "--socket", d.sock, "--wait")
    assert crash.returncode == 1 and crash.stdout.count("exit code 139") == 2, crash.stdout + crash.stderr
    quit_ = cli("submit", f"{tmp_path / 'quit.so'}:1:0", "--socket", d.sock, "--wait")
    assert quit_.returncode == 1 and f"quit app_id 2: exit code {quit_code}" in quit_.stdout, quit_.stdout + quit_.stderr
    ok = cli("submit", "wifi_tx:1:0", "--socket", d.sock, "--wait")
    assert ok.returncode == 0 and "wifi_tx app_id 3: ok" in ok.stdout, ok.stdout + ok.stderr
    st = cli("stop", "--socket", d.sock)
    assert st.returncode == 1 and "4 instance(s) (3 failed)" in st.stdout
    assert d.proc.wait(timeout=WAIT) == 1
    s = json.loads((d.log / "summary.json").read_text())
    assert sorted((f["app"], f["instance"], f["exit_code"]) for f in s["failures"]) == [
        ("crash", 0, 139), ("crash", 1, 139), ("quit", 2, quit_code)]
    assert s["isolated"] is (mode == "isolated")
    assert len((d.log / "appruntime_trace.log").read_text().splitlines()) == 4
    assert "crashed (SIGSEGV)" in d.out.read_text()


def test_idle_daemon_threads_all_block(daemons):
    """Idle, every thread of the daemon sleeps (poll, condition variables): it burns no core."""
    import time

    d = daemons().start()
    assert cli("submit", "wifi_tx:1:0", "--socket", d.sock, "--wait").returncode == 0
    tasks = Path(f"/proc/{d.proc.pid}/task")
    t0 = time.monotonic()
    states = []
    while time.monotonic() - t0 < WAIT:
        # field 3 of /proc/PID/task/TID/stat, after the parenthesized name
        try:
            states = [(t / "stat").read_text().rsplit(")", 1)[1].split()[0] for t in tasks.iterdir()]
        except FileNotFoundError:  # a connection's thread ended meanwhile
            continue
        if all(s in "SD" for s in states):
            break
        time.sleep(0.05)
    assert states and all(s in "SD" for s in states), states
    assert cli("stop", "--socket", d.sock).returncode == 0


def test_sigterm_stops_like_stop(daemons):
    import signal

    d = daemons().start()
    assert cli("submit", "wifi_tx:2:0", "--socket", d.sock).returncode == 0
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=WAIT) == 0
    s = json.loads((d.log / "summary.json").read_text())
    assert s["instances"] == 2 and s["failed_instances"] == 0
    assert not d.sock.exists()


def test_background_start_failure_one_line_and_no_folder(tmp_path, rt):
    sock = tmp_path / "x.sock"
    res = cli("daemon", "-c", CONFIG, "--log-dir", tmp_path / "logs", "--socket", sock, "--background",
              "--scheduler", "NOPE")
    assert "unknown scheduler 'NOPE'" in one_line_error(res)
    assert not (tmp_path / "logs").exists() and not sock.exists()


def test_default_socket_is_per_user(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert D.default_socket() == tmp_path / "onnx2cedr" / "daemon.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert D.default_socket() == Path(f"/tmp/onnx2cedr-{os.getuid()}") / "daemon.sock"


def test_concurrent_submitters_get_disjoint_app_id_blocks(daemons):
    import re

    d = daemons().start()
    specs = ["wifi_tx:2:0", "pulse_doppler:1:0", "radar_correlator:3:100"]
    procs = [subprocess.Popen(CLI + ["submit", s, "--socket", str(d.sock), "--wait"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT) for s in specs]
    blocks = {}
    for spec, p in zip(specs, procs):
        out, errs = p.communicate(timeout=WAIT)
        assert p.returncode == 0, errs
        m = re.search(r"submission \d+: (\d+) instance\(s\), app_id (\d+)(?:-(\d+))?", out)
        n, first, last = int(m[1]), int(m[2]), int(m[3] or m[2])
        assert last - first + 1 == n
        blocks[spec.split(":")[0]] = range(first, last + 1)
    assert sorted(i for b in blocks.values() for i in b) == list(range(6))
    assert cli("stop", "--socket", d.sock).returncode == 0
    assert d.proc.wait(timeout=WAIT) == 0
    logged = {(ln.split(", ")[1].split(": ")[1], int(ln.split(", ")[0].split(": ")[1]))
              for ln in (d.log / "appruntime_trace.log").read_text().splitlines()}
    assert logged == {(app, i) for app, b in blocks.items() for i in b}
