"""The LDR authors' Letter split (``dataset.split="ldr"``), shipped as UCI row numbers."""

import importlib.util

import numpy as np
import pytest

from robustloss.data import _mlbench, load_dataset
from tests import ROOT, shared_data

try:
    _mlbench.find_mlbench_file("letter")
    _MISSING = ""
except FileNotFoundError as e:
    _MISSING = str(e)
needs_mlbench = pytest.mark.skipif(
    bool(_MISSING), reason=f"mlbench absent (`make data`): {_MISSING}"
)


def _tool():
    spec = importlib.util.spec_from_file_location(
        "ldr_split", ROOT / "tools" / "ldr_letter_split.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_shipped_rows_are_a_split():
    rows = _mlbench.ldr_letter_test_rows()
    assert rows.shape == (2000,) and len(np.unique(rows)) == 2000
    assert 0 <= rows.min() and rows.max() < 20000
    # Spread over the file, not the last 2,000 rows (178 of them are there).
    assert int((rows >= 18000).sum()) == 178 and rows.min() < 100
    tr, te, _ = _mlbench.letter_split(20000, "ldr", 4000)
    np.testing.assert_array_equal(te, rows)
    assert len(tr) == 18000 and np.all(np.diff(tr) > 0) and not set(tr) & set(te)


def test_split_errors():
    with pytest.raises(
        ValueError, match=r"split='shuffled' is not valid; choose one of \['last', 'ldr'\]"
    ):
        _mlbench.letter_split(20000, "shuffled", 2000)
    with pytest.raises(ValueError, match="20000 rows"):
        _mlbench.letter_split(500, "ldr", 2000)


def test_derivation_rebuilds_the_authors_file():
    """The shipped rows are what the tool derives, and they rebuild the npz exactly."""
    z = np.load(shared_data("ldr_letter_test.npz"))
    if _MISSING:
        pytest.skip(f"mlbench absent: {_MISSING}")
    x, y, _ = _mlbench.letter_rda()
    rows = _mlbench.ldr_letter_test_rows()
    # Independent of the tool: the rows' features (x/15*2-1 at %g precision) and letters.
    np.testing.assert_allclose(x[rows] / 15 * 2 - 1, z["arr_0"], rtol=0, atol=5e-7)
    np.testing.assert_array_equal(np.eye(26)[y[rows]], z["arr_1"])
    np.testing.assert_array_equal(_tool().derive_rows(x, y, z["arr_0"], z["arr_1"]), rows)
    # Identical UCI rows: each test row takes the first unused one, so no row is used twice and
    # a duplicated row's later copies stay in training.
    assert len(set(rows.tolist())) == 2000


def test_derive_rows_ties_take_the_first_unused():
    x = np.array([[1] * 16, [2] * 16, [1] * 16, [1] * 16], float)
    y = np.array([0, 1, 0, 0])
    xt = np.array([[1] * 16, [1] * 16, [2] * 16], float) / 15 * 2 - 1
    onehot = np.eye(26)[[0, 0, 1]]
    np.testing.assert_array_equal(_tool().derive_rows(x, y, xt, onehot), [0, 2, 1])
    with pytest.raises(ValueError, match="no unused"):
        _tool().derive_rows(x, y, np.concatenate([xt, xt[:1], xt[:1]]), np.eye(26)[[0, 0, 1, 0, 0]])


@needs_mlbench
def test_load_letter_ldr_split():
    x, y, _ = _mlbench.letter_rda()
    rows = _mlbench.ldr_letter_test_rows()
    ds = load_dataset("letter", split="ldr")
    np.testing.assert_array_equal(ds.x_test, x[rows])
    np.testing.assert_array_equal(ds.y_test, y[rows])
    keep = np.setdiff1d(np.arange(20000), rows)
    np.testing.assert_array_equal(ds.x_train, x[keep])
    np.testing.assert_array_equal(ds.y_train, y[keep])
    assert "LDR authors" in ds.meta["split"]
    with pytest.raises(ValueError, match="test_rows=2000 is not used by split='ldr'"):
        load_dataset("letter", split="ldr", test_rows=2000)


@needs_mlbench
def test_paper_config_tests_on_the_authors_rows():
    """The paper config with no files given: its test set is ``letter_test.npz`` row for row."""
    z = np.load(shared_data("ldr_letter_test.npz"))
    from configs.paper import ldr_icml2023
    from robustloss.training.build import load_run_data

    c = ldr_icml2023.get_config("letter,setting=cd30,loss=ce,fold=0")
    assert c.dataset.split == "ldr" and not c.dataset.path
    data = load_run_data(c)
    np.testing.assert_allclose(np.asarray(data.x_test), z["arr_0"], rtol=0, atol=5e-7)
    np.testing.assert_array_equal(np.asarray(data.y_test), z["arr_1"].argmax(1))
