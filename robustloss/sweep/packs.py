"""A sweep directory's ``packs/``: the programs' workdirs, and the driver's housekeeping.

``DIR/packs/<program id>/`` is the workdir of one program while it trains (its ``config.json``,
``metrics.jsonl``, Orbax ``checkpoints/``, ``summary.json``), plus ``program.json``, written
by the driver before the program starts: the program's cell ids in run order. A running
program holds the pack's ``flock`` (`robustloss.training.Workdir`); the kernel drops it when the
process ends, so a held lock always means a live holder, and nothing here ever deletes a pack
whose lock is held: it is left alone (and waited for by the next task that needs it).

* `finished_packs`: packs whose program trained to its end (a complete final checkpoint and
  history) -- the driver writes their pending cells from the pack's files instead of training
  them again, even when a kill left only some of the program's cells written (the pending rest
  alone would pack into a *different* program id).
* `clean_leftovers`: at start, removes temporary files whose owner process is gone and packs
  nobody needs any more (every cell written, or never started).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator

from robustloss._io import atomic_write, tmp_owner
from robustloss.sweep._io import dumps, pid_alive

__all__ = [
    "PROGRAM_FILE",
    "clean_leftovers",
    "finished_packs",
    "pack_dir",
    "read_program",
    "remove_pack",
    "write_program",
]

PROGRAM_FILE = "program.json"


def pack_dir(workdir: str, program_id: str) -> str:
    return os.path.join(os.path.abspath(workdir), "packs", program_id)


def write_program(workdir: str, program_id: str, cell_ids: list[str]) -> str:
    """Writes ``packs/<id>/program.json`` (the cell ids in run order); returns the pack dir."""
    d = pack_dir(workdir, program_id)
    os.makedirs(d, exist_ok=True)
    body = {"program": program_id, "cells": list(cell_ids)}
    atomic_write(os.path.join(d, PROGRAM_FILE), dumps(body, indent=1) + "\n")
    return d


def read_program(path: str) -> list[str] | None:
    """The cell ids a pack's ``program.json`` lists (None if missing or unreadable)."""
    try:
        with open(os.path.join(path, PROGRAM_FILE)) as f:
            ids = json.load(f)["cells"]
        return [str(c) for c in ids]
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def _holding(path: str) -> Iterator[bool]:
    """Tries the pack's lock (non-blocking); yields whether this process now holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            yield False
            return
        yield True
    finally:
        os.close(fd)


def remove_pack(workdir: str, program_id: str) -> bool:
    """Removes ``packs/<id>/`` unless a live process holds its lock; True when removed."""
    path = pack_dir(workdir, program_id)
    with _holding(path) as mine:
        if not mine:
            return False
        shutil.rmtree(path)
        return True


def _remove_dead_tmp(folder: str) -> int:
    n = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        pid = tmp_owner(name)
        if pid is not None and not pid_alive(pid):
            path = os.path.join(folder, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
            n += 1
    return n


def clean_leftovers(
    workdir: str, is_done: Callable[[str], bool], log: Callable[[str], None]
) -> None:
    """Removes what a killed run left behind and no live process owns (the driver lock held).

    * temporary files of `robustloss._io.atomic_write` in ``DIR``, ``cells/*/`` and unlocked
      ``packs/*/`` whose writer process is gone;
    * unlocked packs whose cells are all done (``is_done``), and unlocked packs that never
      started (no ``program.json``, no checkpoints).
    """
    root = os.path.abspath(workdir)
    tmp = _remove_dead_tmp(root)
    cells = os.path.join(root, "cells")
    if os.path.isdir(cells):
        for c in os.listdir(cells):
            tmp += _remove_dead_tmp(os.path.join(cells, c))
    packs = os.path.join(root, "packs")
    stale = 0
    if os.path.isdir(packs):
        for name in sorted(os.listdir(packs)):
            path = os.path.join(packs, name)
            if not os.path.isdir(path):
                continue
            with _holding(path) as mine:
                if not mine:
                    continue  # a live process trains in it
                ids = read_program(path)
                ckpt = os.path.join(path, "checkpoints")
                started = os.path.isdir(ckpt) and bool(os.listdir(ckpt))
                if (ids is not None and all(is_done(c) for c in ids)) or (
                    ids is None and not started
                ):
                    shutil.rmtree(path)
                    stale += 1
                else:
                    tmp += _remove_dead_tmp(path)
    if tmp or stale:
        log(
            f"cleaned up after an earlier run: {tmp} temporary file(s) of ended processes, "
            f"{stale} pack(s) no cell needs"
        )


def finished_packs(workdir: str) -> Iterator[tuple[str, list[str], list[dict]]]:
    """``(program id, cell ids, cell records)`` of every unlocked pack whose program finished
    (`robustloss.sweep.worker.pack_records`)."""
    from robustloss.sweep.worker import pack_records

    packs = os.path.join(os.path.abspath(workdir), "packs")
    if not os.path.isdir(packs):
        return
    for name in sorted(os.listdir(packs)):
        path = os.path.join(packs, name)
        ids = read_program(path)
        if ids is None:
            continue
        with _holding(path) as mine:
            if not mine:
                continue
            records = pack_records(path, ids)
        if records is not None:
            yield name, ids, records
