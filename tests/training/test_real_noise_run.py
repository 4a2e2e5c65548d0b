"""Runs on real label noise: the dataset's own labels by source row, the true (empirical) T,
``train/acc_clean`` only where clean labels are known, the noise report in ``summary.json`` and
in every metrics line, named eval sets, the file datasets streamed (``dataset.pipeline="stream"``)
with the memory pipeline's numbers, and the config checks that keep synthetic noise and label
files from silently mixing in.

Images are generated: these runs are tests, not results (no accuracy here means anything).
"""

import json
import os

import jax
import numpy as np
import pytest

from robustloss.data import ImageFileSource
from robustloss.noise import empirical_transition
from robustloss.training import default_config, train, validate_config
from robustloss.training.build import load_run_data
from tests.data import miniatures as m


@pytest.fixture(scope="module")
def c10n(tmp_path_factory):
    d = tmp_path_factory.mktemp("c10n_run")
    labels = m.fake_cifar10n(seed=7)
    m.write_torch_zip(str(d / "CIFAR-10_human.pt"), labels)
    m.write_cifar10_python(str(d), labels["clean_label"], batches=(1, 2), rows=48, test_rows=16)
    return str(d), labels


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("files_run")
    out = {}
    for name, make in (
        ("clothing1m", m.make_clothing1m),
        ("mini_webvision", m.make_mini_webvision),
    ):
        out[name] = (str(root / name), make(str(root / name)))
    return out


def _cfg(name, path, **fields):
    c = default_config()
    c.dataset.name, c.dataset.path, c.dataset.partial = name, path, True
    c.noise.kind = "real"
    c.model.name, c.model.hidden = "ffnn", 8
    c.num_epochs, c.batch_size, c.eval_batch_size = 1, 16, 64
    c.num_devices, c.progress, c.select_metric = 1, "none", "test/top1"
    for path_, value in fields.items():
        node = c
        *groups, leaf = path_.split("__")
        for g in groups:
            node = node[g]
        node[leaf] = value
    return c


def test_cifar10n_run_data_uses_the_label_set_by_row(c10n):
    d, labels = c10n
    c = _cfg("cifar10n", d, dataset__label_set="random1", dataset__val_fraction=0.25)
    data = load_run_data(c)
    rows = np.concatenate([np.arange(48), np.arange(10_000, 10_048)])
    clean, noisy = labels["clean_label"], labels["random_label1"]
    # training + validation rows together are the 96 CIFAR rows present, each with its own label
    got_clean = np.concatenate([data.y_train_clean, data.y_val_clean])
    got_noisy = np.concatenate([data.y_train, data.y_val])
    assert sorted(got_clean.tolist()) == sorted(clean[rows].tolist())
    pairs = sorted(zip(got_clean.tolist(), got_noisy.tolist(), strict=True))
    assert pairs == sorted(zip(clean[rows].tolist(), noisy[rows].tolist(), strict=True))
    # the "true T" of the transition methods is the label set's empirical T (training rows)
    np.testing.assert_allclose(
        data.true_T, empirical_transition(data.y_train_clean, data.y_train, 10), atol=1e-6
    )
    rep = data.noise_report
    assert rep["label_set"] == "random1" and rep["rows"] == len(data.y_train)
    assert rep["realised_rate"] == pytest.approx(np.mean(data.y_train != data.y_train_clean))
    assert rep["published_rate"] == 0.1723 and data.clean_train_known


def test_cifar10n_training_writes_the_noise_report(c10n, tmp_path):
    d, labels = c10n
    c = _cfg("cifar10n", d, dataset__label_set="worse")
    validate_config(c)
    s = train(c, str(tmp_path))
    with open(tmp_path / "summary.json") as f:
        summary = json.load(f)
    noise = summary["noise"]
    rows = np.concatenate([np.arange(48), np.arange(10_000, 10_048)])
    want = float(np.mean(labels["worse_label"][rows] != labels["clean_label"][rows]))
    assert noise["realised_rate"] == pytest.approx(want) and noise["label_set"] == "worse"
    T = np.asarray(noise["T"])
    assert T.shape == (10, 10) and np.allclose(T.sum(1), 1.0)
    np.testing.assert_allclose(
        T, empirical_transition(labels["clean_label"][rows], labels["worse_label"][rows], 10)
    )
    assert noise["checks"][0].startswith("clean_label equals the CIFAR training labels")
    with open(tmp_path / "metrics.jsonl") as f:
        line = json.loads(f.readline())
    assert line["noise/realised_rate"] == pytest.approx(want) and "train/acc_clean" in line
    assert s["final"]["noise/realised_rate"] == pytest.approx(want)


