"""A run's workdir: config check, append-only ``metrics.jsonl``, ``summary.json``, checkpoints.

Layout:

* ``config.json``: the full config; a later run in the same workdir must have the same one;
* ``metrics.jsonl``: one JSON object per completed epoch, **appended** as the epoch ends and
  *before* that epoch's checkpoint is saved (``epoch`` counts completed epochs, 1..num_epochs);
* ``summary.json``: the final epoch's metrics and the best epoch by ``config.select_metric``;
* ``checkpoints/``: an Orbax ``CheckpointManager`` directory of the whole `TrainState`;
* ``checkpoints_mid_epoch/`` (streamed data with ``checkpoint_steps``): the newest mid-epoch
  checkpoint, keyed by the global step: the train state, the epoch's running statistics and
  the input iterator's state (`save_mid_epoch`).

Resuming (`Workdir.resume`) restores the newest checkpoint whose epochs all have their line in
``metrics.jsonl`` and cuts the file back to exactly those lines (a line of an epoch after that
checkpoint, or a half-written last line, is dropped and that epoch is trained again), so after
any kill every epoch 1..n has exactly one line and a summary can only say ``complete`` when it
does. JSON files other than the log are written atomically (temporary file + rename); Orbax
finalises checkpoints by renaming as well.

One run at a time: `Workdir` takes an exclusive ``fcntl.flock`` on the workdir directory itself
(no lock file is left behind) and holds it until `Workdir.close`; the kernel releases it when
the process exits or is killed, so a crashed run never leaves a stale lock. A second run in the
same workdir fails at once with `WorkdirLockedError` instead of an Orbax error mid-run.

``config.json`` is what ties the checkpoints to their config: a workdir with checkpoints but no
``config.json`` is refused (a different config would otherwise resume the old checkpoint). The
fields in `NOT_IN_ID` (progress display, checkpoint cadence/retention, host syncs) do not change
the trained numbers, so a rerun that changes only them resumes (and records the new values).

JSON is strict: a NaN/inf value raises ``ValueError`` instead of writing ``NaN``/``Infinity``
(not JSON); `robustloss.training.train` stops at a non-finite epoch metric before writing it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from robustloss._io import atomic_write, write_json
from robustloss.training.trainer import TrainState
from robustloss.training.writers import JsonlWriter

__all__ = [
    "NOT_IN_ID",
    "Workdir",
    "WorkdirLockedError",
    "mean_value",
    "restore_state",
    "summarize",
]

#: Top-level config fields that control progress printing, checkpoint cadence/retention, host
#: syncs, metric writers and diagnostics (extra metrics from an eval-mode pass), not the trained
#: numbers: a run resumes when only these changed, and the sweep's cell ids leave them out
#: (`robustloss.sweep.cells` uses this list).
NOT_IN_ID = (
    "progress",
    "checkpoint_every",
    "checkpoint_seconds",
    "keep_checkpoints",
    "sync_every",
    "writers",
    "diagnostics",
)


class WorkdirLockedError(RuntimeError):
    """Another run (another process, or another `Workdir` in this one) holds the workdir."""


METRICS = "metrics.jsonl"
MID_EPOCH = "checkpoints_mid_epoch"


def _read_records(path: str) -> list[dict]:
    """The records of a JSON-lines file up to its first unreadable (e.g. half-written) line."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


def _diff_keys(a: Any, b: Any, prefix: str = "") -> set[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for k in set(a) | set(b):
            out |= _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return set() if a == b else {prefix.rstrip(".")}


def restore_state(mgr: ocp.CheckpointManager, like: TrainState, step: int | None = None):
    """Restores a `TrainState` from ``mgr`` using ``like``'s shapes, dtypes and shardings.

    Passing the abstract target keeps optax states as their NamedTuples (without it Orbax returns
    lists/None, docs/design.md §11) and places every array on the mesh as ``like`` is placed.
    """
    step = mgr.latest_step() if step is None else step
    abstract = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), like
    )
    return mgr.restore(step, args=ocp.args.StandardRestore(abstract))


