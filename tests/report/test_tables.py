"""Paper-style tables: selection rules, hyperparameter choice, mean ± std, n, formats."""

import numpy as np
import pandas as pd
import pytest

from robustloss.report import tables

EPOCHS, FOLDS = 4, 3


def _sweep(seed=0):
    """A synthetic sweep: ce (no hparam) and gce (q in {0.3, 0.7}) x 2 settings x 3 folds."""
    rng = np.random.default_rng(seed)
    rows, runs = [], {}
    for loss, qs in (("ce", [np.nan]), ("gce", [0.3, 0.7])):
        for rate in (0.0, 0.6):
            for q in qs:
                for fold in range(FOLDS):
                    cid = f"{loss}-{rate}-{q}-{fold}"
                    val = rng.uniform(0.3, 0.9, EPOCHS).round(3)
                    test = rng.uniform(0.3, 0.9, EPOCHS).round(3)
                    runs[cid] = (loss, rate, q, fold, val, test)
                    for e in range(EPOCHS):
                        rows.append(
                            {
                                "cell_id": cid,
                                "epoch": e + 1,
                                "dataset.name": "letter",
                                "loss.name": loss,
                                "loss.hparams.q": q,
                                "noise.kind": "uniform",
                                "noise.rate": rate,
                                "dataset.fold": fold,
                                "val/top1": val[e],
                                "test/top1": test[e],
                            }
                        )
    return pd.DataFrame(rows), runs


def _expected(runs, loss, rate, select, hp_select):
    """Independent transcription of the rules (loops, no pandas)."""
    by_q = {}
    for lo, ra, q, fold, val, test in runs.values():
        if lo != loss or ra != rate:
            continue
        if select == "last":
            s, v = test[-1], val[-1]
        elif select == "val":
            i = int(np.argmax(val))
            s, v = test[i], val[i]
        elif select == "best":
            s, v = test.max(), val.max()
        else:
            s, v = test[-2:].mean(), val[-2:].mean()
        by_q.setdefault(q, {})[fold] = (s, v)
    if hp_select == "mean":
        q = max(by_q, key=lambda q: np.mean([v for _, v in by_q[q].values()]))
        scores = [s for s, _ in by_q[q].values()]
    else:
        scores = []
        for fold in range(FOLDS):
            q = max(by_q, key=lambda q: by_q[q][fold][1])
            scores.append(by_q[q][fold][0])
    return np.mean(scores), np.std(scores), len(scores)


@pytest.mark.parametrize("select", ["last", "val", "best", "lastk:2"])
@pytest.mark.parametrize("hp_select", ["mean", "per_fold"])
def test_rules_match_a_transcription(select, hp_select):
    df, runs = _sweep()
    t = tables.paper_table(df, select=select, hp_select=hp_select)
    cells = t.cells.set_index(["row", "col"])
    for loss in ("ce", "gce"):
        for rate, col in ((0.0, "clean"), (0.6, "U 0.6")):
            mean, std, n = _expected(runs, loss, rate, select, hp_select)
            c = cells.loc[(loss, col)]
            assert c["mean"] == pytest.approx(mean, abs=1e-12)
            assert c["std"] == pytest.approx(std, abs=1e-12)
            assert c["n"] == n == FOLDS
    # best per column: exactly the loss with the larger mean
    for col in ("clean", "U 0.6"):
        sub = t.cells[t.cells["col"] == col]
        assert sub.loc[sub["best"], "row"].tolist() == [sub.loc[sub["mean"].idxmax(), "row"]]


def test_per_fold_and_mean_differ_and_report_choice():
    df, _ = _sweep()
    # Make q=0.7 best on average but q=0.3 best in fold 0 for gce at U 0.6.
    m = (df["loss.name"] == "gce") & (df["noise.rate"] == 0.6)
    df.loc[m & (df["loss.hparams.q"] == 0.7), "val/top1"] = 0.8
    df.loc[m & (df["loss.hparams.q"] == 0.3), "val/top1"] = 0.5
    df.loc[m & (df["loss.hparams.q"] == 0.3) & (df["dataset.fold"] == 0), "val/top1"] = 0.95
    mean = tables.paper_table(df, select="last", hp_select="mean").cells
    per = tables.paper_table(df, select="last", hp_select="per_fold").cells
    pick = lambda t: t[(t["row"] == "gce") & (t["col"] == "U 0.6")]["hparams"].item()
    assert pick(mean) == "q=0.7"
    assert pick(per) == "q=0.3; q=0.7"
    # The runs behind the cell are the chosen hyperparameters' (what the plots draw).
    runs = lambda t: sorted(t[(t["row"] == "gce") & (t["col"] == "U 0.6")]["runs"].item())
    assert runs(mean) == [f"gce-0.6-0.7-{f}" for f in range(FOLDS)]
    assert runs(per) == ["gce-0.6-0.3-0"] + [f"gce-0.6-0.7-{f}" for f in range(1, FOLDS)]
    table = tables.paper_table(df, select="last", hp_select="mean")
    assert len(table.chosen_runs()) == 2 * FOLDS * 2 and "gce-0.6-0.3-1" not in table.chosen_runs()


def test_caption_states_rules_and_oracle():
    df, _ = _sweep()
    t = tables.paper_table(df, select="best")
    assert "ORACLE" in t.caption and "val/top1" in t.caption
    t = tables.paper_table(df, select="lastk:3", hp_select="per_fold")
    assert "last 3 epochs" in t.caption and "every replicate" in t.caption


def test_formats():
    df, _ = _sweep()
    t = tables.paper_table(df, select="val")
    md = tables.to_markdown(t)
    assert md.splitlines()[2].startswith("| loss | clean | U 0.6 |")
    assert md.count("**") == 2 * 2 + 2  # two bold cells + the dataset header
    best = t.cells[t.cells["best"] & (t.cells["col"] == "clean")].iloc[0]
    assert f"**{100 * best['mean']:.2f} ± {100 * best['std']:.2f}**" in md
    tex = tables.to_latex(t)
    assert r"\toprule" in tex and r"\textbf{" in tex and r"$\pm$" in tex and "GCE" in tex
    csv = tables.to_csv(t)
    assert csv.splitlines()[0].startswith("stack,row,col,mean,std,n,hparams,runs,best")


def test_paper_numbers_beside_ours(tmp_path):
    df, _ = _sweep()
    p = tmp_path / "paper.csv"
    p.write_text(
        "dataset,loss,setting,metric,mean,std,source\n"
        "letter,ce,clean,test/top1,0.5,0.01,Table 2 of the paper\n"
    )
    t = tables.paper_table(df, paper=tables.read_paper_numbers(str(p)))
    assert "(50.00 ± 1.00)" in tables.to_markdown(t)
    p.write_text(
        "dataset,loss,setting,metric,mean,std,source\nletter,ce,clean,test/top1,0.5,0.01,\n"
    )
    with pytest.raises(ValueError, match="no source"):
        tables.read_paper_numbers(str(p))


def test_errors():
    df, _ = _sweep()
    with pytest.raises(ValueError, match="'last', 'best', 'val', 'lastk:K'"):
        tables.paper_table(df, select="final")
    with pytest.raises(ValueError, match="hp_select"):
        tables.paper_table(df, hp_select="median")
    with pytest.raises(ValueError, match="no validation"):
        tables.paper_table(df.drop(columns=["val/top1"]), select="val")
    with pytest.raises(ValueError, match="no validation values"):
        tables.paper_table(df.drop(columns=["val/top1"]), select="last")
