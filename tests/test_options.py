"""The one registry pattern (robustloss.options) and its promise: unknown options raise."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from robustloss.options import Entry, Option, describe, lookup, resolve


def test_option_ranges_and_choices_name_path_value_and_bounds():
    Option(0.5, low=0.0, high=1.0, low_open=True).validate("p", 1.0)
    with pytest.raises(ValueError, match=r"p=0\.0 is out of range; it must be in \(0, 1\]"):
        Option(0.5, low=0.0, high=1.0, low_open=True).validate("p", 0.0)
    with pytest.raises(ValueError, match=r"n=1\.5 is out of range; it must be an int >= 0"):
        Option(0, low=0, integer=True).validate("n", 1.5)
    with pytest.raises(ValueError, match="out of range"):
        Option(0.1, low=0.0).validate("x", float("nan"))
    with pytest.raises(ValueError, match="out of range"):
        Option(0.1, low=0.0).validate("x", True)  # a bool is not a number here
    with pytest.raises(ValueError, match=r"s='c' is not valid; choose one of \['a', 'b'\]"):
        Option("a", choices=("a", "b")).validate("s", "c")


def test_lookup_resolve_describe():
    table = {"e": Entry(dict, "makes a dict", {"k": Option(1, low=0)})}
    assert lookup(table, "e", "thing") is table["e"]
    with pytest.raises(ValueError, match=r"unknown thing 'f'; choose one of \['e'\]"):
        lookup(table, "f", "thing")
    assert resolve(table["e"], {}, "e") == {"k": 1}
    assert resolve(table["e"], {"k": 3}, "e") == {"k": 3}
    with pytest.raises(ValueError, match=r"e\.k=-1 is out of range"):
        resolve(table["e"], {"k": -1}, "e")
    assert describe(table) == {"e": "makes a dict"}


def _unknown_names():
    """Every family's name lookup, called with a name that is not in its table."""
    import robustloss
    from robustloss.noise import add_noise, class_map, superclass_map

    return {
        "loss": lambda: robustloss.get_loss("nope"),
        "noise kind": lambda: add_noise([0, 1], num_classes=2, kind="nope", rate=0.1),
        "class map": lambda: class_map("nope", 10),
        "superclass map": lambda: superclass_map("nope"),
    }


@pytest.mark.parametrize("what", ["loss", "noise kind", "class map", "superclass map"])
def test_every_library_family_looks_names_up_through_lookup(what):
    """One message format for an unknown name in every family (`options.lookup`)."""
    with pytest.raises(ValueError, match=rf"^unknown {what} 'nope'; choose one of \['"):
        _unknown_names()[what]()


@pytest.mark.harness  # models, data, training
@pytest.mark.parametrize("what", ["model", "dataset", "optimizer", "optimizer ", "schedule"])
def test_every_harness_family_looks_names_up_through_lookup(what):
    """The same format for the harness tier's families."""
    from robustloss.data import load_dataset
    from robustloss.models import get_model
    from robustloss.training.optim import make_optimizer, make_run_optimizer, make_schedule

    calls = {
        "model": lambda: get_model("nope", 3),
        "dataset": lambda: load_dataset("nope"),
        "optimizer": lambda: make_optimizer("nope", make_schedule(0.1)),
        "optimizer ": lambda: make_run_optimizer("nope", 0.1, make_schedule(1.0)),
        "schedule": lambda: make_schedule(0.1, schedule="nope"),
    }
    with pytest.raises(ValueError, match=rf"^unknown {what.strip()} 'nope'; choose one of \['"):
        calls[what]()


@pytest.mark.harness  # data and models
def test_misspelt_options_raise_everywhere_in_the_public_api():
    """Issue 9, item 7: a misspelt keyword is never swallowed."""
    from robustloss import get_loss
    from robustloss.data import load_dataset
    from robustloss.models import get_model
    from robustloss.noise import add_noise
    from robustloss.transition import TransitionOptions, make_objective

    y = np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"\['classmap'\].*'class_map'"):
        add_noise(y, num_classes=3, kind="pair", rate=0.2, classmap=[1, 2, 0])
    with pytest.raises(ValueError, match=r"\['class_map'\].*symmetric"):
        add_noise(y, num_classes=3, kind="symmetric", rate=0.2, class_map=[1, 2, 0])
    with pytest.raises(ValueError, match=r"\['include_true'\].*rent_code"):
        add_noise(y, num_classes=3, kind="pair", rate=0.2, mode="rent_code", include_true=True)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['hiden'\].*'hidden'"):
        get_model("ffnn", 3, hiden=4)
    with pytest.raises(ValueError, match=r"\['alhpa'\].*'alpha'"):
        make_objective(num_classes=3, use="dws", alhpa=1.0)
    with pytest.raises(ValueError, match=r"\['alhpa'\]"):
        TransitionOptions.from_mapping({"alhpa": 1.0})
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['qq'\] for loss 'gce'"):
        get_loss("gce", qq=0.5)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['val_fractoin'\] for dataset"):
        load_dataset("digits", val_fractoin=0.1)
    with pytest.raises(ValueError, match=r"\['test_rows'\] for dataset 'digits'; valid: \[\]"):
        load_dataset("digits", test_rows=10)  # an option of another dataset (letter)
    # The valid spelling still works and is used.
    out = add_noise(np.arange(30) % 3, num_classes=3, kind="pair", rate=0.5, class_map=[2, 0, 1])
    assert set(zip((np.arange(30) % 3)[out.is_noisy], out.labels[out.is_noisy], strict=True)) <= {
        (0, 2),
        (1, 0),
        (2, 1),
    }


@pytest.mark.harness  # every module's doctests, the harness and study tiers' too
def test_every_module_doctests_pass():
    """``pytest --doctest-modules robustloss`` covers every module (run in a child: cheap)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--doctest-modules",
            "robustloss",
        ],
        capture_output=True,
        text=True,
        cwd=pathlib.Path(__file__).resolve().parents[1],
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
