"""Paper-style tables from a sweep's results: selection rules, mean ± std, best per column.

Input is the results table of a sweep (`robustloss.sweep.results.load`): one row per run (cell) and
epoch, the run's resolved config fields as dotted columns (``loss.name``, ``noise.kind``,
``noise.rate``, ``loss.hparams.q``, ...) and its metrics as slash-named columns (``test/top1``,
``val/top1``, ...). Two rules turn that into one number per table cell, and both are stated in
the caption of every table:

* **Epoch rule** (``select``), per run: ``last`` (the final epoch), ``val`` (the epoch with the
  highest validation metric — on noisy validation labels under the LDR protocol — first such
  epoch on ties), ``lastk:K`` (the mean over the last K epochs), or ``best`` (the epoch with the
  highest *test* accuracy: a test-set oracle, labelled as such, never a fair estimate).
* **Hyperparameter rule** (``hp_select``), per table cell: the runs of one (dataset, loss,
  noise setting) differ by replicate (fold, seed) and by hyperparameter values. ``mean`` picks
  the hyperparameter values whose *mean* validation score over the replicates is highest, then
  reports that setting's test mean ± std; ``per_fold`` picks, in every replicate separately, the
  values with the highest validation score and reports the mean ± std of those runs. The
  validation score of a run follows its epoch rule (``last``: validation at the last epoch;
  ``val`` and ``best``: the highest validation value; ``lastk``: the mean over the last K).

Standard deviations are population std (``ddof=0``) over the replicates; ``n`` is the number of
runs behind each cell. Which columns are hyperparameters is read off the data: any config column
that varies inside a table cell and is not a replicate key.

Example:
    >>> import pandas as pd
    >>> rows = []
    >>> for fold in range(2):
    ...     for e, (va, te) in enumerate([(0.5, 0.6), (0.7, 0.8), (0.6, 0.7)], 1):
    ...         rows.append({"cell_id": f"c{fold}", "epoch": e, "loss.name": "ce",
    ...                      "noise.kind": "uniform", "noise.rate": 0.3, "dataset.fold": fold,
    ...                      "val/top1": va, "test/top1": te + 0.1 * fold})
    >>> t = paper_table(pd.DataFrame(rows), select="val")
    >>> t.cells[["mean", "std", "n"]].round(4).values.tolist()
    [[0.85, 0.05, 2.0]]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "LOSS_NAMES",
    "Table",
    "noise_setting",
    "paper_table",
    "parse_select",
    "read_paper_numbers",
    "run_scores",
    "to_csv",
    "to_html",
    "to_latex",
    "to_markdown",
]

HP_RULES = ("mean", "per_fold")
REPLICATE_KEYS = ("dataset.fold", "seed", "noise.seed")
_RUN_FIELDS = ("epoch", "lr", "time", "elapsed", "cell_id")
# Display names as the papers write them.
LOSS_NAMES = {
    "aldr_kl": "ALDR-KL",
    "ldr_kl": "LDR-KL",
    "ce": "CE",
    "cs": "CS",
    "ww": "WW",
    "mae": "MAE",
    "mse": "MSE",
    "gce": "GCE",
    "tgce": "TGCE",
    "sce": "SCE",
    "rll": "RLL",
    "js": "JS",
    "nce_rce": "NCE+RCE",
    "nce_agce": "NCE+AGCE",
    "nce_aul": "NCE+AUL",
    "rce": "RCE",
    "nce": "NCE",
    "agce": "AGCE",
    "aul": "AUL",
    "focal": "Focal",
    "ls": "LS",
    "taylor_ce": "Taylor-CE",
    "poly1": "Poly-1",
}
_KIND_ABBREV = {
    "uniform": "U",
    "pair": "CD",
    "asymmetric": "CD",
    "asym": "CD",
    "class_dependent": "CD",
    "symmetric": "Sym",
    "sym": "Sym",
    "superclass": "Super",
    "instance": "IDN",
    "idn": "IDN",
    "real": "real",
}


def parse_select(select: str) -> tuple[str, int]:
    """``"last"|"best"|"val"|"lastk:K"`` -> ``(rule, K)`` (K = 1 except for lastk).

    Raises:
        ValueError: any other text, naming the accepted forms.
    """
    if select in ("last", "best", "val"):
        return select, 1
    if select.startswith("lastk:"):
        text = select.removeprefix("lastk:")
        if text.isdigit() and int(text) >= 1:
            return "lastk", int(text)
    raise ValueError(
        f"select={select!r} is not valid; choose one of 'last', 'best', 'val', 'lastk:K' (K >= 1)"
    )


def noise_setting(kind: str, rate: float, label_set: str = "") -> str:
    """A column label: ``"clean"`` for rate 0, else e.g. ``"U 0.3"`` / ``"CD 0.1"``; real label
    noise is labelled by its label set (``"worse"``; ``"real"`` without one).

    Example:
        >>> noise_setting("uniform", 0.3), noise_setting("real", 0.0, "aggre")
        ('U 0.3', 'aggre')
    """
    if kind == "real":
        return str(label_set) if isinstance(label_set, str) and label_set else "real"
    if kind in ("clean", "none") or float(rate) == 0.0:
        return "clean"
    return f"{_KIND_ABBREV.get(kind, kind)} {float(rate):g}"


#: Datasets whose published leaderboard reports the best *test* epoch (said beside the table).
BEST_EPOCH_LEADERBOARDS = {
    "cifar10n": "CIFAR-N",
    "cifar100n": "CIFAR-N",
}


def _real_noise_caption(runs: pd.DataFrame, table: pd.DataFrame, rule: str) -> str:
    """What the caption adds for real label noise: the realised noise rate of every column
    (measured on the runs' training rows) and, for CIFAR-N, which epoch its leaderboard reports."""
    out = ""
    if "noise/realised_rate" in runs.columns and runs["noise/realised_rate"].notna().any():
        chosen = {r for rs in table["runs"] for r in rs}
        sub = runs[runs.index.astype(str).isin(chosen)]
        rates = sub.groupby("_col")["noise/realised_rate"].mean().dropna()
        if len(rates):
            parts = ", ".join(f"{c} {100 * v:.2f}%" for c, v in sorted(rates.items()))
            out += f" Realised noise rate (label != true label, training rows): {parts}."
    boards = sorted({BEST_EPOCH_LEADERBOARDS[s] for s in table["stack"] if s in
                     BEST_EPOCH_LEADERBOARDS})  # fmt: skip
    for b in boards:
        out += (
            f" The {b} leaderboard reports the best test epoch (its code keeps the highest test "
            "accuracy over 100 epochs, no validation set; UCSC-REAL/cifar-10-100n#5); this table "
            + (
                "does the same (an oracle)."
                if rule == "best"
                else "does not -- compare with --select best, shown beside it."
            )
        )
    return out


def _config_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if "/" not in c and c not in _RUN_FIELDS]


