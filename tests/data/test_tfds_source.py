"""`TfdsSource`: the stream reads a TFDS copy prepared in ArrayRecord format record by record.

The copies are prepared inside the tests, without TensorFlow and without network: a small
`GeneratorBasedBuilder` with an ``Image`` (PNG, encoded by Pillow) and a ``ClassLabel`` feature
and an ``id`` like CIFAR's, written by ``download_and_prepare`` in ArrayRecord format; and a
Fashion-MNIST stand-in written by `write_tfds_copy` (a ``Tensor`` image, the MNIST keys).
"""

import numpy as np
import pytest

from robustloss.data import (
    ArraySource,
    ImageTransform,
    TfdsSource,
    eval_batches,
    load_dataset,
    stream_batches,
    write_tfds_copy,
)

tfds = pytest.importorskip("tensorflow_datasets")

SIZES = {"train": 40, "test": 13}


def _images(split: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SIZES[split])
    n = SIZES[split]
    return rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), rng.integers(0, 4, n)


class TinyImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Four classes of random 8×8 RGB images, keyed by row as ``train_00012`` (CIFAR's ids)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "id": tfds.features.Text(),
                    "image": tfds.features.Image(shape=(8, 8, 3)),
                    "label": tfds.features.ClassLabel(num_classes=4),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {s: self._generate_examples(s) for s in SIZES}

    def _generate_examples(self, split):
        from PIL import Image

        x, y = _images(split)
        for i in range(len(y)):
            key = f"{split}_{i:05d}"
            yield key, {"id": key, "image": Image.fromarray(x[i]), "label": int(y[i])}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfds")
    builder = TinyImages(data_dir=str(root), file_format="array_record")
    builder.download_and_prepare()
    return root, builder


def _records(builder, split):
    """The split read straight from TFDS's data source: images, labels, original row ids."""
    src = builder.as_data_source(split)
    exs = [src[i] for i in range(len(src))]
    ids = [int(e["id"].decode().rsplit("_", 1)[1]) for e in exs]
    return np.stack([e["image"] for e in exs]), np.array([e["label"] for e in exs]), np.array(ids)


def test_the_copy_is_array_record_and_shuffled(prepared):
    _, builder = prepared
    assert "array_record" in str(builder.info.file_format).lower()
    _, _, ids = _records(builder, "train")
    assert sorted(ids) == list(range(SIZES["train"])) and list(ids) != sorted(ids)


@pytest.mark.parametrize("split", ["train", "test"])
def test_records_are_the_data_sources(prepared, split):
    _, builder = prepared
    x, y, ids = _records(builder, split)
    src = TfdsSource.open(builder.data_dir, split)
    assert len(src) == len(y) and src.shape == (len(y), 8, 8, 3)
    np.testing.assert_array_equal(src.labels, y)
    np.testing.assert_array_equal(src.rows, np.arange(len(y)))
    got = np.stack([src[i] for i in range(len(src))])
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, x)
    # the records are the generator's images (PNG is lossless)
    gx, gy = _images(split)
    np.testing.assert_array_equal(got, gx[ids])
    np.testing.assert_array_equal(src.labels, gy[ids])
    sub = src[[5, 1, 7]]
    np.testing.assert_array_equal(np.stack([sub[i] for i in range(3)]), x[[5, 1, 7]])
    np.testing.assert_array_equal(sub.labels, y[[5, 1, 7]])
    assert sub.rows.tolist() == [5, 1, 7] and src[2:4].positions.tolist() == [2, 3]


def test_stream_equals_the_array_stream(prepared):
    _, builder = prepared
    x, y, _ = _records(builder, "train")
    kw = dict(batch_size=16, num_epochs=2, seed=[3, 4], process_index=0, process_count=1)
    tf = ImageTransform(crop="pad", padding=2, flip=True, mean=(0.5,) * 3, std=(0.25,) * 3)
    src = TfdsSource.open(builder.data_dir, "train")
    a = list(stream_batches(src, tf, threads=2, **kw))
    b = list(stream_batches(ArraySource(x, y), tf, threads=1, **kw))
    assert len(a) == len(b) == 6
    for p, q in zip(a, b, strict=True):
        assert p.keys() == q.keys()
        for k in p:
            np.testing.assert_array_equal(p[k], q[k])
    ev = list(
        eval_batches(src[10:], ImageTransform(), batch_size=8, process_index=0, process_count=1)
    )
    np.testing.assert_array_equal(
        np.concatenate([e["x"] for e in ev])[:30], x[10:] / np.float32(255)
    )


