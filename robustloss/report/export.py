"""Export runs to Weights & Biases: one W&B run per training run (a sweep's cell, or each
vmapped run of a workdir) with its config, per-epoch history and summary.

``python -m experiments.export --workdir DIR --to wandb [--project P]`` calls `export_wandb`.
Nothing in training depends on W&B: this reads a finished (or running) workdir afterwards, from
the files every run writes (``config.json``, ``metrics.jsonl``, ``summary.json``; a sweep's
``cells/<id>/``), and ``wandb`` (extra ``[wandb]``) is imported only here.

Idempotent: ``DIR/wandb_export.json`` records, per project, the W&B id of every exported run and
how many epochs it has (rewritten atomically after each run); a new run's id is a hash of the
workdir's real path and the run's key (``cells/<id>`` or ``run_<r>``). A second export skips
every run already exported in full; a run that gained epochs since (a resumed run) is resumed
in W&B (``resume="allow"``, same id) and only its new epochs are logged. Offline mode
(``WANDB_MODE=offline``) writes local run directories that ``wandb sync`` uploads later.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable
from typing import Any

import ml_collections

from robustloss._io import atomic_write
from robustloss.sweep.cells import cell_status
from robustloss.sweep.worker import split_history
from robustloss.training.runs import plan_runs

__all__ = ["RECORD", "ExportRun", "export_wandb", "runs_of"]

RECORD = "wandb_export.json"


@dataclasses.dataclass
class ExportRun:
    """One run to export.

    Attributes:
        key: stable name inside the workdir (``cells/<id>``, ``run`` or ``run_<r>``).
        name: display name (the cell's argument, or the workdir's name).
        config: the run's own config, nested (a vmapped run's fields set to its values).
        history: per-epoch records (one value per metric).
        summary: ``summary.json`` (``{}`` if absent).
        group: the W&B group (the sweep's or workdir's directory name).
    """

    key: str
    name: str
    config: dict
    history: list[dict]
    summary: dict
    group: str


def _read_json(path: str, default: Any = None) -> Any:
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def _read_jsonl(path: str) -> list[dict]:
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # a line being written
                out.append(json.loads(line))
    return out


def _runs_of_workdir(path: str) -> list[ExportRun]:
    config = _read_json(os.path.join(path, "config.json"))
    if config is None:
        raise ValueError(f"{path!r} holds no config.json: not a run's workdir nor a sweep")
    history = _read_jsonl(os.path.join(path, "metrics.jsonl"))
    summary = _read_json(os.path.join(path, "summary.json"), {})
    group = os.path.basename(path)
    plan = plan_runs(ml_collections.ConfigDict(config))
    if not plan.num_runs:
        return [ExportRun("run", group, config, history, summary, group)]
    out = []
    for r, hist in enumerate(split_history(history, plan.num_runs)):
        cfg = json.loads(plan.run_config(r).to_json_best_effort())  # run r's own config
        cfg["run_index"] = r
        name = f"{group}/run_{r}"
        out.append(ExportRun(f"run_{r}", name, cfg, hist, _run_summary(summary, r), group))
    return out


def _run_summary(summary: dict, r: int) -> dict:
    """Run ``r``'s values of a vmapped run's summary (lists become their r-th value)."""
    pick = lambda v: v[r] if isinstance(v, list) else v
    return {
        k: {kk: pick(vv) for kk, vv in v.items()} if isinstance(v, dict) else pick(v)
        for k, v in summary.items()
        if k not in ("final_mean", "final_std")
    }


def runs_of(workdir: str) -> tuple[list[ExportRun], dict[str, int]]:
    """The runs of ``workdir`` and counts by status: a sweep's finished cells (failed and
    pending cells have no history to export: counted, skipped) or a workdir's run(s).

    Raises:
        ValueError: neither a sweep directory (``cells/``) nor a run's (``config.json``).
    """
    path = os.path.abspath(workdir)
    root = os.path.join(path, "cells")
    if not os.path.isdir(root):
        runs = _runs_of_workdir(path)
        return runs, {"runs": len(runs)}
    listed = _read_json(os.path.join(path, "sweep.json"), {}).get("cells", [])
    args = {c["id"]: c.get("arg") or "" for c in listed}
    counts = {"done": 0, "failed": 0, "pending": 0}
    runs = []
    for cid in sorted(set(os.listdir(root)) | set(args)):
        status = cell_status(path, cid)
        counts[status] += 1
        if status != "done":
            continue
        d = os.path.join(root, cid)
        done = _read_json(os.path.join(d, "DONE"), {})
        name = args.get(cid) or ",".join(f"{k}={v}" for k, v in done.get("values", {}).items())
        runs.append(
            ExportRun(
                key=f"cells/{cid}",
                name=name or cid,
                config=_read_json(os.path.join(d, "config.json")),
                history=_read_jsonl(os.path.join(d, "metrics.jsonl")),
                summary=_read_json(os.path.join(d, "summary.json"), {}),
                group=os.path.basename(path),
            )
        )
    return runs, counts


def run_id(workdir: str, key: str) -> str:
    """The W&B run id of run ``key`` of ``workdir``: ``rl-`` + 20 hex digits of SHA-256 of the
    workdir's real path and the key (stable across exports; distinct across workdirs)."""
    text = f"{os.path.realpath(workdir)}|{key}"
    return "rl-" + hashlib.sha256(text.encode()).hexdigest()[:20]


