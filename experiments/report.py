"""One self-contained HTML page for a sweep: status, tables, plots, noise diagnostics.

Usage::

    python -m experiments.report --sweep DIR [--out FILE] [--select last|val|best|lastk:K] \
        [--table auto|ldr|rent] [--metric test/top1]

Writes ``DIR/report.html`` (or ``--out``): open it from disk in any browser, no server needed
(`robustloss.report.page`).
"""

from __future__ import annotations

from absl import app, flags

from robustloss.report.layouts import LAYOUTS
from robustloss.report.page import write_page
from robustloss.report.tables import HP_RULES

_SWEEP = flags.DEFINE_string("sweep", None, "Sweep directory (cells/, results.parquet).")
_OUT = flags.DEFINE_string("out", None, "Output HTML file (default DIR/report.html).")
_TABLE = flags.DEFINE_enum("table", "auto", ["auto", *LAYOUTS], "Table layout.")
_SELECT = flags.DEFINE_string("select", "last", "Epoch rule: last | best | val | lastk:K.")
_HP = flags.DEFINE_enum("hp_select", "mean", list(HP_RULES), "Hyperparameter rule.")
_METRIC = flags.DEFINE_string("metric", "test/top1", "Reported metric column.")
_VAL = flags.DEFINE_string("val_metric", "val/top1", "Validation metric column.")
_TITLE = flags.DEFINE_string("title", None, "Page title (default: the directory's name).")
flags.mark_flags_as_required(["sweep"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    path = write_page(
        _SWEEP.value,
        _OUT.value,
        layout=_TABLE.value,
        select=_SELECT.value,
        metric=_METRIC.value,
        val_metric=_VAL.value,
        hp_select=_HP.value,
        title=_TITLE.value,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
