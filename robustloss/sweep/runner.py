"""The sweep driver: resolve cells, skip finished ones, pack the rest, run, record.

`run_sweep(cells, workdir, ...)` is what ``python -m experiments.sweep`` calls. ``workdir``::

    DIR/driver.lock             the driver lock: one driver per directory (`robustloss.sweep.lock`)
    DIR/sweep.json              the cells of the current grid (id, values, argument)
    DIR/cells/<id>/             one per cell: config.json, metrics.jsonl, summary.json,
                                examples.parquet, DONE
                                (verified: epochs and checksums), or config.json + FAILED
    DIR/packs/<program id>/     a program's workdir (checkpoints) and program.json (its cells);
                                removed once its cells are written
    DIR/results.parquet         one row per cell x epoch (`robustloss.sweep.results`)
    DIR/tensorboard/<id>/       TensorBoard run of a cell (``writers`` with ``"tensorboard"``)
    DIR/jax_cache/              JAX's persistent compilation cache of the workers

Only the driver writes ``cells/``, ``sweep.json`` and the table, under the driver lock; tasks
write only their ``packs/`` directory. A verified ``DONE`` cell is never trained again; a
damaged one is set aside and trained again. A killed sweep re-packs the unfinished cells into
the same programs (same ids) and resumes them from their checkpoints, and a program that had
finished before the kill is finished from its pack without training. Environment failures
(disk full, read-only or failing storage, a pack locked by a live process, a lost worker)
stop the program -- and for storage the sweep -- with one message, leaving cells pending.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from robustloss._io import atomic_write
from robustloss.sweep._io import ENV_ERRNOS, env_errno
from robustloss.sweep.cells import (
    Cell,
    cell_status,
    make_cell,
    set_aside,
    verify_cell,
    write_cell,
    write_failed,
)
from robustloss.sweep.grid import cell_arg, join_args
from robustloss.sweep.plan import PACKABLE, Program, plan_programs
from robustloss.training.progress import StatusLine

__all__ = [
    "SweepInterrupted",
    "SweepProgress",
    "default_workers",
    "describe_plan",
    "load_cells",
    "run_sweep",
]


class SweepInterrupted(KeyboardInterrupt):
    """The driver got SIGTERM (SIGINT raises ``KeyboardInterrupt`` itself): it stopped its
    workers; finished cells are kept and the rest resumes on the next run."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


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
    grid = module.get_sweep(arg or None)
    where = f"{path}:get_sweep({arg or None!r})"
    if grid is None:
        raise ValueError(
            f"{where} returned None; it must return a list of cells (dicts), e.g. "
            "product(loss=['ce', 'gce'], seed=[0, 1]) -- a missing return statement?"
        )
    if isinstance(grid, dict):
        raise ValueError(
            f"{where} returned one dict ({grid!r}); it must return a list of cells (dicts): "
            "wrap one cell in a list, [{...}], or build the grid with product/zip"
        )
    if isinstance(grid, str | bytes) or not hasattr(grid, "__iter__"):
        raise ValueError(f"{where} returned {grid!r}; it must return a list of cells (dicts)")
    grid = list(grid)
    if not grid:
        raise ValueError(f"{where} returned no cells")
    return cells_from_grid(module.get_config, grid, arg or None)


def cells_from_grid(get_config: Callable, grid: Sequence[dict], arg: str | None = None):
    """Cells of ``grid`` for a ``get_config(arg)`` function (see `load_cells`)."""
    from robustloss.training import validate_config

    cells, seen = [], set()
    for i, values in enumerate(grid):
        if not isinstance(values, dict):
            raise ValueError(f"get_sweep must return dicts (cells), got {values!r} at index {i}")
        for key, v in values.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(
                    f"cell {values!r} (grid index {i}, field {key!r}): {v!r} is not a finite "
                    "number; grid values must be finite numbers, strings, bools or ints"
                )
        try:
            carg = join_args(arg, cell_arg(values))
            config = get_config(carg)
            validate_config(config)
            cell = make_cell(values, carg, config)
        except (ValueError, TypeError) as e:
            field = next((k for k in values if f"'{k}'" in str(e) or f"{k}=" in str(e)), None)
            named = f", field {field!r} = {values[field]!r}" if field else ""
            kind = "" if isinstance(e, ValueError) else f"{type(e).__name__}: "
            raise ValueError(f"cell {values!r} (grid index {i}{named}): {kind}{e}") from e
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
        self.display = StatusLine("auto" if tty is None else "bar" if tty else "lines", log)

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
        line = self.line()
        self.display.show(line, f"{event}  [{line}]" if event else None)

    def end(self) -> None:
        self.display.end()


