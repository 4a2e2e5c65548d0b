"""The results table of a sweep: ``DIR/results.parquet``, one row per cell x epoch.

Columns: ``cell_id``; the cell's resolved config as flat dotted columns (``loss.name``,
``noise.rate``, ``loss.hparams.q``, ...; list values as JSON text); the epoch's metrics
(``epoch``, ``train/loss``, ``test/top1``, ``val/top1``, ...). Only verified finished cells
(`robustloss.sweep.cells.verify_cell`) appear.

One writer: the sweep driver, under the directory's driver lock (`robustloss.sweep.lock`).
After each program it adds that program's finished cells with `append_records`, from the
records it has just written to the cell files (nothing is read back from disk); the new table
is written beside the old one and renamed over it (`robustloss._io.atomic_write`). Every write
-- `append_records`, `append` (rows read from the cells' files), `rebuild`, `sync` -- goes
through one path (`_add` / `_rebuild` under `_writer`): inside the driver it runs under the
driver's lock; called outside a driver it takes that lock for the length of the write and fails
at once, naming the driver, while one runs; adding no cell writes nothing; a damaged table file
is rebuilt from ``cells/`` with a warning. Since every row comes from the cell directories,
`rebuild` recreates the table from them (naming, and leaving out, any damaged cell), and `sync`
-- which the driver calls when it starts -- adds cells a crash left out, drops cells that are
no longer verified and rebuilds a damaged table file with a warning.

Readers open the file once (a table replaced while it is read is never mixed with the new
one). `load` (a pandas DataFrame) and `query` (DuckDB SQL over a table named ``results``) give
the cells of the directory's current grid (``sweep.json``, written by the driver) by default,
and every finished cell with ``all_cells=True``::

    from robustloss.sweep import results
    results.query(DIR, "SELECT \\"loss.name\\", avg(\\"test/top1\\") AS acc FROM results "
                       "WHERE epoch = \\"num_epochs\\" GROUP BY 1")
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable
from typing import Any

from robustloss._io import atomic_write
from robustloss.sweep.cells import cell_dir, verify_cell

__all__ = [
    "TABLE",
    "DamagedCellError",
    "append",
    "append_records",
    "cell_rows",
    "grid_cells",
    "load",
    "query",
    "rebuild",
    "sync",
]

TABLE = "results.parquet"


class DamagedCellError(ValueError):
    """A finished cell's file does not parse; the message names the file."""


def _flatten(cfg: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            sub = _flatten(v, key + ".")
            out.update(sub if sub else {key: "{}"})
        elif isinstance(v, list | tuple):
            out[key] = json.dumps(list(v))
        else:
            out[key] = v
    return out


def _path(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), TABLE)


def _verified(workdir: str) -> tuple[list[str], dict[str, str]]:
    """``(done, damaged)``: the cells whose ``DONE`` verifies, and ``{id: problem}`` of the
    cells whose ``DONE`` does not."""
    root = os.path.join(os.path.abspath(workdir), "cells")
    done, damaged = [], {}
    if os.path.isdir(root):
        for c in sorted(os.listdir(root)):
            if not os.path.exists(os.path.join(root, c, "DONE")):
                continue
            status, problem = verify_cell(workdir, c)
            if status == "done":
                done.append(c)
            else:
                damaged[c] = problem
    return done, damaged


def grid_cells(workdir: str) -> list[str] | None:
    """The cell ids of the directory's current grid (``sweep.json``), None without one."""
    path = os.path.join(os.path.abspath(workdir), "sweep.json")
    try:
        with open(path) as f:
            return [c["id"] for c in json.load(f)["cells"]]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        warnings.warn(f"{path} is not readable ({e}); using every finished cell", stacklevel=3)
        return None


def cell_rows(workdir: str, cell_id: str) -> list[dict]:
    """The table rows of one finished cell (from its ``config.json`` and ``metrics.jsonl``).

    Raises:
        DamagedCellError: a file is missing or does not parse (naming the file and line).
    """
    d = cell_dir(workdir, cell_id)
    path = os.path.join(d, "config.json")
    try:
        with open(path) as f:
            flat = _flatten(json.load(f))
        rows = []
        path = os.path.join(d, "metrics.jsonl")
        with open(path) as f:
            for i, line in enumerate(f, 1):
                if line.strip():
                    try:
                        metrics = json.loads(line)
                    except ValueError as e:
                        raise DamagedCellError(f"{path}, line {i}: {e}") from None
                    rows.append({"cell_id": cell_id, **flat, **metrics})
    except (OSError, ValueError) as e:
        if isinstance(e, DamagedCellError):
            raise
        raise DamagedCellError(f"{path}: {type(e).__name__}: {e}") from None
    return rows


def _write(workdir: str, frame) -> None:
    atomic_write(_path(workdir), lambda tmp: frame.to_parquet(tmp, index=False))


def _frame(rows: list[dict]):
    import pandas as pd

    return _storable(pd.DataFrame(rows))


