"""The experiment plots are written (PNG files that decode to images of the expected size)."""

import numpy as np
import pytest

from robustloss.report import plots, tables
from tests.report.test_tables import _sweep


def _png_shape(path):
    import matplotlib.image

    return matplotlib.image.imread(path).shape


def test_accuracy_vs_noise_and_learning_curves(tmp_path):
    df, _ = _sweep()
    df["train/acc_noisy"] = 0.5
    df["train/acc_clean"] = 0.6
    runs = tables.run_scores(df, "last")
    plots.accuracy_vs_noise(runs, str(tmp_path / "acc.png"), title="Letter")
    plots.learning_curves(df[df["noise.rate"] == 0.6], str(tmp_path / "curves.png"))
    assert _png_shape(tmp_path / "acc.png")[:2] == (440, 605)
    assert _png_shape(tmp_path / "curves.png")[:2] == (440, 1210)


def test_transition_and_lambda_plots(tmp_path):
    T = np.full((4, 4), 0.1) + 0.6 * np.eye(4)
    plots.transition_heatmaps(T, T + 0.01 * np.eye(4), str(tmp_path / "T.png"), title="anchor")
    rng = np.random.default_rng(0)
    noisy = rng.random(200) < 0.4
    lam = np.where(noisy, 0.6, 0.9) + 0.05 * rng.standard_normal(200)
    plots.lambda_distribution(lam, noisy, str(tmp_path / "lam.png"), lam0=1.0)
    assert _png_shape(tmp_path / "T.png")[:2] == (440, 1430)
    assert _png_shape(tmp_path / "lam.png")[:2] == (440, 660)


def test_lambda_plot_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="one length"):
        plots.lambda_distribution(np.ones(3), np.ones(2, bool), str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match="1 non-finite"):
        plots.lambda_distribution(np.array([1.0, np.nan]), np.ones(2, bool), str(tmp_path / "x"))
