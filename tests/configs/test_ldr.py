"""configs/paper/ldr_icml2023.py: the LDR paper's table as a grid, and its cells' configs."""

import math
from collections import Counter

import pytest

from configs.paper import ldr_icml2023 as ldr
from robustloss.sweep import cell_arg
from robustloss.training import default_config, validate_config

HAS_FOLDS = "num_folds" in default_config().dataset and "before_split" in default_config().noise
PROTOCOL = "" if HAS_FOLDS else "protocol=approx,"


def _resolve(dataset, cell):
    return ldr.get_config(f"{dataset},{PROTOCOL}{cell_arg(cell)}")


def test_the_table_grid_has_every_loss_setting_and_fold():
    grid = ldr.get_sweep("letter")
    # 15 losses with the code's grids: 1+3+3+1+1+3+3+3+3+3+3+3+3+1+1 = 35 per setting and fold.
    assert len(grid) == 35 * 7 * 5
    per_loss = Counter(c["loss"] for c in grid)
    assert len(per_loss) == 15
    assert per_loss["ce"] == per_loss["mae"] == per_loss["ldr_kl"] == 35
    assert per_loss["gce"] == per_loss["nce_rce"] == 3 * 35
    assert Counter(c["setting"] for c in grid)["cd50"] == 35 * 5
    assert sorted({c["fold"] for c in grid}) == [0, 1, 2, 3, 4]
    assert len(ldr.get_sweep("vowel,lam_grid=0.1/1/10")) == 39 * 7 * 5  # the 1,365
    assert len({cell_arg(c) for c in grid}) == len(grid)  # no duplicate cells


def test_cells_resolve_to_the_code_protocol():
    grid = ldr.get_sweep("letter")
    pick = {
        (c["loss"], c["setting"], c["fold"]): c
        for c in grid
        if c["fold"] in (0, 3) and c["setting"] in ("u60", "cd30", "clean")
    }
    c = _resolve("letter", pick[("nce_rce", "u60", 3)])
    validate_config(c)
    h = c.loss.hparams
    assert h.alpha + h.beta == pytest.approx(10.0) and h.A == pytest.approx(math.log(1e-4))
    assert (c.noise.kind, c.noise.rate, c.noise.mode, c.noise.seed) == (
        "uniform",
        0.6,
        "ldr_code",
        123,
    )
    assert (c.model.name, c.model.hidden, c.batch_size, c.num_epochs) == ("ffnn", 0, 64, 100)
    o = c.optimizer
    assert (o.name, o.lr, o.momentum, o.weight_decay) == ("sgd", 1e-3, 0.9, 5e-3)
    assert tuple(o.decay_epochs) == (50, 75) and o.schedule == "step" and not c.shuffle
    assert c.dataset.split == "ldr" and c.dataset.scale == "minmax"
    if HAS_FOLDS:
        assert (c.dataset.num_folds, c.dataset.fold, c.noise.before_split) == (5, 3, True)
    else:
        assert c.dataset.split_seed == 3 and c.dataset.val_fraction == 0.2

    d = _resolve("letter", pick[("ldr_kl", "cd30", 0)])
    assert (d.noise.kind, d.noise.rate, d.noise.class_map) == ("pair", 0.3, "letter")
    assert dict(d.loss.hparams) == {"lam": 10.0, "margin": 0.1, "score_norm": "softplus_mean"}
    a = _resolve("letter", pick[("aldr_kl", "clean", 0)])
    assert a.noise.kind == "clean" and a.loss.hparams.score_norm == "l1"
    assert a.loss.hparams.lam0 == 10.0 and a.loss.hparams["update"] == "code"
    sce = [x for x in grid if x["loss"] == "sce" and x["setting"] == "u60" and x["fold"] == 0]
    s = [_resolve("letter", x) for x in sce]
    assert sorted(x.loss.hparams.beta for x in s) == [0.05, 0.5, 0.95]
    assert all(x.loss.hparams.alpha + x.loss.hparams.beta == 1.0 for x in s)


@pytest.mark.parametrize(
    "dataset, model, epochs, class_map, metric",
    [
        ("vowel", "ffnn", 100, "vowel", "val/top1"),
        ("news20", "ffnn", 100, "news20", "val/top1"),
        ("cifar100", "resnet18", 30, "next", "val/top1"),
        ("kuzushiji49", "resnet18", 30, "next", "val/balanced_acc"),
    ],
)
def test_each_dataset_has_its_protocol(dataset, model, epochs, class_map, metric):
    c = ldr.get_config(f"{dataset},{PROTOCOL}setting=cd10")
    assert (c.model.name, c.num_epochs, c.noise.class_map, c.select_metric) == (
        model,
        epochs,
        class_map,
        metric,
    )
    assert tuple(c.optimizer.decay_epochs) == ((50, 75) if epochs == 100 else (10, 20))
    validate_config(c)


def test_bad_special_keys_fail_with_the_choices():
    with pytest.raises(ValueError, match="u60"):
        ldr.get_config("letter,setting=u50")
    with pytest.raises(ValueError, match="fold=5"):
        ldr.get_config("letter,fold=5")
    with pytest.raises(ValueError, match="vowel"):
        ldr.get_config("iris")
    if not HAS_FOLDS:
        with pytest.raises(ValueError, match="protocol=approx"):
            ldr.get_config("letter")


def test_demo_sweep_is_seven_losses_times_three_seeds_in_seven_programs():
    from configs import demo
    from robustloss.sweep import cells_from_grid

    cells = cells_from_grid(demo.get_config, demo.get_sweep("letter"), "letter")
    assert len(cells) == 21
    configs = [demo.get_config("letter," + cell_arg(g)) for g in demo.get_sweep("letter")]
    assert {c.loss.name for c in configs} >= {"ce", "gce", "ldr_kl", "aldr_kl", "nce_rce"}
    assert all(c.noise.rate == 0.6 and c.dataset.name == "letter" for c in configs)
    assert demo.get_config("digits").dataset.name == "digits"
