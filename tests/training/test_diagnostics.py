"""Per-example noise diagnostics: the metrics against a NumPy transcription, examples.parquet
against the metrics and the train state, and no effect on the trained numbers."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from configs import test as test_config
from robustloss.training import build_trainer, load_run_data, train
from robustloss.training.diagnostics import auroc, class_accuracy, flag_top, noise_metrics
from robustloss.transition import importance_weights


def _numpy_metrics(logits, labels, clean, valid, flag_rate, scores):
    """The module docstring's definitions, written out with NumPy."""
    logits = np.asarray(logits, np.float64)
    pred = logits.argmax(-1)  # continuous random logits: no ties
    m = logits.max(-1, keepdims=True)
    loss = (np.log(np.exp(logits - m).sum(-1)) + m[:, 0]) - logits[np.arange(len(labels)), labels]
    noisy = (labels != clean) & valid
    n_valid = int(valid.sum())
    k = int(noisy.sum()) if flag_rate < 0 else int(round(flag_rate * n_valid))
    order = [i for i in np.argsort(loss, kind="stable") if valid[i]]  # ties: later row higher
    flagged = np.zeros(len(labels), bool)
    flagged[order[len(order) - k :]] = True
    tp = (flagged & noisy).sum()
    out = {
        "noise/memorisation": (pred[noisy] == labels[noisy]).mean(),
        "noise/corrected": (pred[noisy] == clean[noisy]).mean(),
        "noise/detect_precision": tp / k,
        "noise/detect_recall": tp / noisy.sum(),
        "noise/auroc_loss": roc_auc_score(noisy[valid], loss[valid]),
    }
    for name, s in scores.items():
        out[f"noise/auroc_{name}"] = roc_auc_score(noisy[valid], np.asarray(s)[valid])
    return out


@pytest.mark.parametrize("flag_rate", [-1.0, 0.25])
def test_noise_metrics_equal_a_numpy_transcription(flag_rate):
    rng = np.random.default_rng(0)
    n, k = 300, 5
    clean = rng.integers(0, k, n)
    labels = np.where(rng.random(n) < 0.35, (clean + rng.integers(1, k, n)) % k, clean)
    # a model that has learnt part of the noise: logits favour the given label on some rows
    logits = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[np.where(rng.random(n) < 0.5, labels, clean)]
    valid = rng.random(n) < 0.9
    lam = rng.random(n) + 0.3 * (labels != clean)
    got = noise_metrics(
        jnp.asarray(logits, jnp.float32), labels, clean, valid, flag_rate=flag_rate,
        scores={"lam": jnp.asarray(lam, jnp.float32)},
    )  # fmt: skip
    want = _numpy_metrics(logits, labels, clean, valid, flag_rate, {"lam": lam})
    assert set(got) == set(want)
    for key, value in want.items():
        assert float(got[key]) == pytest.approx(value, abs=2e-6), key
    # the memorised share is over the noisy rows only: on all rows it would be much higher
    pred = logits.argmax(-1)
    assert abs(want["noise/memorisation"] - (pred[valid] == labels[valid]).mean()) > 0.2
    if flag_rate < 0:  # k = the realised number of noisy rows: precision = recall by design
        assert float(got["noise/detect_precision"]) == float(got["noise/detect_recall"])
    else:
        assert abs(want["noise/detect_precision"] - want["noise/detect_recall"]) > 0.1


def test_auroc_counts_ties_half_and_is_nan_without_both_classes():
    s = np.array([0.1, 0.4, 0.4, 0.8, 0.8, 0.2, np.inf])
    pos = np.array([False, True, False, True, False, True, True])
    valid = np.array([True] * 6 + [False])
    assert float(auroc(s, pos, valid)) == pytest.approx(roc_auc_score(pos[:6], s[:6]))
    assert np.isnan(float(auroc(s, np.zeros(7, bool))))
    assert float(auroc(np.array([1.0, 0.0]), np.array([True, False]))) == 1.0


def test_flag_top_and_class_accuracy():
    valid = np.array([1, 1, 1, 1, 0, 1], bool)
    flags = flag_top(np.array([0.5, 0.9, 0.9, 0.1, 2.0, 0.9]), 2, valid)
    # the invalid 2.0 is never flagged; of the three tied 0.9, the later rows come first
    assert flags.tolist() == [False, False, True, False, False, True]
    logits = jnp.array([[2.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 3.0], [1.0, 0.0, 0.0]])
    acc = class_accuracy(logits, jnp.array([0, 1, 2, 1]), 4)  # row 1 is a tie: not a hit
    np.testing.assert_array_equal(np.asarray(acc), [1.0, 0.0, 1.0, np.nan])


def _jsonl(path):
    with open(path) as f:
        return [json.loads(x) for x in f]


