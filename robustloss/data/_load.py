"""Loading a dataset into memory: the dataset table and `load_dataset` (package docstring)."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from robustloss.options import Entry, Option

from . import _mlbench, _sources
from ._dataset import Dataset, train_val_split
from ._preprocess import minmax_scale


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset` (``"tfds:<name>"`` reaches any TFDS dataset).

    Example:
      >>> "digits" in list_datasets()
      True
    """
    return list(DATASETS)


def default_cache_dir() -> str:
    """``$ROBUSTLOSS_CACHE`` or ``~/.cache/robustloss``: where decoded TFDS arrays are cached."""
    return os.environ.get("ROBUSTLOSS_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "robustloss"
    )


def _remap_labels(*ys: np.ndarray) -> tuple[list[np.ndarray], tuple[str, ...]]:
    vals = np.unique(np.concatenate([np.asarray(y).ravel() for y in ys]))
    if np.array_equal(vals, np.arange(len(vals))):
        return [np.asarray(y, dtype=np.int32) for y in ys], tuple(str(v) for v in vals)
    lookup = {v: i for i, v in enumerate(vals.tolist())}
    out = [np.asarray([lookup[v] for v in np.asarray(y).tolist()], dtype=np.int32) for y in ys]
    names = tuple(str(int(v)) if float(v).is_integer() else str(v) for v in vals.tolist())
    return out, names


def _split_off_test(n: int, y: np.ndarray, test_fraction: float, test_seed: int):
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    return train_val_split(n, test_fraction, seed=test_seed, labels=y)


class _Args(NamedTuple):
    """The loader arguments a source may read (see :func:`load_dataset`)."""

    data_dir: str | None
    download: bool
    path: Any
    source: str
    order: str
    test_fraction: float
    test_seed: int
    cache_dir: str
    max_dense_bytes: int
    test_rows: int
    split: str = "last"
    whole: bool = False  # the file is one split only (a separate ``test_path`` gives the test set)


def _digits(name: str, a: _Args) -> _sources.Raw:
    return _sources.digits(a.test_fraction, a.test_seed)


def _tfds(name: str, a: _Args) -> _sources.Raw:
    tfds_name = name[5:] if name.startswith("tfds:") else name
    return _sources.tfds_source(tfds_name, a.data_dir, a.download, a.cache_dir)


def _idx_or_tfds(name: str, a: _Args) -> _sources.Raw:
    if a.source not in ("auto", "tfds", "idx"):
        raise ValueError(f"source must be 'auto', 'tfds' or 'idx', got {a.source!r}")
    use_tfds = a.source == "tfds" or (
        a.source == "auto"
        and a.path is None
        and (_sources.tfds_prepared(name, a.data_dir) or (a.download and name != "fashion_mnist"))
    )
    if name != "fashion_mnist" and a.source == "auto" and a.path is None and not use_tfds:
        use_tfds = True  # no offline IDX copy of mnist/kmnist: TFDS raises a clear error
    if use_tfds:
        return _tfds(name, a)
    names = _sources.FASHION_MNIST_CLASSES if name == "fashion_mnist" else None
    names = names or tuple(str(i) for i in range(10))
    return _sources.idx_folder(a.path, order=a.order, name=name, class_names=names)


def _letter(name: str, a: _Args) -> _sources.Raw:
    if a.split == "ldr" and a.test_rows != _ROWS["test_rows"].default:
        raise ValueError(
            f"letter: test_rows={a.test_rows} is not used by split='ldr' (its test set is the "
            "authors' 2,000 rows); leave test_rows at its default or use split='last'"
        )
    if a.path is None:
        x, y, src = _mlbench.letter_rda()
    else:
        x, y = _sources.letter_csv(a.path, a.test_rows)
        src = os.fspath(a.path)
    if a.whole:
        tr, te, split = np.arange(len(y)), np.arange(0), "the whole file"
    else:
        tr, te, split = _mlbench.letter_split(len(y), a.split, a.test_rows)
    return _sources.Raw(
        x[tr],
        y[tr],
        x[te],
        y[te],
        26,
        tuple(chr(ord("A") + i) for i in range(26)),
        source=src,
        kind="tabular",
        meta={"split": split},
    )


