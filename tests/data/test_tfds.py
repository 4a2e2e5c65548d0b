"""TFDS prepared copies read without TensorFlow, and agreement with the Debian Fashion-MNIST.

TensorFlow is not installed, so the stock ``fashion_mnist`` builder cannot prepare a copy (see
docs/data.md). These tests write small copies with TFDS's own writer (a builder with a
``Tensor`` image feature and integer keys, like the MNIST builders' ``yield index, record``), in
array_record format and converted to tfrecord framing, and check that ``load_dataset`` reads
them back in TFDS's stored order, which must equal ``tfds_order`` applied to the source rows.
"""

import glob
import json
import os
import shutil
import struct

import numpy as np
import pytest

from robustloss import data
from robustloss.data import load_dataset, write_tfds_copy

tfds = pytest.importorskip("tensorflow_datasets")

N_TRAIN, N_TEST = 300, 120


def _synthetic():
    rng = np.random.default_rng(0)
    x = {
        "train": rng.integers(0, 256, (N_TRAIN, 28, 28, 1), dtype=np.uint8),
        "test": rng.integers(0, 256, (N_TEST, 28, 28, 1), dtype=np.uint8),
    }
    y = {s: rng.integers(0, 10, len(x[s])) for s in x}
    return x, y


def _write_copy(root, x, y):
    """Prepares an array_record TFDS copy named fashion_mnist with TFDS's writer."""
    return write_tfds_copy(root, {s: (x[s], y[s]) for s in ("train", "test")})


def _to_tfrecord(src, dst_root):
    """Rewrites an array_record copy as tfrecord shards (length, crc, data, crc framing)."""
    from array_record.python.array_record_module import ArrayRecordReader

    dst = os.path.join(dst_root, "fashion_mnist", "3.0.1")
    os.makedirs(dst)
    shutil.copy(os.path.join(src, "features.json"), dst)
    with open(os.path.join(src, "dataset_info.json")) as f:
        info = json.load(f)
    info["fileFormat"] = "tfrecord"
    with open(os.path.join(dst, "dataset_info.json"), "w") as f:
        json.dump(info, f)
    for path in glob.glob(os.path.join(src, "*.array_record-*")):
        reader = ArrayRecordReader(path)
        records = reader.read_all()
        reader.close()
        out = os.path.basename(path).replace(".array_record-", ".tfrecord-")
        with open(os.path.join(dst, out), "wb") as f:
            for rec in records:
                f.write(struct.pack("<Q", len(rec)) + b"\0" * 4 + rec + b"\0" * 4)


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    x, y = _synthetic()
    ar = tmp_path_factory.mktemp("ar")
    src = _write_copy(ar, x, y)
    tr = tmp_path_factory.mktemp("tr")
    _to_tfrecord(src, tr)
    return x, y, {"array_record": ar, "tfrecord": tr}


@pytest.mark.parametrize("fmt", ["array_record", "tfrecord"])
def test_tfds_copy_read_in_tfds_order(copies, fmt, tmp_path):
    x, y, roots = copies
    ds = load_dataset("fashion_mnist", data_dir=roots[fmt], cache_dir=str(tmp_path))
    assert ds.source.startswith("tfds:fashion_mnist:3.0.1")
    for split, xs, ys in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        order = data.tfds_order(len(y[split]), split)
        np.testing.assert_array_equal(ys, y[split][order])
        np.testing.assert_array_equal(xs, x[split][order] / np.float32(255))
    assert not np.array_equal(ds.y_train, y["train"])  # TFDS really reorders
    # train_index maps back to the source rows (the builder's keys)
    np.testing.assert_array_equal(ds.y_train, y["train"][ds.train_index])
    # decoded arrays were cached as .npy and the cache is used on the second load
    cached = glob.glob(os.path.join(tmp_path, "tfds", "fashion_mnist", "3.0.1", "*.npy"))
    assert len(cached) == 4
    np.save(os.path.join(tmp_path, "tfds", "fashion_mnist", "3.0.1", "test_y.npy"), y["test"][:3])
    again = load_dataset("fashion_mnist", data_dir=roots[fmt], cache_dir=str(tmp_path))
    assert len(again.y_test) == 3  # read from the (tampered) cache, proving it is used
    generic = load_dataset("tfds:fashion_mnist", data_dir=roots[fmt], cache_dir="")
    np.testing.assert_array_equal(generic.y_train, ds.y_train)


def test_source_idx_forced_even_with_tfds_copy(copies, tmp_path):
    if not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
        pytest.skip("Fashion-MNIST IDX files absent (apt install dataset-fashion-mnist)")
    _, _, roots = copies
    ds = load_dataset("fashion_mnist", data_dir=roots["array_record"], source="idx", cache_dir="")
    assert ds.source.startswith("idx:") and len(ds.y_train) == 60000


def _real_tfds_dirs():
    dirs = [os.environ.get("TFDS_DATA_DIR"), os.path.expanduser("~/tensorflow_datasets")]
    return [d for d in dirs if d and data._sources.tfds_prepared("fashion_mnist", d)]


@pytest.mark.skipif(
    not _real_tfds_dirs()
    or not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
    reason="no prepared TFDS fashion_mnist in $TFDS_DATA_DIR or ~/tensorflow_datasets (needs "
    "TensorFlow to build), or no Debian Fashion-MNIST; the synthetic-copy tests cover the order",
)
def test_debian_equals_real_tfds_copy():
    d = _real_tfds_dirs()[0]
    a = load_dataset("fashion_mnist", data_dir=d, source="tfds")
    b = load_dataset("fashion_mnist", source="idx", cache_dir="")
    np.testing.assert_array_equal(a.y_train, b.y_train)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    np.testing.assert_array_equal(a.x_test, b.x_test)


def test_tfds_id_feature_gives_original_rows(tmp_path):
    """CIFAR's TFDS copies carry ``id = "train_01234"``; train_index is that original row."""
    rng = np.random.default_rng(1)
    x = {
        s: rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8)
        for s, n in (("train", 50), ("test", 20))
    }
    y = {s: rng.integers(0, 10, len(x[s])) for s in x}

    class TinyCifar(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        name = "cifar10"
        VERSION = tfds.core.Version("3.0.2")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "id": tfds.features.Text(),
                        "image": tfds.features.Tensor(shape=(4, 4, 3), dtype=np.uint8),
                        "label": tfds.features.ClassLabel(num_classes=10),
                    }
                ),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager):
            return {s: self._generate_examples(s) for s in ("train", "test")}

        def _generate_examples(self, split):
            for i in range(len(y[split])):
                ex = {"id": f"{split}_{i:05d}", "image": x[split][i], "label": int(y[split][i])}
                yield f"{split}_{i:05d}", ex

    TinyCifar(data_dir=str(tmp_path), file_format="array_record").download_and_prepare()
    ds = load_dataset("cifar10", data_dir=tmp_path, cache_dir=str(tmp_path / "cache"))
    assert ds.x_train.shape == (50, 4, 4, 3) and ds.num_classes == 10
    assert not np.array_equal(ds.train_index, np.arange(50))
    np.testing.assert_array_equal(ds.y_train, y["train"][ds.train_index])
    np.testing.assert_array_equal(ds.x_train, x["train"][ds.train_index] / np.float32(255))
    cached = load_dataset("cifar10", data_dir=tmp_path, cache_dir=str(tmp_path / "cache"))
    np.testing.assert_array_equal(cached.train_index, ds.train_index)
