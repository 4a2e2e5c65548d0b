"""CIFAR-10N / CIFAR-100N: CIFAR images with real human labels, loaded so they cannot misalign.

Sources (``source="auto"`` takes the first that is there):

* ``pickle``: the user's CIFAR python batches (``<path>/cifar-10-batches-py/data_batch_1..5``,
  ``test_batch``, ``batches.meta``; ``<path>/cifar-100-python/train``, ``test``, ``meta``;
  Krizhevsky's "python version", the files torchvision reads) plus the CIFAR-N label file
  ``<path>/CIFAR-10_human.pt`` / ``CIFAR-100_human.pt`` (or ``label_file``). The ``.pt`` label
  order *is* the order of the pickles (UCSC-REAL/cifar-10-100n, ``data/cifar.py``).
* ``tfds``: a prepared TFDS ``cifar10_n`` / ``cifar100_n`` copy in ``data_dir`` (images and
  labels together), or TFDS ``cifar10`` / ``cifar100`` plus the ``.pt`` file. TFDS stores
  examples in hash order; every example is put back in the ``.pt`` order by its ``id`` feature
  (``train_01234`` is row 1234 of the CIFAR files: ``tensorflow_datasets/image_classification/
  cifar10_n/cifar10_n.py`` builds ``id`` from the position in the CIFAR binary batches), never by
  iteration order.

What is checked, always, before anything trains (a clear ``ValueError`` otherwise):

1. the label file holds exactly 50,000 labels per field, integers in range;
2. the file's ``clean_label`` (``clean_coarse_label`` for ``noisy_coarse``) equals the CIFAR
   training labels *in the order loaded*, row for row -- a label file in another order (TFDS's,
   ``CIFAR-10_human_ordered.npy``), shifted by one, or of the other dataset fails here, with the
   number of mismatching rows and the first of them;
3. the chosen label set's noise rate (label != clean label, over the whole file) equals the
   published one at its published precision: CIFAR-10N ``aggre`` 9.01%, ``worse`` 40.21%,
   ``random1``-``random3`` 17.23/18.12/17.64%; CIFAR-100N ``noisy`` 40.20%, ``noisy_coarse``
   26.40% (Wei et al., ICLR 2022, Table 1; measured on the published files). A wrong field (the
   CIFAR-100N coarse labels for the fine ones, a TFDS copy that maps its CSV columns in another
   order) fails here.

CIFAR-100N's fine noisy field is ``noisy_label`` in the ``.pt`` file and ``noise_label`` in TFDS;
both are read as the label set ``noisy``.

References:
  Wei, Zhu, Cheng, Liu, Niu, Liu, "Learning with Noisy Labels Revisited: A Study Using
  Real-World Human Annotations", ICLR 2022 (github.com/UCSC-REAL/cifar-10-100n).
  Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009 (the python batches:
  ``data`` uint8 [10000, 3072] channel-planar rows, ``labels`` / ``fine_labels`` /
  ``coarse_labels`` lists).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._pickles import load_pickle, read_torch_zip
from ._sources import Raw, _tfds_builder, _tfrecord_records
from ._sources import tfds_prepared as _tfds_prepared

TRAIN_ROWS = 50_000
TEST_ROWS = 10_000
_BATCH_ROWS = 10_000
PICKLE_FOLDERS = {"cifar10n": "cifar-10-batches-py", "cifar100n": "cifar-100-python"}
LABEL_FILES = {"cifar10n": "CIFAR-10_human.pt", "cifar100n": "CIFAR-100_human.pt"}
TFDS_NAMES = {"cifar10n": "cifar10_n", "cifar100n": "cifar100_n"}
TFDS_PLAIN = {"cifar10n": "cifar10", "cifar100n": "cifar100"}
_ARCHIVES = {"cifar10n": "cifar-10-python.tar.gz", "cifar100n": "cifar-100-python.tar.gz"}


@dataclasses.dataclass(frozen=True)
class LabelSet:
    """One CIFAR-N label set.

    Attributes:
        name: ``aggre``, ``worse``, ``random1``..``random3`` (CIFAR-10N), ``noisy``,
            ``noisy_coarse`` (CIFAR-100N).
        fields: its field name(s) in the ``.pt`` file (several spellings must agree).
        clean_field: the file's clean labels for this set.
        tfds_field: its feature in TFDS ``cifar10_n``/``cifar100_n`` (None: not there).
        published_rate: the published noise rate in percent (two decimals).
        num_classes: K.
        coarse: CIFAR-100 superclass labels (20).
    """

    name: str
    fields: tuple[str, ...]
    clean_field: str
    tfds_field: str | None
    published_rate: float
    num_classes: int
    coarse: bool = False


def _c10(name: str, field: str, rate: float) -> LabelSet:
    return LabelSet(name, (field,), "clean_label", field, rate, 10)


LABEL_SETS: dict[str, dict[str, LabelSet]] = {
    "cifar10n": {
        "aggre": _c10("aggre", "aggre_label", 9.01),
        "worse": _c10("worse", "worse_label", 40.21),
        "random1": _c10("random1", "random_label1", 17.23),
        "random2": _c10("random2", "random_label2", 18.12),
        "random3": _c10("random3", "random_label3", 17.64),
    },
    "cifar100n": {
        "noisy": LabelSet("noisy", ("noisy_label", "noise_label"), "clean_label", "noise_label",
                          40.20, 100),
        "noisy_coarse": LabelSet("noisy_coarse", ("noisy_coarse_label",), "clean_coarse_label",
                                 None, 26.40, 20, coarse=True),
    },
}  # fmt: skip
#: Other names in use (the CIFAR-N repo's ``--noise_type``, RENT's README): name -> label set.
LABEL_SET_ALIASES = {
    "worst": "worse",
    "rand1": "random1",
    "rand2": "random2",
    "rand3": "random3",
    "noisy100": "noisy",
    "noisy_fine": "noisy",
}


def all_label_set_names() -> tuple[str, ...]:
    """Every accepted ``label_set`` value of every CIFAR-N dataset (aliases included)."""
    names = [n for sets in LABEL_SETS.values() for n in sets]
    return tuple(dict.fromkeys(names + list(LABEL_SET_ALIASES)))


def label_set(name: str, value: str) -> LabelSet:
    """The `LabelSet` ``value`` (or an alias) of dataset ``name``.

    Raises:
        ValueError: naming the value and the valid choices.

    Example:
        >>> label_set("cifar10n", "worst").fields
        ('worse_label',)
    """
    sets = LABEL_SETS[name]
    canonical = LABEL_SET_ALIASES.get(value, value)
    if canonical not in sets:
        hint = (
            " (dataset.label_set must be set: the run trains on that label set)"
            if not value
            else ""
        )
        raise ValueError(
            f"{name}: label_set={value!r} is not valid{hint}; choose one of {list(sets)} "
            f"(aliases: { {k: v for k, v in LABEL_SET_ALIASES.items() if v in sets} })"
        )
    return sets[canonical]


# ------------------------------------------------------------------------------------------
# The label file.
# ------------------------------------------------------------------------------------------


def read_cifar_n_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a CIFAR-N label file: the torch ``.pt`` (read with an allow-list unpickler,
    no torch) or an ``.npz`` converted from it.

    Every value becomes an int64 ``[50000]`` array (the ``.pt`` files hold NumPy arrays and, for
    CIFAR-100N's coarse labels, lists).

    Raises:
        FileNotFoundError: no such file.
        ValueError: another format, a non-dict content, a field that is not ``[N]`` integers,
            fields of different lengths.

    Example:
        >>> import tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "c.npz")
        >>> np.savez(f, clean_label=np.arange(3) % 2, aggre_label=np.zeros(3, int))
        >>> sorted(read_cifar_n_file(f))
        ['aggre_label', 'clean_label']
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"CIFAR-N label file {p!r} does not exist")
    ext = os.path.splitext(p)[1].lower()
    if ext == ".npz":
        with np.load(p, allow_pickle=False) as z:
            raw: Any = {k: z[k] for k in z.files}
    elif ext == ".pt":
        raw = read_torch_zip(p)
    else:
        raise ValueError(
            f"CIFAR-N label file {p!r}: use the published .pt file (CIFAR-10_human.pt, "
            "CIFAR-100_human.pt; read without torch) or an .npz of its arrays. The .npy files of "
            "the CIFAR-N repository need unpickling, and the *_ordered.npy ones are in TFDS's "
            "order, not the CIFAR files' -- they are not read."
        )
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{p!r} must hold a dict of label arrays, got {type(raw).__name__}")
    out: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        a = np.asarray(value)
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise ValueError(
                f"{p!r}: field {key!r} must be a 1-D array of integer labels, got dtype "
                f"{a.dtype} and shape {a.shape}"
            )
        out[str(key)] = a.astype(np.int64)
    lengths = {k: len(v) for k, v in out.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{p!r}: the fields have different lengths {lengths}")
    return out


def _field(name: str, ls: LabelSet, labels: dict[str, np.ndarray], where: str) -> np.ndarray:
    """The noisy labels of ``ls`` in the file, whichever accepted spelling it uses."""
    found = [f for f in ls.fields if f in labels]
    if not found:
        raise ValueError(
            f"{where}: no field {list(ls.fields)} for {name} label set {ls.name!r}; the file holds "
            f"{sorted(labels)} (is it the other dataset's file?)"
        )
    first = labels[found[0]]
    for other in found[1:]:
        if not np.array_equal(first, labels[other]):
            raise ValueError(f"{where}: fields {found[0]!r} and {other!r} differ; which is it?")
    return first


# ------------------------------------------------------------------------------------------
# The checks.
# ------------------------------------------------------------------------------------------


def _rate_percent(noisy: np.ndarray, clean: np.ndarray) -> float:
    return float(100.0 * np.mean(noisy != clean))


def check_cifar_n(
    name: str,
    ls: LabelSet,
    file_clean: np.ndarray,
    file_noisy: np.ndarray,
    data_clean: np.ndarray,
    rows: np.ndarray,
    *,
    where: str,
    data_where: str,
) -> dict[str, Any]:
    """The alignment checks of the module docstring; returns what was measured.

    Args:
        name: ``cifar10n`` or ``cifar100n``.
        ls: the label set.
        file_clean: the file's clean labels ``[50000]``.
        file_noisy: the file's labels of ``ls`` ``[50000]``.
        data_clean: the CIFAR training labels of the images loaded, ``[n]``.
        rows: ``[n]`` the file row of each loaded image (``arange(50000)`` for a full copy).
        where: how errors name the label file.
        data_where: how errors name the images' source.

    Returns:
        ``{"file_rate_percent", "published_rate_percent", "rows_checked"}``.

    Raises:
        ValueError: a failed check, naming what differs.
    """
    for field, a in (("clean", file_clean), (ls.name, file_noisy)):
        if len(a) != TRAIN_ROWS:
            raise ValueError(
                f"{where}: the {field} labels hold {len(a)} entries; CIFAR-N has one per CIFAR "
                f"training image, {TRAIN_ROWS}"
            )
        if a.min() < 0 or a.max() >= ls.num_classes:
            raise ValueError(
                f"{where}: {field} labels outside [0, {ls.num_classes}) (min {a.min()}, max "
                f"{a.max()}); wrong dataset's file, or the coarse/fine fields swapped?"
            )
    rows = np.asarray(rows, np.int64)
    data_clean = np.asarray(data_clean, np.int64)
    expected = file_clean[rows]
    bad = np.flatnonzero(expected != data_clean)
    if len(bad):
        shifts = [
            s for s in (-2, -1, 1, 2) if np.array_equal(np.roll(file_clean, s)[rows], data_clean)
        ]
        hint = (
            f" The labels match when shifted by {shifts[0]} row(s): the file and the images are "
            "off by that many rows."
            if shifts
            else " Agreement is "
            f"{100.0 * (1 - len(bad) / len(rows)):.1f}%: about 1/K means the orders are unrelated "
            "(e.g. TFDS's order, or CIFAR-10_human_ordered.npy, against the CIFAR files' order)."
        )
        raise ValueError(
            f"{name}: the label file's {ls.clean_field!r} disagrees with the CIFAR training labels "
            f"of {data_where} on {len(bad)} of {len(rows)} rows (first at rows "
            f"{rows[bad[:5]].tolist()}: file {expected[bad[:5]].tolist()} vs images "
            f"{data_clean[bad[:5]].tolist()}); the labels are not aligned with the images, so "
            f"training on them would be silently wrong.{hint} Label file: {where}."
        )
    measured = _rate_percent(file_noisy, file_clean)
    if round(measured, 2) != round(ls.published_rate, 2):
        raise ValueError(
            f"{name}: label set {ls.name!r} of {where} has a noise rate of {measured:.3f}% "
            f"(label != {ls.clean_field}), but the published rate is {ls.published_rate:.2f}%; "
            "this is another label set or field (e.g. a TFDS copy whose CSV columns are mapped "
            "in another order, or the coarse labels for the fine ones) -- refusing to train on it"
        )
    return {
        "file_rate_percent": measured,
        "published_rate_percent": ls.published_rate,
        "rows_checked": len(rows),
    }


# ------------------------------------------------------------------------------------------
# The CIFAR python batches.
# ------------------------------------------------------------------------------------------


def _str_keys(d: Any, where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a pickled dict, got {type(d).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}


def _read_batch(path: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One python batch: images uint8 ``[n, 32, 32, 3]`` (NHWC), labels int64 ``[n]``."""
    d = _str_keys(load_pickle(path, where=repr(path)), repr(path))
    if "data" not in d or label_key not in d:
        raise ValueError(f"{path!r}: expected keys 'data' and {label_key!r}, found {sorted(d)}")
    x = np.asarray(d["data"])
    y = np.asarray(d[label_key])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise ValueError(f"{path!r}: 'data' must be uint8 [n, 3072], got {x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x) or y.dtype.kind not in "iu":
        raise ValueError(f"{path!r}: {label_key!r} must hold one integer per image ({len(x)})")
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y.astype(np.int64)


def _names(path: str, key: str) -> tuple[str, ...]:
    d = _str_keys(load_pickle(path, where=repr(path)), repr(path))
    if key not in d:
        raise ValueError(f"{path!r}: expected key {key!r}, found {sorted(d)}")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in d[key])


