#!/usr/bin/env python
"""What the weights checksum costs: mapping a converted model's weights file (o2c_weights_map, what
the library, executable and app do once per process) with the check on (the default) and off
(O2C_WEIGHTS_CHECK=0), beside the time of one inference.

    .venv/bin/python scripts/weights_check_cost.py [--model lenet|vgg16|FILE.onnx ...] [--runs 21]

Each model is converted (exe artifact) into a temporary folder. A small C++ program linked with the
kernel library maps the weights file --runs times per setting, alternating (the file is in the page
cache; each mapping is fresh, so its pages are faulted in again), and prints the median time of
each; the executable's --repeat gives one inference's time. Printed per model: weights size, map
time with and without the check, the difference (the check's cost), its throughput, and the cost
as a share of one inference.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _model(name: str, tmp: Path) -> Path:
    if name == "lenet":
        return ROOT / "models" / "demo" / "lenet5_digits.onnx"
    if name == "vgg16":
        from models.vgg16 import write_vgg16

        return write_vgg16(tmp / "vgg16.onnx")
    return Path(name)


BENCH = r"""
#include <sys/mman.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <vector>
#include "o2c_model.h"
// argv: weights path, model id, payload bytes, crc, runs -> median ns with the check on, off
int main(int argc, char **argv) {
  setenv("O2C_WEIGHTS", argv[1], 1);
  const uint64_t id = std::strtoull(argv[2], nullptr, 10);
  const size_t bytes = std::strtoull(argv[3], nullptr, 10);
  const uint32_t crc = std::strtoul(argv[4], nullptr, 16);
  const int runs = std::atoi(argv[5]);
  std::vector<double> t[2];
  char err[512];
  for (int r = 0; r < 2 * runs + 2; ++r) {
    const int off = r % 2;
    setenv("O2C_WEIGHTS_CHECK", off ? "0" : "1", 1);
    auto t0 = std::chrono::steady_clock::now();
    const unsigned char *p = static_cast<const unsigned char *>(
        o2c_weights_map("unused", id, bytes, crc, nullptr, err, sizeof err));
    if (p == nullptr) { std::fprintf(stderr, "%s\n", err); return 1; }
    volatile unsigned sum = 0;  // the run reads every weight once: so does this (both settings)
    for (size_t i = 0; i < bytes; i += 4096) sum = sum + p[i];
    auto t1 = std::chrono::steady_clock::now();
    munmap(const_cast<unsigned char *>(p - 64), bytes + 64);
    if (r >= 2) t[off].push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  for (auto &v : t) std::sort(v.begin(), v.end());
  std::printf("%.0f %.0f\n", t[0][runs / 2], t[1][runs / 2]);
  return 0;
}
"""


def _bench(tmp: Path) -> Path:
    from onnx2cedr.build import KernelLib

    kl = KernelLib().ensure()
    src = tmp / "bench.cpp"
    src.write_text(BENCH)
    exe = tmp / "bench"
    subprocess.run(kl.cxx.split() + kl.flags + ["-I", str(kl.include), str(src), str(kl.core), "-ldl", "-o", str(exe)],
                   check=True)
    return exe


def measure(name: str, runs: int, tmp: Path, bench: Path) -> dict:
    import json
    import re

    import numpy as np

    import onnx2cedr

    res = onnx2cedr.convert(_model(name, tmp), tmp / "out", artifacts=("exe",), force=True)
    desc = json.loads((tmp / "out" / "model.json").read_text())
    wf = tmp / "out" / desc["weights_file"]
    with open(wf, "rb") as f:
        head = f.read(24)
    model_id, payload = int.from_bytes(head[8:16], "little"), int.from_bytes(head[16:24], "little")
    r = subprocess.run([str(bench), str(wf), str(model_id), str(payload), desc["weights_crc32"], str(runs)],
                       capture_output=True, text=True, check=True)
    on_ns, off_ns = map(float, r.stdout.split())
    np.save(tmp / "x.npy", np.load(tmp / "out" / "app_inputs" / "input_0.npy"))
    r = subprocess.run([str(res.artifacts["exe"]), str(tmp / "x.npy"), "-o", str(tmp / "o"), "--repeat", "20"],
                       capture_output=True, text=True, check=True)
    infer_us = float(re.search(r"([\d.]+) us per run", r.stdout).group(1))
    diff = on_ns - off_ns
    return {"model": name, "weights_bytes": payload, "on_ms": on_ns / 1e6, "off_ms": off_ns / 1e6,
            "cost_ms": diff / 1e6, "gb_per_s": payload / diff if diff > 0 else None, "inference_ms": infer_us / 1e3}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="lenet, vgg16 or an .onnx file (repeatable; default both)")
    ap.add_argument("--runs", type=int, default=21)
    a = ap.parse_args()
    print(f"{'model':10s} {'weights':>11s} {'map+check':>11s} {'map only':>11s} {'check':>11s} {'GB/s':>6s} "
          f"{'inference':>11s} {'check/inference':>15s}")
    with tempfile.TemporaryDirectory(prefix="o2c-crc-") as d:
        bench = _bench(Path(d))
        for k, name in enumerate(a.model or ["lenet", "vgg16"]):
            tmp = Path(d) / str(k)
            tmp.mkdir()
            r = measure(name, a.runs, tmp, bench)
            gbs = "-" if r["gb_per_s"] is None else f"{r['gb_per_s']:.2f}"
            print(f"{Path(name).stem:10s} {r['weights_bytes'] / 2**20:>8.2f}MiB {r['on_ms']:>9.3f}ms "
                  f"{r['off_ms']:>9.3f}ms {r['cost_ms']:>9.3f}ms {gbs:>6s} {r['inference_ms']:>9.3f}ms "
                  f"{100 * r['cost_ms'] / r['inference_ms']:>14.1f}%", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
