"""Tests of `robustloss.training.train`: resumption, vmapped seeds, transition objectives."""

import jax
import numpy as np
import pytest

from configs import test as test_config
from robustloss.training import NonFiniteEvaluationError, train
from robustloss.training.build import source_rows
from tests import ROOT


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


def test_train_with_seeds_is_vmapped_runs(monkeypatch):
    from robustloss.training import config as config_mod
    from robustloss.training import runs as runs_mod

    plans, original = [], runs_mod.plan_runs

    def counted(config):
        plans.append(config)
        return original(config)

    monkeypatch.setattr(runs_mod, "plan_runs", counted)  # as_plan's
    monkeypatch.setattr(config_mod, "plan_runs", counted)  # validate_config's
    cfg = test_config.get_config("seeds=0/1,epochs=1")
    s = train(cfg, None, log=lambda s: None)
    assert len(plans) == 1  # resolved once, at the top; every part gets that plan
    monkeypatch.undo()
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
    import re

    text = (ROOT / "docs" / "training.md").read_text()
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
    epochs = [x for x in lines if x.startswith("epoch ")]
    assert [x.split()[1] for x in epochs] == ["1/2", "2/2"]
    # Before the first epoch (5-20 s of loading and compiling on real data) it says so.
    assert lines[:2] == ["loading data (digits)…", "compiling…"] and len(lines) == 4
    quiet = []
    with cfg.unlocked():
        cfg.progress = "none"
    train(cfg, None, log=quiet.append, stop_after=0)  # the notes come before any epoch
    assert quiet == [] and capsys.readouterr().out == ""


def test_real_noisy_labels_from_a_file_follow_the_source_rows(tmp_path):
    from robustloss.data import load_dataset
    from robustloss.training.run import load_run_data

    config = test_config.get_config("epochs=1")
    ds = load_dataset(config.dataset.name, val_fraction=config.dataset.val_fraction)
    n_source = 1797  # rows of sklearn's load_digits: train_index numbers them (test rows too)
    assert source_rows(ds) == n_source
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


@pytest.fixture(scope="module")
def digits_source():
    from robustloss.data import load_dataset

    config = test_config.get_config("epochs=1")
    ds = load_dataset(config.dataset.name, val_fraction=config.dataset.val_fraction)
    return config, ds


def _real(config, path, **fields):
    c = test_config.get_config("epochs=1")
    c.noise.kind = "real"
    c.noise.labels_path = str(path)
    for k, v in fields.items():
        c.noise[k] = v
    return c


def test_real_noise_file_of_the_wrong_length_or_shape_is_refused(tmp_path, digits_source):
    """A label file must hold exactly one label per source row (1797 for digits); a 2-D file is
    never flattened (noise.labels_column picks a column); every error names the file."""
    from robustloss.training import load_run_data, validate_config

    _, ds = digits_source
    n = source_rows(ds)
    good = (np.arange(n) * 3) % 10
    for rows, word in ((n + 1, "more"), (n - 1, "fewer")):
        f = tmp_path / f"y{rows}.npy"
        np.save(f, np.resize(good, rows))
        with pytest.raises(
            ValueError, match=rf"{f.name}.* holds {rows} labels .* {n} source rows \({word}"
        ):
            load_run_data(_real(None, f))
    two = tmp_path / "two.npy"
    np.save(two, np.stack([good, (good + 1) % 10], 1))  # [N, 2]: flattening would give 2N labels
    with pytest.raises(ValueError, match=r"two.npy.*shape \(1797, 2\).*column="):
        load_run_data(_real(None, two))
    data = load_run_data(_real(None, two, labels_column=1))
    rows = ds.train_index[: len(data.y_train)]
    np.testing.assert_array_equal(data.y_train, (good[rows] + 1) % 10)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.where(np.arange(n) == 5, 10, good))  # label 10 with K = 10, at file row 5
    with pytest.raises(ValueError, match=r"bad.npy.*label 10 at row 5 is outside \[0, 10\)"):
        load_run_data(_real(None, bad))
    with pytest.raises(ValueError, match=r"config.noise.labels_column=-2 .* -1 .* >= 0"):
        validate_config(_real(None, two, labels_column=-2))


