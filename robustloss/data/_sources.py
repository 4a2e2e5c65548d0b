"""Dataset sources: Debian Fashion-MNIST IDX files, TFDS prepared copies, scikit-learn digits,
UCI/LIBSVM/npz files. Each returns raw splits; ``load_dataset`` assembles the Dataset."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import struct

import numpy as np

from robustloss._io import atomic_write
from robustloss.data._dataset import train_val_split
from robustloss.data._images import TfdsSource, tfds_columns

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@dataclasses.dataclass
class Raw:
    """Raw splits before validation split / scaling (x as stored, y int)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...]
    source: str
    kind: str  # "image" (uint8 or [0,1] float NHWC) or "tabular"
    scale_div: float = 255.0  # images: divide by this to reach [0, 1]
    meta: dict = dataclasses.field(default_factory=dict)


# ------------------------------------------------------------------------------------------
# IDX (MNIST-format) files.
# ------------------------------------------------------------------------------------------


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (``.gz`` or raw) of unsigned bytes into a NumPy array.

    Format: 2 zero bytes, dtype code ``0x08`` (uint8), number of dims, big-endian uint32 sizes,
    then the data. Images come back ``[N, H, W]``, labels ``[N]``.

    Args:
      path: file path.

    Returns:
      uint8 array of the stored shape.
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"IDX file {p!r} does not exist")
    opener = gzip.open if p.endswith(".gz") else open
    with opener(p, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{p!r} is not an unsigned-byte IDX file (header {data[:4]!r})")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{p!r}: header says shape {shape}, found {body.size} bytes of data")
    return body.reshape(shape)


def tfds_order(n: int, split: str) -> np.ndarray:
    """The order TFDS stores examples keyed ``0..n-1`` in (its shuffler sorts by hashed key).

    TFDS's ``Shuffler`` sorts examples by ``md5(split_name + str(key))`` as a 128-bit integer
    (``tensorflow_datasets/core/hashing.py``, ``shuffle.py``; the split name is the salt), and the
    MNIST-family builders key each example by its row in the IDX file. So TFDS's ``i``-th
    example is IDX row ``tfds_order(n, split)[i]``.

    Args:
      n: number of examples.
      split: split name, e.g. ``"train"``.

    Returns:
      int64 ``[n]`` permutation of IDX rows.

    Example:
      >>> sorted(tfds_order(5, "test").tolist())
      [0, 1, 2, 3, 4]
    """
    base = hashlib.md5(split.encode("utf-8"))
    keys = []
    for i in range(n):
        h = base.copy()
        h.update(str(i).encode("utf-8"))
        keys.append(h.digest())
    return np.asarray(sorted(range(n), key=keys.__getitem__), dtype=np.int64)


def idx_folder(
    directory: str | None,
    order: str = "tfds",
    name: str = "fashion_mnist",
    class_names: tuple[str, ...] = FASHION_MNIST_CLASSES,
) -> Raw:
    """MNIST-format IDX files from a folder (default: the Debian Fashion-MNIST package)."""
    d = os.fspath(directory or DEBIAN_FASHION_MNIST)
    missing = [f for pair in _IDX_FILES.values() for f in pair if not os.path.exists(f"{d}/{f}")]
    if missing:
        hint = (
            "Install them with `sudo apt-get install dataset-fashion-mnist` (files land in "
            f"{DEBIAN_FASHION_MNIST}), pass"
            if name == "fashion_mnist"
            else "Pass"
        )
        raise FileNotFoundError(
            f"{name} IDX files {missing} not found in {d!r}. {hint} path=<folder with the four "
            f"*-ubyte.gz files>, or use a TFDS copy: load_dataset({name!r}, data_dir=<dir>, "
            "download=True)."
        )
    if order not in ("tfds", "file"):
        raise ValueError(f"order must be 'tfds' or 'file', got {order!r}")
    out = {}
    for split, (fx, fy) in _IDX_FILES.items():
        x = read_idx(f"{d}/{fx}")[..., None]
        y = read_idx(f"{d}/{fy}").astype(np.int32)
        if len(x) != len(y):
            raise ValueError(f"{d}: {len(x)} images but {len(y)} labels in the {split} split")
        perm = tfds_order(len(y), split) if order == "tfds" else np.arange(len(y))
        out[split] = (x[perm], y[perm], perm)
    return Raw(
        out["train"][0],
        out["train"][1],
        out["test"][0],
        out["test"][1],
        10,
        class_names,
        source=f"idx:{d}",
        kind="image",
        meta={"order": order, "index_train": out["train"][2], "index_test": out["test"][2]},
    )


