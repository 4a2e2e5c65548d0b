"""Building a run from a config: data + noise, model, objective, optimizer, initial state.

This is where a run config's fields become library calls with plain arguments (together with
`robustloss.training.config.transition_options` for the ``transition`` block). Each builder
takes the config's `RunPlan` (``train()`` resolves it once; a ``ConfigDict`` is resolved on the
spot): the shared fields come from ``plan.config``, each run's own values from
``plan.run_configs`` and what varies from ``plan.varying``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import ml_collections
import numpy as np

from robustloss import get_loss
from robustloss.data import (
    ImageTransform,
    dataset_options,
    kfold_splits,
    load_dataset,
    normalize_images,
    random_crop_flip,
    read_label_file,
)
from robustloss.models import (
    check_model_input,
    default_epoch_mode,
    get_model,
    is_torchvision_weights,
    load_torchvision_resnet,
    model_options,
)
from robustloss.noise import (
    NOISE_KINDS,
    NoisyLabels,
    add_noise,
    check_label_values,
    empirical_transition,
    from_labels,
    noise_kind,
)
from robustloss.objective import Objective, objective_from_loss, objective_hparams
from robustloss.training.config import transition_options
from robustloss.training.optim import INJECTED, make_run_optimizer, make_schedule, set_hyperparams
from robustloss.training.runs import RunPlan, as_plan
from robustloss.training.trainer import Trainer, TrainState, make_mesh
from robustloss.transition import make_objective

#: The evaluation crop of image files unless the dataset says otherwise (`ImageTransform`'s:
#: the shorter side to ``image_size / 0.875``, the ImageNet evaluation recipe).
IMAGE_RESIZE_FRACTION = ImageTransform.resize_fraction

__all__ = [
    "RunData",
    "build_objective",
    "build_trainer",
    "host_augment",
    "init_state",
    "load_init_params",
    "load_run_data",
    "source_rows",
]


@dataclasses.dataclass
class RunData:
    """Host arrays of a run after loading, subsetting and adding noise.

    Attributes:
        x_train: ``[N, ...]`` float32 inputs.
        y_train: ``[N]`` (``[R, N]`` with vmapped runs) noisy int32 labels; run ``r`` draws
            with its own noise seed (`RunPlan.noise_seeds`), exactly as a separate run.
        y_train_clean: ``[N]`` clean labels.
        x_val, y_val, y_val_clean: validation split (0 rows when none); ``y_val`` noisy when
            ``noise.noisy_val`` (``[R, n]`` with vmapped runs: each run's own draw).
        x_test, y_test: clean test set.
        num_classes: K.
        true_T: ``[K, K]`` transition matrix of the noise generator (``[R, K, K]`` with
            vmapped runs: each run's own).
        source: where the data came from.
        train_rows: with vmapped runs on different folds, ``[R, n]`` rows of ``x_train`` (then
            the whole training file) of each run's training set, padded with ``len(x_train)``;
            ``y_train``/``y_train_clean`` are ``[R, n]`` in that order. None otherwise.
        train_sizes: with ``train_rows``, each run's number of training rows.
        val_sizes: when runs validate on different rows: each run's validation size; ``x_val``
            is then ``[R, n_val, ...]`` (padded), else shared.
        clean_train_known: whether ``y_train_clean`` is the true label of every training row
            (False for real-noise datasets that publish clean labels for few or none of their
            training images: ``train/acc_clean`` is then not logged).
        extra_eval: further evaluation sets by name, ``{name: (x, y)}`` (mini-WebVision's
            ``ilsvrc12_val``), logged as ``<name>/top1``...
        noise_report: real label noise only: what the labels trained on are -- realised noise
            rate, empirical T, label set, provenance (`real_noise_report`); a list with one per
            run for vmapped runs. None otherwise.
        bad_images: training images left out at loading because they could not be read
            (``dataset.bad_images = "skip"``).
        image_size: the side image files are cropped to (``dataset.image_size``, or a real-noise
            file dataset's standard size when that is 0); 0 for records of one size.
        resize_fraction: the evaluation crop of image files: the shorter side resized to
            ``image_size / resize_fraction``, then the central square (`ImageTransform`).

    With ``dataset.pipeline = "stream"``, ``x_train``/``x_val``/``x_test`` (and the extra
    evaluation sets) are record sources (`robustloss.data.ImageFileSource` / `ArraySource`)
    instead of arrays.
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
    train_rows: np.ndarray | None = None
    train_sizes: tuple[int, ...] | None = None
    val_sizes: tuple[int, ...] | None = None
    clean_train_known: bool = True
    extra_eval: dict | None = None
    noise_report: dict | list | None = None
    bad_images: int = 0
    image_size: int = 0
    resize_fraction: float = IMAGE_RESIZE_FRACTION


def source_rows(ds: Any) -> int:
    """How many rows the dataset's source order has (what a real-noise label file must hold).

    ``train_index``/``val_index`` number the training rows in the publisher's order. When they
    are a permutation of ``0..n-1`` (CIFAR, MNIST-format files, npz/csv files) the source is
    those ``n`` rows; when they index one source that also holds the test rows (``digits``:
    rows of ``load_digits``) it is all of that source, train + validation + test.
    """
    idx = np.concatenate([np.asarray(ds.train_index), np.asarray(ds.val_index)])
    n = len(idx)
    test = ds.meta.get("index_test") if isinstance(ds.meta, dict) else None
    if n and int(idx.max()) >= n and test is not None:
        n += len(test)
    return n


def _own_labels(real: dict, rows: np.ndarray, labels: np.ndarray, k: int) -> NoisyLabels:
    """A real-noise dataset's own labels of source ``rows``, with the empirical T over the rows
    whose clean label the dataset publishes (identity where it publishes none)."""
    rows = np.asarray(rows, np.int64)
    noisy = np.asarray(real["labels"])[rows]
    clean = np.asarray(real["clean"])[rows]
    known = clean >= 0
    T = empirical_transition(clean[known], noisy[known], k) if known.any() else np.eye(k)
    return NoisyLabels(noisy.astype(np.int32), T, noisy != labels)


def real_noise_report(real: dict, rows: np.ndarray, k: int) -> dict[str, Any]:
    """What a run on a real-noise dataset trains on, measured on its training ``rows``.

    Returns:
        ``{"label_set", "realised_rate"`` (fraction of labels != the true label, over the rows
        where that is known; None where the dataset publishes nothing), ``"rows",
        "rows_known"`` (rows with a known noisy/clean status), ``"rows_with_clean_label",
        "T"`` (empirical ``T[clean, noisy]`` over those rows as nested lists, or None),
        ``"published_rate", "file_rate"`` (the whole label file, CIFAR-N), ``"dataset",
        "source", "label_file", "field", "checks"``.
    """
    rows = np.asarray(rows, np.int64)
    noisy = np.asarray(real["labels"])[rows]
    clean = np.asarray(real["clean"])[rows]
    flag = real.get("is_noisy")
    flag = np.where(clean >= 0, noisy != clean, -1) if flag is None else np.asarray(flag)[rows]
    known, with_clean = flag >= 0, clean >= 0
    T = None
    if with_clean.any():
        T = empirical_transition(clean[with_clean], noisy[with_clean], k).tolist()
    out = {k_: real.get(k_) for k_ in ("dataset", "label_set", "published_rate", "file_rate")}
    out.update(
        realised_rate=float(np.mean(flag[known] == 1)) if known.any() else None,
        rows=len(rows),
        rows_known=int(known.sum()),
        rows_with_clean_label=int(with_clean.sum()),
        T=T,
    )
    out.update({k_: real.get(k_) for k_ in ("source", "label_file", "field", "checks")})
    if real.get("provenance"):
        out["provenance"] = real["provenance"]
    return out


def _file_noise_report(config, draw: NoisyLabels) -> dict[str, Any]:
    """The report of ``noise.kind="real"`` from a label file (clean labels: the dataset's)."""
    n = config.noise
    return {
        "dataset": config.dataset.name,
        "label_set": n.labels_key or (f"column {n.labels_column}" if n.labels_column >= 0 else ""),
        "realised_rate": float(np.mean(draw.is_noisy)) if len(draw.is_noisy) else None,
        "rows": len(draw.labels),
        "rows_known": len(draw.labels),
        "rows_with_clean_label": len(draw.labels),
        "T": np.asarray(draw.T).tolist(),
        "published_rate": None,
        "label_file": n.labels_path,
    }


def noise_metrics(report: dict | list | None) -> dict[str, Any]:
    """The per-epoch metric of a noise report: ``{"noise/realised_rate": rate}`` (a list with one
    rate per run for vmapped runs), or ``{}`` when the rate is unknown."""
    if report is None:
        return {}
    if isinstance(report, list):
        rates = [r["realised_rate"] for r in report]
        return {} if all(v is None for v in rates) else {"noise/realised_rate": rates}
    rate = report["realised_rate"]
    return {} if rate is None else {"noise/realised_rate": rate}


def _noise(
    config: ml_collections.ConfigDict,
    labels: np.ndarray,
    x: np.ndarray,
    k: int,
    seed: int,
    rows: np.ndarray | None = None,
    num_source_rows: int | None = None,
    own: dict | None = None,
):
    n = config.noise
    if noise_kind(n.kind) == "real" and own is not None and not n.labels_path:
        return _own_labels(own, rows, labels, k)  # the dataset's own labels, by source row
    if noise_kind(n.kind) == "real":
        # The file is in the dataset's source order; `rows` maps our examples to source rows.
        # read_label_file names the file in every error (shape, header, row count).
        path = n.labels_path
        column = None if n.labels_column < 0 else int(n.labels_column)
        try:
            file_labels = read_label_file(
                path, n.labels_key or None, column=column, expected_rows=num_source_rows
            )
        except ValueError as e:
            raise ValueError(f"config.noise.labels_path: {e}") from e
        file_labels = np.asarray(file_labels)
        if rows is None or rows.max(initial=-1) >= len(file_labels):
            raise ValueError(
                f"config.noise.labels_path={path!r} holds {len(file_labels)} labels, fewer than "
                f"the training examples' source rows need (largest row {rows.max(initial=-1)})"
            )
        where = f"config.noise.labels_path={path!r}"
        file_labels = check_label_values(file_labels, k, where)  # file rows, file named
        return from_labels(labels, file_labels[rows], num_classes=k)
    kw: dict[str, Any] = {"sampling": n.sampling, "mode": n.mode}
    if n.class_map:
        kw["class_map"] = n.class_map
    if "features" in NOISE_KINDS[noise_kind(n.kind)].options:
        kw["features"] = x.reshape(x.shape[0], -1)
    return add_noise(labels, num_classes=k, kind=n.kind, rate=n.rate, seed=seed, **kw)


def load_run_data(config: RunPlan | ml_collections.ConfigDict) -> RunData:
    """Loads the dataset named by ``config.dataset`` and corrupts its labels per ``config.noise``.

    Args:
        config: the `RunPlan` of a validated run config (or the config itself).

    Returns:
        A `RunData`; with R runs, run ``r``'s labels, folds and true T are those of its own
        config (``plan.run_configs[r]``).
    """
    plan = as_plan(config)
    config = plan.config
    d = config.dataset
    stream = d.get("pipeline", "memory") == "stream"
    if stream:
        _check_stream(plan)
    extra: dict[str, Any] = {k: d[k] for k in dataset_options(d.name)}
    if d.scale:
        extra["scale"] = d.scale
    if d.get("test_path"):
        extra["test_path"] = d.test_path
    ds = load_dataset(
        d.name,
        data_dir=d.data_dir or None,
        download=d.download,
        path=d.path or None,
        val_fraction=d.val_fraction,
        seed=d.split_seed,
        lazy=stream,
        **extra,
    )
    x_train, y_clean, rows = ds.x_train, ds.y_train, ds.train_index
    n_source = source_rows(ds)
    if d.max_train:
        x_train, y_clean = x_train[: d.max_train], y_clean[: d.max_train]
        rows = rows[: d.max_train]
    x_test, y_test = ds.x_test, ds.y_test
    if d.max_test:
        x_test, y_test = x_test[: d.max_test], y_test[: d.max_test]
    k = ds.num_classes
    base = _Base(
        _inputs(d, x_train),
        np.asarray(y_clean, np.int32),
        np.asarray(rows),
        _inputs(d, ds.x_val),
        ds.y_val.astype(np.int32),
        np.asarray(ds.val_index),
        n_source,
        real=ds.meta.get("real_noise") if noise_kind(config.noise.kind) == "real" else None,
        val_clean=bool(ds.meta.get("val_clean")),
    )
    _check_real_noise(config, base, ds)
    test = (_inputs(d, x_test), np.asarray(y_test, np.int32))
    bad = len(ds.meta.get("bad_images") or ())
    extra_eval = ds.meta.get("extra_eval")
    if extra_eval:  # normalised like the test set (record sources: by their transform)
        extra_eval = {
            n: (_inputs(d, x), np.asarray(y, np.int32)) for n, (x, y) in extra_eval.items()
        }
    images = {
        "image_size": int(ds.meta.get("image_size") or 0),
        "resize_fraction": float(ds.meta.get("resize_fraction", IMAGE_RESIZE_FRACTION)),
    }
    if plan.num_runs is None:
        one = _run_labels(config, plan.noise_seeds[0], base, k)
        return RunData(
            x_train=base.x[one.train],
            y_train=one.y_train,
            y_train_clean=base.y[one.train],
            x_val=one.x_val,
            y_val=one.y_val,
            y_val_clean=one.y_val_clean,
            x_test=test[0],
            y_test=test[1],
            num_classes=k,
            true_T=one.T,
            source=ds.source,
            clean_train_known=_clean_known(base, one.train),
            extra_eval=extra_eval,
            noise_report=one.report,
            bad_images=bad,
            **images,
        )
    cache: dict[tuple, _Labels] = {}
    per_run = []
    for rc, seed in zip(plan.run_configs, plan.noise_seeds, strict=True):
        key = (rc.noise, seed, rc.dataset.fold)  # FrozenConfigDicts: hashable
        if key not in cache:  # runs that differ only in their seed share one draw
            cache[key] = _run_labels(rc, seed, base, k)
        per_run.append(cache[key])
    out = _stack_runs(per_run, base, test, k, ds.source)
    out.clean_train_known = all(_clean_known(base, p.train) for p in per_run)
    out.extra_eval = extra_eval
    if any(p.report is not None for p in per_run):
        out.noise_report = [p.report for p in per_run]
    out.bad_images = bad
    out.image_size, out.resize_fraction = images["image_size"], images["resize_fraction"]
    return out


def _check_stream(plan: RunPlan) -> None:
    """What a streamed training set cannot do (before anything is loaded)."""
    for kind in dict.fromkeys(rc.noise.kind for rc in plan.run_configs):  # each run's own
        if "features" in NOISE_KINDS[noise_kind(kind)].options:
            raise ValueError(
                f"config.noise.kind={kind!r} draws the noise from the inputs, which a streamed "
                "training set does not hold in memory; use dataset.pipeline='memory'"
            )
    if "dataset.fold" in plan.varying:
        raise ValueError(
            "vmapped runs on different folds train on different rows, so they cannot share one "
            "stream of batches; use dataset.pipeline='memory' or one program per fold"
        )


def _inputs(d: ml_collections.ConfigDict, x: Any) -> Any:
    """Arrays as float32, normalised per channel when ``dataset.mean``/``std`` are set; record
    sources of a stream as they are (their transform normalises each image)."""
    if not isinstance(x, np.ndarray):
        return x
    x = np.asarray(x, np.float32)
    mean, std = tuple(d.get("mean", ())), tuple(d.get("std", ()))
    if mean:
        if x.ndim != 4 or x.shape[-1] != len(mean):
            raise ValueError(
                f"config.dataset.mean/std have {len(mean)} channels but the inputs have shape "
                f"{x.shape[1:]}"
            )
        x = normalize_images(x, mean, std)
    return x


def _clean_known(b: _Base, train: np.ndarray) -> bool:
    """Whether the dataset publishes the true label of every training row (``train/acc_clean``
    is logged only then)."""
    if b.real is None:
        return True
    return bool(np.all(np.asarray(b.real["clean"])[b.rows[train]] >= 0))


def _check_real_noise(config: ml_collections.ConfigDict, b: _Base, ds: Any) -> None:
    """Data-dependent checks of real label noise (right after loading, before compiling)."""
    t = config.transition
    if b.real is not None and t.use != "none" and t.estimator == "true":
        known = int(np.sum(np.asarray(b.real["clean"])[b.rows] >= 0))
        if known < len(b.rows):
            raise ValueError(
                f"config.transition.estimator='true' needs the true T, but dataset "
                f"{config.dataset.name!r} publishes clean labels for {known} of its "
                f"{len(b.rows)} training images; estimate T instead (e.g. 'anchor')"
            )


@dataclasses.dataclass
class _Base:
    """The loaded training file (after ``max_train``) and the dataset's own validation split."""

    x: np.ndarray
    y: np.ndarray
    rows: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    val_index: np.ndarray
    n_source: int  # rows of the dataset's source order (a real-noise file must have as many)
    real: dict | None = None  # a real-noise dataset's own labels (noise.kind="real")
    val_clean: bool = False  # the dataset's own validation set, clean (never corrupted)


@dataclasses.dataclass
class _Labels:
    """One run's training rows (into the file), noisy labels, validation set and true T."""

    train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    y_val_clean: np.ndarray
    T: np.ndarray
    report: dict | None = None  # real label noise: `real_noise_report` of the training rows


def fold_rows(config: ml_collections.ConfigDict, labels: np.ndarray) -> tuple:
    """``(train_rows, val_rows)`` of ``config.dataset.fold`` of ``num_folds`` (``fold_mode``)."""
    d, n = config.dataset, len(labels)
    if d.fold_mode == "stratified":
        from sklearn.model_selection import StratifiedKFold

        try:
            skf = StratifiedKFold(n_splits=d.num_folds, shuffle=True, random_state=d.split_seed)
            splits = list(skf.split(np.zeros(n), labels))
        except ValueError as e:
            raise ValueError(f"config.dataset.fold_mode='stratified': {e}") from e
    else:
        shuffle = d.fold_mode == "shuffled"
        splits = kfold_splits(n, d.num_folds, shuffle=shuffle, seed=d.split_seed)
    tr, va = splits[d.fold]
    return np.asarray(tr, np.int64), np.asarray(va, np.int64)


def _run_labels(config: ml_collections.ConfigDict, seed: int, b: _Base, k: int) -> _Labels:
    """The labels of one (unbatched) run with noise seed ``seed``: fold split and noise, in the
    one order every run uses."""
    nz = config.noise
    own = b.real
    noisy_val = nz.noisy_val and not b.val_clean
    if not config.dataset.num_folds:
        draw = _noise(config, b.y, b.x, k, seed, b.rows, b.n_source, own)
        y_val = b.y_val
        if noisy_val and len(y_val):
            y_val = _noise(
                config, b.y_val, b.x_val, k, seed + 100_003, b.val_index, b.n_source, own
            ).labels
        train = np.arange(len(b.y))
        return _Labels(
            train,
            _i32(draw.labels),
            b.x_val,
            _i32(y_val),
            b.y_val,
            _f32(draw.T),
            _report(config, b, b.rows, draw),
        )
    tr, va = fold_rows(config, b.y)
    if nz.before_split:  # one draw on the whole file; the validation fold carries it (LDR code)
        draw = _noise(config, b.y, b.x, k, seed, b.rows, b.n_source, own)
        y_tr = np.asarray(draw.labels)[tr]
        y_va = np.asarray(draw.labels)[va] if noisy_val else b.y[va]
        T = draw.T
        report = _report(config, b, b.rows[tr], _own_or(draw, tr))
    else:
        draw = _noise(config, b.y[tr], b.x[tr], k, seed, b.rows[tr], b.n_source, own)
        y_tr, y_va, T = draw.labels, b.y[va], draw.T
        if noisy_val:
            y_va = _noise(
                config, b.y[va], b.x[va], k, seed + 100_003, b.rows[va], b.n_source, own
            ).labels
        report = _report(config, b, b.rows[tr], draw)
    return _Labels(tr, _i32(y_tr), b.x[va], _i32(y_va), b.y[va], _f32(T), report)


def _own_or(draw: NoisyLabels, rows: np.ndarray) -> NoisyLabels:
    """``draw`` restricted to ``rows`` (the training fold of a draw on the whole file)."""
    return NoisyLabels(np.asarray(draw.labels)[rows], draw.T, np.asarray(draw.is_noisy)[rows])


def _report(config, b: _Base, source_rows_: np.ndarray, draw: NoisyLabels) -> dict | None:
    """The noise report of a run on real labels (None for synthetic noise or clean labels)."""
    if noise_kind(config.noise.kind) != "real":
        return None
    if b.real is not None:
        return real_noise_report(b.real, source_rows_, len(draw.T))
    return _file_noise_report(config, draw)


def _i32(a) -> np.ndarray:
    return np.asarray(a, np.int32)


def _f32(a) -> np.ndarray:
    return np.asarray(a, np.float32)


def _pad(a: np.ndarray, n: int, value=0) -> np.ndarray:
    if len(a) >= n:
        return a
    return np.concatenate([a, np.full((n - len(a),) + a.shape[1:], value, a.dtype)])


def _stack_runs(per_run: list[_Labels], b: _Base, test: tuple, k: int, source: str) -> RunData:
    """`RunData` of R runs: ``[R, ...]`` labels, per-run rows/validation sets when folds vary."""
    same_rows = all(np.array_equal(p.train, per_run[0].train) for p in per_run)
    same_val = same_rows and all(np.array_equal(p.x_val, per_run[0].x_val) for p in per_run)
    n = max(len(p.train) for p in per_run)
    nv = max(len(p.y_val) for p in per_run)
    out = RunData(
        x_train=b.x[per_run[0].train] if same_rows else b.x,
        y_train=np.stack([_pad(p.y_train, n) for p in per_run]),
        y_train_clean=b.y[per_run[0].train],
        x_val=per_run[0].x_val if same_val else np.stack([_pad(p.x_val, nv) for p in per_run]),
        y_val=np.stack([_pad(p.y_val, nv) for p in per_run]),
        y_val_clean=np.stack([_pad(p.y_val_clean, nv) for p in per_run]),
        x_test=test[0],
        y_test=test[1],
        num_classes=k,
        true_T=np.stack([p.T for p in per_run]),
        source=source,
    )
    if not same_rows:  # folds vary: row r of train_rows indexes x_train (the whole file)
        out.train_rows = np.stack([_pad(p.train, n, len(b.x)) for p in per_run])
        out.y_train_clean = np.stack([_pad(b.y[p.train], n) for p in per_run])
        out.train_sizes = tuple(len(p.train) for p in per_run)
    if not same_val:
        out.val_sizes = tuple(len(p.y_val) for p in per_run)
    return out


def build_objective(
    config: RunPlan | ml_collections.ConfigDict, num_classes: int, true_T: np.ndarray | None
) -> Objective:
    """The loss of ``config.loss`` as an `Objective`, wrapped by the transition method if any.

    Loss hyperparameters that differ between vmapped runs are traced (`objective_hparams`), and
    so are the transition options of `robustloss.transition.TRACEABLE`; with per-run true T
    (``[R, K, K]``) the objective is built with run 0's and `init_state` puts each run's into
    its state.
    """
    plan = as_plan(config)
    config = plan.config
    loss = get_loss(config.loss.name, **dict(config.loss.hparams))
    traced = [k.split(".", 2)[2] for k in plan.fields_on("loss_hparam")]
    if traced:
        return objective_hparams(loss, traced, functools.partial(get_loss, config.loss.name))
    if config.transition.use == "none":
        return objective_from_loss(loss)
    if true_T is not None and np.ndim(true_T) == 3:
        true_T = true_T[0]
    per_run = tuple(k.split(".", 1)[1] for k in plan.fields_on("transition_hparam"))
    return make_objective(
        transition_options(config),
        num_classes=num_classes,
        base_loss=loss,
        true_T=None if true_T is None else np.asarray(true_T, np.float32),
        traced=per_run,
    )


def _check_model_input(config: ml_collections.ConfigDict, x: np.ndarray) -> None:
    try:
        check_model_input(config.model.name, x.shape[1:])
    except ValueError as e:
        raise ValueError(f"config.model.name: {e} (dataset {config.dataset.name!r})") from e
    if config.augment and x.ndim != 4:
        raise ValueError(f"config.augment=True needs images [N, H, W, C], got {x.shape}")


def _steps(n: int, config: ml_collections.ConfigDict) -> int:
    return n // config.batch_size if config.drop_last else math.ceil(n / config.batch_size)


#: The start of the error a program of runs on different folds raises when those folds cannot
#: share it (unequal steps per epoch, or unequal sizes with a refreshing objective); the sweep
#: runner then re-plans the program's cells one program per fold.
FOLD_PACK_ERROR = "vmapped runs on folds"


def build_trainer(
    config: RunPlan | ml_collections.ConfigDict, data: RunData, *, devices: list | None = None
) -> Trainer:
    """A `Trainer` for ``config`` (a `RunPlan` or a config) on ``data`` (model, objective,
    optimizer, mesh)."""
    plan = as_plan(config)
    config = plan.config
    _check_model_input(config, data.x_train)
    if config.transition.use != "none":
        transition_options(config).check(data.num_classes)
    m = config.model
    model = get_model(m.name, data.num_classes, **{k: m[k] for k in model_options(m.name)})
    objective = build_objective(plan, data.num_classes, data.true_T)
    n = data.y_train.shape[-1]
    steps = _steps(n, config)
    if data.train_sizes is not None:
        counts = sorted({_steps(s, config) for s in data.train_sizes})
        if len(counts) > 1:
            raise ValueError(
                f"{FOLD_PACK_ERROR} of {sorted(set(data.train_sizes))} training rows take "
                f"{counts} steps per epoch at config.batch_size={config.batch_size}; runs of "
                "one program must take equal steps (train these folds as separate programs)"
            )
        if len(set(data.train_sizes)) > 1 and any(
            objective.refresh_due(e, config.num_epochs) for e in range(config.num_epochs)
        ):
            raise ValueError(
                f"{FOLD_PACK_ERROR} of unequal size cannot use an objective that refreshes "
                "from the whole training set (TGCE, anchor/DualT estimators): padded rows "
                "would enter it; train these folds as separate programs"
            )
    o = config.optimizer
    sched = dict(
        schedule=o.schedule,
        steps_per_epoch=max(1, steps),
        num_epochs=config.num_epochs,
        decay_epochs=tuple(o.decay_epochs),
        decay_factor=o.decay_factor,
    )
    shape = make_schedule(1.0, **sched)
    tx = make_run_optimizer(
        o.name,
        o.lr,
        shape,
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
    if config.augment and not host_augment(config, data.image_size):
        augment = random_crop_flip
    mode = config.epoch_mode
    if mode == "auto":
        mode = default_epoch_mode(m.name)
    if config.dataset.get("pipeline", "memory") == "stream":
        mode = "loop"  # one streamed batch per step
    runs = plan.num_runs
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
        lr_shape=shape,
        run_examples=data.train_sizes,
    )


def host_augment(config: ml_collections.ConfigDict, image_size: int | None = None) -> bool:
    """Whether ``augment`` runs on the host workers of the stream (random-resized crops of
    image files to ``image_size``: `RunData.image_size`, default ``dataset.image_size``) rather
    than on the device (pad-4 crop + flip of fixed-size images, `random_crop_flip`, the same in
    both pipelines)."""
    d = config.dataset
    size = d.get("image_size", 0) if image_size is None else image_size
    return d.get("pipeline", "memory") == "stream" and bool(size)


def init_state(
    config: RunPlan | ml_collections.ConfigDict, trainer: Trainer, data: RunData
) -> TrainState:
    """The initial train state of the run(s): each run's key and per-run values.

    Run ``r`` of a `RunPlan` gets the key ``PRNGKey(seed_r)`` of its own seed (its config
    ``plan.run_configs[r]``), its traced loss hyperparameters in ``aux["hparams"]``, its
    optimizer values in ``opt_state.hyperparams`` and, for transition methods, its noise
    generator's T (``aux["true_T"]``, and ``aux["T"]`` for the oracle estimator ``true``).
    """
    plan = as_plan(config)
    config, runs = plan.config, plan.num_runs
    sample = _sample(data.x_train)
    if not runs:
        return _with_init_params(config, trainer, trainer.init(config.seed, sample), None)
    rcs = plan.run_configs
    keys = np.stack([np.asarray(jax.random.PRNGKey(rc.seed)) for rc in rcs])
    state = trainer.init(keys, sample)
    vary = plan.varying
    if not isinstance(state.aux, dict):  # a stateful loss's own state: nothing per run in it
        aux = state.aux
    else:
        aux = _per_run_aux(config, trainer, data, dict(state.aux), rcs)
    opt = {f: [rc.optimizer[f] for rc in rcs] for f in INJECTED if f"optimizer.{f}" in vary}
    opt_state = state.opt_state
    if opt:
        opt_state = trainer.put(set_hyperparams(opt_state, opt))
    return _with_init_params(config, trainer, state._replace(aux=aux, opt_state=opt_state), runs)


def _sample(x: Any) -> np.ndarray:
    """One input (shapes only): the first row of an array, zeros shaped like a source's."""
    if isinstance(x, np.ndarray):
        return x[:1]
    return np.zeros((1,) + tuple(x.shape[1:]), np.float32)


def _with_init_params(config, trainer: Trainer, state: TrainState, runs: int | None):
    """``state`` with the parameters of ``config.model.init_path`` when one is given: our
    flat ``.npz`` (`load_init_params`) or a torchvision ResNet state dict
    (`robustloss.models.load_torchvision_resnet`, BatchNorm statistics included)."""
    path = config.model.get("init_path")
    if not path:
        return state
    if is_torchvision_weights(path):
        try:
            params, stats, _ = load_torchvision_resnet(
                path, trainer.model, state.params, state.batch_stats, runs=runs
            )
        except (OSError, ValueError) as e:
            raise ValueError(f"config.model.init_path: {e}") from e
        return state._replace(params=trainer.put(params), batch_stats=trainer.put(stats))
    params = load_init_params(path, state.params, runs)
    return state._replace(params=trainer.put(params))


def _per_run_aux(config, trainer: Trainer, data: RunData, aux: dict, rcs: tuple) -> dict:
    """Traced loss hyperparameters (and a stateful loss's initial state built from them) and
    true T of each run, in the objective's ``aux``."""
    if "hparams" in aux:
        aux["hparams"] = {
            f: trainer.put(np.asarray([rc.loss.hparams[f] for rc in rcs], np.float32))
            for f in aux["hparams"]
        }
    if "t_hparams" in aux:  # traced transition options (DWS alpha, ...)
        aux["t_hparams"] = {
            f: trainer.put(np.asarray([rc.transition[f] for rc in rcs], np.float32))
            for f in aux["t_hparams"]
        }
    if "state" in aux:  # e.g. ALDR-KL's lam_i start at each run's own lam0
        n = data.y_train.shape[-1]
        states = [get_loss(rc.loss.name, **dict(rc.loss.hparams)).init(n) for rc in rcs]
        aux["state"] = trainer.put(jax.tree.map(lambda *s: np.stack(s), *states))
    if "true_T" in aux:
        per_run_T = np.asarray(data.true_T, np.float32).reshape(aux["true_T"].shape)
        aux["true_T"] = trainer.put(per_run_T)
        if config.transition.estimator == "true":  # its own buffer: the step donates both
            aux["T"] = trainer.put(per_run_T.copy())
    return aux


def _flat_params(params: Any) -> dict[str, Any]:
    flat = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        flat["/".join(str(getattr(p, "key", getattr(p, "idx", p))) for p in path)] = leaf
    return flat


def load_init_params(path: str, params: Any, runs: int | None = None) -> Any:
    """Initial parameters from an ``.npz`` of named arrays, in the structure of ``params``.

    The keys are the flattened parameter paths joined by ``/`` (``Dense_0/kernel``,
    ``PatchConv_1/bias``); every parameter must be there with its shape (one run's shape: with
    ``runs`` the same weights go to every run). Starting two implementations from the same
    initial weights is how a reimplementation is checked against the original code.

    Args:
        path: the ``.npz`` file (``config.model.init_path``).
        params: the freshly initialised parameters (leading runs axis when ``runs``).
        runs: R for vmapped runs, None for one run.

    Returns:
        A pytree like ``params`` holding the file's arrays (float32 host arrays).

    Raises:
        ValueError: unreadable file, or missing / unexpected / mis-shaped keys (all named).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except (OSError, ValueError) as e:
        raise ValueError(f"config.model.init_path={path!r} is not a readable .npz file: {e}") from e
    flat = _flat_params(params)
    lead = 1 if runs else 0
    want = {k: tuple(np.shape(v))[lead:] for k, v in flat.items()}
    missing = sorted(set(want) - set(arrays))
    extra = sorted(set(arrays) - set(want))
    bad = sorted(
        f"{k}: file {arrays[k].shape}, model {want[k]}"
        for k in set(want) & set(arrays)
        if tuple(arrays[k].shape) != want[k]
    )
    if missing or extra or bad:
        raise ValueError(
            f"config.model.init_path={path!r} does not match the model's parameters: "
            f"missing keys {missing}, unexpected keys {extra}, shape mismatches {bad}; the model "
            f"expects {sorted(want.items())}"
        )
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = list(flat)
    out = []
    for key, leaf in zip(keys, leaves, strict=True):
        value = arrays[key].astype(leaf.dtype)
        if runs:
            value = np.broadcast_to(value, (runs,) + value.shape).copy()
        out.append(value)
    return jax.tree_util.tree_unflatten(treedef, out)