def _vowel(name: str, a: _Args) -> _sources.Raw:
    if a.path is None:
        x, y, speaker, src = _mlbench.vowel_rda()
        is_test = speaker >= _mlbench.VOWEL_TRAIN_SPEAKERS
        split = "speakers 0-7 train, 8-14 test (mlbench Vowel.rda: 9 features)"
    else:
        x, y, is_test = _sources.vowel_context(a.path)
        src, split = os.fspath(a.path), "the file's train/test flag"
    return _sources.Raw(
        x[~is_test],
        y[~is_test],
        x[is_test],
        y[is_test],
        11,
        _mlbench.VOWEL_CLASSES,
        source=src,
        kind="tabular",
        meta={"split": split},
    )


def _libsvm(name: str, a: _Args) -> _sources.Raw:
    path, test_fraction, test_seed = a.path, a.test_fraction, a.test_seed
    if path is None:
        raise ValueError("dataset 'libsvm' is read from a file: pass path=<file> or (train, test)")
    paths = [os.fspath(p) for p in (path if isinstance(path, (tuple, list)) else [path])]
    if len(paths) == 1 and os.path.exists(paths[0] + ".t"):
        paths.append(paths[0] + ".t")
    parts = _sources.svmlight(paths[:1] if a.whole else paths, a.max_dense_bytes)
    if a.whole:
        x, y = parts[0]
        (yy,), names = _remap_labels(y)
        x_tr, y_tr, x_te, y_te = x, yy, x[:0], yy[:0]
        meta = {"split": "the whole file"}
    elif len(parts) == 1:
        x, y = parts[0]
        (yy,), names = _remap_labels(y)
        tr, te = _split_off_test(len(yy), yy, test_fraction, test_seed)
        x_tr, y_tr, x_te, y_te = x[tr], yy[tr], x[te], yy[te]
        meta = {"split": f"seeded test split {test_fraction} (test_seed={test_seed})"}
    elif len(parts) == 2:
        (x_tr, y0), (x_te, y1) = parts
        (y_tr, y_te), names = _remap_labels(y0, y1)
        meta = {"split": "train/test files"}
    else:
        raise ValueError(f"libsvm path must be one file or (train, test), got {path!r}")
    return _sources.Raw(
        x_tr, y_tr, x_te, y_te, len(names), names, " + ".join(paths), "tabular", meta=meta
    )


def _npz(name: str, a: _Args) -> _sources.Raw:
    path, test_fraction, test_seed = a.path, a.test_fraction, a.test_seed
    z = _sources.npz_file(path)
    kind = "image" if z["x"].ndim == 4 else "tabular"
    ys = [z["y"]] + [z[f"y_{p}"] for p in ("test", "val") if f"y_{p}" in z]
    # Class ids as stored (never remapped: a stray -1 or 0.5 is an error, not a new class);
    # K is the one-hot width or the largest id + 1.
    k = max(int(z.pop("num_classes")), max(int(y.max(initial=-1)) for y in ys) + 1)
    for p in ["y"] + [f"y_{p}" for p in ("test", "val") if f"y_{p}" in z]:
        z[p] = z[p].astype(np.int32)
    names = tuple(str(i) for i in range(k))
    meta = {}
    if a.whole:
        if "x_test" in z:
            raise ValueError(
                f"{os.fspath(path)!r} holds x_test/y_test but a separate test_path was given; "
                "use one of the two"
            )
        x_tr, y_tr, x_te, y_te = z["x"], z["y"], z["x"][:0], z["y"][:0]
        meta["split"] = "the whole file"
    elif "x_test" in z:
        x_tr, y_tr, x_te, y_te = z["x"], z["y"], z["x_test"], z["y_test"]
        meta["split"] = "x/y train, x_test/y_test test"
    else:
        tr, te = _split_off_test(len(z["y"]), z["y"], test_fraction, test_seed)
        x_tr, y_tr, x_te, y_te = z["x"][tr], z["y"][tr], z["x"][te], z["y"][te]
        meta["split"] = f"seeded test split {test_fraction} (test_seed={test_seed})"
    if "x_val" in z:
        meta["x_val"], meta["y_val"] = z["x_val"], z["y_val"]
    div = 255.0 if kind == "image" and np.issubdtype(z["x"].dtype, np.integer) else 1.0
    return _sources.Raw(x_tr, y_tr, x_te, y_te, len(names), names, os.fspath(path), kind, div, meta)


