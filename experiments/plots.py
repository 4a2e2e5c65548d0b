"""Plots shared by the experiment scripts (no flags: importable from any of them)."""

from __future__ import annotations


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
    fig.savefig(path, dpi=110)
    plt.close(fig)
