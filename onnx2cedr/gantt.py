"""Gantt charts of a runtime run: one row per PE, one bar per task, coloured by app.

Reads the CEDR-format `timing_trace.log` of a log folder (and `summary.json`, when present, for
the PE list so idle PEs still get a row). Writes PNG/SVG/PDF through matplotlib, or a
self-contained HTML page (inline SVG with a tooltip per task; no scripts, no network).
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import O2CError

TIMING_RE = re.compile(
    r"^app_id: (?P<app_id>\d+), app_name: (?P<app_name>.*?), task_id: (?P<task_id>\d+), "
    r"task_name: (?P<task_name>\S+), resource_name: (?P<pe>\S+), ref_start_time: (?P<start>\d+), "
    r"ref_stop_time: (?P<stop>\d+), actual_exe_time: (?P<exe>\d+)$")

# Colour-blind-safe qualitative palette (Okabe-Ito), then matplotlib's tab20 for more apps.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


@dataclass
class TaskRecord:
    app_id: int
    app_name: str
    task_id: int
    task_name: str
    pe: str
    start: int
    stop: int


def read_timing(log_dir: Path) -> list[TaskRecord]:
    path = Path(log_dir) / "timing_trace.log"
    if not path.is_file():
        raise O2CError(f"'{log_dir}' has no timing_trace.log: not a runtime log folder")
    recs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        m = TIMING_RE.match(line)
        if not m:
            raise O2CError(f"{path}: line {n} is not in the CEDR timing-trace format")
        recs.append(TaskRecord(int(m["app_id"]), m["app_name"], int(m["task_id"]), m["task_name"], m["pe"],
                               int(m["start"]), int(m["stop"])))
    return recs


def _pe_key(name: str):
    m = re.match(r"^(.*?)(\d+)$", name)
    return (name != "cpu" and not name.startswith("cpu"), m[1] if m else name, int(m[2]) if m else 0)


def _rows(log_dir: Path, recs: list[TaskRecord]) -> list[str]:
    pes = []
    summary = Path(log_dir) / "summary.json"
    if summary.is_file():
        try:
            pes = [p["name"] for p in json.loads(summary.read_text()).get("pes", [])]
        except (json.JSONDecodeError, TypeError, KeyError):
            pes = []
    for r in recs:
        if r.pe not in pes:
            pes.append(r.pe)
    return sorted(pes, key=_pe_key) if not summary.is_file() else pes


def _colours(apps: list[str]) -> dict[str, str]:
    cols = list(PALETTE)
    if len(apps) > len(cols):
        import matplotlib

        cmap = matplotlib.colormaps["tab20"]
        cols += [matplotlib.colors.to_hex(cmap(i % 20)) for i in range(len(apps) - len(cols))]
    return {a: cols[i] for i, a in enumerate(apps)}


def draw(log_dir: Path, output: Path, title: str | None = None) -> dict:
    """Draw the chart; the format follows output's suffix (.png, .svg, .pdf, .html)."""
    log_dir, output = Path(log_dir), Path(output)
    recs = read_timing(log_dir)
    if not recs:
        raise O2CError(f"{log_dir}/timing_trace.log has no tasks to draw")
    rows = _rows(log_dir, recs)
    apps = sorted({r.app_name for r in recs})
    colours = _colours(apps)
    t0 = min(r.start for r in recs)
    t1 = max(r.stop for r in recs)
    title = title or f"{log_dir.name}: {len(recs)} tasks on {len(rows)} PEs, {(t1 - t0) / 1e6:.3f} ms"
    suffix = output.suffix.lower()
    output.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".html", ".htm"):
        output.write_text(_html(recs, rows, colours, t0, t1, title))
    elif suffix in (".png", ".svg", ".pdf"):
        _matplotlib(recs, rows, colours, t0, t1, title, output)
    else:
        raise O2CError(f"gantt output '{output}': use a .png, .svg, .pdf or .html file name")
    return {"tasks": len(recs), "pes": rows, "apps": apps, "span_ns": t1 - t0}


def _matplotlib(recs, rows, colours, t0, t1, title, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    scale, unit = (1e6, "ms") if (t1 - t0) >= 2e6 else (1e3, "µs")
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.45 * len(rows)), dpi=110)
    index = {pe: i for i, pe in enumerate(rows)}
    by_app: dict[str, list[tuple[float, float, int]]] = {}
    for r in recs:
        by_app.setdefault(r.app_name, []).append(((r.start - t0) / scale, max(r.stop - r.start, 1) / scale, index[r.pe]))
    for app_name, bars in by_app.items():
        for y in range(len(rows)):
            spans = [(s, w) for s, w, row in bars if row == y]
            if spans:
                ax.broken_barh(spans, (y - 0.4, 0.8), facecolors=colours[app_name], edgecolor="none")
    ax.set_yticks(range(len(rows)), rows)
    ax.invert_yaxis()
    ax.set_xlabel(f"time since the first task started ({unit})")
    ax.set_xlim(0, (t1 - t0) / scale * 1.01)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=[Patch(color=colours[a], label=a) for a in colours], loc="upper left",
              bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)


def _html(recs, rows, colours, t0, t1, title) -> str:
    width, label_w, row_h, top = 1100, 70, 26, 40
    span = max(t1 - t0, 1)
    plot_w = width - label_w - 10
    height = top + row_h * len(rows) + 40
    index = {pe: i for i, pe in enumerate(rows)}
    scale, unit = (1e6, "ms") if span >= 2e6 else (1e3, "µs")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">']
    for i, pe in enumerate(rows):
        y = top + i * row_h
        parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{row_h}" '
                     f'fill="{"#f6f6f6" if i % 2 else "#ffffff"}"/>')
        parts.append(f'<text x="{label_w - 6}" y="{y + row_h * 0.65:.1f}" text-anchor="end">{html.escape(pe)}</text>')
    for k in range(11):
        x = label_w + plot_w * k / 10
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + row_h * len(rows)}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + row_h * len(rows) + 16}" text-anchor="middle">'
                     f'{span * k / 10 / scale:.3g}</text>')
    parts.append(f'<text x="{label_w + plot_w / 2}" y="{height - 6}" text-anchor="middle">'
                 f'time since the first task started ({unit})</text>')
    for r in recs:
        x = label_w + plot_w * (r.start - t0) / span
        w = max(plot_w * (r.stop - r.start) / span, 0.5)
        y = top + index[r.pe] * row_h + 3
        tip = (f"{r.app_name} (instance {r.app_id}) task {r.task_id} {r.task_name} on {r.pe}: "
               f"{(r.start - t0) / 1e3:.1f}-{(r.stop - t0) / 1e3:.1f} us ({(r.stop - r.start) / 1e3:.1f} us)")
        parts.append(f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{row_h - 6}" fill="{colours[r.app_name]}">'
                     f'<title>{html.escape(tip)}</title></rect>')
    parts.append("</svg>")
    legend = "".join(f'<span style="margin-right:1.5em"><span style="display:inline-block;width:12px;height:12px;'
                     f'background:{c};margin-right:4px"></span>{html.escape(a)}</span>' for a, c in colours.items())
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html.escape(title) +
            "</title></head>\n<body style=\"font-family:sans-serif\">\n<h3>" + html.escape(title) + "</h3>\n<p>" +
            legend + "</p>\n" + "".join(parts) + "\n</body></html>\n")
