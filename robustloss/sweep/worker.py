"""What one task does: train one program and split its runs into per-cell records.

Runs inside a worker (a local pool process, a Ray task, or the driver itself with
``--workers 0``); JAX is imported here, inside the task. Tasks and results are plain dicts.
"""

from __future__ import annotations

import os
import time
import traceback
from typing import Any

__all__ = ["cell_summary", "run_program", "split_examples", "split_history"]


def split_history(history: list[dict], num_runs: int) -> list[list[dict]]:
    """Per-run histories from a program's history whose metrics are lists of ``num_runs``."""
    out: list[list[dict]] = [[] for _ in range(num_runs)]
    for record in history:
        for r in range(num_runs):
            out[r].append(
                {
                    k: (v[r] if isinstance(v, list) and len(v) == num_runs else v)
                    for k, v in record.items()
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

    from robustloss.training.writers import atomic_output

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
        with atomic_output(path) as tmp:
            pq.write_table(part, tmp)
        out[cid] = {EXAMPLES: path}
    return out


def _use_compilation_cache(path: str) -> None:
    """Turns on JAX's persistent compilation cache in ``path`` (once per process)."""
    import jax

    if jax.config.jax_compilation_cache_dir != path:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def run_program(task: dict) -> dict:
    """Trains ``task["config"]`` in ``task["workdir"]`` (resuming) and returns per-cell records.

    Args:
        task: ``{"program_id", "config": plain dict, "workdir", "cell_ids": [...]}`` and
            optionally ``"compilation_cache"``: a directory for JAX's persistent cache, and
            ``"tensorboard_dir"``: the sweep's ``DIR/tensorboard`` (one run per cell there, when
            the config's ``writers`` include ``"tensorboard"``).

    Returns:
        ``{"program_id", "status": "done" | "failed", "error", "wall", "cells": [{"id",
        "history", "summary", "files"}, ...]}`` (``files``: ``{name: path}`` of files in the
        pack directory that belong in the cell's directory, e.g. ``examples.parquet``).
        Python exceptions (a non-finite loss, a bad config) become ``status="failed"`` with
        the traceback; they are never raised, so an engine retries only system failures (a
        killed worker).
    """
    t0 = time.time()
    out: dict[str, Any] = {"program_id": task["program_id"], "cells": [], "error": ""}
    try:
        import ml_collections

        from robustloss.training import train

        if task.get("compilation_cache"):
            _use_compilation_cache(task["compilation_cache"])

        config = ml_collections.ConfigDict(task["config"])
        ids = task["cell_ids"]
        logdirs = None
        if task.get("tensorboard_dir"):  # one TensorBoard run per cell: DIR/tensorboard/<id>
            logdirs = [os.path.join(task["tensorboard_dir"], cid) for cid in ids]
        summary = train(config, task["workdir"], log=lambda s: None, logdirs=logdirs)
        if not summary.get("complete"):
            raise RuntimeError(f"program {task['program_id']} stopped before its last epoch")
        histories = (
            split_history(summary["history"], len(ids)) if len(ids) > 1 else [summary["history"]]
        )
        files = split_examples(task["workdir"], ids)
        for cid, hist in zip(ids, histories, strict=True):
            out["cells"].append(
                {
                    "id": cid,
                    "history": hist,
                    "summary": cell_summary(
                        hist, config.select_metric, config.num_epochs, summary["data_source"]
                    ),
                    "files": files.get(cid, {}),
                }
            )
        out["status"] = "done"
    except Exception as e:  # noqa: BLE001 -- recorded as a failed program, the sweep goes on
        out["status"] = "failed"
        out["error"] = f"{type(e).__name__}: {e}\n\n{traceback.format_exc()[-4000:]}"
        out["cells"] = []
    out["wall"] = time.time() - t0
    return out