def _selection_text(rule: str, k: int, metric: str, val_metric: str) -> str:
    return {
        "last": f"{metric} at the last epoch",
        "val": f"{metric} at the epoch of highest {val_metric}",
        "lastk": f"mean {metric} over the last {k} epochs",
        "best": f"highest {metric} over epochs (a test-set ORACLE, not a fair estimate)",
    }[rule]


def run_scores(
    df: pd.DataFrame,
    select: str = "last",
    *,
    metric: str = "test/top1",
    val_metric: str = "val/top1",
    run_key: str = "cell_id",
) -> pd.DataFrame:
    """One row per run: its config columns, ``score`` (test) and ``val_score`` per the rule.

    Args:
        df: rows per run and epoch (columns ``run_key``, ``epoch``, config fields, metrics).
        select: the epoch rule (module docstring).
        metric: the reported metric.
        val_metric: the validation metric used by ``val`` and by hyperparameter selection.
        run_key: the column identifying a run.

    Returns:
        A DataFrame indexed by ``run_key`` with ``score``, ``val_score`` (NaN without a
        validation metric) and ``epochs`` (number of epochs with a ``metric`` value).

    Raises:
        ValueError: a missing column, or ``select="val"`` without validation values.
    """
    rule, k = parse_select(select)
    for col in (run_key, "epoch", metric):
        if col not in df.columns:
            raise ValueError(f"results have no column {col!r}; columns: {sorted(df.columns)}")
    has_val = val_metric in df.columns and df[val_metric].notna().any()
    if rule == "val" and not has_val:
        raise ValueError(
            f"select='val' needs validation values in column {val_metric!r}; this sweep has "
            "none (no validation split): use 'last' or 'lastk:K'"
        )
    config_cols = _config_columns(df)
    out = []
    for run, g in df[df[metric].notna()].sort_values("epoch").groupby(run_key, sort=True):
        test = g[metric].to_numpy(float)
        val = g[val_metric].to_numpy(float) if has_val else np.full(len(g), np.nan)
        if rule == "last":
            score, vscore = test[-1], val[-1]
        elif rule == "lastk":
            score, vscore = test[-k:].mean(), val[-k:].mean()
        elif rule == "val":
            i = int(np.nanargmax(val))
            score, vscore = test[i], val[i]
        else:  # best: oracle on the test metric; hyperparameters still chosen on validation
            score, vscore = test.max(), (np.nanmax(val) if has_val else np.nan)
        row = {c: g[c].iloc[0] for c in config_cols}
        row.update({run_key: run, "score": score, "val_score": vscore, "epochs": len(g)})
        if "noise/realised_rate" in g.columns:  # real labels: constant over a run's epochs
            row["noise/realised_rate"] = g["noise/realised_rate"].iloc[-1]
        out.append(row)
    return pd.DataFrame(out).set_index(run_key)


