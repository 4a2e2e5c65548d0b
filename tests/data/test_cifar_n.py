"""CIFAR-10N / CIFAR-100N: the allow-list unpickler, the label files, and alignment checks that
fail loudly on a planted misalignment.

The CIFAR-N label files are CC BY-NC: tests that read the real ones take them from the shared
data folder (`tests.shared_data`, skipped with the reason when absent); the others write files
of the same format themselves (`tests.data.miniatures`). No CIFAR images exist offline here:
images are generated, so nothing in these tests is an accuracy.
"""

import os
import pickle

import numpy as np
import pytest

from robustloss.data import (
    UnsafePickleError,
    _cifar_n,
    check_cifar_n,
    load_dataset,
    read_cifar_n_file,
)
from robustloss.data._pickles import load_pickle, read_torch_zip
from tests import shared_data
from tests.data import miniatures as m

# ------------------------------------------------------------------------------------------
# The allow-list unpickler.
# ------------------------------------------------------------------------------------------


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_globals_outside_the_allow_list():
    with pytest.raises(UnsafePickleError, match="system"):
        load_pickle(pickle.dumps({"x": _Evil()}, protocol=2), where="f")
    import collections

    with pytest.raises(UnsafePickleError, match="collections.OrderedDict"):
        load_pickle(pickle.dumps(collections.OrderedDict(a=1), protocol=2), where="f")
    # _codecs.encode is allowed for latin1 only (how protocol 2 stores bytes)
    import codecs

    class _Codec:
        def __reduce__(self):
            return (codecs.encode, ("x", "rot13"))

    data = pickle.dumps(_Codec(), protocol=2).replace(b"c_codecs\nencode", b"c_codecs\nencode")
    with pytest.raises(UnsafePickleError, match="rot13"):
        load_pickle(data, where="f")
    # arrays, lists and bytes pass
    out = load_pickle(
        pickle.dumps({"a": np.arange(4), "b": [1, 2], "c": b"\x00\xff"}, 2), where="f"
    )
    assert out["a"].tolist() == [0, 1, 2, 3] and out["c"] == b"\x00\xff"