_IDX = "via TFDS (data_dir, download=True) or path=<IDX folder>"
_ROWS = {
    "test_rows": Option(4000, low=1, integer=True),
    "split": Option("last", choices=_mlbench.LETTER_SPLITS),
}

# The datasets: name -> Entry(source(name, args) -> Raw, description, options). `options` are
# the dataset's own loader options (the harness passes them from the ``config.dataset`` fields
# of the same name); ``"tfds:<name>"`` reaches any TFDS dataset through `_tfds`.
DATASETS: dict[str, Entry] = {
    "digits": Entry(_digits, "scikit-learn 8x8 digits, 1,797 examples, 10 classes (always there)"),
    "fashion_mnist": Entry(
        _idx_or_tfds,
        "Fashion-MNIST 60k/10k, 28x28x1: TFDS copy in data_dir, else Debian IDX files",
    ),
    "mnist": Entry(_idx_or_tfds, f"MNIST {_IDX}"),
    "kmnist": Entry(_idx_or_tfds, f"Kuzushiji-MNIST {_IDX}"),
    "cifar10": Entry(_tfds, "CIFAR-10 via TFDS"),
    "cifar100": Entry(_tfds, "CIFAR-100 (fine labels) via TFDS"),
    "svhn_cropped": Entry(_tfds, "SVHN cropped digits via TFDS (train/test)"),
    "letter": Entry(
        _letter,
        "UCI Letter, 20,000 rows, 26 classes, 16 features: mlbench file (make data) or "
        "path=<letter-recognition.data>",
        _ROWS,
    ),
    "vowel": Entry(
        _vowel,
        "UCI Vowel, 990 rows, 11 classes: mlbench file (9 features, speakers 0-7 train) or "
        "path=<vowel-context.data> (10 features)",
    ),
    "libsvm": Entry(_libsvm, "LIBSVM/svmlight file(s) (path= file, or (train, test) tuple)"),
    "npz": Entry(
        _npz,
        ".npz with x, y (or arr_0, arr_1; optionally x_test/y_test, x_val/y_val) (path=)",
    ),
}

# Sources that can read a separate test file (``test_path=``) in their own format.
TEST_PATH_DATASETS = ("letter", "libsvm", "npz")

# Which of `load_dataset`'s file/TFDS arguments each source reads (``"tfds:<name>"``: TFDS's).
_TFDS_ARGS = ("data_dir", "download")
_READS: dict[str, tuple[str, ...]] = {
    "digits": (),
    "fashion_mnist": ("data_dir", "download", "path"),
    "mnist": ("data_dir", "download", "path"),
    "kmnist": ("data_dir", "download", "path"),
    "cifar10": _TFDS_ARGS,
    "cifar100": _TFDS_ARGS,
    "svhn_cropped": _TFDS_ARGS,
    "letter": ("path",),
    "vowel": ("path",),
    "libsvm": ("path",),
    "npz": ("path",),
}