# ------------------------------------------------------------------------------------------
# TFDS prepared copies (read without TensorFlow).
# ------------------------------------------------------------------------------------------


def _tfrecord_records(path: str):
    with open(path, "rb") as f:
        data = f.read()
    pos, n = 0, len(data)
    while pos < n:
        (length,) = struct.unpack_from("<Q", data, pos)
        pos += 12  # length + masked crc of length
        yield data[pos : pos + length]
        pos += length + 4  # data + masked crc of data


def _prepared_dirs(name: str, data_dir: str | None) -> list[str]:
    if not data_dir:
        return []
    root = os.path.join(os.fspath(data_dir), name)
    if not os.path.isdir(root):
        return []
    return [d for d, _, files in os.walk(root) if "dataset_info.json" in files]


def tfds_prepared(name: str, data_dir: str | None) -> bool:
    """Whether ``data_dir`` holds a prepared TFDS copy of ``name`` (``dataset_info.json``)."""
    return bool(_prepared_dirs(name, data_dir))


def _version_key(d: str) -> tuple:
    parts = os.path.basename(d).split(".")
    return tuple(int(p) if p.isdigit() else -1 for p in parts)


def _tfds_builder(name: str, data_dir: str | None, download: bool):
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # pragma: no cover - dependency of the package
        raise ImportError("reading TFDS datasets needs `tensorflow-datasets`") from e
    dirs = _prepared_dirs(name, data_dir)
    if dirs:  # read the stored features/splits; works without the builder code and without TF
        return tfds.builder_from_directory(max(dirs, key=_version_key))
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # tfds raises DatasetNotFoundError and friends
        raise ValueError(f"TFDS does not know dataset {name!r}: {e}") from None
    if not builder.is_prepared():
        where = builder.data_dir
        if not download:
            raise FileNotFoundError(
                f"TFDS dataset {name!r} is not prepared in data_dir={data_dir!r} (looked in "
                f"{where}). Prepare it with load_dataset({name!r}, data_dir=<dir>, "
                "download=True) (needs network; TFDS's image builders also need TensorFlow: "
                "`pip install tensorflow-cpu`), or copy a folder made by "
                f"`tfds build {name} --data_dir <dir>` into <dir>."
            )
        try:
            builder.download_and_prepare()
        except Exception as e:
            raise RuntimeError(
                f"TFDS could not download and prepare {name!r} into {where}: "
                f"{type(e).__name__}: {e}. TFDS's builders need TensorFlow to prepare image "
                "datasets (`pip install tensorflow-cpu`) and network access."
            ) from None
    return builder


def _parse_ids(ids: list) -> np.ndarray | None:
    """``["train_00012", ...]`` (CIFAR's TFDS ``id`` feature) -> original row numbers."""
    out = []
    for v in ids:
        v = v.decode() if isinstance(v, bytes) else str(v)
        tail = v.rsplit("_", 1)[-1]
        if not tail.isdigit():
            return None
        out.append(int(tail))
    return np.asarray(out, dtype=np.int64)