@pytest.mark.parametrize("pipeline", ["memory", "stream"])
def test_clothing1m_run_data_no_acc_clean_and_clean_val(files, pipeline):
    d, info = files["clothing1m"]
    c = _cfg("clothing1m", d, dataset__image_size=4, dataset__pipeline=pipeline)
    validate_config(c)
    data = load_run_data(c)
    assert isinstance(data.x_train, ImageFileSource) == (pipeline == "stream")
    assert not data.clean_train_known  # clean labels for 6 of 24 training images
    clean = [info["clean"].get(k, info["noisy"][k]) for k in info["train"]]
    assert data.y_train_clean.tolist() == clean  # the clean label where known
    np.testing.assert_array_equal(data.y_val, data.y_val_clean)  # its own clean val set
    assert data.y_train.tolist() == [info["noisy"][k] for k in info["train"]]
    rep = data.noise_report
    overlap = [k for k in info["train"] if k in info["clean"]]
    want = np.mean([info["noisy"][k] != info["clean"][k] for k in overlap])
    assert rep["rows_with_clean_label"] == len(overlap) == 6
    assert rep["realised_rate"] == pytest.approx(want)
    assert rep["provenance"]["partial"]["noisy_train"].endswith("of 1000000")
    # (training on it: tests/configs/test_real_noise_configs.py, the RENT Clothing1M config)


def test_stream_crops_file_datasets_like_memory_at_their_standard_size(files):
    """The stream's transforms crop a file dataset's images as the memory pipeline decodes
    them (shorter side to S, centre crop), at ``dataset.image_size`` or, when it is 0, at the
    dataset's standard size (Clothing1M: 224); ``augment`` is then a host random-resized crop."""
    from robustloss.data import ImageTransform
    from robustloss.training.build import host_augment
    from robustloss.training.feed import stream_transforms

    for size, want in ((4, 4), (0, 224)):
        c = _cfg("clothing1m", files["clothing1m"][0], dataset__pipeline="stream")
        c.dataset.image_size = size
        data = load_run_data(c)
        assert data.image_size == want and data.x_train.shape[1:] == (want, want, 3)
        evaluate = ImageTransform(size=want, crop="center", resize_fraction=1.0)
        assert stream_transforms(c, data.image_size, data.resize_fraction) == (evaluate, evaluate)
        c.augment = True
        train_tf, eval_tf = stream_transforms(c, data.image_size, data.resize_fraction)
        assert (train_tf.crop, train_tf.size, eval_tf) == ("random_resized", want, evaluate)
        assert host_augment(c, data.image_size)


@pytest.mark.parametrize("pipeline", ["memory", "stream"])
def test_mini_webvision_run_data_has_its_named_eval_set(files, pipeline):
    d, _ = files["mini_webvision"]
    c = _cfg("mini_webvision", d, dataset__image_size=4, dataset__pipeline=pipeline)
    data = load_run_data(c)
    x, y = data.extra_eval["ilsvrc12_val"]
    assert isinstance(x, ImageFileSource) == (pipeline == "stream")
    assert x.shape == (12, 4, 4, 3) and y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert data.noise_report["realised_rate"] is None and data.noise_report["T"] is None
    assert not data.clean_train_known and len(data.y_test) == 12  # WebVision val: the test split


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"noise__kind": "symmetric", "noise__rate": 0.2}, r"carries its own noisy labels"),
        ({"noise__labels_path": "/x.npy"}, r"labels_path='/x.npy'.*carries its own labels"),
        ({"dataset__label_set": ""}, r"label_set='' is not valid .*must be set"),
        ({"dataset__label_set": "noisy_coarse"}, r"'noisy_coarse' is not valid"),
        ({"dataset__label_set": "bogus"}, r"dataset.label_set='bogus' is not valid"),
        ({"dataset__pipeline": "disk"}, r"dataset.pipeline='disk' is not valid"),
        ({"dataset__eval_path": "/x"}, r"eval_path applies to \[.mini_webvision., .food101n.\]"),
        ({"dataset__image_size": 8}, r"image_size applies to .*not .cifar10n."),
    ],
)
def test_config_checks(fields, match):
    c = _cfg("cifar10n", "/nowhere", **{"dataset__label_set": "aggre", **fields})
    with pytest.raises(ValueError, match=match):
        validate_config(c)


