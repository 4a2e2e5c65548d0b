"""Tests for robustloss.data loaders: shapes, dtypes, splits, file formats and error messages."""

import hashlib
import os

import numpy as np
import pytest

from robustloss import data
from robustloss.data import load_dataset

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
HAVE_FMNIST = os.path.exists(f"{FMNIST_DIR}/train-images-idx3-ubyte.gz")
needs_fmnist = pytest.mark.skipif(
    not HAVE_FMNIST,
    reason=f"Fashion-MNIST IDX files absent from {FMNIST_DIR} (apt install dataset-fashion-mnist)",
)

# sha256 of the decoded uint8 payloads (IDX file order) of Debian's dataset-fashion-mnist.
FMNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012"
    ),
    "train-labels-idx1-ubyte.gz": (
        "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"
    ),
}


# -------------------------------------------------------------------------------------------
# digits
# -------------------------------------------------------------------------------------------


def test_digits_shapes_and_splits():
    ds = load_dataset("digits")
    assert len(ds.y_train) + len(ds.y_test) == 1797
    assert ds.num_classes == 10 and len(ds.class_names) == 10
    assert ds.x_train.shape[1:] == (8, 8, 1) == ds.feature_shape
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() == 1.0
    assert ds.x_val.shape == (0, 8, 8, 1) and ds.y_val.shape == (0,)
    # stratified 20 % test split: every class ~20 % in test
    counts = np.bincount(ds.y_test, minlength=10) / np.bincount(
        np.concatenate([ds.y_train, ds.y_test]), minlength=10
    )
    assert np.all(np.abs(counts - 0.2) < 0.01)
    assert len(np.intersect1d(ds.train_index, ds.meta["index_test"])) == 0
    assert len(np.union1d(ds.train_index, ds.meta["index_test"])) == 1797

    v1 = load_dataset("digits", val_fraction=0.1, seed=1)
    v1b = load_dataset("digits", val_fraction=0.1, seed=1)
    v2 = load_dataset("digits", val_fraction=0.1, seed=2)
    np.testing.assert_array_equal(v1.x_test, ds.x_test)  # test split does not depend on seed
    np.testing.assert_array_equal(v1.val_index, v1b.val_index)
    assert not np.array_equal(v1.val_index, v2.val_index)
    assert len(v1.y_val) == pytest.approx(0.1 * len(ds.y_train), abs=10)
    # train_index/val_index partition the training split and point at the right rows
    both = np.sort(np.concatenate([v1.train_index, v1.val_index]))
    np.testing.assert_array_equal(both, np.sort(ds.train_index))
    pos = {int(r): i for i, r in enumerate(ds.train_index)}
    np.testing.assert_array_equal(ds.x_train[[pos[int(r)] for r in v1.val_index]], v1.x_val)
    np.testing.assert_array_equal(ds.y_train[[pos[int(r)] for r in v1.train_index]], v1.y_train)
    flat = load_dataset("digits", flatten=True)
    assert flat.x_train.shape[1:] == (64,) and flat.feature_shape == (64,)


def test_digits_pixels_match_sklearn():
    from sklearn.datasets import load_digits

    d = load_digits()
    ds = load_dataset("digits")
    rows = ds.meta["index_test"]
    np.testing.assert_array_equal(ds.y_train, d.target[ds.train_index])
    np.testing.assert_allclose(ds.x_test[..., 0], d.images[rows] / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, d.target[rows])


# -------------------------------------------------------------------------------------------
# Fashion-MNIST (Debian IDX files)
# -------------------------------------------------------------------------------------------


@needs_fmnist
def test_debian_idx_checksums():
    for name, digest in FMNIST_SHA256.items():
        a = data.read_idx(f"{FMNIST_DIR}/{name}")
        assert a.dtype == np.uint8
        assert a.shape == ((60000 if "train" in name else 10000),) + (
            (28, 28) if "images" in name else ()
        )
        assert hashlib.sha256(a.tobytes()).hexdigest() == digest, name


