"""Loading a dataset into memory: the dataset table and `load_dataset` (package docstring)."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from robustloss.options import Entry, Option, lookup, resolve

from . import _cifar_n, _mlbench, _real_noise, _sources
from ._dataset import Dataset, train_val_split
from ._images import (
    BAD_IMAGE_POLICIES,
    ArraySource,
    ImageFileSource,
    ImageReadError,
    TfdsSource,
    center_crop,
    read_image_list,
)
from ._preprocess import minmax_scale

# The ``letter`` options of the dataset table (`DATASETS`), written once here; `load_dataset`
# takes a dataset's options as keywords and fills in these defaults.
LETTER_TEST_ROWS = Option(4000, low=1, integer=True)
LETTER_SPLIT = Option("last", choices=_mlbench.LETTER_SPLITS)


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
    options: dict  # the dataset's own options (its entry's, defaults filled in)
    whole: bool = False  # the file is one split only (a separate ``test_path`` gives the test set)
    lazy: bool = False  # record sources instead of arrays (the stream)
    test_path: Any = None


def _digits(name: str, a: _Args) -> _sources.Raw:
    return _sources.digits(a.test_fraction, a.test_seed)


def _tfds(name: str, a: _Args) -> _sources.Raw:
    tfds_name = name[5:] if name.startswith("tfds:") else name
    return _sources.tfds_source(tfds_name, a.data_dir, a.download, a.cache_dir, a.lazy)


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
    test_rows, split_name = a.options["test_rows"], a.options["split"]
    if split_name == "ldr" and test_rows != LETTER_TEST_ROWS.default:
        raise ValueError(
            f"letter: test_rows={test_rows} is not used by split='ldr' (its test set is the "
            "authors' 2,000 rows); leave test_rows at its default or use split='last'"
        )
    if a.path is None:
        x, y, src = _mlbench.letter_rda()
    else:
        x, y = _sources.letter_csv(a.path, test_rows)
        src = os.fspath(a.path)
    if a.whole:
        tr, te, split = np.arange(len(y)), np.arange(0), "the whole file"
    else:
        tr, te, split = _mlbench.letter_split(len(y), split_name, test_rows)
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


def _image_list(name: str, a: _Args) -> _sources.Raw:
    """``path,label`` lists of image files: lazily as `ImageFileSource`, or decoded."""
    if a.path is None:
        raise ValueError(
            "dataset 'image_list' reads a list of image files: pass path=<train.csv> (rows "
            "'path,label') and test_path=<test.csv> (or a seeded test split of test_fraction)"
        )
    if a.options["bad_images"] not in BAD_IMAGE_POLICIES:
        raise ValueError(
            f"bad_images must be one of {list(BAD_IMAGE_POLICIES)}, got {a.options['bad_images']!r}"
        )
    train_list = os.fspath(a.path)
    root = a.options["root"] or os.path.dirname(os.path.abspath(train_list))
    paths, labels, classes = read_image_list(train_list)
    if a.test_path:  # both lists are parsed before any image file is looked at
        t_paths, t_labels, _ = read_image_list(a.test_path, classes=classes)
    src = ImageFileSource(paths, labels, root, size=a.options["image_size"])
    meta: dict[str, Any] = {"root": root, "image_size": a.options["image_size"]}
    src, dropped = _readable(src, a.options["bad_images"], train_list)
    if a.test_path:
        test, t_dropped = _readable(
            ImageFileSource(t_paths, t_labels, root, size=a.options["image_size"]),
            a.options["bad_images"],
            a.test_path,
        )
        if t_dropped:
            raise ImageReadError(
                f"{os.fspath(a.test_path)!r}: {len(t_dropped)} test images cannot be read, "
                f"e.g. {t_dropped[0]}; a test set must be complete (bad_images='skip' applies "
                "to training images only)"
            )
        train, split = src, f"train list {train_list}, test list {os.fspath(a.test_path)}"
    else:
        tr, te = _split_off_test(len(src), src.labels, a.test_fraction, a.test_seed)
        train, test = src[tr], src[te]
        split = f"seeded test split {a.test_fraction} (test_seed={a.test_seed})"
    meta.update(split=split, index_train=train.rows, bad_images=dropped)
    x_tr, x_te = train, test
    if not a.lazy:  # the memory pipeline: every image decoded now (the evaluation transform)
        x_tr, bad_tr = _decode_all(train, a.options["image_size"])
        x_te, bad_te = _decode_all(test, a.options["image_size"])
        if bad_te:
            raise ImageReadError(bad_te[0][1])
        if bad_tr:
            if a.options["bad_images"] == "fail":
                raise ImageReadError(
                    f"{len(bad_tr)} training images cannot be read, e.g. {bad_tr[0][1]} "
                    "(bad_images='skip' leaves them out and counts them)"
                )
            keep = np.setdiff1d(np.arange(len(train)), [i for i, _ in bad_tr])
            meta["bad_images"] = dropped + [why for _, why in bad_tr]
            x_tr, train = x_tr[keep], train[keep]
            meta["index_train"] = train.rows
    return _sources.Raw(
        x_tr,
        train.labels,
        x_te,
        test.labels,
        len(classes),
        classes,
        source=train_list,
        kind="image",
        meta=meta,
    )


_SKIP_HINT = " (bad_images='skip' leaves them out and counts them)"


def _readable(
    src: ImageFileSource, policy: str, where: Any, hint: str = _SKIP_HINT
) -> tuple[ImageFileSource, list[str]]:
    """``src`` without the files whose header cannot be read (``policy='skip'``), and the
    reasons; with ``'fail'`` the first bad files are named in the error (then ``hint``)."""
    bad = src.check()
    if not bad:
        return src, []
    reasons = [f"{src.describe(i)}: {why}" for i, why in bad]
    if policy == "fail":
        shown = "; ".join(reasons[:5])
        raise ImageReadError(
            f"{os.fspath(where)!r}: {len(bad)} of {len(src)} images cannot be read: {shown}"
            + (" ..." if len(bad) > 5 else "")
            + hint
        )
    keep = np.setdiff1d(np.arange(len(src)), [i for i, _ in bad])
    return src[keep], reasons


def _decode_all(src: ImageFileSource, size: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Every image of ``src`` as uint8 ``[N, H, W, C]`` (center-cropped to ``size`` when > 0),
    decoded in threads; unreadable ones are zeros and listed."""
    import concurrent.futures

    def one(i: int):
        try:
            im = src.decode(i)
            return np.asarray(center_crop(im, size) if size else im), None
        except ImageReadError as e:
            return None, str(e)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        out = list(pool.map(one, range(len(src))))
    bad = [(i, why) for i, (_, why) in enumerate(out) if why is not None]
    good = [x for x, _ in out if x is not None]
    shape = good[0].shape if good else tuple(src.shape[1:])
    if good and good[0].ndim == 2:
        shape = shape + (1,)
    x = np.zeros((len(src),) + tuple(shape), np.uint8)
    for i, (im, _) in enumerate(out):
        if im is not None:
            x[i] = im.reshape(shape)
    return x, bad


