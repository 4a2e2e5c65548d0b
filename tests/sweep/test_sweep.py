"""Tests of robustloss.sweep: grids, cells, packing plan, driver (resume, failures, progress).

Driver tests use a fake task function (no training) so they are cheap; test_sweep_train.py
checks real programs against standalone runs.
"""

import json
import os

import ml_collections
import pytest
from absl import flags
from ml_collections import config_flags

from configs import test as test_config
from robustloss.sweep import (
    cell_arg,
    cells_from_grid,
    load_cells,
    plan_programs,
    product,
    results,
    run_sweep,
    zip,
)
from robustloss.sweep.executors import InlineExecutor
from tests import ROOT as _ROOT

ROOT = str(_ROOT)


def _cells(grid, arg=None):
    return cells_from_grid(test_config.get_config, grid, arg)


# ---------------------------------------------------------------- grids and cells


def test_product_and_zip():
    assert product(loss=["ce", "mae"], seed=[0, 1]) == [
        {"loss": "ce", "seed": 0},
        {"loss": "ce", "seed": 1},
        {"loss": "mae", "seed": 0},
        {"loss": "mae", "seed": 1},
    ]
    grid = product(zip(loss=["ce", "gce"], q=[None, 0.5]), rate=[0.2])
    assert grid == [{"loss": "ce", "rate": 0.2}, {"loss": "gce", "q": 0.5, "rate": 0.2}]
    with pytest.raises(ValueError, match="equal length"):
        zip(loss=["ce", "gce"], q=[0.5])
    with pytest.raises(ValueError, match=r"\['seed'\]"):
        product(product(seed=[0]), seed=[1])
    with pytest.raises(ValueError, match="must be a list"):
        product(loss="ce")
    with pytest.raises(ValueError, match="cannot be written"):
        cell_arg({"optimizer.decay_epochs": (1, 2)})


def _main_config(arg):
    """The config ``experiments.main --config configs/test.py:<arg>`` trains."""
    fv = flags.FlagValues()
    holder = config_flags.DEFINE_config_file("config", None, "", flag_values=fv)
    fv(["prog", f"--config={os.path.join(ROOT, 'configs', 'test.py')}:{arg}"])
    return holder.value


def test_cell_is_the_same_run_as_experiments_main():
    cell = {"loss": "gce", "q": 0.5, "rate": 0.4, "optimizer.momentum": 0.8, "augment": False}
    (c,) = _cells([cell])
    assert c.arg == "loss=gce,q=0.5,rate=0.4,optimizer.momentum=0.8,augment=false"
    main = _main_config(c.arg)
    assert json.loads(main.to_json_best_effort()) == c.config_json
    assert c.config["loss"]["hparams"]["q"] == 0.5 and c.config["noise"]["rate"] == 0.4


def test_cell_ids_are_stable_and_ignore_progress_fields():
    a, b = _cells([{"seed": 0}, {"seed": 1}])
    assert a.id != b.id and _cells([{"seed": 0}])[0].id == a.id
    quiet = _cells([{"seed": 0, "progress": "none", "checkpoint_every": 5}])[0]
    assert quiet.id == a.id and quiet.config_json != a.config_json
    # The same run twice in a grid is one cell.
    assert [c.id for c in _cells([{"seed": 0}, {"seed": 0, "progress": "none"}])] == [a.id]


def test_bad_cells_name_the_cell():
    with pytest.raises(ValueError, match=r"cell \{'losss': 'ce'\}.*neither short keys"):
        _cells([{"losss": "ce"}])
    with pytest.raises(ValueError, match="one run"):
        _cells([{"seeds": "0/1"}])
    with pytest.raises(ValueError, match="config.noise.rate"):
        _cells([{"rate": 1.5}])


def test_grid_values_of_the_wrong_type_name_the_cell_and_field():
    with pytest.raises(ValueError, match=r"cell \{'rate': nan\} \(grid index 0, field 'rate'\)"):
        _cells([{"rate": float("nan")}])
    with pytest.raises(
        ValueError,
        match=r"cell \{'seed': 1, 'lr': 'fast'\} \(grid index 1, field 'lr' = 'fast'\): "
        r"TypeError: Could not override field 'lr'",
    ):
        _cells([{"seed": 0}, {"seed": 1, "lr": "fast"}])
    with pytest.raises(ValueError, match=r"cell \{'seed': 18446744073709551616\}.*config.seed"):
        _cells([{"seed": 2**64}])


