"""The LDR report: ranks, the λ table, program wall times and the written files, checked
against an independent transcription on a synthetic sweep with known numbers."""

import json
import os

import numpy as np
import pandas as pd

from robustloss.report import ldr as ldr_report
from robustloss.sweep import results

FOLDS, EPOCHS = 2, 3
# (loss, hyperparameter column, values)
GRID = [
    ("ce", None, [None]),
    ("cs", "loss.hparams.margin", [0.1, 1.0]),
    ("ldr_kl", "loss.hparams.lam", [0.1, 10.0]),
    ("aldr_kl", None, [None]),
    ("mae", None, [None]),
    ("nce_rce", None, [None]),
]
SETTINGS = [("clean", 0.0), ("uniform", 0.6)]


def _frame(seed=0):
    rng = np.random.default_rng(seed)
    rows, runs = [], []
    for loss, col, values in GRID:
        for kind, rate in SETTINGS:
            for v in values:
                for fold in range(FOLDS):
                    cid = f"{loss}-{kind}-{v}-{fold}"
                    val = rng.uniform(0.2, 0.9, EPOCHS).round(3)
                    test = rng.uniform(0.2, 0.9, EPOCHS).round(3)
                    runs.append((loss, v, kind, fold, val, test))
                    for e in range(EPOCHS):
                        row = {
                            "cell_id": cid,
                            "epoch": e + 1,
                            "dataset.name": "letter",
                            "loss.name": loss,
                            "noise.kind": kind,
                            "noise.rate": rate,
                            "dataset.fold": fold,
                            "val/top1": val[e],
                            "test/top1": test[e],
                            "train/acc_clean": 0.5 + 0.01 * e,
                            "loss.hparams.margin": np.nan,
                            "loss.hparams.lam": np.nan,
                            "optimizer.lr": 1e-3,
                        }
                        if col:
                            row[col] = v
                        rows.append(row)
    return pd.DataFrame(rows), runs


def _expected_means(runs):
    """(loss, setting) -> test mean under select=val, hyperparameter on the fold-mean val."""
    out = {}
    for loss, _, values in GRID:
        for kind, _ in SETTINGS:
            best = None
            for v in values:
                picked = []
                for lo, vv, ki, _, val, test in runs:
                    if lo == loss and ki == kind and vv == v:
                        i = int(np.argmax(val))
                        picked.append((val[i], test[i]))
                mval = np.mean([p[0] for p in picked])
                if best is None or mval > best[0]:
                    best = (mval, np.mean([p[1] for p in picked]))
            out[(loss, "clean" if kind == "clean" else "U 0.6")] = best[1]
    return out


def test_ranks_follow_the_selected_means():
    df, runs = _frame()
    expected = _expected_means(runs)
    r = ldr_report.ranks(ldr_report.main_table(df))
    for col in ("clean", "U 0.6"):
        means = {loss: expected[(loss, col)] for loss, _, _ in GRID}
        for loss in means:
            want = 1 + sum(m > means[loss] for m in means.values())
            assert r.loc[loss, col] == want, (loss, col)


def test_lambda_rows_are_fold_means_per_value():
    df, runs = _frame(1)
    text = "\n".join(ldr_report.lambda_section(df))
    for lam in (0.1, 10.0):
        scores = []
        for lo, v, kind, _, val, test in runs:
            if lo == "ldr_kl" and v == lam and kind == "uniform":
                scores.append(test[int(np.argmax(val))])
        cell = f"{100 * np.mean(scores):.1f} ± {100 * np.std(scores):.1f}"
        line = next(s for s in text.splitlines() if s.startswith(f"| LDR-KL (λ = {lam:g})"))
        assert line.rstrip(" |").endswith(cell), (line, cell)
    assert "| CS (c = 0.1)" in text and "| CS (c = 1)" in text


def test_report_writes_tables_plots_and_program_walls(tmp_path):
    df, _ = _frame(2)
    sweep = tmp_path / "sweep"
    for i, cid in enumerate(df["cell_id"].unique()):
        d = sweep / "cells" / cid
        d.mkdir(parents=True)
        prog = f"p{i % 3}"
        (d / "DONE").write_text(json.dumps({"program": prog, "wall": 10.0 + i % 3}))
    df.to_parquet(os.path.join(results._path(str(sweep))))
    walls = ldr_report.program_walls(str(sweep))
    assert walls == {"cells": df["cell_id"].nunique(), "programs": 3, "program_wall_s": 33.0}
    notes = tmp_path / "notes.md"
    notes.write_text("hand-written reading\n")
    out = tmp_path / "rep" / "ldr.md"
    paths = ldr_report.report({"letter": str(sweep)}, str(out), {"letter": "120"}, notes=str(notes))
    text = out.read_text()
    assert "| letter | 32 | 3 | 0.6 min | 2.0 min |" in text
    assert "hand-written reading" in text and "ALDR-KL: ranks" in text
    for p in paths:
        assert os.path.getsize(p) > 0, p
    assert any(p.endswith("accuracy_vs_noise.png") for p in paths)
