"""Tests of the training engine: metrics, optimizers, objective adapters, the step's maths,
1 vs 2 vs 4 devices, vmapped runs, resumption and the non-finite abort."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import load_digits

import robustloss
from robustloss.models import get_model
from robustloss.training import (
    NonFiniteLossError,
    Objective,
    Trainer,
    balanced_accuracy,
    classification_metrics,
    label_rank,
    make_mesh,
    make_optimizer,
    make_schedule,
    masked_mean,
    never,
    no_refresh,
    objective_from_loss,
    topk_accuracy,
)
from robustloss.training.optim import make_run_optimizer

CE = optax.softmax_cross_entropy_with_integer_labels


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    return x[:400], d.target[:400].astype(np.int32), x[1500:], d.target[1500:].astype(np.int32)


def _trainer(n, mode="scan", devices=1, lr=0.05, batch=64, objective=None, runs=None, **kw):
    obj = objective or objective_from_loss(CE)
    tx = make_optimizer("sgd", make_schedule(lr), momentum=0.9, weight_decay=5e-3)
    return Trainer(
        get_model("ffnn", 10, hidden=16),
        obj,
        tx,
        num_examples=n,
        num_classes=10,
        batch_size=batch,
        epoch_mode=mode,
        mesh=make_mesh(jax.devices()[:devices]),
        num_runs=runs,
        **kw,
    )


# --------------------------------------------------------------------------- metrics
def test_metrics_match_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 7)).astype(np.float32)
    labels = rng.integers(0, 7, size=50)
    mask = (rng.random(50) < 0.8).astype(np.float32)
    order = np.argsort(-logits, axis=1)
    for k in range(1, 6):
        hit = np.array([labels[i] in order[i, :k] for i in range(50)])
        np.testing.assert_allclose(
            topk_accuracy(logits, labels, k, mask), (hit * mask).sum() / mask.sum(), rtol=1e-6
        )
    pred = logits.argmax(1)
    recalls = [
        ((pred == c) & (labels == c) & (mask > 0)).sum() / ((labels == c) & (mask > 0)).sum()
        for c in range(7)
        if ((labels == c) & (mask > 0)).any()
    ]
    np.testing.assert_allclose(
        balanced_accuracy(logits, labels, 7, mask), np.mean(recalls), rtol=1e-6
    )
    m = classification_metrics(logits, labels, 7)
    assert sorted(m) == ["balanced_acc", "nonfinite", "top1", "top2", "top3", "top4", "top5"]


def test_metrics_never_count_nan_ties_or_bad_labels_as_hits():
    import doctest

    from robustloss.training import metrics as metrics_mod
    from robustloss.training import nonfinite_rows

    k = 4
    labels = jnp.array([0, 1, 2, 3])
    # NaN logits: never a hit, at any k; counted as non-finite rows.
    nan = jnp.full((4, k), jnp.nan)
    m = classification_metrics(nan, labels, k)
    assert [float(m[f"top{j}"]) for j in range(1, k + 1)] == [0.0] * k
    assert float(m["balanced_acc"]) == 0.0 and float(m["nonfinite"]) == 4.0
    # One NaN entry poisons its row only; +inf too.
    part = jnp.eye(k).at[0, 3].set(jnp.nan).at[1, 0].set(jnp.inf)
    m = classification_metrics(part, labels, k)
    assert float(m["top1"]) == 0.5 and float(m["nonfinite"]) == 2.0
    assert float(nonfinite_rows(part, jnp.array([1.0, 0.0, 1.0, 1.0]))) == 1.0
    # All-equal logits: ties count against the label (rank K-1): top-1 0, top-K 1.
    tied = jnp.zeros((4, k))
    np.testing.assert_array_equal(label_rank(tied, labels), [k - 1] * 4)
    m = classification_metrics(tied, labels, k)
    assert float(m["top1"]) == 0.0 and float(m[f"top{k}"]) == 1.0
    # A tie between the label and one other class is a miss at top-1, a hit at top-2.
    two = jnp.array([[1.0, 1.0, 0.0, 0.0]])
    assert float(topk_accuracy(two, jnp.array([0]), 1)) == 0.0
    assert float(topk_accuracy(two, jnp.array([1]), 2)) == 1.0
    # Out-of-range labels (-1 would wrap to K-1, K would be clipped): never a hit.
    good = jnp.eye(k)
    for bad in (-1, k, k + 5):
        lab = jnp.array([bad, 1, 2, 3])
        assert int(label_rank(good, lab)[0]) == k
        assert float(topk_accuracy(good, lab, k)) == 0.75
        m = classification_metrics(good.at[0, k - 1].set(9.0), lab, k)
        assert float(m["top1"]) == 0.75 and float(m["nonfinite"]) == 0.0
    assert float(topk_accuracy(good, jnp.full(4, -1), 1)) == 0.0
    # Balanced accuracy averages recall over the classes present only (2 of 4 here).
    lg = jnp.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [1.0, 0, 0, 0]])
    assert float(balanced_accuracy(lg, jnp.array([0, 1, 1]), 4)) == 0.75
    res = doctest.testmod(metrics_mod, extraglobs={"jnp": jnp})
    assert res.failed == 0 and res.attempted > 0


# --------------------------------------------------------------------------- optimizers
def test_sgd_is_pytorch_sgd_with_coupled_weight_decay_and_step_schedule():
    lr, mom, wd = 0.1, 0.9, 5e-3
    sched = make_schedule(lr, schedule="step", steps_per_epoch=2, decay_epochs=(1, 2))
    assert [round(float(sched(s)), 8) for s in range(6)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    tx = make_optimizer("sgd", sched, momentum=mom, weight_decay=wd)
    theta = jnp.array([1.0, -2.0])
    state = tx.init(theta)
    # PyTorch: d = g + wd*theta; buf = d (first step) else mom*buf + d; theta -= lr_t * buf.
    ref, buf = np.array([1.0, -2.0]), None
    for t in range(5):
        g = np.array([0.3, -0.1]) * (t + 1)
        upd, state = tx.update(jnp.asarray(g, jnp.float32), state, theta)
        theta = optax.apply_updates(theta, upd)
        d = g + wd * ref
        buf = d if buf is None else mom * buf + d
        ref = ref - float(sched(t)) * buf
    np.testing.assert_allclose(theta, ref, rtol=1e-5)
    with pytest.raises(ValueError, match=r"unknown optimizer 'rmsprop'; choose one of \['sgd'"):
        make_optimizer("rmsprop", sched)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; choose one of"):
        make_run_optimizer("rmsprop", 0.1, sched)
    with pytest.raises(ValueError, match=r"unknown schedule 'linear'; choose one of \['constant'"):
        make_schedule(0.1, schedule="linear")


# --------------------------------------------------------------------------- objectives
def test_objective_from_stateless_loss_is_masked_mean():
    obj = objective_from_loss(robustloss.get_loss("gce", q=0.5))
    logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [5.0, -5.0]])
    batch = {
        "label": jnp.array([0, 0, 1]),
        "index": jnp.array([0, 1, 3]),
        "mask": jnp.array([1.0, 1.0, 0.0]),
    }
    p = np.exp(np.asarray(logits)) / np.exp(np.asarray(logits)).sum(1, keepdims=True)
    per = (1 - p[[0, 1], [0, 0]] ** 0.5) / 0.5
    value, aux, metrics = obj.loss(logits, batch, obj.init(3, 2, None), None)
    np.testing.assert_allclose(value, per.mean(), rtol=1e-5)
    assert aux == {} and metrics == {}
    assert obj.refresh_due(3, 10) is False


def test_objective_from_stateful_loss_drops_padded_rows():
    loss = robustloss.get_loss("aldr_kl")
    obj = objective_from_loss(loss)
    aux0 = obj.init(4, 3, None)
    logits = jnp.array([[3.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    batch = {"label": jnp.array([0, 1]), "index": jnp.array([2, 4]), "mask": jnp.array([1.0, 0.0])}
    value, aux, _ = obj.loss(logits, batch, aux0, None)
    ref_values, ref_state = loss.apply(logits, batch["label"], aux0, index=batch["index"])
    np.testing.assert_allclose(value, ref_values[0], rtol=1e-6)  # only the real row counts
    for a, b in zip(jax.tree.leaves(aux), jax.tree.leaves(ref_state), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="StatefulLoss"):
        objective_from_loss(3)


# --------------------------------------------------------------------------- the step
@pytest.mark.parametrize("mode", ["scan", "loop"])
def test_one_step_equals_hand_gradient_with_padding(digits, mode):
    """One epoch = one step over 50 real + 14 padded rows equals SGD on the mean CE of 50."""
    x, y = digits[0][:50], digits[1][:50]
    model = get_model("ffnn", 10, hidden=16)
    tx = optax.sgd(0.5)
    tr = Trainer(
        model,
        objective_from_loss(CE),
        tx,
        num_examples=50,
        num_classes=10,
        batch_size=64,
        epoch_mode=mode,
        shuffle=True,
        mesh=make_mesh(jax.devices()[:2]),
    )
    state = tr.init(3, x)
    p0 = jax.device_get(state.params)
    state, m = tr.train_epoch(state, tr.prepare_train_data(x, y, y))

    def mean_ce(params):
        logits = model.apply({"params": params}, x)
        return jnp.mean(CE(logits, y))

    grads = jax.grad(mean_ce)(p0)
    expect = jax.tree.map(lambda p, g: p - 0.5 * g, p0, grads)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(expect), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m["loss"], mean_ce(p0), rtol=1e-5)
    pred = np.asarray(model.apply({"params": p0}, x)).argmax(1)
    np.testing.assert_allclose(m["acc_noisy"], (pred == y).mean(), rtol=1e-6)
    assert int(state.step) == 1 and int(state.epoch) == 1


def _train(tr, x, y, epochs=2, seed=0):
    state = tr.init(seed, x)
    data = tr.prepare_train_data(x, y, y)
    hist = []
    for _ in range(epochs):
        state, m = tr.train_epoch(state, data)
        hist.append(m)
    return state, hist


def test_one_vs_two_vs_four_devices_and_scan_vs_loop(digits):
    """Scan on 1 device is the reference; scan on 2 and 4 devices, and the Python loop on 1 and
    4 devices (syncing every 3 steps), give the same parameters, losses and accuracies."""
    x, y, xt, yt = digits
    out = {}
    for mode, n in (("scan", 1), ("scan", 2), ("scan", 4), ("loop", 1), ("loop", 4)):
        tr = _trainer(len(x), mode=mode, devices=n, sync_every=3)
        state, hist = _train(tr, x, y, epochs=1)
        out[mode, n] = (jax.device_get(state.params), hist, tr.evaluate(state, xt, yt))
    p0, h0, e0 = out["scan", 1]
    for params, hist, ev in out.values():
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(p0), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(hist[-1]["loss"], h0[-1]["loss"], rtol=1e-5)
        np.testing.assert_allclose(hist[-1]["acc_clean"], h0[-1]["acc_clean"], atol=1e-6)
        np.testing.assert_allclose(ev["top1"], e0["top1"], atol=1.5 / len(yt))


def test_vmapped_seeds_match_separate_runs(digits):
    x, y, xt, yt = digits
    seeds = [0, 1, 2, 3]
    tr = _trainer(len(x), runs=4, labels_per_run=True)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    state = tr.init(keys, x)
    data = tr.prepare_train_data(x, np.stack([y] * 4), y)
    state, m = tr.train_epoch(state, data)
    ev = tr.evaluate(state, xt, yt)
    assert len(m["loss"]) == 4
    one = _trainer(len(x))
    for r, s in enumerate(seeds):
        single, hist = _train(one, x, y, epochs=1, seed=s)
        for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(single.params), strict=True):
            np.testing.assert_allclose(a[r], b, rtol=1e-4, atol=1e-5)
        assert m["loss"][r] == pytest.approx(hist[-1]["loss"], rel=1e-5)
        assert ev["top1"][r] == pytest.approx(
            one.evaluate(single, xt, yt)["top1"], abs=1.5 / len(yt)
        )
    # Different seeds really give different runs.
    assert len({round(v, 6) for v in m["loss"]}) == 4


def test_non_finite_loss_aborts_with_epoch_and_step(digits):
    x, y = digits[0][:256], digits[1][:256]

    def nan_at_index_100(logits, batch, aux, key):
        values = CE(logits, batch["label"])
        values = jnp.where(batch["index"] == 100, jnp.nan, values)
        return masked_mean(values, batch["mask"]), aux, {}

    obj = Objective(
        init=lambda n, k, key: {}, loss=nan_at_index_100, refresh_due=never, refresh=no_refresh
    )
    for mode in ("scan", "loop"):
        tr = _trainer(256, mode=mode, objective=obj, shuffle=False)
        with pytest.raises(NonFiniteLossError, match=r"epoch 0 .*step 1 of 4"):
            _train(tr, x, y, epochs=1)


def test_isolated_runs_freeze_a_diverging_run_and_leave_the_others_exact(digits):
    """``train_epoch(alive=...)``: run 2's loss is NaN at step 1 (a marked label at index 100);
    it is frozen from that step (its state stays finite and no longer changes) and reported,
    while runs 0-1 are bitwise those of the same pack with a healthy run 2."""
    from robustloss.training.trainer import NONFINITE_KEY

    x, y = digits[0][:256], digits[1][:256].copy()
    y[100] = 0

    def nan_on_marked_label(logits, batch, aux, key):
        values = CE(logits, batch["label"])
        marked = (batch["index"] == 100) & (batch["label"] == 9)
        values = values * jnp.where(marked, jnp.nan, 1.0)  # NaN loss and gradients (run 2)
        return masked_mean(values, batch["mask"]), aux, {}

    obj = Objective(
        init=lambda n, k, key: {}, loss=nan_on_marked_label, refresh_due=never, refresh=no_refresh
    )
    marked = y.copy()
    marked[100] = 9
    keys = jnp.stack([jax.random.PRNGKey(s) for s in (0, 1, 2)])
    alive = np.ones(3, bool)
    out = {}
    for name, labels in (("diverging", marked), ("healthy", y)):
        tr = _trainer(256, objective=obj, runs=3, labels_per_run=True, shuffle=False)
        data = tr.prepare_train_data(x, np.stack([y, y, labels]), y)
        state, m = tr.train_epoch(tr.init(keys, x), data, alive=alive)
        out[name] = (tr, data, jax.device_get(state), m)
    tr, data, state, m = out["diverging"]
    assert m[NONFINITE_KEY][:2] == [None, None]
    assert m[NONFINITE_KEY][2] == {"epoch": 1, "step": 1, "global_step": 1, "value": "nan"}
    for leaf in jax.tree.leaves((state.params, state.opt_state)):
        assert np.isfinite(np.asarray(leaf, np.float64)[2]).all()  # frozen before the NaN
    healthy = out["healthy"][2]
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(healthy.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a)[:2], np.asarray(b)[:2])  # bitwise
    assert m["loss"][:2] == out["healthy"][3]["loss"][:2]
    # A stopped run stays frozen in later epochs; the others train on.
    later, m2 = tr.train_epoch(tr.put(state), data, alive=np.array([True, True, False]))
    later = jax.device_get(later)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(later.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a)[2], np.asarray(b)[2])
        assert not np.array_equal(np.asarray(a)[0], np.asarray(b)[0])
    assert int(np.asarray(later.step)[2]) == int(np.asarray(later.step)[0])  # still in step
    # Without isolation the first non-finite loss stops the whole program, naming its value.
    with pytest.raises(NonFiniteLossError, match=r"non-finite training loss \(nan\) in run 2"):
        tr.train_epoch(tr.init(keys, x), data)


_BASE: dict = {}


def _base_state(tr, x):
    if "state" not in _BASE:
        _BASE["state"] = jax.device_get(_trainer(256, mode="loop").init(0, x))
    return tr.put(_BASE["state"])


@pytest.mark.parametrize("name", robustloss.list_losses())
def test_every_registered_loss_trains(digits, name):
    """Each registry loss runs through the loop (1 epoch of 4 steps) with a finite loss."""
    x, y = digits[0][:256], digits[1][:256]
    hp = {"prune_start": 1, "prune_every": 1} if name == "tgce" else {}
    obj = objective_from_loss(robustloss.get_loss(name, **hp))
    tr = _trainer(256, mode="loop", objective=obj)
    # Reuse one initial model/optimizer state (saves a compilation per loss); fresh loss state.
    state = _base_state(tr, x)._replace(aux=tr.put(obj.init(256, 10, None)))
    p0 = jax.device_get(state.params)
    state, m = tr.train_epoch(state, tr.prepare_train_data(x, y, y))
    if obj.refresh_due(0, 2):
        state = tr.refresh(state, x, y)
    assert np.isfinite(m["loss"])
    moved = max(
        float(np.abs(a - b).max())
        for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(p0), strict=True)
    )
    assert moved > 0


def test_refresh_compiles_once_across_refreshes(digits):
    """``Trainer.refresh`` is traced once however many epochs it runs after (cf. chex's
    ``assert_max_traces``); the epoch still reaches the objective's refresh."""
    x, y, _, _ = digits
    traces, seen = [], []

    def refresh(aux, logits, labels, epoch):
        traces.append(1)  # runs only while tracing
        return {"epochs": aux["epochs"] + 0 * epoch, "last": epoch}

    base = objective_from_loss(CE)
    obj = Objective(
        init=lambda n, k, key: {"epochs": jnp.zeros((), jnp.int32), "last": jnp.int32(-1)},
        loss=lambda lg, b, aux, key: (base.loss(lg, b, {}, key)[0], aux, {}),
        refresh_due=lambda e, n: True,
        refresh=refresh,
    )
    tr = _trainer(len(y), objective=obj, batch=200)
    state = tr.init(0, x)
    data = tr.prepare_train_data(x, y)
    for _ in range(3):
        state, _ = tr.train_epoch(state, data)
        state = tr.refresh(state, x, y)
        seen.append(int(state.aux["last"]))
    assert len(traces) == 1
    assert seen == [0, 1, 2]