@pytest.mark.parametrize(
    "body, match",
    [
        ("return None", r"returned None; it must return a list of cells.*missing return"),
        ("return {'loss': 'ce'}", r"returned one dict \(\{'loss': 'ce'\}\).*wrap one cell"),
        ("return 'loss=ce'", r"returned 'loss=ce'; it must return a list of cells"),
        ("return []", r"returned no cells"),
    ],
)
def test_get_sweep_returning_no_list_says_so(tmp_path, body, match):
    path = tmp_path / "grid.py"
    path.write_text(
        "from configs import test\n\n"
        "def get_config(arg=None):\n    return test.get_config(arg)\n\n"
        f"def get_sweep(arg=None):\n    {body}\n"
    )
    with pytest.raises(ValueError, match=match):
        load_cells(str(path))


def test_load_cells_from_config_file():
    cells = load_cells(os.path.join(ROOT, "configs", "test.py") + ":epochs=1")
    assert len(cells) == 12 and all(c.config["num_epochs"] == 1 for c in cells)
    with pytest.raises(ValueError, match="defines no get_sweep"):
        load_cells(os.path.join(ROOT, "configs", "digits.py"))


# ---------------------------------------------------------------- packing plan


def _groups(programs):
    return [sorted(c.arg for c in p.cells) for p in programs]


def test_packing_plan_for_a_mixed_grid():
    grid = (
        product(loss=["ce"], seed=[0, 1, 2])  # seeds pack
        + product(loss=["gce"], q=[0.5, 0.9], seed=[0, 1])  # seed x q pack together
        + product(loss=["aldr_kl"], alpha=[2.0, 3.0])  # stateful: its hparams pack too
        + product(transition=["forward"], seed=[0, 1])  # transition: seeds pack
        + product(loss=["gce"], q=[0.5, 0.9], transition=["forward"])  # not its loss's hparams
        + [{"loss": "gce", "q": 0.5, "seed": 0, "model.hidden": 16}]  # other shape: own program
    )
    programs = plan_programs(_cells(grid))
    assert _groups(programs) == [
        ["loss=ce,seed=0", "loss=ce,seed=1", "loss=ce,seed=2"],
        [f"loss=gce,q={q},seed={s}" for q in (0.5, 0.9) for s in (0, 1)],
        ["loss=aldr_kl,alpha=2.0", "loss=aldr_kl,alpha=3.0"],
        ["transition=forward,seed=0", "transition=forward,seed=1"],
        ["loss=gce,q=0.5,transition=forward"],
        ["loss=gce,q=0.9,transition=forward"],
        ["loss=gce,q=0.5,seed=0,model.hidden=16"],
    ]
    gce = programs[1]
    # config.runs is the one encoding: run r holds cell r's values of the varying fields.
    assert gce.config["runs"] == tuple(
        {"seed": c.config["seed"], "loss.hparams.q": c.config["loss"]["hparams"]["q"]}
        for c in gce.cells
    )
    assert gce.varying == {"seed": ("seed",), "loss_hparam": ("loss.hparams.q",)}
    assert programs[-1].num_runs == 1 and programs[-1].config["runs"] == ()
    for p in programs:  # the removed encodings appear nowhere
        assert "seeds" not in p.config and "sweep_values" not in p.config["loss"]
    # Deterministic: the same cells give the same programs and ids.
    assert [p.id for p in plan_programs(_cells(grid))] == [p.id for p in programs]
    # Another lr and another noise rate now join the gce program (per-run fields).
    more = grid + [
        {"loss": "gce", "q": 0.5, "seed": 0, "lr": 0.1},
        {"loss": "gce", "q": 0.5, "seed": 0, "rate": 0.4},
    ]
    programs = plan_programs(_cells(more))
    gce = programs[1]
    assert len(programs) == 7 and gce.num_runs == 6
    assert gce.varying == {
        "seed": ("seed",),
        "labels": ("noise.rate",),
        "loss_hparam": ("loss.hparams.q",),
        "optimizer": ("optimizer.lr",),
    }
    assert [r["optimizer.lr"] for r in gce.config["runs"]] == [0.01] * 4 + [0.1, 0.01]
    assert [r["noise.rate"] for r in gce.config["runs"]] == [0.2] * 5 + [0.4]


def test_several_varying_hyperparameters_pack_into_one_program():
    # Before per-run fields, alpha and beta split into 2 programs of 3; now both are traced.
    grid = product(loss=["sce"], alpha=[0.1, 0.5], beta=[1.0, 2.0, 4.0])
    (prog,) = plan_programs(_cells(grid))
    assert prog.num_runs == 6
    assert prog.varying == {"loss_hparam": ("loss.hparams.alpha", "loss.hparams.beta")}
    assert [r["loss.hparams.alpha"] for r in prog.config["runs"]] == [0.1] * 3 + [0.5] * 3


