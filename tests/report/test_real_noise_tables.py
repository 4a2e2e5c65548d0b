"""Tables of real-noise runs: columns by label set, the realised noise rate in the caption, and
CIFAR-N's best-epoch convention said beside the table."""

import pandas as pd

from robustloss.report.tables import noise_setting, paper_table, to_markdown


def _rows():
    rows = []
    for seed in (0, 1):
        for label_set, rate in (("worse", 0.4021), ("aggre", 0.0901), ("random1", 0.1723)):
            for epoch, acc in ((1, 0.5), (2, 0.7), (3, 0.6)):
                rows.append(
                    {
                        "cell_id": f"{label_set}{seed}",
                        "epoch": epoch,
                        "seed": seed,
                        "loss.name": "ce",
                        "dataset.name": "cifar10n",
                        "dataset.label_set": label_set,
                        "noise.kind": "real",
                        "noise.rate": 0.0,
                        "noise/realised_rate": rate + 0.001 * seed,
                        "test/top1": acc - (rate if epoch == 3 else 0),
                    }
                )
    return pd.DataFrame(rows)


def test_real_noise_columns_and_caption():
    assert noise_setting("real", 0.0, "aggre") == "aggre" and noise_setting("real", 0.0) == "real"
    t = paper_table(_rows(), select="last")
    assert t.col_order == ["aggre", "random1", "worse"]  # not "clean" (rate 0)
    assert "aggre 9.06%" in t.caption and "worse 40.26%" in t.caption
    assert "CIFAR-N leaderboard reports the best test epoch" in t.caption
    assert "compare with --select best" in t.caption
    last = t.cells.set_index("col")["mean"]
    assert abs(last["worse"] - (0.6 - 0.4021)) < 1e-9
    best = paper_table(_rows(), select="best")
    assert "does the same (an oracle)" in best.caption
    assert abs(best.cells.set_index("col")["mean"]["worse"] - 0.7) < 1e-9
    assert "Realised noise rate" in to_markdown(best)
