"""The :class:`Dataset` container and split helpers."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """An in-memory dataset as NumPy arrays.

    Attributes:
      name: registry name, e.g. ``"fashion_mnist"``.
      x_train: float32 ``[N, *feature_shape]`` (images NHWC in ``[0, 1]``; tabular features).
      y_train: int32 ``[N]`` clean labels in ``[0, num_classes)``.
      x_val: float32 ``[N_val, *feature_shape]`` (0 rows when no validation split was asked for).
      y_val: int32 ``[N_val]``.
      x_test: float32 ``[N_test, *feature_shape]``.
      y_test: int32 ``[N_test]``.
      num_classes: K.
      class_names: K names (``"0"``.. when the source has none).
      feature_shape: shape of one example, e.g. ``(28, 28, 1)`` or ``(16,)``.
      source: where the data came from (a path, ``"tfds:<name>@<data_dir>"``, ``"sklearn"``).
      train_index: int64 ``[N]``: each training example's row in the dataset's original
        (publisher's) order, the same whichever source was read: the IDX file row for
        MNIST-format data (also for TFDS copies, whose hash order is inverted), the CIFAR row
        from TFDS's ``id`` feature, the ``load_digits`` row, the file row for file datasets;
        the position in TFDS's stored order where nothing better is known. Unchanged by
        ``val_fraction``/``seed``; use it to key per-example state and stored noisy labels
        (e.g. align CIFAR-N labels: ``cifar10n_labels[ds.train_index]``). Values are not
        ``0..N-1``: index ``[N]`` per-example state by position in ``x_train`` instead.
      val_index: int64 ``[N_val]``, the same for the validation rows.
      meta: free-form provenance (file paths, preprocessing applied, split sizes; ``image_list``:
        ``bad_images``, the training images left out because they could not be read).

    With ``load_dataset(..., lazy=True)`` the ``x_*`` fields are record sources
    (`robustloss.data.ImageFileSource`, `ArraySource`) for the streaming pipeline instead of
    arrays; their ``shape`` is that of the images the pipeline produces.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...]
    feature_shape: tuple[int, ...]
    source: str
    train_index: np.ndarray
    val_index: np.ndarray
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={self.x_train.shape}, val={self.x_val.shape}, "
            f"test={self.x_test.shape}, num_classes={self.num_classes}, source={self.source!r})"
        )


def train_val_split(
    n: int, val_fraction: float, seed: int = 0, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into sorted train and validation row indices.

    ``round(val_fraction · n)`` rows go to validation; with ``labels`` the split is stratified
    (``round(val_fraction · n_k)`` per class).

    Args:
      n: number of rows.
      val_fraction: in ``[0, 1)``.
      seed: non-negative int for ``numpy.random.default_rng``.
      labels: optional int ``[n]`` labels for a stratified split.

    Returns:
      ``(train_rows, val_rows)``, int64, each sorted ascending.

    Example:
      >>> tr, va = train_val_split(10, 0.2, seed=0)
      >>> len(tr), len(va)
      (8, 2)
    """
    vf = float(val_fraction)
    if not 0.0 <= vf < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    rng = np.random.default_rng(seed)
    if labels is None:
        perm = rng.permutation(n)
        nv = int(round(vf * n))
        val = np.sort(perm[:nv])
    else:
        labels = np.asarray(labels)
        parts = []
        for k in np.unique(labels):
            idx = np.flatnonzero(labels == k)
            parts.append(rng.permutation(idx)[: int(round(vf * len(idx)))])
        val = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    mask = np.ones(n, dtype=bool)
    mask[val] = False
    return np.flatnonzero(mask).astype(np.int64), val.astype(np.int64)


def kfold_splits(
    n: int, k: int = 5, *, shuffle: bool = False, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold ``(train_rows, val_rows)`` pairs, as scikit-learn's ``KFold``.

    ``shuffle=False`` reproduces the LDR authors' unshuffled ``KFold(n_splits=5)``: fold ``i``
    validates on a contiguous block (the first ``n % k`` folds are one row longer).
    ``shuffle=True`` uses ``KFold(shuffle=True, random_state=seed)``.

    Args:
      n: number of rows (>= k).
      k: number of folds (>= 2).
      shuffle: shuffle rows before folding.
      seed: random state when shuffling.

    Returns:
      list of k ``(train_rows, val_rows)`` int64 pairs.

    Example:
      >>> [v.tolist() for _, v in kfold_splits(5, k=5)][:2]
      [[0], [1]]

    References:
      Zhu et al., "Label Distributionally Robust Losses for Multi-class Classification", ICML 2023
      (noise on train+val, 5 folds, clean test).
    """
    from sklearn.model_selection import KFold

    if int(k) != k or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    if n < k:
        raise ValueError(f"need at least k={k} rows for {k} folds, got n={n}")
    kf = KFold(n_splits=int(k), shuffle=shuffle, random_state=seed if shuffle else None)
    return [(tr.astype(np.int64), va.astype(np.int64)) for tr, va in kf.split(np.zeros(n))]
