"""Tests of `robustloss.training.train`: resumption, vmapped seeds, transition objectives."""

import jax
import numpy as np
import pytest

from configs import test as test_config
from robustloss.training import train


def _strip(history):
    return [{k: v for k, v in r.items() if k not in ("time", "elapsed")} for r in history]


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    # ALDR-KL keeps per-example state in the train state: resumption must restore it too.
    cfg = test_config.get_config("loss=aldr_kl,epochs=2")
    quiet = {"log": lambda s: None}
    full = train(cfg, str(tmp_path / "full"), **quiet)
    part = train(cfg, str(tmp_path / "resumed"), stop_after=1, **quiet)
    assert [r["epoch"] for r in part["history"]] == [1] and not part["complete"]
    resumed = train(cfg, str(tmp_path / "resumed"), **quiet)
    assert _strip(resumed["history"]) == _strip(full["history"])  # bit-exact
    for a, b in zip(jax.tree.leaves(resumed["state"]), jax.tree.leaves(full["state"]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_train_with_seeds_is_vmapped_runs():
    cfg = test_config.get_config("seeds=0/1,epochs=1")
    s = train(cfg, None, log=lambda s: None)
    assert len(s["final"]["test/top1"]) == 2
    single = train(test_config.get_config("seed=1,epochs=1"), None, log=lambda s: None)
    assert s["final"]["train/loss"][1] == pytest.approx(single["final"]["train/loss"], rel=1e-5)
    assert s["final_mean"]["test/top1"] == pytest.approx(np.mean(s["final"]["test/top1"]))


def test_transition_objective_runs_and_logs_its_metrics():
    cfg = test_config.get_config("transition=rent,transition.warmup_epochs=1,epochs=2")
    s = train(cfg, None, log=lambda s: None)
    final = s["final"]
    assert final["train/active"] == 1.0 and "train/label_precision" in final
    assert s["history"][0]["train/active"] == 0.0
    assert np.isfinite(final["train/loss"])


def test_hyperparameter_sweep_is_vmapped_runs():
    cfg = test_config.get_config("loss=gce,sweep=q:0.3/0.9,epochs=1")
    s = train(cfg, None, log=lambda s: None)
    assert len(s["final"]["train/loss"]) == 2
    assert s["final"]["train/loss"][0] != s["final"]["train/loss"][1]
    one = train(test_config.get_config("loss=gce,q=0.9,epochs=1"), None, log=lambda s: None)
    assert s["final"]["train/loss"][1] == pytest.approx(one["final"]["train/loss"], rel=1e-5)


def test_docs_examples_run():
    """Every Python block of docs/training.md runs as written."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).parents[1] / "docs" / "training.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(block, "docs/training.md", "exec"), {})


def test_progress_bar_and_lines(capsys):
    cfg = test_config.get_config("epochs=2")
    with cfg.unlocked():
        cfg.progress = "bar"
    train(cfg, None)
    out = capsys.readouterr().out
    assert out.count("\r") == 2 and "epoch 2/2" in out and "ETA" in out
    lines = []
    with cfg.unlocked():
        cfg.progress = "lines"
    train(cfg, None, log=lines.append)
    assert [x.split()[1] for x in lines] == ["1/2", "2/2"]


def test_real_noisy_labels_from_a_file_follow_the_source_rows(tmp_path):
    from robustloss.data import load_dataset
    from robustloss.training.run import load_run_data

    config = test_config.get_config("epochs=1")
    ds = load_dataset(config.dataset.name, val_fraction=config.dataset.val_fraction)
    n_source = int(max(ds.train_index.max(), ds.val_index.max(initial=0))) + 1
    file_labels = (np.arange(n_source) * 7) % 10  # a deterministic "annotator", source order
    np.save(tmp_path / "noisy.npy", file_labels)
    config.noise.kind = "real"
    config.noise.labels_path = str(tmp_path / "noisy.npy")
    data = load_run_data(config)
    rows = ds.train_index[: len(data.y_train)]
    np.testing.assert_array_equal(data.y_train, file_labels[rows])
    np.testing.assert_array_equal(data.y_train_clean, ds.y_train[: len(rows)])
    expected_T = np.zeros((10, 10))
    np.add.at(expected_T, (ds.y_train[: len(rows)], file_labels[rows]), 1)
    expected_T /= np.maximum(expected_T.sum(1, keepdims=True), 1)
    np.testing.assert_allclose(data.true_T, expected_T, atol=1e-6)
    summary = train(config, workdir=None, log=lambda line: None)
    assert np.isfinite(summary["final"]["train/loss"])


def test_real_noise_without_a_file_is_a_config_error():
    config = test_config.get_config("noise=real")
    with pytest.raises(ValueError, match="labels_path"):
        train(config, workdir=None, log=lambda line: None)


def test_transition_warmup_epochs_are_the_plain_ce_program():
    # The warm-up trains with the objective's warm-up loss (a second compiled step), so a DWS
    # run's warm-up epochs equal a CE run's bit for bit, as in the RENT code.
    quiet = {"log": lambda s: None}
    ce = train(test_config.get_config("epochs=2"), None, **quiet)["history"]
    dws = train(
        test_config.get_config("transition=dws,transition.warmup_epochs=1,epochs=2"), None, **quiet
    )["history"]
    shared = sorted((set(ce[0]) & set(dws[0])) - {"time", "elapsed"})
    assert {"train/loss", "train/acc_noisy", "test/top1", "val/top1"} <= set(shared)
    assert {k: dws[0][k] for k in shared} == {k: ce[0][k] for k in shared}
    assert dws[0]["train/active"] == 0.0 and dws[1]["train/active"] == 1.0
    # None of the method's work in the warm-up program: its metrics appear only afterwards.
    assert "train/ess" not in dws[0] and "train/ess" in dws[1]
    assert dws[1]["train/loss"] != ce[1]["train/loss"]  # the method trains after the warm-up