def _timing(workdir: str) -> float | None:
    """Mean seconds per run-epoch over this directory's finished programs (None if none)."""
    root = os.path.join(workdir, "cells")
    walls: dict[str, tuple[float, int]] = {}
    if os.path.isdir(root):
        for c in os.listdir(root):
            p = os.path.join(root, c, "DONE")
            try:
                with open(p) as f:
                    info = json.load(f)
            except (OSError, ValueError):
                continue
            if isinstance(info, dict) and not info.get("from_pack"):
                if info.get("wall") and info.get("run_epochs"):
                    walls[info["program"]] = (info["wall"], info["run_epochs"])
    if not walls:
        return None
    return sum(w for w, _ in walls.values()) / sum(e for _, e in walls.values())


def describe_plan(programs: Sequence[Program], slots: int, per_run_epoch: float | None) -> str:
    """The ``--dry_run`` text: programs, their cells, the packed axes and an estimated cost."""
    lines = []
    passes = 0
    for i, p in enumerate(programs):
        varying = ", ".join(f"{a}: {'/'.join(f)}" for a, f in p.varying.items()) or "-"
        lines.append(
            f"program {i + 1}/{len(programs)} {p.id}: {p.num_runs} run(s) x "
            f"{p.config['num_epochs']} epochs; vmapped over {varying}"
        )
        text, n = _data_cost(p)
        passes += n
        if text:
            lines.append(f"  data: {text}")
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
    if passes:
        lines.append(
            f"training examples processed: {passes:,} (published training-set sizes x run-epochs)"
        )
    lines.append("packable axes: " + "; ".join(f"{a.name} ({a.description})" for a in PACKABLE))
    return "\n".join(lines)


def _data_cost(p: Program) -> tuple[str, int]:
    """A program's dataset cost from the dataset table's published training size (real-noise
    datasets): ``(text, training examples processed)``; ``("", 0)`` when none is known."""
    from robustloss.data import DATASETS

    d = p.config["dataset"]
    entry = DATASETS.get(d["name"])
    n = entry.meta.get("train_size") if entry is not None else None
    if not n:
        return "", 0
    if d.get("max_train"):
        n = min(n, int(d["max_train"]))
    total = n * p.run_epochs
    return (
        f"{d['name']}, {n:,} training images (published) x {p.run_epochs} run-epochs = "
        f"{total:,} examples; pipeline={d.get('pipeline', 'memory')}",
        total,
    )


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


def _sweep_json(cells: Sequence[Cell]) -> str:
    """``sweep.json``'s text (`robustloss._io.write_json`'s layout)."""
    body = [{"id": c.id, "arg": c.arg, "values": c.values} for c in cells]
    return json.dumps({"cells": body}, indent=1, sort_keys=True, default=str) + "\n"


def _write_sweep_json(workdir: str, cells: Sequence[Cell]) -> bool:
    """Writes ``sweep.json`` unless it already says the same; True when written."""
    path = os.path.join(workdir, "sweep.json")
    text = _sweep_json(cells)
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    atomic_write(path, text)
    return True


def _statuses(workdir: str, cells: Sequence[Cell]) -> dict[str, tuple[str, str]]:
    return {c.id: verify_cell(workdir, c.id) for c in cells}


def _outside_grid(workdir: str, cells: Sequence[Cell]) -> list[str]:
    """Finished cells in ``DIR/cells`` that this grid does not list."""
    root = os.path.join(workdir, "cells")
    ids = {c.id for c in cells}
    if not os.path.isdir(root):
        return []
    return sorted(
        c
        for c in os.listdir(root)
        if c not in ids and os.path.exists(os.path.join(root, c, "DONE"))
    )


_SIGNALS: list[int] = []  # the signals the driver was stopped by


def _raise_interrupted(signum, frame):
    _SIGNALS.append(signum)  # Ray's blocking calls turn the exception into a KeyboardInterrupt
    raise SweepInterrupted(signum)


def interrupted_by() -> int | None:
    """The signal (SIGTERM) that stopped the last `run_sweep` in this process, else None."""
    return _SIGNALS[-1] if _SIGNALS else None


