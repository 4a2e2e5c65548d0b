"""The results table of a sweep: ``DIR/results.parquet``, one row per cell x epoch.

Columns: ``cell_id``; the cell's resolved config as flat dotted columns (``loss.name``,
``noise.rate``, ``loss.hparams.q``, ...; list values as JSON text); the epoch's metrics
(``epoch``, ``train/loss``, ``test/top1``, ``val/top1``, ...). Only finished cells (``DONE``)
appear. The sweep driver is the only writer: after each program it adds that program's cells
(`append_records`, from the records it just wrote to the cell files; the new table is written
beside the old one and renamed over it). Since every row comes from the cell directories,
`rebuild` recreates the table from them, so a crash between a cell's files and the table append
loses nothing (the driver calls `sync` when it starts).

Read it with `load` (a pandas DataFrame) or `query` (DuckDB SQL over a table named
``results``)::

    from robustloss.sweep import results
    results.query(DIR, "SELECT \\"loss.name\\", avg(\\"test/top1\\") AS acc FROM results "
                       "WHERE epoch = \\"num_epochs\\" GROUP BY 1")
"""

from __future__ import annotations

import json
import os
from typing import Any

from robustloss._io import atomic_write

__all__ = ["TABLE", "append", "append_records", "cell_rows", "load", "query", "rebuild", "sync"]

TABLE = "results.parquet"


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


def _done_cells(workdir: str) -> list[str]:
    root = os.path.join(os.path.abspath(workdir), "cells")
    if not os.path.isdir(root):
        return []
    return sorted(c for c in os.listdir(root) if os.path.exists(os.path.join(root, c, "DONE")))


def cell_rows(workdir: str, cell_id: str) -> list[dict]:
    """The table rows of one finished cell (from its ``config.json`` and ``metrics.jsonl``)."""
    d = os.path.join(os.path.abspath(workdir), "cells", cell_id)
    with open(os.path.join(d, "config.json")) as f:
        flat = _flatten(json.load(f))
    rows = []
    with open(os.path.join(d, "metrics.jsonl")) as f:
        for line in f:
            if line.strip():
                metrics = json.loads(line)
                rows.append({"cell_id": cell_id, **flat, **metrics})
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


def append(workdir: str, cell_ids: list[str]) -> int:
    """Adds (or replaces) the rows of finished cells ``cell_ids``; returns the table's row count."""
    return _replace(workdir, set(cell_ids), [r for c in cell_ids for r in cell_rows(workdir, c)])


def append_records(workdir: str, records: list[dict]) -> int:
    """Adds (or replaces) finished cells' rows from records the caller holds; returns the row count.

    The rows `append` would read back from the cells' ``config.json`` and ``metrics.jsonl``, made
    from the very records those files were just written from (the sweep driver's), so nothing is
    read from disk; `rebuild` and `sync` still read the files. Each record goes through the same
    sorted JSON as those files (in memory), so the rows are equal, key order and types included.

    Args:
        workdir: the sweep directory.
        records: one ``{"id", "config_json", "history"}`` per cell: its id, its ``config.json``
            content and its per-epoch records (``metrics.jsonl`` lines).
    """
    rows = []
    for r in records:
        flat = _flatten(json.loads(json.dumps(r["config_json"], sort_keys=True)))
        for m in r["history"]:
            rows.append({"cell_id": r["id"], **flat, **json.loads(json.dumps(m, sort_keys=True))})
    return _replace(workdir, {r["id"] for r in records}, rows)


def _replace(workdir: str, ids: set[str], rows: list[dict]) -> int:
    """Writes the table with the rows of cells ``ids`` replaced by ``rows``; returns its length."""
    import pandas as pd

    new = _frame(rows)
    if os.path.exists(_path(workdir)):
        old = pd.read_parquet(_path(workdir))
        old = old[~old["cell_id"].isin(ids)]
        parts = [f for f in (old, new) if len(f)]
        new = _storable(pd.concat(parts, ignore_index=True)) if parts else new
    _write(workdir, new)
    return len(new)


def rebuild(workdir: str) -> int:
    """Rewrites the table from every finished cell directory; returns its row count."""
    rows = [r for c in _done_cells(workdir) for r in cell_rows(workdir, c)]
    _write(workdir, _frame(rows))
    return len(rows)


def sync(workdir: str) -> int:
    """Appends finished cells missing from the table (after a crash); returns how many."""
    done = _done_cells(workdir)
    if not done:
        return 0
    have: set[str] = set()
    if os.path.exists(_path(workdir)):
        import pyarrow.parquet as pq

        have = set(pq.read_table(_path(workdir), columns=["cell_id"]).column(0).to_pylist())
    missing = [c for c in done if c not in have]
    if missing:
        append(workdir, missing)
    return len(missing)


def _check_dir(workdir: str) -> None:
    if not os.path.isdir(os.path.join(os.path.abspath(workdir), "cells")):
        raise ValueError(f"{workdir!r} is not a sweep directory (no cells/ inside)")


def load(workdir: str):
    """The table as a pandas DataFrame (empty when no cell has finished).

    Raises:
        ValueError: ``workdir`` is not a sweep directory.
    """
    import pandas as pd

    _check_dir(workdir)
    if not os.path.exists(_path(workdir)):
        return pd.DataFrame()
    return pd.read_parquet(_path(workdir))


def query(workdir: str, sql: str):
    """Runs DuckDB ``sql`` over the table (named ``results``); returns a pandas DataFrame.

    Example:
        >>> query(DIR, 'SELECT count(DISTINCT cell_id) AS n FROM results')  # doctest: +SKIP
    """
    import duckdb
    import pandas as pd

    _check_dir(workdir)
    con = duckdb.connect()
    try:
        if os.path.exists(_path(workdir)):
            path = _path(workdir).replace("'", "''")
            con.execute(f"CREATE VIEW results AS SELECT * FROM read_parquet('{path}')")
        else:
            con.register("results", pd.DataFrame({"cell_id": pd.Series([], dtype=str)}))
        return con.execute(sql).df()
    finally:
        con.close()
