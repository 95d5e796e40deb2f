"""DIR/report.html: one self-contained page (PNGs inlined, and kept beside it in DIR/report/).

It shows the saturation curves (each app's p95 latency and throughput against its injection
rate, one line per composition and scheduler), the Pareto plot of the objectives, a utilization
heat map, the Gantt chart of one point, the sim-against-real table, and the results.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Optional

from .results import read_csv, write_atomic
from .spec import ExperimentError

MAX_HEAT_ROWS = 60
MAX_TABLE_ROWS = 60


def _num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return v
    return x


def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.4g}"
    return html.escape(str(v))


def _png(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    path.write_bytes(data)
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _composition(r: dict) -> str:
    return "+".join(f"{int(float(r[k]))}{k.split('.')[1]}" for k in r
                    if k.startswith("platform.") and int(float(r[k])) > 0)


def _rate_param(params: list[str], rows: list[dict]) -> Optional[str]:
    """The injection-rate axis: rate_scale when swept, else the first swept period."""
    if "rate_scale" in params and len({r["rate_scale"] for r in rows}) > 1:
        return "rate_scale"
    for k in params:
        if k.startswith("workload.") and k.endswith(".period_us") and len({r[k] for r in rows}) > 1:
            return k
    return None


def _group(r: dict, other: list[str]) -> str:
    """A line of a saturation plot: its composition, scheduler and any other swept value."""
    parts = []
    if any(k.startswith("platform.") for k in other):
        parts.append(_composition(r))
    parts += [str(r[k]) if k == "scheduler" else f"{k}={r[k]}" for k in other if not k.startswith("platform.")]
    return ", ".join(parts) or "all"


def _saturation(rows, params, apps, figdir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = _rate_param(params, rows)
    if key is None:
        return ["<p>No period is swept, so there is no saturation curve.</p>"]
    other = [k for k in params if k != key and len({str(r[k]) for r in rows}) > 1]
    out = []
    for metric, label in (("latency_p95_ms", "p95 latency (ms)"), ("throughput_per_s", "throughput (instances/s)")):
        ncols = min(3, len(apps))
        nrows = math.ceil(len(apps) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.6 * nrows), squeeze=False)
        flat = [ax for row in axes for ax in row]
        for ax in flat[len(apps):]:
            ax.set_visible(False)
        for ax, app in zip(flat, apps):
            ax.set_prop_cycle(color=plt.cm.tab20.colors)
            if key == "rate_scale":
                ax.set_xscale("log", base=2)
            groups: dict[str, dict[float, list[float]]] = {}
            for r in rows:
                x = float(r[key]) if key == "rate_scale" else (1e6 / float(r[key]) if float(r[key]) > 0 else 0)
                if x <= 0:
                    continue
                label_key = _group(r, other)
                v = _num(r.get(f"{metric}.{app}"))
                if isinstance(v, float) and not math.isnan(v):
                    groups.setdefault(label_key, {}).setdefault(x, []).append(v)
            for g, pts in sorted(groups.items()):
                xs = sorted(pts)
                ax.plot(xs, [sum(pts[x]) / len(pts[x]) for x in xs], marker="o", label=g)
            ax.set_title(app)
            ax.set_xlabel("injection rate (x the workload's rates)" if key == "rate_scale"
                          else f"injection rate (1/s, from {key})")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        handles, labels = flat[0].get_legend_handles_labels()
        if len(labels) > 1:
            fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(4, len(labels)),
                       bbox_to_anchor=(0.5, -0.02 - 0.025 * math.ceil(len(labels) / 4)))
        fig.tight_layout()
        out.append(_png(fig, figdir / f"saturation_{metric}.png"))
    return out


def _pareto_plot(rows, doc, figdir: Path) -> str:
    import matplotlib.pyplot as plt

    from .search import objectives, pareto

    objs = objectives(doc)
    if len(objs) < 2:
        apps = [k.split(".", 1)[1] for k in rows[0] if k.startswith("latency_p95_ms.")]
        objs = [(f"latency_p95_ms.{apps[0]}", "minimize"), ("energy_mj", "minimize")] if apps else []
    if len(objs) < 2:
        return "<p>Two objectives are needed for a Pareto plot.</p>"
    (mx, _), (my, _) = objs[:2]
    front = pareto(rows, objs[:2], doc.get("constraints", []))
    fig, ax = plt.subplots(figsize=(5.5, 4))
    xs = [_num(r.get(mx)) for r in rows]
    ys = [_num(r.get(my)) for r in rows]
    ax.scatter(xs, ys, s=12, alpha=0.5, label="points")
    ax.plot([p[mx] for p in front], [p[my] for p in front], "r-o", ms=5, label="Pareto front")
    ax.set_xlabel(mx)
    ax.set_ylabel(my)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    rows_html = "".join(f"<tr><td>{p['point']}</td><td>{_fmt(p[mx])}</td><td>{_fmt(p[my])}</td>"
                        f"<td>{html.escape(_composition(p))}</td><td>{html.escape(str(p.get('scheduler')))}</td></tr>"
                        for p in front[:20])
    return (_png(fig, figdir / "pareto.png") +
            f"<table><tr><th>point</th><th>{html.escape(mx)}</th><th>{html.escape(my)}</th><th>composition</th>"
            f"<th>scheduler</th></tr>{rows_html}</table>")


def _heatmap(rows, figdir: Path) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    pes = [k for k in rows[0] if k.startswith("util.")]
    if not pes:
        return ""
    step = max(1, math.ceil(len(rows) / MAX_HEAT_ROWS))
    shown = rows[::step]
    data = np.array([[(_num(r.get(p)) if r.get(p) not in ("", None) else np.nan) for p in pes] for r in shown],
                    dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(pes), 1.5 + 0.18 * len(shown)))
    im = ax.imshow(data, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(pes)), [p[5:] for p in pes], rotation=45)
    ax.set_yticks(range(len(shown)), [f"{r['point']}/{r['repeat']}" for r in shown], fontsize=6)
    ax.set_ylabel("point/repeat" + (f" (every {step}th)" if step > 1 else ""))
    fig.colorbar(im, ax=ax, label="utilization")
    return _png(fig, figdir / "utilization.png")


def _gantt(out_dir: Path, doc: dict, index: int, figdir: Path) -> str:
    from .. import gantt
    from .engines import write_sim_logs
    from .runner import prepare
    from .space import grid
    from .spec import from_doc

    exp = from_doc(doc, base_dir=out_dir)
    points = grid(exp)
    if not 0 <= index < len(points):
        raise ExperimentError(f"--gantt-point {index}: the grid has points 0..{len(points) - 1}")
    pt = points[index]
    if doc["engine"] == "real":
        runs = sorted((out_dir / "runs").glob(f"{index:05d}-*-r0"))
        if not runs:
            return f"<p>Point {index} has not run.</p>"
        log_dir = runs[0]
    else:
        profiles = json.loads((out_dir / "profiles.json").read_text()) if (out_dir / "profiles.json").exists() else {}
        apps_meta = json.loads((out_dir / "apps.json").read_text()) if (out_dir / "apps.json").exists() else []
        from .workload import App

        apps = [App(a["entry"], Path(a["so"]), a["name"], a["sha256"]) for a in apps_meta]
        ctx = prepare(exp, out_dir, points=[pt], profiles_from=profiles, apps=apps)
        log_dir = write_sim_logs(ctx, pt, 0, out_dir / "gantt" / f"point-{index}")
    gantt.draw(log_dir, figdir / "gantt.png", title=f"point {index}: {pt.params['scheduler']}, "
               f"{_composition(pt.params)}")
    data = (figdir / "gantt.png").read_bytes()
    return (f'<p>Logs: <code>{html.escape(str(log_dir))}</code> (<code>onnx2cedr gantt</code> draws them).</p>'
            f'<img alt="gantt" src="data:image/png;base64,{base64.b64encode(data).decode()}">')


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:+.1f}%"


def _sim_vs_real(out_dir: Path) -> str:
    path = out_dir / "sim_vs_real.json"
    if not path.exists():
        return "<p>No sample was run on both engines (set <code>sim: {compare: N}</code>).</p>"
    table = json.loads(path.read_text())
    if not table:
        return "<p>The sample is empty.</p>"
    metrics = [k[4:] for k in table[0] if k.startswith("sim.")]
    head = "".join(f"<th>{html.escape(m)} sim</th><th>real</th><th>error</th>" for m in metrics)
    body = ""
    for r in table:
        body += f"<tr><td>{r['point']}</td><td>{_fmt(r.get('load_avg'))}</td>" + "".join(
            f"<td>{_fmt(r[f'sim.{m}'])}</td><td>{_fmt(r[f'real.{m}'])}</td><td>{_pct(r[f'error.{m}'])}</td>"
            for m in metrics) + "</tr>"
    errs = [abs(r[f"error.{m}"]) for r in table for m in metrics if r[f"error.{m}"] is not None]
    note = f"<p>Median |error| {100 * sorted(errs)[len(errs) // 2]:.1f}%, max {100 * max(errs):.1f}%.</p>" if errs else ""
    return (f"<table><tr><th>point</th><th>load average</th>{head}</tr>{body}</table>{note}"
            "<p>The load average is the host's when the measured run ended: other work on the machine "
            "slows the runtime, never the simulator.</p>")


def write_report(out_dir: Path, gantt_point: Optional[int] = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    meta = out_dir / "experiment.json"
    if not meta.is_file() or not (out_dir / "results.csv").is_file():
        raise ExperimentError(f"'{out_dir}' is not a results folder of `experiment run` (no results.csv)")
    doc = json.loads(meta.read_text())["experiment"]
    rows = [{k: _num(v) if v != "" else float("nan") for k, v in r.items()} for r in read_csv(out_dir / "results.csv")]
    if not rows:
        raise ExperimentError(f"'{out_dir}/results.csv' has no rows")
    for r in rows:
        r["point"], r["repeat"] = int(r["point"]), int(r["repeat"])
    figdir = out_dir / "report"
    figdir.mkdir(exist_ok=True)
    from .space import columns
    from .spec import from_doc

    exp = from_doc(doc, base_dir=out_dir)
    params = columns(exp)
    swept = [k for k in params if len({str(r[k]) for r in rows}) > 1]
    apps = [k.split(".", 1)[1] for k in rows[0] if k.startswith("latency_p95_ms.")]
    index = doc.get("report", {}).get("gantt_point", 0) if gantt_point is None else gantt_point
    sections = [
        ("Saturation", "".join(_saturation(rows, params, apps, figdir))),
        ("Pareto front", _pareto_plot(rows, doc, figdir)),
        ("Utilization", _heatmap(rows, figdir)),
        (f"Gantt chart of point {index}", _gantt(out_dir, doc, index, figdir)),
        ("Simulation against the runtime", _sim_vs_real(out_dir)),
    ]
    show = ["point", "repeat", *swept, "makespan_ms", *[f"latency_p95_ms.{a}" for a in apps], "energy_mj"]
    table = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in show) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in show) + "</tr>" for r in rows[:MAX_TABLE_ROWS])
    more = f"<p>First {MAX_TABLE_ROWS} of {len(rows)} rows; all in results.csv.</p>" if len(rows) > MAX_TABLE_ROWS else ""
    n_points = len({r["point"] for r in rows})
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(doc['name'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1400px}} table{{border-collapse:collapse;font-size:12px;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}} img{{max-width:100%}} h2{{margin-top:1.6em}}</style></head>
<body><h1>{html.escape(doc['name'])}</h1>
<p>{html.escape(doc.get('description') or '')}</p>
<p>Engine <b>{doc['engine']}</b>, seed {doc['seed']}, {doc['repeats']} repeat(s); {n_points} points, {len(rows)} rows.
Swept: {html.escape(', '.join(swept) or 'nothing')}.</p>
""" + "".join(f"<h2>{html.escape(t)}</h2>\n{body}\n" for t, body in sections) + \
        f"<h2>Results</h2><table>{table}</table>{more}</body></html>\n"
    write_atomic(out_dir / "report.html", page)
    return out_dir / "report.html"


__all__ = ["write_report"]