@needs_fmnist
def test_fashion_mnist_from_debian():
    ds = load_dataset("fashion_mnist", cache_dir="")
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert ds.num_classes == 10 and ds.class_names[0] == "T-shirt/top"
    assert ds.class_names[9] == "Ankle boot"
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert 0.0 == ds.x_train.min() and ds.x_train.max() == 1.0
    assert ds.source.startswith("idx:")
    # TFDS order = IDX rows sorted by md5(split + str(row)) (TFDS's shuffler)
    raw_x = data.read_idx(f"{FMNIST_DIR}/train-images-idx3-ubyte.gz")
    raw_y = data.read_idx(f"{FMNIST_DIR}/train-labels-idx1-ubyte.gz")
    rows = ds.train_index  # IDX rows, in TFDS order
    np.testing.assert_array_equal(rows, data.tfds_order(60000, "train"))
    np.testing.assert_array_equal(ds.y_train, raw_y[rows])
    np.testing.assert_array_equal(ds.x_train[:50], raw_x[rows[:50], :, :, None] / np.float32(255))
    file_order = load_dataset("fashion_mnist", order="file", cache_dir="")
    np.testing.assert_array_equal(file_order.y_train, raw_y)
    np.testing.assert_array_equal(file_order.train_index, np.arange(60000))
    val = load_dataset("fashion_mnist", val_fraction=0.1, seed=0, cache_dir="")
    np.testing.assert_array_equal(val.y_train, raw_y[val.train_index])
    np.testing.assert_array_equal(val.y_val, raw_y[val.val_index])


def test_tfds_order_is_md5_sort():
    # Independent transcription of tensorflow_datasets.core.hashing + shuffle (sorted hkeys).
    n = 300
    keys = [int(hashlib.md5(b"train" + str(i).encode()).hexdigest(), 16) for i in range(n)]
    np.testing.assert_array_equal(data.tfds_order(n, "train"), np.argsort(keys))
    assert not np.array_equal(data.tfds_order(n, "train"), data.tfds_order(n, "test"))


def test_read_idx_roundtrip_and_errors(tmp_path):
    import gzip
    import struct

    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = struct.pack(">BBBB3I", 0, 0, 8, 3, 2, 3, 4) + a.tobytes()
    (tmp_path / "a.idx").write_bytes(raw)
    with gzip.open(tmp_path / "a.idx.gz", "wb") as f:
        f.write(raw)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.idx"), a)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.idx.gz"), a)
    (tmp_path / "bad.idx").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match="header says shape"):
        data.read_idx(tmp_path / "bad.idx")
    (tmp_path / "float.idx").write_bytes(struct.pack(">BBBBI", 0, 0, 0x0D, 1, 1) + b"\0" * 4)
    with pytest.raises(ValueError, match="not an unsigned-byte IDX"):
        data.read_idx(tmp_path / "float.idx")


# -------------------------------------------------------------------------------------------
# Missing data and bad names
# -------------------------------------------------------------------------------------------


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="digits") as e:
        load_dataset("imagenet22k")
    assert "fashion_mnist" in str(e.value)
    assert "digits" in data.list_datasets() and "fashion_mnist" in data.list_datasets()