def test_config_checks_of_file_datasets(files):
    c = _cfg("clothing1m", "/x", noise__kind="clean")
    with pytest.raises(ValueError, match="clean training labels are not all known"):
        validate_config(c)
    c = _cfg("clothing1m", "/x", dataset__label_set="aggre")
    with pytest.raises(ValueError, match=r"label_set applies to \[.cifar10n., .cifar100n.\]"):
        validate_config(c)
    c = _cfg("cifar10", "", dataset__partial=False)  # noise.kind real, no file, no own labels
    with pytest.raises(ValueError, match="or a dataset with its own labels"):
        validate_config(c)
    for pipeline in ("memory", "stream"):
        c = _cfg("clothing1m", files["clothing1m"][0], dataset__image_size=4)
        c.dataset.pipeline = pipeline
        c.transition.use, c.transition.estimator = "forward", "true"
        with pytest.raises(ValueError, match="publishes clean labels for 6 of its 24"):
            load_run_data(c)
    # runs on different folds cannot share one stream (a file dataset is no exception)
    c = _cfg("clothing1m", files["clothing1m"][0], dataset__pipeline="stream", dataset__num_folds=2)
    c.runs = ({"dataset.fold": 0}, {"dataset.fold": 1})
    with pytest.raises(ValueError, match="vmapped runs on different folds .* cannot share one"):
        load_run_data(c)


def _history(summary):
    return [
        {k: v for k, v in r.items() if k not in ("time", "elapsed")} for r in summary["history"]
    ]


@pytest.mark.parametrize("name", ["clothing1m", "mini_webvision"])
def test_streamed_file_dataset_gives_the_memory_pipelines_numbers(files, name):
    """One training on each pipeline, augmentation off: the same order (``data_seed = seed``),
    labels, clean labels, evaluation sets (Clothing1M's clean val, mini-WebVision's
    ``ilsvrc12_val``) and pixels (normalised), hence the same metrics, the same trained weights
    and the same logits on every evaluation set, to float rounding."""
    from robustloss.training.build import build_trainer
    from robustloss.training.feed import make_feed

    out = {}
    for pipeline in ("memory", "stream"):
        # 8 px from 12x10 files: the crop fraction matters (shorter side 8, not 8 / 0.875 = 9)
        c = _cfg(name, files[name][0], dataset__image_size=8, dataset__pipeline=pipeline)
        c.dataset.mean, c.dataset.std = (0.5, 0.4, 0.45), (0.25, 0.3, 0.2)
        c.dataset.threads, c.epoch_mode, c.num_epochs, c.batch_size = 2, "loop", 2, 8
        c.diagnostics.every = 1  # memory's default here; the stream's default is off
        validate_config(c)
        s = train(c, None, log=lambda s: None)
        data = load_run_data(c)  # the evaluation sets, through this pipeline's feed
        feed = make_feed(c, build_trainer(c, data), data)
        sets = {"test": data.x_test, **{n: x for n, (x, _) in (data.extra_eval or {}).items()}}
        if len(data.y_val):
            sets["val"] = data.x_val
        logits = {
            k: np.asarray(feed.predict(s["state"], feed.eval_input(x))) for k, x in sets.items()
        }
        feed.close()
        out[pipeline] = (s, logits)
    (mem, mem_logits), (st, st_logits) = out["memory"], out["stream"]
    assert st["complete"] and st["noise"] == mem["noise"]
    a, b = _history(st), _history(mem)
    assert [sorted(r) for r in a] == [sorted(r) for r in b]
    for ra, rb in zip(a, b, strict=True):
        for k in rb:
            if rb[k] is None:  # undefined (null) in both
                assert ra[k] is None, k
            else:
                np.testing.assert_allclose(ra[k], rb[k], rtol=1e-5, atol=1e-6, err_msg=k)
    for x, y in zip(
        jax.tree.leaves(st["state"].params), jax.tree.leaves(mem["state"].params), strict=True
    ):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    want = {"test", "val"} if name == "clothing1m" else {"test", "ilsvrc12_val"}
    assert set(st_logits) == set(mem_logits) == want
    for k in want:  # each pipeline's own state, fed its own evaluation inputs
        np.testing.assert_allclose(st_logits[k], mem_logits[k], rtol=1e-4, atol=1e-5, err_msg=k)
    last = a[-1]
    assert "train/acc_clean" not in last and "test/top1" in last
    if name == "clothing1m":
        assert "val/top1" in last and st["noise"]["rows_with_clean_label"] == 6
    else:
        assert {"ilsvrc12_val/top1", "ilsvrc12_val/top5"} <= set(last)


def test_sweep_cells_get_their_noise_report(c10n, tmp_path):
    from robustloss.sweep.worker import run_program

    d, _ = c10n
    c = _cfg("cifar10n", d, dataset__label_set="aggre")
    c.runs = ({"seed": 0}, {"seed": 1})
    out = run_program({"program_id": "p", "config": c.to_dict(), "workdir": str(tmp_path / "p"),
                       "cell_ids": ["a", "b"]})  # fmt: skip
    assert out["status"] == "done", out["error"]
    for cell in out["cells"]:
        assert cell["summary"]["noise"]["label_set"] == "aggre"
        assert isinstance(cell["history"][0]["noise/realised_rate"], float)
    assert os.path.isdir(tmp_path / "p")
