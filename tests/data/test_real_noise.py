"""Bring-your-own-directory real-noise datasets, on miniature copies in their real layouts:
Clothing1M, mini-WebVision, Food-101N, ANIMAL-10N (paths + labels, counts checked, partial
copies only on request, decoding into memory, the same splits as record sources for the
stream)."""

import os

import numpy as np
import pytest

from robustloss.data import (
    ImageFileSource,
    ImageReadError,
    ImageTransform,
    decode_images,
    load_dataset,
    load_file_dataset,
)
from robustloss.data import _real_noise as rn
from tests.data import miniatures as m


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    out = {}
    for name, make in (
        ("clothing1m", m.make_clothing1m),
        ("mini_webvision", m.make_mini_webvision),
        ("animal10n", m.make_animal10n),
    ):
        d = str(root / name)
        out[name] = (d, make(d))
    parent = str(root / "food")
    info = m.make_food101n(parent)
    out["food101n"] = (info["root"], info)
    return out


def test_clothing1m_lists_labels_and_clean_overlap(dirs):
    d, info = dirs["clothing1m"]
    fd = load_file_dataset("clothing1m", d, partial=True)
    assert len(fd.train_paths) == len(info["train"]) and fd.num_classes == 14
    assert fd.train_paths[0] == os.path.join(d, info["train"][0])
    assert fd.train_labels.tolist() == [info["noisy"][k] for k in info["train"]]
    # training images that also have a clean label carry it; the others are unknown (-1)
    expected = [info["clean"].get(k, -1) for k in info["train"]]
    assert fd.train_clean.tolist() == expected and (fd.train_clean >= 0).sum() == 6
    known = fd.train_clean >= 0
    np.testing.assert_array_equal(
        fd.train_is_noisy[known], fd.train_clean[known] != fd.train_labels[known]
    )
    assert set(fd.train_is_noisy[~known].tolist()) == {-1}
    assert fd.val_set == "val" and fd.test_set == "test"
    assert fd.eval_sets["val"][1].tolist() == [info["clean"][k] for k in info["val"]]
    assert fd.provenance["partial"]["noisy_train"] == f"{len(info['train'])} of 1000000"
    assert "train_eval_overlap" not in fd.provenance
    # RENT's sets: every noisy kv line (4 more) / every clean kv line; their overlap recorded
    rent = load_file_dataset("clothing1m", d, partial=True, train_set="rent", test_set="rent")
    assert len(rent.train_paths) == len(info["noisy"])
    assert len(rent.eval_sets["test"][1]) == len(info["clean"])
    assert rent.provenance["train_eval_overlap"]["test"] == 6


def test_clothing1m_errors(dirs, tmp_path):
    d, _ = dirs["clothing1m"]
    with pytest.raises(ValueError, match=r"fewer than the published 1000000.*partial=True"):
        load_file_dataset("clothing1m", d)
    with pytest.raises(ValueError, match="train_set="):
        load_file_dataset("clothing1m", d, train_set="all")
    # a broken copy: a key without a label, a label out of range, a missing list, wrong root
    import shutil

    bad = tmp_path / "c1m"
    shutil.copytree(d, bad)
    with open(bad / "noisy_train_key_list.txt", "a") as f:
        f.write("images/9/99/nope.jpg\n")
    with pytest.raises(ValueError, match="have no label in noisy_label_kv.txt"):
        load_file_dataset("clothing1m", bad, partial=True)
    with open(bad / "noisy_label_kv.txt", "a") as f:
        f.write("images/9/99/nope.jpg 14\n")
    with pytest.raises(ValueError, match=r"line \d+: label 14 is outside \[0, 14\)"):
        load_file_dataset("clothing1m", bad, partial=True)
    shutil.rmtree(bad)
    shutil.copytree(d, bad)
    os.remove(bad / "clean_val_key_list.txt")
    with pytest.raises(FileNotFoundError, match="clean_val_key_list.txt"):
        load_file_dataset("clothing1m", bad, partial=True)
    with pytest.raises(FileNotFoundError, match="category_names_eng.txt. is missing"):
        load_file_dataset("clothing1m", tmp_path, partial=True)


