"""robustloss._fields: dotted config fields on dicts and ConfigDicts."""

import ml_collections
import pytest

from robustloss._fields import get_field, pop_field, set_field, with_field


@pytest.mark.parametrize("kind", [dict, ml_collections.ConfigDict])
def test_get_set_pop(kind):
    cfg = kind({"seed": 0, "optimizer": {"lr": 0.1, "name": "sgd", "nesterov": False}})
    assert get_field(cfg, "optimizer.name") == "sgd"
    set_field(cfg, "optimizer.lr", 2)  # an int into a float field stays a float
    assert get_field(cfg, "optimizer.lr") == 2.0 and isinstance(
        get_field(cfg, "optimizer.lr"), float
    )
    set_field(cfg, "seed", 3)
    assert get_field(cfg, "seed") == 3 and isinstance(get_field(cfg, "seed"), int)
    set_field(cfg, "optimizer.nesterov", True)  # a bool is not turned into a number
    assert get_field(cfg, "optimizer.nesterov") is True


@pytest.mark.parametrize("kind", [dict, ml_collections.ConfigDict])
def test_unknown_fields_raise_naming_the_valid_ones_and_are_never_created(kind):
    cfg = kind({"optimizer": {"lr": 0.1, "name": "sgd"}, "seed": 0})
    with pytest.raises(ValueError, match=r"runs\[1\]: unknown config field 'optimizer.lrate'; "):
        set_field(cfg, "optimizer.lrate", 1.0, where="runs[1]")
    with pytest.raises(ValueError, match=r"'optimiser.lr': no group 'optimiser'; valid: \['opt"):
        get_field(cfg, "optimiser.lr")
    with pytest.raises(ValueError, match="no group 'seed'"):  # a leaf is not a group
        set_field(cfg, "seed.x", 1)
    assert "lrate" not in cfg["optimizer"]


def test_pop_field():
    cfg = {"loss": {"hparams": {"q": 0.7}}}
    assert pop_field(cfg, "loss.hparams.q") == 0.7
    assert pop_field(cfg, "loss.hparams.q") is None  # already gone: no error
    assert cfg == {"loss": {"hparams": {}}}
    with pytest.raises(ValueError, match="no group 'model'"):
        pop_field(cfg, "model.width")


def test_with_field_copies_the_path_and_shares_the_rest():
    base = {"seed": 0, "loss": {"hparams": {"q": 0.7, "k": 2}}, "model": {"width": 64}}
    run = with_field(base, "loss.hparams.q", 1)
    assert run["loss"]["hparams"] == {"q": 1.0, "k": 2} and isinstance(
        run["loss"]["hparams"]["q"], float
    )
    assert base["loss"]["hparams"] == {"q": 0.7, "k": 2}  # the source is untouched
    assert run["model"] is base["model"]  # groups off the path are shared
    assert with_field(base, "seed", 5)["seed"] == 5 and base["seed"] == 0
    with pytest.raises(ValueError, match=r"runs\[0\]: unknown config field 'loss.hparams.p'"):
        with_field(base, "loss.hparams.p", 1.0, where="runs[0]")
