"""Paper-style tables (and plots) from any sweep's results table.

Usage::

    python -m experiments.tables --sweep DIR [--table ldr] [--select val|last|best|lastk:K] \
        [--hp_select mean|per_fold] [--format md|tex|csv] [--metric test/top1] [--out FILE] \
        [--paper results/paper_numbers.csv] [--plots]

Rows × columns as the papers lay them out (``--table ldr``: losses × noise settings, datasets
stacked; ``--table rent``: transition methods (with the T they use) × noise settings), mean ±
std over folds/seeds, n runs shown, best per column in bold (lowest for an error metric such as
``--metric train/t_error``), and the selection rules in the caption (see
`robustloss.report.tables`).
The RENT/DWS Fashion-MNIST grid, for example::

    python -m experiments.sweep --config configs/paper/rent_iclr2024.py:fmnist_cpu --workdir DIR
    python -m experiments.tables --sweep DIR --table rent --select last
    python -m experiments.tables --sweep DIR --table rent --select last --metric train/t_error
    python -m experiments.tables --sweep DIR --table rent --select last \
        --metric train/label_precision    # also train/batch_precision, train/ess

``--plots`` writes, next to ``--out`` (or into DIR): accuracy vs noise rate
per loss and learning curves with the noisy-label train accuracy for every noise setting.
"""

from __future__ import annotations

import os

from absl import app, flags

from robustloss._io import atomic_write
from robustloss.report import tables
from robustloss.report.layouts import LAYOUTS, load_rows, make_table, write_plots

_SWEEP = flags.DEFINE_string("sweep", None, "Sweep directory (holds results.parquet).")
_TABLE = flags.DEFINE_enum("table", "ldr", list(LAYOUTS), "Table layout.")
_SELECT = flags.DEFINE_string("select", "val", "Epoch rule: last | best | val | lastk:K.")
_HP = flags.DEFINE_enum("hp_select", "mean", list(tables.HP_RULES), "Hyperparameter rule.")
_FORMAT = flags.DEFINE_enum("format", "md", ["md", "tex", "csv"], "Output format.")
_METRIC = flags.DEFINE_string("metric", "test/top1", "Reported metric column.")
_VAL = flags.DEFINE_string("val_metric", "val/top1", "Validation metric column.")
_OUT = flags.DEFINE_string("out", None, "Write the table here (default: print it).")
_PAPER = flags.DEFINE_string("paper", None, "CSV of the papers' own numbers (with sources).")
_PLOTS = flags.DEFINE_bool("plots", False, "Also write the plots next to the table.")
_WHERE = flags.DEFINE_string("where", None, "DuckDB WHERE clause to filter the rows first.")
flags.mark_flags_as_required(["sweep"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    df = load_rows(_SWEEP.value, _TABLE.value, _WHERE.value)
    paper = tables.read_paper_numbers(_PAPER.value) if _PAPER.value else None
    table = make_table(
        df,
        _TABLE.value,
        select=_SELECT.value,
        hp_select=_HP.value,
        metric=_METRIC.value,
        val_metric=_VAL.value,
        paper=paper,
    )
    text = {"md": tables.to_markdown, "tex": tables.to_latex, "csv": tables.to_csv}[_FORMAT.value](
        table
    )
    if _OUT.value:
        atomic_write(_OUT.value, text)
        print(f"wrote {_OUT.value}")
    else:
        print(text, end="")
    if _PLOTS.value:
        out_dir = os.path.dirname(os.path.abspath(_OUT.value)) if _OUT.value else _SWEEP.value
        for p in write_plots(df, table, _SELECT.value, out_dir, _METRIC.value, _VAL.value):
            print(f"wrote {p}")


if __name__ == "__main__":
    app.run(main)