def test_missing_data_messages(tmp_path, monkeypatch):
    from robustloss.data import _mlbench

    monkeypatch.setenv("ROBUSTLOSS_CACHE", str(tmp_path))
    monkeypatch.delenv("ROBUSTLOSS_MLBENCH", raising=False)
    monkeypatch.setattr(_mlbench, "_R_LIBRARY", str(tmp_path / "no_r"))
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_dataset("fashion_mnist", path=tmp_path)
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_dataset("cifar10", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_dataset("mnist", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="make data.*r-cran-mlbench"):
        load_dataset("letter")
    with pytest.raises(FileNotFoundError, match="Vowel.rda"):
        load_dataset("vowel")
    with pytest.raises(FileNotFoundError, match="letter-recognition"):
        load_dataset("letter", path=tmp_path / "nope.data")
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_dataset("npz", path=tmp_path / "nope.npz")
    with pytest.raises(ValueError, match="TFDS does not know"):
        load_dataset("tfds:no_such_dataset_xyz", data_dir=tmp_path)


def test_bad_options():
    with pytest.raises(ValueError, match="val_fraction"):
        load_dataset("digits", val_fraction=1.0)
    with pytest.raises(ValueError, match="scale"):
        load_dataset("digits", scale="zscore")
    with pytest.raises(ValueError, match="tabular"):
        load_dataset("digits", scale="minmax")
    # An option the dataset's loader would ignore is an error, not silently dropped.
    with pytest.raises(ValueError, match=r"dataset 'digits' does not read path='/x/letter.data'"):
        load_dataset("digits", path="/x/letter.data")
    with pytest.raises(ValueError, match=r"dataset 'letter' does not read data_dir='/tfds'"):
        load_dataset("letter", data_dir="/tfds")
    with pytest.raises(ValueError, match=r"dataset 'cifar10' does not read path="):
        load_dataset("cifar10", path="/x")


# -------------------------------------------------------------------------------------------
# File formats (synthetic files written in tmp_path)
# -------------------------------------------------------------------------------------------


def _letter_rows(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 26, n)
    x = rng.integers(0, 16, (n, 16))
    lines = [
        ",".join([chr(65 + int(c))] + [str(int(v)) for v in row])
        for c, row in zip(y, x, strict=True)
    ]
    return x, y, "\n".join(lines) + "\n"


def test_letter_roundtrip(tmp_path):
    x, y, text = _letter_rows(60)
    p = tmp_path / "letter-recognition.data"
    p.write_text(text)
    ds = load_dataset("letter", path=p, test_rows=10)
    np.testing.assert_array_equal(ds.x_train, x[:50].astype(np.float32))
    np.testing.assert_array_equal(ds.y_test, y[50:])
    assert ds.num_classes == 26 and ds.class_names[1] == "B" and ds.feature_shape == (16,)
    sc = load_dataset("letter", path=p, test_rows=10, scale="minmax")
    assert sc.x_train.min() == -1.0 and sc.x_train.max() == 1.0
    mn, mx = x[:50].min(0), x[:50].max(0)
    want = -1 + 2 * (x[50:] - mn) / (mx - mn)
    np.testing.assert_allclose(sc.x_test, want, rtol=1e-6, atol=1e-6)


def test_letter_malformed(tmp_path):
    _, _, text = _letter_rows(5)
    lines = text.splitlines()
    lines[2] = "B,1,2,3"
    (tmp_path / "l.data").write_text("\n".join(lines))
    with pytest.raises(ValueError, match="line 3"):
        load_dataset("letter", path=tmp_path / "l.data", test_rows=1)
    lines[2] = "B," + ",".join(["1"] * 15) + ",x"
    (tmp_path / "l.data").write_text("\n".join(lines))
    with pytest.raises(ValueError, match="line 3"):
        load_dataset("letter", path=tmp_path / "l.data", test_rows=1)


def test_uci_header_line(tmp_path):
    x, y, text = _letter_rows(12)
    header = "lettr,x-box,y-box,width,high,onpix,x-bar,y-bar,x2bar,y2bar,xybar,x2ybr,xy2br,"
    header += "x-ege,xegvy,y-ege,yegvx\n"
    (tmp_path / "h.data").write_text(header + text)
    ds = load_dataset("letter", path=tmp_path / "h.data", test_rows=2)
    np.testing.assert_array_equal(ds.x_train, x[:10].astype(np.float32))
    np.testing.assert_array_equal(ds.y_test, y[10:])
    # A garbled first data line (numbers in it) is not a header: it is an error, not a skip.
    lines = text.splitlines()
    lines[0] = "T,2,8,3,5,1,8,13,0,6,6,10,8,0,8,0,x"
    (tmp_path / "g.data").write_text("\n".join(lines))
    with pytest.raises(ValueError, match="line 1"):
        load_dataset("letter", path=tmp_path / "g.data", test_rows=2)
    names = "split speaker sex f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 class\n"
    row = "0 0 0 " + " ".join(["0.5"] * 10) + " 3\n"
    (tmp_path / "v.data").write_text(names + row * 3 + row.replace("0 0 0", "1 9 0", 1))
    ds = load_dataset("vowel", path=tmp_path / "v.data")
    assert ds.x_train.shape == (3, 10) and ds.x_test.shape == (1, 10)


def test_vowel_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    flag = (np.arange(n) >= 30).astype(int)
    feats = rng.normal(size=(n, 10)).round(3)
    y = np.arange(n) % 11
    rows = [
        " ".join(
            [str(flag[i]), str(i % 15), str(i % 2)] + [f"{v:.3f}" for v in feats[i]] + [str(y[i])]
        )
        for i in range(n)
    ]
    (tmp_path / "vowel-context.data").write_text("\n".join(rows) + "\n")
    ds = load_dataset("vowel", path=tmp_path / "vowel-context.data")
    assert ds.x_train.shape == (30, 10) and ds.x_test.shape == (10, 10) and ds.num_classes == 11
    np.testing.assert_allclose(ds.x_train, feats[:30], rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, y[30:])
    rows[4] = "0 1 2 3"
    (tmp_path / "bad.data").write_text("\n".join(rows))
    with pytest.raises(ValueError, match="line 5"):
        load_dataset("vowel", path=tmp_path / "bad.data")


def test_libsvm_roundtrip(tmp_path):
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(0)
    x = (rng.random((80, 7)) * (rng.random((80, 7)) < 0.4)).round(4)
    y = rng.choice([1, 3, 5], 80)  # arbitrary class ids get remapped to 0..K-1
    dump_svmlight_file(x[:60], y[:60], str(tmp_path / "d.scale"))
    dump_svmlight_file(x[60:], y[60:], str(tmp_path / "d.scale.t"))
    ds = load_dataset("libsvm", path=tmp_path / "d.scale")
    assert ds.num_classes == 3 and ds.class_names == ("1", "3", "5")
    np.testing.assert_allclose(ds.x_train, x[:60], rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, (y[60:] - 1) // 2)
    os.remove(tmp_path / "d.scale.t")
    single = load_dataset("libsvm", path=tmp_path / "d.scale", test_fraction=0.25)
    assert len(single.y_train) + len(single.y_test) == 60
    assert len(single.y_test) == pytest.approx(15, abs=2)
    with pytest.raises(ValueError, match="max_dense_bytes"):
        load_dataset("libsvm", path=tmp_path / "d.scale", max_dense_bytes=100)
    (tmp_path / "bad.svm").write_text("1 1:0.5 2:x\n")
    with pytest.raises(ValueError, match="malformed"):
        load_dataset("libsvm", path=tmp_path / "bad.svm")


def test_npz_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6)).astype(np.float32)
    y = rng.integers(0, 4, 50)
    y[:4] = np.arange(4)
    np.savez(tmp_path / "a.npz", x=x, y=y)
    ds = load_dataset("npz", path=tmp_path / "a.npz", test_fraction=0.2)
    assert len(ds.y_train) + len(ds.y_test) == 50 and ds.num_classes == 4
    rows = np.concatenate([ds.x_train, ds.x_test])
    assert {tuple(r) for r in rows} == {tuple(r) for r in x}
    onehot = np.eye(4)[y]
    np.savez(tmp_path / "b.npz", x=x[:40], y=onehot[:40], x_test=x[40:], y_test=onehot[40:])
    ds = load_dataset("npz", path=tmp_path / "b.npz")
    np.testing.assert_array_equal(ds.x_test, x[40:])
    np.testing.assert_array_equal(ds.y_train, y[:40])
    np.savez(
        tmp_path / "c.npz",
        x=x[:30],
        y=y[:30],
        x_val=x[30:40],
        y_val=y[30:40],
        x_test=x[40:],
        y_test=y[40:],
    )
    ds = load_dataset("npz", path=tmp_path / "c.npz")
    np.testing.assert_array_equal(ds.x_val, x[30:40])
    with pytest.raises(ValueError, match="val_fraction=0"):
        load_dataset("npz", path=tmp_path / "c.npz", val_fraction=0.1)
    imgs = rng.integers(0, 256, (20, 4, 4, 3), dtype=np.uint8)
    np.savez(tmp_path / "i.npz", x=imgs, y=np.arange(20) % 2)
    ds = load_dataset("npz", path=tmp_path / "i.npz")
    assert ds.feature_shape == (4, 4, 3) and ds.x_train.max() <= 1.0
    np.savez(tmp_path / "bad.npz", features_wrong=x, y=y)
    with pytest.raises(ValueError, match="must hold arrays"):
        load_dataset("npz", path=tmp_path / "bad.npz")
    np.savez(tmp_path / "len.npz", x=x, y=y[:10])
    with pytest.raises(ValueError, match="rows"):
        load_dataset("npz", path=tmp_path / "len.npz")


