"""One self-contained HTML page for a sweep: status, paper tables, noise diagnostics, plots.

``python -m experiments.report --sweep DIR`` writes ``DIR/report.html`` with `write_page`. The
page needs no server and nothing outside the file: styles are inline, plots are PNGs embedded
as ``data:`` URIs, and its one script (a filter box for the cell list) is inline too.

Sections:

* **Status**: cells done / failed / pending (``DIR/sweep.json`` and ``DIR/cells/<id>/``), the
  programs' wall times (a packed program's wall time is shared by its cells), and every failed
  cell with its error;
* **Results**: `robustloss.report.tables.paper_table` of ``--metric`` under ``--select``, in the
  layout of `robustloss.report.layouts` (``rent`` when the sweep used transition methods, else
  ``ldr``), and its plots (accuracy vs noise rate, learning curves);
* **Noise diagnostics** (when the runs logged ``noise/*``, `robustloss.training.diagnostics`):
  the same table for memorisation (lower is better), the loss detector's AUROC and precision,
  and their curves per epoch;
* **Cells**: one row per cell (id, argument, status, program wall time, error), filterable.

A table or plot that cannot be made (e.g. hyperparameters without validation values) is
replaced by its error message; the page is still written.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import os
import tempfile
from typing import Any

from robustloss._io import atomic_write
from robustloss.report import plots, tables
from robustloss.report.layouts import load_rows, make_table, write_plots
from robustloss.sweep.cells import cell_status

__all__ = ["PAGE", "NOISE_TABLES", "build_page", "cell_rows", "write_page"]

PAGE = "report.html"
#: Noise-diagnostic tables and curves of the page: (metric column, section title, axis label,
#: higher is better).
NOISE_TABLES = (
    (
        "noise/memorisation",
        "memorisation: share of the noisy examples predicted as their wrong label",
        "memorisation",
        False,
    ),
    (
        "noise/auroc_loss",
        "noise detection: AUROC of the training loss for noisy labels",
        "AUROC of the loss (noisy)",
        True,
    ),
    (
        "noise/detect_precision",
        "noise detection: precision of flagging the highest losses",
        "precision of the loss flags",
        True,
    ),
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;
color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:0.5em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}caption{font-weight:bold;text-align:left;padding:4px 0}
.caption{font-size:0.85em;color:#555;max-width:60em}
.done{color:#176b2c}.failed{color:#b00020;font-weight:bold}.pending{color:#8a6d00}
.error{color:#b00020;white-space:pre-wrap;font-family:monospace;font-size:0.85em}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}
pre{white-space:pre-wrap;font-size:0.8em;background:#fafafa;padding:0.5em}
.summary td{border:none;padding:1px 12px 1px 0}
"""

# Filters the cell list as one types (case-insensitive substring of a row's text).
_SCRIPT = """
(function () {
  var box = document.getElementById("cell-filter");
  var rows = document.querySelectorAll("#cells tbody tr");
  var shown = document.getElementById("cells-shown");
  function apply() {
    var q = box.value.toLowerCase(), n = 0;
    rows.forEach(function (tr) {
      var hit = tr.textContent.toLowerCase().indexOf(q) >= 0;
      tr.style.display = hit ? "" : "none";
      if (hit) { n += 1; }
    });
    shown.textContent = String(n);
  }
  box.addEventListener("input", apply);
  apply();
})();
"""