def test_epoch_stats_accumulate_like_hand_sums():
    from robustloss.training import EpochStats

    s = EpochStats.empty(["m"], has_clean=True)
    steps = [
        (2.0, [1, 1, 0], [0, 1, 2], [0, 2, 2], [0, 1, 1], 0.5),
        (4.0, [1, 0, 0], [1, 1, 1], [1, 0, 0], [0, 0, 0], 1.5),
    ]
    for i, (loss, mask, pred, noisy, clean, m) in enumerate(steps):
        s = s.update(
            loss=jnp.float32(loss),
            mask=jnp.asarray(mask, jnp.float32),
            pred=jnp.asarray(pred),
            labels=jnp.asarray(noisy),
            clean_labels=jnp.asarray(clean),
            step=jnp.int32(i),
            metrics={"m": jnp.float32(m)},
        )
    out = {k: float(v) for k, v in s.compute().items()}
    # 3 real rows: loss (2*2 + 4*1)/3; noisy hits (0,0),(1,0); clean hits (0,0),(0,1)
    assert out == pytest.approx(
        {"loss": 8 / 3, "acc_noisy": 2 / 3, "acc_clean": 2 / 3, "obj/m": 1.0}
    )
    bad = s.update(
        loss=jnp.float32(np.nan),
        mask=jnp.ones(3),
        pred=jnp.zeros(3, jnp.int32),
        labels=jnp.zeros(3, jnp.int32),
        clean_labels=jnp.zeros(3, jnp.int32),
        step=jnp.int32(7),
        metrics={"m": jnp.float32(0)},
    )
    assert int(bad.nonfinite) == 7 and int(s.nonfinite) == np.iinfo(np.int32).max