def pickle_folder(name: str, path: str | None) -> str | None:
    """The CIFAR python folder under (or at) ``path``, or None when there is none."""
    if not path:
        return None
    marker, meta = ("test_batch", "batches.meta") if name == "cifar10n" else ("train", "meta")
    for cand in (os.path.join(path, PICKLE_FOLDERS[name]), path):
        if os.path.isfile(os.path.join(cand, marker)) and os.path.isfile(os.path.join(cand, meta)):
            return cand
    return None


def read_pickles(
    name: str, folder: str, *, coarse: bool, partial: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...], dict]:
    """The CIFAR python batches of ``folder``: train x/y/rows, test x/y, class names, notes.

    A full copy has 50,000 training rows (CIFAR-10: five batches of 10,000) and 10,000 test
    rows. With ``partial`` a copy with fewer is accepted: each training batch present contributes
    its rows at its standard offset (batch b starts at row 10,000·(b−1)), so ``rows`` keeps every
    image's row of the full files (= of the label file).
    """
    notes: dict[str, Any] = {}
    if name == "cifar10n":
        label_key = "labels"
        parts, rows = [], []
        missing = []
        for b in range(1, 6):
            f = os.path.join(folder, f"data_batch_{b}")
            if not os.path.exists(f):
                missing.append(os.path.basename(f))
                continue
            x, y = _read_batch(f, label_key)
            if len(x) > _BATCH_ROWS:
                raise ValueError(f"{f!r} holds {len(x)} images; a CIFAR-10 batch has 10,000")
            parts.append((x, y))
            rows.append(np.arange(len(x)) + _BATCH_ROWS * (b - 1))
        if not parts:
            raise FileNotFoundError(f"{folder!r} holds no data_batch_1..5 (CIFAR-10 python)")
        x_tr = np.concatenate([p[0] for p in parts])
        y_tr = np.concatenate([p[1] for p in parts])
        rows_tr = np.concatenate(rows)
        test_file, meta_file, meta_key = "test_batch", "batches.meta", "label_names"
        test_key = "labels"
        if missing:
            notes["missing_batches"] = missing
    else:
        label_key = "coarse_labels" if coarse else "fine_labels"
        x_tr, y_tr = _read_batch(os.path.join(folder, "train"), label_key)
        rows_tr = np.arange(len(y_tr))
        test_file, meta_file = "test", "meta"
        meta_key = "coarse_label_names" if coarse else "fine_label_names"
        test_key = label_key
    test_path = os.path.join(folder, test_file)
    if not os.path.exists(test_path):
        raise FileNotFoundError(f"{name}: the CIFAR test file {test_path!r} is missing")
    x_te, y_te = _read_batch(test_path, test_key)
    names = _names(os.path.join(folder, meta_file), meta_key)
    _check_counts(name, len(y_tr), len(y_te), partial, repr(folder), notes)
    return x_tr, y_tr, rows_tr, x_te, y_te, names, notes