def _numbers(record: dict) -> dict[str, float]:
    out = {}
    for k, v in record.items():
        if isinstance(v, bool):
            out[k] = int(v)
        elif isinstance(v, int | float) and k != "epoch":
            out[k] = v
    return out


def _summary_items(summary: dict) -> dict[str, Any]:
    """``best/<metric>``, ``best/epoch``, ``complete``, ``data_source`` of a summary."""
    out: dict[str, Any] = {}
    best = summary.get("best") or {}
    for k, v in best.items():
        if k in ("metric", "note"):
            continue
        if isinstance(v, bool | int | float) or v is None:
            out[f"best/{k}"] = v
    for k in ("complete", "data_source", "num_epochs"):
        if k in summary:
            out[k] = summary[k]
    return {k: v for k, v in out.items() if not (isinstance(v, float) and math.isnan(v))}


def export_wandb(
    workdir: str,
    *,
    project: str = "robustloss",
    entity: str | None = None,
    wandb_dir: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Exports the runs of ``workdir`` (a run or a sweep) to W&B; see the module docstring.

    Args:
        workdir: a run's workdir or a sweep directory.
        project, entity: the W&B project (and entity; None: the account's default).
        wandb_dir: where ``wandb`` keeps its local files (default: W&B's, ``./wandb``).
        log: line printer (default ``print``).

    Returns:
        ``{"exported", "resumed", "skipped", ...}`` counts (plus the sweep's cell counts).
    """
    try:
        import wandb
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("export to W&B needs: pip install 'robustloss[wandb]'") from e
    log = log or (lambda s: print(s, flush=True))
    workdir = os.path.abspath(workdir)
    runs, counts = runs_of(workdir)
    record_path = os.path.join(workdir, RECORD)
    record = _read_json(record_path, {})
    scope = f"{entity or ''}/{project}"
    done = record.setdefault(scope, {})
    out = {"exported": 0, "resumed": 0, "skipped": 0, **counts}
    for run in runs:
        prev = done.get(run.key)
        rid = prev["id"] if prev else run_id(workdir, run.key)  # the record wins (a moved dir)
        start = prev["epochs"] if prev else 0
        if prev is not None and start >= len(run.history):
            out["skipped"] += 1
            continue
        w = wandb.init(
            project=project,
            entity=entity,
            id=rid,
            name=run.name,
            group=run.group,
            config=run.config,
            resume="allow",
            dir=wandb_dir,
            reinit="finish_previous",
        )
        try:
            for rec in run.history[start:]:
                w.log(_numbers(rec), step=int(rec["epoch"]))
            w.summary.update(_summary_items(run.summary))
        finally:
            w.finish()
        done[run.key] = {"id": rid, "epochs": len(run.history), "name": run.name}
        atomic_write(record_path, json.dumps(record, indent=1, sort_keys=True) + "\n")
        out["resumed" if start else "exported"] += 1
        log(f"{run.key}: {'resumed' if start else 'exported'} as {rid} ({run.name})")
    return out
