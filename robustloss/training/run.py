"""One training run (or a vmapped batch of runs) from a config: data, noise, loop, checkpoints.

`train(config, workdir)` is what ``python -m experiments.main`` calls. The workdir receives

* ``config.json``: the full config;
* ``metrics.jsonl``: one JSON object per completed epoch (``epoch`` counts completed epochs,
  1..num_epochs): ``train/loss``, ``train/acc_noisy``, ``train/acc_clean``, ``train/<objective
  metric>``, ``val/*``, ``test/top1``..``test/top5``, ``test/balanced_acc``, ``lr``, ``time``
  (seconds for the epoch incl. evaluation) and ``elapsed``. With ``config.seeds`` every value is a
  list with one entry per run;
* ``summary.json``: the final epoch's metrics and the best epoch by ``config.select_metric``;
* ``checkpoints/``: Orbax ``CheckpointManager`` directory of the whole `TrainState`.

Re-running with the same config and workdir resumes from the last checkpoint; since shuffling and
per-step keys derive from the run key and the epoch/step counters in the state, the resumed run
ends with exactly the metrics of an uninterrupted one (same device count). JSON files are written
atomically (temporary file + rename); Orbax finalises checkpoints by renaming as well.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from robustloss.training.config import validate_config
from robustloss.training.objective import Objective, objective_from_loss
from robustloss.training.optim import make_optimizer, make_schedule
from robustloss.training.trainer import Trainer, TrainState, make_mesh

__all__ = [
    "RunData",
    "load_run_data",
    "build_objective",
    "build_trainer",
    "num_runs",
    "train",
    "train_many",
]


@dataclasses.dataclass
class RunData:
    """Host arrays of a run after loading, subsetting and adding noise.

    Attributes:
        x_train: ``[N, ...]`` float32 inputs.
        y_train: ``[N]`` (or ``[R, N]`` with per-run noise) noisy int32 labels.
        y_train_clean: ``[N]`` clean labels.
        x_val, y_val, y_val_clean: validation split (0 rows when none); ``y_val`` noisy when
            ``noise.noisy_val``.
        x_test, y_test: clean test set.
        num_classes: K.
        true_T: ``[K, K]`` transition matrix of the noise generator (of run 0 with per-run
            noise).
        source: where the data came from.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    y_train_clean: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    y_val_clean: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    true_T: np.ndarray
    source: str


def _noise(
    config: ml_collections.ConfigDict,
    labels: np.ndarray,
    x: np.ndarray,
    k: int,
    seed: int,
    rows: np.ndarray | None = None,
):
    from robustloss.noise import add_noise, from_labels, read_label_file

    n = config.noise
    if n.kind in ("real", "from_labels"):
        # The file is in the dataset's source order; `rows` maps our examples to source rows.
        file_labels = np.asarray(read_label_file(n.labels_path, n.labels_key or None)).reshape(-1)
        if rows is None or rows.max(initial=-1) >= len(file_labels):
            raise ValueError(
                f"config.noise.labels_path={n.labels_path!r} holds {len(file_labels)} labels, "
                "fewer than the training examples' source rows need"
            )
        return from_labels(labels, file_labels[rows], num_classes=k)
    kw: dict[str, Any] = {"sampling": n.sampling, "mode": n.mode}
    if n.class_map:
        kw["class_map"] = n.class_map
    if n.kind in ("instance", "idn", "instance_dependent"):
        kw["features"] = x.reshape(x.shape[0], -1)
    return add_noise(labels, num_classes=k, kind=n.kind, rate=n.rate, seed=seed, **kw)