# -------------------------------------------------------------------------------------------
# Splits
# -------------------------------------------------------------------------------------------


def test_kfold_splits():
    folds = data.kfold_splits(12, k=5)
    assert [len(v) for _, v in folds] == [3, 3, 2, 2, 2]
    np.testing.assert_array_equal(folds[0][1], [0, 1, 2])  # unshuffled: contiguous blocks
    np.testing.assert_array_equal(np.concatenate([v for _, v in folds]), np.arange(12))
    for tr, va in folds:
        assert set(tr) | set(va) == set(range(12)) and not set(tr) & set(va)
    a = data.kfold_splits(12, k=3, shuffle=True, seed=1)
    b = data.kfold_splits(12, k=3, shuffle=True, seed=1)
    c = data.kfold_splits(12, k=3, shuffle=True, seed=2)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))
    with pytest.raises(ValueError, match="k="):
        data.kfold_splits(3, k=5)


def test_train_val_split_stratified():
    y = np.repeat(np.arange(3), [10, 20, 70])
    tr, va = data.train_val_split(100, 0.1, seed=0, labels=y)
    assert np.bincount(y[va]).tolist() == [1, 2, 7]
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 100


def test_npz_labels_are_checked_not_remapped(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = np.arange(20) % 4
    cases = {
        "half": (y.astype(np.float64) + np.where(np.arange(20) == 5, 0.5, 0.0), r"1\.5 at row 5"),
        "one_float": (np.where(np.arange(20) == 7, 0.3, y), r"0\.3 at row 7"),
        "minus_one": (np.where(np.arange(20) == 2, -1, y), r"-1 at row 2"),
        "nan": (np.where(np.arange(20) == 9, np.nan, y), r"nan at row 9"),
    }
    for tag, (labels, needle) in cases.items():
        np.savez(tmp_path / f"{tag}.npz", x=x, y=labels)
        with pytest.raises(ValueError, match=rf"{tag}\.npz' array 'y'.*{needle}"):
            load_dataset("npz", path=tmp_path / f"{tag}.npz", test_fraction=0.2)
    # The same in y_test, named by its key.
    np.savez(tmp_path / "t.npz", x=x, y=y, x_test=x[:4], y_test=np.array([0, 1, 1.5, 2]))
    with pytest.raises(ValueError, match=r"t\.npz' array 'y_test'.*1\.5 at row 2"):
        load_dataset("npz", path=tmp_path / "t.npz")
    # Soft [N, K] labels are not argmax-ed.
    soft = np.eye(4)[y] * 0.7 + 0.075
    np.savez(tmp_path / "soft.npz", x=x, y=soft)
    with pytest.raises(ValueError, match=r"soft\.npz.*row 0 .*not one-hot"):
        load_dataset("npz", path=tmp_path / "soft.npz", test_fraction=0.2)
    # Integer-valued floats are ids; sparse ids are kept as ids (K = max + 1), not remapped.
    np.savez(tmp_path / "f.npz", x=x, y=(y * 2).astype(np.float32))
    ds = load_dataset("npz", path=tmp_path / "f.npz", test_fraction=0.2)
    assert ds.num_classes == 7 and set(np.concatenate([ds.y_train, ds.y_test])) == {0, 2, 4, 6}
    # One-hot width sets K even if the last class is absent.
    np.savez(tmp_path / "oh.npz", x=x, y=np.eye(6)[y])
    assert load_dataset("npz", path=tmp_path / "oh.npz", test_fraction=0.2).num_classes == 6


def test_npz_features_checked_at_load_time(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = np.arange(20) % 2
    np.savez(tmp_path / "w.npz", x=x, y=y, x_test=np.zeros((4, 5), np.float32), y_test=y[:4])
    with pytest.raises(ValueError, match=r"w\.npz.*x_test has feature shape \(5,\).*\(3,\)"):
        load_dataset("npz", path=tmp_path / "w.npz")
    bad = x.copy()
    bad[3, 1], bad[4, 0], bad[5, 2] = np.nan, np.inf, -np.inf
    np.savez(tmp_path / "nf.npz", x=bad, y=y, x_test=x[:4], y_test=y[:4])
    with pytest.raises(ValueError, match=r"nf\.npz.*train features hold 3 non-finite"):
        load_dataset("npz", path=tmp_path / "nf.npz")
    np.savez(tmp_path / "nv.npz", x=x, y=y, x_val=bad[:6], y_val=y[:6], x_test=x[:4], y_test=y[:4])
    with pytest.raises(ValueError, match=r"nv\.npz.*val features hold 3 non-finite"):
        load_dataset("npz", path=tmp_path / "nv.npz")
