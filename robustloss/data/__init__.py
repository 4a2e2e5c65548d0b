"""Datasets as NumPy arrays: TFDS copies, Debian Fashion-MNIST, scikit-learn digits, files.

``load_dataset(name, ...)`` returns a frozen :class:`Dataset` with train/val/test NumPy arrays
(images float32 NHWC in ``[0, 1]``, tabular float32, labels int32), a stable ``train_index``
and provenance. Nothing downloads unless ``download=True``. See ``docs/data.md``.

Example:
  >>> ds = load_dataset("digits", val_fraction=0.1, seed=0)
  >>> ds.x_train.shape[1:], ds.num_classes
  ((8, 8, 1), 10)
"""

from ._dataset import Dataset, kfold_splits, train_val_split
from ._labels import check_label_count, read_label_file
from ._load import (
    DATASETS,
    TEST_PATH_DATASETS,
    check_loader_args,
    dataset_options,
    default_cache_dir,
    list_datasets,
    load_dataset,
)
from ._preprocess import channel_stats, minmax_scale, normalize_per_channel, random_crop_flip
from ._sources import read_idx, tfds_order, write_tfds_copy

__all__ = [
    "DATASETS",
    "TEST_PATH_DATASETS",
    "Dataset",
    "channel_stats",
    "check_label_count",
    "check_loader_args",
    "dataset_options",
    "default_cache_dir",
    "kfold_splits",
    "list_datasets",
    "load_dataset",
    "minmax_scale",
    "normalize_per_channel",
    "random_crop_flip",
    "read_idx",
    "read_label_file",
    "tfds_order",
    "train_val_split",
    "write_tfds_copy",
]