@dataclasses.dataclass
class Table:
    """A paper-style table: one row per (stack, row, column) cell, plus how it was made.

    Attributes:
        cells: DataFrame with columns ``stack``, ``row``, ``col``, ``mean``, ``std``, ``n``,
            ``hparams`` (the chosen values, as text), ``runs`` (the ids of the runs behind the
            cell, after the hyperparameter rule), ``best`` (bool: best mean in its column
            within its stack), and ``paper``/``paper_std``/``paper_source`` when paper numbers
            were given.
        caption: the selection rules and what the numbers are.
        row_order, col_order, stack_order: display order.
        row_title: the header of the row-label column (``loss``, or ``method``, ...).
    """

    cells: pd.DataFrame
    caption: str
    row_order: list
    col_order: list
    stack_order: list
    row_title: str = "loss"

    def chosen_runs(self) -> list[str]:
        """Ids of every run behind the table (the chosen hyperparameters' runs)."""
        return [r for runs in self.cells["runs"] for r in runs]


def _hp_text(row: pd.Series, hp_cols: Sequence[str]) -> str:
    parts = []
    for c in hp_cols:
        v = row[c]
        if isinstance(v, float) and math.isnan(v):
            continue
        parts.append(
            f"{c.removeprefix('loss.hparams.')}={v:g}" if isinstance(v, float) else f"{c}={v}"
        )
    return ", ".join(parts)


def _select_cell(runs: pd.DataFrame, hp_cols: list[str], rep_cols: list[str], hp_rule: str):
    """Chosen runs of one table cell under the hyperparameter rule."""
    if not hp_cols:
        return runs
    if runs["val_score"].isna().all():
        raise ValueError(
            f"runs differ in hyperparameters {hp_cols} but have no validation values to choose "
            "them on; add a validation split or sweep one value"
        )
    keys = runs[hp_cols].astype(str).agg("|".join, axis=1)
    if hp_rule == "mean":
        means = runs.groupby(keys, sort=True)["val_score"].mean()
        return runs[keys == means.idxmax()]
    if not rep_cols:
        return runs.loc[[runs["val_score"].idxmax()]]
    picks = runs.groupby(runs[rep_cols].astype(str).agg("|".join, axis=1))["val_score"].idxmax()
    return runs.loc[picks.to_numpy()]