# --------------------------------------------------------------------------- randomness over time
def _recording_objective(n, steps):
    """CE, plus a record in ``aux`` of what each step saw: the step at which every example was
    drawn (``seen``), one uniform draw from the objective's key (``obj``), the augmented batch's
    first pixel (``aug``, the augmentation below writes uniform(k_aug) into the batch) and the
    same-shaped uniform draw from the objective's key (``same``: equals ``aug`` iff the two
    keys are equal)."""

    def init(num, k, key):
        return {
            "t": jnp.zeros((), jnp.int32),
            "seen": jnp.full((num + 1,), -1, jnp.int32),
            "obj": jnp.zeros((steps,)),
            "aug": jnp.zeros((steps,)),
            "same": jnp.zeros((steps,)),
        }

    def loss(logits, batch, aux, key):
        t = aux["t"]
        x = batch.get("x", jnp.zeros((1,)))  # absent when the trainer only traces shapes
        aux = {
            "t": t + 1,
            "seen": aux["seen"].at[batch["index"]].set(t, mode="drop"),
            "obj": aux["obj"].at[t].set(jax.random.uniform(key)),
            "aug": aux["aug"].at[t].set(x.reshape(-1)[0]),
            "same": aux["same"].at[t].set(jax.random.uniform(key, x.shape).reshape(-1)[0]),
        }
        aux = jax.lax.stop_gradient(aux)
        return masked_mean(CE(logits, batch["label"]), batch["mask"]), aux, {}

    return Objective(init=init, loss=loss, refresh_due=never, refresh=no_refresh)


