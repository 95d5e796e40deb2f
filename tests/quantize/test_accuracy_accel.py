"""`onnx2cedr accuracy` with accelerator latencies (--accel, modeled from the accelerators' cycle/byte
models; onnx2cedr/quantize/accel_latency.py) and --plot: the JSON names how the figures were obtained,
every scheme has a latency per accelerator type, the integer layers go to the conv / gemm PEs, and the
plot is a PNG; bad --plot / --accel values are one line and exit 2."""
from __future__ import annotations

import json

import pytest

from tests.oncheck import cli, one_line_error
from tests.quantize.test_accuracy_cli import LENET, data  # noqa: F401  (the inputs fixture)


def test_accel_latencies_json_and_plot(data, tmp_path):  # noqa: F811
    js, png = tmp_path / "acc.json", tmp_path / "acc.png"
    r = cli("accuracy", LENET, "--inputs", data / "test.npz", "--labels", "y", "--schemes", "int8,int16",
            "--calib", data / "cal.npz", "--runs", "5", "--json", js, "--plot", png, "--accel", "conv,gemm")
    assert r.exit_code == 0, r.output
    doc = json.loads(js.read_text())
    assert "cycle/byte model" in doc["accel_latency"] and "library" in doc["cpu_latency"]
    rows = {s["scheme"]: s for s in doc["schemes"]}
    offloaded = {"float": ("DASH_CONV", "DASH_GEMM_RE"), "int8": ("DASH_QCONV", "DASH_QGEMM"),
                 "int16": ("DASH_QCONV", "DASH_QGEMM")}
    for s, (conv_api, gemm_api) in offloaded.items():
        a = rows[s]["accel"]
        assert set(a) == {"conv", "gemm"}
        assert conv_api in a["conv"]["offloaded"] and a["conv"]["calls_on_accelerator"] == 2  # LeNet's 2 convs
        assert gemm_api in a["gemm"]["offloaded"] and a["gemm"]["calls_on_accelerator"] == 3  # its 3 Gemms
        for t in ("conv", "gemm"):
            assert 0 < a[t]["accelerator_us"] < a[t]["latency_us"]
    # the int8 layers' modeled accelerator time is below the float ones' (narrower MACs, fewer bytes)
    assert rows["int8"]["accel"]["conv"]["accelerator_us"] < rows["float"]["accel"]["conv"]["accelerator_us"]
    assert rows["int8"]["accel"]["gemm"]["accelerator_us"] < rows["float"]["accel"]["gemm"]["accelerator_us"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "+conv PE" in r.output and "+gemm PE" in r.output


@pytest.mark.parametrize("args, needle", [(["--plot", "out.txt"], "must name a .png file"),
                                          (["--accel", "warp"], "accelerator type 'warp'")])
def test_bad_accel_options_are_one_line(data, tmp_path, args, needle):  # noqa: F811
    args = [str(tmp_path / a) if a.endswith(".txt") else a for a in args]
    r = cli("accuracy", LENET, "--inputs", data / "test.npz", "--labels", "y", "--schemes", "float", "--runs", "1",
            *args)
    assert r.exit_code == 2
    assert needle in one_line_error(r)
