"""The sweep's bookkeeping: one table row per cell x epoch, and cells that never mix.

* The results table holds exactly one row per finished cell x epoch whatever happens to the
  sweep: cells appended again, cells re-trained (their old rows replaced, not kept beside the
  new ones), a sweep killed mid-way and resumed, a table that lags the cell directories.
* Two cells that differ in any field a run trains with (every field of the config but
  `robustloss.sweep.NOT_IN_ID`, gone through one by one, ``num_epochs`` included) have different
  ids, so a changed grid never finds an old cell "done", and never share a program's run: each
  run of a planned program is exactly its cell's config (decoded with the harness's own
  `robustloss.training.runs.RunPlan.run_config`), and different cells
  never share a program id (the pack directory holding its checkpoints).

Only the public API is used (`cells_from_grid`, `make_cell`, `plan_programs`, `run_sweep` with
an injected executor, `robustloss.sweep.results`); training is replaced by a fake task that
writes made-up metrics for every epoch, so the file runs in seconds.
"""

import copy
import json
import os

import ml_collections
import pytest

from configs import test as test_config
from robustloss.sweep import (
    NOT_IN_ID,
    cell_status,
    cells_from_grid,
    plan_programs,
    product,
    results,
    run_sweep,
)
from robustloss.sweep.cells import make_cell
from robustloss.sweep.executors import InlineExecutor
from robustloss.training.runs import plan_runs


def _cells(grid, arg="epochs=3"):
    return cells_from_grid(test_config.get_config, grid, arg)


class FakeTask:
    """Stands in for `run_program`: every epoch of every cell gets a made-up metric.

    ``value(attempt, cell position, epoch)`` is distinct for each, so a row left over from an
    earlier attempt shows. ``stop_after``: raise after that many programs (a killed driver).
    """

    def __init__(self, attempt=0, stop_after=None):
        self.attempt, self.stop_after, self.calls = attempt, stop_after, []

    @staticmethod
    def value(attempt, i, epoch):
        return 1000.0 * attempt + 10.0 * i + epoch

    def __call__(self, task):
        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            raise KeyboardInterrupt("driver killed")
        self.calls.append(list(task["cell_ids"]))
        n = int(task["config"]["num_epochs"])
        cells = []
        for i, cid in enumerate(task["cell_ids"]):
            hist = [
                {"epoch": e, "test/top1": self.value(self.attempt, i, e), "attempt": self.attempt}
                for e in range(1, n + 1)
            ]
            summary = {"final": hist[-1], "num_epochs": n, "complete": True}
            cells.append({"id": cid, "history": hist, "summary": summary})
        return {"program_id": task["program_id"], "status": "done", "cells": cells, "wall": 0.1}


def _sweep(cells, wd, fake, **kw):
    ex = InlineExecutor(fake)
    return run_sweep(cells, wd, executor=ex, log=lambda s: None, tty=False, **kw)