def _check_counts(name: str, n_train: int, n_test: int, partial: bool, where: str, notes: dict):
    if n_train > TRAIN_ROWS or n_test > TEST_ROWS:
        raise ValueError(
            f"{name}: {where} holds {n_train} training / {n_test} test images; CIFAR has "
            f"{TRAIN_ROWS} / {TEST_ROWS}"
        )
    if n_train < TRAIN_ROWS or n_test < TEST_ROWS:
        if not partial:
            raise ValueError(
                f"{name}: {where} holds {n_train} training / {n_test} test images, fewer than "
                f"CIFAR's {TRAIN_ROWS} / {TEST_ROWS} ({notes.get('missing_batches') or 'short'}"
                "); complete the copy, or set dataset.partial=True to train on the rows present "
                "(recorded in the run's provenance)"
            )
        notes["partial"] = (
            f"{n_train} of {TRAIN_ROWS} training, {n_test} of {TEST_ROWS} test images"
        )


# ------------------------------------------------------------------------------------------
# TFDS copies.
# ------------------------------------------------------------------------------------------


def _tfds_examples(builder, split: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Features ``keys`` of every example of a prepared TFDS split, in TFDS's stored order."""
    info = builder.info
    missing = [k for k in keys if k not in info.features.keys()]
    if missing:
        raise ValueError(
            f"TFDS copy {info.name} {info.version} has no feature(s) {missing}; it has "
            f"{sorted(info.features.keys())}"
        )
    cols: dict[str, list] = {k: [] for k in keys}
    fmt = str(getattr(info, "file_format", "tfrecord")).lower()
    if "array_record" in fmt:
        src = builder.as_data_source(split)
        for start in range(0, len(src), 1024):
            for ex in src.__getitems__(list(range(start, min(start + 1024, len(src))))):
                for k in keys:
                    cols[k].append(ex[k])
    else:
        for path in info.splits[split].filepaths:
            for rec in _tfrecord_records(os.fspath(path)):
                ex = info.features.deserialize_example_np(rec)
                for k in keys:
                    cols[k].append(ex[k])
    return {k: (np.stack(v) if k == "image" else np.asarray(v)) for k, v in cols.items()}


def ids_to_rows(ids: np.ndarray, split: str, where: str) -> np.ndarray:
    """``["train_01234", ...]`` -> ``[1234, ...]``; any other form is an error (never guessed)."""
    out = np.empty(len(ids), np.int64)
    prefix = f"{split}_"
    for i, v in enumerate(ids):
        s = v.decode() if isinstance(v, bytes) else str(v)
        tail = s[len(prefix) :]
        if not s.startswith(prefix) or not tail.isdigit():
            raise ValueError(
                f"{where}: example id {s!r} is not of the form {prefix}<row>; cannot put the "
                "example back in the CIFAR order (TFDS's stored order is a hash order)"
            )
        out[i] = int(tail)
    if len(np.unique(out)) != len(out):
        raise ValueError(f"{where}: repeated example ids; the copy is corrupt")
    return out


def read_tfds(
    name: str, data_dir: str | None, ls: LabelSet, with_noisy: bool, partial: bool
) -> dict[str, Any]:
    """Images, clean labels and (``with_noisy``) the label set from a prepared TFDS copy,
    sorted into the CIFAR order by ``id``: TFDS ``cifar10_n``/``cifar100_n`` when
    ``with_noisy``, else TFDS ``cifar10``/``cifar100``."""
    tfds_name = TFDS_NAMES[name] if with_noisy else TFDS_PLAIN[name]
    builder = _tfds_builder(tfds_name, data_dir, download=False)
    where = f"tfds:{tfds_name}:{builder.info.version}@{builder.data_dir}"
    keys = ["id", "image", "label"] + ([ls.tfds_field] if with_noisy else [])
    train = _tfds_examples(builder, "train", keys)
    test = _tfds_examples(builder, "test", ["id", "image", "label"])
    out: dict[str, Any] = {"where": where}
    for split, d in (("train", train), ("test", test)):
        rows = ids_to_rows(d["id"], split, where)
        order = np.argsort(rows, kind="stable")  # the CIFAR files' order, whatever TFDS's is
        out[split] = {k: v[order] for k, v in d.items() if k != "id"}
        out[split]["rows"] = rows[order]
    notes: dict[str, Any] = {}
    _check_counts(name, len(out["train"]["rows"]), len(out["test"]["rows"]), partial, where, notes)
    out["notes"] = notes
    names = builder.info.features["label"].names
    out["class_names"] = tuple(names) if names else tuple(map(str, range(ls.num_classes)))
    return out


def tfds_prepared(name: str, data_dir: str | None) -> str | None:
    """Which TFDS copy a CIFAR-N dataset can read from ``data_dir`` (None: none)."""
    for tfds_name in (TFDS_NAMES[name], TFDS_PLAIN[name]):
        if _tfds_prepared(tfds_name, data_dir):
            return tfds_name
    return None


# ------------------------------------------------------------------------------------------
# The dataset: images + one label set, checked.
# ------------------------------------------------------------------------------------------


def _download_hint(name: str) -> str:
    tf = TFDS_NAMES[name]
    return (
        f"{name} needs (1) the CIFAR python batches: the folder {PICKLE_FOLDERS[name]}/ of "
        f"https://www.cs.toronto.edu/~kriz/{_ARCHIVES[name]}, and (2) the CIFAR-N label file "
        f"{LABEL_FILES[name]} of "
        "https://github.com/UCSC-REAL/cifar-10-100n (data/), both in one folder passed as "
        f"dataset.path (or the label file as dataset.label_file); or a prepared TFDS {tf!r} copy "
        "in dataset.data_dir (docs/data.md, 'Real label noise')"
    )


def resolve_label_file(name: str, path: str | None, label_file: str | None) -> str:
    """The CIFAR-N label file: ``label_file`` (absolute, or relative to ``path`` or the working
    directory), else ``<path>/CIFAR-10_human.pt`` (or beside the pickle folder ``path``).

    Raises:
        FileNotFoundError: none found (the message lists where it looked).
    """
    tried = []
    if label_file:
        cands = [label_file] if os.path.isabs(label_file) else []
        if path and not os.path.isabs(label_file):
            cands.append(os.path.join(path, label_file))
        if not os.path.isabs(label_file):
            cands.append(label_file)
    else:
        cands = []
        if path:
            cands.append(os.path.join(path, LABEL_FILES[name]))
            cands.append(os.path.join(os.path.dirname(os.path.normpath(path)), LABEL_FILES[name]))
    for c in cands:
        tried.append(c)
        if os.path.isfile(c):
            return c
    raise FileNotFoundError(
        f"{name}: no CIFAR-N label file found (looked for {tried or [LABEL_FILES[name]]}). "
        + _download_hint(name)
    )


def cifar_n_raw(
    name: str,
    *,
    path: str | None,
    data_dir: str | None,
    label_set_name: str,
    label_file: str | None = None,
    partial: bool = False,
    source: str = "auto",
):
    """CIFAR-10N / CIFAR-100N as raw splits (see the module docstring for sources and checks).

    Returns:
        `robustloss.data._sources.Raw` with the CIFAR training labels as ``y_train`` (the
        clean labels: fine, or coarse for ``noisy_coarse``), the clean test set, and
        ``meta["real_noise"]``: the label set over the 50,000 CIFAR rows (``labels``), the
        file's clean labels (``clean``), the published and measured rates, the label file and
        what was checked; ``meta["index_train"]`` is each image's CIFAR row.
    """
    ls = label_set(name, label_set_name)
    if source not in ("auto", "pickle", "tfds"):
        raise ValueError(f"{name}: source must be 'auto', 'pickle' or 'tfds', got {source!r}")
    folder = pickle_folder(name, path)
    tfds_name = tfds_prepared(name, data_dir)
    if source == "auto":
        source = "pickle" if folder else ("tfds" if tfds_name else "")
    if not source or (source == "pickle" and folder is None):
        raise FileNotFoundError(
            f"{name}: no CIFAR python batches under dataset.path={path!r}"
            + (f" and no TFDS copy in dataset.data_dir={data_dir!r}" if source != "pickle" else "")
            + ". "
            + _download_hint(name)
        )
    if source == "tfds" and tfds_name is None:
        raise FileNotFoundError(
            f"{name}: no prepared TFDS {TFDS_NAMES[name]!r} or {TFDS_PLAIN[name]!r} copy in "
            f"dataset.data_dir={data_dir!r}. " + _download_hint(name)
        )
    checks = []
    lf = None
    if source == "pickle":
        x_tr, y_tr, rows, x_te, y_te, names, notes = read_pickles(
            name, folder, coarse=ls.coarse, partial=partial
        )
        rows_te = np.arange(len(y_te))
        lf = resolve_label_file(name, path, label_file)
        data_where = f"the CIFAR python batches in {folder!r}"
        src = f"cifar-python:{folder} + {lf}"
    else:
        with_file = bool(label_file) or (
            path is not None and os.path.isfile(os.path.join(path, LABEL_FILES[name]))
        )
        use_n = tfds_name == TFDS_NAMES[name]
        if not use_n and not with_file:
            raise FileNotFoundError(
                f"{name}: TFDS {tfds_name!r} has no human labels; pass the CIFAR-N label file "
                f"({LABEL_FILES[name]}) as dataset.label_file. " + _download_hint(name)
            )
        if ls.tfds_field is None and not with_file:
            raise ValueError(
                f"{name}: label set {ls.name!r} is not in TFDS {TFDS_NAMES[name]!r} (it carries "
                "the fine noisy labels only); use the CIFAR python batches and the .pt file"
            )
        if not with_file and partial:
            raise ValueError(
                f"{name}: dataset.partial=True with a TFDS copy and no label file: the noise rate "
                "of a part cannot be checked against the published one; pass the .pt file as "
                "dataset.label_file"
            )
        if ls.coarse:
            raise ValueError(f"{name}: coarse labels are read from the CIFAR python batches only")
        t = read_tfds(name, data_dir, ls, with_noisy=use_n and ls.tfds_field is not None,
                      partial=partial)  # fmt: skip
        x_tr, y_tr, rows = t["train"]["image"], t["train"]["label"], t["train"]["rows"]
        x_te, y_te, rows_te = t["test"]["image"], t["test"]["label"], t["test"]["rows"]
        names, notes = t["class_names"], t["notes"]
        data_where = t["where"]
        src = t["where"]
        if with_file:
            lf = resolve_label_file(name, path, label_file)
            src += f" + {lf}"
    if lf is not None:
        labels = read_cifar_n_file(lf)
        where = repr(lf)
        if ls.clean_field not in labels:
            raise ValueError(
                f"{where}: no field {ls.clean_field!r}; it holds {sorted(labels)} (the other "
                "dataset's file?)"
            )
        file_clean = labels[ls.clean_field]
        file_noisy = _field(name, ls, labels, where)
        if source == "tfds" and ls.tfds_field in t["train"]:
            tf_noisy = t["train"][ls.tfds_field]
            bad = np.flatnonzero(tf_noisy != file_noisy[rows])
            if len(bad):
                raise ValueError(
                    f"{name}: TFDS feature {ls.tfds_field!r} of {data_where} disagrees with "
                    f"{where} on {len(bad)} of {len(rows)} rows (first rows "
                    f"{rows[bad[:5]].tolist()}); the TFDS copy maps the label columns differently"
                )
            checks.append(f"TFDS {ls.tfds_field} equals the label file on every row")
    else:  # TFDS cifar10_n alone: its own clean and noisy labels, full copy (checked above)
        where = data_where
        file_clean = np.zeros(TRAIN_ROWS, np.int64)
        file_noisy = np.zeros(TRAIN_ROWS, np.int64)
        if len(rows) != TRAIN_ROWS:
            raise ValueError(f"{where}: {len(rows)} training examples, expected {TRAIN_ROWS}")
        file_clean[rows] = y_tr
        file_noisy[rows] = t["train"][ls.tfds_field]
    report = check_cifar_n(
        name, ls, file_clean, file_noisy, y_tr, rows, where=where, data_where=data_where
    )
    checks.insert(0, f"{ls.clean_field} equals the CIFAR training labels on all {len(rows)} rows")
    checks.append(
        f"noise rate {report['file_rate_percent']:.3f}% rounds to the published "
        f"{ls.published_rate:.2f}%"
    )
    real = {
        "dataset": name,
        "label_set": ls.name,
        "field": next(f for f in ls.fields if f in labels) if lf is not None else ls.tfds_field,
        "labels": file_noisy,
        "clean": file_clean,
        "published_rate": ls.published_rate / 100.0,
        "file_rate": report["file_rate_percent"] / 100.0,
        "label_file": lf,
        "source": src,
        "checks": checks,
    }
    meta = {"index_train": rows, "index_test": rows_te, "real_noise": real}
    meta.update({k: v for k, v in notes.items() if k in ("partial", "missing_batches")})
    return Raw(
        x_tr,
        y_tr.astype(np.int32),
        x_te,
        y_te.astype(np.int32),
        ls.num_classes,
        tuple(names),
        source=src,
        kind="image",
        meta=meta,
    )
