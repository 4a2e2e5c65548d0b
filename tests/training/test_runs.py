"""Per-run fields of a batched (vmapped) config: each run is exactly a separate run."""

import numpy as np
import pytest

from configs import test as test_config
from robustloss.training import load_run_data


def _standalone(arg: str):
    return load_run_data(test_config.get_config(arg))


def test_batched_seeds_get_the_noise_of_separate_runs():
    """Run r of ``seeds`` draws the labels (train and noisy validation) of ``seed=seeds[r]``."""
    batched = load_run_data(test_config.get_config("seeds=3/4/5,rate=0.4"))
    assert batched.y_train.shape[0] == 3 and batched.y_val.shape[0] == 3
    for r, s in enumerate((3, 4, 5)):
        alone = _standalone(f"seed={s},rate=0.4")
        np.testing.assert_array_equal(batched.y_train[r], alone.y_train)
        np.testing.assert_array_equal(batched.y_val[r], alone.y_val)
    # Independent draws: every pair of runs differs in many labels (not only in model inits).
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert np.mean(batched.y_train[a] != batched.y_train[b]) > 0.2
        assert np.mean(batched.y_val[a] != batched.y_val[b]) > 0.2


def test_fixed_noise_seed_gives_every_run_one_draw():
    batched = load_run_data(test_config.get_config("seeds=3/4,rate=0.4,noise.seed=7"))
    alone = _standalone("seed=0,rate=0.4,noise.seed=7")
    for r in range(2):
        np.testing.assert_array_equal(batched.y_train[r], alone.y_train)


def test_rent_paper_config_seeds_differ_in_noise():
    from configs.paper import rent_iclr2024
    from robustloss.training.config import noise_seed

    batched = rent_iclr2024.get_config("fmnist_cpu,seeds=3/4/5")
    assert batched.noise.seed == -1
    for s in (3, 4, 5):
        assert noise_seed(rent_iclr2024.get_config(f"fmnist_cpu,seed={s}")) == s


def test_noise_seed_range_is_checked():
    from robustloss.training.config import validate_config

    with pytest.raises(ValueError, match=r"noise.seed=-2 .* -1 \(the run's seed\)"):
        validate_config(test_config.get_config("noise.seed=-2"))


# ------------------------------------------------------------------ per-run fields in one program
import ml_collections  # noqa: E402

from robustloss.training import train  # noqa: E402
from robustloss.training.runs import RUN_FIELDS, plan_runs  # noqa: E402

FOLDS = "epochs=2,loss=gce,dataset.val_fraction=0.0,dataset.max_train=600,dataset.num_folds=3"
MIXED = (  # noise rate + kind + lr + weight decay + q + fold + seed, all different per run
    {"seed": 0, "noise.rate": 0.2, "optimizer.lr": 0.01, "loss.hparams.q": 0.5},
    {
        "seed": 1,
        "noise.rate": 0.4,
        "optimizer.lr": 0.003,
        "loss.hparams.q": 0.9,
        "dataset.fold": 1,
        "optimizer.weight_decay": 1e-3,
        "noise.kind": "uniform",
    },
)


def _batched(arg, runs):
    c = test_config.get_config(arg)
    with c.unlocked():
        c.runs = tuple(runs)
    return c


def _assert_run_equals(got: dict, want: dict, r: int):
    for g, w in zip(got["history"], want["history"], strict=True):
        for k, v in w.items():
            if k in ("time", "elapsed", "epoch"):
                continue
            assert g[k][r] == pytest.approx(v, rel=2e-5, abs=1e-6), (r, k)


def test_mixed_per_run_fields_equal_separate_runs():
    c = _batched(FOLDS + ",noise.before_split=True", MIXED)
    packed = train(c, None, log=lambda s: None)
    h = packed["history"][-1]
    assert len(h["test/top1"]) == 2 and h["lr"] == pytest.approx([0.01, 0.003])
    assert h["train/acc_noisy"][0] != h["train/acc_noisy"][1]
    for r in range(2):
        alone = train(plan_runs(c).run_config(r), None, log=lambda s: None)
        _assert_run_equals(packed, alone, r)