def tfds_split_arrays(builder, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Decodes one split of a prepared TFDS copy to ``(x, y, ids)`` NumPy arrays, without TF.

    ``ids`` are the original row numbers when the features carry an ``id`` such as
    ``"train_01234"`` (CIFAR-10/100), else ``None``.
    """
    info = builder.info
    keys = info.supervised_keys
    if not keys or len(keys) < 2:
        raise ValueError(f"TFDS dataset {info.name!r} has no (input, label) supervised keys")
    kx, ky = keys[0], keys[1]
    features = info.features
    has_id = "id" in features.keys()
    fmt = str(getattr(info, "file_format", "tfrecord")).lower()
    xs, ys, ids = [], [], []

    def add(ex):
        xs.append(np.asarray(ex[kx]))
        ys.append(int(ex[ky]))
        if has_id:
            ids.append(ex["id"])

    if "array_record" in fmt:
        src = builder.as_data_source(split)
        for start in range(0, len(src), 1024):
            for ex in src.__getitems__(list(range(start, min(start + 1024, len(src))))):
                add(ex)
    else:
        for path in info.splits[split].filepaths:
            for rec in _tfrecord_records(os.fspath(path)):
                add(features.deserialize_example_np(rec))
    return np.stack(xs), np.asarray(ys, dtype=np.int32), _parse_ids(ids) if has_id else None


def _no_records_why(builder) -> str | None:
    """Why the stream cannot read ``builder``'s records on demand (None: it can)."""
    info = builder.info
    fmt = str(getattr(info, "file_format", None) or "tfrecord").lower()
    if "array_record" not in fmt:
        return f"the prepared copy is in {fmt.rsplit('.', 1)[-1]} format, not ArrayRecord"
    keys = info.supervised_keys
    if not keys or len(keys) < 2:
        return "the dataset has no (input, label) supervised keys"
    feature = info.features[keys[0]]
    kind = type(feature).__name__
    uint8 = np.dtype(getattr(feature, "np_dtype", None) or np.float32) == np.uint8
    if kind not in ("Image", "Tensor") or not uint8 or len(feature.shape) not in (2, 3):
        return f"its input feature {keys[0]!r} is not a uint8 image"
    return None


def _tfds_records(name: str, builder, test: str, k: int, names: tuple[str, ...]) -> Raw:
    """The train/test splits as `TfdsSource` records (labels and ids read, images not)."""
    info = builder.info
    kx, ky = info.supervised_keys[0], info.supervised_keys[1]
    has_id = "id" in info.features.keys()
    where = os.fspath(builder.data_dir)
    labels, ids = {}, {}
    for split in ("train", test):
        cols = tfds_columns(builder, split, [ky, "id"] if has_id else [ky], skip=kx)
        labels[split] = np.asarray(cols[0], np.int32)
        ids[split] = _parse_ids(cols[1]) if has_id else None
    if ids["train"] is None and name.split("/")[0] in ("mnist", "fashion_mnist", "kmnist"):
        # as `tfds_source`: these builders key examples by IDX row
        ids = {s: tfds_order(len(labels[s]), s) for s in ("train", test)}
    # the same stable indices as the arrays' (``index_train``), records by position
    x_tr, x_te = (TfdsSource(where, s, kx, labels[s], None, ids[s]) for s in ("train", test))
    y_tr, y_te = labels["train"], labels[test]
    meta: dict = {"records": f"TFDS ArrayRecord data source over {where}, read on demand"}
    if ids["train"] is not None:
        meta.update(index_train=ids["train"], index_test=ids[test])
    return Raw(
        x_tr,
        y_tr,
        x_te,
        y_te,
        k,
        names,
        source=f"tfds:{name}:{info.version}@{where} (ArrayRecord records)",
        kind="image",
        meta=meta,
    )


def tfds_source(
    name: str, data_dir: str | None, download: bool, cache_dir: str | None, lazy: bool = False
) -> Raw:
    """A TFDS dataset's train/test splits, decoded once and cached as ``.npy``.

    With ``lazy`` (the stream): `TfdsSource` records of a copy prepared in ArrayRecord format,
    read on demand; any other copy is decoded as without, and ``meta["records"]`` says why.
    """
    builder = _tfds_builder(name, data_dir, download)
    info = builder.info
    splits = list(info.splits.keys())
    test = "test" if "test" in splits else None
    if "train" not in splits or test is None:
        raise ValueError(f"TFDS dataset {name!r} has splits {splits}; need 'train' and 'test'")
    label = info.features[info.supervised_keys[1]]
    k = int(label.num_classes)
    names = tuple(label.names) if getattr(label, "names", None) else tuple(map(str, range(k)))
    why = _no_records_why(builder) if lazy else None
    if lazy and why is None:
        return _tfds_records(name, builder, test, k, names)
    cache = None
    if cache_dir:
        cache = os.path.join(cache_dir, "tfds", name, str(info.version))
    arrays = {}
    for split in ("train", test):
        files = {}
        if cache:
            files = {part: f"{cache}/{split}_{part}.npy" for part in ("x", "y", "id")}
        if cache and os.path.exists(files["x"]) and os.path.exists(files["y"]):
            ids = np.load(files["id"]) if os.path.exists(files["id"]) else None
            arrays[split] = (np.load(files["x"]), np.load(files["y"]), ids)
            continue
        x, y, ids = tfds_split_arrays(builder, split)
        if cache:
            os.makedirs(cache, exist_ok=True)
            for part, a in (("x", x), ("y", y), ("id", ids)):
                if a is None:
                    continue
                atomic_write(files[part], lambda tmp, a=a: np.save(tmp, a))
        arrays[split] = (x, y, ids)
    x_tr, y_tr, id_tr = arrays["train"]
    x_te, y_te, id_te = arrays[test]
    base = name.split("/")[0]
    if id_tr is None and base in ("mnist", "fashion_mnist", "kmnist"):
        # these builders key examples by IDX row: invert TFDS's hash order
        id_tr, id_te = tfds_order(len(y_tr), "train"), tfds_order(len(y_te), test)
    kind = "image" if x_tr.ndim == 4 else "tabular"
    if x_tr.ndim == 3:  # grayscale without channel axis
        x_tr, x_te, kind = x_tr[..., None], x_te[..., None], "image"
    meta = {}
    if id_tr is not None:
        meta = {"index_train": id_tr, "index_test": id_te}
    if lazy:
        meta["records"] = f"arrays decoded into memory ({why})"
    return Raw(
        x_tr,
        y_tr,
        x_te,
        y_te,
        k,
        names,
        source=f"tfds:{name}:{info.version}@{builder.data_dir}",
        kind=kind,
        meta=meta,
    )


# ------------------------------------------------------------------------------------------
# scikit-learn digits.
# ------------------------------------------------------------------------------------------


def digits(test_fraction: float, test_seed: int) -> Raw:
    """scikit-learn's 8×8 digits (1,797 examples, pixel values 0..16), stratified seeded split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float32)[..., None]
    y = d.target.astype(np.int32)
    tr, te = train_val_split(len(y), test_fraction, seed=test_seed, labels=y)
    return Raw(
        x[tr],
        y[tr],
        x[te],
        y[te],
        10,
        tuple(str(i) for i in range(10)),
        source="sklearn.datasets.load_digits",
        kind="image",
        scale_div=16.0,
        meta={"index_train": tr, "index_test": te},
    )


# ------------------------------------------------------------------------------------------
# Tabular files.
# ------------------------------------------------------------------------------------------


def _need_path(name: str, path, expected: str) -> str:
    if path is None:
        raise ValueError(f"dataset {name!r} is read from a file: pass path=<{expected}>")
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"dataset {name!r}: file {p!r} not found (expected {expected})")
    return p


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_header(cells: list[str], width: int) -> bool:
    """True for a first line of ``width`` column names: no cell parses as a number.

    A garbled data line (some numeric cells) is *not* a header and fails row parsing instead.
    """
    return len(cells) == width and not any(_is_number(c) for c in cells)


def letter_csv(path, test_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """UCI ``letter-recognition.data``: ``T,2,8,3,5,1,8,13,0,6,6,10,8,0,8,0,8`` per line.

    A first line of 17 column names (no number among them) is skipped as a header.
    """
    p = _need_path("letter", path, "UCI letter-recognition.data (letter, 16 integers per line)")
    xs, ys = [], []
    with open(p) as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            cells = [c.strip() for c in line.split(",")]
            if not xs and _is_header(cells, 17):
                continue  # a header line (column names), as some copies of the file have
            lab = cells[0]
            if len(cells) != 17 or len(lab) != 1 or not ("A" <= lab.upper() <= "Z"):
                raise ValueError(
                    f"{p!r} line {i}: expected a letter and 16 integers separated by commas, "
                    f"got {line!r}"
                )
            try:
                xs.append([int(c) for c in cells[1:]])
            except ValueError:
                raise ValueError(f"{p!r} line {i}: non-integer feature in {line!r}") from None
            ys.append(ord(lab.upper()) - ord("A"))
    if not ys:
        raise ValueError(f"{p!r} holds no rows")
    return np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.int32)


def vowel_context(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UCI ``vowel-context.data``: split flag (0 train/1 test), speaker, sex, 10 features, class.

    A first line of 14 column names is skipped as a header. Returns ``(x [N,10], y [N],
    is_test [N])``.
    """
    p = _need_path("vowel", path, "UCI vowel-context.data (13 numbers + class per line)")
    xs, ys, ts = [], [], []
    with open(p) as f:
        for i, line in enumerate(f, 1):
            cells = line.replace(",", " ").split()
            if not cells:
                continue
            if not xs and _is_header(cells, 14):
                continue
            if len(cells) != 14:
                raise ValueError(
                    f"{p!r} line {i}: expected 14 whitespace-separated values (split, speaker, "
                    f"sex, 10 features, class), got {len(cells)}: {line.strip()!r}"
                )
            try:
                vals = [float(c) for c in cells]
            except ValueError:
                raise ValueError(f"{p!r} line {i}: non-numeric value in {line.strip()!r}") from None
            if vals[0] not in (0.0, 1.0) or vals[13] != int(vals[13]):
                raise ValueError(f"{p!r} line {i}: bad split flag or class in {line.strip()!r}")
            ts.append(vals[0] == 1.0)
            xs.append(vals[3:13])
            ys.append(int(vals[13]))
    if not ys:
        raise ValueError(f"{p!r} holds no rows")
    return (
        np.asarray(xs, dtype=np.float32),
        np.asarray(ys, dtype=np.int32),
        np.asarray(ts, dtype=bool),
    )


def svmlight(paths: list[str], max_dense_bytes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """LIBSVM/svmlight files read with scikit-learn (same feature count), densified."""
    from sklearn.datasets import load_svmlight_files

    for p in paths:
        _need_path("libsvm", p, "a LIBSVM/svmlight file")
    try:
        parts = load_svmlight_files(paths)
    except ValueError as e:
        raise ValueError(f"malformed LIBSVM/svmlight file in {paths}: {e}") from None
    out = []
    for j in range(0, len(parts), 2):
        x, y = parts[j], parts[j + 1]
        nbytes = x.shape[0] * x.shape[1] * 4
        if nbytes > max_dense_bytes:
            raise ValueError(
                f"{paths[j // 2]!r}: dense float32 copy would need {nbytes / 2**30:.2f} GiB "
                f"({x.shape[0]}x{x.shape[1]}), over max_dense_bytes={max_dense_bytes}; raise the "
                "limit or reduce the features first"
            )
        if np.any(y != np.round(y)):
            raise ValueError(f"{paths[j // 2]!r}: labels must be integers for classification")
        out.append((np.asarray(x.todense(), dtype=np.float32), y.astype(np.int64)))
    return out


# The LDR code's npz files (``np.savez(f, x, y)``) hold ``arr_0`` (features), ``arr_1`` (labels).
_NPZ_X = ("x", "X", "data", "x_train", "images", "features", "arr_0")
_NPZ_Y = ("y", "Y", "labels", "y_train", "label", "targets", "arr_1")


def _labels_1d(y: np.ndarray, where: str) -> np.ndarray:
    """Integer class ids ``[N]`` from ``[N]`` integer-valued or ``[N, K]`` one-hot labels.

    Nothing is remapped: a float label that is not an integer (0.5), NaN/inf, a negative id or a
    non-one-hot row raises a ``ValueError`` naming ``where`` (file and key), the value and its
    row.
    """
    y = np.asarray(y)
    if y.ndim == 2:  # one-hot (the LDR npz files); soft labels are not argmax-ed
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{where}: labels must be numeric, got dtype {y.dtype}")
        ones = np.sum(y == 1, axis=1) == 1
        zeros = np.sum(y == 0, axis=1) == y.shape[1] - 1
        bad = np.flatnonzero(~(ones & zeros))
        if len(bad):
            i = int(bad[0])
            raise ValueError(
                f"{where}: row {i} of the [N, K] labels is {y[i][:12].tolist()}, not one-hot "
                f"({len(bad)} such rows); give [N] integer ids or one-hot rows"
            )
        return y.argmax(axis=1).astype(np.int64)
    if y.ndim != 1:
        raise ValueError(f"{where}: labels must be [N] ids or [N, K] one-hot, got {y.shape}")
    if y.dtype.kind == "b":
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if len(bad):
            i = int(bad[0])
            raise ValueError(
                f"{where}: label {y[i].item()!r} at row {i} is not an integer class id "
                f"({len(bad)} such rows); labels must be integers in [0, K)"
            )
    elif y.dtype.kind not in "iu":
        raise ValueError(f"{where}: labels must be integer class ids, got dtype {y.dtype}")
    y = y.astype(np.int64)
    neg = np.flatnonzero(y < 0)
    if len(neg):
        i = int(neg[0])
        raise ValueError(
            f"{where}: label {int(y[i])} at row {i} is negative ({len(neg)} such rows); labels "
            "must be integers in [0, K) (they are not remapped)"
        )
    return y


def npz_file(path) -> dict[str, np.ndarray]:
    """An ``.npz`` with ``x``/``y`` (aliases allowed, incl. the LDR code's ``arr_0``/``arr_1``)
    and optional ``x_test``/``y_test``, ``x_val``/``y_val``.

    Labels are class ids as stored (``[N]`` integer-valued, or ``[N, K]`` one-hot), checked by
    `_labels_1d`; ``"num_classes"`` in the result is the one-hot width (0 for ids). All ``x``
    arrays must share their feature shape.
    """
    p = _need_path("npz", path, "an .npz file with arrays x and y (optionally x_test, y_test)")
    try:
        z = np.load(p, allow_pickle=False)
    except Exception as e:
        raise ValueError(f"{p!r} is not a readable .npz file: {e}") from None
    width = 0
    with z:
        files = list(z.files)
        kx = next((k for k in _NPZ_X if k in files), None)
        ky = next((k for k in _NPZ_Y if k in files), None)
        if kx is None or ky is None:
            raise ValueError(
                f"{p!r} must hold arrays 'x' and 'y' (features, labels; or one of "
                f"{list(_NPZ_X[1:])} and of {list(_NPZ_Y[1:])}, e.g. the LDR code's 'arr_0' "
                f"and 'arr_1'); it holds {files}"
            )
        out = {"x": z[kx], "y": _labels_1d(z[ky], f"{p!r} array {ky!r}")}
        if z[ky].ndim == 2:
            width = z[ky].shape[1]
        for part in ("test", "val"):
            if f"x_{part}" in files and f"y_{part}" in files:
                out[f"x_{part}"] = z[f"x_{part}"]
                out[f"y_{part}"] = _labels_1d(z[f"y_{part}"], f"{p!r} array 'y_{part}'")
                if z[f"y_{part}"].ndim == 2:
                    width = max(width, z[f"y_{part}"].shape[1])
            elif f"x_{part}" in files or f"y_{part}" in files:
                raise ValueError(f"{p!r} has only one of x_{part}/y_{part}; it holds {files}")
    for k in list(out):
        if k.startswith("x") and len(out[k]) != len(out["y" + k[1:]]):
            raise ValueError(f"{p!r}: {k} has {len(out[k])} rows, y{k[1:]} {len(out['y' + k[1:]])}")
        if k.startswith("x_") and out[k].shape[1:] != out["x"].shape[1:]:
            raise ValueError(
                f"{p!r}: {k} has feature shape {out[k].shape[1:]} but {kx!r} has "
                f"{out['x'].shape[1:]}; every split must have the same features"
            )
    out["num_classes"] = np.asarray(width)
    return out


def write_tfds_copy(
    data_dir: str | os.PathLike,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    name: str = "fashion_mnist",
    version: str = "3.0.1",
    num_classes: int = 10,
    file_format: str = "array_record",
) -> str:
    """Writes image/label arrays as a TFDS dataset copy with TFDS's own writer, without TensorFlow.

    The stock TFDS builders need TensorFlow to *prepare* (docs/design.md §11), but TFDS's writer
    and its array_record format do not: this builds the copy from arrays already in memory (e.g.
    the Debian Fashion-MNIST IDX files), keyed by row number exactly as the stock
    ``mnist``-family builders key examples, so TFDS orders it the same way (``tfds_order``) and
    ``load_dataset(name, data_dir=data_dir)`` reads it like a stock copy.

    Args:
      data_dir: TFDS data directory; the copy lands in ``data_dir/name/version``.
      splits: ``{split: (images uint8 [N, H, W, C], labels int [N])}``.
      name: the TFDS dataset name the copy stands in for.
      version: the TFDS version string.
      num_classes: number of label classes.
      file_format: ``"array_record"`` (readable without TensorFlow) or ``"tfrecord"``.

    Returns:
      The directory of the written copy.

    Example:
      >>> import tempfile
      >>> x = np.zeros((3, 2, 2, 1), np.uint8); y = np.array([0, 1, 2])
      >>> out = write_tfds_copy(tempfile.mkdtemp(), {"train": (x, y)}, name="tiny")
      >>> os.path.basename(out)
      '3.0.1'
    """
    import tensorflow_datasets as tfds

    if not splits:
        raise ValueError("splits is empty; give {'train': (images, labels), ...}")
    shape = tuple(next(iter(splits.values()))[0].shape[1:])
    ds_name = name

    class _Copy(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        name = ds_name
        VERSION = tfds.core.Version(version)

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Tensor(shape=shape, dtype=np.uint8),
                        "label": tfds.features.ClassLabel(num_classes=num_classes),
                    }
                ),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager):
            return {s: self._generate_examples(s) for s in splits}

        def _generate_examples(self, split):
            images, labels = splits[split]
            for i in range(len(labels)):
                yield i, {"image": images[i], "label": int(labels[i])}

    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # TFDS prints "Downloading and preparing"
        _Copy(data_dir=str(data_dir), file_format=file_format).download_and_prepare()
    return os.path.join(str(data_dir), name, version)
