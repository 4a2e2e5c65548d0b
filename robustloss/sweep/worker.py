"""What one task does: train one program and split its runs into per-cell records.

Runs inside a worker (a local pool process, a Ray task, or the driver itself with
``--workers 0``); JAX is imported here, inside the task. Tasks and results are plain dicts.

A result's ``status`` says whose fault an ending was:

* ``"done"``: the program trained to its end; each cell record is ``"done"`` (history and
  summary) or ``"failed"`` -- a run that went non-finite was frozen inside the pack and stopped
  (`robustloss.training.train` with ``isolate_runs=True``) while the others went on;
* ``"failed"``: the program raised (a bad config, a shape the data does not fit): its cells'
  fault, recorded as ``FAILED``;
* ``"env"``: the environment failed -- no space left, read-only or failing storage, the pack
  held by another live process -- not the cells: the driver leaves them pending.

The records of a finished program are a function of its pack's files (`pack_records`), so a
driver killed while writing a program's cells finishes them from the pack, without training.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
import traceback
from typing import Any

from robustloss.sweep._io import ENV_ERRNOS, env_errno

__all__ = [
    "cell_summary",
    "pack_records",
    "program_records",
    "run_program",
    "split_examples",
    "split_history",
]

#: The history key where a pack records its failed runs (per run: None, or the failure);
#: `robustloss.training.run.FAILED_KEY` (not imported: this module loads without JAX).
FAILED_KEY = "failed"


def split_history(history: list[dict], num_runs: int) -> list[list[dict]]:
    """Per-run histories from a program's history whose metrics are lists of ``num_runs``
    (the program-level ``failed`` entry is left out)."""
    out: list[list[dict]] = [[] for _ in range(num_runs)]
    for record in history:
        for r in range(num_runs):
            out[r].append(
                {
                    k: (v[r] if isinstance(v, list) and len(v) == num_runs else v)
                    for k, v in record.items()
                    if k != FAILED_KEY
                }
            )
    return out


def cell_summary(
    history: list[dict], select_metric: str, num_epochs: int, data_source: str
) -> dict:
    """``summary.json`` of one run, as `robustloss.training.train` writes it for a single run
    (`robustloss.training.summarize`: the final epoch, the best epoch by ``select_metric``, an
    ``oracle`` flag only for an explicit ``test/`` metric and no test-set fallback,
    ``num_epochs``, ``complete``) plus ``data_source``."""
    from robustloss.training.workdir import summarize

    return {**summarize(history, select_metric, None, num_epochs), "data_source": data_source}


def run_failures(history: list[dict], num_runs: int) -> dict[int, dict]:
    """``{run: failure}`` of the runs a pack stopped (from the history's ``failed`` entries)."""
    out: dict[int, dict] = {}
    for record in history:
        for r, f in enumerate(record.get(FAILED_KEY) or []):
            if f is not None and r < num_runs:
                out.setdefault(r, f)
    return out


def _failure_text(f: dict) -> str:
    where = f"epoch {f.get('epoch')} (counted from 1)"
    if f.get("step") is not None:
        where += f", step {f['step']} of that epoch (from 0; global step {f.get('global_step')})"
    return (
        f"NonFiniteLossError: {f.get('what', 'training loss')} became {f.get('value')} at "
        f"{where}; this run was stopped inside its pack and the other runs went on (lower the "
        "learning rate, enable optimizer.clip_norm, or check the loss hyperparameters)"
    )


def program_records(
    history: list[dict],
    ids: list[str],
    config: dict,
    data_source: str,
    noise: Any = None,
    files: dict[str, dict[str, str]] | None = None,
) -> list[dict]:
    """Per-cell records of a finished program: ``{"id", "status": "done", "history",
    "summary", "files"}``, or ``{"id", "status": "failed", "error"}`` for a run the pack
    stopped.

    ``noise`` is the program summary's ``noise`` (real labels: one report per run, or one for
    all runs); each cell's summary gets its run's report, as a standalone run's summary has it.
    ``files`` (`split_examples`): ``{cell id: {name: path}}`` of files in the pack directory
    that belong in the cell's directory (``examples.parquet``).
    """
    failed = run_failures(history, len(ids)) if len(ids) > 1 else {}
    hists = split_history(history, len(ids)) if len(ids) > 1 else [history]
    out = []
    for r, (cid, hist) in enumerate(zip(ids, hists, strict=True)):
        if r in failed:
            out.append({"id": cid, "status": "failed", "error": _failure_text(failed[r])})
            continue
        summary = cell_summary(hist, config["select_metric"], config["num_epochs"], data_source)
        if noise is not None:
            summary["noise"] = noise[r] if isinstance(noise, list) else noise
        out.append(
            {
                "id": cid,
                "status": "done",
                "history": hist,
                "summary": summary,
                "files": (files or {}).get(cid, {}),
            }
        )
    return out


def _read_lines(path: str) -> list[dict]:
    out = []
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break
            out.append(json.loads(line))
    return out


def pack_records(pack_dir: str, ids: list[str]) -> list[dict] | None:
    """The cell records of a *finished* pack, read from its files; None if it is not finished.

    Finished: ``summary.json`` says complete (or every run was stopped), ``metrics.jsonl`` holds
    epochs ``1..n`` and the checkpoint of epoch ``n`` exists. The records are exactly those
    `run_program` returned when the program ended (they are computed from the same history).
    """
    try:
        with open(os.path.join(pack_dir, "config.json")) as f:
            config = json.load(f)
        with open(os.path.join(pack_dir, "summary.json")) as f:
            summary = json.load(f)
        history = _read_lines(os.path.join(pack_dir, "metrics.jsonl"))
    except (OSError, ValueError):
        return None
    n = len(history)
    if not n or [r.get("epoch") for r in history] != list(range(1, n + 1)):
        return None
    all_failed = len(ids) > 1 and len(run_failures(history, len(ids))) == len(ids)
    if not (summary.get("complete") and n == config["num_epochs"]) and not all_failed:
        return None
    if not os.path.isdir(os.path.join(pack_dir, "checkpoints", str(n))):
        return None
    return program_records(
        history,
        ids,
        config,
        summary.get("data_source", ""),
        summary.get("noise"),
        split_examples(pack_dir, ids),
    )


def split_examples(workdir: str, cell_ids: list[str]) -> dict[str, dict[str, str]]:
    """Splits the program's ``examples.parquet`` into one file per cell (rows of run ``r`` for
    cell ``r``, without the ``run`` and ``row`` columns, as the standalone run writes it) under
    ``workdir/examples/``; returns
    ``{cell id: {"examples.parquet": path}}`` for the driver to move into the cell directories
    (``{}`` when the program wrote none)."""
    from robustloss.training.diagnostics import EXAMPLES

    src = os.path.join(workdir, EXAMPLES)
    if not os.path.exists(src):
        return {}
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from robustloss._io import atomic_write

    table = pq.read_table(src)
    out_dir = os.path.join(workdir, "examples")
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    for r, cid in enumerate(cell_ids):
        part = table
        if "run" in table.column_names:  # as the cell's standalone run writes it: no run/row
            extra = [c for c in ("run", "row") if c in table.column_names]
            part = table.filter(pc.equal(table["run"], r)).drop_columns(extra)
        elif len(cell_ids) > 1:
            raise ValueError(f"{src} has no run column but the program has {len(cell_ids)} cells")
        path = os.path.join(out_dir, f"{cid}.parquet")
        atomic_write(path, lambda tmp, part=part: pq.write_table(part, tmp))
        out[cid] = {EXAMPLES: path}
    return out


def _use_compilation_cache(path: str) -> None:
    """Turns on JAX's persistent compilation cache in ``path`` (once per process)."""
    import jax

    if jax.config.jax_compilation_cache_dir != path:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def wait_for_pack(path: str, timeout: float, poll: float = 0.5) -> bool:
    """Waits until no live process holds the pack's lock (the run's workdir ``flock``);
    True when free, False after ``timeout`` seconds. A held lock means a live holder (the
    kernel drops the lock of a dead one), so the pack is waited for, never deleted."""
    os.makedirs(path, exist_ok=True)
    deadline = time.time() + timeout
    while True:
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
        finally:
            os.close(fd)
        if time.time() >= deadline:
            return False
        time.sleep(poll)


def _env_message(e: BaseException, task: dict) -> str | None:
    from robustloss.training.workdir import WorkdirLockedError

    if isinstance(e, WorkdirLockedError):
        return f"lock: {e}"
    code = env_errno(e)
    if code is None:
        return None
    return (
        f"storage: {ENV_ERRNOS[code]} ({errno.errorcode[code]}) while program "
        f"{task['program_id']} wrote {task['workdir']}: {type(e).__name__}: {e}"
    )


def run_program(task: dict) -> dict:
    """Trains ``task["config"]`` in ``task["workdir"]`` (resuming) and returns per-cell records.

    Args:
        task: ``{"program_id", "config": plain dict, "workdir", "cell_ids": [...]}`` and
            optionally ``"compilation_cache"`` (a directory for JAX's persistent cache),
            ``"lock_wait"`` (seconds to wait for a pack held by another live process; 600) and
            ``"tensorboard_dir"``: the sweep's ``DIR/tensorboard`` (one run per cell there, when
            the config's ``writers`` include ``"tensorboard"``).

    Returns:
        ``{"program_id", "status": "done" | "failed" | "env", "error", "wall", "cells":
        [record, ...]}`` (module docstring). Python exceptions never escape, so an engine
        retries only system failures (a killed worker).
    """
    from robustloss.sweep.lifeline import in_task

    t0 = time.time()
    out: dict[str, Any] = {"program_id": task["program_id"], "cells": [], "error": ""}
    with in_task():
        try:
            if not wait_for_pack(task["workdir"], task.get("lock_wait", 600.0)):
                out["status"] = "env"
                out["error"] = (
                    f"lock: pack {task['workdir']} is held by another live process (a "
                    f"worker of an earlier driver still ending?) for {task.get('lock_wait', 600)}"
                    " s; its cells stay pending"
                )
                out["wall"] = time.time() - t0
                return out
            import ml_collections

            from robustloss.training import train

            if task.get("compilation_cache"):
                _use_compilation_cache(task["compilation_cache"])

            config = ml_collections.ConfigDict(task["config"])
            ids = task["cell_ids"]
            logdirs = None
            if task.get("tensorboard_dir"):  # one TensorBoard run per cell: DIR/tensorboard/<id>
                logdirs = [os.path.join(task["tensorboard_dir"], cid) for cid in ids]
            summary = train(
                config, task["workdir"], log=lambda s: None, isolate_runs=True, logdirs=logdirs
            )
            history = summary["history"]
            all_failed = len(ids) > 1 and len(run_failures(history, len(ids))) == len(ids)
            if not summary.get("complete") and not all_failed:
                raise RuntimeError(f"program {task['program_id']} stopped before its last epoch")
            out["cells"] = program_records(
                history,
                ids,
                task["config"],
                summary["data_source"],
                summary.get("noise"),
                split_examples(task["workdir"], ids),
            )
            out["status"] = "done"
        except Exception as e:  # noqa: BLE001 -- recorded as a failed program, the sweep goes on
            env = _env_message(e, task)
            out["status"] = "env" if env else "failed"
            out["error"] = env or f"{type(e).__name__}: {e}\n\n{traceback.format_exc()[-4000:]}"
            out["cells"] = []
    out["wall"] = time.time() - t0
    return out