def test_unequal_folds_pad_with_masks():
    # 599 rows in 3 folds: 200/200/199 validation rows, 399/399/400 training rows.
    arg = FOLDS.replace("max_train=600", "max_train=599") + ",epochs=1"
    c = _batched(arg, ({"dataset.fold": 0}, {"dataset.fold": 2}))
    data = load_run_data(c)
    assert data.train_sizes == (399, 400) and data.val_sizes == (200, 199)
    packed = train(c, None, log=lambda s: None)
    for r in range(2):
        _assert_run_equals(packed, train(plan_runs(c).run_config(r), None, log=lambda s: None), r)


def test_noise_before_split_puts_the_file_draw_on_the_validation_fold():
    c = test_config.get_config(FOLDS + ",noise.before_split=True,rate=0.4,dataset.fold=1")
    whole = test_config.get_config("dataset.val_fraction=0.0,dataset.max_train=600,rate=0.4")
    file_labels = load_run_data(whole).y_train  # the same draw on the whole file
    d = load_run_data(c)
    from robustloss.data import kfold_splits

    tr, va = kfold_splits(600, 3)[1]
    np.testing.assert_array_equal(d.y_train, file_labels[tr])
    np.testing.assert_array_equal(d.y_val, file_labels[va])
    apart = load_run_data(test_config.get_config(FOLDS + ",rate=0.4,dataset.fold=1"))
    assert np.mean(apart.y_val != d.y_val) > 0.2  # drawn apart: another draw


@pytest.mark.parametrize("mode", ["contiguous", "shuffled", "stratified"])
def test_fold_modes_partition_the_file(mode):
    vals = []
    for f in range(3):
        d = load_run_data(
            test_config.get_config(f"{FOLDS},dataset.fold={f},dataset.fold_mode={mode}")
        )
        assert len(d.y_train) + len(d.y_val) == 600
        vals.append(d.x_val)
    allv = np.concatenate(vals)
    assert len(np.unique(allv, axis=0)) == len(
        np.unique(
            load_run_data(
                test_config.get_config("dataset.val_fraction=0.0,dataset.max_train=600")
            ).x_train,
            axis=0,
        )
    )
    first = load_run_data(test_config.get_config(f"{FOLDS},dataset.fold_mode={mode}")).x_val
    contiguous = load_run_data(test_config.get_config(FOLDS)).x_val
    assert np.array_equal(first, contiguous) == (mode == "contiguous")


def test_bad_per_run_fields_are_named():
    with pytest.raises(ValueError, match=r"runs\[1\] sets 'model.name'.*fields that can"):
        plan_runs(_batched("", ({}, {"model.name": "lenet"})))
    with pytest.raises(ValueError, match="traced only for a loss without a transition method"):
        plan_runs(
            _batched(
                "loss=gce,transition=forward", ({"loss.hparams.q": 0.5}, {"loss.hparams.q": 0.9})
            )
        )
    with pytest.raises(ValueError, match="num_folds"):
        plan_runs(_batched("", ({"dataset.fold": 0}, {"dataset.fold": 1})))
    from robustloss.training.config import validate_config

    with pytest.raises(ValueError, match=r"config.runs\[0\]: config.noise.rate=1.5"):
        validate_config(_batched("", ({"noise.rate": 1.5}, {})))
    assert {f.realised for f in RUN_FIELDS} == {
        "key",
        "labels",
        "loss_hparam",
        "transition_hparam",
        "optimizer",
        "fold",
    }
    with pytest.raises(ValueError, match="no method reads"):
        plan_runs(_batched("", ({"transition.alpha": 2.0}, {"transition.alpha": 5.0})))
    assert isinstance(_batched("", ({}, {})), ml_collections.ConfigDict)


