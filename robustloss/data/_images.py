"""Record sources for the streaming pipeline and the per-image work of its workers.

Three sources, all random-access (``len(source)``, ``source[i]`` -> one image) as grain's data
sources are:

* `ArraySource`: images already in memory, ``x [N, H, W, C]`` (uint8, or float in ``[0, 1]``);
* `ImageFileSource`: a list of image files (JPEG/PNG/...; absolute or relative to ``root``),
  decoded by Pillow when a worker asks for a record;
* `TfdsSource`: one split of a TFDS dataset prepared in ArrayRecord format, read through TFDS's
  data source (random access, no TensorFlow) when a worker asks for a record.

All carry the clean ``labels [N]`` (small: they stay in memory; label noise is applied by
index) and their ``rows`` (each record's position in the original list, the stable example
index that per-example state and stored noisy labels are keyed by). ``source[rows]`` with an
integer array or slice is a sub-source (a split), like NumPy indexing.

`ImageTransform` is what a worker does to one decoded image: a crop (none; zero-pad + random
crop, the CIFAR recipe; random-resized crop, the ImageNet training recipe; resize + center
crop, the ImageNet evaluation recipe), an optional horizontal flip, scaling to ``[0, 1]`` and
per-channel normalisation. `read_image_list` reads the ``path,label`` lists of the
``image_list`` dataset.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "ArraySource",
    "ImageFileSource",
    "ImageReadError",
    "ImageTransform",
    "TfdsSource",
    "normalize_images",
    "read_image_list",
]

BAD_IMAGE_POLICIES = ("fail", "skip")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageReadError(ValueError):
    """An image file is missing or cannot be decoded (the message names the file)."""


def normalize_images(x: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """``(x − mean_c) / std_c`` per channel in float32 (the last axis is the channel).

    The memory pipeline applies it to whole arrays, the stream to each image: the same float32
    operations, so both give the same bits.

    Example:
      >>> normalize_images(np.full((1, 1, 2), 0.5, np.float32), (0.5, 0.0), (1.0, 0.5)).tolist()
      [[[0.0, 1.0]]]
    """
    m = np.asarray(mean, np.float32)
    s = np.asarray(std, np.float32)
    return (np.asarray(x, np.float32) - m) / s


class _Source:
    """Shared parts of the sources: length, labels, rows, sub-sources."""

    labels: np.ndarray | None
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def _take(self, rows: np.ndarray) -> _Source:
        raise NotImplementedError

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | np.integer):
            return self.get(int(key))
        rows = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        if rows.ndim != 1 or (len(rows) and (rows.min() < -len(self) or rows.max() >= len(self))):
            raise IndexError(f"rows {key!r} out of range for a source of {len(self)} records")
        return self._take(np.asarray(rows, np.int64) % max(1, len(self)))

    def get(self, i: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def shape(self) -> tuple[int, ...]:
        raise NotImplementedError


class ArraySource(_Source):
    """Images held in memory as one array: ``x [N, H, W, C]`` uint8 or float (``[0, 1]``).

    Args:
      x: the images (any ``[N, ...]`` array; tabular rows work too, without image transforms).
      labels: optional int ``[N]`` clean labels.
      rows: optional ``[N]`` stable indices (default ``0..N-1``).

    Example:
      >>> src = ArraySource(np.zeros((4, 8, 8, 3), np.uint8), np.arange(4))
      >>> len(src), src[1].shape, src[2:].rows.tolist()
      (4, (8, 8, 3), [2, 3])
    """

    def __init__(self, x: np.ndarray, labels: Any = None, rows: Any = None):
        self.x = np.asarray(x)
        self.labels = None if labels is None else np.asarray(labels)
        self.rows = np.arange(len(self.x), dtype=np.int64) if rows is None else np.asarray(rows)
        if self.labels is not None and len(self.labels) != len(self.x):
            raise ValueError(f"{len(self.x)} images but {len(self.labels)} labels")
        if len(self.rows) != len(self.x):
            raise ValueError(f"{len(self.x)} images but {len(self.rows)} rows")

    def get(self, i: int) -> np.ndarray:
        return self.x[i]

    def _take(self, rows: np.ndarray) -> ArraySource:
        labels = None if self.labels is None else self.labels[rows]
        return ArraySource(self.x[rows], labels, self.rows[rows])

    @property
    def shape(self) -> tuple[int, ...]:
        return self.x.shape

    def describe(self, i: int) -> str:
        return f"row {int(self.rows[i])}"

    def __repr__(self) -> str:
        return f"ArraySource({self.x.shape}, {self.x.dtype})"


def _decode(path: str, mode: str) -> Any:
    """The decoded Pillow image (``mode``: ``"RGB"`` or ``"L"``), fully loaded."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()  # decodes the whole file: a truncated JPEG fails here
        return im.convert(mode) if im.mode != mode else im.copy()