def load_run_data(config: ml_collections.ConfigDict) -> RunData:
    """Loads the dataset named by ``config.dataset`` and corrupts its labels per ``config.noise``.

    Args:
        config: a validated run config.

    Returns:
        A `RunData`.
    """
    from robustloss.data import load_dataset

    d = config.dataset
    extra: dict[str, Any] = {"test_rows": d.test_rows} if d.name == "letter" else {}
    if d.scale:
        extra["scale"] = d.scale
    ds = load_dataset(
        d.name,
        data_dir=d.data_dir or None,
        download=d.download,
        path=d.path or None,
        val_fraction=d.val_fraction,
        seed=d.split_seed,
        **extra,
    )
    x_train, y_clean, rows = ds.x_train, ds.y_train, ds.train_index
    if d.max_train:
        x_train, y_clean = x_train[: d.max_train], y_clean[: d.max_train]
        rows = rows[: d.max_train]
    x_test, y_test = ds.x_test, ds.y_test
    if d.max_test:
        x_test, y_test = x_test[: d.max_test], y_test[: d.max_test]
    k = ds.num_classes
    runs = num_runs(config) or 0
    if config.noise.per_run and runs:
        draws = [
            _noise(config, y_clean, x_train, k, config.noise.seed + r, rows) for r in range(runs)
        ]
        y_train = np.stack([dr.labels for dr in draws])
        true_T = draws[0].T
    else:
        draw = _noise(config, y_clean, x_train, k, config.noise.seed, rows)
        y_train, true_T = draw.labels, draw.T
        if runs:
            y_train = np.broadcast_to(y_train, (runs,) + y_train.shape).copy()
    y_val_clean = ds.y_val.astype(np.int32)
    y_val = y_val_clean
    if config.noise.noisy_val and len(y_val):
        y_val = _noise(
            config, y_val_clean, ds.x_val, k, config.noise.seed + 100_003, ds.val_index
        ).labels
    return RunData(
        x_train=np.asarray(x_train, np.float32),
        y_train=np.asarray(y_train, np.int32),
        y_train_clean=np.asarray(y_clean, np.int32),
        x_val=np.asarray(ds.x_val, np.float32),
        y_val=np.asarray(y_val, np.int32),
        y_val_clean=y_val_clean,
        x_test=np.asarray(x_test, np.float32),
        y_test=np.asarray(y_test, np.int32),
        num_classes=k,
        true_T=np.asarray(true_T, np.float32),
        source=ds.source,
    )


def build_objective(
    config: ml_collections.ConfigDict, num_classes: int, true_T: np.ndarray | None
) -> Objective:
    """The loss of ``config.loss`` as an `Objective`, wrapped by the transition method if any."""
    from robustloss import get_loss

    if config.loss.sweep_field:
        from robustloss.training.objective import objective_hparam_sweep

        return objective_hparam_sweep(
            config.loss.name, dict(config.loss.hparams), config.loss.sweep_field
        )
    loss = get_loss(config.loss.name, **dict(config.loss.hparams))
    if config.transition.use == "none":
        return objective_from_loss(loss)
    from robustloss.transition import make_objective

    return make_objective(
        config.transition,
        num_classes=num_classes,
        base_loss=loss,
        true_T=None if true_T is None else np.asarray(true_T, np.float32),
    )


def _check_model_input(config: ml_collections.ConfigDict, x: np.ndarray) -> None:
    name = config.model.name
    if name == "lenet" and x.shape[1:3] != (28, 28):
        raise ValueError(
            f"config.model.name='lenet' needs 28x28 images, but dataset "
            f"{config.dataset.name!r} has inputs of shape {x.shape[1:]}; use 'ffnn' or a ResNet"
        )
    if name.startswith("resnet") and x.ndim not in (3, 4):
        raise ValueError(
            f"config.model.name={name!r} needs images, but dataset {config.dataset.name!r} has "
            f"inputs of shape {x.shape[1:]}; use 'ffnn'"
        )
    if config.augment and x.ndim != 4:
        raise ValueError(f"config.augment=True needs images [N, H, W, C], got {x.shape}")


