"""Re-run the figures quoted in notes and docs: every zoo model against onnxruntime on 200 random
inputs, LeNet-5's digits accuracy, and the VGG-16-size conversion (time and peak memory ratio).

    .venv/bin/python scripts/figures.py [--samples 200] [--skip-vgg16]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import onnx2cedr  # noqa: E402
from models.export import export_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--skip-vgg16", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        print(f"{'model':12s} {'exporter':10s} {'max rel err':>12s} {'top-1':>7s}")
        for name in ("lenet5", "vgg", "m5", "resnet8", "tiny_yolo"):
            for dynamo in (False, True):
                p = export_model(name, d / f"{name}_{dynamo}.onnx", dynamo=dynamo, opset=18 if dynamo else 17)
                rep = onnx2cedr.validate(p, samples=a.samples)
                top1 = [o.top1 for o in rep.outputs if o.top1 is not None]
                print(f"{name:12s} {'dynamo' if dynamo else 'torchscript':10s} "
                      f"{max(o.max_rel_err for o in rep.outputs):12.2e} "
                      f"{(f'{100 * min(top1):.1f}%' if top1 else '-'):>7s}  {'pass' if rep.passed else 'FAIL'}")
        demo = ROOT / "models" / "demo"
        rep = onnx2cedr.validate(demo / "lenet5_digits.onnx", inputs=demo / "digits_test.npz", labels="y")
        print(f"digits ({rep.samples} images): generated code {100 * rep.accuracy['ours']:.2f}%, "
              f"onnxruntime {100 * rep.accuracy['onnxruntime']:.2f}%")
        if not a.skip_vgg16:
            from models.vgg16 import parameter_count, write_vgg16

            p = write_vgg16(d / "vgg16.onnx")
            code = ("import re, time, onnx2cedr; t=time.perf_counter(); "
                    f"onnx2cedr.convert({str(p)!r}, {str(d / 'vgg16_out')!r}); "
                    "print(time.perf_counter()-t, re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            secs, kb = out.split()
            wbytes = parameter_count() * 4
            print(f"VGG-16 size ({parameter_count() / 1e6:.1f} M params, {wbytes / 2**20:.0f} MiB): convert+build "
                  f"{float(secs):.1f} s, peak memory {int(kb) / 1024:.0f} MiB = {int(kb) * 1024 / wbytes:.2f}x the weights")


if __name__ == "__main__":
    main()
