#!/usr/bin/env python3
"""What isolation (`run --isolate`: each app instance in a child process) costs per API call,
measured against the in-process runtime in the same run, the two alternating.

  .venv/bin/python scripts/isolate_cost.py [--repeat 5] [--calls 2000] [--lenet 10]

Cases (2 CPU PEs, SIMPLE; the runtime, kernel libraries and apps from the cached builds):
  cheap call  runtime/bench/zip_app.cpp, ZIP_MODE=blocking: ZIP_CALLS blocking DASH_ZIP_flt calls on
              16 complex values, each timed by the app from call to return (p50, p99)
  model app   LeNet-5 (models/demo), --lenet instances one after another: each instance's run time
              (summary.json apps[].runtime_ns p50) and, from the model's kernel-call count, the
              added time per call
Prints, per case, the medians over --repeat runs of each mode and the ratio isolated / in-process.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from onnx2cedr import run as R  # noqa: E402
from onnx2cedr.runtime_build import RuntimeBuild  # noqa: E402

CONFIG = {"Worker Threads": {"cpu": 2}, "Scheduler": "SIMPLE"}


def cedr(rb, cfg: Path, log: Path, apps: list[str], isolate: bool, env: dict) -> dict:
    cmd = R.runtime_command(rb, cfg, log) + ["--quiet", "--isolate" if isolate else "--no-isolate"] + apps
    res = subprocess.run(cmd, capture_output=True, text=True, env={**R.runtime_env(), **env}, timeout=600)
    if res.returncode != 0:
        sys.exit(f"error: the runtime failed ({res.returncode}): {res.stderr.strip()[-400:]}")
    return json.loads((log / "summary.json").read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000, help="blocking ZIP calls per run")
    ap.add_argument("--lenet", type=int, default=10, help="LeNet-5 instances per run (one after another)")
    a = ap.parse_args()

    rb = RuntimeBuild().ensure()
    work = Path(tempfile.mkdtemp(prefix="isolate-cost-"))
    cfg = work / "cfg.json"
    cfg.write_text(json.dumps(CONFIG))
    zip_app = work / "zip_app.so"
    subprocess.run(rb.cxx.split() + ["-std=c++17", "-O2", "-shared", "-fPIC", "-I", str(ROOT / "kernels" / "include"),
                                     str(ROOT / "runtime" / "bench" / "zip_app.cpp"), "-o", str(zip_app)], check=True)
    from onnx2cedr import convert
    lenet = convert(ROOT / "models" / "demo" / "lenet5_digits.onnx", work / "lenet")
    calls_per_inference = len(re.findall(r"\bDASH_[A-Z_0-9]+_flt(?:_nb)?\(", (lenet.out_dir / "model.cpp").read_text()))

    cheap = {False: {"p50": [], "p99": []}, True: {"p50": [], "p99": []}}
    model = {False: [], True: []}
    env = {"ZIP_MODE": "blocking", "ZIP_CALLS": str(a.calls), "ZIP_N": "16"}
    for r in range(a.repeat):
        for iso in (False, True):
            log = work / f"zip-{r}-{int(iso)}"
            cedr(rb, cfg, log, [f"{zip_app}:1:0"], iso, env)
            line = (log / R.APP_OUTPUT / "zip_app.0.log").read_text().strip().splitlines()[-1]
            kv = dict(t.split("=", 1) for t in line.split()[1:])
            if kv.get("bad") != "0":
                sys.exit(f"error: zip_app reported wrong results: {line}")
            cheap[iso]["p50"].append(float(kv["p50_ns"]))
            cheap[iso]["p99"].append(float(kv["p99_ns"]))
            log = work / f"lenet-{r}-{int(iso)}"
            # one after another (a period longer than an inference), so each instance runs alone
            s = cedr(rb, cfg, log, [f"{lenet.out_dir / 'lenet5_digits-app.so'}:{a.lenet}:20000"], iso, {})
            model[iso].append(float(s["apps"][0]["runtime_ns"]["p50"]))

    med = statistics.median
    print(f"isolation cost per API call, {a.repeat} runs of each mode alternating (medians; 2 CPU PEs, SIMPLE)")
    print(f"{'case':<40} {'in-process':>12} {'isolated':>12} {'ratio':>7}")
    for k in ("p50", "p99"):
        i0, i1 = med(cheap[False][k]), med(cheap[True][k])
        print(f"{'blocking DASH_ZIP_flt, n=16, ' + k:<40} {i0 / 1e3:>9.1f} us {i1 / 1e3:>9.1f} us {i1 / i0:>7.2f}")
    m0, m1 = med(model[False]), med(model[True])
    print(f"{'LeNet-5 instance run time, p50':<40} {m0 / 1e3:>9.1f} us {m1 / 1e3:>9.1f} us {m1 / m0:>7.2f}")
    print(f"LeNet-5: {calls_per_inference} kernel calls per inference; isolation adds "
          f"{(m1 - m0) / calls_per_inference / 1e3:.1f} us per call (including the child's fork and start)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