class Workdir:
    """The output directory of one run (see the module docstring).

    Construction takes the workdir's lock (creating the directory) and checks ``config.json``
    against ``config`` (before any data is loaded); `open` writes ``config.json`` and opens the
    checkpoint manager; `close` waits for checkpoint writes and releases the lock.

    Args:
        path: the directory (made absolute).
        config: the run config.

    Raises:
        WorkdirLockedError: another run holds the workdir.
        ValueError: ``path`` holds a run with a different config (the differing fields named),
            or checkpoints without the ``config.json`` they were trained with.
    """

    def __init__(self, path: str, config: ml_collections.ConfigDict):
        self.path = os.path.abspath(path)
        self.config_json = json.loads(config.to_json_best_effort())
        self.mgr: ocp.CheckpointManager | None = None
        self._mid: ocp.CheckpointManager | None = None
        self._lock_fd: int | None = None
        self._lock()
        try:
            self._check_config()
        except BaseException:
            self._unlock()
            raise

    def _lock(self) -> None:
        os.makedirs(self.path, exist_ok=True)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise WorkdirLockedError(
                    f"workdir {self.path} is in use: another run (another process, or a run "
                    "still open in this one) holds its lock; wait for it to finish, or use a "
                    "different --workdir"
                ) from None
            raise
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _check_config(self) -> None:
        old_path = os.path.join(self.path, "config.json")
        if os.path.exists(old_path):
            with open(old_path) as f:
                old = json.load(f)
            strip = lambda c: {k: v for k, v in c.items() if k not in NOT_IN_ID}
            if strip(old) != strip(self.config_json):
                diff = sorted(_diff_keys(strip(old), strip(self.config_json)))
                raise ValueError(
                    f"workdir {self.path} holds a run with a different config (fields {diff}); "
                    "use a new --workdir or delete it"
                )
            return
        ckpt = os.path.join(self.path, "checkpoints")
        found = sorted(os.listdir(ckpt)) if os.path.isdir(ckpt) else []
        if found:
            raise ValueError(
                f"workdir {self.path} holds checkpoints ({ckpt}: {found[:5]}) but no "
                "config.json, so the config they were trained with cannot be checked and a "
                "different config could resume them; put the run's config.json back, or delete "
                "the workdir (or use a new one) to train again"
            )

    @property
    def metrics_path(self) -> str:
        return os.path.join(self.path, METRICS)

    def open(self, keep_checkpoints: int) -> None:
        """Creates the directory, writes ``config.json``, opens the checkpoint manager."""
        os.makedirs(self.path, exist_ok=True)
        write_json(os.path.join(self.path, "config.json"), self.config_json, allow_nan=False)
        self.mgr = ocp.CheckpointManager(
            os.path.join(self.path, "checkpoints"),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep_checkpoints, create=True),
        )

    def resume(self, state: TrainState) -> tuple[TrainState, list[dict]]:
        """The state and per-epoch history to continue from (``state`` itself when fresh).

        Restores the newest checkpoint whose epochs 1..e all have a line in ``metrics.jsonl``,
        deletes newer checkpoints, and cuts ``metrics.jsonl`` back to lines 1..e.

        Raises:
            ValueError: there are checkpoints, but ``metrics.jsonl`` lacks the lines of every one
                of them (e.g. the file was deleted): the history cannot be rebuilt.
        """
        records = _read_records(self.metrics_path)
        lines = 0  # length of the prefix with epochs 1, 2, 3, ...
        while lines < len(records) and records[lines].get("epoch") == lines + 1:
            lines += 1
        steps = sorted(self.mgr.all_steps())
        usable = [s for s in steps if s <= lines]
        if steps and not usable:
            raise ValueError(
                f"workdir {self.path}: checkpoints at epochs {steps} but {METRICS} holds the "
                f"lines of epochs 1..{lines} only, so the run's history is lost; delete the "
                "workdir (or use a new one) to train again"
            )
        step = usable[-1] if usable else 0
        for newer in steps:
            if newer > step:
                self.mgr.delete(newer)
        history = records[:step]
        self._rewrite(history)
        if step:
            state = restore_state(self.mgr, state, step)
        return state, history

    def _rewrite(self, history: list[dict]) -> None:
        lines = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in history)
        atomic_write(self.metrics_path, lines)

    def append(self, record: dict) -> None:
        """Appends one epoch's line to ``metrics.jsonl`` (flushed to disk before returning);
        `robustloss.training.writers.JsonlWriter` writes it.

        Raises:
            ValueError: a NaN/inf value (JSON has none); nothing is written.
        """
        rest = {k: v for k, v in record.items() if k != "epoch"}
        writer = JsonlWriter(self.metrics_path)
        try:
            writer.write_scalars(record["epoch"], rest)
        finally:
            writer.close()  # fsynced

    def save(self, epoch: int, state: TrainState) -> None:
        """Saves the checkpoint of ``epoch`` completed epochs (after its metrics line)."""
        self.mgr.save(epoch, args=ocp.args.StandardSave(state))

    def _mid_manager(self) -> ocp.CheckpointManager:
        if self._mid is None:
            self._mid = ocp.CheckpointManager(
                os.path.join(self.path, MID_EPOCH),
                options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True),
            )
        return self._mid

    def save_mid_epoch(self, step: int, state: TrainState, stats: Any, inputs: dict) -> None:
        """Saves a mid-epoch checkpoint at global ``step``: the train state, the epoch's running
        statistics and the input iterator's (JSON) state; only the newest is kept."""
        self._mid_manager().save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                stats=ocp.args.StandardSave(stats),
                inputs=ocp.args.JsonSave(inputs),
            ),
        )

    def restore_mid_epoch(
        self, state: TrainState, stats: Any, after: int, before: int
    ) -> tuple[TrainState, Any, dict] | None:
        """The newest mid-epoch checkpoint with ``after < step < before`` (the epoch the
        restored epoch checkpoint continues into), as ``(state, stats, inputs)``, or None.
        Mid-epoch checkpoints outside that range belong to another epoch and are deleted."""
        mgr = self._mid_manager()
        steps = sorted(mgr.all_steps())
        usable = [s for s in steps if after < s < before]
        for s in steps:
            if not usable or s != usable[-1]:
                mgr.delete(s)
        if not usable:
            return None
        abstract = lambda tree: jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), tree
        )
        out = mgr.restore(
            usable[-1],
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract(state)),
                stats=ocp.args.StandardRestore(abstract(stats)),
                inputs=ocp.args.JsonRestore(),
            ),
        )
        return out.state, out.stats, dict(out.inputs)

    def write_summary(self, summary: dict) -> None:
        write_json(os.path.join(self.path, "summary.json"), summary, allow_nan=False)

    def close(self) -> None:
        """Waits for pending checkpoint writes, closes the manager and releases the lock."""
        try:
            for name in ("mgr", "_mid"):
                mgr = getattr(self, name)
                if mgr is not None:
                    setattr(self, name, None)
                    mgr.wait_until_finished()
                    mgr.close()
        finally:
            self._unlock()


