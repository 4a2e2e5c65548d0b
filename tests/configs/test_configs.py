"""Tests of the config files, the ``:key=value`` argument and up-front validation."""

import importlib

import ml_collections
import pytest

from configs.base import apply_arg, parse_arg, parse_value
from robustloss.training import default_config, validate_config

CONFIG_MODULES = ["test", "demo", "digits", "fashion_mnist", "letter", "cifar10", "cifar100"]


@pytest.mark.parametrize("name", CONFIG_MODULES)
def test_config_files_validate(name):
    config = importlib.import_module(f"configs.{name}").get_config()
    validate_config(config)
    assert config.is_locked


def test_argument_parsing():
    assert parse_arg("loss=gce,rate=0.6, noise=uniform") == {
        "loss": "gce",
        "rate": "0.6",
        "noise": "uniform",
    }
    assert parse_value("0.6") == 0.6 and parse_value("true") is True
    assert parse_value("(50, 75)") == (50, 75) and parse_value("sgd") == "sgd"
    from configs import test

    c = test.get_config(
        "loss=gce,noise=uniform,rate=0.6,q=0.5,optimizer.momentum=0.8,seeds=0-2,shuffle=false"
    )
    assert c.shuffle is False
    assert c.loss.name == "gce" and c.loss.hparams.q == 0.5
    assert c.noise.kind == "uniform" and c.noise.rate == 0.6
    assert c.optimizer.momentum == 0.8 and c.runs == ({"seed": 0}, {"seed": 1}, {"seed": 2})
    # A loss switch fills in that loss's defaults (so they are overridable and recorded).
    c = test.get_config("loss=ldr_kl")
    assert dict(c.loss.hparams) == {"lam": 1.0, "margin": 0.1, "score_norm": "none"}
    validate_config(c)


@pytest.mark.parametrize(
    "arg, match",
    [
        ("loss=nope", "nope"),
        ("q=0.5", "neither short keys"),
        ("optimizer.lrate=0.1", "unknown config field 'optimizer.lrate'"),
        ("lossname", "key=value"),
    ],
)
def test_bad_arguments_fail(arg, match):
    from configs import test

    with pytest.raises(ValueError, match=match):
        test.get_config(arg)


def _cfg(**changes):
    from configs import test

    c = test.get_config()
    with c.unlocked():
        for path, value in changes.items():
            node = c
            *groups, leaf = path.split("__")
            for g in groups:
                node = node[g]
            node[leaf] = value
    return c


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"dataset__name": "imagenet"}, r"config.dataset.name='imagenet' .*'digits'"),
        ({"model__name": "mlp"}, r"config.model.name='mlp' .*'ffnn'"),
        ({"noise__kind": "salt"}, r"config.noise.kind='salt' .*'symmetric'"),
        ({"noise__rate": 1.5}, r"config.noise.rate=1.5 is out of range"),
        ({"loss__name": "hinge"}, r"config.loss.name='hinge' .*'ce'"),
        ({"loss__hparams": ml_collections.ConfigDict({"q": -1.0})}, r"config.loss.hparams"),
        ({"optimizer__lr": 0.0}, r"config.optimizer.lr=0.0 is out of range"),
        ({"optimizer__name": "lion"}, r"'sgd', 'adam', 'adamw'"),
        ({"epoch_mode": "fast"}, r"config.epoch_mode='fast'.*'scan'"),
        ({"batch_size": 30}, r"multiple of the device count"),
        ({"num_epochs": 0}, r"config.num_epochs=0 is out of range"),
        ({"transition__use": "magic"}, r"transition.use='magic'"),
        ({"noise__sampling": "random"}, r"config.noise.sampling='random' .*'exact'"),
        # Seeds past 2**32 - 1 alias smaller ones in JAX (2**32 is seed 0) or overflow later.
        ({"seed": 2**64}, r"config.seed=18446744073709551616 is not valid.*<= 4294967295"),
        ({"seed": 2**32}, r"config.seed=4294967296 is not valid"),
        ({"runs": ({"seed": 0}, {"seed": 2**40})}, r"runs\[1\]: config.seed=1099511627776 is not"),
        ({"noise__seed": 2**33}, r"config.noise.seed=8589934592 is out of range"),
        ({"dataset__split_seed": 2**32}, r"config.dataset.split_seed=4294967296 is out of range"),
        # Non-finite floats never pass a range (they failed mid-run before).
        ({"optimizer__lr": float("inf")}, r"config.optimizer.lr=inf is out of range"),
        ({"optimizer__weight_decay": float("nan")}, r"config.optimizer.weight_decay=nan is out"),
        ({"checkpoint_seconds": float("inf")}, r"config.checkpoint_seconds=inf is out of range"),
        # A loader option the dataset does not read (it would be recorded, never used).
        ({"dataset__path": "/data/x.csv"}, r"dataset 'digits' does not read path='/data/x.csv'"),
        ({"dataset__download": True}, r"dataset 'digits' does not read download=True"),
        ({"dataset__test_rows": 100}, r"config.dataset.test_rows=100 is an option of \['letter'\]"),
    ],
)
def test_validation_errors_name_the_field(changes, match):
    with pytest.raises(ValueError, match=match):
        validate_config(_cfg(**changes))


