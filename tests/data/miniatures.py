"""Miniature copies of the real-noise datasets, in their real on-disk layouts, for tests.

Everything here is generated: random images, random labels. The CIFAR-N label files are written
in the published format (a torch zip archive whose ``<name>/data.pkl`` pickles a dict of NumPy
arrays, with the same pickle globals as the real files) with Python's ``zipfile`` + ``pickle``
(no torch), and with the published noise *counts*, so the loaders' rate checks pass on them.
No file of the real datasets (or derived from them) is written here.
"""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np

# Wrong labels per label set in the published files (measured; = the published rates x 50,000).
CIFAR10N_WRONG = {
    "aggre_label": 4505,
    "worse_label": 20104,
    "random_label1": 8617,
    "random_label2": 9061,
    "random_label3": 8820,
}
CIFAR100N_WRONG = {"noisy_label": 20100, "noisy_coarse_label": 13202}
N = 50_000


def write_torch_zip(path: str, obj, archive: str = "archive") -> str:
    """``obj`` pickled (protocol 2) as torch's zip format writes it: ``<archive>/data.pkl`` +
    ``<archive>/version``, stored; NumPy 2's ``numpy._core`` spelled ``numpy.core`` as in the
    published files."""
    data = pickle.dumps(obj, protocol=2)
    data = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{archive}/data.pkl", data)
        z.writestr(f"{archive}/version", "3\n")
    return path


def _flip(clean: np.ndarray, count: int, k: int, rng) -> np.ndarray:
    noisy = clean.copy()
    idx = rng.choice(len(clean), count, replace=False)
    noisy[idx] = (clean[idx] + rng.integers(1, k, count)) % k
    return noisy


def fake_cifar10n(seed: int = 0) -> dict[str, np.ndarray]:
    """A CIFAR-10N-format dict: random clean labels, each label set with its published count."""
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 10, N).astype(np.int64)
    out = {"clean_label": clean}
    out.update({f: _flip(clean, c, 10, rng) for f, c in CIFAR10N_WRONG.items()})
    return out


def fake_cifar100n(seed: int = 0) -> dict:
    """A CIFAR-100N-format dict (fine arrays, coarse lists, as the published file)."""
    from robustloss.noise import superclass_map

    rng = np.random.default_rng(seed)
    fine = rng.integers(0, 100, N).astype(np.int64)
    coarse = np.asarray(superclass_map("cifar100"))[fine].astype(np.int64)
    return {
        "clean_label": fine,
        "noisy_label": _flip(fine, CIFAR100N_WRONG["noisy_label"], 100, rng),
        "clean_coarse_label": coarse.tolist(),
        "noisy_coarse_label": _flip(
            coarse, CIFAR100N_WRONG["noisy_coarse_label"], 20, rng
        ).tolist(),
    }


def _images(n: int, labels: np.ndarray, rng) -> np.ndarray:
    """Generated CIFAR rows: uint8 [n, 3072] (a label-dependent level plus noise)."""
    base = (np.asarray(labels) * 23 % 200).astype(np.int64)[:, None]
    return np.clip(base + rng.integers(0, 50, (n, 3072)), 0, 255).astype(np.uint8)


def _dump(path: str, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10_python(
    folder: str,
    labels: np.ndarray,
    *,
    batches=(1,),
    rows: int = 60,
    test_rows: int = 40,
    seed: int = 0,
) -> str:
    """A ``cifar-10-batches-py`` folder whose batch ``b`` holds the first ``rows`` images of
    CIFAR rows ``10000(b-1)...`` with labels ``labels[row]`` (a partial copy unless full)."""
    rng = np.random.default_rng(seed)
    d = os.path.join(folder, "cifar-10-batches-py")
    os.makedirs(d, exist_ok=True)
    for b in batches:
        r = np.arange(rows) + 10_000 * (b - 1)
        y = np.asarray(labels)[r]
        _dump(
            os.path.join(d, f"data_batch_{b}"),
            {
                "batch_label": f"training batch {b} of 5",
                "labels": y.tolist(),
                "data": _images(rows, y, rng),
                "filenames": [f"img_{i}.png" for i in r],
            },
        )
    yt = rng.integers(0, 10, test_rows)
    _dump(
        os.path.join(d, "test_batch"), {"labels": yt.tolist(), "data": _images(test_rows, yt, rng)}
    )
    names = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    _dump(os.path.join(d, "batches.meta"), {"label_names": names, "num_vis": 3072})
    return d


def write_cifar100_python(
    folder: str, fine: np.ndarray, coarse, *, rows: int = 80, test_rows: int = 40, seed: int = 0
) -> str:
    """A ``cifar-100-python`` folder with the first ``rows`` training images."""
    from robustloss.noise import superclass_map

    rng = np.random.default_rng(seed)
    d = os.path.join(folder, "cifar-100-python")
    os.makedirs(d, exist_ok=True)
    f, c = np.asarray(fine)[:rows], np.asarray(coarse)[:rows]
    _dump(
        os.path.join(d, "train"),
        {"fine_labels": f.tolist(), "coarse_labels": c.tolist(), "data": _images(rows, f, rng)},
    )
    ft = rng.integers(0, 100, test_rows)
    ct = np.asarray(superclass_map("cifar100"))[ft]
    _dump(
        os.path.join(d, "test"),
        {
            "fine_labels": ft.tolist(),
            "coarse_labels": ct.tolist(),
            "data": _images(test_rows, ft, rng),
        },
    )
    _dump(
        os.path.join(d, "meta"),
        {
            "fine_label_names": [f"fine{i}" for i in range(100)],
            "coarse_label_names": [f"coarse{i}" for i in range(20)],
        },
    )
    return d


# ------------------------------------------------------------------------------------------
# File datasets.
# ------------------------------------------------------------------------------------------


def jpeg(path: str, rng, size=(12, 10)) -> str:
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    a = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(a).save(path, quality=90)
    return path


def _write(path: str, lines) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join(f"{ln}\n" for ln in lines))