def test_clothing1m_more_entries_than_published_is_an_error(monkeypatch, dirs):
    monkeypatch.setitem(rn.CLOTHING1M_PUBLISHED, "clean_test", 3)
    with pytest.raises(ValueError, match="more than the published 3"):
        load_file_dataset("clothing1m", dirs["clothing1m"][0], partial=True)


def test_mini_webvision_first_50_classes_and_two_eval_sets(dirs, tmp_path, monkeypatch):
    d, info = dirs["mini_webvision"]
    fd = load_file_dataset("mini_webvision", d, partial=True)
    assert fd.num_classes == 50 and set(fd.train_labels.tolist()) == {0, 1, 2}  # 50, 999 dropped
    assert len(fd.train_paths) == 12 and fd.train_paths[0] == os.path.join(
        d, "google/q0001/0_0.jpg"
    )
    wv = fd.eval_sets["webvision_val"]
    assert wv[0][0] == os.path.join(d, "val_images_256", "val000000.jpg") and len(wv[1]) == 12
    im_paths, im_labels = fd.eval_sets["ilsvrc12_val"]
    assert im_labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4  # by synset, not by folder order
    assert all(f"/{info['wnids'][c]}/" in p for p, c in zip(im_paths, im_labels, strict=True))
    assert fd.test_set == "webvision_val" and fd.extra_eval_sets == ("ilsvrc12_val",)
    assert (
        set(fd.train_is_noisy.tolist()) == {-1}
        and fd.provenance["partial"]["ilsvrc12_val_synsets"] == "3 of 50"
    )
    monkeypatch.setitem(rn.MINI_WEBVISION_PUBLISHED, "train", 12)  # the lists are "complete"
    monkeypatch.setitem(rn.MINI_WEBVISION_PUBLISHED, "webvision_val", 12)
    with pytest.raises(FileNotFoundError, match="47 of the 50 synset folders are missing"):
        load_file_dataset("mini_webvision", d)
    with pytest.raises(FileNotFoundError, match="dataset.eval_path"):
        load_file_dataset("mini_webvision", d, partial=True, eval_path=str(tmp_path / "none"))


def test_food101n_verification_labels_and_food101_test(dirs, tmp_path):
    root, info = dirs["food101n"]
    fd = load_file_dataset("food101n", os.path.dirname(root), partial=True)  # parent works too
    assert fd.root == root and fd.num_classes == 101 and len(fd.train_paths) == 9
    assert fd.train_labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # verified_train: keys[0] correct, keys[1] wrong; verified_val: keys[2] correct
    assert fd.train_is_noisy.tolist()[:4] == [0, 1, 0, -1]
    assert fd.train_clean.tolist()[:4] == [0, -1, 0, -1]
    test_paths, test_labels = fd.eval_sets["food101_test"]
    assert len(test_labels) == 6 and test_paths[0].endswith("food-101/images/dish_000/100.jpg")
    # Food-101's class list must be Food-101N's
    f101 = os.path.join(os.path.dirname(root), "food-101", "meta", "classes.txt")
    with open(f101) as f:
        names = f.read().split()
    with open(f101, "w") as f:
        f.write("\n".join(names[1:] + names[:1]) + "\n")
    try:
        with pytest.raises(ValueError, match="class ids would not match"):
            load_file_dataset("food101n", root, partial=True)
    finally:
        with open(f101, "w") as f:
            f.write("\n".join(names) + "\n")
    with pytest.raises(FileNotFoundError, match="no food-101 folder"):
        load_file_dataset("food101n", root, partial=True, eval_path=str(tmp_path / "x"))