def check_loader_args(name: str, *, path: Any = None, data_dir: Any = None, download=False) -> None:
    """Rejects a file/TFDS argument that dataset ``name``'s loader would ignore.

    An ignored option is worse than an error: the run's config (and a sweep's results table)
    would record a ``path`` the data never came from.

    Raises:
        ValueError: naming the argument, the dataset and what the dataset reads.

    Example:
      >>> check_loader_args("digits", path="/data/letter.csv")
      Traceback (most recent call last):
      ...
      ValueError: dataset 'digits' does not read path='/data/letter.csv' ...
    """
    reads = _TFDS_ARGS if isinstance(name, str) and name.startswith("tfds:") else _READS.get(name)
    if reads is None:
        _entry(name)  # an unknown name: its own error
        return
    given = {"path": path, "data_dir": data_dir, "download": download}
    for key, value in given.items():
        if value not in (None, "", False) and key not in reads:
            what = ", ".join(reads) if reads else "none of path/data_dir/download"
            raise ValueError(
                f"dataset {name!r} does not read {key}={value!r} (it reads {what}); remove "
                f"the option, or choose a dataset that reads it"
            )


def _entry(name: Any) -> Entry:
    if isinstance(name, str) and name.startswith("tfds:"):
        return Entry(_tfds, f"TFDS dataset {name[5:]!r}")
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {list_datasets()} or 'tfds:<tfds name>'"
        )
    return DATASETS[name]


def dataset_options(name: str) -> dict[str, Any]:
    """The dataset's own loader options and their defaults (``letter``: ``test_rows``).

    Example:
      >>> dataset_options("letter"), dataset_options("digits")
      ({'test_rows': 4000, 'split': 'last'}, {})
    """
    return {k: o.default for k, o in _entry(name).options.items()}


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    path: str | os.PathLike | tuple | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
    source: str = "auto",
    order: str = "tfds",
    scale: str | None = None,
    flatten: bool = False,
    test_fraction: float = 0.2,
    test_seed: int = 0,
    test_rows: int = 4000,
    split: str = "last",
    cache_dir: str | None = None,
    max_dense_bytes: int = 2**31,
    test_path: str | os.PathLike | None = None,
) -> Dataset:
    """Loads a dataset into memory as NumPy arrays.

    Sources (``list_datasets()``): ``digits`` (scikit-learn); ``fashion_mnist`` (``source="auto"``:
    a prepared TFDS copy in ``data_dir`` if there is one, else the Debian IDX files from
    ``path`` or ``/usr/share/datasets/fashion-mnist``; both give TFDS's order and pixels);
    ``mnist``, ``kmnist`` (TFDS, or ``path=`` an IDX folder), ``cifar10``, ``cifar100``,
    ``svhn_cropped`` and any ``"tfds:<name>"`` (TFDS prepared copies, decoded without
    TensorFlow and cached as ``.npy`` in ``cache_dir``); files: ``letter`` (UCI CSV),
    ``vowel`` (UCI vowel-context), ``libsvm`` (svmlight; a ``<path>.t`` companion is the test
    file), ``npz`` (``x``, ``y``, optional ``x_test``/``y_test``, ``x_val``/``y_val``).

    Splits: the official test split where the source has one (``letter``: ``split="last"``,
    the last ``test_rows`` rows, or ``split="ldr"``, the LDR authors' 2,000 test rows;
    ``vowel``: the file's flag); otherwise a stratified split of
    ``test_fraction`` seeded by ``test_seed`` (fixed across runs by default, so runs with
    different ``seed`` share one test set). Validation: a stratified ``val_fraction`` of the
    training split seeded by ``seed`` (0 rows when ``val_fraction=0``).

    Args:
      name: a name of :func:`list_datasets` or ``"tfds:<name>"``.
      data_dir: TFDS data directory (``None``: TFDS's default, ``~/tensorflow_datasets``).
      download: let TFDS download and prepare a missing dataset (needs network; TFDS's image
        builders also need TensorFlow). Never downloads when ``False``.
      path: file or folder for file-based datasets / IDX folders.
      val_fraction: fraction of the training split held out for validation, ``[0, 1)``.
      seed: seed of the validation split.
      source: ``fashion_mnist``/``mnist``/``kmnist`` only: ``"auto"``, ``"tfds"`` or ``"idx"``.
      order: IDX sources: ``"tfds"`` (TFDS's stored order, default) or ``"file"``.
      scale: tabular only: ``None`` (as stored) or ``"minmax"`` (per feature to ``[−1, 1]``,
        fitted on the full training split, as LIBSVM's ``svm-scale`` in the LDR paper).
      flatten: return ``[N, D]`` features instead of images.
      test_fraction: test fraction where the source has no test split, ``(0, 1)``.
      test_seed: seed of that test split.
      test_rows: ``letter`` with ``split="last"``: number of final rows used as test (UCI:
        4,000).
      split: ``letter``: ``"last"`` (the last ``test_rows`` rows test, the rest train) or
        ``"ldr"`` (test = the LDR authors' ``letter_test.npz`` rows in their order, from the
        row numbers shipped in the package; train = the other 18,000 UCI rows in UCI order, a
        reconstruction since the authors' train file is lost). Needs the whole UCI file.
      cache_dir: where decoded TFDS arrays are cached (default :func:`default_cache_dir`;
        ``""`` disables the cache).
      max_dense_bytes: largest dense copy of a sparse LIBSVM file.
      test_path: ``letter``, ``libsvm``, ``npz``: a second file of the same format holding the
        fixed test set (e.g. the LDR code's ``letter_train.npz`` + ``letter_test.npz``); then
        every row of ``path`` is a training row (in file order) and ``test_rows``,
        ``test_fraction`` are unused.

    Returns:
      :class:`Dataset`.

    Raises:
      ValueError: unknown name or bad option (the message lists the choices).
      FileNotFoundError: missing data (the message says how to get it).

    Example:
      >>> ds = load_dataset("digits")
      >>> len(ds.y_train) + len(ds.y_test), ds.x_train.dtype.name
      (1797, 'float32')
    """
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string; choose one of {list_datasets()}")
    entry = _entry(name)
    check_loader_args(name, path=path, data_dir=data_dir, download=download)
    if scale not in (None, "minmax"):
        raise ValueError(f"scale must be None or 'minmax', got {scale!r}")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    data_dir = os.fspath(data_dir) if data_dir is not None else None
    cache = default_cache_dir() if cache_dir is None else cache_dir
    args = _Args(
        data_dir=data_dir,
        download=download,
        path=path,
        source=source,
        order=order,
        test_fraction=test_fraction,
        test_seed=test_seed,
        cache_dir=cache,
        max_dense_bytes=max_dense_bytes,
        test_rows=test_rows,
        split=split,
    )
    if test_path:
        raw = _with_test_file(name, entry, args, test_path)
    else:
        raw = entry.factory(name, args)
    return _assemble(name, raw, val_fraction=val_fraction, seed=seed, scale=scale, flatten=flatten)


