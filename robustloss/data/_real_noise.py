"""Real-noise image datasets the user downloads: Clothing1M, mini-WebVision, Food-101N, ANIMAL-10N.

Each loader reads the dataset's own list files in its published on-disk layout, checks the
published counts, and returns a frozen `FileDataset`: training image paths with their (noisy)
labels, the clean labels where the dataset has them, the evaluation sets by name as
``(paths, labels)``, class names, the counts found against the published ones, and provenance.
Images are not decoded here: `file_dataset_sources` wraps the paths and labels (index =
position) in `ImageFileSource` records for the streaming pipeline (``dataset.pipeline="stream"``),
and `file_dataset_arrays` decodes them into memory at a fixed size for
``dataset.pipeline="memory"`` (ANIMAL-10N, small copies, tests). Both give the same rows,
labels, splits and evaluation sets, and the same pixels at evaluation (`decode_image`).

Nothing is guessed: a missing list file, a malformed line, a label out of range or a count
that differs from the published one fails with the file and the numbers. ``partial=True``
accepts a copy with *fewer* entries than published (recorded in ``provenance["partial"]``);
more entries than published is always an error. Image files are checked for a sample of 64
evenly spaced paths per split (a wrong root or layout fails at once; the full check happens
when the images are decoded).

Layouts (what each loader reads; sources cited per loader):

* ``clothing1m`` (Xiao et al., CVPR 2015): ``category_names_eng.txt``, ``noisy_label_kv.txt``,
  ``clean_label_kv.txt`` (``images/0/00/xxx.jpg <label>`` per line), ``noisy_train_key_list.txt``,
  ``clean_{train,val,test}_key_list.txt`` and ``images/0..9/...`` under the root (the list files
  may also sit in ``<root>/annotations/``). Published: 14 classes, noisy train 1,000,000, clean
  train / val / test 47,570 / 14,313 / 10,526 (github.com/Cysu/noisy_label README and
  ``make_aux_data.py``; the 10,526 clean test images are the 106 test iterations of batch 100
  of its README).
* ``mini_webvision`` (Li et al., 2017; "mini" = the first 50 classes of the Google subset,
  Jiang et al. 2018): WebVision 1.0 ``info/train_filelist_google.txt``
  (``google/q0001/<img>.jpg <class>``), ``info/val_filelist.txt`` (``<img>.jpg <class>``, images
  in ``val_images_256/``), ``info/synsets.txt`` (class ``i`` = line ``i``: ``n01440764 tench,
  ...``); ILSVRC 2012 validation images in one folder per synset (``<wnid>/*.JPEG``, the layout
  of torchvision's ``ImageNet(split="val")``), restricted to the same 50 synsets. Published:
  65,944 training images, 2,500 WebVision validation, 2,500 ILSVRC12 validation
  (DivideMix ``dataloader_webvision.py``; ELR).
* ``food101n`` (Lee et al., CVPR 2018): ``Food-101N_release/meta/classes.txt`` (a header line
  ``class_name`` then 101 names), ``meta/imagelist.tsv`` (header ``class_name/key``, then
  ``<class>/<img>.jpg``), ``meta/verified_{train,val}.tsv`` (header ``class_name/key
  verification_label``, tab-separated, 1 = the class label is correct), ``images/<class>/``;
  test = Food-101's test split: ``food-101/meta/test.txt`` (``<class>/<id>``), ``meta/classes.txt``,
  ``images/<class>/<id>.jpg``. Published: 310,009 images, 52,868 / 4,741 verified for
  training / validation (kuanghuei.github.io/Food-101N), Food-101 test 25,250 (250 per class).
* ``animal10n`` (Song et al., ICML 2019): ``training/`` and ``testing/`` folders of
  ``<label>_<id>.jpg`` (the label is the file name's prefix), 64×64 RGB. Published: 50,000 /
  5,000 images, 10 classes (dm.kaist.ac.kr/datasets/animal-10n).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._images import ImageFileSource, center_crop
from ._sources import Raw

SAMPLE_CHECK = 64  # image files checked per split when listing (all of them when decoding)
MEMORY_LIMIT_BYTES = 16 * 2**30  # float32 arrays a memory-pipeline dataset may take on the host
#: How a file dataset's image is brought to ``image_size`` in both pipelines (memory decoding,
#: the stream's evaluation transform): the shorter side resized to ``image_size / 1.0``, then
#: the central crop -- ANIMAL-10N's native 64x64 images stay as they are at 64.
FILE_RESIZE_FRACTION = 1.0


@dataclasses.dataclass(frozen=True, eq=False)
class FileDataset:
    """A real-noise dataset as files: what the streaming pipeline consumes.

    Attributes:
        name: registry name (``clothing1m``, ``mini_webvision``, ``food101n``, ``animal10n``).
        root: the folder the user downloaded (``dataset.path``).
        train_paths: absolute image paths of the training set; the example index is the position.
        train_labels: int32 ``[N]`` the training labels (noisy: the dataset's own labels).
        train_clean: int32 ``[N]`` the true label where the dataset publishes one, else -1
            (Clothing1M: the training images that also carry a clean label; Food-101N: the
            verified-correct images).
        train_is_noisy: int8 ``[N]``: 1 label wrong, 0 label right, -1 unknown (Food-101N's
            verification labels know "wrong" without the true class).
        eval_sets: ``{name: (paths, labels)}`` of the clean evaluation sets.
        val_set: the eval set used as the run's validation split (None: none).
        test_set: the eval set used as the run's test split.
        num_classes: K.
        class_names: K names.
        counts: ``{list: entries found}``.
        published: ``{list: published count}`` (None where none is published).
        partial: whether fewer entries than published were accepted.
        provenance: files read, what was checked, notes.
        image_size: the dataset's standard input size (224; ANIMAL-10N: 64, its native size).
    """

    name: str
    root: str
    train_paths: tuple[str, ...]
    train_labels: np.ndarray
    train_clean: np.ndarray
    train_is_noisy: np.ndarray
    eval_sets: dict[str, tuple[tuple[str, ...], np.ndarray]]
    val_set: str | None
    test_set: str
    num_classes: int
    class_names: tuple[str, ...]
    counts: dict[str, int]
    published: dict[str, int | None]
    partial: bool
    provenance: dict[str, Any]
    image_size: int

    def __repr__(self) -> str:
        evals = {k: len(v[1]) for k, v in self.eval_sets.items()}
        return (
            f"FileDataset(name={self.name!r}, train={len(self.train_paths)}, eval={evals}, "
            f"num_classes={self.num_classes}, partial={self.partial}, root={self.root!r})"
        )

    @property
    def extra_eval_sets(self) -> tuple[str, ...]:
        """Eval sets that are neither the validation nor the test split (evaluated by name)."""
        return tuple(k for k in self.eval_sets if k not in (self.val_set, self.test_set))


# ------------------------------------------------------------------------------------------
# Shared readers and checks.
# ------------------------------------------------------------------------------------------


def _need_file(path: str, what: str, name: str) -> str:
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{name}: {what} {path!r} is missing; see docs/data.md ('Real label noise') for the "
            "layout this loader reads"
        )
    return path


def _lines(path: str) -> list[tuple[int, str]]:
    with open(path, encoding="utf-8") as f:
        return [(i, ln.strip()) for i, ln in enumerate(f, 1) if ln.strip()]


def _label(text: str, k: int, where: str) -> int:
    if not text.lstrip("-").isdigit():
        raise ValueError(f"{where}: label {text!r} is not an integer")
    v = int(text)
    if not 0 <= v < k:
        raise ValueError(f"{where}: label {v} is outside [0, {k})")
    return v


def _path_label_file(path: str, k: int, *, keep: Callable[[int], bool] | None = None):
    """``<path> <label>`` lines (whitespace-separated) -> (paths, labels), in file order;
    ``keep(label)`` filters lines before the range check (mini-WebVision's first 50 classes)."""
    paths, labels = [], []
    for i, ln in _lines(path):
        parts = ln.split()
        if len(parts) != 2:
            raise ValueError(f"{path!r} line {i}: expected '<image path> <label>', got {ln!r}")
        try:
            lab = int(parts[1])
        except ValueError:
            raise ValueError(f"{path!r} line {i}: label {parts[1]!r} is not an integer") from None
        if keep is not None and not keep(lab):
            continue
        paths.append(parts[0])
        labels.append(_label(parts[1], k, f"{path!r} line {i}"))
    return paths, np.asarray(labels, np.int32)


def _kv(path: str, k: int) -> tuple[list[str], dict[str, int]]:
    """A ``key label`` file -> (keys in file order, {key: label}); a key listed twice with two
    different labels is an error (twice with one label: kept once)."""
    keys, labels = _path_label_file(path, k)
    out: dict[str, int] = {}
    order = []
    for key, lab in zip(keys, labels.tolist(), strict=True):
        if key in out:
            if out[key] != lab:
                raise ValueError(f"{path!r}: key {key!r} has two labels, {out[key]} and {lab}")
            continue
        out[key] = lab
        order.append(key)
    return order, out


def _count(
    name: str, split: str, found: int, published: int | None, partial: bool, notes: dict
) -> None:
    """The published-count check (see the module docstring)."""
    if found == 0:
        raise ValueError(f"{name}: the {split} list is empty")
    if published is None or found == published:
        return
    if found > published:
        raise ValueError(
            f"{name}: {found} {split} entries, more than the published {published}; this is not "
            "the published dataset (or its lists were edited)"
        )
    if not partial:
        raise ValueError(
            f"{name}: {found} {split} entries, fewer than the published {published}; complete "
            "the copy, or set dataset.partial=True to use the entries present (recorded in the "
            "run's provenance)"
        )
    notes.setdefault("partial", {})[split] = f"{found} of {published}"


def _check_sample(name: str, split: str, paths: Sequence[str]) -> None:
    if not paths:
        return
    idx = np.unique(np.linspace(0, len(paths) - 1, min(SAMPLE_CHECK, len(paths))).astype(int))
    missing = [paths[i] for i in idx if not os.path.isfile(paths[i])]
    if missing:
        raise FileNotFoundError(
            f"{name}: {len(missing)} of {len(idx)} sampled {split} images are missing, e.g. "
            f"{missing[:3]}; is dataset.path the dataset's root folder (images unpacked)?"
        )


def _flags(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, -1, np.int32), np.full(n, -1, np.int8)


# ------------------------------------------------------------------------------------------
# Clothing1M.
# ------------------------------------------------------------------------------------------

CLOTHING1M_PUBLISHED = {
    "noisy_train": 1_000_000,
    "clean_train": 47_570,
    "clean_val": 14_313,
    "clean_test": 10_526,
}
CLOTHING1M_TRAIN_SETS = ("noisy_train", "rent")
CLOTHING1M_TEST_SETS = ("clean_test", "rent")


def clothing1m(
    root: str,
    *,
    partial: bool = False,
    train_set: str = "noisy_train",
    test_set: str = "clean_test",
) -> FileDataset:
    """Clothing1M from its list files (layout in the module docstring).

    Args:
        root: the unpacked dataset (list files in it or in ``annotations/``; ``images/``).
        partial: accept fewer list entries than published.
        train_set: ``noisy_train`` (standard: ``noisy_train_key_list.txt``, 1,000,000 images,
            labels from ``noisy_label_kv.txt``) or ``rent`` (every line of ``noisy_label_kv.txt``,
            as the RENT code; its count is not published and it overlaps the clean sets --
            the overlap is recorded in the provenance).
        test_set: ``clean_test`` (standard: ``clean_test_key_list.txt``, 10,526) or ``rent``
            (every line of ``clean_label_kv.txt``: clean train + val + test, as the RENT code).

    Returns:
        `FileDataset` with eval sets ``val`` (clean val, 14,313) and ``test``; ``train_clean``
        holds the clean label of the training images that also have one.

    Raises:
        FileNotFoundError, ValueError: see the module docstring.
    """
    name = "clothing1m"
    if train_set not in CLOTHING1M_TRAIN_SETS:
        raise ValueError(f"{name}: train_set={train_set!r}; choose one of {CLOTHING1M_TRAIN_SETS}")
    if test_set not in CLOTHING1M_TEST_SETS:
        raise ValueError(f"{name}: test_set={test_set!r}; choose one of {CLOTHING1M_TEST_SETS}")
    root = os.path.abspath(os.fspath(root))
    ann = next(
        (d for d in (root, os.path.join(root, "annotations")) if os.path.isfile(
            os.path.join(d, "noisy_label_kv.txt"))),
        root,
    )  # fmt: skip
    f = lambda n: _need_file(os.path.join(ann, n), "list file", name)  # noqa: E731
    names = [ln for _, ln in _lines(f("category_names_eng.txt"))]
    if len(names) != 14:
        raise ValueError(f"{name}: category_names_eng.txt lists {len(names)} classes, not 14")
    k = 14
    noisy_keys, noisy_kv = _kv(f("noisy_label_kv.txt"), k)
    clean_keys, clean_kv = _kv(f("clean_label_kv.txt"), k)
    lists = {
        s: [ln for _, ln in _lines(f(f"{s}_key_list.txt"))]
        for s in ("noisy_train", "clean_train", "clean_val", "clean_test")
    }
    notes: dict[str, Any] = {}
    for s, keys in lists.items():
        _count(name, s, len(keys), CLOTHING1M_PUBLISHED[s], partial, notes)
        kv = noisy_kv if s == "noisy_train" else clean_kv
        absent = [key for key in keys if key not in kv]
        if absent:
            raise ValueError(
                f"{name}: {len(absent)} keys of {s}_key_list.txt have no label in "
                f"{'noisy' if s == 'noisy_train' else 'clean'}_label_kv.txt, e.g. {absent[:3]}"
            )
    train_keys = lists["noisy_train"] if train_set == "noisy_train" else noisy_keys
    test_keys = lists["clean_test"] if test_set == "clean_test" else clean_keys
    evals_keys = {"val": lists["clean_val"], "test": test_keys}
    overlap = {
        s: len(set(train_keys) & set(keys)) for s, keys in evals_keys.items()
    }  # RENT's all-kv training set overlaps its all-kv test set
    if any(overlap.values()):
        notes["train_eval_overlap"] = overlap
    prefix = _image_prefix(root, train_keys[:SAMPLE_CHECK])
    p = lambda key: os.path.join(prefix, key)  # noqa: E731
    train_paths = tuple(p(key) for key in train_keys)
    labels = np.asarray([noisy_kv[key] for key in train_keys], np.int32)
    clean = np.asarray([clean_kv.get(key, -1) for key in train_keys], np.int32)
    is_noisy = np.where(clean < 0, -1, (clean != labels).astype(np.int8)).astype(np.int8)
    evals = {
        s: (tuple(p(key) for key in keys), np.asarray([clean_kv[key] for key in keys], np.int32))
        for s, keys in evals_keys.items()
    }
    for s, (paths, _) in {"train": (train_paths, None), **evals}.items():
        _check_sample(name, s, paths)
    counts = {s: len(v) for s, v in lists.items()}
    counts.update(noisy_label_kv=len(noisy_keys), clean_label_kv=len(clean_keys))
    published = {**CLOTHING1M_PUBLISHED, "noisy_label_kv": None, "clean_label_kv": None}
    return FileDataset(
        name=name,
        root=root,
        train_paths=train_paths,
        train_labels=labels,
        train_clean=clean,
        train_is_noisy=is_noisy,
        eval_sets=evals,
        val_set="val",
        test_set="test",
        num_classes=k,
        class_names=tuple(names),
        counts=counts,
        published=published,
        partial=bool(notes.get("partial")),
        provenance={
            "list_folder": ann,
            "image_prefix": prefix,
            "train_set": train_set,
            "test_set": test_set,
            "train_with_clean_label": int((clean >= 0).sum()),
            **notes,
        },
        image_size=224,
    )


def _image_prefix(root: str, keys: Sequence[str]) -> str:
    """Where the kv keys (``images/0/00/x.jpg``) resolve: ``root``, or ``root/..`` for a root
    that is the ``images`` folder itself (as some copies are passed)."""
    for cand in (root, os.path.dirname(root)):
        if keys and all(os.path.isfile(os.path.join(cand, k)) for k in keys[:8]):
            return cand
    return root  # the sample check then names the missing files


# ------------------------------------------------------------------------------------------
# mini-WebVision.
# ------------------------------------------------------------------------------------------

MINI_WEBVISION_CLASSES = 50
MINI_WEBVISION_PUBLISHED = {"train": 65_944, "webvision_val": 2_500, "ilsvrc12_val": 2_500}
_IMAGE_EXT = (".jpeg", ".jpg", ".png")


def mini_webvision(
    root: str, *, imagenet_val: str | None = None, partial: bool = False
) -> FileDataset:
    """mini-WebVision: the first 50 classes of WebVision 1.0's Google images.

    Args:
        root: the WebVision 1.0 folder (``info/``, ``google/``, ``val_images_256/``).
        imagenet_val: the ILSVRC 2012 validation images in one folder per synset; default
            ``<root>/imagenet/val``.
        partial: accept fewer entries than published.

    Returns:
        `FileDataset` with eval sets ``webvision_val`` (the run's test split) and
        ``ilsvrc12_val`` (evaluated by name every epoch); no clean training labels.
    """
    name = "mini_webvision"
    root = os.path.abspath(os.fspath(root))
    info = os.path.join(root, "info")
    k = MINI_WEBVISION_CLASSES
    synsets = [ln.split(None, 1) for _, ln in _lines(_need_file(
        os.path.join(info, "synsets.txt"), "synset list", name))]  # fmt: skip
    if len(synsets) < k:
        raise ValueError(f"{name}: info/synsets.txt lists {len(synsets)} synsets; need >= {k}")
    wnids = [s[0] for s in synsets[:k]]
    class_names = tuple(s[1] if len(s) > 1 else s[0] for s in synsets[:k])
    keep = lambda c: c < k  # noqa: E731
    tr, y_tr = _path_label_file(
        _need_file(os.path.join(info, "train_filelist_google.txt"), "train list", name),
        1000,
        keep=keep,
    )
    va, y_va = _path_label_file(
        _need_file(os.path.join(info, "val_filelist.txt"), "val list", name), 1000, keep=keep
    )
    notes: dict[str, Any] = {}
    _count(name, "train", len(tr), MINI_WEBVISION_PUBLISHED["train"], partial, notes)
    _count(
        name, "webvision_val", len(va), MINI_WEBVISION_PUBLISHED["webvision_val"], partial, notes
    )
    in_dir = imagenet_val or os.path.join(root, "imagenet", "val")
    if not os.path.isdir(in_dir):
        raise FileNotFoundError(
            f"{name}: no ILSVRC 2012 validation folder {in_dir!r} (one sub-folder per synset, "
            "<wnid>/*.JPEG, as torchvision's ImageNet(split='val') lays it out); pass it as "
            "dataset.eval_path"
        )
    im_paths, im_labels, absent = [], [], []
    for c, wnid in enumerate(wnids):
        d = os.path.join(in_dir, wnid)
        if not os.path.isdir(d):
            absent.append(wnid)
            continue
        files = sorted(x for x in os.listdir(d) if x.lower().endswith(_IMAGE_EXT))
        im_paths += [os.path.join(d, x) for x in files]
        im_labels += [c] * len(files)
    if absent and not partial:
        raise FileNotFoundError(
            f"{name}: {len(absent)} of the 50 synset folders are missing in {in_dir!r}, e.g. "
            f"{absent[:3]}; set dataset.partial=True to use the ones present"
        )
    if absent:
        notes.setdefault("partial", {})["ilsvrc12_val_synsets"] = f"{k - len(absent)} of {k}"
    _count(name, "ilsvrc12_val", len(im_paths), MINI_WEBVISION_PUBLISHED["ilsvrc12_val"], partial,
           notes)  # fmt: skip
    train_paths = tuple(os.path.join(root, x) for x in tr)
    evals = {
        "webvision_val": (tuple(os.path.join(root, "val_images_256", x) for x in va), y_va),
        "ilsvrc12_val": (tuple(im_paths), np.asarray(im_labels, np.int32)),
    }
    for s, paths in {"train": train_paths, **{e: v[0] for e, v in evals.items()}}.items():
        _check_sample(name, s, paths)
    clean, is_noisy = _flags(len(tr))
    return FileDataset(
        name=name,
        root=root,
        train_paths=train_paths,
        train_labels=y_tr,
        train_clean=clean,
        train_is_noisy=is_noisy,
        eval_sets=evals,
        val_set=None,
        test_set="webvision_val",
        num_classes=k,
        class_names=class_names,
        counts={"train": len(tr), "webvision_val": len(va), "ilsvrc12_val": len(im_paths)},
        published=dict(MINI_WEBVISION_PUBLISHED),
        partial=bool(notes.get("partial")),
        provenance={"imagenet_val": in_dir, "synsets": wnids, **notes},
        image_size=224,
    )


# ------------------------------------------------------------------------------------------
# Food-101N.
# ------------------------------------------------------------------------------------------

FOOD101N_PUBLISHED = {
    "imagelist": 310_009,
    "verified_train": 52_868,
    "verified_val": 4_741,
    "food101_test": 25_250,
}


def _tsv_rows(path: str, header: str, name: str) -> list[tuple[int, list[str]]]:
    rows = _lines(_need_file(path, "list file", name))
    if not rows or rows[0][1].split("\t")[0] != header:
        raise ValueError(f"{name}: {path!r} must start with the header {header!r}")
    return [(i, ln.split("\t")) for i, ln in rows[1:]]


def food101n(root: str, *, food101: str | None = None, partial: bool = False) -> FileDataset:
    """Food-101N (train) with Food-101's test split (test).

    Args:
        root: ``Food-101N_release`` (or the folder holding it).
        food101: the Food-101 folder (``meta/``, ``images/``); default ``food-101`` beside or
            inside ``root``.
        partial: accept fewer entries than published.

    Returns:
        `FileDataset`; ``train_is_noisy`` from the verification labels (1 = verified wrong,
        0 = verified right, -1 = not verified), ``train_clean`` the label of the images verified
        right.
    """
    name = "food101n"
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(os.path.join(root, "meta")) and os.path.isdir(
        os.path.join(root, "Food-101N_release", "meta")
    ):
        root = os.path.join(root, "Food-101N_release")
    meta = os.path.join(root, "meta")
    classes = [ln for _, ln in _lines(_need_file(os.path.join(meta, "classes.txt"), "class list",
                                                 name))]  # fmt: skip
    if classes and classes[0] == "class_name":
        classes = classes[1:]
    if len(classes) != 101:
        raise ValueError(f"{name}: meta/classes.txt lists {len(classes)} classes, not 101")
    index = {c: i for i, c in enumerate(classes)}

    def cls(key: str, where: str) -> int:
        c = key.split("/", 1)[0]
        if c not in index or "/" not in key:
            raise ValueError(f"{where}: key {key!r} does not start with one of the 101 classes")
        return index[c]

    notes: dict[str, Any] = {}
    img = _tsv_rows(os.path.join(meta, "imagelist.tsv"), "class_name/key", name)
    keys = [r[0] for _, r in img]
    labels = np.asarray([cls(r[0], f"meta/imagelist.tsv line {i}") for i, r in img], np.int32)
    _count(name, "imagelist", len(keys), FOOD101N_PUBLISHED["imagelist"], partial, notes)
    verified: dict[str, int] = {}
    for split in ("verified_train", "verified_val"):
        rows = _tsv_rows(os.path.join(meta, f"{split}.tsv"), "class_name/key", name)
        _count(name, split, len(rows), FOOD101N_PUBLISHED[split], partial, notes)
        for i, r in rows:
            where = f"meta/{split}.tsv line {i}"
            if len(r) != 2 or r[1] not in ("0", "1"):
                raise ValueError(f"{name}: {where}: expected '<class>/<key>\\t<0|1>', got {r}")
            cls(r[0], where)
            if r[0] in verified and verified[r[0]] != int(r[1]):
                raise ValueError(f"{name}: {where}: {r[0]!r} verified both 0 and 1")
            verified[r[0]] = int(r[1])
    pos = {k: i for i, k in enumerate(keys)}
    not_listed = [k for k in verified if k not in pos]
    if not_listed:  # verification labels of images absent from imagelist.tsv: not used
        notes["verified_not_in_imagelist"] = len(not_listed)
    flag = np.full(len(keys), -1, np.int8)
    for key, v in verified.items():
        if key in pos:
            flag[pos[key]] = 1 - v  # verification 1 = label correct = not noisy
    clean = np.where(flag == 0, labels, -1).astype(np.int32)
    beside = (os.path.join(os.path.dirname(root), "food-101"), os.path.join(root, "food-101"))
    f101 = food101 or next((d for d in beside if os.path.isdir(d)), None)
    if f101 is None or not os.path.isdir(f101):
        raise FileNotFoundError(
            f"{name}: the test set is Food-101's test split, and no food-101 folder was found "
            f"beside or inside {root!r}; pass it as dataset.eval_path"
        )
    f101_classes = [ln for _, ln in _lines(_need_file(os.path.join(f101, "meta", "classes.txt"),
                                                      "Food-101 class list", name))]  # fmt: skip
    if f101_classes != classes:
        raise ValueError(
            f"{name}: Food-101's meta/classes.txt and Food-101N's differ (first difference "
            f"{next(((a, b) for a, b in zip(f101_classes, classes, strict=False) if a != b), None)}"
            f", {len(f101_classes)} vs {len(classes)} classes); class ids would not match"
        )
    test = [ln for _, ln in _lines(_need_file(os.path.join(f101, "meta", "test.txt"),
                                              "Food-101 test list", name))]  # fmt: skip
    _count(name, "food101_test", len(test), FOOD101N_PUBLISHED["food101_test"], partial, notes)
    test_labels = np.asarray([cls(t, "food-101/meta/test.txt") for t in test], np.int32)
    train_paths = tuple(os.path.join(root, "images", k) for k in keys)
    test_paths = tuple(os.path.join(f101, "images", t + ".jpg") for t in test)
    _check_sample(name, "train", train_paths)
    _check_sample(name, "food101_test", test_paths)
    return FileDataset(
        name=name,
        root=root,
        train_paths=train_paths,
        train_labels=labels,
        train_clean=clean,
        train_is_noisy=flag,
        eval_sets={"food101_test": (test_paths, test_labels)},
        val_set=None,
        test_set="food101_test",
        num_classes=101,
        class_names=tuple(classes),
        counts={
            "imagelist": len(keys),
            "verified_train+val": len(verified),
            "food101_test": len(test),
        },
        published=dict(FOOD101N_PUBLISHED),
        partial=bool(notes.get("partial")),
        provenance={"food101": f101, "verified_in_train": int((flag >= 0).sum()), **notes},
        image_size=224,
    )


# ------------------------------------------------------------------------------------------
# ANIMAL-10N.
# ------------------------------------------------------------------------------------------

ANIMAL10N_CLASSES = (
    "cat",
    "lynx",
    "wolf",
    "coyote",
    "cheetah",
    "jaguar",
    "chimpanzee",
    "orangutan",
    "hamster",
    "guinea pig",
)
ANIMAL10N_PUBLISHED = {"training": 50_000, "testing": 5_000}


def animal10n(root: str, *, partial: bool = False) -> FileDataset:
    """ANIMAL-10N from its ``training/`` and ``testing/`` folders (label = file-name prefix).

    The training order is the sorted file names (the example index); test labels are clean
    (the authors kept only images whose label matches the search keyword), training labels
    carry the human noise (estimated 8% by the authors; no clean training labels published).
    """
    name = "animal10n"
    root = os.path.abspath(os.fspath(root))
    notes: dict[str, Any] = {}
    parts = {}
    for split in ("training", "testing"):
        d = os.path.join(root, split)
        if not os.path.isdir(d):
            raise FileNotFoundError(
                f"{name}: folder {d!r} is missing; dataset.path must hold the unpacked "
                "training/ and testing/ folders of raw_image.zip"
            )
        files = sorted(x for x in os.listdir(d) if x.lower().endswith(_IMAGE_EXT))
        labels = []
        for x in files:
            head = x.split("_", 1)[0]
            if "_" not in x or not head.isdigit() or not 0 <= int(head) < 10:
                raise ValueError(
                    f"{name}: file {os.path.join(d, x)!r} is not named <label 0-9>_<id>.<ext>"
                )
            labels.append(int(head))
        _count(name, split, len(files), ANIMAL10N_PUBLISHED[split], partial, notes)
        parts[split] = (tuple(os.path.join(d, x) for x in files), np.asarray(labels, np.int32))
    clean, is_noisy = _flags(len(parts["training"][1]))
    return FileDataset(
        name=name,
        root=root,
        train_paths=parts["training"][0],
        train_labels=parts["training"][1],
        train_clean=clean,
        train_is_noisy=is_noisy,
        eval_sets={"testing": parts["testing"]},
        val_set=None,
        test_set="testing",
        num_classes=10,
        class_names=ANIMAL10N_CLASSES,
        counts={s: len(v[1]) for s, v in parts.items()},
        published=dict(ANIMAL10N_PUBLISHED),
        partial=bool(notes.get("partial")),
        provenance=dict(notes),
        image_size=64,
    )


# ------------------------------------------------------------------------------------------
# The table, and decoding into memory.
# ------------------------------------------------------------------------------------------

FILE_DATASETS: dict[str, Callable[..., FileDataset]] = {
    "clothing1m": clothing1m,
    "mini_webvision": mini_webvision,
    "food101n": food101n,
    "animal10n": animal10n,
}


def load_file_dataset(
    name: str,
    path: str | os.PathLike | None,
    *,
    partial: bool = False,
    eval_path: str | None = None,
    train_set: str = "",
    test_set: str = "",
) -> FileDataset:
    """The `FileDataset` of ``name`` from the folder ``path`` (what ``dataset.pipeline="stream"``
    consumes: ``train_paths``/``train_labels`` and ``eval_sets``, index = position).

    Args:
        name: ``clothing1m``, ``mini_webvision``, ``food101n`` or ``animal10n``.
        path: the downloaded folder (``dataset.path``).
        partial: accept fewer entries than published.
        eval_path: ``mini_webvision``: the ILSVRC12 validation folder; ``food101n``: Food-101.
        train_set, test_set: ``clothing1m``: ``"rent"`` for the RENT code's sets ("" = standard).

    Example:
        >>> load_file_dataset("animal10n", "/nonexistent")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: animal10n: folder '/nonexistent/training' is missing; ...
    """
    if name not in FILE_DATASETS:
        raise ValueError(f"unknown file dataset {name!r}; choose one of {list(FILE_DATASETS)}")
    if not path:
        raise ValueError(f"{name} is read from the folder you downloaded: set dataset.path")
    if name == "clothing1m":
        return clothing1m(
            path,
            partial=partial,
            train_set=train_set or "noisy_train",
            test_set=test_set or "clean_test",
        )
    if train_set or test_set:
        raise ValueError(f"{name}: train_set/test_set apply to clothing1m only")
    if name == "mini_webvision":
        return mini_webvision(path, imagenet_val=eval_path or None, partial=partial)
    if name == "food101n":
        return food101n(path, food101=eval_path or None, partial=partial)
    if eval_path:
        raise ValueError(f"{name}: eval_path applies to mini_webvision and food101n only")
    return FILE_DATASETS[name](path, partial=partial)


def decode_image(path: str, size: int) -> np.ndarray:
    """One image as uint8 ``[size, size, 3]``: RGB, the shorter side resized to ``size``
    (bilinear), then the central ``size × size`` crop -- `center_crop` with
    ``resize_fraction = FILE_RESIZE_FRACTION`` (torchvision's ``Resize(size)`` +
    ``CenterCrop(size)``, their rounding); an image already that size is unchanged. The stream
    applies the same function to each image (its evaluation transform), so both pipelines see
    the same pixels.

    Raises:
        FileNotFoundError: missing file. ValueError: unreadable image (naming the file).
    """
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} is missing")
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            return np.asarray(center_crop(im, size, FILE_RESIZE_FRACTION), np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"image {path!r} is not a readable image: {e}") from None


def decode_images(paths: Sequence[str], size: int, threads: int | None = None) -> np.ndarray:
    """`decode_image` of every path (threads; the order of ``paths``), uint8 ``[n, size,
    size, 3]``. The first missing or unreadable file fails the whole call (policy: fail)."""
    from concurrent.futures import ThreadPoolExecutor

    out = np.empty((len(paths), size, size, 3), np.uint8)
    if not len(paths):
        return out

    def one(i: int) -> None:
        out[i] = decode_image(paths[i], size)

    with ThreadPoolExecutor(max_workers=threads or min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(one, range(len(paths))))
    return out


def check_memory(fd: FileDataset, size: int, limit: int = MEMORY_LIMIT_BYTES) -> None:
    """Raises ``ValueError`` when the decoded float32 arrays would exceed ``limit`` bytes."""
    n = len(fd.train_paths) + sum(len(v[1]) for v in fd.eval_sets.values())
    need = n * size * size * 3 * 4
    if need > limit:
        raise ValueError(
            f"{fd.name}: {n} images at {size}x{size} need {need / 2**30:.1f} GiB as float32 in "
            f"memory (limit {limit / 2**30:.0f} GiB); use dataset.pipeline='stream', a smaller "
            "dataset.image_size, or a partial copy"
        )


def file_dataset_arrays(fd: FileDataset, image_size: int = 0) -> Raw:
    """The `FileDataset` decoded into memory as raw splits (``dataset.pipeline="memory"``).

    Returns:
        `robustloss.data._sources.Raw`: uint8 images at ``image_size`` (0: the dataset's
        standard size; `decode_image`); ``y_train`` the clean label where known, else the noisy
        one (the harness trains on ``meta["real_noise"]["labels"]``); the test split, the
        validation split (``meta["x_val"]``, float32 in [0, 1]) and further eval sets by name
        (``meta["extra_eval"]``); ``meta["real_noise"]`` as for CIFAR-N.
    """
    size = int(image_size) or fd.image_size
    check_memory(fd, size)
    decode = lambda paths, labels: decode_images(paths, size)  # noqa: E731
    scaled = lambda paths, labels: decode(paths, labels).astype(np.float32) / np.float32(255)  # noqa: E731
    return _file_raw(fd, size, decode, scaled)


def file_dataset_sources(fd: FileDataset, image_size: int = 0) -> Raw:
    """The `FileDataset` as record sources (``dataset.pipeline="stream"``): nothing decoded.

    The same rows, order, labels, splits, eval sets and ``meta`` as `file_dataset_arrays`, with
    an `ImageFileSource` (``size`` = ``image_size``, 0: the dataset's standard) wherever that
    has an array: ``x_train``, ``x_test``, ``meta["x_val"]`` and each ``meta["extra_eval"]``.
    ``meta["resize_fraction"]`` tells the stream how to crop (`FILE_RESIZE_FRACTION`), so its
    evaluation transform gives the pixels `decode_image` gives.
    """
    size = int(image_size) or fd.image_size
    source = lambda paths, labels: ImageFileSource(paths, labels, fd.root, size=size)  # noqa: E731
    return _file_raw(fd, size, source, source)


def _file_raw(
    fd: FileDataset,
    size: int,
    images: Callable[[Sequence[str], np.ndarray], Any],
    scaled: Callable[[Sequence[str], np.ndarray], Any],
) -> Raw:
    """The raw splits of ``fd``: ``images(paths, labels)`` makes the training and test inputs,
    ``scaled(paths, labels)`` the validation and extra evaluation inputs (the ones `_assemble`
    takes as they are); everything else is shared by both pipelines."""
    y_tr = np.where(fd.train_clean >= 0, fd.train_clean, fd.train_labels).astype(np.int32)
    te_paths, y_te = fd.eval_sets[fd.test_set]
    x_tr = images(fd.train_paths, y_tr)
    x_te = images(te_paths, y_te)
    meta: dict[str, Any] = {
        "index_train": np.arange(len(y_tr)),
        "index_test": np.arange(len(y_te)),
        "real_noise": real_noise_meta(fd),
        "image_size": size,
        "resize_fraction": FILE_RESIZE_FRACTION,
        "test_set": fd.test_set,
    }
    if fd.val_set is not None:
        va_paths, y_va = fd.eval_sets[fd.val_set]
        meta["x_val"] = scaled(va_paths, y_va)
        meta["y_val"] = y_va
        meta["val_clean"] = True
    extra = {}
    for e in fd.extra_eval_sets:
        paths, y = fd.eval_sets[e]
        extra[e] = (scaled(paths, y), y)
    if extra:
        meta["extra_eval"] = extra
    if fd.partial:
        meta["partial"] = fd.provenance.get("partial")
    return Raw(
        x_tr,
        y_tr,
        x_te,
        y_te,
        fd.num_classes,
        fd.class_names,
        source=f"{fd.name}:{fd.root}",
        kind="image",
        meta=meta,
    )


def real_noise_meta(fd: FileDataset) -> dict[str, Any]:
    """``meta["real_noise"]`` of a `FileDataset` (the harness's view of its labels)."""
    return {
        "dataset": fd.name,
        "label_set": "noisy",
        "field": None,
        "labels": fd.train_labels.astype(np.int64),
        "clean": fd.train_clean.astype(np.int64),
        "is_noisy": fd.train_is_noisy.astype(np.int8),
        "published_rate": None,
        "file_rate": None,
        "label_file": None,
        "source": f"{fd.name}:{fd.root}",
        "checks": [
            f"{k}: {fd.counts[k]} entries"
            + (f" (published {fd.published.get(k)})" if fd.published.get(k) else "")
            for k in fd.counts
        ],
        "provenance": {k: v for k, v in fd.provenance.items() if k != "synsets"},
    }
