"""Building a run from a config: data + noise, model, objective, optimizer, initial state.

This is where a run config's fields become library calls with plain arguments (together with
`robustloss.training.config.transition_options` for the ``transition`` block).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import ml_collections
import numpy as np

from robustloss import get_loss
from robustloss.data import dataset_options, load_dataset, random_crop_flip
from robustloss.models import check_model_input, default_epoch_mode, get_model, model_options
from robustloss.noise import NOISE_KINDS, add_noise, from_labels, noise_kind, read_label_file
from robustloss.objective import Objective, objective_from_loss, objective_hparam_sweep
from robustloss.training.config import noise_seed, transition_options
from robustloss.training.optim import make_optimizer, make_schedule
from robustloss.training.trainer import Trainer, TrainState, make_mesh
from robustloss.transition import make_objective

__all__ = [
    "RunData",
    "build_objective",
    "build_trainer",
    "init_state",
    "load_run_data",
    "num_runs",
]


@dataclasses.dataclass
class RunData:
    """Host arrays of a run after loading, subsetting and adding noise.

    Attributes:
        x_train: ``[N, ...]`` float32 inputs.
        y_train: ``[N]`` (``[R, N]`` with vmapped runs) noisy int32 labels; run ``r`` draws
            with `noise_seed` of its own seed, exactly as a separate run with that seed.
        y_train_clean: ``[N]`` clean labels.
        x_val, y_val, y_val_clean: validation split (0 rows when none); ``y_val`` noisy when
            ``noise.noisy_val`` (``[R, n]`` with vmapped runs: each run's own draw).
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
    n = config.noise
    if noise_kind(n.kind) == "real":
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
    if "features" in NOISE_KINDS[noise_kind(n.kind)].options:
        kw["features"] = x.reshape(x.shape[0], -1)
    return add_noise(labels, num_classes=k, kind=n.kind, rate=n.rate, seed=seed, **kw)


def load_run_data(config: ml_collections.ConfigDict) -> RunData:
    """Loads the dataset named by ``config.dataset`` and corrupts its labels per ``config.noise``.

    Args:
        config: a validated run config.

    Returns:
        A `RunData`.
    """
    d = config.dataset
    extra: dict[str, Any] = {k: d[k] for k in dataset_options(d.name)}
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
    run_seeds = list(config.seeds or (config.seed,) * runs) if runs else [config.seed]
    seeds = [noise_seed(config, s) for s in run_seeds]  # one rule: -1 follows the run seed
    draws = {s: _noise(config, y_clean, x_train, k, s, rows) for s in dict.fromkeys(seeds)}
    y_train = np.stack([draws[s].labels for s in seeds])
    true_T = draws[seeds[0]].T
    if not runs:
        y_train = y_train[0]
    y_val_clean = ds.y_val.astype(np.int32)
    y_val = y_val_clean
    if config.noise.noisy_val and len(y_val):
        val = {
            s: _noise(config, y_val_clean, ds.x_val, k, s + 100_003, ds.val_index).labels
            for s in dict.fromkeys(seeds)
        }
        y_val = np.stack([val[s] for s in seeds]) if runs else val[seeds[0]]
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
    loss = get_loss(config.loss.name, **dict(config.loss.hparams))
    if config.loss.sweep_field:
        return objective_hparam_sweep(loss, config.loss.sweep_field)
    if config.transition.use == "none":
        return objective_from_loss(loss)
    return make_objective(
        transition_options(config),
        num_classes=num_classes,
        base_loss=loss,
        true_T=None if true_T is None else np.asarray(true_T, np.float32),
    )


def _check_model_input(config: ml_collections.ConfigDict, x: np.ndarray) -> None:
    try:
        check_model_input(config.model.name, x.shape[1:])
    except ValueError as e:
        raise ValueError(f"config.model.name: {e} (dataset {config.dataset.name!r})") from e
    if config.augment and x.ndim != 4:
        raise ValueError(f"config.augment=True needs images [N, H, W, C], got {x.shape}")


def build_trainer(
    config: ml_collections.ConfigDict, data: RunData, *, devices: list | None = None
) -> Trainer:
    """A `Trainer` for ``config`` on ``data`` (model, objective, optimizer, mesh)."""
    _check_model_input(config, data.x_train)
    if config.transition.use != "none":
        transition_options(config).check(data.num_classes)
    m = config.model
    model = get_model(m.name, data.num_classes, **{k: m[k] for k in model_options(m.name)})
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
        augment = random_crop_flip
    mode = config.epoch_mode
    if mode == "auto":
        mode = default_epoch_mode(m.name)
    runs = num_runs(config)
    return Trainer(
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
        schedule=schedule,
    )


def num_runs(config: ml_collections.ConfigDict) -> int | None:
    """R for vmapped runs (``len(seeds)`` or ``len(loss.sweep_values)``), None for one run."""
    return max(len(config.seeds), len(config.loss.sweep_values)) or None


def init_state(config: ml_collections.ConfigDict, trainer: Trainer, data: RunData) -> TrainState:
    """The initial train state of the run(s): one key per seed, and the sweep's values.

    With ``config.seeds`` (or a sweep) run ``r`` gets the key ``PRNGKey(seeds[r])`` (all
    ``PRNGKey(seed)`` for a sweep without seeds); a hyperparameter sweep puts
    ``config.loss.sweep_values`` into ``aux["hparam"]``.
    """
    runs = num_runs(config)
    seed: Any = config.seed
    if runs:
        seeds = config.seeds or (config.seed,) * runs
        seed = np.stack([np.asarray(jax.random.PRNGKey(s)) for s in seeds])
    state = trainer.init(seed, data.x_train)
    if config.loss.sweep_field:
        values = np.asarray(config.loss.sweep_values, np.float32)
        state = state._replace(aux={**state.aux, "hparam": trainer.put(values)})
    return state
