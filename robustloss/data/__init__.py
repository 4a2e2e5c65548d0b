"""Datasets as NumPy arrays: TFDS copies, Debian Fashion-MNIST, scikit-learn digits, files.

``load_dataset(name, ...)`` returns a frozen :class:`Dataset` with train/val/test NumPy arrays
(images float32 NHWC in ``[0, 1]``, tabular float32, labels int32), a stable ``train_index``
and provenance. Nothing downloads unless ``download=True``. See ``docs/data.md``.

For data that does not fit in memory, ``load_dataset(..., lazy=True)`` returns record sources
(`ImageFileSource` for a list of image files, `TfdsSource` for a TFDS copy prepared in
ArrayRecord format, `ArraySource` over arrays) instead, and
`stream_batches` / `eval_batches` stream them through grain (decode + augment on host workers;
``docs/data.md``, "Data at scale").

Example:
  >>> ds = load_dataset("digits", val_fraction=0.1, seed=0)
  >>> ds.x_train.shape[1:], ds.num_classes
  ((8, 8, 1), 10)
"""

from ._cifar_n import LABEL_SETS, check_cifar_n, read_cifar_n_file
from ._dataset import Dataset, kfold_splits, train_val_split
from ._images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ArraySource,
    ImageFileSource,
    ImageReadError,
    ImageTransform,
    TfdsSource,
    normalize_images,
    read_image_list,
)
from ._labels import check_label_count, read_label_file
from ._load import (
    DATASETS,
    REAL_NOISE_DATASETS,
    TEST_PATH_DATASETS,
    check_dataset_fields,
    check_loader_args,
    dataset_options,
    default_cache_dir,
    list_datasets,
    load_dataset,
)
from ._pickles import UnsafePickleError
from ._preprocess import channel_stats, minmax_scale, normalize_per_channel, random_crop_flip
from ._real_noise import (
    FileDataset,
    decode_images,
    file_dataset_arrays,
    file_dataset_sources,
    load_file_dataset,
)
from ._sources import read_idx, tfds_order, write_tfds_copy
from ._stream import Stream, epoch_order, eval_batches, stream_batches

__all__ = [
    "DATASETS",
    "LABEL_SETS",
    "REAL_NOISE_DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TEST_PATH_DATASETS",
    "ArraySource",
    "Dataset",
    "FileDataset",
    "UnsafePickleError",
    "ImageFileSource",
    "ImageReadError",
    "ImageTransform",
    "Stream",
    "TfdsSource",
    "channel_stats",
    "check_cifar_n",
    "check_dataset_fields",
    "check_label_count",
    "decode_images",
    "check_loader_args",
    "dataset_options",
    "default_cache_dir",
    "file_dataset_arrays",
    "file_dataset_sources",
    "epoch_order",
    "eval_batches",
    "kfold_splits",
    "list_datasets",
    "load_dataset",
    "load_file_dataset",
    "minmax_scale",
    "normalize_images",
    "normalize_per_channel",
    "random_crop_flip",
    "read_cifar_n_file",
    "read_idx",
    "read_image_list",
    "read_label_file",
    "stream_batches",
    "tfds_order",
    "train_val_split",
    "write_tfds_copy",
]