def test_noise_draws_kinds_rates_lr_and_folds_pack():
    """Every field of RUN_FIELDS packs, with a noisy validation split too (labels are per run)."""
    from robustloss.training.runs import plan_runs

    grid = product(
        noise=["symmetric", "uniform"],
        rate=[0.2, 0.4],
        lr=[0.01, 0.003],
        **{"noise.seed": [3, 5]},
    )
    (prog,) = plan_programs(_cells(grid))
    assert prog.num_runs == 16 and set(prog.varying) == {"labels", "optimizer"}
    plan = plan_runs(ml_collections.ConfigDict(prog.config))
    for r, c in enumerate(prog.cells):  # run r of the program is exactly cell r
        assert plan.run_config(r).to_dict() == {**c.config, "progress": "none"}
    folds = "dataset.val_fraction=0.0,dataset.num_folds=5"
    (prog,) = plan_programs(_cells(product(**{"dataset.fold": range(5)}), folds))
    assert prog.num_runs == 5 and prog.varying == {"fold": ("dataset.fold",)}
    # Without k-fold CV configured the fold is no axis; a label file is one fixed draw.
    assert len(plan_programs(_cells(product(q=[0.5, 0.9]), "loss=gce,noise=idn"))) == 1
    # With a transition method: noise draws (each run gets its own true T) and lr pack; the
    # loss hyperparameters do not (the transition objective closes over them).
    forward = "dataset.val_fraction=0.0,transition=forward"
    idn = plan_programs(
        _cells(product(**{"noise.seed": [0, 1]}, lr=[0.01, 0.1]), forward + ",noise=idn")
    )
    assert [p.num_runs for p in idn] == [4]
    gce = plan_programs(_cells(product(q=[0.5, 0.9]), forward + ",loss=gce"))
    assert [p.num_runs for p in gce] == [1, 1]


def test_max_pack_splits_evenly():
    cells = _cells(product(seed=range(7)))
    assert [p.num_runs for p in plan_programs(cells, max_pack=3)] == [3, 2, 2]
    with pytest.raises(ValueError, match="max_pack"):
        plan_programs(cells, max_pack=0)


# ---------------------------------------------------------------- driver with a fake task


class FakeTask:
    """Stands in for run_program: 2 epochs of made-up metrics per cell; can fail cells."""

    def __init__(self, bad=()):
        self.bad, self.calls = set(bad), []

    def __call__(self, task):
        self.calls.append(list(task["cell_ids"]))
        if self.bad & set(task["cell_ids"]):
            return {
                "program_id": task["program_id"],
                "status": "failed",
                "error": "NonFiniteLossError: non-finite training loss at epoch 0",
                "cells": [],
                "wall": 0.0,
            }
        cells = []
        for i, cid in enumerate(task["cell_ids"]):
            hist = [{"epoch": e, "test/top1": 0.1 * e + 0.01 * i} for e in (1, 2)]
            summary = {"final": hist[-1], "num_epochs": 2, "complete": True}
            cells.append({"id": cid, "history": hist, "summary": summary})
        return {"program_id": task["program_id"], "status": "done", "cells": cells, "wall": 1.0}


def _run(cells, wd, fake, **kw):
    lines = []
    rep = run_sweep(cells, wd, executor=InlineExecutor(fake), log=lines.append, tty=False, **kw)
    return rep, lines


def test_failing_cell_is_recorded_and_the_sweep_goes_on(tmp_path):
    wd = str(tmp_path)
    cells = _cells(product(seed=[0, 1, 2]) + [{"loss": "mae"}])
    bad = cells[1].id
    fake = FakeTask(bad=[bad])
    rep, lines = _run(cells, wd, fake)
    assert rep["done"] == 3 and rep["failed"] == 1
    # The failing pack was re-run cell by cell; only the bad cell failed.
    assert fake.calls[0] == [c.id for c in cells[:3]]
    assert sorted(map(tuple, fake.calls[1:])) == sorted([(c.id,) for c in cells])
    with open(os.path.join(wd, "cells", bad, "FAILED")) as f:
        assert "NonFiniteLossError" in json.load(f)["error"]
    assert not os.path.exists(os.path.join(wd, "cells", bad, "DONE"))
    assert any("FAILED" in x for x in lines)
    # A rerun trains nothing; --retry_failed re-runs only the failed cell.
    rep, lines = _run(cells, wd, FakeTask())
    assert rep["trained"] == 0 and "nothing to train" in lines[-1] and "retry_failed" in lines[-1]
    fake = FakeTask()
    rep, _ = _run(cells, wd, fake, retry_failed=True)
    assert fake.calls == [[bad]] and rep["failed"] == 0 and rep["done"] == 4
    assert os.path.exists(os.path.join(wd, "cells", bad, "DONE"))
    assert not os.path.exists(os.path.join(wd, "cells", bad, "FAILED"))