def _storable(frame):
    """Object columns mixing strings with numbers (e.g. one field name, two losses) -> text."""
    for col in frame.columns:
        if frame[col].dtype == object:
            kinds = {type(v) for v in frame[col] if v is not None and v == v}
            if str in kinds and len(kinds) > 1:
                frame[col] = [None if v is None else str(v) for v in frame[col]]
    return frame


@contextlib.contextmanager
def _writer(workdir: str):
    """Runs a write as the directory's single writer: inside this process's driver, or under
    the driver lock taken for this write (fails at once, naming the driver, if one runs)."""
    from robustloss.sweep.lock import DriverLock, held

    if held(workdir):
        yield
        return
    lock = DriverLock(workdir)
    try:
        if lock.read_only:
            raise OSError(30, f"{workdir} is on read-only storage; the results table cannot change")
        yield
    finally:
        lock.release()


class _TableDamaged(Exception):
    pass


def _read(workdir: str, columns: list[str] | None = None):
    """The table file as a pandas DataFrame, read through one open file (None if absent).

    Raises:
        _TableDamaged: the file exists but does not parse as Parquet.
    """
    import pyarrow.parquet as pq

    try:
        f = open(_path(workdir), "rb")
    except FileNotFoundError:
        return None
    with f:
        try:
            return pq.read_table(f, columns=columns).to_pandas()
        except Exception as e:  # noqa: BLE001 -- pyarrow raises several types for a bad file
            raise _TableDamaged(f"{_path(workdir)} is damaged ({type(e).__name__}: {e})") from e


def _rows_of(workdir: str, ids: list[str]) -> list[dict]:
    return [r for c in ids for r in cell_rows(workdir, c)]


def append(workdir: str, cell_ids: list[str]) -> int:
    """Adds (or replaces) the rows of finished cells ``cell_ids``, read from their files;
    returns the table's row count.

    Raises:
        DamagedCellError: a cell's file is missing or does not parse.
        robustloss.sweep.lock.SweepLockedError: called outside the driver while one runs.
    """
    return _add(workdir, list(cell_ids), lambda: _rows_of(workdir, cell_ids))


def append_records(workdir: str, records: list[dict]) -> int:
    """Adds (or replaces) finished cells' rows from records the caller holds; returns the row
    count.

    The rows `append` would read back from the cells' ``config.json`` and ``metrics.jsonl``,
    made from the very records those files were just written from (the sweep driver's), so
    nothing is read from disk; `rebuild` and `sync` still read the files. Each record goes
    through the same sorted JSON as those files (in memory), so the rows are equal, key order
    and types included. Same write path as `append` (the driver lock, no rewrite for no cells,
    a damaged table rebuilt from ``cells/``).

    Args:
        workdir: the sweep directory.
        records: one ``{"id", "config_json", "history"}`` per cell: its id, its ``config.json``
            content and its per-epoch records (``metrics.jsonl`` lines).

    Raises:
        robustloss.sweep.lock.SweepLockedError: called outside the driver while one runs.
    """

    def rows() -> list[dict]:
        out = []
        for r in records:
            flat = _flatten(json.loads(json.dumps(r["config_json"], sort_keys=True)))
            for m in r["history"]:
                out.append(
                    {"cell_id": r["id"], **flat, **json.loads(json.dumps(m, sort_keys=True))}
                )
        return out

    return _add(workdir, [r["id"] for r in records], rows)


def _add(workdir: str, ids: list[str], rows: Callable[[], list[dict]]) -> int:
    """The one write of new cells: the table with the rows of cells ``ids`` replaced by
    ``rows()``, as the directory's single writer; returns the table's row count."""
    import pandas as pd

    _check_dir(workdir)
    if not ids:  # nothing to add (e.g. every cell of a program failed): no rewrite
        try:
            old = _read(workdir, columns=["cell_id"])
        except _TableDamaged:
            old = None
        return 0 if old is None else len(old)
    with _writer(workdir):
        new = _frame(rows())
        try:
            old = _read(workdir)
        except _TableDamaged as e:
            warnings.warn(f"{e}; rebuilding it from {workdir}/cells", stacklevel=3)
            return _rebuild(workdir)
        if old is not None:
            old = old[~old["cell_id"].isin(set(ids))]
            parts = [f for f in (old, new) if len(f)]
            new = _storable(pd.concat(parts, ignore_index=True)) if parts else new
        _write(workdir, new)
        return len(new)


def _rebuild(workdir: str) -> int:
    done, damaged = _verified(workdir)
    for cid, problem in damaged.items():
        warnings.warn(f"cell {cid} left out of the results table: {problem}", stacklevel=3)
    rows, bad = [], []
    for c in done:
        try:
            rows += cell_rows(workdir, c)
        except DamagedCellError as e:
            bad.append(c)
            warnings.warn(f"cell {c} left out of the results table: {e}", stacklevel=3)
    _write(workdir, _frame(rows))
    return len(rows)


