"""Sanitizers (issue 18): the runtime built with --sanitize thread runs concurrent app instances on
several PEs, and the daemon's submit path, without a ThreadSanitizer report (the options of
sanitizer_env stop it at the first one). Its own file: its builds run beside test_sanitize.py's."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from onnx2cedr import daemon as D
from onnx2cedr import run as R
from onnx2cedr.runtime_build import RuntimeBuild

from tests.test_sanitize import CONFIGS, _clean, _need


@pytest.fixture(scope="module")
def rt_tsan():
    _need("thread")
    return RuntimeBuild(sanitize="thread").ensure()


def test_concurrent_instances_and_daemon_under_tsan(rt_tsan, tmp_path):
    specs = [R.parse_app_spec(s, rt_tsan) for s in ("wifi_tx:3:0", "pulse_doppler:2:0", "radar_correlator:2:0")]
    res = R.run(CONFIGS / "soc_demo.json", tmp_path / "log", specs, rb=rt_tsan, timeout=600)
    stderr = (res.log_dir / R.RUN_MARKER).read_text()
    assert res.returncode == 0 and _clean(stderr), stderr[-3000:]
    outs = R.app_outputs(res.log_dir)
    assert len(outs) == 7 and all(": ok" in t and _clean(t) for t in outs.values()), outs

    sock = Path("/tmp") / f"o2c-tsan-{os.getpid()}" / "d.sock"  # short: a socket path has 107 bytes
    D.start_background(CONFIGS / "soc_demo.json", tmp_path / "dlog", sock, rb=rt_tsan, timeout=300)
    try:
        done = D.submit([R.parse_app_spec("wifi_tx:2:0", rt_tsan), R.parse_app_spec("pulse_doppler:1:0", rt_tsan)],
                        sock, wait=True, timeout=300)
        assert done[1]["failed"] == 0, done
    finally:
        stopped = D.stop(sock, timeout=300)
    out = (tmp_path / "dlog" / D.DAEMON_OUT).read_text()
    assert stopped.get("exit_code") == 0 and _clean(out), out[-3000:]