def test_finished_cells_are_never_redone_and_new_values_run_alone(tmp_path):
    wd = str(tmp_path)
    cells = _cells(product(seed=[0, 1]))
    _run(cells, wd, FakeTask())
    files = {}
    for c in cells:
        for name in ("config.json", "metrics.jsonl", "summary.json", "DONE"):
            p = os.path.join(wd, "cells", c.id, name)
            files[p] = (os.stat(p).st_mtime_ns, open(p).read())
    more = _cells(product(seed=[0, 1, 2, 3]))
    fake = FakeTask()
    rep, _ = _run(more, wd, fake)
    assert fake.calls == [[more[2].id, more[3].id]] and rep["trained"] == 2
    for p, (mtime, text) in files.items():
        assert os.stat(p).st_mtime_ns == mtime and open(p).read() == text
    assert sorted(results.load(wd)["cell_id"].unique()) == sorted(c.id for c in more)


def test_dry_run_prints_the_plan_and_trains_nothing(tmp_path):
    wd = str(tmp_path / "sweep")
    cells = _cells(product(zip(loss=["ce", "gce"], q=[None, 0.5]), seed=[0, 1]))
    fake = FakeTask()
    rep, lines = _run(cells, wd, fake, dry_run=True)
    text = "\n".join(lines)
    assert fake.calls == [] and not os.path.exists(wd)
    assert "2 program(s) (= compilations), 4 run(s), 8 run-epochs" in text
    assert "no timing measured" in text and text.count("  cell ") == 4
    _run(cells[:2], wd, fake)  # measured timing is then used for the estimate
    _, lines = _run(cells, wd, fake, dry_run=True)
    assert "s per run-epoch over" in lines[-1]


def test_progress_line_on_a_terminal(tmp_path, capsys):
    cells = _cells(product(seed=[0, 1]) + [{"loss": "mae"}])
    run_sweep(
        cells, str(tmp_path), executor=InlineExecutor(FakeTask()), tty=True, log=lambda s: None
    )
    out = capsys.readouterr().out
    assert "\r" in out and "cells 3/3 done, 0 running, 0 failed, 0 pending" in out
    assert "ETA" in out


def test_results_table_load_query_rebuild_and_sync(tmp_path):
    wd = str(tmp_path)
    cells = _cells(product(zip(loss=["ce", "gce"], q=[None, 0.5]), seed=[0, 1]))
    _run(cells, wd, FakeTask())
    df = results.load(wd)
    assert len(df) == 4 * 2 and {"cell_id", "loss.name", "noise.rate", "epoch"} <= set(df.columns)
    assert "loss.hparams.q" in df.columns and "test/top1" in df.columns
    gce = df[df["loss.name"] == "gce"]
    assert (
        set(gce["loss.hparams.q"]) == {0.5}
        and df[df["loss.name"] == "ce"]["loss.hparams.q"].isna().all()
    )
    q = results.query(
        wd,
        'SELECT "loss.name" AS loss, count(*) AS n, max("test/top1") AS best FROM results '
        "WHERE epoch = 2 GROUP BY 1 ORDER BY 1",
    )
    assert q["loss"].tolist() == ["ce", "gce"] and q["n"].tolist() == [2, 2]
    assert q["best"].tolist() == pytest.approx([0.21, 0.21])
    # A crash between the cell files and the table append loses nothing.
    before = results.load(wd).sort_values(["cell_id", "epoch"]).reset_index(drop=True)
    os.remove(os.path.join(wd, results.TABLE))
    rep, lines = _run(cells, wd, FakeTask())
    assert rep["trained"] == 0 and any("missing" in x for x in lines)
    after = results.load(wd).sort_values(["cell_id", "epoch"]).reset_index(drop=True)
    assert after[sorted(before.columns)].equals(before[sorted(before.columns)])
    assert results.rebuild(wd) == 8
    with pytest.raises(ValueError, match="not a sweep directory"):
        results.load(str(tmp_path / "nope"))


