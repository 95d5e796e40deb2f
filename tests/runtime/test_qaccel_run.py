"""Quantized model apps (int8 and int16 QDQ models, their layers DASH_QCONV_i8/i16 and DASH_QGEMM_i8/i16)
on the runtime with accelerators: the integer layers run on the conv and gemm PEs
(kernels/accel/qlinear_accel.cpp) and the outputs are bit for bit the standalone executable's (CPU)."""
from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from onnx2cedr import run as R
from onnx2cedr.quantize import quantize
from tests.oncheck import make_model, rand
from tests.runtime.test_run import CONFIGS, timing_records


def _cnn() -> onnx.ModelProto:
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
             helper.make_node("Flatten", ["c2"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], transB=1, name="fc")]
    inits = {"w1": rand(16, 3, 3, 3, seed=1) * 0.4, "b1": rand(16, seed=2) * 0.1,
             "w2": rand(16, 16, 3, 3, seed=3) * 0.1, "b2": rand(16, seed=4) * 0.1,
             "w3": rand(10, 16 * 12 * 12, seed=5) * 0.02, "b3": rand(10, seed=6) * 0.1}
    return make_model(nodes, {"x": rand(1, 3, 12, 12)}, ["y"], inits)


@pytest.fixture(scope="module")
def apps(tmp_path_factory, rt):
    from onnx2cedr import convert

    base = tmp_path_factory.mktemp("qapps")
    src = base / "f.onnx"
    onnx.save(_cnn(), str(src))
    np.savez(base / "cal.npz", x=rand(8, 1, 3, 12, 12, seed=9))
    out = {}
    for scheme in ("int8", "int16"):
        q = quantize(src, base / "cal.npz", base / f"q{scheme}.onnx", scheme=scheme)
        res = convert(q, base / scheme, name=f"q{scheme}")
        ref = base / f"{scheme}_ref"
        ins = sorted((res.out_dir / "app_inputs").glob("input_*.npy"))
        subprocess.run([str(res.artifacts["exe"]), *map(str, ins), "-o", str(ref)], check=True, capture_output=True)
        bits = scheme[3:]
        cpp = (res.out_dir / "model.cpp").read_text()
        assert f"DASH_QCONV_i{bits}" in cpp and f"DASH_QGEMM_i{bits}" in cpp
        out[scheme] = {"dir": res.out_dir, "app": res.out_dir / f"q{scheme}-app.so", "bits": bits,
                       "ref": sorted(ref.glob("output_*.npy"))}
    return out


@pytest.mark.parametrize("scheme", ["int8", "int16"])
def test_integer_layers_on_accelerators_bit_identical(apps, rt, tmp_path, scheme):
    """The soc_demo SoC with a prohibitive CPU cost for the integer APIs: MET sends every integer
    convolution to the conv PE and every integer GEMM to the gemm PE (their estimators give the
    accelerator's prediction); every output equals the standalone executable's (CPU)."""
    m = apps[scheme]
    cfg = json.loads((CONFIGS / "soc_demo.json").read_text())
    cfg["DASH API Costs"] = {"DASH_QCONV_cpu": 1e12, "DASH_QGEMM_cpu": 1e12}
    # no overrun reroutes on a loaded machine: the test is about placement and bits, not timing
    cfg["Faults"] = {"deadline_min_us": 1e7}
    cp = tmp_path / "soc_int.json"
    cp.write_text(json.dumps(cfg))
    res = R.run(cp, tmp_path / "logs", [R.AppSpec(m["app"], 3, 0)], scheduler="MET", rb=rt)
    assert res.returncode == 0 and res.summary["failed_instances"] == 0
    for k in range(3):
        for ref in m["ref"]:
            got = m["dir"] / "app_outputs" / f"instance_{k}" / ref.name
            assert got.read_bytes() == ref.read_bytes(), f"{got} differs from the standalone executable's output"
    used = Counter((r["task_name"], r["resource_name"].rstrip("0123456789")) for r in timing_records(res.log_dir))
    assert used == Counter({("DASH_QCONV", "conv"): 6, ("DASH_QGEMM", "gemm"): 3}) + \
        Counter({k: v for k, v in used.items() if not k[0].startswith("DASH_Q")}), used