def _rearm_sigterm() -> None:
    """Our SIGTERM handler again: ``ray.init`` installs Ray's own (it exits at once)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupted)


@contextlib.contextmanager
def _sigterm_raises():
    """In the main thread: SIGTERM raises `SweepInterrupted` (as SIGINT raises
    ``KeyboardInterrupt``), so the driver stops its workers and releases its lock."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _env_text(e: BaseException, what: str) -> str:
    code = env_errno(e)
    return f"{ENV_ERRNOS[code]} ({errno.errorcode[code]}) while {what}: {type(e).__name__}: {e}"


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
    wait: bool = False,
    lock_wait: float = 600.0,
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
        dry_run: print the plan and cost, train nothing, write nothing.
        ray_address: join this Ray cluster (``engine="ray"``).
        log: line printer (default ``print``).
        executor: an `Executor` to use instead of making one (tests).
        tty: force the live line on (True) or off (False); default: ``sys.stdout.isatty()``.
        compilation_cache: JAX persistent compilation cache directory for the workers, so a
            resumed or repeated program does not compile again; ``""`` turns it off. Default
            ``DIR/jax_cache`` in worker processes, off for inline runs.
        wait: when another driver holds the directory, wait for it instead of failing.
        lock_wait: seconds a task waits for a pack held by another live process.

    Returns:
        ``{"cells", "done", "failed", "trained", "programs", "skipped", "pending", "stopped"}``;
        ``stopped`` is "" or why cells were left pending (an environment failure).

    Raises:
        robustloss.sweep.lock.SweepLockedError: another driver holds ``workdir`` (naming it).
        SweepInterrupted: SIGTERM (``KeyboardInterrupt`` for SIGINT); workers were stopped,
            finished cells kept.
    """
    from robustloss.sweep.lock import DriverLock

    log = log or (lambda s: print(s, flush=True))
    workdir = os.path.abspath(workdir)
    if dry_run:
        return _dry_run(cells, workdir, workers, max_pack, retry_failed, log)
    with _sigterm_raises():
        lock = DriverLock(workdir, wait=wait, log=log)
        try:
            if lock.read_only:
                return _recheck_read_only(cells, workdir, retry_failed, log)
            try:
                return _drive(
                    cells,
                    workdir,
                    engine=engine,
                    workers=workers,
                    threads=threads,
                    max_pack=max_pack,
                    retry_failed=retry_failed,
                    ray_address=ray_address,
                    log=log,
                    executor=executor,
                    tty=tty,
                    compilation_cache=compilation_cache,
                    lock_wait=lock_wait,
                )
            except OSError as e:  # the driver's own writes before any program ran
                if env_errno(e) is None:
                    raise
                report = _report(cells, _statuses(workdir, cells), retry_failed)
                report["stopped"] = f"the sweep stopped: {_env_text(e, f'writing {workdir}')}"
                log(f"{report['stopped']}. Nothing was lost; rerun once the cause is fixed")
                return report
        finally:
            lock.release()


def _report(cells, status, retry_failed, programs=0) -> dict:
    done = sum(s == "done" for s, _ in status.values())
    failed = sum(s == "failed" for s, _ in status.values())
    return {
        "cells": len(cells),
        "done": done,
        "failed": failed,
        "trained": 0,
        "programs": programs,
        "skipped": done + (0 if retry_failed else failed),
        "pending": len(cells) - done - failed,
        "stopped": "",
    }


def _todo(cells, status, retry_failed) -> list[Cell]:
    run = ("pending", "damaged") + (("failed",) if retry_failed else ())
    return [c for c in cells if status[c.id][0] in run]


def _dry_run(cells, workdir, workers, max_pack, retry_failed, log) -> dict:
    status = _statuses(workdir, cells)
    todo = _todo(cells, status, retry_failed)
    programs = plan_programs(todo, max_pack) if todo else []
    report = _report(cells, status, retry_failed, len(programs))
    log(f"{len(cells)} cells: {report['done']} done, {report['failed']} failed, {len(todo)} to run")
    for cid, (st, problem) in status.items():
        if st == "damaged":
            log(f"cell {cid} is damaged and would be trained again: {problem}")
    if programs:
        slots = max(1, default_workers()[0] if workers is None else workers)
        log(describe_plan(programs, slots, _timing(workdir)))
    return report


def _recheck_read_only(cells, workdir, retry_failed, log) -> dict:
    """A sweep directory on read-only storage: report, write nothing; fail if work is left."""
    from robustloss.sweep import results

    status = _statuses(workdir, cells)
    report = _report(cells, status, retry_failed)
    todo = _todo(cells, status, retry_failed)
    damaged = [f"{cid}: {p}" for cid, (s, p) in status.items() if s == "damaged"]
    missing = []
    if not todo:
        try:
            table = results._read(workdir, columns=["cell_id"])
            have = set() if table is None else set(table["cell_id"])
        except results._TableDamaged:
            have = set()
        missing = [c.id for c in cells if status[c.id][0] == "done" and c.id not in have]
    if todo or missing:
        what = (
            f"{len(todo)} cell(s) to train" if todo else f"{len(missing)} cell(s) not in the table"
        )
        report["stopped"] = (
            f"{workdir} is on read-only storage and the sweep is not finished ({what}"
            + (f"; damaged: {damaged}" if damaged else "")
            + "); nothing was written. Rerun where the directory is writable"
        )
        log(report["stopped"])
        return report
    log(
        f"all {len(cells)} cells finished ({report['done']} done, {report['failed']} failed); "
        "read-only storage: checked, nothing written"
    )
    return report


def _record(workdir, p: Program, records: list[dict], info: dict) -> tuple[list[str], list[str]]:
    """Writes a finished program's pending cells (done or failed) and adds the done ones to
    the results table from the records just written (`results.append_records`); returns
    ``(done ids, failed ids)``. A cell already done (verified) is left as it is."""
    from robustloss.sweep import results

    by_id = {r["id"]: r for r in records}
    done, failed = [], []
    for c in p.cells:
        if cell_status(workdir, c.id) == "done":
            continue
        rec = by_id[c.id]
        if rec.get("status", "done") == "done":
            write_cell(workdir, c, rec["history"], rec["summary"], info, rec.get("files"))
            done.append(c.id)
        elif write_failed(workdir, c, rec["error"], info) is not None:
            failed.append(c.id)
    cells = {c.id: c for c in p.cells}
    table = [
        {"id": cid, "config_json": cells[cid].config_json, "history": by_id[cid]["history"]}
        for cid in done
    ]
    results.append_records(workdir, table)  # what write_cell just wrote
    return done, failed


def _adopt_finished_packs(workdir, cells, status, log) -> tuple[int, int]:
    """Writes the pending cells of every pack whose program had finished (a kill between its
    cell writes), from the pack's files: nothing is trained again. ``(done, failed)`` written."""
    from robustloss.sweep.packs import finished_packs, remove_pack

    by_id = {c.id: c for c in cells}
    n_done = n_failed = 0
    for pid, ids, records in finished_packs(workdir):
        if not any(status.get(cid, ("",))[0] in ("pending", "damaged") for cid in ids):
            continue
        if not all(cid in by_id for cid in ids):
            continue  # cells of another grid: the program cannot be checked against this one
        programs = plan_programs([by_id[cid] for cid in ids], max_pack=len(ids))
        if len(programs) != 1 or programs[0].id != pid:
            log(f"pack {pid}: its program differs from this grid's cells now; not used")
            continue
        p = programs[0]
        info = {"program": p.id, "runs": p.num_runs, "wall": 0.0, "run_epochs": p.run_epochs}
        info["from_pack"] = True
        done, failed = _record(workdir, p, records, info)
        remove_pack(workdir, pid)
        for cid in done:
            status[cid] = ("done", "")
        for cid in failed:
            status[cid] = ("failed", "")
        n_done, n_failed = n_done + len(done), n_failed + len(failed)
        log(
            f"program {pid} had finished before the last run stopped: wrote its "
            f"{len(done) + len(failed)} remaining cell(s) from the pack, nothing trained"
        )
    return n_done, n_failed