def test_torch_zip_reader(tmp_path):
    labels = {"clean_label": np.array([1, 2, 3]), "aggre_label": np.array([1, 2, 0])}
    f = m.write_torch_zip(str(tmp_path / "x.pt"), labels, archive="x")
    assert read_torch_zip(f)["aggre_label"].tolist() == [1, 2, 0]
    with open(tmp_path / "legacy.pt", "wb") as g:
        pickle.dump(labels, g)
    with pytest.raises(ValueError, match="not a torch zip archive"):
        read_torch_zip(tmp_path / "legacy.pt")

    class _Storage:  # what a torch tensor looks like in data.pkl: a persistent id
        pass

    class _P(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", "0") if isinstance(obj, _Storage) else None

    import io
    import zipfile

    buf = io.BytesIO()
    _P(buf, protocol=2).dump({"clean_label": _Storage()})
    with zipfile.ZipFile(tmp_path / "t.pt", "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
    with pytest.raises(UnsafePickleError, match="torch storage"):
        read_torch_zip(tmp_path / "t.pt")


# ------------------------------------------------------------------------------------------
# The real label files (CC BY-NC; skipped when absent).
# ------------------------------------------------------------------------------------------


def test_real_files_have_the_published_fields_rates_and_pass_the_checks():
    c10 = read_cifar_n_file(shared_data("cifar_n/CIFAR-10_human.pt"))
    assert sorted(c10) == sorted(["clean_label", *m.CIFAR10N_WRONG])
    for name, ls in _cifar_n.LABEL_SETS["cifar10n"].items():
        noisy = c10[ls.fields[0]]
        assert int((noisy != c10["clean_label"]).sum()) == m.CIFAR10N_WRONG[ls.fields[0]], name
        rows = np.arange(50_000)
        out = check_cifar_n(
            "cifar10n",
            ls,
            c10["clean_label"],
            noisy,
            c10["clean_label"],
            rows,
            where="f",
            data_where="d",
        )
        assert out["published_rate_percent"] == ls.published_rate
    c100 = read_cifar_n_file(shared_data("cifar_n/CIFAR-100_human.pt"))  # lists -> arrays
    assert (
        c100["noisy_coarse_label"].dtype == np.int64 and len(c100["clean_coarse_label"]) == 50_000
    )
    for ls in _cifar_n.LABEL_SETS["cifar100n"].values():
        clean = c100[ls.clean_field]
        check_cifar_n("cifar100n", ls, clean, c100[ls.fields[0]], clean, np.arange(50_000),
                      where="f", data_where="d")  # fmt: skip


def test_planted_misalignments_of_the_real_labels_fail_loudly():
    """The three classic ways to misalign CIFAR-N, each caught with its own diagnosis."""
    c10 = read_cifar_n_file(shared_data("cifar_n/CIFAR-10_human.pt"))
    order = np.load(shared_data("cifar_n/image_order_c10.npy"))
    ls = _cifar_n.label_set("cifar10n", "worse")
    clean, noisy, rows = c10["clean_label"], c10["worse_label"], np.arange(50_000)
    # 1. labels rolled by one row against the images
    with pytest.raises(ValueError, match="shifted by 1"):
        check_cifar_n(
            "cifar10n", ls, clean, noisy, np.roll(clean, 1), rows, where="f", data_where="d"
        )
    # 2. images in TFDS's order read as if in the torch (CIFAR-file) order
    tfds_clean = clean[order]  # labels_in_tfds_order = labels_in_pt_order[image_order]
    with pytest.raises(ValueError, match=r"orders are unrelated .*TFDS"):
        check_cifar_n("cifar10n", ls, clean, noisy, tfds_clean, rows, where="f", data_where="d")
    # ... and put back by the TFDS id (inverse of the order) it passes
    back = np.empty_like(tfds_clean)
    back[order] = tfds_clean
    check_cifar_n("cifar10n", ls, clean, noisy, back, rows, where="f", data_where="d")
    # 3. the wrong CIFAR-100N field: the coarse noisy labels as the fine ones
    c100 = read_cifar_n_file(shared_data("cifar_n/CIFAR-100_human.pt"))
    fine = _cifar_n.label_set("cifar100n", "noisy")
    with pytest.raises(ValueError, match=r"published rate is 40.20%"):
        check_cifar_n("cifar100n", fine, c100["clean_label"], c100["noisy_coarse_label"],
                      c100["clean_label"], rows, where="f", data_where="d")  # fmt: skip
    # ... and a label set under another's name (a TFDS copy mapping its CSV columns differently)
    aggre = _cifar_n.label_set("cifar10n", "aggre")
    with pytest.raises(ValueError, match=r"40.208% .* published rate is 9.01%"):
        check_cifar_n("cifar10n", aggre, clean, noisy, clean, rows, where="f", data_where="d")


def test_real_label_file_with_generated_images(tmp_path):
    """The real .pt with generated CIFAR batches whose labels are the file's clean labels."""
    pt = shared_data("cifar_n/CIFAR-10_human.pt")
    clean = read_cifar_n_file(pt)["clean_label"]
    m.write_cifar10_python(str(tmp_path), clean, batches=(2, 5), rows=30)
    ds = load_dataset("cifar10n", path=tmp_path, label_file=str(pt), label_set="random2",
                      partial=True)  # fmt: skip
    assert ds.train_index.tolist() == list(range(10_000, 10_030)) + list(range(40_000, 40_030))
    real = ds.meta["real_noise"]
    assert real["field"] == "random_label2" and real["published_rate"] == 0.1812
    np.testing.assert_array_equal(real["clean"][ds.train_index], ds.y_train)


# ------------------------------------------------------------------------------------------
# Generated files of the published format: loading, partial copies, errors.
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def c10(tmp_path_factory):
    d = tmp_path_factory.mktemp("c10n")
    labels = m.fake_cifar10n()
    m.write_torch_zip(str(d / "CIFAR-10_human.pt"), labels)
    m.write_cifar10_python(str(d), labels["clean_label"], batches=(1, 3), rows=40, test_rows=20)
    return d, labels


def test_cifar10n_loads_every_label_set_aligned_by_row(c10):
    d, labels = c10
    for name, field in [
        ("aggre", "aggre_label"),
        ("worst", "worse_label"),
        ("rand3", "random_label3"),
    ]:
        ds = load_dataset("cifar10n", path=d, label_set=name, partial=True)
        real = ds.meta["real_noise"]
        assert real["field"] == field and real["label_set"] == _cifar_n.LABEL_SET_ALIASES.get(
            name, name
        )
        np.testing.assert_array_equal(real["labels"], labels[field])
        rows = ds.train_index
        assert rows.tolist() == list(range(40)) + list(range(20_000, 20_040))
        np.testing.assert_array_equal(ds.y_train, labels["clean_label"][rows])
    assert ds.x_train.shape == (80, 32, 32, 3) and ds.x_test.shape == (20, 32, 32, 3)
    assert ds.meta["partial"] == "80 of 50000 training, 20 of 10000 test images"
    assert ds.class_names[0] == "airplane"


def test_partial_copy_needs_the_explicit_option(c10):
    d, _ = c10
    with pytest.raises(ValueError, match=r"fewer than CIFAR's .*dataset.partial=True"):
        load_dataset("cifar10n", path=d, label_set="aggre")


def test_label_set_is_required_and_checked(c10):
    d, _ = c10
    with pytest.raises(ValueError, match=r"must be set.*'aggre', 'worse'"):
        load_dataset("cifar10n", path=d, partial=True)
    with pytest.raises(ValueError, match="'noisy'"):
        load_dataset("cifar10n", path=d, label_set="noisy", partial=True)


def test_rolled_images_fail_with_the_rows(tmp_path):
    labels = m.fake_cifar10n(seed=1)
    m.write_torch_zip(str(tmp_path / "CIFAR-10_human.pt"), labels)
    m.write_cifar10_python(str(tmp_path), np.roll(labels["clean_label"], -1), rows=50)
    with pytest.raises(
        ValueError, match=r"disagrees with the CIFAR training labels .* shifted by -1"
    ):
        load_dataset("cifar10n", path=tmp_path, label_set="aggre", partial=True)


def test_wrong_rate_fails(tmp_path):
    labels = m.fake_cifar10n(seed=2)
    labels["aggre_label"] = labels["random_label1"]  # a mislabelled field
    m.write_torch_zip(str(tmp_path / "CIFAR-10_human.pt"), labels)
    m.write_cifar10_python(str(tmp_path), labels["clean_label"], rows=20)
    with pytest.raises(ValueError, match=r"17.234% .*published rate is 9.01%"):
        load_dataset("cifar10n", path=tmp_path, label_set="aggre", partial=True)


def test_missing_files_say_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cifar-10-python.tar.gz.*CIFAR-10_human.pt"):
        load_dataset("cifar10n", path=tmp_path, label_set="aggre")
    labels = m.fake_cifar10n()
    m.write_cifar10_python(str(tmp_path), labels["clean_label"], rows=10)
    with pytest.raises(FileNotFoundError, match="no CIFAR-N label file found"):
        load_dataset("cifar10n", path=tmp_path, label_set="aggre", partial=True)
    # the label file elsewhere, by name or absolute path
    other = tmp_path / "labels"
    other.mkdir()
    m.write_torch_zip(str(other / "c10n.pt"), labels)
    ds = load_dataset("cifar10n", path=tmp_path, label_file=str(other / "c10n.pt"),
                      label_set="aggre", partial=True)  # fmt: skip
    assert len(ds.y_train) == 10
    # the .npy files of the CIFAR-N repository are refused (pickles; *_ordered is TFDS order)
    np.save(other / "x.npy", np.zeros(3))
    with pytest.raises(ValueError, match="ordered.npy"):
        load_dataset("cifar10n", path=tmp_path, label_file=str(other / "x.npy"),
                     label_set="aggre", partial=True)  # fmt: skip


def test_cifar100n_fine_and_coarse_and_the_field_name(tmp_path):
    labels = m.fake_cifar100n()
    m.write_cifar100_python(
        str(tmp_path), labels["clean_label"], labels["clean_coarse_label"], rows=30
    )
    m.write_torch_zip(str(tmp_path / "CIFAR-100_human.pt"), labels, archive="CIFAR-100_human")
    fine = load_dataset("cifar100n", path=tmp_path, label_set="noisy", partial=True)
    assert fine.num_classes == 100 and fine.meta["real_noise"]["field"] == "noisy_label"
    coarse = load_dataset("cifar100n", path=tmp_path, label_set="noisy_coarse", partial=True)
    assert coarse.num_classes == 20 and len(coarse.class_names) == 20
    np.testing.assert_array_equal(coarse.y_train, np.asarray(labels["clean_coarse_label"])[:30])
    # TFDS's spelling of the fine field is read as the same label set
    renamed = {("noise_label" if k == "noisy_label" else k): v for k, v in labels.items()}
    m.write_torch_zip(str(tmp_path / "CIFAR-100_human.pt"), renamed)
    again = load_dataset("cifar100n", path=tmp_path, label_set="noisy", partial=True)
    assert again.meta["real_noise"]["field"] == "noise_label"
    # both spellings present but different: refused
    both = dict(labels, noise_label=labels["noisy_coarse_label"])
    m.write_torch_zip(str(tmp_path / "CIFAR-100_human.pt"), both)
    with pytest.raises(ValueError, match="'noisy_label' and 'noise_label' differ"):
        load_dataset("cifar100n", path=tmp_path, label_set="noisy", partial=True)
    # the CIFAR-10N file given for CIFAR-100N
    m.write_torch_zip(str(tmp_path / "CIFAR-100_human.pt"), m.fake_cifar10n())
    with pytest.raises(ValueError, match="no field"):
        load_dataset("cifar100n", path=tmp_path, label_set="noisy", partial=True)


# ------------------------------------------------------------------------------------------
# TFDS copies: examples put back in the CIFAR order by their id.
# ------------------------------------------------------------------------------------------


def _write_tfds(data_dir, name, rows, labels, extra=None, version="1.0.4"):
    """A TFDS copy of ``name`` keyed like the stock builders (``train_<row>`` ids)."""
    import contextlib
    import io

    import tensorflow_datasets as tfds

    features = {
        "id": tfds.features.Text(),
        "image": tfds.features.Tensor(shape=(32, 32, 3), dtype=np.uint8),
        "label": tfds.features.ClassLabel(num_classes=10),
    }
    for k in extra or {}:
        features[k] = tfds.features.ClassLabel(num_classes=10)
    rng = np.random.default_rng(0)
    splits = {"train": rows, "test": np.arange(6)}
    ds_name = name

    class _Copy(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        name = ds_name
        VERSION = tfds.core.Version(version)

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self, features=tfds.features.FeaturesDict(features)
            )

        def _split_generators(self, dl_manager):
            return {s: self._generate_examples(s) for s in splits}

        def _generate_examples(self, split):
            for i, r in enumerate(splits[split]):
                ex = {
                    "id": f"{split}_{r:05d}",
                    "image": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8),
                    "label": int(labels[r]) if split == "train" else int(r % 10),
                }
                for k, v in (extra or {}).items():
                    ex[k] = int(v[r]) if split == "train" else 0
                yield i, ex

    with contextlib.redirect_stdout(io.StringIO()):
        _Copy(data_dir=str(data_dir), file_format="array_record").download_and_prepare()


def test_tfds_copy_is_aligned_by_id_not_by_iteration_order(tmp_path, monkeypatch):
    labels = m.fake_cifar10n(seed=3)
    rows = np.arange(0, 50_000, 997)[:40]
    _write_tfds(tmp_path / "tfds", "cifar10", rows, labels["clean_label"])
    m.write_torch_zip(str(tmp_path / "CIFAR-10_human.pt"), labels)
    kw = dict(path=tmp_path, data_dir=tmp_path / "tfds", label_set="worse", partial=True)
    ds = load_dataset("cifar10n", **kw)
    assert ds.train_index.tolist() == rows.tolist()  # the CIFAR order, whatever TFDS's is
    np.testing.assert_array_equal(ds.y_train, labels["clean_label"][rows])
    assert ds.source.startswith("tfds:cifar10:")
    # planted: the TFDS iteration order taken as the CIFAR order -> the clean check fails
    monkeypatch.setattr(_cifar_n, "ids_to_rows", lambda ids, split, where: np.arange(len(ids)))
    with pytest.raises(ValueError, match="disagrees with the CIFAR training labels"):
        load_dataset("cifar10n", **kw)


def test_tfds_cifar10_n_columns_are_cross_checked_against_the_file(tmp_path):
    labels = m.fake_cifar10n(seed=4)
    rows = np.arange(3, 50_000, 1499)[:30]
    swapped = {  # a copy whose columns are mapped in another order
        "aggre_label": labels["worse_label"],
        "worse_label": labels["aggre_label"],
        **{f"random_label{i}": labels[f"random_label{i}"] for i in (1, 2, 3)},
    }
    _write_tfds(tmp_path / "tfds", "cifar10_n", rows, labels["clean_label"], swapped)
    m.write_torch_zip(str(tmp_path / "CIFAR-10_human.pt"), labels)
    kw = dict(path=tmp_path, data_dir=tmp_path / "tfds", partial=True)
    ok = load_dataset("cifar10n", label_set="random1", **kw)
    assert (
        "TFDS random_label1 equals the label file on every row" in ok.meta["real_noise"]["checks"]
    )
    with pytest.raises(ValueError, match="maps the label columns differently"):
        load_dataset("cifar10n", label_set="aggre", **kw)
    # a partial TFDS copy alone (no label file) cannot be checked against the published rate
    os.remove(tmp_path / "CIFAR-10_human.pt")
    with pytest.raises(ValueError, match="partial=True with a TFDS copy and no label file"):
        load_dataset("cifar10n", label_set="aggre", **kw)


def test_tfds_cifar10_n_alone_checks_the_published_rates(monkeypatch):
    """A full TFDS cifar10_n copy without the .pt file: its own clean and noisy labels, the
    rate check catching a copy whose columns are mapped in another order (TFDS v1.0.0)."""
    labels = m.fake_cifar10n(seed=5)
    perm = np.random.default_rng(0).permutation(50_000)  # TFDS's stored order: a hash order

    def fake_read(name, data_dir, ls, with_noisy, partial, columns=labels):
        assert with_noisy and name == "cifar10n"
        train = {
            "image": np.zeros((50_000, 1, 1, 3), np.uint8)[perm],
            "label": labels["clean_label"][perm],
            ls.tfds_field: columns[ls.tfds_field][perm],
            "rows": perm,
        }
        order = np.argsort(train["rows"])  # what read_tfds does with the ids
        train = {k: v[order] for k, v in train.items()}
        test = {
            "image": np.zeros((4, 1, 1, 3), np.uint8),
            "label": np.arange(4),
            "rows": np.arange(4),
        }
        return {"where": "tfds:cifar10_n", "train": train, "test": test, "notes": {},
                "class_names": tuple("abcdefghij")}  # fmt: skip

    monkeypatch.setattr(_cifar_n, "tfds_prepared", lambda name, data_dir: "cifar10_n")
    monkeypatch.setattr(_cifar_n, "read_tfds", fake_read)
    raw = _cifar_n.cifar_n_raw("cifar10n", path=None, data_dir="x", label_set_name="random3")
    np.testing.assert_array_equal(raw.meta["real_noise"]["labels"], labels["random_label3"])
    assert (
        raw.meta["real_noise"]["field"] == "random_label3"
        and raw.meta["real_noise"]["label_file"] is None
    )
    swapped = dict(labels, aggre_label=labels["worse_label"])
    monkeypatch.setattr(_cifar_n, "read_tfds", lambda *a, **k: fake_read(*a, **k, columns=swapped))
    with pytest.raises(ValueError, match=r"40.208% .*published rate is 9.01%"):
        _cifar_n.cifar_n_raw("cifar10n", path=None, data_dir="x", label_set_name="aggre")