def _read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def cell_rows(sweep: str) -> list[dict]:
    """One dict per cell of the sweep (those of ``sweep.json`` and any other cell directory):
    ``id``, ``arg``, ``status`` (done/failed/pending), ``program``, ``wall`` (the program's
    seconds), ``runs`` (cells in that program) and ``error`` (failed cells)."""
    sweep = os.path.abspath(sweep)
    listed = []
    if os.path.exists(os.path.join(sweep, "sweep.json")):
        listed = _read_json(os.path.join(sweep, "sweep.json")).get("cells", [])
    root = os.path.join(sweep, "cells")
    on_disk = sorted(os.listdir(root)) if os.path.isdir(root) else []
    args = {c["id"]: c.get("arg") for c in listed}
    ids = list(dict.fromkeys([c["id"] for c in listed] + on_disk))
    out = []
    for cid in ids:
        status = cell_status(sweep, cid)
        row: dict[str, Any] = {"id": cid, "arg": args.get(cid) or "", "status": status}
        marker = {"done": "DONE", "failed": "FAILED"}.get(status)
        info = {}
        if marker:
            try:
                info = _read_json(os.path.join(root, cid, marker))
            except (OSError, ValueError):
                info = {}
        row["program"] = info.get("program", "")
        row["wall"] = info.get("wall")
        row["runs"] = info.get("runs")
        row["error"] = info.get("error", "") if status == "failed" else ""
        if not row["arg"] and isinstance(info.get("values"), dict):
            row["arg"] = ",".join(f"{k}={v}" for k, v in info["values"].items())
        out.append(row)
    return out


def _png_uri(path: str) -> str:
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def _img(path: str, alt: str) -> str:
    return f'<img src="{_png_uri(path)}" alt="{html.escape(alt)}">'


def _error(what: str, e: Exception) -> str:
    return f'<p class="error">{html.escape(what)}: {html.escape(f"{type(e).__name__}: {e}")}</p>'


def _status_section(rows: list[dict]) -> str:
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "pending")}
    walls: dict[str, float] = {}
    for r in rows:
        if r["program"] and r["wall"] is not None:
            walls[r["program"]] = float(r["wall"])
    total = sum(walls.values())
    parts = [
        '<table class="summary">',
        f"<tr><td>cells</td><td>{len(rows)}</td></tr>",
        *(f'<tr><td class="{s}">{s}</td><td class="{s}">{n}</td></tr>' for s, n in counts.items()),
        f"<tr><td>programs run</td><td>{len(walls)}</td></tr>",
        f"<tr><td>programs' wall time</td><td>{total:.1f} s</td></tr>",
        "</table>",
    ]
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        parts.append("<h3>Failed cells</h3>")
        for r in failed:
            first = (r["error"] or "").splitlines()[0] if r["error"] else "(no error text)"
            parts.append(
                f"<details><summary><code>{html.escape(r['id'])}</code> "
                f'{html.escape(r["arg"])}: <span class="failed">{html.escape(first)}</span>'
                f"</summary><pre>{html.escape(r['error'])}</pre></details>"
            )
    return "\n".join(parts)


def _cells_section(rows: list[dict]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("cell", "argument", "status", "program wall (s)", "cells in program", "error")
    )
    body = []
    for r in rows:
        wall = "" if r["wall"] is None else f"{float(r['wall']):.1f}"
        first = (r["error"] or "").splitlines()[0] if r["error"] else ""
        body.append(
            f"<tr><td><code>{html.escape(r['id'])}</code></td><td>{html.escape(r['arg'])}</td>"
            f'<td class="{r["status"]}">{r["status"]}</td><td>{wall}</td>'
            f"<td>{'' if r['runs'] is None else int(r['runs'])}</td>"
            f"<td>{html.escape(first)}</td></tr>"
        )
    return (
        '<p><label>filter: <input id="cell-filter" type="search" placeholder="id, argument, '
        'status…"></label> <span id="cells-shown">0</span> of '
        f"{len(rows)} shown</p>\n"
        f'<table id="cells"><thead><tr>{head}</tr></thead><tbody>\n'
        + "\n".join(body)
        + "\n</tbody></table>"
    )


def _layout(df) -> str:
    if "transition.use" in df.columns and (df["transition.use"].astype(str) != "none").any():
        return "rent"
    return "ldr"