def paper_table(
    df: pd.DataFrame,
    *,
    select: str = "val",
    hp_select: str = "mean",
    metric: str = "test/top1",
    val_metric: str = "val/top1",
    rows: str = "loss.name",
    stack: str = "dataset.name",
    replicates: Sequence[str] = REPLICATE_KEYS,
    paper: pd.DataFrame | None = None,
    run_key: str = "cell_id",
    higher_is_better: bool | None = None,
) -> Table:
    """Rows (losses) × columns (noise settings), stacked by dataset, under the stated rules.

    Args:
        df: the sweep's results (module docstring).
        select: epoch rule: ``last``, ``best`` (test oracle), ``val``, ``lastk:K``.
        hp_select: ``mean`` (on the replicate mean) or ``per_fold`` (per replicate).
        metric, val_metric: reported and validation metrics.
        rows: the config column of the table rows.
        stack: the config column of the stacked blocks (one block when absent).
        replicates: config columns that are replicates (folds, seeds), not hyperparameters.
        paper: the papers' own numbers (`read_paper_numbers`), shown beside ours where known.
        run_key: the column identifying a run.
        higher_is_better: which mean is marked best in a column; None: lower for a metric
            named like an error or a loss (``train/t_error``, ``test/loss``), else higher.
            Hyperparameters are always chosen on the highest ``val_metric``.

    Returns:
        A `Table`.

    Raises:
        ValueError: unknown rule, missing columns, or hyperparameters without validation.
    """
    if hp_select not in HP_RULES:
        raise ValueError(f"hp_select={hp_select!r} is not valid; choose one of {list(HP_RULES)}")
    rule, k = parse_select(select)
    runs = run_scores(df, select, metric=metric, val_metric=val_metric, run_key=run_key)
    for col in (rows, "noise.kind", "noise.rate"):
        if col not in runs.columns:
            raise ValueError(f"results have no config column {col!r}")
    sets = runs["dataset.label_set"] if "dataset.label_set" in runs.columns else [""] * len(runs)
    runs = runs.assign(
        _col=[
            noise_setting(k_, r, ls)
            for k_, r, ls in zip(runs["noise.kind"], runs["noise.rate"], sets, strict=True)
        ],
        _stack=runs[stack] if stack in runs.columns else "",
        _row=runs[rows],
    )
    rep_cols = [c for c in replicates if c in runs.columns]
    fixed = {"_col", "_stack", "_row", "score", "val_score", "epochs", rows, stack}
    fixed.add("noise/realised_rate")
    fixed |= {"noise.kind", "noise.rate", "dataset.label_set", *rep_cols}
    cells = []
    for (st, rw, cl), g in runs.groupby(["_stack", "_row", "_col"], sort=False):
        hp_cols = [c for c in g.columns if c not in fixed and g[c].astype(str).nunique() > 1]
        chosen = _select_cell(g, hp_cols, rep_cols, hp_select)
        vals = chosen["score"].to_numpy(float)
        hp = sorted({_hp_text(r, hp_cols) for _, r in chosen.iterrows()} - {""})
        cells.append(
            {
                "stack": st,
                "row": rw,
                "col": cl,
                "mean": float(vals.mean()),
                "std": float(vals.std()),
                "n": len(vals),
                "hparams": "; ".join(hp),
                "runs": [str(i) for i in chosen.index],
            }
        )
    table = pd.DataFrame(cells)
    if higher_is_better is None:
        higher_is_better = not any(w in metric.rsplit("/", 1)[-1] for w in ("error", "loss"))
    top = table.groupby(["stack", "col"])["mean"].transform("max" if higher_is_better else "min")
    table["best"] = np.isclose(table["mean"], top, rtol=0, atol=1e-12)
    if paper is not None and len(paper):
        p = paper[paper["metric"] == metric].rename(
            columns={"dataset": "stack", "loss": "row", "setting": "col", "mean": "paper"}
        )
        p = p.rename(columns={"std": "paper_std", "source": "paper_source"})
        table = table.merge(
            p[["stack", "row", "col", "paper", "paper_std", "paper_source"]],
            on=["stack", "row", "col"],
            how="left",
        )
    col_order = sorted(table["col"].unique(), key=_col_key)
    row_order = sorted(table["row"].unique(), key=_row_key)
    stack_order = list(dict.fromkeys(table["stack"]))
    n = sorted(set(table["n"]))
    reps = " × ".join(rep_cols) or "runs"
    hp_text = {
        "mean": "on the mean over replicates",
        "per_fold": "separately in every replicate",
    }[hp_select]
    caption = (
        f"{metric}, mean ± std (population, ddof=0) over {reps} "
        f"(n = {n[0] if len(n) == 1 else n} runs per cell). Epoch: "
        f"{_selection_text(rule, k, metric, val_metric)}. Hyperparameters chosen {hp_text} "
        f"by {val_metric} (noisy validation labels where the noise reaches the validation "
        f"split). Best ({'highest' if higher_is_better else 'lowest'}) mean per column in bold."
    )
    if "paper" in table.columns:
        caption += " In parentheses: the paper's number, from its source file."
    caption += _real_noise_caption(runs, table, rule)
    return Table(table, caption, row_order, col_order, stack_order)


_LABEL_SET_ORDER = ("aggre", "random1", "random2", "random3", "worse", "noisy", "noisy_coarse")


def _col_key(label: str):
    if label == "clean":
        return (0, "", 0.0)
    kind, _, rate = label.rpartition(" ")
    try:
        return (1, kind, float(rate))
    except ValueError:  # real label noise: a label set
        order = _LABEL_SET_ORDER.index(label) if label in _LABEL_SET_ORDER else 99
        return (2, f"{order:02d}", label)


def _row_key(name):
    order = list(LOSS_NAMES)
    return (order.index(name) if name in order else len(order), str(name))