def _with_test_file(name: str, entry: Entry, args: _Args, test_path) -> _sources.Raw:
    """The training split from ``args.path`` and the test split from ``test_path`` (whole files)."""
    if name not in TEST_PATH_DATASETS:
        raise ValueError(
            f"test_path={os.fspath(test_path)!r}: dataset {name!r} has no separate test file; "
            f"test_path works for {list(TEST_PATH_DATASETS)}"
        )
    if name == "libsvm" and isinstance(args.path, (tuple, list)):
        raise ValueError("libsvm: give path=(train, test) or path=train with test_path, not both")
    if args.path is None and name != "letter":
        raise ValueError(f"test_path needs path=<training file> for dataset {name!r}")
    train = entry.factory(name, args._replace(whole=True))
    test = entry.factory(name, args._replace(path=test_path, whole=True))
    if train.x_train.shape[1:] != test.x_train.shape[1:]:
        raise ValueError(
            f"{name}: the training file {train.source!r} has feature shape "
            f"{train.x_train.shape[1:]} but test_path {test.source!r} has {test.x_train.shape[1:]}"
        )
    k = max(train.num_classes, test.num_classes)
    names = train.class_names if len(train.class_names) >= k else test.class_names
    if name == "libsvm" and train.class_names != test.class_names:
        raise ValueError(
            f"libsvm: the training file's labels {train.class_names} and the test file's "
            f"{test.class_names} differ; they would be remapped inconsistently"
        )
    meta = dict(train.meta)
    meta["split"] = f"train file {train.source}, test file {test.source}"
    return train.__class__(
        x_train=train.x_train,
        y_train=train.y_train,
        x_test=test.x_train,
        y_test=test.y_train,
        num_classes=k,
        class_names=tuple(names),
        source=f"{train.source} + {test.source}",
        kind=train.kind,
        scale_div=train.scale_div,
        meta=meta,
    )


