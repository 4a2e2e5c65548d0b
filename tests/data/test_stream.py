"""The streaming pipeline: image lists, sources, transforms and grain batches (no training).

Every image is generated here with Pillow (nothing downloads).
"""

import numpy as np
import pytest
from PIL import Image

from robustloss.data import (
    ArraySource,
    ImageFileSource,
    ImageReadError,
    ImageTransform,
    epoch_order,
    eval_batches,
    load_dataset,
    read_image_list,
    stream_batches,
)

CLASSES = ("cat", "dog", "eel")
ONE = {"process_index": 0, "process_count": 1}


def write_images(folder, n, size=(8, 8), fmt="png", seed=0, sizes=None):
    """``n`` random RGB images ``0.<fmt>..`` and their rows ``path,class``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        h, w = sizes[i % len(sizes)] if sizes else size
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.{fmt}")
        rows.append(f"{i}.{fmt},{CLASSES[i % 3]}")
    return rows


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    rows = write_images(d, 30)
    (d / "train.csv").write_text("path,label\n" + "\n".join(rows[:24]) + "\n")
    (d / "test.csv").write_text("\n".join(rows[24:]) + "\n")
    return d


def test_image_list_reader(tmp_path):
    (tmp_path / "a.tsv").write_text("x/1.jpg\t2\n/abs/2.jpg\t0\n")
    paths, labels, classes = read_image_list(tmp_path / "a.tsv")
    assert paths == ["x/1.jpg", "/abs/2.jpg"] and labels.tolist() == [2, 0]
    assert classes == ("0", "1", "2")
    (tmp_path / "b.csv").write_text("file,class\na.png,dog\nb.png,cat\n")
    assert read_image_list(tmp_path / "b.csv")[1].tolist() == [1, 0]
    (tmp_path / "c.csv").write_text("a.png,dog\nb.png,fish\n")
    with pytest.raises(ValueError, match=r"c.csv' line 2: label 'fish' is not a known class"):
        read_image_list(tmp_path / "c.csv", classes=CLASSES)
    (tmp_path / "d.csv").write_text("a.png,1\nb.png,3\n")
    with pytest.raises(ValueError, match=r"line 2: label '3' is not a known class.*K=3"):
        read_image_list(tmp_path / "d.csv", classes=("0", "1", "2"))
    (tmp_path / "e.csv").write_text("a.png,1\nb.png\n")
    with pytest.raises(ValueError, match=r"e.csv' line 2: expected 'path,label'"):
        read_image_list(tmp_path / "e.csv")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_image_list(tmp_path / "nope.csv")


def test_image_list_memory_and_lazy_hold_the_same_images(folder):
    kw = {"path": folder / "train.csv", "test_path": folder / "test.csv", "val_fraction": 0.25}
    mem = load_dataset("image_list", **kw)
    lazy = load_dataset("image_list", lazy=True, **kw)
    assert mem.class_names == CLASSES and mem.x_train.shape == (18, 8, 8, 3)
    assert isinstance(lazy.x_train, ImageFileSource) and lazy.x_train.shape == mem.x_train.shape
    np.testing.assert_array_equal(lazy.train_index, mem.train_index)
    np.testing.assert_array_equal(lazy.x_train.rows, mem.train_index)
    np.testing.assert_array_equal(lazy.x_train.labels, mem.y_train)
    for split in ("x_train", "x_val", "x_test"):
        src, arr = getattr(lazy, split), getattr(mem, split)
        got = np.stack([src[i] for i in range(len(src))]).astype(np.float32) / np.float32(255)
        np.testing.assert_array_equal(got, arr)
    # Other datasets: arrays wrapped in ArraySource.
    digits = load_dataset("digits", lazy=True)
    assert isinstance(digits.x_train, ArraySource) and digits.x_train.shape[1:] == (8, 8, 1)


def test_bad_files_fail_naming_them_or_are_skipped_and_counted(folder, tmp_path):
    rows = write_images(tmp_path, 9)
    (tmp_path / "3.png").unlink()
    (tmp_path / "5.png").write_bytes(b"not an image")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    kw = {"path": tmp_path / "train.csv", "test_fraction": 0.25}
    for lazy in (False, True):
        with pytest.raises(ImageReadError, match=r"2 of 9 images cannot be read.*3.png.*missing"):
            load_dataset("image_list", lazy=lazy, **kw)
        ds = load_dataset("image_list", lazy=lazy, bad_images="skip", **kw)
        assert len(ds.meta["bad_images"]) == 2 and "5.png" in ds.meta["bad_images"][1]
        assert 3 not in ds.train_index.tolist() + ds.meta.get("index_test", [])
        assert len(ds.y_train) + len(ds.y_test) == 7
    # An unknown class in the test list names the file, the line and the classes.
    (tmp_path / "test.csv").write_text("0.png,cat\n1.png,owl\n")
    with pytest.raises(ValueError, match=r"test.csv' line 2: label 'owl'.*\['cat', 'dog', 'eel'\]"):
        load_dataset("image_list", path=tmp_path / "train.csv", test_path=tmp_path / "test.csv")
    # A truncated JPEG passes the header check; decoding it fails naming it (or is masked).
    write_images(tmp_path, 4, fmt="jpg", size=(64, 64))
    data = (tmp_path / "2.jpg").read_bytes()
    (tmp_path / "2.jpg").write_bytes(data[: len(data) - 500])  # the header stays whole
    src = ImageFileSource([f"{i}.jpg" for i in range(4)], [0, 1, 2, 0], tmp_path)
    assert src.check() == []
    with pytest.raises(ImageReadError, match=r"cannot decode image file .*2.jpg"):
        list(stream_batches(src, ImageTransform(), batch_size=4, shuffle=False, **ONE))
    (batch,) = stream_batches(src, batch_size=4, shuffle=False, bad_images="skip", **ONE)
    assert batch["index"].tolist() == [0, 1, 4, 3] and int(batch["bad"]) == 1
    assert not batch["x"][2].any() and batch["label"].tolist() == [0, 1, 0, 0]


def test_sizes_must_agree_or_be_cropped(tmp_path):
    rows = write_images(tmp_path, 6, sizes=[(20, 30), (30, 20), (24, 24)])
    (tmp_path / "l.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(ImageReadError, match=r"size 30x20 differs from the first image's 20x30"):
        load_dataset("image_list", path=tmp_path / "l.csv", lazy=True)
    ds = load_dataset("image_list", path=tmp_path / "l.csv", image_size=16)
    lazy = load_dataset("image_list", path=tmp_path / "l.csv", image_size=16, lazy=True)
    assert ds.x_train.shape[1:] == lazy.x_train.shape[1:] == (16, 16, 3)
    tf = ImageTransform(size=16, crop="center")
    got = np.stack([tf(lazy.x_train.decode(i)) for i in range(len(lazy.x_train))])
    np.testing.assert_array_equal(got, ds.x_train)


def test_transforms():
    rng = np.random.default_rng
    img = np.arange(6 * 10 * 3, dtype=np.uint8).reshape(6, 10, 3)
    # center: shorter side 6 -> int(4 / 0.5) = 8, i.e. 8x13, then the middle 4x4.
    c = ImageTransform(size=4, crop="center", resize_fraction=0.5)(img)
    assert c.shape == (4, 4, 3) and c.dtype == np.float32 and 0 <= c.min() and c.max() <= 1
    # no resize needed (shorter side = size): exactly the middle rows/columns
    c = ImageTransform(size=6, crop="center", resize_fraction=1.0)(img)
    np.testing.assert_array_equal(c * 255, img[:, 2:8].astype(np.float32))
    # random-resized crop: a function of the generator; the box lies inside the image.
    t = ImageTransform(size=5, crop="random_resized", flip=True)
    a, b = t(img, rng(3)), t(img, rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5, 5, 3) and not np.array_equal(a, t(img, rng(4)))
    # pad crop of a constant image: zeros enter only at the border, the centre stays.
    p = ImageTransform(crop="pad", padding=2)(np.full((6, 6, 1), 255, np.uint8), rng(0))
    assert p.shape == (6, 6, 1) and p[2:4, 2:4].min() == 1.0
    # normalisation in float32 after scaling to [0, 1]
    n = ImageTransform(mean=(0.5,), std=(0.25,))(np.full((2, 2, 1), 255, np.uint8))
    np.testing.assert_array_equal(n, np.full((2, 2, 1), 2.0, np.float32))
    with pytest.raises(ValueError, match="crop must be one of"):
        ImageTransform(crop="zoom")
    with pytest.raises(ValueError, match="needs size"):
        ImageTransform(crop="center")


def _all(stream):
    return [{k: np.asarray(v) for k, v in b.items()} for b in stream]


def test_batches_are_the_same_for_any_threads_and_process_split():
    x = np.random.default_rng(0).integers(0, 256, (21, 6, 6, 3), dtype=np.uint8)
    src = ArraySource(x, np.arange(21) % 3)
    tf = ImageTransform(crop="pad", padding=1, flip=True)
    kw = {"batch_size": 4, "num_epochs": 2, "seed": (0, 7)}
    one = _all(stream_batches(src, tf, threads=1, **kw, **ONE))
    many = _all(stream_batches(src, tf, threads=3, prefetch=5, **kw, **ONE))
    assert len(one) == 12  # ceil(21 / 4) = 6 steps per epoch
    for a, b in zip(one, many, strict=True):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    # the order is epoch_order's, padded with index N = 21
    order = epoch_order((0, 7), 1, 21, batch_size=4, steps=6)
    np.testing.assert_array_equal(np.stack([b["index"] for b in one[6:]]), order)
    assert (order[-1] == 21).sum() == 3 and set(order[order < 21].tolist()) == set(range(21))
    # each of 2 processes loads half of every global batch: together the same batches
    halves = [_all(stream_batches(src, tf, process_index=p, process_count=2, **kw)) for p in (0, 1)]
    for b, h0, h1 in zip(one, *halves, strict=True):
        np.testing.assert_array_equal(np.concatenate([h0["x"], h1["x"]]), b["x"])
        np.testing.assert_array_equal(np.concatenate([h0["index"], h1["index"]]), b["index"])
    # drop_last: floor(21 / 4) = 5 full batches per epoch
    assert len(_all(stream_batches(src, batch_size=4, drop_last=True, **ONE))) == 5


def test_every_row_draws_its_own_augmentation():
    x = np.tile(np.arange(64, dtype=np.uint8).reshape(1, 8, 8, 1), (8, 1, 1, 3))
    tf = ImageTransform(crop="pad", padding=2, flip=True)
    (b,) = stream_batches(ArraySource(x), tf, batch_size=8, shuffle=False, **ONE)
    assert len({r.tobytes() for r in b["x"]}) >= 5  # 8 copies of one image, 50 crops + flips


def test_state_restores_at_the_next_batch():
    src = ArraySource(np.arange(40, dtype=np.float32).reshape(40, 1))
    kw = {"batch_size": 4, "num_epochs": 2, "seed": 5, "threads": 2, **ONE}
    ref = [b["index"] for b in stream_batches(src, **kw)]
    s = stream_batches(src, start=3, **kw)
    got = [next(s)["index"] for _ in range(4)]
    state = s.state()
    s.close()
    assert state["first"] == 3 and state["position"] == 7
    again = stream_batches(src, start=3, **kw)
    again.restore(state)
    got += [b["index"] for b in again]
    for a, b in zip(ref[3:], got, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="starts at batch 0, the saved state at 3"):
        stream_batches(src, **kw).restore(state)


def test_eval_batches_cover_the_set_in_order():
    src = ArraySource(np.arange(10, dtype=np.float32).reshape(10, 1))
    got = _all(eval_batches(src, batch_size=4, **ONE))
    assert [b["index"].tolist() for b in got] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 10]]
    np.testing.assert_array_equal(got[2]["x"][:, 0], [8, 9, 0, 0])


@pytest.mark.slow
def test_worker_processes_give_the_same_batches(folder):
    """grain worker processes (mp_prefetch) decode the same batches as threads."""
    paths, labels, _ = read_image_list(folder / "train.csv")
    src = ImageFileSource(paths, labels, folder)
    tf = ImageTransform(crop="pad", padding=2, flip=True)
    kw = {"batch_size": 6, "num_epochs": 1, "seed": 1, **ONE}
    ref = _all(stream_batches(src, tf, **kw))
    s = stream_batches(src, tf, workers=2, threads=1, **kw)
    try:
        got = _all(s)
    finally:
        s.close()
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["index"], b["index"])