def test_examples_parquet_agrees_with_the_metrics_and_the_state(tmp_path):
    """Two vmapped ALDR-KL runs: the final noise/* metrics recomputed from examples.parquet, its
    λ column against the train state, per-class test accuracy against test/top1."""
    arg = "loss=aldr_kl,seeds=0/1,epochs=2,dataset.max_train=400,rate=0.4"
    cfg = test_config.get_config(arg)
    wd = str(tmp_path / "run")
    s = train(cfg, wd, log=lambda x: None)
    final = _jsonl(f"{wd}/metrics.jsonl")[-1]
    ex = pq.read_table(f"{wd}/examples.parquet").to_pandas()
    cols = ["run", "index", "label", "clean_label", "noisy", "pred", "loss", "flagged", "lam"]
    assert list(ex.columns) == cols and len(ex) == 2 * 400
    lam = np.asarray(jax.device_get(s["state"].aux.lam))
    for r in (0, 1):
        e = ex[ex["run"] == r].sort_values("index")
        noisy = e["noisy"].to_numpy()
        assert (noisy == (e["label"] != e["clean_label"])).all() and 0.3 < noisy.mean() < 0.5
        np.testing.assert_array_equal(e["lam"].to_numpy(), lam[r])
        mem = (e["pred"] == e["label"])[noisy].mean()
        assert final["noise/memorisation"][r] == pytest.approx(mem, abs=1e-6)
        assert final["noise/detect_recall"][r] == pytest.approx(e["flagged"][noisy].mean())
        assert e["flagged"].sum() == noisy.sum()  # k = the realised noise rate
        auc = roc_auc_score(noisy, e["loss"])
        assert final["noise/auroc_loss"][r] == pytest.approx(auc, abs=1e-6)
        assert final["noise/auroc_lam"][r] == pytest.approx(roc_auc_score(noisy, e["lam"]), 1e-6)
    data = load_run_data(cfg)
    counts = np.bincount(data.y_test, minlength=10)
    per_class = np.array([[final[f"test/class_acc/{c}"][r] for c in range(10)] for r in (0, 1)])
    np.testing.assert_allclose(per_class @ counts / counts.sum(), final["test/top1"], atol=1e-6)
    # the diagnostics change no trained number
    with cfg.unlocked():
        cfg.diagnostics.every, cfg.diagnostics.examples = 0, False
    plain = train(cfg, None, log=lambda x: None)["history"]
    assert not any(k.startswith(("noise/", "test/class_acc")) for k in plain[-1])
    for got, want in zip(_jsonl(f"{wd}/metrics.jsonl"), plain, strict=True):
        for k, v in want.items():
            if k not in ("time", "elapsed"):
                assert got[k] == v, k


def test_transition_weights_are_the_importance_weights_of_the_final_model(tmp_path):
    arg = "transition=reweight,transition.warmup_epochs=1,epochs=2,dataset.max_train=300"
    arg += ",transition.estimator=anchor,diagnostics.flag_rate=0.3"
    cfg = test_config.get_config(arg)
    wd = str(tmp_path / "rw")
    s = train(cfg, wd, log=lambda x: None)
    ex = pq.read_table(f"{wd}/examples.parquet").to_pandas()
    assert "weight" in ex.columns and "run" not in ex.columns
    assert ex["flagged"].sum() == round(0.3 * 300)
    data = load_run_data(cfg)
    trainer = build_trainer(cfg, data)
    logits = trainer.predict(s["state"], data.x_train)
    want = importance_weights(logits, data.y_train, s["state"].aux["T"])
    np.testing.assert_allclose(ex["weight"], np.asarray(want), rtol=1e-5)
    final = _jsonl(os.path.join(wd, "metrics.jsonl"))[-1]
    noisy = ex["noisy"].to_numpy()
    auc = roc_auc_score(noisy, -ex["weight"])
    assert final["noise/auroc_weight"] == pytest.approx(auc, abs=1e-6)
    prec = ex["noisy"][ex["flagged"]].mean()
    assert final["noise/detect_precision"] == pytest.approx(prec)
    assert final["noise/detect_recall"] == pytest.approx(ex["flagged"][noisy].mean())


def test_undefined_diagnostics_are_null_and_the_run_goes_on(tmp_path):
    """A packed run without noisy labels and classes missing from a 5-row test set: those
    metrics are null in metrics.jsonl (NaN would be refused as a broken number), the others
    are numbers."""
    cfg = test_config.get_config("epochs=1,dataset.max_train=200,dataset.max_test=5")
    with cfg.unlocked():
        cfg.runs = ({"seed": 0, "noise.rate": 0.0}, {"seed": 1, "noise.rate": 0.4})
    wd = str(tmp_path / "run")
    train(cfg, wd, log=lambda x: None)
    (line,) = _jsonl(f"{wd}/metrics.jsonl")
    mem = line["noise/memorisation"]
    assert mem[0] is None and isinstance(mem[1], float)  # run 0 has no noisy label
    data = load_run_data(cfg)
    present = set(np.asarray(data.y_test).tolist())
    assert 0 < len(present) < 10
    for c in range(10):
        acc = line[f"test/class_acc/{c}"]
        assert (acc == [None, None]) == (c not in present), c
