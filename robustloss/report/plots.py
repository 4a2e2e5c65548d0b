"""Plots shared by the experiment scripts (no flags: importable from any of them)."""

from __future__ import annotations

from robustloss._io import atomic_write


def _save(fig, path: str) -> None:
    """Writes ``fig`` to ``path`` (format from its extension) atomically and closes it."""
    import matplotlib.pyplot as plt

    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)


def plot(
    histories: dict[str, list[dict]], path: str, title: str, noisy_ceiling: float | None = None
) -> None:
    """Test accuracy per epoch, and train accuracy vs noisy/clean labels, one line per loss.

    ``noisy_ceiling`` draws the train accuracy against the noisy labels that the clean signal
    alone explains (1 − error rate); rising above it is memorisation.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, (loss, hist) in enumerate(histories.items()):
        color = f"C{i}"
        epochs = [r["epoch"] for r in hist]
        axes[0].plot(epochs, [r["test/top1"] for r in hist], "o-", color=color, label=loss)
        axes[1].plot(epochs, [r["train/acc_clean"] for r in hist], "-", color=color, label=loss)
        axes[1].plot(epochs, [r["train/acc_noisy"] for r in hist], "--", color=color)
    if noisy_ceiling is not None:
        axes[1].axhline(noisy_ceiling, color="gray", lw=0.8, ls=":")
    axes[0].set(xlabel="epoch", ylabel="clean test accuracy", title=title)
    axes[1].set(
        xlabel="epoch",
        ylabel="train accuracy",
        title="train acc. vs clean labels (solid) / noisy labels (dashed)",
    )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    _save(fig, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _style(i: int) -> dict:
    """Line colour and style of the i-th loss: 20 distinct colours, then dashed repeats."""
    import matplotlib

    return {"color": matplotlib.colormaps["tab20"](i % 20), "ls": "-" if i < 20 else "--"}


def accuracy_vs_noise(runs, path: str, *, title: str = "", loss_names: dict | None = None) -> None:
    """Mean test score vs noise rate, one line per loss and one panel per noise kind.

    ``runs`` is `robustloss.report.tables.run_scores` output (one row per run: ``loss.name``,
    ``noise.kind``, ``noise.rate``, ``score``), best restricted to the runs a table reports
    (`robustloss.report.tables.Table.chosen_runs`), so every point is a table cell; the clean runs
    (rate 0) start every panel. Error bars are the std over the runs of a point.
    """
    plt = _pyplot()
    names = loss_names or {}
    clean = runs[runs["noise.rate"] == 0]
    kinds = [k for k in dict.fromkeys(runs.loc[runs["noise.rate"] > 0, "noise.kind"])]
    fig, axes = plt.subplots(1, max(1, len(kinds)), figsize=(5.5 * max(1, len(kinds)), 4))
    axes = [axes] if not hasattr(axes, "__len__") else list(axes)
    for ax, kind in zip(axes, kinds or [None], strict=True):
        part = runs[runs["noise.kind"] == kind] if kind else runs
        for i, (loss, g) in enumerate(_with_clean(clean, part).groupby("loss.name", sort=False)):
            agg = g.groupby("noise.rate")["score"].agg(["mean", "std"]).sort_index()
            ax.errorbar(
                agg.index,
                agg["mean"],
                yerr=agg["std"].fillna(0),
                marker="o",
                capsize=2,
                label=names.get(loss, loss),
                **_style(i),
            )
        ax.set(xlabel=f"noise rate ({kind})" if kind else "noise rate", ylabel="test accuracy")
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    axes[-1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    _save(fig, path)


def _with_clean(a, b):
    """Rows of ``a`` then ``b`` without duplicating shared index entries."""
    import pandas as pd

    return pd.concat([a, b[~b.index.isin(a.index)]])


def learning_curves(df, path: str, *, title: str = "", loss_names: dict | None = None) -> None:
    """Per loss, mean over runs per epoch: clean test accuracy, and train accuracy vs the noisy
    labels (dashed) and the clean labels (solid). Train accuracy on the noisy labels rising
    towards 1 while test accuracy falls is memorisation.

    ``df`` holds rows per run and epoch (the sweep's results table) of one noise setting;
    pass only the runs a table reports (`robustloss.report.tables.Table.chosen_runs`) so that a
    loss's curve is its chosen hyperparameters', not an average over its grid.
    """
    plt = _pyplot()
    names = loss_names or {}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, (loss, g) in enumerate(df.groupby("loss.name", sort=False)):
        m = g.groupby("epoch").mean(numeric_only=True)
        color = _style(i)["color"]
        axes[0].plot(m.index, m["test/top1"], "-", color=color, label=names.get(loss, loss))
        if "train/acc_noisy" in m:
            axes[1].plot(m.index, m["train/acc_noisy"], "--", color=color)
        if "train/acc_clean" in m:
            axes[1].plot(m.index, m["train/acc_clean"], "-", color=color)
    axes[0].set(xlabel="epoch", ylabel="clean test accuracy", title=title)
    axes[1].set(
        xlabel="epoch",
        ylabel="train accuracy",
        title="vs clean labels (solid) / noisy labels (dashed)",
    )
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    _save(fig, path)


def metric_curves(
    df,
    path: str,
    metrics: list[tuple[str, str]],
    *,
    title: str = "",
    loss_names: dict | None = None,
) -> None:
    """One panel per ``(column, axis label)`` of ``metrics``: the mean over runs per epoch, one
    line per ``loss.name`` (e.g. ``noise/memorisation`` and ``noise/auroc_loss`` per epoch).
    Epochs without a value (not evaluated) are left out."""
    plt = _pyplot()
    names = loss_names or {}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    for ax, (col, label) in zip(axes[0], metrics, strict=True):
        for i, (loss, g) in enumerate(df.groupby("loss.name", sort=False)):
            m = g.dropna(subset=[col]).groupby("epoch")[col].mean()
            ax.plot(m.index, m.values, label=names.get(loss, loss), **_style(i))
        ax.set(xlabel="epoch", ylabel=label)
        ax.grid(alpha=0.3)
    axes[0][0].set_title(title)
    axes[0][-1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def transition_heatmaps(T_true, T_est, path: str, *, title: str = "") -> None:
    """True vs estimated ``T[clean, noisy]`` side by side, and their difference."""
    import numpy as np

    plt = _pyplot()
    T_true, T_est = np.asarray(T_true, float), np.asarray(T_est, float)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, mat, name, cmap, lim in (
        (axes[0], T_true, "true T", "viridis", (0, 1)),
        (axes[1], T_est, "estimated T", "viridis", (0, 1)),
        (axes[2], T_est - T_true, "estimated − true", "RdBu_r", (-0.5, 0.5)),
    ):
        im = ax.imshow(mat, cmap=cmap, vmin=lim[0], vmax=lim[1])
        ax.set(title=name, xlabel="noisy label j", ylabel="clean label i")
        fig.colorbar(im, ax=ax, fraction=0.046)
    err = np.abs(T_est - T_true).sum() / len(T_true)
    fig.suptitle(f"{title}  (mean row L1 error {err:.3f})".strip())
    fig.tight_layout()
    _save(fig, path)


def lambda_distribution(lam, is_noisy, path: str, *, lam0: float | None = None, title: str = ""):
    """ALDR-KL's learned per-example ``λ_i``: histograms for clean and for noisy examples.

    A diagnostic the LDR paper does not show: if the adaptive temperature separates mislabelled
    examples, the two histograms differ.
    """
    import numpy as np

    plt = _pyplot()
    lam, is_noisy = np.asarray(lam, float).ravel(), np.asarray(is_noisy, bool).ravel()
    if lam.size == 0 or lam.shape != is_noisy.shape or not np.isfinite(lam).all():
        raise ValueError(
            f"lambda_distribution needs finite lam and is_noisy of one length > 0, got "
            f"{lam.shape} ({int((~np.isfinite(lam)).sum())} non-finite) and {is_noisy.shape}"
        )
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(lam.min(), lam.max() + 1e-9, 40)
    for mask, name, color in ((~is_noisy, "clean", "C0"), (is_noisy, "noisy", "C3")):
        if mask.any():
            label = f"{name} (n={int(mask.sum())}, median {np.median(lam[mask]):.3g})"
            ax.hist(lam[mask], bins=bins, alpha=0.6, color=color, density=True, label=label)
    if lam0 is not None:
        ax.axvline(lam0, color="gray", ls=":", label=f"λ0 = {lam0:g}")
    ax.set(xlabel="λ_i", ylabel="density", title=title or "ALDR-KL λ_i by label status")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