def read_paper_numbers(path: str) -> pd.DataFrame:
    """The papers' own numbers: a CSV with ``dataset, loss, setting, metric, mean, std, source``.

    Every number needs a source (a table/page of the paper); rows without one are rejected, so
    a guessed number cannot slip in. Values in the same unit as the results (fractions).

    Raises:
        ValueError: missing columns or a row without a source, naming the file and row.
    """
    p = pd.read_csv(path, dtype={"source": str})
    need = ["dataset", "loss", "setting", "metric", "mean", "std", "source"]
    missing = [c for c in need if c not in p.columns]
    if missing:
        raise ValueError(f"{path!r}: missing columns {missing}; expected {need}")
    bad = p.index[p["source"].isna() | (p["source"].astype(str).str.strip() == "")]
    if len(bad):
        raise ValueError(f"{path!r}: row(s) {[int(i) + 2 for i in bad]} have no source")
    return p


def _fmt(mean: float, std: float, scale: float = 100.0) -> str:
    return f"{mean * scale:.2f} ± {std * scale:.2f}"


def _grid(table: Table, bold: tuple[str, str], pm: str) -> list[tuple[str, list[list[str]]]]:
    blocks = []
    cells = table.cells.set_index(["stack", "row", "col"])
    for st in table.stack_order:
        lines = []
        for rw in table.row_order:
            line = [LOSS_NAMES.get(rw, str(rw))]
            for cl in table.col_order:
                if (st, rw, cl) not in cells.index:
                    line.append("")
                    continue
                c = cells.loc[(st, rw, cl)]
                text = _fmt(c["mean"], c["std"]).replace("±", pm)
                if c["best"]:
                    text = bold[0] + text + bold[1]
                if "paper" in c and not pd.isna(c["paper"]):
                    text += f" ({_fmt(c['paper'], c['paper_std']).replace('±', pm)})"
                line.append(text)
            if any(line[1:]):
                lines.append(line)
        blocks.append((st, lines))
    return blocks


def to_markdown(table: Table) -> str:
    """GitHub markdown: one block per stacked dataset, best per column in bold, caption below."""
    out = []
    for st, lines in _grid(table, ("**", "**"), "±"):
        if st:
            out.append(f"**{st}**\n")
        out.append(f"| {table.row_title} | " + " | ".join(table.col_order) + " |")
        out.append("|---" * (len(table.col_order) + 1) + "|")
        out += ["| " + " | ".join(line) + " |" for line in lines]
        out.append("")
    n = table.cells["n"]
    out.append(f"{table.caption} Runs per cell: {int(n.min())}–{int(n.max())}.")
    return "\n".join(out) + "\n"


def to_html(table: Table) -> str:
    """HTML ``<table>`` elements (one per stacked dataset, best per column in bold) and the
    caption as a paragraph; every text is escaped."""
    import html

    out = []
    for st, lines in _grid(table, ("\x00", "\x01"), "±"):
        cell = lambda t: html.escape(t).replace("\x00", "<b>").replace("\x01", "</b>")
        out.append('<table class="paper">')
        if st:
            out.append(f"<caption>{html.escape(str(st))}</caption>")
        head = "".join(
            f"<th>{html.escape(str(c))}</th>" for c in [table.row_title, *table.col_order]
        )
        out.append(f"<thead><tr>{head}</tr></thead><tbody>")
        for line in lines:
            out.append("<tr>" + "".join(f"<td>{cell(x)}</td>" for x in line) + "</tr>")
        out.append("</tbody></table>")
    n = table.cells["n"]
    out.append(
        f'<p class="caption">{html.escape(table.caption)} Runs per cell: '
        f"{int(n.min())}–{int(n.max())}.</p>"
    )
    return "\n".join(out) + "\n"


def _tex(text: str) -> str:
    return text.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")


def to_latex(table: Table) -> str:
    """A booktabs ``table`` environment; datasets stacked with ``\\midrule`` headers."""
    ncol = len(table.col_order)
    out = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{l" + "c" * ncol + "}",
        r"\toprule",
        _tex(table.row_title.capitalize())
        + " & "
        + " & ".join(_tex(c) for c in table.col_order)
        + r" \\",
    ]
    for st, lines in _grid(table, (r"\textbf{", "}"), r"$\pm$"):
        out.append(r"\midrule")
        if st:
            out.append(rf"\multicolumn{{{ncol + 1}}}{{l}}{{\textit{{{_tex(str(st))}}}}} \\")
        out += [" & ".join(_tex(line[0]) if i == 0 else x for i, x in enumerate(line)) + r" \\"
                for line in lines]  # fmt: skip
    out += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{_tex(table.caption)}}}", r"\end{table}"]
    return "\n".join(out) + "\n"


def to_csv(table: Table) -> str:
    """The cells as CSV (means and stds as fractions, the chosen hyperparameters, n, and the
    ids of the runs behind each cell, ``;``-separated)."""
    cells = table.cells.assign(runs=[";".join(r) for r in table.cells["runs"]])
    return cells.to_csv(index=False)