class ImageFileSource(_Source):
    """A list of image files decoded on demand by Pillow (JPEG, PNG, ...), as RGB or grayscale.

    Args:
      paths: file paths, absolute or relative to ``root``.
      labels: optional int ``[N]`` clean labels (class ids).
      root: the folder relative paths are taken from (None: as given, from the working dir).
      rows: optional ``[N]`` stable indices (default ``0..N-1``: the position in the list).
      mode: ``"RGB"`` (every image converted to 3 channels: grayscale and CMYK JPEGs too) or
        ``"L"`` (one channel).
      size: the side of the square images the pipeline produces from this source (its
        `ImageTransform` crops to it); 0 means the files' own size, which all images must share.
        Only `shape` uses it.

    ``source[i]`` is the decoded image, uint8 ``[H, W, C]``; a missing or undecodable file raises
    `ImageReadError` naming it. `check` looks at every file before training.

    Example:
      >>> src = ImageFileSource(["a.jpg", "b.png"], [0, 1], root="/data")
      >>> src.path(1), len(src[1:])
      ('/data/b.png', 1)
    """

    def __init__(
        self,
        paths: Sequence[str],
        labels: Any = None,
        root: str | os.PathLike | None = None,
        rows: Any = None,
        *,
        mode: str = "RGB",
        size: int = 0,
    ):
        if mode not in ("RGB", "L"):
            raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
        self.paths = [os.fspath(p) for p in paths]
        self.root = None if root is None else os.fspath(root)
        self.labels = None if labels is None else np.asarray(labels)
        self.rows = np.arange(len(self.paths), dtype=np.int64) if rows is None else np.asarray(rows)
        self.mode, self.size = mode, int(size)
        if self.labels is not None and len(self.labels) != len(self.paths):
            raise ValueError(f"{len(self.paths)} paths but {len(self.labels)} labels")
        if len(self.rows) != len(self.paths):
            raise ValueError(f"{len(self.paths)} paths but {len(self.rows)} rows")
        self._native: tuple[int, int] | None = None

    def path(self, i: int) -> str:
        p = self.paths[i]
        return p if self.root is None or os.path.isabs(p) else os.path.join(self.root, p)

    def describe(self, i: int) -> str:
        return f"{self.path(i)!r} (row {int(self.rows[i])})"

    def decode(self, i: int) -> Any:
        """The Pillow image of record ``i`` (mode ``self.mode``)."""
        p = self.path(i)
        try:
            return _decode(p, self.mode)
        except FileNotFoundError:
            raise ImageReadError(f"image file {p!r} (row {int(self.rows[i])}) is missing") from None
        except Exception as e:  # PIL.UnidentifiedImageError, OSError (truncated), ...
            raise ImageReadError(
                f"cannot decode image file {p!r} (row {int(self.rows[i])}): {e}"
            ) from None

    def get(self, i: int) -> np.ndarray:
        return np.asarray(self.decode(i))

    def _take(self, rows: np.ndarray) -> ImageFileSource:
        labels = None if self.labels is None else self.labels[rows]
        out = ImageFileSource(
            [self.paths[r] for r in rows.tolist()],
            labels,
            self.root,
            self.rows[rows],
            mode=self.mode,
            size=self.size,
        )
        out._native = self._native
        return out

    @property
    def shape(self) -> tuple[int, ...]:
        c = 3 if self.mode == "RGB" else 1
        if self.size:
            return (len(self), self.size, self.size, c)
        if self._native is None and len(self):
            from PIL import Image

            try:
                with Image.open(self.path(0)) as im:
                    self._native = (im.height, im.width)
            except Exception as e:
                raise ImageReadError(f"cannot read image file {self.path(0)!r}: {e}") from None
        h, w = self._native or (0, 0)
        return (len(self), h, w, c)

    def check(self, threads: int = 16) -> list[tuple[int, str]]:
        """Every file's header, read in ``threads`` threads: ``[(record, reason)]`` of bad ones.

        A missing file, one Pillow cannot identify, or (with ``size=0``) one whose size differs
        from the first image's is bad. A file with a good header and a damaged body (a
        truncated JPEG) is found only when a worker decodes it.
        """
        from PIL import Image

        def one(i: int) -> tuple[int, int] | str:
            p = self.path(i)
            if not os.path.isfile(p):
                return "missing"
            try:
                with Image.open(p) as im:
                    return (im.height, im.width)
            except Exception as e:
                return f"unreadable: {type(e).__name__}: {e}"

        with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
            found = list(pool.map(one, range(len(self))))
        bad = [(i, r) for i, r in enumerate(found) if isinstance(r, str)]
        sizes = [(i, r) for i, r in enumerate(found) if not isinstance(r, str)]
        if sizes and not self.size:
            first = sizes[0][1]
            self._native = first
            bad += [
                (
                    i,
                    f"size {r[0]}x{r[1]} differs from the first image's {first[0]}x{first[1]} "
                    "(set an image size to resize)",
                )
                for i, r in sizes
                if r != first
            ]
        return sorted(bad)

    def __repr__(self) -> str:
        return f"ImageFileSource({len(self)} files, root={self.root!r}, mode={self.mode!r})"