def test_animal10n_labels_from_file_names(dirs, tmp_path):
    d, info = dirs["animal10n"]
    fd = load_file_dataset("animal10n", d, partial=True)
    by_name = lambda y: sorted(y.tolist())  # noqa: E731 -- "<label>_<id>": sorted by label, id
    assert fd.train_labels.tolist() == by_name(info["training"])
    assert os.path.basename(fd.train_paths[0]).startswith(f"{min(info['training'])}_")
    assert fd.eval_sets["testing"][1].tolist() == by_name(info["testing"])
    assert fd.class_names[9] == "guinea pig" and fd.image_size == 64
    os.makedirs(tmp_path / "training")
    os.makedirs(tmp_path / "testing")
    m.jpeg(str(tmp_path / "training" / "cat_001.jpg"), np.random.default_rng(0))
    with pytest.raises(ValueError, match="not named <label 0-9>_<id>"):
        load_file_dataset("animal10n", tmp_path, partial=True)


def test_memory_arrays_and_decoding(dirs):
    d, info = dirs["animal10n"]
    ds = load_dataset("animal10n", path=d, partial=True)  # native 64x64: no resize
    assert ds.x_train.shape == (20, 64, 64, 3) and ds.x_test.shape == (10, 64, 64, 3)
    real = ds.meta["real_noise"]
    assert real["labels"].tolist() == sorted(info["training"].tolist())
    assert real["published_rate"] is None
    c1m = load_dataset("clothing1m", path=dirs["clothing1m"][0], partial=True, image_size=6)
    assert c1m.x_train.shape[1:] == (6, 6, 3) and c1m.x_val.shape == (5, 6, 6, 3)
    assert c1m.meta["val_clean"] and c1m.meta["partial"]["clean_val"] == "5 of 14313"
    wv = load_dataset("mini_webvision", path=dirs["mini_webvision"][0], partial=True, image_size=5)
    x, y = wv.meta["extra_eval"]["ilsvrc12_val"]
    assert x.shape == (12, 5, 5, 3) and x.dtype == np.float32 and x.max() <= 1.0
    # decoding: shorter side to the size (torchvision's Resize: the longer side truncated),
    # centre crop; a broken image fails naming the file
    from PIL import Image

    src = os.path.join(dirs["clothing1m"][0], dirs["clothing1m"][1]["train"][0])
    with Image.open(src) as im:
        rgb = im.convert("RGB")
    # 12x10 -> 4: 4.8 truncated, 4x4 (nothing to crop); -> 6: 7x6, columns round(0.5) = 0..5
    np.testing.assert_array_equal(
        decode_images([src], 4)[0], np.asarray(rgb.resize((4, 4), Image.BILINEAR))
    )
    np.testing.assert_array_equal(
        decode_images([src], 6)[0], np.asarray(rgb.resize((7, 6), Image.BILINEAR))[:, 0:6]
    )


def test_broken_and_missing_images_fail_naming_the_file(dirs, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="bad.jpg' is not a readable image"):
        decode_images([str(bad)], 4)
    with pytest.raises(FileNotFoundError, match="gone.jpg"):
        decode_images([str(tmp_path / "gone.jpg")], 4)


def test_memory_limit_points_to_the_stream(dirs, monkeypatch):
    monkeypatch.setattr(rn, "MEMORY_LIMIT_BYTES", 1000)
    fd = load_file_dataset("animal10n", dirs["animal10n"][0], partial=True)
    with pytest.raises(ValueError, match="dataset.pipeline='stream'"):
        rn.check_memory(fd, 64, limit=rn.MEMORY_LIMIT_BYTES)


def _pixels(src: ImageFileSource, transform: ImageTransform) -> np.ndarray:
    """Every record of ``src`` as a stream worker makes it (decode, then ``transform``)."""
    return np.stack([transform(src.decode(i)) for i in range(len(src))])