def test_shuffle_and_step_keys_change_over_time_and_repeat_on_resume(digits):
    """Catches one shuffle reused every epoch, one PRNG key reused every step (objective draws,
    augmentation), the augmentation and objective sharing a key, the epoch counter not
    advancing, and runs of different seeds sharing a shuffle; and a resumed run (state saved
    after epoch 1, restored into a fresh trainer) sees exactly the orders and keys of an
    uninterrupted one."""
    x, y = digits[0][:256], digits[1][:256]
    steps_per_epoch, epochs = 4, 3
    obj = _recording_objective(256, steps_per_epoch * epochs)
    aug = lambda key, xb: jax.random.uniform(key, xb.shape)  # noqa: E731

    def make(runs=None):
        return _trainer(256, mode="loop", objective=obj, augment=aug, runs=runs)

    tr = make()
    data = tr.prepare_train_data(x, y)
    state = tr.init(0, x)
    snapshots = []
    for _ in range(epochs):
        state, _ = tr.train_epoch(state, data)
        snapshots.append(jax.device_get(state))
    assert int(state.epoch) == epochs and int(state.step) == epochs * steps_per_epoch
    aux = snapshots[-1].aux
    # Orders: epoch e's order is the examples sorted by the step that drew them (each example
    # once per epoch); after epoch e, ``seen`` holds steps of epoch e only.
    orders = []
    for snap in snapshots:
        seen = np.asarray(snap.aux["seen"][:256])
        orders.append(np.argsort(seen, kind="stable"))
        counts = np.bincount(seen - seen.min(), minlength=steps_per_epoch)
        assert counts.tolist() == [64] * steps_per_epoch  # a permutation, 64 per step
    for a, b in ((0, 1), (1, 2), (0, 2)):
        batches_a = [set(o) for o in np.split(orders[a], steps_per_epoch)]
        batches_b = [set(o) for o in np.split(orders[b], steps_per_epoch)]
        assert batches_a != batches_b, f"epochs {a} and {b} drew the same batches"
    # Keys: every step's objective and augmentation draws differ, and from each other.
    for name in ("obj", "aug"):
        v = np.asarray(aux[name])
        assert len(np.unique(v)) == len(v), f"a {name} key was reused across steps: {v}"
    assert not np.any(np.asarray(aux["aug"]) == np.asarray(aux["same"])), "k_aug == k_obj"
    # Resume after epoch 1: a fresh trainer restarts from the saved state.
    tr2 = make()
    resumed = tr2.put(snapshots[0])
    for _ in range(epochs - 1):
        resumed, _ = tr2.train_epoch(resumed, tr2.prepare_train_data(x, y))
    for a, b in zip(
        jax.tree.leaves(jax.device_get(resumed)), jax.tree.leaves(snapshots[-1]), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    # Runs of different seeds: different shuffles and keys (one vmapped program).
    trr = make(runs=2)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in (0, 1)])
    st, _ = trr.train_epoch(trr.init(keys, x), trr.prepare_train_data(x, np.stack([y, y])))
    seen = np.asarray(jax.device_get(st.aux["seen"]))[:, :256]
    assert not np.array_equal(seen[0], seen[1]), "two seeds drew the same batches"
    np.testing.assert_array_equal(seen[0], np.asarray(snapshots[0].aux["seen"][:256]))
    draws = np.asarray(jax.device_get(st.aux["obj"]))[:, :steps_per_epoch]
    assert not np.any(draws[0] == draws[1])