def test_unknown_field_is_rejected():
    c = default_config()
    c.dataset.nme = "digits"  # unlocked schema: a typo adds a field
    with pytest.raises(ValueError, match=r"unknown config field 'dataset.nme'.*'name'"):
        validate_config(c)
    from configs import test

    locked = test.get_config()
    with pytest.raises(AttributeError):
        locked.num_epoch = 3


def test_dataset_dependent_checks_fail_before_compilation():
    from robustloss.training import build_trainer, load_run_data

    c = _cfg(model__name="lenet")  # digits are 8x8
    with pytest.raises(ValueError, match="lenet' needs 28x28 images"):
        build_trainer(c, load_run_data(c))


def test_apply_arg_on_default():
    c = apply_arg(default_config(), "model=lenet,dataset=fashion_mnist,epochs=3,batch=128")
    assert (c.model.name, c.dataset.name, c.num_epochs, c.batch_size) == (
        "lenet",
        "fashion_mnist",
        3,
        128,
    )


@pytest.mark.parametrize(
    "arg, match",
    [
        ("seeds=3-1", r"seeds='3-1' is a reversed range \(3 > 1: no seeds\)"),
        ("seeds=-1", r"seeds='-1': '-1' is not a seed"),
        ("seeds=0-a", r"seeds='0-a': 'a' is not a seed"),
        ("seeds=", r"seeds='': '' is not a seed"),
        ("seeds=0-", r"seeds='0-': '' is not a seed"),
        ("seeds=1.5/2", r"'1.5' is not a seed"),
        ("seeds=0//2", r"'' is not a seed"),
    ],
)
def test_bad_seeds_fail_with_the_accepted_forms(arg, match):
    from configs import test

    with pytest.raises(ValueError, match=match + r".*accepted forms: seeds=A-B .*A/B/C"):
        test.get_config(arg)


def _seeds(c):
    return [r["seed"] for r in c.runs]


def test_seed_forms_and_validated_seeds():
    from configs import test

    assert _seeds(test.get_config("seeds=2-4")) == [2, 3, 4]
    assert _seeds(test.get_config("seeds=3-3")) == [3]
    assert _seeds(test.get_config("seeds=3/4/5")) == [3, 4, 5]
    assert test.get_config("seeds=7").runs == ({"seed": 7},)
    for bad, match in (
        ((0, 0), r"config.runs\[1\] is the same run as config.runs\[0\]"),
        ((1, -1), r"config.runs\[1\]: config.seed=-1 is not valid; it must be an int >= 0"),
        ((0, 2**40), r"config.runs\[1\]: config.seed=1099511627776 is not valid.*<= 4294967295"),
        ((True,), r"runs\[0\] sets 'seed' to True of type bool, but config.seed has type int"),
        ((0.5,), r"runs\[0\] sets 'seed' to 0.5 of type float, but config.seed has type int"),
    ):
        c = test.get_config()
        with c.unlocked():
            c.runs = tuple({"seed": s} for s in bad)
        with pytest.raises(ValueError, match=match):
            validate_config(c)
    with pytest.raises(ValueError, match=r"config.runs\[1\] is the same run"):
        validate_config(test.get_config("seeds=1/1"))  # a repeated seed: two identical runs
    # A sweep may give several values one seed: run r takes the r-th seed and the r-th value.
    c = test.get_config("loss=gce,sweep=q:0.3/0.7,seeds=1/1")
    assert c.runs == ({"loss.hparams.q": 0.3, "seed": 1}, {"loss.hparams.q": 0.7, "seed": 1})
    plan = validate_config(c)
    assert dict(plan.varying) == {"loss.hparams.q": (0.3, 0.7)}
    with pytest.raises(ValueError, match=r"sweep='q:0.3/0.7': 2 values .* config.runs of 3 runs"):
        test.get_config("loss=gce,seeds=0-2,sweep=q:0.3/0.7")


@pytest.mark.parametrize("path", ["seeds", "loss.sweep_field", "loss.sweep_values"])
def test_removed_run_fields_say_what_replaces_them(path):
    """``config.runs`` is the only encoding of R runs: the old fields fail with a pointer."""
    from configs import test

    assert "seeds" not in default_config() and "sweep_values" not in default_config().loss
    c = default_config()
    group, _, leaf = path.rpartition(".")
    (c[group] if group else c)[leaf] = (0, 1)
    with pytest.raises(ValueError, match=rf"config.{path} no longer exists.*use config.runs"):
        validate_config(c)
    if path != "seeds":  # seeds= is the short form itself
        with pytest.raises(ValueError, match=rf"config.{path} no longer exists"):
            test.get_config(f"{path}=1")
