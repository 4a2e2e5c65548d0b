"""The run configuration (ml-collections): its fields, defaults and up-front validation.

`default_config()` is the schema: every field a run understands, with its default. The files in
``configs/`` start from it, and `validate_config` checks a config against it *before* any data is
loaded or anything is compiled, so a misspelt field, an unknown loss/dataset/model/noise name or
an out-of-range value fails in a second with the field's name and the valid choices.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import ml_collections

from robustloss import get_loss, list_losses, loss_hparams
from robustloss.data import (
    DATASETS,
    REAL_NOISE_DATASETS,
    check_dataset_fields,
    check_loader_args,
    list_datasets,
)
from robustloss.models import MODELS, list_models
from robustloss.noise import (
    NOISE_KINDS,
    NOISE_MODES,
    SAMPLINGS,
    check_mode,
    list_noise_kinds,
    noise_kind,
)
from robustloss.objective import _is_stateful
from robustloss.options import option_default
from robustloss.training.optim import OPTIMIZERS, SCHEDULES
from robustloss.training.runs import (
    RunPlan,
    noise_seed,  # noqa: F401 -- lives with the run plan
    plan_runs,
)
from robustloss.training.writers import WRITERS, tensorboard_available
from robustloss.transition import TransitionOptions

EPOCH_MODES = ("auto", "scan", "loop")
_ACCURACIES = ("top1", "top2", "top3", "top4", "top5", "balanced_acc")
# What `select_metric` may name: accuracies the evaluation logs (maximised). top-k needs K >= k
# and val/* a validation split; both are checked once the data is loaded (run.py).
SELECT_METRICS = (
    *(f"val/{m}" for m in _ACCURACIES),
    "val/clean_top1",
    *(f"test/{m}" for m in _ACCURACIES),
)
FOLD_MODES = ("contiguous", "shuffled", "stratified")
PIPELINES = ("memory", "stream")
#: The largest seed: JAX's ``PRNGKey`` keeps the low 32 bits with 64-bit types off (so seed
#: 2**32 would silently be seed 0) and scikit-learn's ``random_state`` accepts < 2**32.
MAX_SEED = 2**32 - 1
PROGRESS = ("auto", "bar", "lines", "none")


def _option_fields(group: ml_collections.ConfigDict, table: dict) -> None:
    """Adds every option of a family's table (all entries) to ``group`` with its default.

    So a component's options are config fields (``model.width``, ``dataset.test_rows``) without
    being written again here; the harness passes a component the fields that are its options.
    """
    for name in dict.fromkeys(n for e in table.values() for n in e.options):
        if name in group:
            raise ValueError(f"option {name!r} of the table is also a config field of another use")
        group[name] = option_default(table, name)


def default_config() -> ml_collections.ConfigDict:
    """Every field of a training run, with defaults (a short CPU run on ``digits``).

    Fields:
      seed: int >= 0; model init, shuffling and per-step keys derive from it.
      runs: tuple of dicts ``{dotted field: value}``, one per vmapped run, on top of the
        config: non-empty trains R runs in one compiled program (the only encoding of that;
        a config file's ``seeds=0-3`` / ``sweep=q:0.3/0.7`` expand into it). Only the fields
        of `robustloss.training.runs.RUN_FIELDS` may differ; run ``r`` equals the separate
        run ``plan_runs(config).run_config(r)`` (`robustloss.training.runs.RunPlan`).
      dataset.name / data_dir / path / download / val_fraction: passed to
        ``robustloss.data.load_dataset``; ``max_train`` > 0 keeps only the first that many
        training examples; ``max_test`` likewise for the test set; ``scale`` (``""`` or
        ``"minmax"``, tabular), ``test_rows`` and ``split`` (``letter``: ``"last"`` or the LDR
        authors' test rows ``"ldr"``) are passed to the loader;
        ``test_path`` (``letter``/``libsvm``/``npz``) is a second file holding the fixed test
        set (then every row of ``path`` is a training row).
        ``num_folds`` (0 = off, else >= 2, with ``val_fraction = 0``): k-fold cross-validation
        of the training file; ``fold`` in ``[0, num_folds)`` is the validation fold;
        ``fold_mode``: ``contiguous`` (scikit-learn's unshuffled ``KFold``, the LDR code),
        ``shuffled`` (``KFold(shuffle=True, random_state=split_seed)``) or ``stratified``
        (``StratifiedKFold(shuffle=True, random_state=split_seed)`` on the clean labels).
        Real label noise (``cifar10n``, ``cifar100n``, ``clothing1m``, ``mini_webvision``,
        ``food101n``, ``animal10n``; docs/data.md "Real label noise"): ``label_set`` (CIFAR-N:
        ``aggre``, ``worse``, ``random1``-``random3``; ``noisy``, ``noisy_coarse``),
        ``label_file`` (the CIFAR-N ``.pt`` when not in ``path``), ``partial`` (accept a copy
        with fewer images than published, recorded in the provenance), ``image_size`` (file
        datasets, both pipelines: the square side, 0 = the dataset's standard), ``eval_path``
        (mini-WebVision: the ILSVRC12 val folder; Food-101N: Food-101), ``train_set`` /
        ``test_set`` (Clothing1M: ``rent`` for the RENT code's sets). These datasets carry
        their own labels: ``noise.kind`` must be ``real`` (with no ``labels_path``), or
        ``clean`` where every clean training label is known (CIFAR-N).
        ``pipeline``: ``memory`` (the default: the training set on the devices, batches
        gathered by index) or ``stream`` (grain: records decoded and augmented on host workers
        batch by batch, docs/data.md "Data at scale"). ``image_list`` (files listed in a
        ``path,label`` CSV/TSV) reads ``image_size`` (0 = the files' size; else square
        images of that side: random-resized crops for training with ``augment``, resize +
        center crop otherwise), ``root`` (the folder of relative paths; default the list's)
        and ``bad_images`` (``fail``, or ``skip``: unreadable training images are left out /
        masked and counted in ``train/bad_images``). ``mean``/``std``: per-channel
        normalisation of images in ``[0, 1]`` (both pipelines; () = none; e.g. ImageNet's for
        pretrained weights). Stream only: ``data_seed`` (>= 0) sets the data order and the
        host augmentation, shared by every run of a vmapped program (a separate run uses it
        too, so packed = separate; with ``data_seed = seed`` a stream visits the examples in
        the memory pipeline's order); ``workers`` (grain worker processes, 0 = threads of
        the main process only), ``threads`` (reading threads per process), ``prefetch``
        (batches buffered ahead).
      noise.kind / rate / seed / sampling / class_map / mode: passed to
        ``robustloss.noise.add_noise`` (``kind="clean"`` for none; ``class_map`` ``""`` means the
        generator's default); ``noisy_val`` corrupts the validation split too (LDR protocol).
        ``before_split`` (with ``dataset.num_folds``): noise is drawn once on the whole
        training file before the fold split, so the validation fold carries that draw's noisy
        labels (the LDR code's protocol); False draws the training and validation rows apart.
        ``noise.seed``: ``-1`` (the default) means *the run's seed*, so run ``r`` of a batched
        config (``runs``) gets exactly the labels of a separate run with its ``seed``;
        ``>= 0`` fixes one draw for every run (`noise_seed`).
        ``kind="real"``: ``labels_path`` is a file with one noisy label per row of the
        dataset's source order (``robustloss.data.read_label_file``; it must hold exactly that
        many rows, see ``build.source_rows``); ``labels_key`` names the npz array or CSV header
        column, ``labels_column`` (>= 0; -1 = none) the 0-based column of a 2-D array or CSV.
      loss.name / loss.hparams: ``robustloss.get_loss(name, **hparams)``.
      model.name: ``ffnn``, ``lenet``, ``resnet18``, ``resnet34`` or ``resnet50``; ``hidden``
        (ffnn, 0 = the paper's min(d, K)); ``width`` (ResNets, 64 in the papers); ``stem`` (ResNets:
        ``cifar`` 3×3 stride 1, or ``imagenet`` 7×7/2 + max-pool as in the RENT code);
        ``dtype``: ``float32`` or ``bfloat16`` compute (mixed precision: parameters, optimizer
        state, BatchNorm statistics, logits and the loss stay float32); ``init``
        (lenet: ``kaiming_fan_out`` or ``torch``, PyTorch's default as in the RENT code);
        ``init_path``: an ``.npz`` of initial parameters keyed by their flattened paths
        (``Dense_0/kernel``), or a torchvision ResNet state dict (``.pth`` read without
        torch, ``.safetensors``, ``.npz`` of torchvision names; BatchNorm statistics too, a new
        head when the class count differs), loaded into every run's initial state (shapes
        checked).
      optimizer.name: ``sgd`` | ``adam`` | ``adamw``; ``lr``; ``momentum``; ``nesterov``;
        ``weight_decay`` (coupled L2 for sgd/adam); ``schedule`` ``constant`` | ``step`` |
        ``cosine``; ``decay_epochs``/``decay_factor`` for ``step``; ``clip_norm`` (0 = off);
        ``b1``, ``b2``, ``eps`` (Adam).
      batch_size, eval_batch_size, num_epochs: sizes (the global batch is split over devices).
      shuffle: reshuffle every epoch (False = fixed order, the LDR code's DataLoader).
      drop_last: drop the last partial batch instead of padding it with masked rows.
      augment: random crop (pad 4) + horizontal flip of training images.
      epoch_mode: ``auto`` (the model's measured default), ``scan`` or ``loop``.
      num_devices: 0 = all devices (all processes under ``jax.distributed``), else the first n.
      sync_every: loop mode: read a scalar every n steps (0 = automatic; docs/design.md §11).
      eval_every: evaluate every n epochs (and always after the last).
      checkpoint_every: save every n epochs (and after the last); ``keep_checkpoints``.
      checkpoint_steps: ``dataset.pipeline = "stream"`` only: > 0 also saves a mid-epoch
        checkpoint every n steps (train state, the epoch's running statistics, the grain
        iterator's state), so a killed run resumes mid-epoch at the next batch.
      checkpoint_seconds: > 0 replaces ``checkpoint_every`` by elapsed time: save after an
        epoch once this many seconds passed since the last save (and after the last epoch), so
        checkpointing costs a bounded share of a run's wall time; a kill loses at most that.
      select_metric: the metric whose maximum picks the best epoch of ``summary.json``; one
        of `SELECT_METRICS` (default ``val/top1``). A ``test/`` metric is an explicit test-set
        oracle (the summary says ``oracle: true``); there is no fallback: without a validation
        split a ``val/`` metric selects no epoch (``best.epoch`` is None, with a note).
      progress: ``auto`` (a live line on a terminal, one line per epoch otherwise), ``bar``,
        ``lines`` or ``none``.
      writers: where each epoch's metrics go (`robustloss.training.writers`): ``"jsonl"``
        (``metrics.jsonl``, required: it is the run's record) and optionally ``"tensorboard"``
        (event files under ``workdir/tensorboard``; extra ``[tensorboard]``, no TensorFlow).
      diagnostics.every: per-example noise diagnostics every n epochs and after the last (-1,
        the default: every ceil(num_epochs / 10) epochs, about ten per run, with
        ``dataset.pipeline="memory"``, and off, ``examples.parquet`` too, with ``"stream"``,
        where each diagnosis streams the training set once more; 0: off): an
        eval-mode pass over the training set gives ``noise/*`` metrics (memorisation, noise
        detection; when the clean labels are known) and ``test/class_acc/<c>``
        (`robustloss.training.diagnostics`). ``diagnostics.examples``: write
        ``examples.parquet`` (one row per training example) when the run completes.
        ``diagnostics.flag_rate``: the share of examples the loss-based detector flags as
        noisy (-1 = the realised noise rate of the run's labels, else in (0, 1)).
      transition: the fields of ``robustloss.transition.TransitionOptions`` (see
        `transition_options`); ``use != "none"`` trains with a transition-matrix method on top
        of the loss.
    """
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.runs = ()

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "digits"
    c.dataset.data_dir = ""
    c.dataset.path = ""
    c.dataset.download = False
    c.dataset.val_fraction = 0.0
    c.dataset.split_seed = 0
    c.dataset.max_train = 0
    c.dataset.max_test = 0
    c.dataset.scale = ""
    c.dataset.test_path = ""
    c.dataset.num_folds = 0
    c.dataset.fold = 0
    c.dataset.fold_mode = "contiguous"
    c.dataset.pipeline = "memory"
    _option_fields(c.dataset, DATASETS)  # the datasets' own options (letter: test_rows, split)
    c.dataset.mean = ()
    c.dataset.std = ()
    c.dataset.data_seed = 0
    c.dataset.workers = 0
    c.dataset.threads = 4
    c.dataset.prefetch = 2

    c.noise = ml_collections.ConfigDict()
    c.noise.kind = "symmetric"
    c.noise.rate = 0.0
    c.noise.seed = -1  # -1: the run's seed (see `noise_seed`)
    c.noise.sampling = option_default(NOISE_KINDS, "sampling")
    c.noise.class_map = ""
    c.noise.mode = "ours"
    c.noise.noisy_val = True
    c.noise.before_split = False
    # kind="real": one noisy label per training example of the dataset's source order (e.g. a
    # CIFAR-10N .npy/.npz/.csv file); labels_key picks the array/column (CIFAR-N: aggre, worst..).
    c.noise.labels_path = ""
    c.noise.labels_key = ""
    # labels_column >= 0 picks that 0-based column of a 2-D array or text file (-1: none; a 2-D
    # file then needs labels_key or fails, it is never flattened).
    c.noise.labels_column = -1

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "ce"
    c.loss.hparams = ml_collections.ConfigDict()

    c.model = ml_collections.ConfigDict()
    c.model.name = "ffnn"
    c.model.init_path = ""
    _option_fields(c.model, MODELS)  # the models' options: hidden, dtype, init, width, stem

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"
    c.optimizer.lr = 1e-3
    c.optimizer.momentum = 0.9
    c.optimizer.nesterov = False
    c.optimizer.weight_decay = 0.0
    c.optimizer.schedule = "constant"
    c.optimizer.decay_epochs = ()
    c.optimizer.decay_factor = 0.1
    c.optimizer.clip_norm = 0.0
    c.optimizer.b1 = 0.9
    c.optimizer.b2 = 0.999
    c.optimizer.eps = 1e-8

    c.batch_size = 64
    c.eval_batch_size = 1000
    c.num_epochs = 10
    c.shuffle = True
    c.drop_last = False
    c.augment = False
    c.epoch_mode = "auto"
    c.num_devices = 0
    c.sync_every = 0
    c.eval_every = 1
    c.checkpoint_every = 1
    c.checkpoint_seconds = 0.0
    c.checkpoint_steps = 0
    c.keep_checkpoints = 2
    c.select_metric = "val/top1"
    c.progress = "auto"
    c.writers = ("jsonl",)
    c.diagnostics = ml_collections.ConfigDict()
    c.diagnostics.every = -1
    c.diagnostics.examples = True
    c.diagnostics.flag_rate = -1.0

    c.transition = ml_collections.ConfigDict(dataclasses.asdict(TransitionOptions()))
    return c


def transition_options(config: ml_collections.ConfigDict) -> TransitionOptions:
    """``config.transition`` as the library's `TransitionOptions` (the one conversion point).

    Raises:
        ValueError: naming ``config.transition.<field>``, the bad value and the valid choices.
    """
    try:
        return TransitionOptions.from_mapping(config.transition.to_dict())
    except ValueError as e:
        raise ValueError(f"config.{e}" if str(e).startswith("transition.") else str(e)) from e


def set_loss(config: ml_collections.ConfigDict, name: str, **hparams: Any) -> None:
    """Sets ``config.loss`` to ``name`` with its registry defaults, then ``hparams`` on top.

    Filling in the defaults makes every hyperparameter overridable from the command line
    (``--config.loss.hparams.q=0.5``) and recorded in ``config.json``.

    Raises:
        ValueError: unknown loss name or hyperparameter, or a bad value (from
            ``robustloss.get_loss``).
    """
    get_loss(name, **hparams)  # checks the name, the hyperparameters' names and values
    defaults = {**loss_hparams(name), **hparams}
    with config.unlocked():
        config.loss.name = name
        config.loss.hparams = ml_collections.ConfigDict(
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in defaults.items()}
        )


#: Fields that R-runs-in-one-program configs had before ``runs`` became the only encoding.
REMOVED_FIELDS = {
    "seeds": "config.runs = ({'seed': 0}, {'seed': 1}, ...) (config-file argument: seeds=0-1)",
    "loss.sweep_field": (
        "config.runs = ({'loss.hparams.q': 0.3}, {'loss.hparams.q': 0.7}) (config-file "
        "argument: sweep=q:0.3/0.7)"
    ),
}
REMOVED_FIELDS["loss.sweep_values"] = REMOVED_FIELDS["loss.sweep_field"]


def check_removed_field(path: str) -> None:
    """Raises for a field of `REMOVED_FIELDS` (dotted ``path``), saying what replaces it.

    Raises:
        ValueError: ``path`` is ``seeds``, ``loss.sweep_field`` or ``loss.sweep_values``.
    """
    if path in REMOVED_FIELDS:
        raise ValueError(
            f"config.{path} no longer exists: R runs in one program are given by config.runs "
            f"only; use {REMOVED_FIELDS[path]}"
        )


def _check_fields(cfg: Any, ref: Any, prefix: str) -> None:
    for key in cfg:
        path = f"{prefix}{key}"
        check_removed_field(path)
        if key not in ref:
            raise ValueError(
                f"unknown config field {path!r}; valid fields under "
                f"{prefix.rstrip('.') or 'config'}: {sorted(ref)}"
            )
        if isinstance(ref[key], ml_collections.ConfigDict) and path != "loss.hparams":
            if not isinstance(cfg[key], ml_collections.ConfigDict | dict):
                raise ValueError(f"config field {path!r} must be a group, got {cfg[key]!r}")
            _check_fields(cfg[key], ref[key], path + ".")


def _choice(path: str, value: Any, choices: Any) -> None:
    if value not in choices:
        raise ValueError(f"config.{path}={value!r} is not valid; choose one of {list(choices)}")


def _range(path: str, value: Any, lo: float, hi: float | None = None, *, lo_open=False) -> None:
    """``lo <= value [<= hi]`` for a finite number (NaN and +-inf are never in range)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and (isinstance(value, int) or math.isfinite(value))
    if ok:
        ok = value > lo if lo_open else value >= lo
        ok = ok and (hi is None or value <= hi)
    if not ok:
        bound = ("> " if lo_open else ">= ") + str(lo) + ("" if hi is None else f" and <= {hi}")
        raise ValueError(f"config.{path}={value!r} is out of range; it must be a finite {bound}")


def _check_component_options(group: str, table: dict, fields: Any) -> None:
    """Each option of the family's table entries that is a field of ``config.<group>`` is
    checked by the entry's own `robustloss.options.Option` (all entries, not only the chosen
    one, so a bad value fails even while the component that reads it is not selected)."""
    for entry in table.values():
        for name, option in entry.options.items():
            if name in fields:
                option.validate(f"config.{group}.{name}", fields[name])


def _check_seed(c: ml_collections.ConfigDict) -> None:
    """``seed``: an int in ``[0, MAX_SEED]`` (a key is made from it; each run of ``config.runs``
    is checked as its own config)."""
    if isinstance(c.seed, bool) or not isinstance(c.seed, int) or not 0 <= c.seed <= MAX_SEED:
        raise ValueError(
            f"config.seed={c.seed!r} is not valid; it must be an int >= 0 and <= {MAX_SEED}"
        )


def _check_dataset(c: ml_collections.ConfigDict) -> None:
    """``config.dataset``: the name, sizes and the dataset table's own options."""
    if c.dataset.name not in list_datasets():
        _choice("dataset.name", c.dataset.name, list_datasets())
    _range("dataset.val_fraction", c.dataset.val_fraction, 0.0, 0.9)
    _range("dataset.max_train", c.dataset.max_train, 0)
    _range("dataset.max_test", c.dataset.max_test, 0)
    _range("dataset.split_seed", c.dataset.split_seed, 0, MAX_SEED)
    _choice("dataset.scale", c.dataset.scale, ("", "minmax"))
    _check_component_options("dataset", DATASETS, c.dataset)
    _choice("dataset.pipeline", c.dataset.pipeline, PIPELINES)
    reason = check_dataset_fields(c.dataset.name, c.dataset)
    if reason:
        raise ValueError(f"config.dataset (name={c.dataset.name!r}): {reason}")
    try:
        check_loader_args(
            c.dataset.name,
            path=c.dataset.path,
            data_dir=c.dataset.data_dir,
            download=c.dataset.download,
        )
    except ValueError as e:
        raise ValueError(f"config.dataset: {e}") from None
    for name, value in c.dataset.items():  # a source's own options, set for another source
        owners = [n for n, entry in DATASETS.items() if name in entry.options]
        if (
            owners
            and c.dataset.name not in owners
            and value != DATASETS[owners[0]].options[name].default
        ):
            raise ValueError(
                f"config.dataset.{name}={value!r} is an option of {owners}, not of dataset "
                f"{c.dataset.name!r}, which would ignore it; remove it"
            )
    _choice("dataset.fold_mode", c.dataset.fold_mode, FOLD_MODES)
    if c.dataset.num_folds != 0:
        _range("dataset.num_folds", c.dataset.num_folds, 2)
        if c.dataset.val_fraction:
            raise ValueError(
                f"config.dataset.num_folds={c.dataset.num_folds} takes the validation fold from "
                f"the training file; set config.dataset.val_fraction=0 (got "
                f"{c.dataset.val_fraction})"
            )
    _range("dataset.fold", c.dataset.fold, 0, max(0, c.dataset.num_folds - 1))
    _check_pipeline(c)


def _check_pipeline(c: ml_collections.ConfigDict) -> None:
    """``dataset.pipeline`` and the streaming and normalisation fields."""
    d = c.dataset
    _choice("dataset.pipeline", d.pipeline, PIPELINES)
    for name, lo in (("data_seed", 0), ("workers", 0), ("threads", 1), ("prefetch", 1)):
        _range(f"dataset.{name}", d[name], lo)
        if not isinstance(d[name], int) or isinstance(d[name], bool):
            raise ValueError(f"config.dataset.{name}={d[name]!r} must be an int")
    mean, std = tuple(d.mean), tuple(d.std)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in mean + std)
    if len(mean) != len(std) or not numbers or any(v <= 0 for v in std):
        raise ValueError(
            f"config.dataset.mean={mean!r} and config.dataset.std={std!r} must be tuples of "
            "numbers, one per channel, std > 0 (both () for no normalisation), e.g. ImageNet's "
            "(0.485, 0.456, 0.406) and (0.229, 0.224, 0.225)"
        )
    if d.pipeline == "stream" and c.epoch_mode == "scan":
        raise ValueError(
            "config.epoch_mode='scan' needs the training set on the devices; with "
            "config.dataset.pipeline='stream' epochs are a loop of steps (use 'auto' or 'loop')"
        )


def _check_noise(c: ml_collections.ConfigDict) -> None:
    """``config.noise``: the kind (aliases resolved by `robustloss.noise`), rate, mode."""
    try:
        kind = noise_kind(c.noise.kind)
    except ValueError:
        _choice("noise.kind", c.noise.kind, list_noise_kinds())
    own = c.dataset.name in REAL_NOISE_DATASETS
    if own:
        clean = DATASETS[c.dataset.name].meta["real_noise"]
        if kind not in ("real", "clean") or (kind == "clean" and clean != "all"):
            allowed = "'real' (its own labels)" + (" or 'clean'" if clean == "all" else "")
            raise ValueError(
                f"config.noise.kind={c.noise.kind!r}: dataset {c.dataset.name!r} carries its own "
                f"noisy labels; set noise.kind to {allowed}"
                + ("" if clean == "all" else " (its clean training labels are not all known)")
            )
        if c.noise.labels_path:
            raise ValueError(
                f"config.noise.labels_path={c.noise.labels_path!r}: dataset {c.dataset.name!r} "
                "carries its own labels (dataset.label_set); a label file would replace them -- "
                "use dataset.label_file (CIFAR-N) or another dataset"
            )
    elif kind == "real" and not c.noise.labels_path:
        raise ValueError(
            f"config.noise.kind={c.noise.kind!r} needs config.noise.labels_path: a file with one "
            "noisy label per training example (.npy, .npz with noise.labels_key, .csv), or a "
            f"dataset with its own labels ({list(REAL_NOISE_DATASETS)})"
        )
    col = c.noise.labels_column
    if isinstance(col, bool) or not isinstance(col, int) or col < -1:
        raise ValueError(
            f"config.noise.labels_column={col!r} is not valid; it must be -1 (no column: a 1-D "
            "file, or an npz array / CSV header column named by noise.labels_key) or a 0-based "
            "column index >= 0"
        )
    _range("noise.rate", c.noise.rate, 0.0, 1.0)
    if c.noise.rate >= 1.0:
        raise ValueError(
            f"config.noise.rate={c.noise.rate!r} is out of range; it must be in [0, 1)"
        )
    if not (isinstance(c.noise.seed, int) and not isinstance(c.noise.seed, bool)) or not (
        -1 <= c.noise.seed <= MAX_SEED
    ):
        raise ValueError(
            f"config.noise.seed={c.noise.seed!r} is out of range; it must be an int in [0, "
            f"{MAX_SEED}] (one fixed draw for every run) or -1 (the run's seed)"
        )
    _choice("noise.sampling", c.noise.sampling, SAMPLINGS)
    _choice("noise.mode", c.noise.mode, NOISE_MODES)
    try:
        check_mode(c.noise.kind, c.noise.mode)
    except ValueError as e:
        raise ValueError(f"config.noise.kind={c.noise.kind!r} with config.noise.mode: {e}") from e
    if not isinstance(c.noise.before_split, bool):
        raise ValueError(f"config.noise.before_split={c.noise.before_split!r} must be a bool")
    if c.noise.before_split and not c.dataset.num_folds:
        raise ValueError(
            "config.noise.before_split=True needs k-fold validation (config.dataset.num_folds "
            ">= 2): it draws the noise on the whole training file before the fold split"
        )


def _check_loss(c: ml_collections.ConfigDict) -> None:
    """``config.loss``: the registry name and hyperparameters."""
    if c.loss.name not in list_losses():
        _choice("loss.name", c.loss.name, list_losses())
    try:
        get_loss(c.loss.name, **dict(c.loss.hparams))
    except (TypeError, ValueError) as e:
        raise ValueError(f"config.loss.hparams={dict(c.loss.hparams)!r}: {e}") from e


def _check_model(c: ml_collections.ConfigDict) -> None:
    """``config.model``: the name and the model table's options."""
    _choice("model.name", c.model.name, list_models())
    _check_component_options("model", MODELS, c.model)


def _check_optimizer(c: ml_collections.ConfigDict) -> None:
    """``config.optimizer``: names from ``optim.py``, ranges."""
    o = c.optimizer
    _choice("optimizer.name", o.name, OPTIMIZERS)
    _range("optimizer.lr", o.lr, 0.0, lo_open=True)
    _range("optimizer.momentum", o.momentum, 0.0, 1.0)
    _range("optimizer.weight_decay", o.weight_decay, 0.0)
    _choice("optimizer.schedule", o.schedule, SCHEDULES)
    if not all(isinstance(e, int) and 0 <= e for e in o.decay_epochs):
        raise ValueError(
            f"config.optimizer.decay_epochs={o.decay_epochs!r} must be a tuple of epochs >= 0"
        )
    _range("optimizer.decay_factor", o.decay_factor, 0.0, 1.0, lo_open=True)
    _range("optimizer.clip_norm", o.clip_norm, 0.0)
    _range("optimizer.b1", o.b1, 0.0, 1.0)
    _range("optimizer.b2", o.b2, 0.0, 1.0)
    _range("optimizer.eps", o.eps, 0.0, lo_open=True)


def _check_loop(c: ml_collections.ConfigDict) -> None:
    """Sizes, epochs and the loop's switches."""
    _range("batch_size", c.batch_size, 1)
    _range("eval_batch_size", c.eval_batch_size, 1)
    _range("num_epochs", c.num_epochs, 1)
    _choice("epoch_mode", c.epoch_mode, EPOCH_MODES)
    _range("num_devices", c.num_devices, 0)
    _range("sync_every", c.sync_every, 0)
    _range("eval_every", c.eval_every, 1)
    _range("checkpoint_every", c.checkpoint_every, 1)
    _range("checkpoint_seconds", c.checkpoint_seconds, 0.0)
    _range("checkpoint_steps", c.checkpoint_steps, 0)
    if c.checkpoint_steps and c.dataset.pipeline != "stream":
        raise ValueError(
            f"config.checkpoint_steps={c.checkpoint_steps} saves mid-epoch checkpoints of a "
            "streamed run; set config.dataset.pipeline='stream' or leave it 0"
        )
    _range("keep_checkpoints", c.keep_checkpoints, 1)
    _choice("progress", c.progress, PROGRESS)
    for name in ("shuffle", "drop_last", "augment"):
        if not isinstance(c[name], bool):
            raise ValueError(f"config.{name}={c[name]!r} must be True or False")


def _check_outputs(c: ml_collections.ConfigDict) -> None:
    """``writers`` (known names, ``jsonl`` kept, TensorBoard installed) and ``diagnostics``."""
    w = c.writers
    if (
        not isinstance(w, tuple | list)
        or any(n not in WRITERS for n in w)
        or "jsonl" not in w
        or len(set(w)) != len(w)
    ):
        raise ValueError(
            f"config.writers={w!r} is not valid; a tuple of distinct names from {list(WRITERS)} "
            "that keeps 'jsonl' (metrics.jsonl is the run's record), e.g. ('jsonl', "
            "'tensorboard') (command line: writers=jsonl/tensorboard)"
        )
    if "tensorboard" in w and not tensorboard_available():
        raise ValueError(
            "config.writers includes 'tensorboard' but the tensorboard package is not "
            "installed; pip install 'robustloss[tensorboard]' (no TensorFlow needed)"
        )
    d = c.diagnostics
    if not isinstance(d.every, int) or isinstance(d.every, bool) or d.every < -1:
        raise ValueError(
            f"config.diagnostics.every={d.every!r} is not valid; it must be an int: n >= 1 "
            "(every n epochs), 0 (off) or -1 (every ceil(num_epochs / 10) epochs)"
        )
    if not isinstance(d.examples, bool):
        raise ValueError(f"config.diagnostics.examples={d.examples!r} must be True or False")
    ds = c.dataset
    if d.every > 0 and ds.get("pipeline") == "stream" and ds.get("bad_images") == "skip":
        raise ValueError(
            f"config.diagnostics.every={d.every} needs every training image (one logit per "
            "example), but dataset.bad_images='skip' leaves unreadable ones out; set "
            "diagnostics.every=0 (or -1: off with the stream pipeline) or bad_images='fail'"
        )
    rate = d.flag_rate
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise ValueError(f"config.diagnostics.flag_rate={rate!r} must be a number")
    if rate != -1.0 and not 0.0 < rate < 1.0:
        raise ValueError(
            f"config.diagnostics.flag_rate={rate!r} is out of range; it must be -1 (the "
            "realised noise rate) or in (0, 1)"
        )


def _check_select(c: ml_collections.ConfigDict) -> None:
    """``select_metric``: a metric the evaluation logs (a typo must not select on test)."""
    _choice("select_metric", c.select_metric, SELECT_METRICS)
    noisy = c.noise.rate > 0 or noise_kind(c.noise.kind) == "real"
    if c.select_metric == "val/clean_top1" and not (c.noise.noisy_val and noisy):
        raise ValueError(
            "config.select_metric='val/clean_top1' is logged only with noisy validation labels "
            f"(noise.noisy_val=True and noise.rate > 0 or real labels; got {c.noise.noisy_val!r} "
            f"and {c.noise.rate!r}); use 'val/top1'"
        )


def _check_devices(c: ml_collections.ConfigDict) -> None:
    """``num_devices`` and the batch split over them."""
    ndev = c.num_devices or jax.device_count()
    if c.num_devices > jax.device_count():
        raise ValueError(
            f"config.num_devices={c.num_devices} is out of range; there are "
            f"{jax.device_count()} devices"
        )
    if c.batch_size % ndev:
        raise ValueError(
            f"config.batch_size={c.batch_size} must be a multiple of the device count {ndev}"
        )


def _check_transition(c: ml_collections.ConfigDict) -> None:
    """``config.transition`` (`TransitionOptions` checks itself) and its loss."""
    transition_options(c).check(2)
    if c.transition.use != "none" and _is_stateful(get_loss(c.loss.name, **dict(c.loss.hparams))):
        raise ValueError(
            f"config.transition.use={c.transition.use!r} needs a stateless base loss; "
            f"config.loss.name={c.loss.name!r} has per-example state"
        )


_CHECKS = (
    _check_seed,
    _check_dataset,
    _check_noise,
    _check_loss,
    _check_model,
    _check_optimizer,
    _check_loop,
    _check_select,
    _check_outputs,
    _check_devices,
    _check_transition,
)


def _check_one(config: ml_collections.ConfigDict, schema: ml_collections.ConfigDict) -> None:
    """Every check of one run's config (its ``runs`` aside) against ``schema`` (`default_config`,
    built once per `validate_config` call: the tables may have gained an entry since the last)."""
    _check_fields(config, schema, "")
    for check in _CHECKS:
        check(config)


def validate_config(config: ml_collections.ConfigDict) -> RunPlan:
    """Checks field names, registry names and ranges; raises ``ValueError`` on the first problem.

    Checks the config, resolves its runs (`robustloss.training.runs.plan_runs`: what may vary
    per run) and checks each run's own config. Cheap: loads no data and compiles nothing.
    Dataset-dependent checks (input shape vs model, noise class maps, transition config vs K)
    happen right after loading, still before any compilation.

    Args:
        config: a run config (start from `default_config` or a file in ``configs/``).

    Returns:
        The config's `RunPlan` (what ``train()`` passes on).

    Raises:
        ValueError: naming the field (``config.runs[r]: ...`` for run ``r``) and the valid
            choices or range.

    Example:
        >>> cfg = default_config(); cfg.model.name = "mlp"
        >>> validate_config(cfg)
        Traceback (most recent call last):
        ...
        ValueError: config.model.name='mlp' is not valid; choose one of ['ffnn', 'lenet', ...]
    """
    schema = default_config()
    _check_one(config, schema)
    plan = plan_runs(config)
    if plan.num_runs:
        for r, run in enumerate(plan.run_configs):
            try:
                _check_one(run, schema)
            except ValueError as e:
                raise ValueError(f"config.runs[{r}]: {e}") from e
    return plan
