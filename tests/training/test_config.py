"""The run config's component fields: each default comes from its table's Option, once."""

import numpy as np
import pytest

from robustloss.data import DATASETS
from robustloss.data import _sources as sources
from robustloss.models import FFNN, MODELS, LeNet5, ResNet
from robustloss.options import Entry, Option, option_default
from robustloss.training import default_config, validate_config
from robustloss.training.build import load_run_data

# The component groups of `default_config()` as the code wrote them out by hand before the
# defaults moved onto the tables' options (main at 0ce92cf, plus the real-noise datasets' fields
# and the streaming pipeline's fields as those branches wrote them), value and type.
BEFORE = {
    "dataset": {
        "data_dir": "", "download": False, "fold": 0, "fold_mode": "contiguous", "max_test": 0,
        "max_train": 0, "name": "digits", "num_folds": 0, "path": "", "scale": "",
        "split": "last", "split_seed": 0, "test_path": "", "test_rows": 4000,
        "val_fraction": 0.0, "pipeline": "memory", "label_set": "", "label_file": "",
        "partial": False, "image_size": 0, "eval_path": "", "train_set": "", "test_set": "",
        "root": "", "bad_images": "fail", "mean": (), "std": (), "data_seed": 0, "workers": 0,
        "threads": 4, "prefetch": 2,
    },
    "model": {
        "dtype": "float32", "hidden": 0, "init": "kaiming_fan_out", "init_path": "",
        "name": "ffnn", "stem": "cifar", "width": 64,
    },
    "noise": {
        "before_split": False, "class_map": "", "kind": "symmetric", "labels_column": -1,
        "labels_key": "", "labels_path": "", "mode": "ours", "noisy_val": True, "rate": 0.0,
        "sampling": "exact", "seed": -1,
    },
    "transition": {
        "alpha": 10.0, "anchor_variant": "noisy_class", "cycle_classifier_losses": True,
        "cycle_weight": 0.3, "estimator": "true", "normalize": True, "num_draws": 0,
        "paper_code_compat": False, "quantile": 0.97, "ratio": 1.0, "t_lr": 0.001,
        "t_optimizer": "auto", "tv_weight": 0.1, "use": "none", "volmin_lambda": 0.0001,
        "warmup_epochs": -1,
    },
}  # fmt: skip


@pytest.mark.parametrize("group", sorted(BEFORE))
def test_component_fields_are_unchanged_field_by_field(group):
    now = default_config()[group].to_dict()
    assert now == BEFORE[group]
    assert {k: type(v) for k, v in now.items()} == {k: type(v) for k, v in BEFORE[group].items()}


def test_every_model_and_dataset_option_is_a_field_with_the_tables_default():
    c = default_config()
    for group, table in (("model", MODELS), ("dataset", DATASETS)):
        for entry in table.values():
            for name, option in entry.options.items():
                assert c[group][name] == option.default == option_default(table, name)
    # The nets' own attribute defaults are the same options' defaults.
    assert FFNN.hidden == option_default(MODELS, "hidden")
    assert ResNet.width == option_default(MODELS, "width")
    assert ResNet.stem == option_default(MODELS, "stem")
    assert LeNet5.conv_init == option_default(MODELS, "init")


def test_option_default_refuses_an_option_with_two_defaults():
    table = {"a": Entry(int, "a", {"k": Option(1)}), "b": Entry(int, "b", {"k": Option(2)})}
    with pytest.raises(ValueError, match=r"option 'k' has the defaults \['1', '2'\]"):
        option_default(table, "k")
    with pytest.raises(ValueError, match=r"option 'j' has the defaults \[\]"):
        option_default(table, "j")


def _tiny(name, args):
    """A throwaway dataset: the first ``rows`` rows of a fixed 40-row table."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype(np.float32), np.arange(40) % 2
    n = args.options["rows"]
    return sources.Raw(x[:n], y[:n], x[30:], y[30:], 2, ("a", "b"), "tiny", "tabular")


def test_a_dataset_with_its_own_option_is_one_table_entry(monkeypatch):
    """Adding a dataset (with an option) needs its entry only: the loader's keyword, the config
    field, its check and its passing from the config to the source come with it."""
    from robustloss.data import load_dataset

    validate_config(default_config())  # a schema seen before the entry must not stick
    entry = Entry(_tiny, "throwaway", {"rows": Option(20, low=4, high=30, integer=True)})
    monkeypatch.setitem(DATASETS, "tiny", entry)
    assert len(load_dataset("tiny").y_train) == 20
    assert len(load_dataset("tiny", rows=8).y_train) == 8
    with pytest.raises(ValueError, match=r"dataset 'tiny'.rows=2 is out of range"):
        load_dataset("tiny", rows=2)
    c = default_config()
    assert c.dataset.rows == 20
    c.dataset.name, c.dataset.rows = "tiny", 12
    validate_config(c)
    assert len(load_run_data(c).y_train) == 12
    c.dataset.rows = 31
    with pytest.raises(ValueError, match=r"config.dataset.rows=31 is out of range"):
        validate_config(c)