@pytest.mark.parametrize("name", ["clothing1m", "mini_webvision", "food101n", "animal10n"])
def test_stream_sources_are_the_memory_splits(dirs, name):
    """``lazy=True`` (``dataset.pipeline="stream"``) lists the FileDataset's files in the rows,
    order and splits the memory load holds, with its labels (the clean one where known), its
    eval sets and meta; the stream's evaluation transform gives the memory load's pixels."""
    d = dirs[name][0]
    # 0: the dataset's standard (ANIMAL-10N: 64, native); 8 from 12x10 files: the shorter side
    # goes to 8 (a crop fraction of 0.875 would make it 9: other pixels)
    size = 0 if name == "animal10n" else 8
    mem = load_dataset(name, path=d, partial=True, image_size=size)
    st = load_dataset(name, path=d, partial=True, image_size=size, lazy=True)
    fd = load_file_dataset(name, d, partial=True)
    splits = {
        "train": (st.x_train, fd.train_paths, mem.y_train, mem.x_train),
        "test": (st.x_test, fd.eval_sets[fd.test_set][0], mem.y_test, mem.x_test),
    }
    if fd.val_set is not None:
        splits["val"] = (st.x_val, fd.eval_sets[fd.val_set][0], mem.y_val, mem.x_val)
    else:
        assert len(st.x_val) == len(mem.y_val) == len(st.y_val) == 0
    extra_mem, extra_st = mem.meta.get("extra_eval", {}), st.meta.get("extra_eval", {})
    assert list(extra_st) == list(extra_mem) == list(fd.extra_eval_sets)
    for e, (src, y) in extra_st.items():
        np.testing.assert_array_equal(y, extra_mem[e][1])
        splits[e] = (src, fd.eval_sets[e][0], extra_mem[e][1], extra_mem[e][0])
    assert name != "mini_webvision" or list(extra_st) == ["ilsvrc12_val"]
    full = size or fd.image_size
    t = ImageTransform(size=full, crop="center", resize_fraction=st.meta["resize_fraction"])
    for split, (src, paths, y, x) in splits.items():
        assert isinstance(src, ImageFileSource) and src.shape == (len(paths), full, full, 3), split
        assert [src.path(i) for i in range(len(src))] == list(paths), split
        np.testing.assert_array_equal(src.labels, y, err_msg=split)
        np.testing.assert_array_equal(_pixels(src, t), x, err_msg=split)  # bit for bit
    for field in ("y_train", "y_val", "y_test", "train_index", "val_index"):
        np.testing.assert_array_equal(getattr(st, field), getattr(mem, field), err_msg=field)
    assert (st.num_classes, st.class_names, st.source) == (
        mem.num_classes,
        mem.class_names,
        mem.source,
    )
    assert sorted(st.meta) == sorted(mem.meta)
    for key in set(mem.meta) - {"extra_eval", "real_noise"}:
        np.testing.assert_equal(st.meta[key], mem.meta[key], err_msg=key)
    real_st, real_mem = st.meta["real_noise"], mem.meta["real_noise"]
    assert sorted(real_st) == sorted(real_mem)
    for key in real_mem:
        np.testing.assert_equal(real_st[key], real_mem[key], err_msg=key)
    # the clean labels where the dataset publishes some: trained on as y_train's clean side
    known = real_st["clean"] >= 0
    np.testing.assert_array_equal(st.y_train[known], real_st["clean"][known])
    np.testing.assert_array_equal(st.y_train[~known], real_st["labels"][~known])


def test_stream_sources_check_every_file_at_loading(dirs, tmp_path):
    import shutil

    d = tmp_path / "animal"
    shutil.copytree(dirs["animal10n"][0], d)
    load_dataset("animal10n", path=d, partial=True, lazy=True)
    victim = sorted(os.listdir(d / "testing"))[3]
    (d / "testing" / victim).write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match=rf"animal10n testing images.*{victim}.*unreadable"):
        load_dataset("animal10n", path=d, partial=True, lazy=True)
