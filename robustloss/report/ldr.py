"""The LDR reproduction report: tables, plots and claim checks from finished sweeps.

The library part of ``python -m experiments.ldr_report`` (no flags).

Usage, after the two sweeps of ``docs/reproducing.md`` (``configs/paper/ldr_icml2023.py`` with
``letter,lam_grid=0.1/1/10`` and ``vowel,lam_grid=0.1/1/10``)::

    python -m experiments.ldr_report --sweep letter=/tmp/ldr_letter --sweep vowel=/tmp/ldr_vowel \
        --out results/ldr_icml2023.md [--command_wall letter=1500]

Every number in the report is computed here from the sweeps' results tables (and the cells'
``DONE`` records for the program wall times); ``--command_wall`` adds the wall time of the sweep
command as measured outside (``/usr/bin/time``), labelled as such. Next to ``--out`` it writes
``<stem>/``: the tables under the other epoch rules (``last``, and the ``best`` test oracle), and
the plots (accuracy vs noise rate, learning curves under U 0.6).

Claim checks (``claims``): (1) ALDR-KL's rank among the 15 losses in each of the 7 settings
(the abstract: "stable and competitive performance"); (2) LDR-KL's accuracy as λ grows from 0.1
(near the Crammer-Singer hinge, its λ → 0 limit) to 10, beside CS; (3) the symmetric losses
(MAE, NCE+RCE) against CE at K = 26, with their clean-label training accuracy (underfitting
versus robustness).
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import platform

import numpy as np
import pandas as pd

from robustloss._io import atomic_write
from robustloss.report import layouts, tables

SELECT, HP = "val", "mean"  # the report's main rules (docs/reproducing.md)
CURVES = ("clean", "CD 0.3", "U 0.6")  # settings whose learning curves the report draws


def program_walls(sweep: str) -> dict:
    """Programs, cells and the summed program wall time, from the cells' ``DONE`` records."""
    walls: dict[str, float] = {}
    cells = 0
    for path in glob.glob(os.path.join(sweep, "cells", "*", "DONE")):
        with open(path) as f:
            info = json.load(f)
        walls[info["program"]] = float(info["wall"])
        cells += 1
    return {"cells": cells, "programs": len(walls), "program_wall_s": sum(walls.values())}


def main_table(df: pd.DataFrame, select: str = SELECT) -> tables.Table:
    return tables.paper_table(df, select=select, hp_select=HP, stack="dataset.name")


def ranks(table: tables.Table) -> pd.DataFrame:
    """Rank (1 = best mean) of every loss in every column; ties share the better rank."""
    wide = table.cells.pivot(index="row", columns="col", values="mean")
    wide = wide[[c for c in table.col_order if c in wide.columns]]
    return wide.rank(ascending=False, method="min").astype(int)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def rank_section(table: tables.Table) -> list[str]:
    r = ranks(table)
    best = table.cells.pivot(index="row", columns="col", values="mean").max()
    means = table.cells.pivot(index="row", columns="col", values="mean")
    stds = table.cells.pivot(index="row", columns="col", values="std")
    order = r.mean(axis=1).sort_values().index
    lines = [
        "| loss | " + " | ".join(r.columns) + " | mean rank |",
        "|---" * (len(r.columns) + 2) + "|",
    ]
    for loss in order:
        name = tables.LOSS_NAMES.get(loss, loss)
        cells = " | ".join(str(v) for v in r.loc[loss])
        lines.append(f"| {name} | {cells} | {r.loc[loss].mean():.1f} |")
    out = lines + [""]
    a = "aldr_kl"
    if a in r.index:
        gaps = best - means.loc[a]
        within = [c for c in r.columns if gaps[c] <= stds.loc[a, c] + 1e-12]
        out.append(
            f"ALDR-KL: ranks {', '.join(f'{c} {r.loc[a, c]}' for c in r.columns)}; worst rank "
            f"{r.loc[a].max()} of {len(r)}, mean rank {r.loc[a].mean():.1f} (best mean rank: "
            f"{tables.LOSS_NAMES.get(order[0], order[0])} {r.loc[order[0]].mean():.1f}). Gap to "
            f"the column's best mean, in points: "
            + ", ".join(f"{c} {_pct(gaps[c])}" for c in r.columns)
            + f"; within one fold-std of the best in {len(within)} of {len(r.columns)} columns"
            + (f" ({', '.join(within)})." if within else ".")
        )
    return out


def _with_col(runs: pd.DataFrame) -> pd.DataFrame:
    """Adds ``col``: the noise-setting label of every run."""
    kinds, rates = runs["noise.kind"], runs["noise.rate"]
    return runs.assign(col=[tables.noise_setting(k, r) for k, r in zip(kinds, rates, strict=True)])


