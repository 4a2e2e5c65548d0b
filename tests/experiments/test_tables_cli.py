"""`python -m experiments.tables`: layouts (the RENT table's row labels), the best mark of an
error metric, and the command line over a sweep directory."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd

from robustloss.report import layouts as cli
from robustloss.sweep import results
from tests import ROOT

METHODS = [("none", "anchor"), ("rent", "anchor"), ("rent", "true"), ("dws", "anchor")]


def _rent_sweep(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for use, est in METHODS:
        for kind, rate in (("symmetric", 0.5), ("pair", 0.4)):
            for seed in range(3):
                rows.append(
                    {
                        "cell_id": f"{use}-{est}-{kind}-{seed}",
                        "epoch": 8,
                        "dataset.name": "fashion_mnist",
                        "loss.name": "ce",
                        "transition.use": use,
                        "transition.estimator": est,
                        "noise.kind": kind,
                        "noise.rate": rate,
                        "seed": seed,
                        "test/top1": rng.uniform(0.7, 0.85),
                        "train/t_error": 0.0 if est == "true" else rng.uniform(0.2, 0.3),
                    }
                )
    df = pd.DataFrame(rows)
    sweep = tmp_path / "sweep"
    (sweep / "cells").mkdir(parents=True)
    df.to_parquet(results._path(str(sweep)))
    return str(sweep), df


def test_rent_rows_are_methods_with_their_T_and_ce(tmp_path):
    sweep, df = _rent_sweep(tmp_path)
    rows = cli.load_rows(sweep, "rent")
    assert set(rows["row"]) == {"CE", "rent (anchor T)", "rent (true T)", "dws (anchor T)"}
    t = cli.make_table(rows, "rent", select="last", metric="test/top1")
    got = t.cells.set_index(["row", "col"])
    part = df[(df["transition.use"] == "dws") & (df["noise.kind"] == "pair")]
    assert np.isclose(got.loc[("dws (anchor T)", "CD 0.4"), "mean"], part["test/top1"].mean())
    assert np.isclose(got.loc[("dws (anchor T)", "CD 0.4"), "std"], np.std(part["test/top1"]))
    assert got.loc[("dws (anchor T)", "CD 0.4"), "n"] == 3


def test_error_metric_marks_the_lowest_mean(tmp_path):
    sweep, _ = _rent_sweep(tmp_path)
    rows = cli.load_rows(sweep, "rent")
    t = cli.make_table(rows, "rent", select="last", metric="train/t_error")
    best = t.cells[t.cells["best"]]
    assert set(best["row"]) == {"rent (true T)"} and (best["mean"] == 0).all()
    assert "lowest" in t.caption
    acc = cli.make_table(rows, "rent", select="last", metric="test/top1")
    top = acc.cells.groupby("col")["mean"].transform("max")
    assert (acc.cells["best"] == (acc.cells["mean"] == top)).all() and "highest" in acc.caption


def test_command_line_writes_the_table(tmp_path):
    sweep, _ = _rent_sweep(tmp_path)
    out = tmp_path / "rent.md"
    cmd = [sys.executable, "-m", "experiments.tables", "--sweep", sweep, "--table", "rent"]
    cmd += ["--select", "last", "--out", str(out), "--plots"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "| rent (true T) |" in text and "Sym 0.5" in text and "CD 0.4" in text
    assert text.splitlines()[2].startswith("| method | CD 0.4 | Sym 0.5 |")
    for png in ("accuracy_vs_noise.png", "curves_Sym_0.5.png", "curves_CD_0.4.png"):
        assert (tmp_path / png).stat().st_size > 0, png
    bad = subprocess.run(
        cmd[:-3] + ["--select", "val"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode != 0 and "no validation split" in bad.stderr
    assert not os.path.exists(str(out) + ".tmp")