def _drive(
    cells,
    workdir,
    *,
    engine,
    workers,
    threads,
    max_pack,
    retry_failed,
    ray_address,
    log,
    executor,
    tty,
    compilation_cache,
    lock_wait,
) -> dict:
    from robustloss.sweep import results
    from robustloss.sweep.executors import make_executor
    from robustloss.sweep.packs import clean_leftovers, remove_pack, write_program

    os.makedirs(os.path.join(workdir, "cells"), exist_ok=True)
    status = _statuses(workdir, cells)
    for cid, (st, problem) in status.items():
        if st == "damaged":
            log(f"cell {cid} is damaged, so it is set aside (DAMAGED) and trained again: {problem}")
            set_aside(workdir, cid, problem)
            status[cid] = ("pending", "")
    outside = _outside_grid(workdir, cells)
    if outside:
        log(
            f"note: {workdir}/cells holds {len(outside)} finished cell(s) that are not in this "
            "grid (an earlier grid); results.load/query leave them out, all_cells=True "
            "includes them"
        )
    _write_sweep_json(workdir, cells)
    results.sync(workdir, log=log)
    clean_leftovers(workdir, lambda cid: cell_status(workdir, cid) == "done", log)
    _adopt_finished_packs(workdir, cells, status, log)
    todo = _todo(cells, status, retry_failed)
    programs = plan_programs(todo, max_pack) if todo else []
    report = _report(cells, status, retry_failed, len(programs))
    done, failed = report["done"], report["failed"]
    if not todo:
        log(
            f"all {len(cells)} cells finished ({done} done, {failed} failed"
            + (", --retry_failed re-runs those" if failed else "")
            + "): nothing to train"
        )
        return report
    if retry_failed:
        failed -= sum(status[c.id][0] == "failed" for c in todo)
    if workers is None:
        workers, default_threads = default_workers()
    else:
        default_threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    threads = threads or default_threads
    progress = SweepProgress(len(cells), done, failed, log=log, tty=tty)
    ex = executor or make_executor(engine, workers, threads, ray_address)
    _rearm_sigterm()
    if compilation_cache is None:  # worker processes only: inline runs share this process
        inline = executor is not None or (engine == "local" and workers == 0)
        compilation_cache = "" if inline else os.path.join(workdir, "jax_cache")
    queue: list[Program] = list(programs)
    in_flight: dict[str, Program] = {}
    t_start = time.time()
    clean_exit = False
    stopped: list[str] = []  # environment failures: their cells stay pending
    halt = ""  # a storage failure: start nothing more
    try:
        while queue or in_flight:
            while queue and len(in_flight) < ex.slots and not halt:
                p = queue.pop(0)
                try:
                    pack = write_program(workdir, p.id, [c.id for c in p.cells])
                except OSError as e:
                    if env_errno(e) is None:
                        raise
                    halt = _env_text(e, f"writing {workdir}/packs/{p.id}/program.json")
                    queue.insert(0, p)
                    break
                task = {
                    "program_id": p.id,
                    "config": p.config,
                    "workdir": pack,
                    "cell_ids": [c.id for c in p.cells],
                    "compilation_cache": compilation_cache,
                    "lock_wait": lock_wait,
                    "tensorboard_dir": os.path.join(workdir, "tensorboard"),
                }
                ex.submit(task)
                in_flight[p.id] = p
                progress.running += p.num_runs
            if not in_flight:
                break
            progress.show()
            res = ex.next_done()
            p = in_flight.pop(res["program_id"])
            progress.running -= p.num_runs
            info = {"program": p.id, "runs": p.num_runs, "wall": res["wall"]}
            info["run_epochs"] = p.run_epochs
            if res["status"] == "done":
                try:
                    ok, bad = _record(workdir, p, res["cells"], info)
                except OSError as e:
                    if env_errno(e) is None:
                        raise
                    halt = _env_text(e, f"writing the cells of program {p.id}")
                    progress.show(f"program {p.id} trained, but its cells could not be written")
                    continue  # the finished pack is kept: the next run writes its cells
                remove_pack(workdir, p.id)
                progress.done += len(ok)
                progress.failed += len(bad)
                report["trained"] += p.num_runs
                event = f"program {p.id}: {len(ok)} cell(s) done in {res['wall']:.1f}s"
                if bad:
                    event += f", {len(bad)} stopped inside the pack (FAILED: non-finite)"
            elif res["status"] == "env":
                kind, _, why = res["error"].partition(": ")
                if kind == "storage":
                    halt = why
                else:
                    stopped.append(f"program {p.id}: {why}")
                event = f"program {p.id} stopped ({why}); its {p.num_runs} cell(s) stay pending"
            else:
                remove_pack(workdir, p.id)  # a failed program's checkpoints are not resumed
                first = res["error"].splitlines()[0] if res["error"] else ""
                if p.num_runs > 1:
                    queue[:0], how = _replan(p, first, max_pack)
                    event = f"program {p.id} failed ({first}); re-running its cells {how}"
                else:
                    try:
                        written = write_failed(workdir, p.cells[0], res["error"], info)
                    except OSError as e:
                        if env_errno(e) is None:
                            raise
                        halt = _env_text(e, f"recording the failure of cell {p.cells[0].id}")
                        continue
                    progress.failed += written is not None
                    event = f"cell {p.cells[0].id} FAILED: {first}"
            progress.show(event)
        clean_exit = True
    finally:
        progress.end()
        ex.close(wait=clean_exit)
    report["done"], report["failed"] = progress.done, progress.failed
    report["pending"] = len(cells) - progress.done - progress.failed
    if halt:
        stopped.insert(0, f"the sweep stopped: {halt}")
    report["stopped"] = "; ".join(stopped)
    log(
        f"sweep finished in {time.time() - t_start:.0f}s: {progress.done}/{len(cells)} done, "
        f"{progress.failed} failed, {report['trained']} trained now"
        + (f", {report['pending']} pending" if report["pending"] else "")
    )
    if stopped:
        log(
            f"{report['stopped']}. Finished cells are kept; the {report['pending']} pending "
            "cell(s) resume when the same command runs again (once the cause is fixed)"
        )
    return report
