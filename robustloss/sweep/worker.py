"""What one task does: train one program and split its runs into per-cell records.

Runs inside a worker (a local pool process, a Ray task, or the driver itself with
``--workers 0``); JAX is imported here, inside the task. Tasks and results are plain dicts.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

__all__ = ["cell_summary", "run_program", "split_history"]


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
            optionally ``"compilation_cache"``: a directory for JAX's persistent cache.

    Returns:
        ``{"program_id", "status": "done" | "failed", "error", "wall", "cells": [{"id",
        "history", "summary"}, ...]}``. Python exceptions (a non-finite loss, a bad config)
        become ``status="failed"`` with the traceback; they are never raised, so an engine
        retries only system failures (a killed worker).
    """
    t0 = time.time()
    out: dict[str, Any] = {"program_id": task["program_id"], "cells": [], "error": ""}
    try:
        import ml_collections

        from robustloss.training import train

        if task.get("compilation_cache"):
            _use_compilation_cache(task["compilation_cache"])

        config = ml_collections.ConfigDict(task["config"])
        summary = train(config, task["workdir"], log=lambda s: None)
        if not summary.get("complete"):
            raise RuntimeError(f"program {task['program_id']} stopped before its last epoch")
        ids = task["cell_ids"]
        histories = (
            split_history(summary["history"], len(ids)) if len(ids) > 1 else [summary["history"]]
        )
        noise = summary.get("noise")  # real labels: one report per run (or one for all)
        for r, (cid, hist) in enumerate(zip(ids, histories, strict=True)):
            cs = cell_summary(hist, config.select_metric, config.num_epochs, summary["data_source"])
            if noise is not None:
                cs["noise"] = noise[r] if isinstance(noise, list) else noise
            out["cells"].append({"id": cid, "history": hist, "summary": cs})
        out["status"] = "done"
    except Exception as e:  # noqa: BLE001 -- recorded as a failed program, the sweep goes on
        out["status"] = "failed"
        out["error"] = f"{type(e).__name__}: {e}\n\n{traceback.format_exc()[-4000:]}"
        out["cells"] = []
    out["wall"] = time.time() - t0
    return out