class TfdsSource(_Source):
    """One split of a prepared TFDS dataset in ArrayRecord format, records read on demand.

    ``source[i]`` reads record ``positions[i]`` of the split through TFDS's ArrayRecord data
    source (``tfds.builder_from_directory(dataset_dir).as_data_source(split)``, what
    ``tfds.data_source`` returns; no TensorFlow) and returns its ``image_key`` feature as TFDS
    decodes it, uint8 ``[H, W, C]``. Use `TfdsSource.open` to build one from the prepared folder.

    Args:
      dataset_dir: the prepared folder (``<data_dir>/<name>/<version>``, with
        ``dataset_info.json`` and the ``.array_record`` shards).
      split: the split's name (``"train"``, ``"test"``, or a TFDS slice like ``"train[:10]"``).
      image_key: the image feature.
      labels: optional int ``[N]`` clean labels.
      positions: the record numbers in the split (default ``0..N-1``; ``N`` is then the
        split's length).
      rows: optional ``[N]`` stable indices (default ``positions``).
      image_shape: ``(H, W, C)`` of the images (for `shape`; default the feature's shape).
    """

    def __init__(
        self,
        dataset_dir: str | os.PathLike,
        split: str,
        image_key: str = "image",
        labels: Any = None,
        positions: Any = None,
        rows: Any = None,
        image_shape: Sequence[int] | None = None,
    ):
        self.dataset_dir, self.split, self.image_key = os.fspath(dataset_dir), str(split), image_key
        self._ds: Any = None
        self._lock = threading.Lock()
        if positions is None:
            positions = np.arange(len(self._data()), dtype=np.int64)
        self.positions = np.asarray(positions, np.int64)
        self.rows = self.positions.copy() if rows is None else np.asarray(rows, np.int64)
        self.labels = None if labels is None else np.asarray(labels)
        if self.labels is not None and len(self.labels) != len(self.positions):
            raise ValueError(f"{len(self.positions)} records but {len(self.labels)} labels")
        if len(self.rows) != len(self.positions):
            raise ValueError(f"{len(self.positions)} records but {len(self.rows)} rows")
        if image_shape is None:
            image_shape = tuple(self._builder().info.features[image_key].shape)
        image_shape = tuple(image_shape)
        self.image_shape = image_shape + (1,) if len(image_shape) == 2 else image_shape

    @classmethod
    def open(
        cls,
        dataset_dir: str | os.PathLike,
        split: str,
        *,
        image_key: str | None = None,
        label_key: str | None = None,
        rows: Any = None,
    ) -> TfdsSource:
        """The split's records with their labels, read once from the records without decoding
        the images (keys default to the dataset's supervised keys)."""
        import tensorflow_datasets as tfds

        builder = tfds.builder_from_directory(os.fspath(dataset_dir))
        keys = builder.info.supervised_keys or ()
        image_key = image_key or (keys[0] if keys else "image")
        label_key = label_key or (keys[1] if len(keys) > 1 else "label")
        (labels,) = tfds_columns(builder, split, [label_key], skip=image_key)
        return cls(
            dataset_dir,
            split,
            image_key,
            np.asarray(labels, np.int32),
            np.arange(len(labels), dtype=np.int64),
            rows,
        )

    def _builder(self) -> Any:
        import tensorflow_datasets as tfds

        return tfds.builder_from_directory(self.dataset_dir)

    def _data(self) -> Any:
        with self._lock:
            if self._ds is None:
                self._ds = self._builder().as_data_source(self.split)
            return self._ds

    def __getstate__(self):  # worker processes open their own reader
        state = dict(self.__dict__)
        state["_ds"], state["_lock"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def get(self, i: int) -> np.ndarray:
        try:
            image = np.asarray(self._data()[int(self.positions[i])][self.image_key])
        except Exception as e:
            raise ImageReadError(f"cannot read {self.describe(i)}: {e}") from None
        return image[..., None] if image.ndim == 2 else image

    def _take(self, rows: np.ndarray) -> TfdsSource:
        labels = None if self.labels is None else self.labels[rows]
        out = TfdsSource(
            self.dataset_dir,
            self.split,
            self.image_key,
            labels,
            self.positions[rows],
            self.rows[rows],
            self.image_shape,
        )
        out._ds = self._ds
        return out

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self),) + tuple(self.image_shape)

    def describe(self, i: int) -> str:
        return (
            f"TFDS record {int(self.positions[i])} of split {self.split!r} in "
            f"{self.dataset_dir!r} (row {int(self.rows[i])})"
        )

    def __repr__(self) -> str:
        return f"TfdsSource({self.dataset_dir!r}, {self.split!r}, {len(self)} records)"