def _results_sections(
    sweep: str, layout: str, select: str, metric: str, val_metric: str, hp_select: str
) -> tuple[str, str]:
    """The Results and Noise diagnostics sections (HTML)."""
    try:
        lay = _layout(load_rows(sweep, "ldr")) if layout == "auto" else layout
        df = load_rows(sweep, lay)
    except ValueError as e:
        return _error("no results table", e), ""
    kw = {"select": select, "hp_select": hp_select, "val_metric": val_metric}
    results: list[str] = []
    table = None
    try:
        table = make_table(df, lay, metric=metric, **kw)
        results.append(tables.to_html(table))
    except ValueError as e:
        results.append(_error(f"table of {metric}", e))
    noise: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        if table is not None:
            try:
                for p in write_plots(df, table, select, tmp, metric, val_metric):
                    results.append(_img(p, os.path.basename(p)))
            except (ValueError, KeyError) as e:
                results.append(_error("plots", e))
        present = [m for m in NOISE_TABLES if m[0] in df.columns and df[m[0]].notna().any()]
        for col, title, _, higher in present:
            noise.append(f"<h3>{html.escape(title)}</h3>")
            try:
                t = make_table(df, lay, metric=col, higher_is_better=higher, **kw)
                noise.append(tables.to_html(t))
            except ValueError as e:
                noise.append(_error(f"table of {col}", e))
        if present:
            rows = (
                df
                if table is None
                else df[df["cell_id"].astype(str).isin(set(table.chosen_runs()))]
            )
            rows = rows.assign(**{"loss.name": rows["row"]})
            for (kind, rate), part in rows.groupby(["noise.kind", "noise.rate"], sort=True):
                label = tables.noise_setting(kind, rate)
                if label == "clean":
                    continue
                path = os.path.join(tmp, f"noise_{label.replace(' ', '_')}.png")
                try:
                    plots.metric_curves(
                        part,
                        path,
                        [(c, label) for c, _, label, _ in present],
                        title=label,
                        loss_names=tables.LOSS_NAMES,
                    )
                    noise.append(_img(path, f"noise diagnostics {label}"))
                except (ValueError, KeyError) as e:
                    noise.append(_error(f"noise curves {label}", e))
    return "\n".join(results), "\n".join(noise)


def build_page(
    sweep: str,
    *,
    layout: str = "auto",
    select: str = "last",
    metric: str = "test/top1",
    val_metric: str = "val/top1",
    hp_select: str = "mean",
    title: str | None = None,
) -> str:
    """The HTML text of the report of sweep directory ``sweep`` (see the module docstring).

    Args:
        sweep: the sweep directory (``cells/``, ``results.parquet``).
        layout: ``auto``, or a layout of `robustloss.report.layouts.LAYOUTS`.
        select, metric, val_metric, hp_select: the table's rules
            (`robustloss.report.tables.paper_table`).
        title: the page title (default: the directory's name).

    Raises:
        ValueError: ``sweep`` is not a sweep directory (no ``cells/``).
    """
    sweep = os.path.abspath(sweep)
    if not os.path.isdir(os.path.join(sweep, "cells")):
        raise ValueError(f"{sweep!r} is not a sweep directory (no cells/ inside)")
    rows = cell_rows(sweep)
    results, noise = _results_sections(sweep, layout, select, metric, val_metric, hp_select)
    title = title or f"Sweep {os.path.basename(sweep)}"
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="caption">{html.escape(sweep)} — generated {when}</p>',
        "<h2>Status</h2>",
        _status_section(rows),
        "<h2>Results</h2>",
        results,
    ]
    if noise:
        body += ["<h2>Noise diagnostics</h2>", noise]
    body += ["<h2>Cells</h2>", _cells_section(rows)]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def write_page(sweep: str, out: str | None = None, **kw: Any) -> str:
    """Writes `build_page` to ``out`` (default ``DIR/report.html``) atomically; returns it."""
    out = out or os.path.join(os.path.abspath(sweep), PAGE)
    atomic_write(out, build_page(sweep, **kw))
    return out
