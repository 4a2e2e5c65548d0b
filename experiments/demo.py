"""The ``make demo`` job: do robust losses beat cross-entropy under heavy label noise?

Runs the sweep of ``configs/demo.py`` -- CE, MAE, GCE, SCE, NCE+RCE, LDR-KL and ALDR-KL × 3
seeds on UCI Letter (offline, Debian ``r-cran-mlbench``) with 60% uniform label noise, each
loss's seeds vmapped into one program -- through the sweep runner (``robustloss.sweep``), then
prints a paper-style table (``robustloss.report.tables``: final-epoch clean test accuracy, mean
± std over the seeds) and writes ``learning_curves.png`` (``robustloss.report.plots``: clean
test accuracy per epoch and train accuracy against the noisy and the clean labels) into the
workdir, with two lines saying what the numbers show, and the sweep's HTML report
(``report.html``: `robustloss.report.page`); it says where the TensorBoard runs are. Without
the mlbench files it says so and falls back to scikit-learn digits. Re-running resumes:
finished cells are not trained again.

Usage::

    python -m experiments.demo --workdir /tmp/robustloss_demo [--dataset letter|digits]
"""

from __future__ import annotations

import os
import time

from absl import app, flags, logging

from robustloss._io import write_json

_WORKDIR = flags.DEFINE_string("workdir", "/tmp/robustloss_demo", "Output directory.")
_DATASET = flags.DEFINE_enum(
    "dataset", "auto", ["auto", "letter", "digits"], "auto: Letter if its files are there."
)

ROBUST = ("gce", "sce", "nce_rce", "ldr_kl", "aldr_kl", "mae")


def have_letter() -> bool:
    """Whether the mlbench Letter file is found (``make data`` fetches it)."""
    from robustloss.data import _mlbench

    try:
        _mlbench.find_mlbench_file("letter")
    except FileNotFoundError:
        return False
    return True


def summarize(
    table_rows: dict[str, tuple[float, float]],
    train_clean: dict[str, float],
    wrong_share: float,
) -> str:
    """Two lines on what the table shows, computed from its numbers (no canned verdict).

    Args:
        table_rows: loss name -> (mean, std over seeds) of the final clean test accuracy.
        train_clean: loss name -> final train accuracy against the *true* labels of the
            training examples (how far the wrong labels pulled the model).
        wrong_share: fraction of wrong training labels.

    Returns:
        Two lines of text.

    Example:
        >>> text = summarize({"ce": (0.7, 0.01), "gce": (0.8, 0.01)}, {"ce": 0.7, "gce": 0.8}, 0.5)
        >>> print(text.splitlines()[0])
        GCE ends 10.0 points above CE (80.0% vs 70.0%); beyond one std of the seeds: GCE.
        >>> "more with the true labels than CE's (80.0% vs 70.0%)" in text
        True
    """
    ce, ce_std = table_rows["ce"]
    robust = {k: v for k, v in table_rows.items() if k in ROBUST}
    best = max(robust, key=lambda k: robust[k][0])
    gain = robust[best][0] - ce
    beat = sorted((k for k, (m, s) in robust.items() if m - s > ce + ce_std), key=_name)
    if gain > 0 and beat:
        first = (
            f"{_name(best)} ends {100 * gain:.1f} points above CE ({100 * robust[best][0]:.1f}% vs "
            f"{100 * ce:.1f}%); beyond one std of the seeds: {', '.join(map(_name, beat))}."
        )
    else:
        first = (
            f"No robust loss is clearly above CE here (best {_name(best)}: "
            f"{100 * robust[best][0]:.1f}% vs CE {100 * ce:.1f}%)."
        )
    a, b = 100 * train_clean[best], 100 * train_clean["ce"]
    if a > b:
        second = (
            f"Its training predictions agree more with the true labels than CE's ({a:.1f}% vs "
            f"{b:.1f}%): a bounded loss caps what an example it disagrees with can cost, so the "
            f"{100 * wrong_share:.0f}% wrong labels pull it less."
        )
    else:
        second = (
            f"Its training predictions agree with the true labels no more than CE's ({a:.1f}% vs "
            f"{b:.1f}%), so the gap does not come from resisting the wrong labels."
        )
    return first + "\n" + second


def _name(loss: str) -> str:
    from robustloss.report.tables import LOSS_NAMES

    return LOSS_NAMES.get(loss, loss)


def main(argv: list[str]) -> None:
    del argv
    logging.set_verbosity(logging.WARNING)
    from configs import demo
    from robustloss.report import plots, tables
    from robustloss.report.page import write_page
    from robustloss.sweep import cells_from_grid, results, run_sweep

    dataset = _DATASET.value
    if dataset == "auto":
        dataset = "letter" if have_letter() else "digits"
        if dataset == "digits":
            print(
                "UCI Letter not found (run `make data`: it fetches Debian's r-cran-mlbench); "
                "falling back to scikit-learn digits"
            )
    workdir = os.path.abspath(os.path.join(_WORKDIR.value, dataset))
    t0 = time.time()
    cells = cells_from_grid(demo.get_config, demo.get_sweep(dataset), dataset)
    print(
        f"{len(cells)} runs: {len(demo.LOSSES)} losses x {len(demo.SEEDS)} seeds on {dataset}, "
        f"{int(100 * demo.NOISE_RATE)}% uniform label noise -> {workdir}",
        flush=True,
    )
    report = run_sweep(cells, workdir, workers=0, log=lambda line: print(line, flush=True))
    if report["failed"]:
        raise SystemExit(f"{report['failed']} demo run(s) failed; see {workdir}/cells/*/FAILED")
    df = results.load(workdir)
    table = tables.paper_table(df, select="last", rows="loss.name", stack="dataset.name")
    print("\n" + tables.to_markdown(table))
    final = df[df["epoch"] == df["epoch"].max()]
    means = final.groupby("loss.name")["test/top1"].agg(["mean", "std"])
    rows = {k: (float(r["mean"]), float(r["std"])) for k, r in means.iterrows()}
    train_clean = final.groupby("loss.name")["train/acc_clean"].mean().to_dict()
    k = 26 if dataset == "letter" else 10
    wrong = demo.NOISE_RATE * (k - 1) / k  # uniform noise: a draw can hit the true class
    verdict = summarize(rows, train_clean, wrong)
    print("\n" + verdict)
    png = os.path.join(workdir, "learning_curves.png")
    title = f"{dataset}, {int(100 * demo.NOISE_RATE)}% uniform noise, mean of 3 seeds"
    plots.learning_curves(df, png, title=title, loss_names=tables.LOSS_NAMES)
    page = write_page(workdir, title=f"make demo: {title}")
    out = {"dataset": dataset, "rows": rows, "train_acc_clean": train_clean, "verdict": verdict}
    out["seconds"] = time.time() - t0
    write_json(os.path.join(workdir, "demo.json"), out)
    print(f"\nplot: {png}\ntable source: {workdir}/results.parquet")
    print(f"report: {page} (per-example diagnostics: cells/<id>/examples.parquet)")
    if os.path.isdir(os.path.join(workdir, "tensorboard")):
        print(f"TensorBoard: tensorboard --logdir {workdir}/tensorboard")
    print(f"total {out['seconds']:.0f}s")


if __name__ == "__main__":
    app.run(main)