def tfds_columns(builder: Any, split: str, keys: Sequence[str], skip: str | None = None) -> list:
    """Features ``keys`` of every record of a split of an ArrayRecord TFDS copy, in record
    order: one list per key (``skip``: an image feature left undecoded while reading)."""
    from tensorflow_datasets import decode

    decoders = {skip: decode.SkipDecoding()} if skip else None
    src = builder.as_data_source(split, decoders=decoders)
    out: list[list] = [[] for _ in keys]
    for start in range(0, len(src), 1024):
        for ex in src.__getitems__(list(range(start, min(start + 1024, len(src))))):
            for col, key in zip(out, keys, strict=True):
                col.append(ex[key])
    return out


@dataclasses.dataclass(frozen=True)
class ImageTransform:
    """One image's work in a worker: crop, flip, scale to ``[0, 1]``, normalise.

    ``crop``:

    * ``"none"``: the image as it is (all records must share one size);
    * ``"pad"``: zero-pad ``padding`` pixels per side, crop back to ``H×W`` at a uniform offset
      in ``[0, 2·padding]²`` (torchvision ``RandomCrop(H, padding)``; the CIFAR recipe);
    * ``"random_resized"``: torchvision's ``RandomResizedCrop(size, scale, ratio)``: up to 10
      draws of an area fraction ``U(scale)`` and a log-uniform aspect ratio in ``ratio``, the
      first box that fits is cropped at a uniform position, else a center crop of the clamped
      ratio; resized to ``size×size`` (bilinear, Pillow);
    * ``"center"``: resize the shorter side to ``int(size / resize_fraction)`` (256 for 224),
      then crop ``size×size`` at the center (torchvision ``Resize(256)`` + ``CenterCrop(224)``).

    ``flip``: mirror left-right with probability 1/2. Then uint8 images are divided by 255
    (float images are taken as already in ``[0, 1]``) and, when ``mean``/``std`` are given,
    normalised per channel (`normalize_images`). The random draws come from the generator the
    pipeline passes (seeded per record), so an image's augmentation does not depend on workers.

    Example:
      >>> t = ImageTransform(size=4, crop="center")
      >>> t(np.zeros((8, 6, 3), np.uint8), np.random.default_rng(0)).shape
      (4, 4, 3)
    """

    size: int = 0
    crop: str = "none"
    flip: bool = False
    padding: int = 4
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    resize_fraction: float = 0.875
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    CROPS = ("none", "pad", "random_resized", "center")

    def __post_init__(self):
        if self.crop not in self.CROPS:
            raise ValueError(f"crop must be one of {list(self.CROPS)}, got {self.crop!r}")
        if self.crop in ("random_resized", "center") and self.size < 1:
            raise ValueError(f"crop={self.crop!r} needs size >= 1, got {self.size!r}")
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean {self.mean} and std {self.std} need one value per channel")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be > 0 in every channel, got {self.std}")

    @property
    def random(self) -> bool:
        """Whether the transform draws random numbers."""
        return self.flip or self.crop in ("pad", "random_resized")

    def __call__(self, image: Any, rng: np.random.Generator | None = None) -> np.ndarray:
        """The transformed image, float32 ``[H, W, C]`` (a Pillow image or an array in)."""
        if self.random and rng is None:
            raise ValueError("a random transform needs a generator")
        if self.crop in ("random_resized", "center"):
            im = _to_pil(image)
            im = (
                self._random_resized(im, rng) if self.crop == "random_resized" else self._center(im)
            )
            x = np.asarray(im)
        else:
            x = np.asarray(image)
        if x.ndim == 2:
            x = x[..., None]
        if self.crop == "pad":
            x = _pad_crop(x, self.padding, rng)
        if self.flip and rng.random() < 0.5:
            x = x[:, ::-1]
        x = np.asarray(x, np.float32) / np.float32(255) if x.dtype == np.uint8 else x
        x = np.asarray(x, np.float32)
        if self.mean:
            x = normalize_images(x, self.mean, self.std)
        return np.ascontiguousarray(x)

    def _random_resized(self, im: Any, rng: np.random.Generator) -> Any:
        from PIL import Image

        w, h = im.size
        area = h * w
        log_r = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        box = None
        for _ in range(10):
            target = area * rng.uniform(self.scale[0], self.scale[1])
            aspect = math.exp(rng.uniform(log_r[0], log_r[1]))
            cw = int(round(math.sqrt(target * aspect)))
            ch = int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(rng.integers(0, h - ch + 1))
                left = int(rng.integers(0, w - cw + 1))
                box = (left, top, left + cw, top + ch)
                break
        if box is None:  # torchvision's fallback: the whole image at the clamped ratio
            r = w / h
            if r < self.ratio[0]:
                cw, ch = w, int(round(w / self.ratio[0]))
            elif r > self.ratio[1]:
                ch, cw = h, int(round(h * self.ratio[1]))
            else:
                cw, ch = w, h
            top, left = (h - ch) // 2, (w - cw) // 2
            box = (left, top, left + cw, top + ch)
        return im.resize((self.size, self.size), Image.BILINEAR, box=box)

    def _center(self, im: Any) -> Any:
        return center_crop(im, self.size, self.resize_fraction)


