"""The tables of docs/experiments.md, from a results folder of the bundled seed study.

    onnx2cedr experiment run onnx2cedr/experiments/studies/seed_study.yaml -o study/
    python scripts/seed_study_tables.py study/results.csv
"""
from __future__ import annotations

import csv
import statistics
import sys

TYPES = ("cpu", "conv", "gemm", "fft", "zip")
FOCUS = "3 cpu+1 conv+1 fft+1 zip"


def comp(r: dict) -> str:
    return "+".join(f"{r['platform.' + t]} {t}" for t in TYPES if r["platform." + t] != "0")


def main(path: str) -> None:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    apps = [k.split(".", 1)[1] for k in rows[0] if k.startswith("latency_p95_ms.")]
    ml = [a for a in apps if a.endswith("-app")]
    rates = sorted({float(r["rate_scale"]) for r in rows})
    comps = list(dict.fromkeys(comp(r) for r in rows))

    def row(sched: str, c: str, x: float) -> dict:
        return next(r for r in rows if r["scheduler"] == sched and comp(r) == c and float(r["rate_scale"]) == x)

    for sched in ("EFT", "ETF", "HEFT_RT"):
        print(f"\n#### {sched}: mean p95 latency of the ML apps (ms) by injection rate\n")
        print("| composition | " + " | ".join(f"{x:g}x" for x in rates) + " | knee |")
        print("|---|" + "---:|" * (len(rates) + 1))
        for c in comps:
            vals = [statistics.mean(float(row(sched, c, x)[f"latency_p95_ms.{a}"]) for a in ml) for x in rates]
            knee = next((x for x, v in zip(rates, vals) if v > 2 * vals[0]), None)
            print(f"| {c} | " + " | ".join(f"{v:.1f}" for v in vals) + (f" | {knee:g}x |" if knee else " | - |"))
    print("\n#### Makespan (ms) and energy (mJ) by composition, EFT\n")
    print("| composition | DSP (est.) | makespan 1x | makespan 8x | energy 1x | energy 8x |")
    print("|---|---:|---:|---:|---:|---:|")
    for c in comps:
        r1, r8 = row("EFT", c, 1.0), row("EFT", c, 8.0)
        print(f"| {c} | {float(r8['dsp']):.0f} | {float(r1['makespan_ms']):.1f} | {float(r8['makespan_ms']):.1f} | "
              f"{float(r1['energy_mj']):.1f} | {float(r8['energy_mj']):.1f} |")
    for metric, title in (("slowdown_p95", "p95 slowdown (p95 latency / latency alone)"),
                          ("throughput_ratio", "pace kept (throughput ratio)")):
        print(f"\n#### {title} per app, {FOCUS}\n")
        print("| scheduler | rate | " + " | ".join(apps) + " | ML mean | radio mean |")
        print("|---|---:|" + "---:|" * (len(apps) + 2))
        for sched in ("EFT", "ETF", "HEFT_RT"):
            for x in (1.0, 1.5, 2.0, 4.0, 8.0):
                r = row(sched, FOCUS, x)
                v = {a: float(r[f"{metric}.{a}"]) for a in apps}
                radio = [a for a in apps if a not in ml]
                print(f"| {sched} | {x:g}x | " + " | ".join(f"{v[a]:.2f}" for a in apps) +
                      f" | {statistics.mean(v[a] for a in ml):.2f} | {statistics.mean(v[a] for a in radio):.2f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/seed_study_tables.py STUDY/results.csv")
    main(sys.argv[1])
