"""One training run (or a vmapped batch of runs) from a config: the epoch loop.

`train(config, workdir)` is what ``python -m experiments.main`` calls. It composes the parts of
``robustloss.training``: `validate_config` (config.py), which resolves the config into its
`RunPlan` (runs.py) once; `load_run_data` / `build_trainer` / `init_state` (build.py) and the
evaluation, which all take that plan; `make_feed` (feed.py: the inputs of
``dataset.pipeline``, from the fields the runs share); `Workdir` (workdir.py: ``config.json``,
append-only ``metrics.jsonl``, ``summary.json``, Orbax ``checkpoints/``) and `Progress`
(progress.py).

Each line of ``metrics.jsonl`` (``epoch`` counts completed epochs, 1..num_epochs) holds
``train/loss``, ``train/acc_noisy``, ``train/acc_clean``, ``train/<objective metric>``,
``val/*``, ``test/top1``..``test/top5``, ``test/balanced_acc``, ``lr``, ``time`` (seconds for
the epoch incl. evaluation) and ``elapsed``. With ``config.runs`` every value is a list with one
entry per run.

Re-running with the same config and workdir resumes from the last checkpoint; since shuffling and
per-step keys derive from the run key and the epoch/step counters in the state, the resumed run
ends with exactly the metrics of an uninterrupted one (same device count).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np

from robustloss.noise import noise_kind
from robustloss.training.build import (
    RunData,
    build_trainer,
    init_state,
    load_run_data,
    noise_metrics,
)
from robustloss.training.config import validate_config
from robustloss.training.diagnostics import Diagnostics
from robustloss.training.feed import make_feed
from robustloss.training.progress import Progress
from robustloss.training.runs import RunPlan, add_runs
from robustloss.training.trainer import NONFINITE_KEY, Trainer, TrainState
from robustloss.training.workdir import Workdir, summarize
from robustloss.training.writers import flat_hparams, make_writers, run_hparams

__all__ = [
    "FAILED_KEY",
    "NonFiniteEvaluationError",
    "NonFiniteMetricError",
    "load_run_data",
    "train",
    "train_many",
]

#: With ``isolate_runs``: the ``metrics.jsonl`` key listing, per run, None or why the run was
#: stopped (``{"epoch", "what", "value", ...}``); written only once a run has stopped.
FAILED_KEY = "failed"


class NonFiniteEvaluationError(FloatingPointError):
    """An evaluation produced NaN/inf logits: its accuracy would be meaningless, so the run stops.

    The message names the split (``val``/``test``), the epoch, the run and how many rows.
    """


class NonFiniteMetricError(FloatingPointError):
    """An epoch's metric is NaN/inf although every step's loss was finite (e.g. an epoch mean
    that overflowed float32): the run stops before the line reaches ``metrics.jsonl``."""


def _check_select_metric(config: ml_collections.ConfigDict, data: RunData) -> str | None:
    """``config.select_metric`` against what this dataset's evaluation logs (after loading).

    Returns a note when it is a ``val/`` metric and there is no validation split (no epoch is
    then selected; `summarize` says so), else None.

    Raises:
        ValueError: ``top{k}`` with ``k > min(5, K)`` (never logged).
    """
    metric = config.select_metric
    split, name = metric.split("/", 1)
    k_max = min(5, data.num_classes)
    if name.startswith("top") and int(name[3:]) > k_max:
        valid = [f"{split}/top{k}" for k in range(1, k_max + 1)] + [f"{split}/balanced_acc"]
        raise ValueError(
            f"config.select_metric={metric!r} is never logged: dataset {config.dataset.name!r} "
            f"has K={data.num_classes} classes, so top-k is logged for k <= {k_max}; choose "
            f"one of {valid}"
        )
    if split == "val" and not len(data.y_val):
        return (
            f"note: select_metric={metric!r} but there is no validation split, so summary.json "
            "selects no best epoch (set dataset.val_fraction > 0, or select_metric='test/top1' "
            "for an explicit test-set oracle)"
        )
    return None


class _Evaluation:
    """The evaluation sets of a run, on device, and the metrics of one evaluation."""

    def __init__(self, plan: RunPlan, trainer: Trainer, data: RunData, feed: Any):
        runs = plan.num_runs
        per_run = lambda y: np.broadcast_to(y, (runs,) + y.shape[-1:]) if runs else y
        self.trainer, self.config, self.feed = trainer, plan.config, feed
        self.x_test, self.y_test = feed.eval_input(data.x_test), data.y_test
        self.has_val = data.y_val.shape[-1] > 0
        self.val_sizes = data.val_sizes  # runs validating on their own (padded) rows
        self.val_per_run = self.val_sizes is not None
        self.x_val = feed.eval_input(data.x_val) if self.has_val else None
        # further eval sets by name (mini-WebVision's ilsvrc12_val): <name>/top1..
        self.extra = {n: (feed.eval_input(x), y) for n, (x, y) in (data.extra_eval or {}).items()}
        self.y_val, self.y_val_clean = per_run(data.y_val), per_run(data.y_val_clean)
        # Any run with noise reports its clean validation accuracy, as alone.
        self.clean_val = any(_val_labels_noisy(rc) for rc in plan.run_configs)

    def due(self, epoch: int) -> bool:
        """Evaluate after ``epoch`` (from 0): every ``eval_every`` epochs and after the last."""
        done = epoch + 1
        return done == self.config.num_epochs or done % self.config.eval_every == 0

    def __call__(self, state: TrainState, epoch: int) -> dict:
        """The metrics after ``epoch`` (counted from 1).

        Raises:
            NonFiniteEvaluationError: a split had rows with NaN/inf logits.
        """
        record = self._metrics(state)
        bad = self.nonfinite(record, epoch)
        if bad:
            raise NonFiniteEvaluationError(next(iter(bad.values()))[2])
        return record

    def nonfinite(self, record: dict, epoch: int) -> dict[int, tuple[str, int, str]]:
        """``{run: (split, rows, message)}`` of the runs (0 for one run) whose evaluation in
        ``record`` had NaN/inf logits (the first split per run)."""
        out: dict[int, tuple[str, int, str]] = {}
        for split in ("val", "test"):
            bad = np.asarray(record.get(f"{split}/nonfinite", 0.0), np.float64).reshape(-1)
            for run in np.flatnonzero(bad > 0).tolist():
                if run in out:
                    continue
                rows = self.y_val_clean.shape[-1] if split == "val" else len(self.y_test)
                where = f" of run {run} (seed index)" if bad.size > 1 else ""
                out[run] = (
                    split,
                    int(bad[run]),
                    f"non-finite {split} evaluation after epoch {epoch}{where}: {int(bad[run])} "
                    f"of {rows} {split} rows have NaN/inf logits, so its accuracy means nothing "
                    f"(those rows count as misses). Check the {split} inputs for NaN/inf, and "
                    "the model (e.g. BatchNorm running statistics); the training loss was finite",
                )
        return out

    def _metrics(self, state: TrainState) -> dict:
        t = self.trainer
        self.test_logits = self.feed.predict(state, self.x_test)  # also read by the diagnostics
        test = t.evaluate(state, None, self.y_test, logits=self.test_logits)
        record = {f"test/{k}": v for k, v in test.items()}
        for name, (x, y) in self.extra.items():
            metrics = t.evaluate(state, None, y, logits=self.feed.predict(state, x))
            record.update({f"{name}/{k}": v for k, v in metrics.items()})
        if self.has_val:
            logits = self.feed.predict(state, self.x_val, per_run=self.val_per_run)
            sizes = self.val_sizes
            if sizes is not None and len(set(sizes)) == 1:
                sizes = None  # equal folds: one vmapped evaluation
            for k, v in t.evaluate(state, None, self.y_val, logits=logits, sizes=sizes).items():
                record[f"val/{k}"] = v
            if self.clean_val:
                clean = t.evaluate(state, None, self.y_val_clean, logits=logits, sizes=sizes)
                record["val/clean_top1"] = clean["top1"]
        return record


def _val_labels_noisy(config: ml_collections.ConfigDict) -> bool:
    """Whether the validation labels are corrupted, so ``val/clean_top1`` (against the known
    clean labels) differs from ``val/top1``: synthetic noise with a rate, or real noisy labels."""
    n = config.noise
    kind = noise_kind(n.kind)
    return bool(n.noisy_val) and kind != "clean" and (n.rate > 0 or kind == "real")


def train(
    config: ml_collections.ConfigDict,
    workdir: str | None = None,
    *,
    devices: list | None = None,
    stop_after: int | None = None,
    log: Callable[[str], None] | None = None,
    isolate_runs: bool = False,
    logdirs: list[str] | None = None,
) -> dict:
    """Trains per ``config``, writing metrics and checkpoints to ``workdir``; resumes if present.

    Args:
        config: a run config (`robustloss.training.default_config` or ``configs/*.py``).
        workdir: output directory; ``None`` trains without writing anything.
        devices: devices of the ``("data",)`` mesh (default: ``config.num_devices`` local ones).
        stop_after: stop after this many epochs *in this call* (as if killed); a later call
            resumes. Used by tests of resumption.
        log: line printer for progress (default ``print``).
        isolate_runs: with vmapped runs, a run whose training loss, epoch metrics or
            evaluation go non-finite is *stopped* -- frozen inside the compiled step (its
            parameters and optimizer state no longer change: `Trainer.train_epoch` ``alive``)
            and its values in later lines are None -- while the other runs go on unchanged;
            each line then lists why each run stopped under `FAILED_KEY`, and training ends
            early once every run has stopped. The sweep trains its packs this way. Default:
            the first non-finite value stops the whole program with an error.
        logdirs: with ``"tensorboard"`` in ``config.writers``, one TensorBoard directory per run
            (default ``workdir/tensorboard``, or ``workdir/tensorboard/run_<r>`` for R runs).

    Returns:
        The summary dict (also written to ``summary.json``), with the per-epoch ``history``.
        A complete run also writes ``examples.parquet`` (``config.diagnostics.examples``).

    Raises:
        ValueError: bad config (before anything is compiled), or ``workdir`` holds a run with a
            different config (or checkpoints without their ``config.json``).
        robustloss.training.WorkdirLockedError: another run is using ``workdir``.
        robustloss.training.NonFiniteLossError: the loss became NaN/inf (epoch and step given).
        NonFiniteEvaluationError: an evaluation had NaN/inf logits (split, epoch, rows given);
            the epoch's line is not written, so a rerun retrains it.
        NonFiniteMetricError: an epoch metric was NaN/inf (epoch and metric given); the line is
            not written.

    Example:
        >>> from configs import test as test_config
        >>> summary = train(test_config.get_config(), "/tmp/robustloss_doc")  # doctest: +SKIP
        >>> summary["final"]["test/top1"]  # doctest: +SKIP
    """
    plan = validate_config(config)  # the config resolved into its runs, once
    progress = Progress(config.progress, config.num_epochs, log)
    wd = None if workdir is None else Workdir(workdir, config)  # takes the workdir's lock
    feed = None
    writer = None
    try:
        progress.note(f"loading data ({config.dataset.name})…")
        data = load_run_data(plan)
        note = _check_select_metric(config, data)
        if note:
            progress.note(note)
        progress.note("compiling…")
        trainer = build_trainer(plan, data, devices=devices)
        state, history = init_state(plan, trainer, data), []
        feed = make_feed(plan.config, trainer, data)  # dataset.pipeline: memory or stream
        if wd is not None:
            wd.open(config.keep_checkpoints)
            state, history = wd.resume(state)
            state = feed.resume(state, wd)  # a mid-epoch checkpoint of a stream, if any
        noise = noise_metrics(data.noise_report)  # real labels: the realised noise rate
        evaluation = _Evaluation(plan, trainer, data, feed)
        diagnostics = Diagnostics(plan, trainer, data, feed, x_test=evaluation.x_test)
        if wd is not None and jax.process_index() == 0:  # metrics.jsonl first, then the others
            writer = _writers(plan, wd.path, history, logdirs)
        first = len(history)
        last_save = time.time()
        elapsed = history[-1]["elapsed"] if history else 0.0
        runs = plan.num_runs or 0
        isolate = bool(isolate_runs and runs)
        failed = _stopped_runs(history, runs) if isolate else []
        for epoch in range(first, config.num_epochs):
            if stop_after is not None and epoch - first >= stop_after:
                break
            if isolate and all(f is not None for f in failed):
                break  # every run of the pack has stopped
            t0 = time.time()
            alive = np.array([f is None for f in failed]) if isolate else None
            state, stats = feed.train_epoch(state, wd, alive=alive)
            for r, f in enumerate(stats.pop(NONFINITE_KEY, None) or []):
                if f is not None and failed[r] is None:
                    failed[r] = {"what": "training loss", **f}
            if trainer.objective.refresh_due(epoch, config.num_epochs):
                state = feed.refresh(state)
            record: dict[str, Any] = {"epoch": epoch + 1, **noise}
            record.update({f"train/{k.removeprefix('obj/')}": v for k, v in stats.items()})
            test_logits = None
            if evaluation.due(epoch) and not isolate:
                record.update(evaluation(state, epoch + 1))
                test_logits = evaluation.test_logits
            elif evaluation.due(epoch):
                metrics = evaluation._metrics(state)
                for r, (split, rows, _) in evaluation.nonfinite(metrics, epoch + 1).items():
                    if failed[r] is None:
                        failed[r] = {"epoch": epoch + 1, "what": f"{split} evaluation"}
                        failed[r]["value"] = f"{rows} rows with NaN/inf logits"
                record.update(metrics)
                test_logits = evaluation.test_logits
            record.update(diagnostics(state, epoch, test_logits))
            record["lr"] = _learning_rate(trainer, state)
            record["time"] = time.time() - t0
            elapsed = record["elapsed"] = elapsed + record["time"]
            if isolate:
                _stop_nonfinite_metrics(record, failed, epoch + 1)
            else:
                _check_finite_metrics(record, epoch + 1)
            history.append(record)
            if writer is not None:  # the line first: a checkpoint never gets ahead of the log
                writer.write_scalars(
                    record["epoch"], {k: v for k, v in record.items() if k != "epoch"}
                )
            if wd is not None:
                stopping = isolate and all(f is not None for f in failed)
                if _checkpoint_due(config, epoch, last_save) or stopping:
                    if writer is not None:
                        writer.flush()  # the log on disk first: a checkpoint never gets ahead
                    wd.save(epoch + 1, state)
                    last_save = time.time()
            progress.update(record)
    finally:
        try:
            if feed is not None:
                feed.close()
            if writer is not None:
                writer.close()
        finally:
            if wd is not None:
                wd.close()  # waits for checkpoint writes, releases the lock (also on an error)
    if not history:
        return {"history": []}
    summary = summarize(history, config.select_metric, plan.num_runs, config.num_epochs)
    summary["data_source"] = data.source
    if data.noise_report is not None:  # real labels: rate, empirical T, label set, provenance
        summary["noise"] = data.noise_report
    if wd is not None and jax.process_index() == 0:
        if summary["complete"]:
            diagnostics.write_examples(state, wd.path)
        wd.write_summary(summary)
    return {**summary, "history": history, "state": state}


def _stopped_runs(history: list[dict], runs: int) -> list[dict | None]:
    """Per run: why it was stopped (from the history's `FAILED_KEY` entries), or None."""
    out: list[dict | None] = [None] * runs
    for record in history:
        for r, f in enumerate(record.get(FAILED_KEY) or []):
            if f is not None and out[r] is None:
                out[r] = f
    return out


def _nonfinite_values(record: dict):
    """``(key, run or None, value)`` of every NaN/inf float of an epoch record."""
    for key, v in record.items():
        values = v if isinstance(v, list) else [v]
        for r, x in enumerate(values):
            if isinstance(x, float) and not math.isfinite(x):
                yield key, (r if isinstance(v, list) else None), x


def _check_finite_metrics(record: dict, epoch: int) -> None:
    """Raises `NonFiniteMetricError` for the first NaN/inf value of an epoch record."""
    for key, run, value in _nonfinite_values(record):
        where = "" if run is None else f" (run {run})"
        raise NonFiniteMetricError(
            f"epoch {epoch}: {key}{where} is {value} although every step's loss was finite "
            "(an epoch mean that overflowed float32?); the line is not written. Lower the "
            "learning rate, enable optimizer.clip_norm, or check the loss hyperparameters"
        )


def _stop_nonfinite_metrics(record: dict, failed: list, epoch: int) -> None:
    """Isolated runs: a run with a NaN/inf value stops; every stopped run's values become None,
    and the record lists the stopped runs under `FAILED_KEY` (once any run has stopped)."""
    for key, run, value in list(_nonfinite_values(record)):
        if run is not None and failed[run] is None:
            failed[run] = {"epoch": epoch, "what": f"epoch value of {key}", "value": str(value)}
        elif run is None:  # a program-wide value (not per run) cannot be blamed on one run
            _check_finite_metrics({key: value}, epoch)
    runs = len(failed)
    for key, v in record.items():
        if isinstance(v, list) and len(v) == runs:
            record[key] = [None if failed[r] is not None else x for r, x in enumerate(v)]
    if any(f is not None for f in failed):
        record[FAILED_KEY] = list(failed)


def _writers(plan: RunPlan, path: str, history: list, logdirs):
    """The run's `MetricWriter` (``config.writers``), reopened on the resumed ``history``, with
    each run's flat config as its hyperparameters."""
    config = plan.config
    hparams = run_hparams([flat_hparams(c.to_dict()) for c in plan.run_configs])
    return make_writers(
        tuple(config.writers),
        path,
        history=history,
        num_runs=plan.num_runs or 0,
        logdirs=logdirs,
        hparams=hparams,
    )


def _checkpoint_due(config: ml_collections.ConfigDict, epoch: int, last_save: float) -> bool:
    """Save after ``epoch`` (from 0): the last epoch always; else every ``checkpoint_every``
    epochs, or with ``checkpoint_seconds > 0`` once that long passed since the last save."""
    if epoch + 1 == config.num_epochs:
        return True
    if config.checkpoint_seconds > 0:
        return time.time() - last_save >= config.checkpoint_seconds
    return (epoch + 1) % config.checkpoint_every == 0


def _learning_rate(trainer: Trainer, state: TrainState) -> float | list[float]:
    """The last step's learning rate: each run's base rate (in the optimizer state) times the
    schedule's shape, so packed and separate runs log the same value."""
    step = int(np.asarray(jax.device_get(state.step)).flat[0])
    base = np.asarray(jax.device_get(state.opt_state.hyperparams["learning_rate"]), np.float32)
    lr = base * np.float32(trainer.lr_shape(max(0, step - 1)))
    return float(lr) if lr.ndim == 0 else [float(v) for v in lr]


def train_many(
    config: ml_collections.ConfigDict,
    seeds: list[int],
    workdir: str | None = None,
    **kw: Any,
) -> dict:
    """Trains one run per seed, vmapped into one compiled program (run ``r`` of ``config.runs``
    gets ``seed = seeds[r]``, `robustloss.training.runs.add_runs`).

    Every metric in the returned history is a list with one value per seed; they match
    separate runs with ``config.seed = s`` up to float rounding.

    Example:
        >>> summary = train_many(cfg, [0, 1, 2, 3])  # doctest: +SKIP
        >>> summary["final"]["test/top1"]  # four accuracies  # doctest: +SKIP
    """
    config = ml_collections.ConfigDict(config.to_dict())
    add_runs(config, "seed", [int(s) for s in seeds])
    return train(config, workdir, **kw)