def mean_value(v: Any) -> float:
    """A metric's value, averaged over runs when it is a list (one entry per run; runs a pack
    stopped hold None and are left out; NaN when every run was stopped)."""
    if isinstance(v, list):
        kept = [x for x in v if x is not None]
        return float(np.mean(kept)) if kept else float("nan")
    return float(v)


def summarize(history: list[dict], select: str, runs: int | None, num_epochs: int) -> dict:
    """The summary of a run: final metrics, the best epoch by ``select``, completeness.

    ``best`` is the epoch maximising ``select`` (the mean over runs), with ``oracle: true`` iff
    ``select`` is a ``test/`` metric (an explicit test-set oracle). There is no fallback to the
    test set: when no epoch logged ``select`` (a ``val/`` metric without a validation split)
    ``best`` holds ``epoch: None`` and a ``note``. ``complete`` is true only when the history
    holds exactly epochs ``1..num_epochs``; with runs, ``final_mean``/``final_std`` aggregate
    over them.

    Example:
        >>> h = [{"epoch": 1, "val/top1": 0.5}, {"epoch": 2, "val/top1": 0.4}]
        >>> s = summarize(h, "val/top1", None, 2)
        >>> s["best"]["epoch"], s["best"]["oracle"], s["complete"]
        (1, False, True)
        >>> summarize(h, "val/top5", None, 2)["best"]["epoch"] is None
        True
    """
    final = history[-1]
    oracle = select.startswith("test/")
    scored = [r for r in history if select in r]
    if scored:
        best = {
            "metric": select,
            "oracle": oracle,
            **max(scored, key=lambda r: mean_value(r[select])),
        }
    else:
        best = {
            "metric": select,
            "oracle": oracle,
            "epoch": None,
            "note": f"no epoch logged {select!r} (no validation split?), so no epoch is selected; "
            "set dataset.val_fraction > 0, or select_metric='test/top1' for an explicit "
            "test-set oracle",
        }
    out: dict[str, Any] = {
        "final": final,
        "best": best,
        "num_epochs": final["epoch"],
        "complete": [r["epoch"] for r in history] == list(range(1, num_epochs + 1)),
    }
    if runs:
        # per-run numbers only (a pack's list of stopped runs is not one; stopped runs are None)
        numeric = {
            k: [x for x in v if x is not None]
            for k, v in final.items()
            if isinstance(v, list)
            and all(x is None or isinstance(x, int | float) for x in v)
            and any(x is not None for x in v)
        }
        out["final_mean"] = {k: float(np.mean(v)) for k, v in numeric.items()}
        out["final_std"] = {k: float(np.std(v)) for k, v in numeric.items()}
    return out
