"""The sweep driver: resolve cells, skip finished ones, pack the rest, run, record.

`run_sweep(cells, workdir, ...)` is what ``python -m experiments.sweep`` calls. ``workdir``::

    DIR/sweep.json              the cells of the latest invocation (id, values, argument)
    DIR/cells/<id>/             one per cell: config.json, metrics.jsonl, summary.json,
                                examples.parquet, DONE
                                (or config.json + FAILED with the error text)
    DIR/packs/<program id>/     a running program's workdir (checkpoints); removed once its
                                cells are written
    DIR/results.parquet         one row per cell x epoch (`robustloss.sweep.results`)
    DIR/tensorboard/<id>/       TensorBoard run of a cell (``writers`` with ``"tensorboard"``)
    DIR/jax_cache/              JAX's persistent compilation cache of the workers

Only the driver writes ``cells/`` and the table; tasks write only their ``packs/`` directory.
A cell with ``DONE`` is never trained again; a killed sweep re-packs the unfinished cells into
the same programs (same ids) and resumes them from their checkpoints.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from robustloss.sweep.cells import (
    Cell,
    cell_status,
    make_cell,
    write_cell,
    write_failed,
)
from robustloss.sweep.grid import cell_arg, join_args
from robustloss.sweep.plan import PACKABLE, Program, plan_programs

__all__ = ["default_workers", "describe_plan", "load_cells", "run_sweep", "SweepProgress"]


def default_workers() -> tuple[int, int]:
    """``(workers, threads)`` for the local engine: one worker using every CPU core (on this
    2-core machine it ran the 64-cell benchmark grid faster than 2 single-threaded workers,
    docs/sweeps.md)."""
    cores = os.cpu_count() or 1
    return 1, cores


def _load_module(path: str):
    if not os.path.exists(path):
        raise ValueError(f"--config file {path!r} does not exist")
    name = "_sweep_config_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_cells(config: str) -> list[Cell]:
    """Resolves ``FILE[:arg]``'s ``get_sweep(arg)`` into cells (validated, duplicates dropped).

    Cell ``c`` resolves to ``get_config(join_args(arg, cell_arg(c)))``: the config
    ``experiments.main --config FILE:<that argument>`` trains.

    Raises:
        ValueError: no ``get_sweep`` in the file, an empty grid, or a cell with a bad key/value
            (naming the cell).
    """
    path, _, arg = config.partition(":")
    module = _load_module(path)
    if not hasattr(module, "get_sweep"):
        raise ValueError(f"config file {path!r} defines no get_sweep(arg); see docs/sweeps.md")
    grid = list(module.get_sweep(arg or None))
    if not grid:
        raise ValueError(f"{path}:get_sweep({arg!r}) returned no cells")
    return cells_from_grid(module.get_config, grid, arg or None)


def cells_from_grid(get_config: Callable, grid: Sequence[dict], arg: str | None = None):
    """Cells of ``grid`` for a ``get_config(arg)`` function (see `load_cells`)."""
    from robustloss.training import validate_config

    cells, seen = [], set()
    for values in grid:
        if not isinstance(values, dict):
            raise ValueError(f"get_sweep must return dicts (cells), got {values!r}")
        carg = join_args(arg, cell_arg(values))
        try:
            config = get_config(carg)
            validate_config(config)
            cell = make_cell(values, carg, config)
        except ValueError as e:
            raise ValueError(f"cell {values!r}: {e}") from e
        if cell.id not in seen:
            seen.add(cell.id)
            cells.append(cell)
    return cells


class SweepProgress:
    """Cells done / running / failed / pending, elapsed, ETA: a live line on a terminal, one
    line per finished program otherwise."""

    def __init__(self, total: int, done: int, failed: int, log=None, tty: bool | None = None):
        self.total, self.done, self.failed, self.running = total, done, failed, 0
        self.done0 = done + failed
        self.t0 = time.time()
        self.tty = sys.stdout.isatty() if tty is None else tty
        self.log = log or (lambda s: print(s, flush=True))

    def line(self) -> str:
        elapsed = time.time() - self.t0
        finished = self.done + self.failed - self.done0
        pending = self.total - self.done - self.failed - self.running
        left = self.total - self.done - self.failed
        eta = f"{elapsed / finished * left:.0f}s" if finished else "?"
        return (
            f"cells {self.done}/{self.total} done, {self.running} running, {self.failed} failed, "
            f"{pending} pending; elapsed {elapsed:.0f}s, ETA {eta}"
        )

    def show(self, event: str = "") -> None:
        if self.tty:
            sys.stdout.write("\r\033[K" + self.line())
            sys.stdout.flush()
        elif event:
            self.log(f"{event}  [{self.line()}]")

    def end(self) -> None:
        if self.tty:
            sys.stdout.write("\n")
            sys.stdout.flush()


def _timing(workdir: str) -> float | None:
    """Mean seconds per run-epoch over this directory's finished programs (None if none)."""
    root = os.path.join(workdir, "cells")
    walls: dict[str, tuple[float, int]] = {}
    if os.path.isdir(root):
        for c in os.listdir(root):
            p = os.path.join(root, c, "DONE")
            if os.path.exists(p):
                with open(p) as f:
                    info = json.load(f)
                if "wall" in info and info.get("run_epochs"):
                    walls[info["program"]] = (info["wall"], info["run_epochs"])
    if not walls:
        return None
    return sum(w for w, _ in walls.values()) / sum(e for _, e in walls.values())