def _metrics(wd, cell_id):
    with open(os.path.join(wd, "cells", cell_id, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def _check_table(wd, cells):
    """The table has exactly one row per cell x epoch of ``cells``, each the cell's own record
    (every cell the table holds, not only the last grid's: ``all_cells``)."""
    df = results.load(wd, all_cells=True)
    assert not df.duplicated(["cell_id", "epoch"]).any(), "a cell x epoch appears twice"
    want = {c.id: c.config["num_epochs"] for c in cells}
    assert sorted(set(df["cell_id"])) == sorted(want)
    for cid, rows in df.groupby("cell_id"):
        assert sorted(rows["epoch"]) == list(range(1, want[cid] + 1)), cid
        got = {int(r["epoch"]): (r["test/top1"], r["attempt"]) for _, r in rows.iterrows()}
        for rec in _metrics(wd, cid):
            assert got[rec["epoch"]] == (rec["test/top1"], rec["attempt"]), cid
    return df


# ---------------------------------------------------------------- one row per cell x epoch


def test_appending_cells_again_keeps_one_row_per_cell_and_epoch(tmp_path):
    wd = str(tmp_path)
    cells = _cells(product(seed=[0, 1, 2]))
    _sweep(cells, wd, FakeTask())
    _check_table(wd, cells)
    ids = [c.id for c in cells]
    for again in ([ids[0]], ids, ids[1:], [ids[2], ids[0]]):
        assert results.append(wd, again) == 3 * 3
        _check_table(wd, cells)
    assert results.rebuild(wd) == 9
    _check_table(wd, cells)


def test_re_trained_cells_replace_their_rows(tmp_path):
    wd = str(tmp_path)
    cells = _cells(product(seed=[0, 1, 2]) + [{"loss": "mae"}])
    _sweep(cells, wd, FakeTask(attempt=0))
    # Two cells lose their DONE marker (a re-run trains every cell without DONE, docs/sweeps.md):
    # the re-run trains exactly them, and the table then has their new epochs only.
    again = [cells[1], cells[3]]
    for c in again:
        os.remove(os.path.join(wd, "cells", c.id, "DONE"))
    fake = FakeTask(attempt=1)
    rep = _sweep(cells, wd, fake)
    assert sorted(i for call in fake.calls for i in call) == sorted(c.id for c in again)
    assert rep["trained"] == 2
    df = _check_table(wd, cells)
    redone = df[df["cell_id"].isin({c.id for c in again})]
    assert set(redone["attempt"]) == {1} and len(redone) == 2 * 3
    assert set(df[~df["cell_id"].isin({c.id for c in again})]["attempt"]) == {0}


def test_retried_failed_cell_has_one_row_per_epoch(tmp_path):
    wd = str(tmp_path)
    cells = _cells(product(seed=[0, 1]))

    def fail_seed_1(task):
        if cells[1].id in task["cell_ids"]:
            return {
                "program_id": task["program_id"],
                "status": "failed",
                "error": "NonFiniteLossError: non-finite training loss at epoch 2",
                "cells": [],
                "wall": 0.0,
            }
        return FakeTask()(task)

    _sweep(cells, wd, fail_seed_1)
    assert cell_status(wd, cells[1].id) == "failed"
    _check_table(wd, cells[:1])
    _sweep(cells, wd, FakeTask(attempt=1), retry_failed=True)
    _check_table(wd, cells)


def test_killed_and_resumed_sweep_counts_every_epoch_once(tmp_path):
    wd = str(tmp_path)
    # Three programs: CE seeds, GCE seeds, one MAE cell.
    cells = _cells(product(loss=["ce"], seed=[0, 1]) + product(loss=["mae"], seed=[0]))
    cells += _cells(product(loss=["gce"], q=[0.5], seed=[0, 1]))
    assert len(plan_programs(cells)) == 3
    with pytest.raises(KeyboardInterrupt):
        _sweep(cells, wd, FakeTask(stop_after=1))
    first = [c for c in cells if cell_status(wd, c.id) == "done"]
    assert len(first) == 2
    _check_table(wd, first)
    fake = FakeTask(attempt=1)
    _sweep(cells, wd, fake)
    assert sum(len(call) for call in fake.calls) == len(cells) - 2
    _check_table(wd, cells)
    # Resuming a finished sweep changes nothing.
    before = results.load(wd)
    _sweep(cells, wd, FakeTask(attempt=2))
    assert results.load(wd).equals(before)


def test_table_lagging_the_cells_is_caught_up_once(tmp_path):
    """A crash after cells were written but before the table append: the next start adds the
    missing cells, once."""
    wd = str(tmp_path)
    table = os.path.join(wd, results.TABLE)
    cells = _cells(product(seed=[0, 1]))
    _sweep(cells[:1], wd, FakeTask())
    with open(table, "rb") as f:
        old = f.read()
    _sweep(cells, wd, FakeTask())
    with open(table, "wb") as f:  # the table as it was before the second program's append
        f.write(old)
    fake = FakeTask(attempt=5)
    _sweep(cells, wd, fake)
    assert fake.calls == []
    _check_table(wd, cells)
    assert results.sync(wd) == 0
    _check_table(wd, cells)


# ---------------------------------------------------------------- ids and programs

# The field that encodes several vmapped runs (a program's, never a cell's).
BATCH_FIELDS = {"runs"}
# Base cells: a loss with a hyperparameter (its hparams pack), a transition method (its options
# pack), k-fold cross-validation (folds pack).
BASES = {
    "gce": "epochs=3,loss=gce,q=0.5",
    "transition": "epochs=3,transition=dws",
    "folds": "epochs=3,dataset.val_fraction=0.0,dataset.num_folds=3,dataset.fold=1",
}


def _leaves(cfg, prefix=""):
    for k, v in cfg.items():
        path = prefix + k
        if isinstance(v, dict):
            yield from _leaves(v, path + ".")
        else:
            yield path, v


def _other(path, value):
    """A different value of the same type (validity does not matter to ids and plans, except
    for the loss name, which the plan looks up)."""
    if path == "loss.name":
        return "mae" if value != "mae" else "ce"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.5 + 0.25
    if isinstance(value, str):
        return value + "_other" if value else "other"
    if isinstance(value, tuple | list):
        return (*value, 7)
    raise AssertionError(f"no alternative value for {path}={value!r}; extend _other")


def _variant(base, path, value):
    cfg = ml_collections.ConfigDict(copy.deepcopy(base.to_dict()))
    *groups, leaf = path.split(".")
    node = cfg
    for g in groups:
        node = node[g]
    node[leaf] = value
    return make_cell({path: value}, None, cfg)


def _check_plan(cells):
    """Every run of every planned program is exactly its cell; cells are planned once."""
    programs = plan_programs(cells)
    planned = [c.id for p in programs for c in p.cells]
    assert sorted(planned) == sorted(c.id for c in cells)
    assert len({p.id for p in programs}) == len(programs)
    for p in programs:
        prog = ml_collections.ConfigDict(p.config)
        for r, cell in enumerate(p.cells):
            run = make_cell({}, None, plan_runs(prog).run_config(r))
            assert run.id == cell.id, f"run {r} of program {p.id} is not cell {cell.values}"
    return programs


@pytest.mark.parametrize("base_arg", list(BASES.values()), ids=list(BASES))
def test_cells_differing_in_any_trained_field_never_share_an_id_or_a_run(base_arg):
    (base,) = _cells([{}], base_arg)
    config = test_config.get_config(base_arg)
    fields = [
        (p, v)
        for p, v in _leaves(base.config)
        if p.split(".")[0] not in NOT_IN_ID and p not in BATCH_FIELDS
    ]
    assert "num_epochs" in dict(fields) and len(fields) > 80
    (base_program,) = plan_programs([base])
    for path, value in fields:
        other = _variant(config, path, _other(path, value))
        assert other.id != base.id, f"cells differing in {path} share an id"
        (own,) = plan_programs([other])
        assert own.id != base_program.id, f"cells differing in {path} share a program id"
        _check_plan([base, other])
    # The fields left out of the id are exactly NOT_IN_ID: changing them keeps the id.
    left_out = [(p, v) for p, v in _leaves(base.config) if p.split(".")[0] in NOT_IN_ID]
    assert {p.split(".")[0] for p, _ in left_out} == set(NOT_IN_ID)
    for path, value in left_out:
        same = _variant(config, path, _other(path, value))
        assert same.id == base.id, path


def test_a_grid_changing_only_the_epochs_finds_no_cell_done(tmp_path):
    wd = str(tmp_path)
    grid = product(rate=[0.2, 0.4], seed=[0, 1])
    short, long = _cells(grid, "epochs=2"), _cells(grid, "epochs=3")
    assert not {c.id for c in short} & {c.id for c in long}
    _sweep(short, wd, FakeTask())
    fake = FakeTask(attempt=1)
    rep = _sweep(long, wd, fake)
    assert rep["trained"] == len(long) and rep["skipped"] == 0
    assert sorted(i for call in fake.calls for i in call) == sorted(c.id for c in long)
    _check_table(wd, short + long)
    # Mixed epochs in one grid: never one program.
    _check_plan(short + long)


def test_a_mixed_grid_plans_every_cell_as_its_own_run():
    grid = (
        product(loss=["ce"], rate=[0.2, 0.4], seed=[0, 1], epochs=[2, 3])
        + product(loss=["gce"], q=[0.5, 0.9], lr=[0.01, 0.02], seed=[0])
        + product(transition=["dws", "forward"], seed=[0, 1], batch=[32, 64])
        + product(loss=["aldr_kl"], alpha=[2.0, 3.0], noise=["symmetric", "asymmetric"])
    )
    cells = _cells(grid, None)
    assert len({c.id for c in cells}) == len(cells) == len(grid)
    programs = _check_plan(cells)
    assert 1 < len(programs) < len(cells)  # something packed, something did not