def test_cli_dry_run(tmp_path):
    import subprocess
    import sys

    wd = str(tmp_path / "sweep")
    out = subprocess.run(
        [sys.executable, "-m", "experiments.sweep", "--config", "configs/test.py:epochs=1"]
        + ["--workdir", wd, "--dry_run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "12 cells: 0 done, 0 failed, 12 to run" in out.stdout
    assert "2 program(s) (= compilations), 12 run(s), 12 run-epochs" in out.stdout  # rates pack
    assert not os.path.exists(wd)


def test_docs_examples_run(tmp_path):
    """The Python blocks of docs/sweeps.md run as written (the table on a fake sweep)."""
    import pathlib
    import re

    text = (pathlib.Path(ROOT) / "docs" / "sweeps.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    wd = str(tmp_path)
    _run(_cells(product(seed=[0, 1])), wd, FakeTask())
    for block in blocks:
        exec(compile(block.replace("/tmp/rl_sweep", wd), "docs/sweeps.md", "exec"), {})


def test_driver_appends_the_rows_it_holds_equal_to_the_rows_in_the_cell_files(
    tmp_path, monkeypatch
):
    """The driver appends each program's rows from the records it has just written into the
    cells (`results.append_records`): the same table, column order and types included, as
    reading them back from the cell files (`results.append`)."""
    import pandas as pd

    class Unsorted(FakeTask):  # metric keys out of order, a missing value (null) and an int
        def __call__(self, task):
            res = super().__call__(task)
            for c in res["cells"]:
                c["history"] = [
                    {"test/top1": r["test/top1"], "lr": None, "epoch": r["epoch"]} | {"steps": 3}
                    for r in c["history"]
                ]
            return res

    wd = str(tmp_path)
    cells = _cells(product(zip(loss=["ce", "gce"], q=[None, 0.5]), seed=[0, 1]))
    with monkeypatch.context() as m:  # the driver reads no cell file back
        m.setattr(results, "cell_rows", lambda *a: pytest.fail("read a cell's files back"))
        _run(cells, wd, Unsorted())
    from_records = results.load(wd)
    os.remove(os.path.join(wd, results.TABLE))
    for p in plan_programs(cells):  # the driver's order: program by program
        results.append(wd, [c.id for c in p.cells])
    pd.testing.assert_frame_equal(from_records, results.load(wd))
    assert len(from_records) == 8 and from_records["lr"].isna().all()


def test_results_table_stores_a_column_mixing_text_and_numbers(tmp_path):
    class Mixed(FakeTask):
        def __call__(self, task):
            res = super().__call__(task)
            for i, c in enumerate(res["cells"]):
                for r in c["history"]:
                    r["train/extra"] = "n/a" if i == 0 else 1.5
            return res

    _run(_cells(product(seed=[0, 1])), str(tmp_path), Mixed())
    df = results.load(str(tmp_path))
    assert sorted(set(df["train/extra"])) == ["1.5", "n/a"]


def test_rent_paper_grid_packs_its_seeds():
    cells = load_cells(os.path.join(ROOT, "configs", "paper", "rent_iclr2024.py") + ":fmnist_cpu")
    programs = plan_programs(cells)
    # The two noise settings (kind, rate, class map) pack too: 9 programs of 2 settings x 3 seeds.
    assert len(cells) == 54 and [p.num_runs for p in programs] == [6] * 9
    from robustloss.training.config import noise_seed

    for p in programs:  # each seed keeps its own noise draw (noise.seed = -1: the seed)
        assert [r["seed"] for r in p.config["runs"]] == [0, 1, 2] * 2
        assert p.config["noise"]["seed"] == -1
        seeds = [noise_seed(ml_collections.ConfigDict(c.config)) for c in p.cells]
        assert seeds == [0, 1, 2] * 2


def test_transition_options_pack_into_one_program():
    grid = product(transition=["dws"], **{"transition.alpha": [2.0, 10.0]}, seed=[0, 1])
    grid += product(transition=["dws"], **{"transition.ratio": [0.5]})  # a shape: own program
    programs = plan_programs(_cells(grid))
    assert [p.num_runs for p in programs] == [4, 1]
    assert programs[0].varying == {"seed": ("seed",), "transition_hparam": ("transition.alpha",)}
    runs = programs[0].config["runs"]
    assert [r["transition.alpha"] for r in runs] == [2.0, 2.0, 10.0, 10.0]