def _cifar_n_source(name: str, a: _Args) -> _sources.Raw:
    return _cifar_n.cifar_n_raw(
        name,
        path=os.fspath(a.path) if a.path else None,
        data_dir=a.data_dir,
        label_set_name=a.options["label_set"],
        label_file=a.options["label_file"] or None,
        partial=a.options["partial"],
        source=a.source,
    )


def _file_source(name: str, a: _Args) -> _sources.Raw:
    """A real-noise file dataset: decoded into memory, or (``lazy``) as `ImageFileSource`
    records whose headers are all read now (a missing or unreadable file fails here, naming
    it, as the memory pipeline's decoding does; a damaged body fails when the stream decodes
    it)."""
    fd = _real_noise.load_file_dataset(
        name,
        a.path,
        partial=a.options["partial"],
        eval_path=a.options.get("eval_path") or None,
        train_set=a.options.get("train_set", ""),
        test_set=a.options.get("test_set", ""),
    )
    if not a.lazy:
        return _real_noise.file_dataset_arrays(fd, a.options["image_size"])
    raw = _real_noise.file_dataset_sources(fd, a.options["image_size"])
    evals = {"train": raw.x_train, fd.test_set: raw.x_test}
    if "x_val" in raw.meta:
        evals[fd.val_set] = raw.meta["x_val"]
    evals.update({e: x for e, (x, _) in raw.meta.get("extra_eval", {}).items()})
    for split, src in evals.items():
        _readable(src, "fail", f"{name} {split} images", " (every image listed must be readable)")
    return raw