def build_trainer(
    config: ml_collections.ConfigDict, data: RunData, *, devices: list | None = None
) -> Trainer:
    """A `Trainer` for ``config`` on ``data`` (model, objective, optimizer, mesh)."""
    from robustloss.models import default_epoch_mode, get_model

    _check_model_input(config, data.x_train)
    if config.transition.use != "none":
        from robustloss.transition import validate_config as validate_transition

        validate_transition(config.transition, data.num_classes)
    m = config.model
    kw = {"hidden": m.hidden} if m.name == "ffnn" else {}
    if m.name.startswith("resnet"):
        kw = {"width": m.width, "stem": m.stem}
    model = get_model(m.name, data.num_classes, dtype=m.dtype, **kw)
    objective = build_objective(config, data.num_classes, data.true_T)
    n = data.x_train.shape[0]
    if config.drop_last:
        steps = n // config.batch_size
    else:
        steps = math.ceil(n / config.batch_size)
    o = config.optimizer
    schedule = make_schedule(
        o.lr,
        schedule=o.schedule,
        steps_per_epoch=max(1, steps),
        num_epochs=config.num_epochs,
        decay_epochs=tuple(o.decay_epochs),
        decay_factor=o.decay_factor,
    )
    tx = make_optimizer(
        o.name,
        schedule,
        momentum=o.momentum,
        nesterov=o.nesterov,
        weight_decay=o.weight_decay,
        clip_norm=o.clip_norm,
        b1=o.b1,
        b2=o.b2,
        eps=o.eps,
    )
    if devices is None:
        devices = jax.devices()
        if config.num_devices:
            devices = devices[: config.num_devices]
    augment = None
    if config.augment:
        from robustloss.data import random_crop_flip

        augment = random_crop_flip
    mode = config.epoch_mode
    if mode == "auto":
        mode = default_epoch_mode(m.name)
    runs = num_runs(config)
    trainer = Trainer(
        model,
        objective,
        tx,
        num_examples=n,
        num_classes=data.num_classes,
        batch_size=config.batch_size,
        shuffle=config.shuffle,
        drop_last=config.drop_last,
        epoch_mode=mode,
        mesh=make_mesh(devices),
        augment=augment,
        num_runs=runs,
        labels_per_run=runs is not None,
        sync_every=config.sync_every,
        eval_batch_size=config.eval_batch_size,
    )
    trainer.schedule = schedule
    return trainer


def num_runs(config: ml_collections.ConfigDict) -> int | None:
    """R for vmapped runs (``len(seeds)`` or ``len(loss.sweep_values)``), None for one run."""
    return max(len(config.seeds), len(config.loss.sweep_values)) or None