def lambda_section(df: pd.DataFrame, select: str = SELECT) -> list[str]:
    """LDR-KL per λ (fold mean ± std, no selection over λ) beside CS per margin; with an lr
    grid, one row per (value, lr)."""
    runs = tables.run_scores(df, select)
    runs = _with_col(runs)
    cols = sorted(runs["col"].unique(), key=tables._col_key)
    rows = []
    for loss, field in (("cs", "loss.hparams.margin"), ("ldr_kl", "loss.hparams.lam")):
        part = runs[runs["loss.name"] == loss]
        if part.empty or field not in part:
            continue
        varies = "optimizer.lr" in part and part["optimizer.lr"].nunique() > 1
        lr = ["optimizer.lr"] if varies else []  # one row per lr: never mixed
        for values, g in part.groupby([field, *lr]):
            stats = g.groupby("col")["score"].mean()
            pop = g.groupby("col")["score"].agg(lambda s: float(np.std(s)))
            label = f"{tables.LOSS_NAMES[loss]} ({'c' if loss == 'cs' else 'λ'} = {values[0]:g}"
            label += f", lr = {values[1]:g})" if lr else ")"
            vals = [
                f"{_pct(stats.loc[c])} ± {_pct(pop.loc[c])}" if c in stats.index else ""
                for c in cols
            ]
            rows.append(f"| {label} | " + " | ".join(vals) + " |")
    if not rows:
        return ["(no LDR-KL λ grid in this sweep)"]
    head = ["| loss | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    return head + rows


def symmetric_section(df: pd.DataFrame, select: str = SELECT) -> list[str]:
    """MAE and NCE+RCE vs CE: test top-1 (table rule) and clean-label train accuracy (last)."""
    table = main_table(df, select)
    last = tables.run_scores(df, "last", metric="train/acc_clean")
    last = _with_col(last)
    cols = table.col_order
    lines = ["| loss | what | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for loss in ("ce", "mae", "nce_rce"):
        t = table.cells[table.cells["row"] == loss].set_index("col")
        fit = last[last["loss.name"] == loss].groupby("col")["score"].mean()
        name = tables.LOSS_NAMES[loss]
        lines.append(
            f"| {name} | test top-1 | "
            + " | ".join(_pct(t.loc[c, "mean"]) if c in t.index else "" for c in cols)
            + " |"
        )
        lines.append(
            f"| {name} | train acc. on clean labels (last epoch, all grid values) | "
            + " | ".join(_pct(fit.loc[c]) if c in fit.index else "" for c in cols)
            + " |"
        )
    return lines


def report(
    sweeps: dict[str, str], out: str, command_wall: dict[str, str], notes: str | None = None
) -> list[str]:
    """Writes the report and its side files; returns the paths written."""
    stem = os.path.splitext(out)[0]
    written = []
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    md = [
        "# LDR-KL / ALDR-KL (ICML 2023): Letter and Vowel tables, reproduced",
        "",
        f"Generated {now} by `python -m experiments.ldr_report` from the sweeps "
        f"{', '.join(f'`{k}`' for k in sweeps)}; machine: {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, no accelerator. Protocol: `configs/paper/ldr_icml2023.py` "
        "(the released code's: FFNN H = min(d, K), SGD momentum 0.9, coupled weight decay 5e-3, "
        "lr 1e-3 ÷10 at epochs 50 and 75, batch 64, 100 epochs, fixed order, the code's noise "
        "draw (seed 123) on the whole training file before the unshuffled 5-fold split, noisy "
        "validation folds, clean test set); see `docs/reproducing.md` for every deviation.",
        "",
        "## Wall time",
        "",
        "| dataset | cells | programs | sum of program wall times | sweep command (measured) |",
        "|---|---|---|---|---|",
    ]
    frames = {}
    for name, sweep in sweeps.items():
        w = program_walls(sweep)
        cmd = command_wall.get(name)
        cmd_text = f"{float(cmd) / 60:.1f} min" if cmd else "not given"
        md.append(
            f"| {name} | {w['cells']} | {w['programs']} | {w['program_wall_s'] / 60:.1f} min | "
            f"{cmd_text} |"
        )
        frames[name] = layouts.load_rows(sweep, "ldr")  # raises when no cell has finished
    md.append("")
    for name, df in frames.items():
        table = main_table(df)
        md += [f"## {name}: test top-1 (%)", "", tables.to_markdown(table), ""]
        for rule in ("last", "best"):
            side = f"{stem}/{name}_{rule}.md"
            atomic_write(side, tables.to_markdown(main_table(df, rule)))
            written.append(side)
        atomic_write(f"{stem}/{name}_{SELECT}.tex", tables.to_latex(table))
        written.append(f"{stem}/{name}_{SELECT}.tex")
        md += [
            f"Other epoch rules: [`last`]({os.path.basename(stem)}/{name}_last.md), "
            f"[`best` (test oracle)]({os.path.basename(stem)}/{name}_best.md); LaTeX: "
            f"[{name}_{SELECT}.tex]({os.path.basename(stem)}/{name}_{SELECT}.tex).",
            "",
        ]
        plot_paths = layouts.write_plots(
            df, table, SELECT, os.path.join(stem, name), "test/top1", "val/top1", CURVES
        )
        written += plot_paths
        rel = {
            os.path.basename(p): os.path.relpath(p, os.path.dirname(out) or ".") for p in plot_paths
        }
        md += [f"![{name}: accuracy vs noise rate]({rel['accuracy_vs_noise.png']})"]
        if "curves_U_0.6.png" in rel:
            md += [f"![{name}: learning curves under U 0.6]({rel['curves_U_0.6.png']})"]
        curves = [f"[{b[7:-4]}]({r})" for b, r in rel.items() if b.startswith("curves_")]
        md += [
            "",
            "Learning curves (chosen hyperparameters): " + ", ".join(curves) + ".",
        ]
        md += [
            "",
            f"### {name}: claim checks",
            "",
            "**(1) ALDR-KL 'stable and competitive'.** Rank of each loss per setting (1 = best "
            "mean, same rules as the table):",
            "",
            *rank_section(table),
            "",
            "**(2) LDR-KL as λ grows** (fold mean ± population std, each λ shown, no selection "
            "over λ; CS for each margin c — LDR-KL's λ → 0 limit is the CS hinge with the same "
            "margin, here c = 0.1; its λ → ∞ limit, the mean margin, is a linear loss that the "
            "grid does not train):",
            "",
            *lambda_section(df),
            "",
            "**(3) Symmetric losses at K classes.**",
            "",
            *symmetric_section(df),
            "",
        ]
    if notes:
        with open(notes) as f:
            md += ["## Reading the tables (hand-written, from the numbers above)", "", f.read()]
    atomic_write(out, "\n".join(md) + "\n")
    return [out, *written]