def test_worker_processes_read_their_own_records(prepared):
    _, builder = prepared
    x, y, _ = _records(builder, "train")
    kw = dict(batch_size=8, seed=1, process_index=0, process_count=1, threads=1)
    src = TfdsSource.open(builder.data_dir, "train")
    a = list(stream_batches(src, ImageTransform(flip=True), workers=1, **kw))
    b = list(stream_batches(ArraySource(x, y), ImageTransform(flip=True), **kw))
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p["x"], q["x"])


def _agree(lazy, memory):
    """A streamed load and a memory load of one copy: same labels, rows and pixels."""
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(lazy, f"y_{part}"), getattr(memory, f"y_{part}"))
        xs, xm = getattr(lazy, f"x_{part}"), getattr(memory, f"x_{part}")
        assert isinstance(xs, TfdsSource) and len(xs) == len(xm)
        np.testing.assert_array_equal(xs.labels, getattr(memory, f"y_{part}"))
        got = np.stack([xs[i] for i in range(len(xs))]).astype(np.float32) / np.float32(255)
        np.testing.assert_array_equal(got, xm)
    np.testing.assert_array_equal(lazy.train_index, memory.train_index)
    np.testing.assert_array_equal(lazy.val_index, memory.val_index)
    np.testing.assert_array_equal(lazy.x_train.rows, memory.train_index)
    np.testing.assert_array_equal(lazy.x_val.rows, memory.val_index)


def test_load_dataset_streams_the_records(prepared, tmp_path):
    root, _ = prepared
    kw = dict(data_dir=root, cache_dir="", val_fraction=0.25, seed=2)
    lazy = load_dataset("tfds:tiny_images", lazy=True, **kw)
    memory = load_dataset("tfds:tiny_images", **kw)
    assert "ArrayRecord" in lazy.meta["records"] and "ArrayRecord" in lazy.source
    assert len(lazy.y_val) == 10
    _agree(lazy, memory)
    # CIFAR-style ids: the stable index is the generator's row, as in the memory load
    gx, gy = _images("train")
    np.testing.assert_array_equal(gy[lazy.train_index], lazy.y_train)


def test_fashion_mnist_copy_streams_with_the_mnist_index(tmp_path):
    rng = np.random.default_rng(7)
    splits = {
        s: (rng.integers(0, 256, (n, 6, 6, 1), dtype=np.uint8), rng.integers(0, 10, n))
        for s, n in (("train", 30), ("test", 11))
    }
    write_tfds_copy(tmp_path / "ar", splits)
    kw = dict(data_dir=tmp_path / "ar", cache_dir="", val_fraction=0.2)
    lazy = load_dataset("fashion_mnist", source="tfds", lazy=True, **kw)
    memory = load_dataset("fashion_mnist", source="tfds", **kw)
    _agree(lazy, memory)
    assert lazy.x_train.shape[1:] == (6, 6, 1)
    for split, x in (("train", lazy.x_train), ("test", lazy.x_test)):
        xs, ys = splits[split]
        rows = x.rows if split == "train" else lazy.meta["index_test"]
        np.testing.assert_array_equal(x.labels, ys[rows])
        np.testing.assert_array_equal(x[0], xs[rows[0]])


def test_a_tfrecord_copy_is_decoded_and_says_so(tmp_path):
    from tests.data.test_tfds import _to_tfrecord  # TFDS's tfrecord writer needs TensorFlow

    rng = np.random.default_rng(8)
    splits = {
        s: (rng.integers(0, 256, (n, 4, 4, 1), dtype=np.uint8), rng.integers(0, 10, n))
        for s, n in (("train", 12), ("test", 5))
    }
    _to_tfrecord(write_tfds_copy(tmp_path / "ar", splits), tmp_path / "tr")
    kw = dict(source="tfds", data_dir=tmp_path / "tr", cache_dir="")
    ds = load_dataset("fashion_mnist", lazy=True, **kw)
    assert isinstance(ds.x_train, ArraySource) and isinstance(ds.x_test, ArraySource)
    assert ds.meta["records"] == (
        "arrays decoded into memory (the prepared copy is in tfrecord format, not ArrayRecord)"
    )
    memory = load_dataset("fashion_mnist", **kw)
    assert "records" not in memory.meta
    np.testing.assert_array_equal(ds.y_train, memory.y_train)
    np.testing.assert_array_equal(ds.x_train.x, memory.x_train)
