"""Cells: one standalone run each, with a stable id and a directory ``DIR/cells/<id>/``.

A cell's *resolved config* is what ``get_config(arg)`` of its config file returns for the
cell's ``:key=value`` argument, i.e. exactly the config ``python -m experiments.main --config
FILE:<arg>`` trains. Its id is a hash of that config's canonical JSON (sorted keys) without the
fields in `NOT_IN_ID`, which change how a run is executed or reported but not its numbers.

A finished cell's directory holds what a standalone ``experiments.main`` run writes --
``config.json``, ``metrics.jsonl`` (one value per metric), ``summary.json`` -- and then a
``DONE`` marker, written last. A cell whose program failed holds ``config.json`` and
``FAILED`` (the error text). Every file is written atomically (temporary file + rename).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from typing import Any

__all__ = [
    "NOT_IN_ID",
    "Cell",
    "canonical_json",
    "cell_dir",
    "cell_status",
    "config_hash",
    "make_cell",
    "write_cell",
    "write_failed",
]

#: Top-level config fields left out of a cell's id (and of a program's key): they control
#: progress printing, checkpoint cadence/retention, host syncs, metric writers and diagnostics
#: (extra metrics from an eval-mode pass), not the trained numbers.
NOT_IN_ID = (
    "progress",
    "checkpoint_every",
    "checkpoint_seconds",
    "keep_checkpoints",
    "sync_every",
    "writers",
    "diagnostics",
)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One run of a sweep.

    Attributes:
        values: the grid cell as given (``{"loss": "gce", "q": 0.7, ...}``).
        arg: its ``:key=value`` argument (joined after the config file's own argument).
        config: the resolved standalone config as a plain dict (``ConfigDict.to_dict()``).
        config_json: the same as ``config.json`` of a standalone run writes it.
        id: stable id (16 hex digits of SHA-256 of `canonical_json`).
    """

    values: dict
    arg: str | None
    config: dict
    config_json: dict
    id: str


def _strip(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in NOT_IN_ID}


def canonical_json(config_json: dict) -> str:
    """Sorted, compact JSON of a config without `NOT_IN_ID` fields."""
    return json.dumps(_strip(config_json), sort_keys=True, separators=(",", ":"))


def config_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_cell(values: dict, arg: str | None, config: Any) -> Cell:
    """A `Cell` from its grid values, argument and resolved ``ConfigDict``.

    Raises:
        ValueError: the config is several vmapped runs (``seeds`` / ``loss.sweep_values``).
    """
    if len(config.seeds) or len(config.loss.sweep_values):
        raise ValueError(
            f"cell {values!r} resolves to several vmapped runs (config.seeds={config.seeds!r}, "
            f"config.loss.sweep_values={config.loss.sweep_values!r}); a cell is one run: list "
            "them as cells, e.g. product(seed=[0, 1, 2]) or product(q=[0.3, 0.7])"
        )
    config_json = json.loads(config.to_json_best_effort())
    return Cell(
        values=dict(values),
        arg=arg,
        config=config.to_dict(),
        config_json=config_json,
        id=config_hash(canonical_json(config_json)),
    )


def cell_dir(workdir: str, cell_id: str) -> str:
    return os.path.join(os.path.abspath(workdir), "cells", cell_id)


def cell_status(workdir: str, cell_id: str) -> str:
    """``"done"`` (``DONE`` present), ``"failed"`` (``FAILED`` present) or ``"pending"``."""
    d = cell_dir(workdir, cell_id)
    if os.path.exists(os.path.join(d, "DONE")):
        return "done"
    if os.path.exists(os.path.join(d, "FAILED")):
        return "failed"
    return "pending"


def _atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


def write_cell(
    workdir: str,
    cell: Cell,
    history: list[dict],
    summary: dict,
    info: dict,
    files: dict[str, str] | None = None,
) -> str:
    """Writes a finished cell's files and then its ``DONE`` marker; returns the directory.

    Args:
        workdir: the sweep directory.
        cell: the cell.
        history: its per-epoch records (one value per metric).
        summary: its ``summary.json`` content.
        info: written into ``DONE`` (program id, wall time).
        files: ``{name: path}`` of finished files (e.g. ``examples.parquet`` in the pack
            directory) moved into the cell's directory (a rename) before ``DONE``.
    """
    d = cell_dir(workdir, cell.id)
    os.makedirs(d, exist_ok=True)
    for stale in ("DONE", "FAILED"):
        if os.path.exists(os.path.join(d, stale)):
            os.remove(os.path.join(d, stale))
    _atomic_write(os.path.join(d, "config.json"), _json(cell.config_json))
    lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in history)
    _atomic_write(os.path.join(d, "metrics.jsonl"), lines)
    _atomic_write(os.path.join(d, "summary.json"), _json(summary))
    for name, src in (files or {}).items():
        os.replace(src, os.path.join(d, name))
    _atomic_write(os.path.join(d, "DONE"), _json({"cell": cell.id, "values": cell.values, **info}))
    return d


def write_failed(workdir: str, cell: Cell, error: str, info: dict) -> str:
    """Records a failed cell: ``config.json`` and ``FAILED`` (JSON with the error text)."""
    d = cell_dir(workdir, cell.id)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    _atomic_write(os.path.join(d, "config.json"), _json(cell.config_json))
    body = {"cell": cell.id, "values": cell.values, "error": error, **info}
    _atomic_write(os.path.join(d, "FAILED"), _json(body))
    return d
