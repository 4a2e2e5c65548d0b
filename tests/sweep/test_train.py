"""Sweeps with real training: packed = standalone numbers, kill and resume, a failing cell."""

import builtins
import json
import os

import ml_collections
import pytest

from configs import test as test_config
from robustloss.sweep import cells_from_grid, product, run_program, run_sweep, zip
from robustloss.sweep.executors import InlineExecutor
from robustloss.training import train

NOT_COMPARED = ("time", "elapsed")


def _cells(grid, arg="epochs=2"):
    return cells_from_grid(test_config.get_config, grid, arg)


def _read(d):
    with open(os.path.join(d, "metrics.jsonl")) as f:
        hist = [json.loads(x) for x in f]
    with open(os.path.join(d, "summary.json")) as f:
        summary = json.load(f)
    with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    return hist, summary, config


def _close(a, b, path=""):
    """Equal structure; floats equal to float32 rounding; timing fields skipped."""
    if isinstance(a, dict):
        keys = set(a) - set(NOT_COMPARED)
        assert keys == set(b) - set(NOT_COMPARED), path
        for k in keys:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(builtins.zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=2e-5, abs=1e-6), path
    else:
        assert a == b, path


def _same_examples(cell_dir, standalone):
    """The cell's examples.parquet (its run's rows of the program's file) is the standalone
    run's: labels exactly, the model's outputs to float32 rounding."""
    import numpy as np
    import pyarrow.parquet as pq

    got = pq.read_table(os.path.join(cell_dir, "examples.parquet")).to_pandas()
    want = pq.read_table(os.path.join(standalone, "examples.parquet")).to_pandas()
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    for col in ("index", "label", "clean_label", "noisy", "pred"):
        assert (got[col].to_numpy() == want[col].to_numpy()).all(), col
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-4, atol=1e-5)
    assert (got["flagged"] != want["flagged"]).sum() <= 2  # near-equal losses at the cut


def _sweep(cells, wd, fn=run_program, **kw):
    lines = []
    rep = run_sweep(cells, wd, executor=InlineExecutor(fn), log=lines.append, tty=False, **kw)
    return rep, lines


PACKED = {
    # one program vmapping seed, a loss hyperparameter and the noise draw at once
    "hparam": zip(loss=["gce", "gce"], q=[0.5, 0.9], seed=[0, 1], **{"noise.seed": [4, 5]}),
    # a transition method (1 CE warm-up epoch, then RENT resampling) over seeds and noise draws
    "transition": zip(
        transition=["rent"] * 2,
        **{"transition.warmup_epochs": [1, 1], "noise.seed": [0, 1]},
        seed=[3, 4],
    ),
    # noise rate + kind + lr + q + fold (3-fold CV, noise before the split) in one program
    "mixed": zip(
        loss=["gce"] * 3,
        q=[0.5, 0.9, 0.7],
        rate=[0.2, 0.4, 0.3],
        noise=["symmetric", "uniform", "symmetric"],
        lr=[0.01, 0.003, 0.02],
        **{"dataset.fold": [0, 1, 2]},
    ),
}
ARGS = {"mixed": ",dataset.num_folds=3,noise.before_split=True"}


@pytest.mark.parametrize("name", sorted(PACKED))
def test_packed_cells_equal_standalone_runs(tmp_path, name):
    grid = PACKED[name]
    arg = "epochs=2,dataset.val_fraction=0.0,dataset.max_train=600" + ARGS.get(name, "")
    cells = _cells(grid, arg)
    wd = str(tmp_path / "sweep")
    rep, _ = _sweep(cells, wd)
    assert rep["programs"] == 1 and rep["trained"] == len(cells)
    for c in cells:
        got = _read(os.path.join(wd, "cells", c.id))
        standalone = str(tmp_path / c.id)
        train(test_config.get_config(c.arg), standalone, log=lambda s: None)
        want = _read(standalone)
        assert got[2] == want[2]  # config.json
        _close(got[0], want[0])  # metrics.jsonl, one value per metric
        _close(got[1], want[1])  # summary.json
        assert isinstance(got[0][-1]["test/top1"], float)
        _same_examples(os.path.join(wd, "cells", c.id), standalone)
    assert os.listdir(os.path.join(wd, "packs")) == []  # a finished pack's workdir is removed