def _label_set_problem(value) -> str | None:
    names = _cifar_n.all_label_set_names()
    if value == "" or value in names:
        return None
    return f"choose one of {list(names)} (CIFAR-N label sets; '' for other datasets)"


def _str_problem(value) -> str | None:
    return None if isinstance(value, str) else "it must be a string (a path, or '')"


def _bool_problem(value) -> str | None:
    return None if isinstance(value, bool) else "it must be True or False"


def _cifar_n_fields(name: str, fields) -> str | None:
    """The dataset-specific check of ``config.dataset`` for CIFAR-N (before any loading)."""
    try:
        _cifar_n.label_set(name, fields.get("label_set", ""))
    except ValueError as e:
        return str(e)
    return None


_PARTIAL = Option(False, check=_bool_problem)
_CIFAR_N_OPTIONS = {
    "label_set": Option("", check=_label_set_problem),
    "label_file": Option("", check=_str_problem),
    "partial": _PARTIAL,
}
_FILE_OPTIONS = {"partial": _PARTIAL, "image_size": Option(0, low=0, integer=True)}
_EVAL_PATH = {"eval_path": Option("", check=_str_problem)}
_CLOTHING_SETS = {
    "train_set": Option("", choices=("", *_real_noise.CLOTHING1M_TRAIN_SETS)),
    "test_set": Option("", choices=("", *_real_noise.CLOTHING1M_TEST_SETS)),
}


def _real(clean: str, train_size: int, check=None, pipeline: str = "memory") -> dict:
    """Table ``meta`` of a real-noise dataset: which clean training labels it publishes
    (``all``/``some``/``none``), its published training size (dry-run cost), its own config
    check, the pipeline its full size needs."""
    return {"real_noise": clean, "train_size": train_size, "check": check, "pipeline": pipeline}


#: The loader options of the real-noise datasets and their "not set" values.
REAL_NOISE_FIELDS = {
    "label_set": "",
    "label_file": "",
    "partial": False,
    "image_size": 0,
    "eval_path": "",
    "train_set": "",
    "test_set": "",
}


def check_dataset_fields(name: str, fields) -> str | None:
    """Why ``config.dataset`` ``fields`` do not fit dataset ``name`` (None when they do): a
    real-noise field set for a dataset that does not read it (``label_set`` on ``cifar10``,
    ``eval_path`` on ``clothing1m``), or the dataset's own check (a CIFAR-N label set).

    Example:
        >>> check_dataset_fields("cifar10", {"label_set": "aggre"})
        "dataset.label_set applies to ['cifar10n', 'cifar100n'], not 'cifar10'"
    """
    entry = DATASETS.get(name)
    options = entry.options if entry is not None else {}
    for key, unset in REAL_NOISE_FIELDS.items():
        value = fields.get(key, unset) if hasattr(fields, "get") else unset
        if value != unset and key not in options:
            users = [n for n, e in DATASETS.items() if key in e.options]
            return f"dataset.{key} applies to {users}, not {name!r}"
    check = entry.meta.get("check") if entry is not None else None
    return check(fields) if check else None


