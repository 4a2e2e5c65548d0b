"""Table layouts (LDR: a row per loss; RENT: a row per transition method) and their plots, from
a sweep directory: what ``python -m experiments.tables`` and the reports call."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from robustloss.report import plots, tables
from robustloss.sweep import results


def _transition_row(use: str, estimator: str) -> str:
    """``"rent (anchor T)"``; a run without a transition method is its plain loss: ``"CE"``."""
    return "CE" if use == "none" else f"{use} ({estimator} T)"


# Table layouts: the config columns that name a row, and how they become its label.
LAYOUTS = {
    "ldr": {"rows": ("loss.name",), "label": None, "stack": "dataset.name", "title": "loss"},
    "rent": {
        "rows": ("transition.use", "transition.estimator"),
        "label": _transition_row,
        "stack": "dataset.name",
        "title": "method",
    },
}


def load_rows(sweep: str, layout: str, where: str | None = None):
    """The sweep's results with the layout's ``row`` column added (optionally filtered)."""
    if where:
        df = results.query(sweep, f"SELECT * FROM results WHERE {where}")
    else:
        df = results.load(sweep)
    if df.empty:
        raise ValueError(f"sweep {sweep!r} has no finished cells (results.parquet is empty)")
    cols = LAYOUTS[layout]["rows"]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"table {layout!r} needs columns {missing}, absent from {sweep!r}")
    df = df.copy()
    label = LAYOUTS[layout]["label"]
    if label is None:
        df["row"] = df[cols[0]]
    else:
        df["row"] = [label(*values) for values in zip(*(df[c] for c in cols), strict=True)]
    return df


def make_table(df, layout: str, **kw) -> tables.Table:
    """`robustloss.report.tables.paper_table` with the layout's row/stack columns and row title."""
    table = tables.paper_table(df, rows="row", stack=LAYOUTS[layout]["stack"], **kw)
    return dataclasses.replace(table, row_title=LAYOUTS[layout]["title"])


def write_plots(
    df,
    table: tables.Table,
    select: str,
    out_dir: str,
    metric: str,
    val_metric: str,
    curves_for: Sequence[str] | None = None,
) -> list[str]:
    """Accuracy vs noise rate, and learning curves per noise setting (``curves_for``: only
    these column labels, e.g. ``["U 0.6"]``; None: all), of the runs ``table`` reports (its
    chosen hyperparameters), one line per table row; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    df = df[df["cell_id"].astype(str).isin(set(table.chosen_runs()))]
    df = df.assign(**{"loss.name": df["row"]})  # plots draw one line per "loss.name"
    runs = tables.run_scores(df, select, metric=metric, val_metric=val_metric)
    paths = [os.path.join(out_dir, "accuracy_vs_noise.png")]
    plots.accuracy_vs_noise(runs, paths[0], loss_names=tables.LOSS_NAMES)
    for (kind, rate), part in df.groupby(["noise.kind", "noise.rate"], sort=True):
        label = tables.noise_setting(kind, rate)
        if curves_for is not None and label not in curves_for:
            continue
        path = os.path.join(out_dir, f"curves_{label.replace(' ', '_')}.png")
        plots.learning_curves(part, path, title=label, loss_names=tables.LOSS_NAMES)
        paths.append(path)
    return paths