def _with_nan_inputs(split, monkeypatch):
    from robustloss.training import run as run_mod

    real = run_mod.load_run_data

    def patched(config):
        data = real(config)
        x = getattr(data, f"x_{split}").copy()
        x[:3] = np.nan
        setattr(data, f"x_{split}", x)
        return data

    monkeypatch.setattr(run_mod, "load_run_data", patched)


@pytest.mark.parametrize("split", ["test", "val"])
def test_nan_evaluation_inputs_stop_the_run_naming_the_split(split, monkeypatch, tmp_path):
    """NaN inputs give NaN logits; the run must not report an accuracy for them (before the
    metrics counted NaN as a hit, a model with NaN test inputs scored 100%)."""
    _with_nan_inputs(split, monkeypatch)
    cfg = test_config.get_config("epochs=1")
    with pytest.raises(
        NonFiniteEvaluationError,
        match=rf"non-finite {split} evaluation after epoch 1: 3 of \d+ {split} rows",
    ):
        train(cfg, str(tmp_path), log=lambda s: None)
    assert not (tmp_path / "summary.json").exists()
    assert (tmp_path / "metrics.jsonl").read_text() == ""  # the epoch's line is not written


def test_select_metric_is_validated_and_the_oracle_is_explicit(tmp_path):
    from robustloss.training import validate_config
    from robustloss.training.build import RunData
    from robustloss.training.run import _check_select_metric

    for typo in ("val/top9", "val/acc", "top1", "test/loss"):
        cfg = test_config.get_config()
        with cfg.unlocked():
            cfg.select_metric = typo
        with pytest.raises(
            ValueError, match=rf"config.select_metric='{typo}' is not valid.*'val/top1'"
        ):
            validate_config(cfg)
    clean = test_config.get_config("rate=0.0")
    clean.select_metric = "val/clean_top1"
    with pytest.raises(ValueError, match=r"val/clean_top1.*noisy validation labels"):
        validate_config(clean)
    # top-k beyond K (3 classes here) is never logged: refused once K is known.
    three = RunData(*([np.zeros((2, 1))] * 8), num_classes=3, true_T=np.eye(3), source="")
    cfg = test_config.get_config()
    cfg.select_metric = "val/top5"
    with pytest.raises(ValueError, match=r"'val/top5' is never logged.*K=3.*'val/top3'"):
        _check_select_metric(cfg, three)
    # An explicit test metric is an oracle and says so; without a validation split a val/
    # metric selects no epoch (no silent fallback to the test set) and the run says so.
    s = train(test_config.get_config("epochs=2,select_metric=test/top1"), None, log=lambda s: None)
    assert s["best"]["oracle"] is True and s["best"]["metric"] == "test/top1"
    assert s["best"]["test/top1"] == max(r["test/top1"] for r in s["history"])
    lines = []
    s = train(test_config.get_config("epochs=1,dataset.val_fraction=0.0"), None, log=lines.append)
    assert s["best"]["epoch"] is None and s["best"]["oracle"] is False
    assert "test/top1" not in s["best"] and "no validation split" in s["best"]["note"]
    assert any("no validation split" in x for x in lines)


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


def test_nonfinite_epoch_metric_stops_before_the_line_is_written(monkeypatch, tmp_path):
    """Every step's loss finite, but the epoch mean overflowed: the run stops naming the epoch
    and metric, and ``Infinity`` (not JSON) never reaches metrics.jsonl."""
    from robustloss.training.run import NonFiniteMetricError
    from robustloss.training.trainer import Trainer

    real = Trainer.train_epoch

    def overflowing(self, state, data, alive=None):
        state, stats = real(self, state, data, alive)
        stats["loss"] = float("inf")  # what a float32 sum of huge finite losses gives
        return state, stats

    monkeypatch.setattr(Trainer, "train_epoch", overflowing)
    with pytest.raises(NonFiniteMetricError, match=r"epoch 1: train/loss is inf although"):
        train(test_config.get_config("epochs=1"), str(tmp_path), log=lambda s: None)
    assert (tmp_path / "metrics.jsonl").read_text() == ""