def test_killed_sweep_resumes_without_redoing_finished_cells(tmp_path):
    wd = str(tmp_path)
    cells = _cells(product(loss=["ce"], seed=[0]) + product(loss=["mae"], seed=[1, 2]))
    first, second = cells[0], cells[1:]
    seen = {}

    def killed_in_second_program(task):
        if task["cell_ids"] == [first.id]:
            return run_program(task)
        cfg = ml_collections.ConfigDict(task["config"])
        train(cfg, task["workdir"], stop_after=1, log=lambda s: None)
        raise KeyboardInterrupt  # the sweep is killed after one epoch of this program

    with pytest.raises(KeyboardInterrupt):
        _sweep(cells, wd, killed_in_second_program)
    done = os.path.join(wd, "cells", first.id)
    files = {n: os.stat(os.path.join(done, n)).st_mtime_ns for n in os.listdir(done)}
    assert "DONE" in files and not any(
        os.path.exists(os.path.join(wd, "cells", c.id)) for c in second
    )

    def resumed(task):
        seen["cells"] = task["cell_ids"]
        with open(os.path.join(task["workdir"], "metrics.jsonl")) as f:
            seen["before"] = [json.loads(x) for x in f]
        return run_program(task)

    rep, _ = _sweep(cells, wd, resumed)
    assert seen["cells"] == [c.id for c in second] and rep["trained"] == 2
    assert [r["epoch"] for r in seen["before"]] == [1]  # the pack resumed from its checkpoint
    assert {n: os.stat(os.path.join(done, n)).st_mtime_ns for n in os.listdir(done)} == files
    for r, c in enumerate(second):
        hist, summary, _ = _read(os.path.join(wd, "cells", c.id))
        assert [h["epoch"] for h in hist] == [1, 2] and summary["complete"]
        assert hist[0]["train/loss"] == seen["before"][0]["train/loss"][r]
    rep, lines = _sweep(cells, wd, resumed)
    assert rep["trained"] == 0 and "nothing to train" in lines[-1]


def test_a_failing_program_does_not_stop_the_others(tmp_path):
    wd = str(tmp_path)
    cells = _cells([{"seed": 0}, {"model": "lenet"}], "epochs=1")  # lenet needs 28x28 images
    rep, lines = _sweep(cells, wd)
    assert rep["done"] == 1 and rep["failed"] == 1
    with open(os.path.join(wd, "cells", cells[1].id, "FAILED")) as f:
        assert "needs 28x28 images" in json.load(f)["error"]
    assert os.path.exists(os.path.join(wd, "cells", cells[0].id, "DONE"))


def test_folds_that_cannot_share_a_program_are_replanned_per_fold(tmp_path):
    """TGCE refreshes from the whole training set, so folds of unequal size (301 rows in 3
    folds) cannot share a program: the runner re-plans the cells one program per fold (not one
    per cell), and each cell's numbers are those of its standalone run."""
    arg = (
        "epochs=1,loss=tgce,prune_start=1,prune_every=1,dataset.val_fraction=0.0,"
        "dataset.max_train=301,dataset.num_folds=3"
    )
    cells = _cells(product(**{"dataset.fold": [0, 1, 2]}, seed=[0, 1]), arg)
    rep, lines = _sweep(cells, str(tmp_path))
    assert rep["done"] == 6 and rep["failed"] == 0
    assert any("re-running its cells one program per fold" in s for s in lines), lines
    assert sum("2 cell(s) done" in s for s in lines) == 3, lines  # 3 programs of 2 seeds each
    c = cells[3]
    got = _read(os.path.join(str(tmp_path), "cells", c.id))
    train(test_config.get_config(c.arg), str(tmp_path / "alone"), log=lambda s: None)
    _close(got[0], _read(str(tmp_path / "alone"))[0])