def _assemble(name, raw, *, val_fraction, seed, scale, flatten) -> Dataset:
    meta = dict(raw.meta)
    x_tr, x_te = raw.x_train, raw.x_test
    y_tr = np.asarray(raw.y_train, dtype=np.int32)
    y_te = np.asarray(raw.y_test, dtype=np.int32)
    for where, y in (("train", y_tr), ("test", y_te)):
        if len(y) and (y.min() < 0 or y.max() >= raw.num_classes):
            raise ValueError(f"{name}: {where} label outside [0, {raw.num_classes})")
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise ValueError(
            f"{name} ({raw.source}): train features have shape {x_tr.shape[1:]} but test features "
            f"{x_te.shape[1:]}; the splits must have the same features"
        )
    for where, x in (("train", x_tr), ("test", x_te), ("val", meta.get("x_val"))):
        if x is not None and np.asarray(x).dtype.kind in "fc":
            bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
            if bad:
                raise ValueError(
                    f"{name} ({raw.source}): the {where} features hold {bad} non-finite values "
                    "(NaN/inf); clean the file (training on them would only fail later with a "
                    "non-finite loss)"
                )
    if raw.kind == "image":
        div = np.float32(raw.scale_div)
        x_tr = (np.asarray(x_tr, dtype=np.float32) / div) if div != 1 else x_tr.astype(np.float32)
        x_te = (np.asarray(x_te, dtype=np.float32) / div) if div != 1 else x_te.astype(np.float32)
        if scale is not None:
            raise ValueError(f"scale={scale!r} applies to tabular data; {name} holds images")
    else:
        x_tr = np.asarray(x_tr, dtype=np.float32)
        x_te = np.asarray(x_te, dtype=np.float32)
    x_va_file = meta.pop("x_val", None)
    y_va_file = meta.pop("y_val", None)
    if raw.kind != "image" and scale == "minmax":
        extra = () if x_va_file is None else (x_va_file,)
        x_tr, x_te, *rest = minmax_scale(x_tr, x_te, *extra)
        if rest:
            x_va_file = rest[0]
        meta["scale"] = "minmax [-1, 1] fitted on the training split"
    index = meta.pop("index_train", None)
    index = np.arange(len(y_tr), dtype=np.int64) if index is None else np.asarray(index, np.int64)
    if x_va_file is not None:
        if val_fraction:
            raise ValueError(f"{name}: the file has a validation split; pass val_fraction=0")
        x_va = np.asarray(x_va_file, dtype=np.float32)
        y_va = np.asarray(y_va_file, dtype=np.int32)
        val_index = np.arange(len(y_va), dtype=np.int64) + len(y_tr)
        tr = np.arange(len(y_tr))
    else:
        tr, va = train_val_split(len(y_tr), val_fraction, seed=seed, labels=y_tr)
        x_va, y_va, val_index = x_tr[va], y_tr[va], index[va]
        if len(va):
            x_tr, y_tr = x_tr[tr], y_tr[tr]
    if flatten:
        d = int(np.prod(x_tr.shape[1:]))
        x_tr, x_va, x_te = (a.reshape(len(a), d) for a in (x_tr, x_va, x_te))
    return Dataset(
        name=name,
        x_train=x_tr,
        y_train=y_tr,
        x_val=x_va,
        y_val=y_va,
        x_test=x_te,
        y_test=y_te,
        num_classes=int(raw.num_classes),
        class_names=tuple(raw.class_names),
        feature_shape=tuple(x_tr.shape[1:]),
        source=raw.source,
        train_index=index[tr],
        val_index=val_index,
        meta=meta,
    )
