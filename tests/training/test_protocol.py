"""Protocol-fidelity options: LDR npz files, a fixed test file, initial parameters from a file,
``val/clean_top1`` with real noisy labels."""

import jax
import numpy as np
import pytest

from configs import test as test_config
from robustloss.data import load_dataset
from robustloss.training import train
from robustloss.training.build import build_trainer, init_state, load_run_data


def _ldr_npz(path, n, k, d, seed, one_hot=True):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)  # every class present
    np.savez(path, x, np.eye(k)[y] if one_hot else y)  # positional: arr_0, arr_1
    return x, y


def test_ldr_npz_train_and_test_files(tmp_path):
    x, y = _ldr_npz(tmp_path / "letter_train.npz", 60, 5, 4, 0)
    xt, yt = _ldr_npz(tmp_path / "letter_test.npz", 20, 5, 4, 1, one_hot=False)
    ds = load_dataset(
        "npz", path=tmp_path / "letter_train.npz", test_path=tmp_path / "letter_test.npz"
    )
    # Every training row, in file order (the LDR code's folds are contiguous file blocks).
    np.testing.assert_array_equal(ds.x_train, x)
    np.testing.assert_array_equal(ds.y_train, y)
    np.testing.assert_array_equal(ds.train_index, np.arange(60))
    np.testing.assert_array_equal(ds.x_test, xt)
    np.testing.assert_array_equal(ds.y_test, yt)
    assert ds.num_classes == 5 and "letter_test.npz" in ds.source
    # One file with arr_0/arr_1 alone: a seeded test split as for x/y files.
    alone = load_dataset("npz", path=tmp_path / "letter_train.npz", test_fraction=0.25)
    assert len(alone.y_train) + len(alone.y_test) == 60 and len(alone.y_test) == 15


def test_test_path_errors_name_the_problem(tmp_path):
    _ldr_npz(tmp_path / "a.npz", 30, 3, 4, 0)
    _ldr_npz(tmp_path / "b.npz", 10, 3, 5, 1)
    with pytest.raises(ValueError, match="feature shape"):
        load_dataset("npz", path=tmp_path / "a.npz", test_path=tmp_path / "b.npz")
    with pytest.raises(ValueError, match="no separate test file.*npz"):
        load_dataset("digits", test_path=tmp_path / "b.npz")
    np.savez(tmp_path / "bad.npz", features_x=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="arr_0"):
        load_dataset("npz", path=tmp_path / "bad.npz")


def test_letter_csv_with_a_test_file(tmp_path):
    rng = np.random.default_rng(0)

    def write(path, n):
        labels = [chr(ord("A") + i % 26) for i in range(n)]
        feats = rng.integers(0, 16, (n, 16))
        path.write_text(
            "".join(
                f"{a}," + ",".join(map(str, f)) + "\n" for a, f in zip(labels, feats, strict=True)
            )
        )
        return feats

    tr, te = write(tmp_path / "tr.data", 52), write(tmp_path / "te.data", 26)
    ds = load_dataset("letter", path=tmp_path / "tr.data", test_path=tmp_path / "te.data")
    np.testing.assert_array_equal(ds.x_train, tr)
    np.testing.assert_array_equal(ds.x_test, te)
    np.testing.assert_array_equal(ds.y_test, np.arange(26))


def test_npz_files_through_the_config(tmp_path):
    _ldr_npz(tmp_path / "tr.npz", 80, 4, 6, 0)
    xt, yt = _ldr_npz(tmp_path / "te.npz", 16, 4, 6, 1)
    config = test_config.get_config(
        f"dataset=npz,dataset.path={tmp_path / 'tr.npz'},dataset.test_path={tmp_path / 'te.npz'}"
    )
    data = load_run_data(config)
    np.testing.assert_array_equal(data.x_test, xt)
    assert len(data.y_train) + len(data.y_val) == 80


def _flat(params):
    return {
        "/".join(p.key for p in path): np.asarray(v)
        for path, v in jax.tree_util.tree_flatten_with_path(params)[0]
    }


def test_initial_parameters_from_a_file(tmp_path):
    config = test_config.get_config("epochs=1")
    data = load_run_data(config)
    trainer = build_trainer(config, data)
    fresh = _flat(init_state(config, trainer, data).params)
    assert "Dense_0/kernel" in fresh
    rng = np.random.default_rng(5)
    given = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in fresh.items()}
    np.savez(tmp_path / "init.npz", **given)
    with config.unlocked():
        config.model.init_path = str(tmp_path / "init.npz")
    loaded = _flat(init_state(config, trainer, data).params)
    for k in given:
        np.testing.assert_array_equal(loaded[k], given[k])
    # Vmapped runs: every run starts from the file's weights, whatever its seed.
    with config.unlocked():
        config.runs = ({"seed": 0}, {"seed": 3})
    trainer2 = build_trainer(config, data)
    runs = _flat(init_state(config, trainer2, data).params)
    for k in given:
        np.testing.assert_array_equal(runs[k][0], given[k])
        np.testing.assert_array_equal(runs[k][1], given[k])


def test_initial_parameters_mismatch_names_the_keys(tmp_path):
    config = test_config.get_config("epochs=1")
    data = load_run_data(config)
    trainer = build_trainer(config, data)
    fresh = _flat(init_state(config, trainer, data).params)
    bad = dict(fresh)
    bad.pop("Dense_2/bias")
    bad["Dense_0/kernel"] = np.zeros((3, 3), np.float32)
    np.savez(tmp_path / "bad.npz", **bad)
    with config.unlocked():
        config.model.init_path = str(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match=r"missing keys \['Dense_2/bias'\].*Dense_0/kernel: file"):
        init_state(config, trainer, data)


def test_clean_validation_accuracy_is_logged_with_real_noise(tmp_path):
    config = test_config.get_config("epochs=1,rate=0.0")
    ds = load_dataset(config.dataset.name, val_fraction=config.dataset.val_fraction)
    from robustloss.training.build import source_rows

    n_source = source_rows(ds)  # a real-noise file holds one label per source row
    np.save(tmp_path / "noisy.npy", (np.arange(n_source) * 7) % 10)
    config.noise.kind = "real"
    config.noise.labels_path = str(tmp_path / "noisy.npy")
    final = train(config, None, log=lambda s: None)["final"]
    assert "val/clean_top1" in final
    assert final["val/clean_top1"] != final["val/top1"]  # noisy vs clean labels of one model
    clean = train(test_config.get_config("epochs=1,noise=clean"), None, log=lambda s: None)
    assert "val/clean_top1" not in clean["final"]