def describe_plan(programs: Sequence[Program], slots: int, per_run_epoch: float | None) -> str:
    """The ``--dry_run`` text: programs, their cells, the packed axes and an estimated cost."""
    lines = []
    for i, p in enumerate(programs):
        varying = ", ".join(f"{a}: {'/'.join(f)}" for a, f in p.varying.items()) or "-"
        lines.append(
            f"program {i + 1}/{len(programs)} {p.id}: {p.num_runs} run(s) x "
            f"{p.config['num_epochs']} epochs; vmapped over {varying}"
        )
        for c in p.cells:
            lines.append(f"  cell {c.id}  {c.arg}")
    runs = sum(p.num_runs for p in programs)
    run_epochs = sum(p.run_epochs for p in programs)
    cost = (
        f"~{per_run_epoch * run_epochs / max(1, slots) / 60:.1f} min at this directory's "
        f"measured {per_run_epoch:.3f} s per run-epoch over {slots} worker(s)"
        if per_run_epoch
        else "no timing measured in this directory yet"
    )
    lines.append(
        f"{len(programs)} program(s) (= compilations), {runs} run(s), {run_epochs} run-epochs; "
        f"estimated {cost}"
    )
    lines.append("packable axes: " + "; ".join(f"{a.name} ({a.description})" for a in PACKABLE))
    return "\n".join(lines)


def _replan(p: Program, error: str, max_pack: int) -> tuple[list[Program], str]:
    """The programs that replace failed program ``p``: one per fold when its folds could not
    share a program (`FOLD_PACK_ERROR`), else one per cell, so that only the cells that fail
    alone (a diverging run fails its whole pack) are recorded as failed."""
    from robustloss.training.build import FOLD_PACK_ERROR

    folds: dict = {}
    for c in p.cells:
        folds.setdefault(c.config["dataset"]["fold"], []).append(c)
    if FOLD_PACK_ERROR in error and len(folds) > 1:
        programs = []
        for cells in folds.values():
            programs += plan_programs(cells, max_pack)
        return programs, "one program per fold"
    return [q for c in p.cells for q in plan_programs([c], 1)], "one by one"


def _write_sweep_json(workdir: str, cells: Sequence[Cell]) -> None:
    path = os.path.join(workdir, "sweep.json")
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        body = [{"id": c.id, "arg": c.arg, "values": c.values} for c in cells]
        json.dump({"cells": body}, f, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)