def _write_json(path: str, obj: Any) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def _write_jsonl(path: str, records: list[dict]) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _read_jsonl(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _mean(v: Any) -> float:
    return float(np.mean(v)) if isinstance(v, list) else float(v)


def _summary(history: list[dict], select: str, runs: int | None) -> dict:
    final = history[-1]
    metric, oracle = select, False
    if not any(metric in r for r in history):
        metric, oracle = "test/top1", True
    scored = [r for r in history if metric in r]
    best = max(scored, key=lambda r: _mean(r[metric])) if scored else final
    out: dict[str, Any] = {
        "final": final,
        "best": {"metric": metric, "oracle": oracle, **best},
        "num_epochs": final["epoch"],
    }
    if runs:
        out["final_mean"] = {k: _mean(v) for k, v in final.items() if isinstance(v, list)}
        out["final_std"] = {k: float(np.std(v)) for k, v in final.items() if isinstance(v, list)}
    return out


class _Progress:
    """A live status line on a terminal, plain lines otherwise (or nothing)."""

    def __init__(self, mode: str, num_epochs: int, log: Callable[[str], None] | None):
        if mode == "auto":
            mode = "bar" if sys.stdout.isatty() else "lines"
        self.mode = mode
        self.num_epochs = num_epochs
        self.log = log or (lambda s: print(s, flush=True))
        self.t0 = time.time()
        self.done0: int | None = None

    def update(self, record: dict) -> None:
        if self.mode == "none":
            return
        e = record["epoch"]
        if self.done0 is None:
            self.done0 = e - 1
        rate = (time.time() - self.t0) / max(1, e - self.done0)
        eta = rate * (self.num_epochs - e)
        parts = [f"epoch {e}/{self.num_epochs}"]
        for key in ("train/loss", "train/acc_noisy", "train/acc_clean", "val/top1", "test/top1"):
            if key in record:
                parts.append(f"{key}={_mean(record[key]):.4f}")
        parts.append(f"{record['time']:.1f}s ETA {eta:.0f}s")
        line = "  ".join(parts)
        if self.mode == "bar":
            end = "\n" if e == self.num_epochs else ""
            sys.stdout.write("\r\033[K" + line + end)
            sys.stdout.flush()
        else:
            self.log(line)


def train(
    config: ml_collections.ConfigDict,
    workdir: str | None = None,
    *,
    devices: list | None = None,
    stop_after: int | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Trains per ``config``, writing metrics and checkpoints to ``workdir``; resumes if present.

    Args:
        config: a run config (`robustloss.training.default_config` or ``configs/*.py``).
        workdir: output directory; ``None`` trains without writing anything.
        devices: devices of the ``("data",)`` mesh (default: ``config.num_devices`` local ones).
        stop_after: stop after this many epochs *in this call* (as if killed); a later call
            resumes. Used by tests of resumption.
        log: line printer for progress (default ``print``).

    Returns:
        The summary dict (also written to ``summary.json``), with the per-epoch ``history``.

    Raises:
        ValueError: bad config (before anything is compiled), or ``workdir`` holds a run with a
            different config.
        robustloss.training.NonFiniteLossError: the loss became NaN/inf (epoch and step given).

    Example:
        >>> from configs import test as test_config
        >>> summary = train(test_config.get_config(), "/tmp/robustloss_doc")  # doctest: +SKIP
        >>> summary["final"]["test/top1"]  # doctest: +SKIP
    """
    validate_config(config)
    runs = num_runs(config)
    mgr = None
    history: list[dict] = []
    if workdir is not None:
        workdir = os.path.abspath(workdir)
        cfg_path = os.path.join(workdir, "config.json")
        cfg_json = json.loads(config.to_json_best_effort())
        if os.path.exists(cfg_path):
            with open(cfg_path) as f:
                old = json.load(f)
            if old != cfg_json:
                diff = sorted(_diff_keys(old, cfg_json))
                raise ValueError(
                    f"workdir {workdir} holds a run with a different config (fields {diff}); "
                    "use a new --workdir or delete it"
                )
    data = load_run_data(config)
    trainer = build_trainer(config, data, devices=devices)
    if workdir is not None:
        os.makedirs(workdir, exist_ok=True)
        _write_json(cfg_path, cfg_json)
        mgr = ocp.CheckpointManager(
            os.path.join(workdir, "checkpoints"),
            options=ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints, create=True),
        )

    seed: Any = config.seed
    if runs:
        seeds = config.seeds or (config.seed,) * runs
        seed = np.stack([np.asarray(jax.random.PRNGKey(s)) for s in seeds])
    state = trainer.init(seed, data.x_train)
    if config.loss.sweep_field:
        values = np.asarray(config.loss.sweep_values, np.float32)
        state = state._replace(aux={**state.aux, "hparam": trainer.put(values)})
    if mgr is not None and mgr.latest_step() is not None:
        state = restore_state(mgr, state)
        done = int(np.asarray(jax.device_get(state.epoch)).flat[0])
        history = [
            r for r in _read_jsonl(os.path.join(workdir, "metrics.jsonl")) if r["epoch"] <= done
        ]
    done = int(np.asarray(jax.device_get(state.epoch)).flat[0])

    train_data = trainer.prepare_train_data(data.x_train, data.y_train, data.y_train_clean)
    x_test = trainer.put(data.x_test)
    has_val = len(data.y_val) > 0
    x_val = trainer.put(data.x_val) if has_val else None
    y_val = np.broadcast_to(data.y_val, (runs,) + data.y_val.shape) if runs else data.y_val
    progress = _Progress(config.progress, config.num_epochs, log)
    elapsed = history[-1]["elapsed"] if history else 0.0
    epochs_this_call = 0
    for epoch in range(done, config.num_epochs):
        if stop_after is not None and epochs_this_call >= stop_after:
            break
        t0 = time.time()
        state, tm = trainer.train_epoch(state, train_data)
        if trainer.objective.refresh_due(epoch, config.num_epochs):
            state = trainer.refresh(state, train_data["x"][:-1], data.y_train)
        record: dict[str, Any] = {"epoch": epoch + 1}
        record.update({f"train/{k.removeprefix('obj/')}": v for k, v in tm.items()})
        last = epoch + 1 == config.num_epochs
        if last or (epoch + 1) % config.eval_every == 0:
            for k, v in trainer.evaluate(state, x_test, data.y_test).items():
                record[f"test/{k}"] = v
            if has_val:
                val_logits = trainer.predict(state, x_val)
                for k, v in trainer.evaluate(state, None, y_val, logits=val_logits).items():
                    record[f"val/{k}"] = v
                if config.noise.noisy_val and config.noise.rate > 0:
                    yc = data.y_val_clean
                    yc = np.broadcast_to(yc, (runs,) + yc.shape) if runs else yc
                    clean = trainer.evaluate(state, None, yc, logits=val_logits)
                    record["val/clean_top1"] = clean["top1"]
        step = int(np.asarray(jax.device_get(state.step)).flat[0])
        record["lr"] = float(trainer.schedule(max(0, step - 1)))
        record["time"] = time.time() - t0
        elapsed += record["time"]
        record["elapsed"] = elapsed
        history.append(record)
        epochs_this_call += 1
        if mgr is not None:
            if last or (epoch + 1) % config.checkpoint_every == 0:
                mgr.save(epoch + 1, args=ocp.args.StandardSave(state))
            _write_jsonl(os.path.join(workdir, "metrics.jsonl"), history)
        progress.update(record)
    if mgr is not None:
        mgr.wait_until_finished()
        mgr.close()
    if not history:
        return {"history": []}
    summary = _summary(history, config.select_metric, runs)
    summary["data_source"] = data.source
    summary["complete"] = history[-1]["epoch"] == config.num_epochs
    if workdir is not None:
        _write_json(os.path.join(workdir, "summary.json"), summary)
    summary["history"] = history
    summary["state"] = state
    return summary


def restore_state(mgr: ocp.CheckpointManager, like: TrainState, step: int | None = None):
    """Restores a `TrainState` from ``mgr`` using ``like``'s shapes, dtypes and shardings.

    Passing the abstract target keeps optax states as their NamedTuples (without it Orbax returns
    lists/None, DESIGN §7) and places every array on the mesh as ``like`` is placed.
    """
    step = mgr.latest_step() if step is None else step
    abstract = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), like
    )
    return mgr.restore(step, args=ocp.args.StandardRestore(abstract))


def _diff_keys(a: Any, b: Any, prefix: str = "") -> set[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for k in set(a) | set(b):
            out |= _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return set() if a == b else {prefix.rstrip(".")}


def train_many(
    config: ml_collections.ConfigDict,
    seeds: list[int],
    workdir: str | None = None,
    **kw: Any,
) -> dict:
    """Trains one run per seed, vmapped into one compiled program (``config.seeds = seeds``).

    Every metric in the returned history is a list with one value per seed; they match
    separate runs with ``config.seed = s`` up to float rounding.

    Example:
        >>> summary = train_many(cfg, [0, 1, 2, 3])  # doctest: +SKIP
        >>> summary["final"]["test/top1"]  # four accuracies  # doctest: +SKIP
    """
    config = ml_collections.ConfigDict(config.to_dict())
    config.seeds = tuple(int(s) for s in seeds)
    return train(config, workdir, **kw)