_IDX = "via TFDS (data_dir, download=True) or path=<IDX folder>"

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
        {"test_rows": LETTER_TEST_ROWS, "split": LETTER_SPLIT},
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
    # Real label noise (docs/data.md, "Real label noise"): the dataset carries its own labels.
    "cifar10n": Entry(
        _cifar_n_source,
        "CIFAR-10 + CIFAR-10N human labels (label_set aggre|worse|random1-3): CIFAR python "
        "batches + CIFAR-10_human.pt in path, or TFDS cifar10_n; alignment checked",
        _CIFAR_N_OPTIONS,
        meta=_real("all", 50_000, lambda f: _cifar_n_fields("cifar10n", f)),
    ),
    "cifar100n": Entry(
        _cifar_n_source,
        "CIFAR-100 + CIFAR-100N human labels (label_set noisy|noisy_coarse): CIFAR python "
        "batches + CIFAR-100_human.pt in path, or TFDS cifar100_n; alignment checked",
        _CIFAR_N_OPTIONS,
        meta=_real("all", 50_000, lambda f: _cifar_n_fields("cifar100n", f)),
    ),
    "clothing1m": Entry(
        _file_source,
        "Clothing1M from its list files in path (14 classes; noisy train 1M, clean val/test "
        "14,313/10,526; train_set/test_set 'rent' for the RENT code's sets)",
        {**_FILE_OPTIONS, **_CLOTHING_SETS},
        meta=_real("some", 1_000_000, None, "stream"),
    ),
    "mini_webvision": Entry(
        _file_source,
        "mini-WebVision (first 50 WebVision 1.0 Google classes, 65,944 train) in path; test = "
        "WebVision val, eval set ilsvrc12_val from eval_path (<wnid>/ folders)",
        {**_FILE_OPTIONS, **_EVAL_PATH},
        meta=_real("none", 65_944, None, "stream"),
    ),
    "food101n": Entry(
        _file_source,
        "Food-101N (310,009 train, verification labels) in path; test = Food-101 test (25,250) "
        "from eval_path or food-101/ beside path",
        {**_FILE_OPTIONS, **_EVAL_PATH},
        meta=_real("some", 310_009, None, "stream"),
    ),
    "animal10n": Entry(
        _file_source,
        "ANIMAL-10N (training/ and testing/ folders, label in the file name; 50,000/5,000, "
        "64x64) in path",
        _FILE_OPTIONS,
        meta=_real("none", 50_000, None),
    ),
    "image_list": Entry(
        _image_list,
        "image files listed in a CSV/TSV of 'path,label' rows (path=<train list>, "
        "test_path=<test list>); streamed (pipeline='stream') or decoded into memory",
        {
            "image_size": Option(0, low=0, integer=True),
            "root": Option(""),
            "bad_images": Option("fail", choices=BAD_IMAGE_POLICIES),
        },
    ),
}