def rebuild(workdir: str) -> int:
    """Rewrites the table from every verified finished cell; returns its row count.

    A damaged cell (its ``DONE`` does not verify, or a file does not parse) is left out with a
    warning naming the file; the next driver run sets it aside and trains it again.
    """
    _check_dir(workdir)
    with _writer(workdir):
        return _rebuild(workdir)


def sync(workdir: str, log=None) -> int:
    """Brings the table in line with ``cells/``; returns how many cells were added or removed.

    Adds verified cells missing from the table (a crash between the cell files and the table
    append), removes cells that are no longer verified, and rebuilds a damaged table file with
    a warning (every row is in ``cells/``).
    """
    log = log or (lambda s: None)
    with _writer(workdir):
        done, _ = _verified(workdir)
        try:
            old = _read(workdir, columns=["cell_id"])
        except _TableDamaged as e:
            warnings.warn(f"{e}; rebuilding it from {workdir}/cells", stacklevel=2)
            log(f"results table: {e}; rebuilt from cells/ ({len(done)} cells)")
            _rebuild(workdir)
            return len(done)
        have = set() if old is None else set(old["cell_id"])
        missing = [c for c in done if c not in have]
        extra = sorted(have - set(done))
        if not missing and not extra:
            return 0
        if extra:
            import pandas as pd

            frame = _read(workdir)
            frame = frame[~frame["cell_id"].isin(set(extra))]
            parts = [f for f in (frame, _frame(_rows_of(workdir, missing))) if len(f)]
            new = _storable(pd.concat(parts, ignore_index=True)) if parts else _frame([])
            _write(workdir, new)
            log(f"results table: removed {len(extra)} cell(s) that are no longer verified")
        elif missing:
            append(workdir, missing)
        if missing:
            log(f"results table: added {len(missing)} finished cell(s) missing (after a crash)")
        return len(missing) + len(extra)


def _check_dir(workdir: str) -> None:
    if not os.path.isdir(os.path.join(os.path.abspath(workdir), "cells")):
        raise ValueError(f"{workdir!r} is not a sweep directory (no cells/ inside)")


def load(workdir: str, all_cells: bool = False):
    """The table as a pandas DataFrame (empty when no cell has finished).

    Args:
        workdir: the sweep directory.
        all_cells: every finished cell in the directory; default: only the cells of its
            current grid (``sweep.json``), so a changed grid never mixes in old cells.

    A damaged table file is read from ``cells/`` instead, with a warning (the driver rewrites
    it when it next starts).

    Raises:
        ValueError: ``workdir`` is not a sweep directory.
    """
    import pandas as pd

    _check_dir(workdir)
    try:
        frame = _read(workdir)
    except _TableDamaged as e:
        warnings.warn(f"{e}; reading the finished cells instead", stacklevel=2)
        frame = _frame(_rows_of(workdir, _verified(workdir)[0]))
    if frame is None:
        frame = pd.DataFrame()
    if not all_cells and len(frame):
        ids = grid_cells(workdir)
        if ids is not None:
            frame = frame[frame["cell_id"].isin(set(ids))].reset_index(drop=True)
    return frame


def query(workdir: str, sql: str, all_cells: bool = False):
    """Runs DuckDB ``sql`` over the table (named ``results``); returns a pandas DataFrame.

    Args:
        workdir: the sweep directory.
        sql: one SQL statement reading ``results``.
        all_cells: as in `load` (default: the current grid's cells only).

    Raises:
        ValueError: an empty ``sql``; a query DuckDB rejects (the message adds the table's
            columns, or says that no cell has finished yet).

    Example:
        >>> query(DIR, 'SELECT count(DISTINCT cell_id) AS n FROM results')  # doctest: +SKIP
    """
    import duckdb
    import pandas as pd

    if not isinstance(sql, str) or not sql.strip():
        raise ValueError(
            f"sql={sql!r} is empty; give a statement over the table 'results', e.g. "
            "'SELECT count(DISTINCT cell_id) FROM results'"
        )
    frame = load(workdir, all_cells=all_cells)
    if not len(frame.columns):
        frame = pd.DataFrame({"cell_id": pd.Series([], dtype=str)})
    con = duckdb.connect()
    try:
        con.register("results", frame)
        try:
            return con.execute(sql).df()
        except duckdb.Error as e:
            if not len(frame):
                ids = grid_cells(workdir)
                grid = f" of the {len(ids)} in its grid" if ids is not None else ""
                raise ValueError(
                    f"{workdir}: no finished cells{grid} yet, so the results table is empty "
                    f"and this query fails ({type(e).__name__}: {e}); run the sweep first"
                ) from e
            cols = ", ".join(f'"{c}"' for c in frame.columns[:40])
            more = f" (+{len(frame.columns) - 40} more)" if len(frame.columns) > 40 else ""
            raise ValueError(
                f"query failed: {type(e).__name__}: {e}\nThe table 'results' has columns "
                f'{cols}{more}; quote dotted names: "loss.name"'
            ) from e
    finally:
        con.close()