def run_sweep(
    cells: Sequence[Cell],
    workdir: str,
    *,
    engine: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    max_pack: int = 64,
    retry_failed: bool = False,
    dry_run: bool = False,
    ray_address: str | None = None,
    log: Callable[[str], None] | None = None,
    executor: Any = None,
    tty: bool | None = None,
    compilation_cache: str | None = None,
) -> dict:
    """Runs the cells not yet finished in ``workdir``; returns counts.

    Args:
        cells: from `load_cells` / `cells_from_grid`.
        workdir: the sweep directory (created).
        engine: ``local`` or ``ray``.
        workers: parallel programs (``0``: inline in this process); default `default_workers`.
        threads: CPU threads per worker; default ``cpu_count // workers`` (at least 1).
        max_pack: at most this many runs per program.
        retry_failed: re-run cells recorded as ``FAILED``.
        dry_run: print the plan and cost, train nothing.
        ray_address: join this Ray cluster (``engine="ray"``).
        log: line printer (default ``print``).
        executor: an `Executor` to use instead of making one (tests).
        tty: force the live line on (True) or off (False); default: ``sys.stdout.isatty()``.
        compilation_cache: JAX persistent compilation cache directory for the workers, so a
            resumed or repeated program does not compile again; ``""`` turns it off. Default
            ``DIR/jax_cache`` in worker processes, off for inline runs.

    Returns:
        ``{"cells", "done", "failed", "trained", "programs", "skipped"}``.
    """
    from robustloss.sweep import results
    from robustloss.sweep.executors import make_executor

    log = log or (lambda s: print(s, flush=True))
    workdir = os.path.abspath(workdir)
    status = {c.id: cell_status(workdir, c.id) for c in cells}
    done = sum(s == "done" for s in status.values())
    failed = sum(s == "failed" for s in status.values())
    todo = [
        c for c in cells if status[c.id] == "pending" or (retry_failed and status[c.id] == "failed")
    ]
    programs = plan_programs(todo, max_pack) if todo else []
    if workers is None:
        workers, default_threads = default_workers()
    else:
        default_threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    threads = threads or default_threads
    report = {"cells": len(cells), "done": done, "failed": failed, "trained": 0}
    report.update(programs=len(programs), skipped=done + (0 if retry_failed else failed))
    if dry_run:
        log(f"{len(cells)} cells: {done} done, {failed} failed, {len(todo)} to run")
        if programs:
            log(describe_plan(programs, max(1, workers), _timing(workdir)))
        return report
    os.makedirs(os.path.join(workdir, "cells"), exist_ok=True)
    _write_sweep_json(workdir, cells)
    if results.sync(workdir):
        log("results table: added finished cells that were missing (after a crash)")
    if not todo:
        log(
            f"all {len(cells)} cells finished ({done} done, {failed} failed"
            + (", --retry_failed re-runs those" if failed else "")
            + "): nothing to train"
        )
        return report
    if retry_failed:
        failed -= sum(status[c.id] == "failed" for c in todo)
    progress = SweepProgress(len(cells), done, failed, log=log, tty=tty)
    ex = executor or make_executor(engine, workers, threads, ray_address)
    if compilation_cache is None:  # worker processes only: inline runs share this process
        inline = executor is not None or (engine == "local" and workers == 0)
        compilation_cache = "" if inline else os.path.join(workdir, "jax_cache")
    cache = compilation_cache
    queue: list[Program] = list(programs)
    in_flight: dict[str, Program] = {}
    t_start = time.time()
    clean_exit = False
    try:
        while queue or in_flight:
            while queue and len(in_flight) < ex.slots:
                p = queue.pop(0)
                pack_dir = os.path.join(workdir, "packs", p.id)
                task = {
                    "program_id": p.id,
                    "config": p.config,
                    "workdir": pack_dir,
                    "cell_ids": [c.id for c in p.cells],
                    "compilation_cache": cache,
                    "tensorboard_dir": os.path.join(workdir, "tensorboard"),
                }
                ex.submit(task)
                in_flight[p.id] = p
                progress.running += p.num_runs
            progress.show()
            res = ex.next_done()
            p = in_flight.pop(res["program_id"])
            progress.running -= p.num_runs
            info = {"program": p.id, "runs": p.num_runs, "wall": res["wall"]}
            info["run_epochs"] = p.run_epochs
            if res["status"] == "done":
                by_id = {c["id"]: c for c in res["cells"]}
                for c in p.cells:
                    rec = by_id[c.id]
                    write_cell(workdir, c, rec["history"], rec["summary"], info, rec.get("files"))
                results.append(workdir, [c.id for c in p.cells])
                shutil.rmtree(os.path.join(workdir, "packs", p.id), ignore_errors=True)
                progress.done += p.num_runs
                report["trained"] += p.num_runs
                event = f"program {p.id}: {p.num_runs} cell(s) done in {res['wall']:.1f}s"
            else:
                # A failed program's checkpoints are not resumed: a retry starts afresh.
                shutil.rmtree(os.path.join(workdir, "packs", p.id), ignore_errors=True)
                first = res["error"].splitlines()[0] if res["error"] else ""
                if p.num_runs > 1:
                    queue[:0], how = _replan(p, first, max_pack)
                    event = f"program {p.id} failed ({first}); re-running its cells {how}"
                else:
                    write_failed(workdir, p.cells[0], res["error"], info)
                    progress.failed += 1
                    event = f"cell {p.cells[0].id} FAILED: {first}"
            progress.show(event)
        clean_exit = True
    finally:
        progress.end()
        ex.close(wait=clean_exit)
    report["done"], report["failed"] = progress.done, progress.failed
    log(
        f"sweep finished in {time.time() - t_start:.0f}s: {progress.done}/{len(cells)} done, "
        f"{progress.failed} failed, {report['trained']} trained now"
    )
    return report