def make_clothing1m(root: str, *, seed: int = 0, n_train: int = 24) -> dict:
    """Clothing1M layout: list files at the root, keys ``images/<d>/<dd>/<name>.jpg``."""
    rng = np.random.default_rng(seed)
    key = lambda i: f"images/{i % 10}/{i % 100:02d}/{1000 + i}.jpg"  # noqa: E731
    _write(os.path.join(root, "category_names_eng.txt"), [f"Class {c}" for c in range(14)])
    keys = [key(i) for i in range(n_train + 18)]
    for k in keys:
        jpeg(os.path.join(root, k), rng)
    noisy = {k: int(rng.integers(0, 14)) for k in keys[: n_train + 4]}  # 4 extra kv-only keys
    train = keys[:n_train]
    ctrain, cval, ctest = keys[n_train + 4 : n_train + 8], keys[n_train + 8 : n_train + 13], keys[
        n_train + 13 :]  # fmt: skip
    overlap = train[:6]  # training images that also carry a clean label
    clean = {k: int(rng.integers(0, 14)) for k in ctrain + cval + ctest + overlap}
    _write(os.path.join(root, "noisy_label_kv.txt"), [f"{k} {v}" for k, v in noisy.items()])
    _write(os.path.join(root, "clean_label_kv.txt"), [f"{k} {v}" for k, v in clean.items()])
    _write(os.path.join(root, "noisy_train_key_list.txt"), train)
    _write(os.path.join(root, "clean_train_key_list.txt"), ctrain + overlap)
    _write(os.path.join(root, "clean_val_key_list.txt"), cval)
    _write(os.path.join(root, "clean_test_key_list.txt"), ctest)
    return {"train": train, "noisy": noisy, "clean": clean, "val": cval, "test": ctest}


def make_mini_webvision(root: str, *, seed: int = 0, classes=(0, 1, 2), per_class: int = 4) -> dict:
    """WebVision 1.0 layout (``info/``, ``google/``, ``val_images_256/``) with ILSVRC12 val
    folders ``imagenet/val/<wnid>/`` for ``classes``; the train list also holds classes >= 50."""
    rng = np.random.default_rng(seed)
    wnids = [f"n{1440764 + i:08d}" for i in range(1000)]
    _write(
        os.path.join(root, "info", "synsets.txt"), [f"{w} name {i}" for i, w in enumerate(wnids)]
    )
    train, val = [], []
    for c in list(classes) + [50, 999]:
        for j in range(per_class):
            p = f"google/q{c + 1:04d}/{c}_{j}.jpg"
            jpeg(os.path.join(root, p), rng)
            train.append(f"{p} {c}")
            v = f"val{c:03d}{j:03d}.jpg"
            jpeg(os.path.join(root, "val_images_256", v), rng)
            val.append(f"{v} {c}")
    _write(os.path.join(root, "info", "train_filelist_google.txt"), train)
    _write(os.path.join(root, "info", "val_filelist.txt"), val)
    for c in classes:
        for j in range(per_class):
            jpeg(
                os.path.join(root, "imagenet", "val", wnids[c], f"ILSVRC2012_val_{c:04d}{j}.JPEG"),
                rng,
            )
    return {"wnids": wnids, "train": train, "val": val}


def make_food101n(parent: str, *, seed: int = 0, per_class: int = 1, classes: int = 101) -> dict:
    """``Food-101N_release/`` and ``food-101/`` side by side under ``parent``."""
    rng = np.random.default_rng(seed)
    names = [f"dish_{i:03d}" for i in range(classes)]
    root = os.path.join(parent, "Food-101N_release")
    keys = []
    for c in names[:3]:
        for j in range(per_class + 2):
            k = f"{c}/{c}{j:04x}.jpg"
            jpeg(os.path.join(root, "images", k), rng)
            keys.append(k)
    _write(os.path.join(root, "meta", "classes.txt"), ["class_name"] + names)
    _write(os.path.join(root, "meta", "imagelist.tsv"), ["class_name/key"] + keys)
    head = "class_name/key\tverification_label"
    _write(
        os.path.join(root, "meta", "verified_train.tsv"), [head, f"{keys[0]}\t1", f"{keys[1]}\t0"]
    )
    _write(os.path.join(root, "meta", "verified_val.tsv"), [head, f"{keys[2]}\t1"])
    f101 = os.path.join(parent, "food-101")
    test = []
    for c in names[:3]:
        for j in range(per_class + 1):
            t = f"{c}/{100 + j}"
            jpeg(os.path.join(f101, "images", t + ".jpg"), rng)
            test.append(t)
    _write(os.path.join(f101, "meta", "classes.txt"), names)
    _write(os.path.join(f101, "meta", "test.txt"), test)
    return {"root": root, "keys": keys, "test": test, "names": names}


def make_animal10n(root: str, *, seed: int = 0, train: int = 20, test: int = 10) -> dict:
    """``training/`` and ``testing/`` of ``<label>_<id>.jpg`` (64x64)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("training", train), ("testing", test)):
        labels = rng.integers(0, 10, n)
        for i, y in enumerate(labels):
            jpeg(os.path.join(root, split, f"{y}_{i:05d}.jpg"), rng, size=(64, 64))
        out[split] = labels
    return out