#: The datasets that carry their own (real, human or web) noisy labels.
REAL_NOISE_DATASETS = tuple(k for k, e in DATASETS.items() if e.meta.get("real_noise"))

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
    "cifar10n": ("data_dir", "path"),  # CIFAR python batches in path, or TFDS cifar10_n
    "cifar100n": ("data_dir", "path"),
    "clothing1m": ("path",),
    "mini_webvision": ("path",),
    "food101n": ("path",),
    "animal10n": ("path",),
    "image_list": ("path",),
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
    return lookup(DATASETS, name, "dataset", also=["tfds:<tfds name>"])


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
    cache_dir: str | None = None,
    max_dense_bytes: int = 2**31,
    test_path: str | os.PathLike | None = None,
    lazy: bool = False,
    **options: Any,
) -> Dataset:
    """Loads a dataset into memory as NumPy arrays (or, with ``lazy``, as record sources).

    Sources (``list_datasets()``): ``digits`` (scikit-learn); ``fashion_mnist`` (``source="auto"``:
    a prepared TFDS copy in ``data_dir`` if there is one, else the Debian IDX files from
    ``path`` or ``/usr/share/datasets/fashion-mnist``; both give TFDS's order and pixels);
    ``mnist``, ``kmnist`` (TFDS, or ``path=`` an IDX folder), ``cifar10``, ``cifar100``,
    ``svhn_cropped`` and any ``"tfds:<name>"`` (TFDS prepared copies, decoded without
    TensorFlow and cached as ``.npy`` in ``cache_dir``); files: ``letter`` (UCI CSV),
    ``vowel`` (UCI vowel-context), ``libsvm`` (svmlight; a ``<path>.t`` companion is the test
    file), ``npz`` (``x``, ``y``, optional ``x_test``/``y_test``, ``x_val``/``y_val``),
    ``image_list`` (image files listed as ``path,label`` rows in ``path``, the test list in
    ``test_path``; `read_image_list`).

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
      cache_dir: where decoded TFDS arrays are cached (default :func:`default_cache_dir`;
        ``""`` disables the cache).
      max_dense_bytes: largest dense copy of a sparse LIBSVM file.
      test_path: ``letter``, ``libsvm``, ``npz``: a second file of the same format holding the
        fixed test set (e.g. the LDR code's ``letter_train.npz`` + ``letter_test.npz``); then
        every row of ``path`` is a training row (in file order) and ``test_rows``,
        ``test_fraction`` are unused. ``image_list``: the test list (its labels must be classes
        of the training list).
      lazy: return record sources instead of arrays: ``x_train``/``x_val``/``x_test`` are
        `ImageFileSource` (``image_list`` and the real-noise file datasets ``clothing1m``,
        ``mini_webvision``, ``food101n``, ``animal10n``, whose ``meta["extra_eval"]`` sets are
        sources too: nothing decoded, every file's header checked), `TfdsSource` (TFDS
        datasets prepared in ArrayRecord format: records read on demand, labels read now) or
        `ArraySource` over the arrays (other datasets, and TFDS copies in another format);
        a TFDS dataset's ``meta["records"]`` says which of the two it got.
      **options: the dataset's own options (:func:`dataset_options`; checked against its
        entry in `DATASETS`, so an option of another dataset raises). ``letter``:
        ``test_rows`` (``split="last"``: the number of final rows used as test; UCI: 4,000) and
        ``split``: ``"last"`` (the last ``test_rows`` rows test, the rest train) or ``"ldr"``
        (test = the LDR authors' ``letter_test.npz`` rows in their order, from the row numbers
        shipped in the package; train = the other 18,000 UCI rows in UCI order, a
        reconstruction since the authors' train file is lost; needs the whole UCI file).
        ``image_list``: ``image_size`` (the side of the square images: the memory pipeline
        decodes each file resized to ``image_size / 0.875`` on its shorter side and
        center-cropped; 0 keeps the files' size, which every image must share), ``root`` (the
        folder relative paths start from; default the list's folder), ``bad_images``
        (``"fail"``: a missing or undecodable training image raises `ImageReadError` naming
        it; ``"skip"``: it is left out and listed in ``meta["bad_images"]``; test images must
        all be readable).

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
        options=resolve(entry, options, f"dataset {name!r}"),
        lazy=bool(lazy),
        test_path=test_path or None,
    )
    if test_path and name != "image_list":
        raw = _with_test_file(name, entry, args, test_path)
    else:
        raw = entry.factory(name, args)
    ds = _assemble(name, raw, val_fraction=val_fraction, seed=seed, scale=scale, flatten=flatten)
    return _as_sources(ds) if lazy else ds


def _is_source(x: Any) -> bool:
    return isinstance(x, ArraySource | ImageFileSource | TfdsSource)


def _as_sources(ds: Dataset) -> Dataset:
    """``ds`` with record sources for x (arrays wrapped in `ArraySource`)."""
    import dataclasses

    wrap = lambda x, y, rows: x if _is_source(x) else ArraySource(x, y, rows)
    return dataclasses.replace(
        ds,
        x_train=wrap(ds.x_train, ds.y_train, ds.train_index),
        x_val=wrap(ds.x_val, ds.y_val, ds.val_index),
        x_test=wrap(ds.x_test, ds.y_test, None),
    )


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
        if x is not None and not _is_source(x) and np.asarray(x).dtype.kind in "fc":
            bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
            if bad:
                raise ValueError(
                    f"{name} ({raw.source}): the {where} features hold {bad} non-finite values "
                    "(NaN/inf); clean the file (training on them would only fail later with a "
                    "non-finite loss)"
                )
    if _is_source(x_tr):
        if scale is not None or flatten:
            raise ValueError(f"{name}: scale/flatten apply to arrays, not to streamed images")
    elif raw.kind == "image":
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
        x_va = x_va_file if _is_source(x_va_file) else np.asarray(x_va_file, dtype=np.float32)
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
