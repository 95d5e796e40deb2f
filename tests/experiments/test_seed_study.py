"""The bundled seed study runs as shipped: 150 simulated points (zoo models converted on the fly
beside wifi_tx and pulse_doppler) and its real slice, and the findings that do not hang on this
machine's speed hold: the CPU-only composition saturates first, and heterogeneity shortens the
makespan under load."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.oncheck import cli

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "onnx2cedr" / "experiments" / "studies" / "seed_study.yaml"
ML = ("vgg-app", "tiny_yolo-app", "m5-app")


def test_the_bundled_seed_study(tmp_path):
    out = tmp_path / "study"
    r = cli("experiment", "run", STUDY, "-o", out)
    assert r.exit_code == 0, r.output
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 150
    assert {r["scheduler"] for r in rows} == {"EFT", "ETF", "HEFT_RT"}
    assert {r["platform.conv"] for r in rows} == {"0", "1"}

    def at(sched: str, comp: str, rate: float) -> tuple[float, float]:
        """(mean p95 of the ML apps, makespan) of a point; comp lists its PE counts cpu..zip."""
        r = next(r for r in rows if r["scheduler"] == sched and float(r["rate_scale"]) == rate and
                 "".join(r[f"platform.{t}"] for t in ("cpu", "conv", "gemm", "fft", "zip")) == comp)
        return sum(float(r[f"latency_p95_ms.{a}"]) for a in ML) / len(ML), float(r["makespan_ms"])

    rates = sorted({float(r["rate_scale"]) for r in rows})
    for sched in ("EFT", "ETF", "HEFT_RT"):
        # somewhere in the sweep the CPU-only SoC is past its knee while the one with a conv
        # accelerator is not yet: the p95 gap between them opens well beyond the nearly idle one.
        # Where the knee falls depends on the profiles, measured on this machine, so the test looks
        # for the widest gap rather than at one rate.
        gap = {x: at(sched, "30000", x)[0] / at(sched, "31000", x)[0] for x in rates}
        assert max(gap.values()) > 1.5 * gap[rates[0]], (sched, gap)
        # under load the most heterogeneous SoC finishes the workload sooner than the CPU-only one
        assert at(sched, "31111", 8)[1] < at(sched, "30000", 8)[1], sched
    # its real slice: the four listed points measured on the runtime
    table = json.loads((out / "sim_vs_real.json").read_text())
    assert [t["point"] for t in table] == [0, 3, 10, 13]
    assert all(t["real.makespan_ms"] > 0 for t in table)
    page = (out / "report.html").read_text()
    assert "Saturation" in page and "Gantt chart of point 65" in page
