"""Cells: one standalone run each, with a stable id and a directory ``DIR/cells/<id>/``.

A cell's *resolved config* is what ``get_config(arg)`` of its config file returns for the
cell's ``:key=value`` argument, i.e. exactly the config ``python -m experiments.main --config
FILE:<arg>`` trains. Its id is a hash of that config's canonical JSON (sorted keys) without the
fields in `NOT_IN_ID` (`robustloss.training.workdir.NOT_IN_ID`, the one list: a run resumes
when only those changed), which change how a run is executed or reported but not its numbers.

A finished cell's directory holds what a standalone ``experiments.main`` run writes --
``config.json``, ``metrics.jsonl`` (one value per metric), ``summary.json`` -- and then a
``DONE`` record, written last, holding the number of epochs and a SHA-256 of each file: DONE
means *verified* (`verify_cell`), so a cell whose files were changed, truncated or lost since is
reported as damaged, set aside (``DONE`` -> ``DAMAGED``) and trained again, never served. A cell
whose run failed holds ``config.json`` and ``FAILED`` (the error text); recording a failure
never deletes a finished cell. Every file is written atomically (`robustloss._io`), JSON
strictly (a NaN/inf raises before anything is written).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

from robustloss._io import atomic_write
from robustloss.sweep._io import dumps
from robustloss.training.workdir import NOT_IN_ID

__all__ = [
    "NOT_IN_ID",
    "Cell",
    "canonical_json",
    "cell_dir",
    "cell_status",
    "config_hash",
    "make_cell",
    "set_aside",
    "verify_cell",
    "write_cell",
    "write_failed",
]


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
        ValueError: the config is several vmapped runs (``config.runs``, e.g. from ``seeds=``).
    """
    if len(config.runs):
        raise ValueError(
            f"cell {values!r} resolves to several vmapped runs (config.runs={config.runs!r}); a "
            "cell is one run: list them as cells, e.g. product(seed=[0, 1, 2]) or "
            "product(q=[0.3, 0.7])"
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


#: ``DONE``'s format: 2 records the cell's epochs and a SHA-256 of each file it vouches for.
DONE_FORMAT = 2
CELL_FILES = ("config.json", "metrics.jsonl", "summary.json")


def cell_status(workdir: str, cell_id: str) -> str:
    """``"done"`` (a ``DONE`` that matches the cell's files), ``"damaged"`` (a ``DONE`` that
    does not: `verify_cell` says why), ``"failed"`` (``FAILED``) or ``"pending"``."""
    return verify_cell(workdir, cell_id)[0]


def verify_cell(workdir: str, cell_id: str) -> tuple[str, str]:
    """``(status, problem)`` of a cell: DONE means verified (see `cell_status`).

    A format-2 ``DONE`` lists a SHA-256 per file and the number of epochs: every file must
    exist with that checksum and ``metrics.jsonl`` hold that many lines. An older ``DONE``
    without checksums is checked structurally: ``metrics.jsonl`` parses with epochs ``1..n``
    and ``summary.json`` parses, says ``complete`` and ``num_epochs == n``.

    Returns:
        The status and, for ``"damaged"``, a message naming the file and what is wrong.
    """
    d = cell_dir(workdir, cell_id)
    if os.path.exists(os.path.join(d, "DONE")):
        problem = _check_done(d)
        return ("damaged", problem) if problem else ("done", "")
    if os.path.exists(os.path.join(d, "FAILED")):
        return "failed", ""
    return "pending", ""


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_done(d: str) -> str | None:
    done = os.path.join(d, "DONE")
    try:
        with open(done) as f:
            info = json.load(f)
        if not isinstance(info, dict):
            raise ValueError(f"a JSON {type(info).__name__}, not an object")
    except (OSError, ValueError) as e:
        return f"{done} is not a readable DONE record ({type(e).__name__}: {e})"
    files = info.get("files")
    if files is None:
        return _check_legacy(d)
    for name in dict.fromkeys((*CELL_FILES, *files)):  # the cell's files and any extra ones
        path = os.path.join(d, name)
        if name not in files:
            return f"{done} lists no checksum for {name}"
        try:
            digest = _sha256(path)
        except OSError as e:
            return f"{path} is missing or unreadable ({e.strerror or e}); DONE vouches for it"
        if digest != files[name]:
            return f"{path} differs from the checksum in DONE (changed or damaged since)"
    with open(os.path.join(d, "metrics.jsonl"), "rb") as f:
        lines = sum(1 for line in f if line.strip())
    if lines != info.get("epochs"):
        return f"{d}/metrics.jsonl holds {lines} epochs, DONE records {info.get('epochs')}"
    return None


def _check_legacy(d: str) -> str | None:
    path = os.path.join(d, "metrics.jsonl")
    try:
        with open(path) as f:
            epochs = [json.loads(x)["epoch"] for x in f if x.strip()]
        with open(os.path.join(d, "summary.json")) as f:
            summary = json.load(f)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{d}: {type(e).__name__}: {e} (a DONE without checksums; its files do not parse)"
    if epochs != list(range(1, len(epochs) + 1)) or not epochs:
        return f"{path} holds epochs {epochs[:5]}..., not 1..n"
    if not summary.get("complete") or summary.get("num_epochs") != len(epochs):
        return f"{d}/summary.json does not describe {len(epochs)} complete epochs"
    return None


def set_aside(workdir: str, cell_id: str, problem: str) -> None:
    """Turns a damaged cell back into a pending one: ``DONE`` -> ``DAMAGED`` (with ``problem``
    and the old record), so it is never served and the next run trains it again."""
    d = cell_dir(workdir, cell_id)
    try:
        with open(os.path.join(d, "DONE")) as f:
            old = f.read()
    except OSError:
        old = ""
    atomic_write(os.path.join(d, "DAMAGED"), _json({"problem": problem, "DONE": old}))
    os.remove(os.path.join(d, "DONE"))


def _json(obj: Any) -> str:
    return dumps(obj, indent=1, sort_keys=True) + "\n"


def write_cell(
    workdir: str,
    cell: Cell,
    history: list[dict],
    summary: dict,
    info: dict,
    files: dict[str, str] | None = None,
) -> str:
    """Writes a finished cell's files and then its ``DONE`` record; returns the directory.

    ``DONE`` (written last, atomically like every file) records the program (``info``), the
    number of epochs and a SHA-256 of each file (``files`` included), so `verify_cell` can tell
    a finished cell from a damaged one. JSON is strict: a NaN/inf value raises ``ValueError``
    before anything is written.

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
    texts = {
        "config.json": _json(cell.config_json),
        "metrics.jsonl": "".join(dumps(r, sort_keys=True) + "\n" for r in history),
        "summary.json": _json(summary),
    }
    os.makedirs(d, exist_ok=True)
    for stale in ("DONE", "FAILED"):  # DAMAGED stays: why the cell was trained again
        if os.path.exists(os.path.join(d, stale)):
            os.remove(os.path.join(d, stale))
    for name in CELL_FILES:
        atomic_write(os.path.join(d, name), texts[name])
    record = {"cell": cell.id, "values": cell.values, **info, "format": DONE_FORMAT}
    record["epochs"] = len(history)
    record["files"] = {n: hashlib.sha256(texts[n].encode()).hexdigest() for n in CELL_FILES}
    for name, src in (files or {}).items():
        dst = os.path.join(d, name)
        if os.path.exists(src) or not os.path.exists(dst):  # moved already by a killed writer
            os.replace(src, dst)
        record["files"][name] = _sha256(dst)
    atomic_write(os.path.join(d, "DONE"), _json(record))
    return d


def write_failed(workdir: str, cell: Cell, error: str, info: dict) -> str | None:
    """Records a failed cell: ``config.json`` and ``FAILED`` (JSON with the error text).

    Never deletes anything: a cell that is already done (verified ``DONE``) is left as it is
    and None is returned (a failure reported late must not erase a finished cell); a damaged
    ``DONE`` is set aside first (`set_aside`).

    Returns:
        The cell directory, or None when the cell was already done.
    """
    status, problem = verify_cell(workdir, cell.id)
    if status == "done":
        return None
    if status == "damaged":
        set_aside(workdir, cell.id, problem)
    d = cell_dir(workdir, cell.id)
    os.makedirs(d, exist_ok=True)
    atomic_write(os.path.join(d, "config.json"), _json(cell.config_json))
    body = {"cell": cell.id, "values": cell.values, "error": error, **info}
    atomic_write(os.path.join(d, "FAILED"), _json(body))
    return d