def center_crop(im: Any, size: int, resize_fraction: float = 0.875) -> Any:
    """Resize the shorter side to ``int(size / resize_fraction)``, crop ``size×size`` centered.

    torchvision's ``Resize(int(size / f))`` + ``CenterCrop(size)`` on a Pillow image (bilinear);
    the evaluation transform, and how the memory pipeline decodes an image list.
    """
    from PIL import Image

    im = _to_pil(im)
    w, h = im.size
    short = int(size / resize_fraction)
    if w <= h:
        nw, nh = short, int(short * h / w)
    else:
        nw, nh = int(short * w / h), short
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BILINEAR)
    top = int(round((nh - size) / 2.0))
    left = int(round((nw - size) / 2.0))
    return im.crop((left, top, left + size, top + size))


def _to_pil(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    x = np.asarray(image)
    if x.dtype != np.uint8:
        raise ValueError(
            f"resizing crops need uint8 images (files, or uint8 arrays), got {x.dtype}; use "
            "crop='none' or 'pad' for float arrays"
        )
    return Image.fromarray(x[..., 0] if x.ndim == 3 and x.shape[-1] == 1 else x)


def _pad_crop(x: np.ndarray, p: int, rng: np.random.Generator) -> np.ndarray:
    h, w = x.shape[:2]
    padded = np.pad(x, ((p, p), (p, p), (0, 0)))
    oy, ox = int(rng.integers(0, 2 * p + 1)), int(rng.integers(0, 2 * p + 1))
    return padded[oy : oy + h, ox : ox + w]


def _is_int(text: str) -> bool:
    t = text.strip()
    return t.isdigit() or (t[:1] == "-" and t[1:].isdigit())


def read_image_list(
    path: str | os.PathLike, *, classes: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """Reads a ``path,label`` list (CSV, or tab-separated for ``.tsv``/``.txt`` with tabs).

    One row per image: the file path (absolute, or relative to the dataset's root) and its
    label, a class id (an integer ``>= 0``) or a class name. An optional header row names the
    columns (``path,label``; also ``file``/``image``/``filename`` and ``class``/``target``).

    Classes: with ``classes`` (e.g. the training list's), names must be among them and ids must
    be below ``len(classes)``; without, integer labels give ``K = max + 1`` classes named
    ``"0"..``, names give the sorted distinct names.

    Args:
      path: the list file.
      classes: the class names to map labels to (None: from this list).

    Returns:
      ``(paths, labels int32 [N], class_names)``.

    Raises:
      FileNotFoundError: no such file.
      ValueError: a malformed row, a negative id, or a label of an unknown class (file, line,
        value and the valid classes named).
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"image list {p!r} does not exist")
    with open(p, newline="") as f:
        lines = f.read().splitlines()
    delim = "\t" if p.endswith(".tsv") or any("\t" in ln for ln in lines[:5]) else ","
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.split(delim)]
        if len(cells) != 2 or not cells[0] or not cells[1]:
            raise ValueError(f"{p!r} line {n}: expected 'path{delim}label' (2 cells), got {line!r}")
        if (
            not rows
            and cells[0].lower() in ("path", "file", "image", "filename")
            and cells[1].lower() in ("label", "class", "target")
        ):
            continue  # header
        rows.append((n, cells[0], cells[1]))
    if not rows:
        raise ValueError(f"image list {p!r} has no rows")
    values = [r[2] for r in rows]
    numeric = all(_is_int(v) for v in values)
    if classes is None:
        if numeric:
            ids = [int(v) for v in values]
            k = max(ids) + 1
            classes = tuple(str(i) for i in range(k))
        else:
            classes = tuple(sorted(set(values)))
    classes = tuple(str(c) for c in classes)
    lookup = {c: i for i, c in enumerate(classes)}
    labels = np.empty(len(rows), np.int32)
    for j, (n, _, v) in enumerate(rows):
        if v in lookup:
            labels[j] = lookup[v]
        elif _is_int(v) and 0 <= int(v) < len(classes) and numeric:
            labels[j] = int(v)
        else:
            shown = list(classes) if len(classes) <= 20 else list(classes[:20]) + ["..."]
            raise ValueError(
                f"{p!r} line {n}: label {v!r} is not a known class; the classes are {shown} "
                f"(K={len(classes)})"
            )
    return [r[1] for r in rows], labels, classes