def test_run_plan_resolves_the_runs_once_into_a_frozen_value():
    import dataclasses

    from robustloss.training.config import validate_config

    c = _batched(
        "loss=gce",
        (
            {"seed": 3, "noise.rate": 0, "loss.hparams.q": 0.5},  # an int for a float field
            {"seed": np.int64(4), "noise.rate": 0.4, "loss.hparams.q": np.float32(0.25)},
        ),
    )
    plan = validate_config(c)  # what train() passes on
    assert plan.num_runs == 2 and plan.config.runs == () and plan.config.seed == c.seed
    assert dict(plan.varying) == {
        "loss.hparams.q": (0.5, 0.25),
        "noise.rate": (0.0, 0.4),
        "seed": (3, 4),
    }
    assert dict(plan.axes) == {
        "loss.hparams.q": "loss_hparam",
        "noise.rate": "labels",
        "seed": "key",
    }
    assert plan.fields_on("labels") == ("noise.rate",) and plan.fields_on("fold") == ()
    # Values take the field's type: Python floats and ints, whatever was given.
    assert [type(v) for o in plan.overrides for v in o.values()] == [int, float, float] * 2
    assert [rc.seed for rc in plan.run_configs] == [3, 4] and plan.noise_seeds == (3, 4)
    assert [rc.loss.hparams.q for rc in plan.run_configs] == [0.5, 0.25]
    # Frozen: no consumer can change what another one reads.
    with pytest.raises(AttributeError, match="immutable"):
        plan.run_configs[0].noise.rate = 0.3
    with pytest.raises(TypeError):
        plan.varying["seed"] = (0, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.config = None
    # The caller's config may change afterwards; run_config(r) is a fresh, mutable copy.
    with c.unlocked():
        c.runs = ()
        c.noise.rate = 0.3
    alone = plan.run_config(1)
    alone.seed = 9
    assert plan.run_configs[1].seed == 4 and plan.config.noise.rate == 0.2
    one = validate_config(test_config.get_config())
    assert one.num_runs is None and one.overrides == () and one.run_configs == (one.config,)
    # Bad overrides name the run and the field.
    with pytest.raises(ValueError, match=r"runs\[1\]: unknown config field 'loss.hparams.qq'"):
        plan_runs(_batched("loss=gce", ({}, {"loss.hparams.qq": 0.1})))
    with pytest.raises(ValueError, match=r"runs\[0\] sets 'noise.rate' to '0.2' of type str"):
        plan_runs(_batched("", ({"noise.rate": "0.2"}, {})))
    with pytest.raises(ValueError, match=r"config.runs\[2\] is the same run as config.runs\[0\]"):
        plan_runs(_batched("", ({"seed": 1}, {"seed": 2}, {"seed": 1})))
    with pytest.raises(ValueError, match="must be a tuple of dicts"):
        plan_runs(_batched("", ("seed=1",)))
    # A run's overrides stay its own: run 1 keeps the config's rate and q (no leak from run 0).
    c = _batched("loss=gce", ({"noise.rate": 0.4, "loss.hparams.q": 0.9}, {"seed": 5}))
    plan = plan_runs(c)
    assert plan.run_configs[1].noise.rate == c.noise.rate != 0.4
    assert plan.run_configs[1].loss.hparams.q == c.loss.hparams.q != 0.9
    assert plan.config.noise.rate == c.noise.rate and plan.run_configs[0].seed == c.seed


def test_final_state_takes_one_run(tmp_path):
    """The diagnostics' `final_state` refuses packed runs before training anything."""
    from robustloss.training.restore import final_state

    with pytest.raises(ValueError, match=r"one run only: config.runs has 2 runs"):
        final_state(test_config.get_config("seeds=0-1,epochs=1"), str(tmp_path / "wd"))
    assert not (tmp_path / "wd").exists()


def test_add_runs_is_how_short_forms_expand():
    from robustloss.training import default_config
    from robustloss.training.runs import add_runs

    c = default_config()
    add_runs(c, "seed", (0, 1))
    add_runs(c, "noise.rate", (0.2, 0.4))
    assert c.runs == ({"seed": 0, "noise.rate": 0.2}, {"seed": 1, "noise.rate": 0.4})
    with pytest.raises(ValueError, match=r"3 values of 'optimizer.lr' for config.runs of 2 runs"):
        add_runs(c, "optimizer.lr", (0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match=r"config.runs\[0\] already sets 'seed'"):
        add_runs(c, "seed", (5, 6))
    # The config files' short forms are exactly this.
    assert test_config.get_config("loss=gce,seeds=0-1,sweep=q:0.3/0.7").runs == (
        {"seed": 0, "loss.hparams.q": 0.3},
        {"seed": 1, "loss.hparams.q": 0.7},
    )


@pytest.mark.parametrize(
    "arg,runs",
    [
        (  # ALDR-KL: each run's lam_i start at its own lam0 and follow its own alpha/margin
            "loss=aldr_kl,epochs=2,rate=0.4,dataset.max_train=300",
            (
                {"loss.hparams.lam0": 1.0, "loss.hparams.alpha": 2.0},
                {"loss.hparams.lam0": 3.0, "loss.hparams.alpha": 4.0, "loss.hparams.margin": 0.5},
            ),
        ),
        (  # TGCE with a pruning refresh after every epoch: the refresh uses each run's q and k
            "loss=tgce,prune_start=1,prune_every=1,epochs=2,rate=0.4,dataset.max_train=300",
            ({"loss.hparams.q": 0.5, "loss.hparams.k": 0.3}, {"loss.hparams.q": 0.9}),
        ),
    ],
)
def test_stateful_loss_hyperparameters_pack(arg, runs):
    """A stateful loss's runs with different hyperparameters: one program, each as alone."""
    c = _batched(arg, runs)
    packed = train(c, None, log=lambda s: None)
    assert packed["history"][-1]["train/loss"][0] != packed["history"][-1]["train/loss"][1]
    # Run 1 (values unlike the config's own) trained alone; run 0 has the config's values.
    _assert_run_equals(packed, train(plan_runs(c).run_config(1), None, log=lambda s: None), 1)


@pytest.mark.parametrize(
    "arg,runs",
    [
        (  # DWS: each run's Dirichlet concentration
            "transition=dws,transition.warmup_epochs=1,epochs=2,rate=0.4,dataset.max_train=300",
            ({"transition.alpha": 2.0}, {"transition.alpha": 20.0, "seed": 1}),
        ),
        (  # VolMinNet and TV: the weights of their loss terms
            "transition=reweight,transition.estimator=tv,transition.warmup_epochs=0,epochs=2,"
            "dataset.max_train=300",
            ({"transition.tv_weight": 0.0}, {"transition.tv_weight": 1.0}),
        ),
    ],
)
def test_transition_options_pack(arg, runs):
    """Runs of one transition method with different traced options: each as alone."""
    c = _batched(arg, runs)
    packed = train(c, None, log=lambda s: None)
    assert packed["history"][-1]["train/loss"][0] != packed["history"][-1]["train/loss"][1]
    # Run 1 (values unlike the config's own) trained alone; run 0 has the config's values.
    _assert_run_equals(packed, train(plan_runs(c).run_config(1), None, log=lambda s: None), 1)


def test_transition_runs_carry_their_own_true_T():
    """Forward correction with the oracle T: run r uses its own noise kind's T, as alone."""
    arg = "epochs=1,dataset.val_fraction=0.0,dataset.max_train=300,transition=forward"
    c = _batched(arg, ({"noise.kind": "symmetric", "noise.rate": 0.2}, {"noise.kind": "pair"}))
    data = load_run_data(c)
    assert data.true_T.shape == (2, 10, 10) and not np.allclose(data.true_T[0], data.true_T[1])
    packed = train(c, None, log=lambda s: None)
    for r in range(2):
        _assert_run_equals(packed, train(plan_runs(c).run_config(r), None, log=lambda s: None), r)


def test_checkpoint_by_elapsed_time(monkeypatch):
    from robustloss.sweep.cells import NOT_IN_ID
    from robustloss.training import run as run_mod

    c = test_config.get_config("epochs=5,checkpoint_every=1,checkpoint_seconds=30.0")
    clock = [1000.0]
    monkeypatch.setattr(run_mod.time, "time", lambda: clock[0])
    assert not run_mod._checkpoint_due(c, 0, last_save=990.0)  # 10 s < 30 s: no save
    clock[0] = 1021.0
    assert run_mod._checkpoint_due(c, 1, last_save=990.0)  # 31 s since the last save
    assert run_mod._checkpoint_due(c, 4, last_save=1020.0)  # the last epoch always
    every = test_config.get_config("epochs=5,checkpoint_every=2")
    assert [run_mod._checkpoint_due(every, e, 0.0) for e in range(5)] == [0, 1, 0, 1, 1]
    assert "checkpoint_seconds" in NOT_IN_ID  # how often a run saves is not part of its id
