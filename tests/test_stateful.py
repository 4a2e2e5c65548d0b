"""Tests for the per-example-state losses (robustloss.stateful): ALDR-KL and TGCE.

Each update rule is re-implemented below in plain NumPy (float64, one example at a time) and
followed step by step over several batches, including padded rows (index == N) and examples
that are visited again with a changed temperature.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp as np_logsumexp

import robustloss
from robustloss import stateful as S
from robustloss.losses import ldr_kl

N, K = 10, 4
# Batches of 4 indices; N marks padding. Examples 1, 3, 7 are visited more than once.
INDEX_STEPS = [[0, 1, 2, 3], [4, 5, N, N], [1, 3, 6, 7], [7, 8, 9, N], [3, 1, 0, 5]]


def np_softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def np_scores(h, score_norm):
    if score_norm == "softplus_mean":
        sp = np.logaddexp(0.0, h)
        return sp / sp.mean()
    if score_norm == "l1":
        return h / (np.abs(h).sum() / len(h))
    return h


class NumpyAldr:
    """Plain transcription of Algorithm 1 (both the paper's rule and the released code's)."""

    def __init__(self, n, alpha, lam0, margin, score_norm, update):
        self.lam = np.full(n, lam0, np.float64)
        self.alpha, self.lam0, self.margin = alpha, lam0, margin
        self.score_norm, self.update = score_norm, update

    def step(self, logits, labels, index):
        k = logits.shape[1]
        old = self.lam.copy()  # the whole batch reads the state before this step
        losses = []
        for h, y, i in zip(logits.astype(np.float64), labels, index, strict=True):
            s = np_scores(h, self.score_norm)
            lam_old = old[i] if i < len(old) else self.lam0
            off = (np.arange(k) != y).astype(np.float64)
            if self.update == "paper":
                p = np_softmax((s - s[y] + self.margin * off) / lam_old)
            else:
                p = np_softmax(s / lam_old) + 1e-5
                p = p / p.sum()
            kl = np.sum(np.where(p > 0, p * np.log(np.maximum(k * p, 1e-300)), 0.0))
            kl = min(max(kl, 0.0), math.log(k))
            lam = self.lam0 * (1 - kl / (self.alpha * math.log(k)))
            delta = s - s[y] + self.margin * off
            beta = self.alpha * math.log(k) / (2 * self.lam0)
            losses.append(
                lam * (np_logsumexp(delta / lam) - math.log(k)) - beta * (lam - self.lam0) ** 2
            )
            if i < len(self.lam):
                self.lam[i] = lam
        return np.array(losses)


@pytest.fixture(scope="module")
def batches():
    rng = np.random.default_rng(0)
    out = []
    for step, index in enumerate(INDEX_STEPS):
        scale = 1.0 + step  # growing confidence, so the temperatures keep moving
        out.append(
            (
                (scale * rng.normal(size=(4, K))).astype(np.float32),
                rng.integers(0, K, size=4).astype(np.int32),
                np.array(index, np.int32),
            )
        )
    return out


ALDR_SETTINGS = [
    dict(alpha=2.0, lam0=1.0, margin=0.1, score_norm="none", update="paper"),
    dict(alpha=2.0, lam0=1.0, margin=0.1, score_norm="none", update="code"),
    dict(alpha=3.0, lam0=0.5, margin=0.5, score_norm="l1", update="code"),
    dict(alpha=1.5, lam0=10.0, margin=1.0, score_norm="softplus_mean", update="paper"),
]


@pytest.mark.parametrize("hp", ALDR_SETTINGS, ids=lambda h: f"{h['update']}-{h['score_norm']}")
def test_aldr_kl_follows_numpy_transcription(hp, batches):
    sl = robustloss.get_loss("aldr_kl", **hp)
    assert isinstance(sl, robustloss.StatefulLoss) and sl.name == "aldr_kl"
    assert dict(sl.hparams) == hp
    ref = NumpyAldr(N, **hp)
    state = sl.init(N)
    assert state.lam.shape == (N,) and state.lam.dtype == jnp.float32
    np.testing.assert_allclose(state.lam, hp["lam0"])
    apply = jax.jit(sl.apply)
    for logits, labels, index in batches:
        loss, state = apply(logits, labels, state, index=index)
        expected = ref.step(logits, labels, index)
        real = index < N
        np.testing.assert_allclose(np.asarray(loss)[real], expected[real], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(state.lam, ref.lam, rtol=1e-6, atol=1e-6)
    # Temperatures moved, and stay in [lam0 (1 - 1/alpha), lam0].
    lam = np.asarray(state.lam)
    assert np.any(lam < hp["lam0"] * (1 - 1e-4))
    assert np.all(lam >= hp["lam0"] * (1 - 1 / hp["alpha"]) - 1e-6) and np.all(lam <= hp["lam0"])


def test_aldr_kl_padding_rows_are_dropped(batches):
    sl = S.aldr_kl(lam0=1.0)
    state = sl.init(N)
    logits, labels, _ = batches[-1]
    _, new = sl.apply(logits, labels, state, index=jnp.full(4, N))
    np.testing.assert_array_equal(new.lam, state.lam)


def test_padded_rows_never_read_a_stored_example(batches):
    """A padded row (index N, out of range) gets the value of a fresh state, whatever the
    stored per-example state: it never reads a real example's lambda or pruning flag."""
    logits, labels, _ = batches[-1]
    pad = jnp.full(len(labels), N)
    aldr = S.aldr_kl(lam0=1.0)
    moved = aldr.init(N)._replace(lam=jnp.linspace(0.55, 0.95, N))
    got, _ = aldr.apply(logits, labels, moved, index=pad)
    want, _ = aldr.apply(logits, labels, aldr.init(N), index=pad)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    tg = S.tgce(q=0.7, k=0.5)
    pruned = tg.init(N)._replace(mask=jnp.zeros(N))
    got, _ = tg.apply(logits, labels, pruned, index=pad)
    want, _ = tg.apply(logits, labels, tg.init(N), index=pad)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_aldr_kl_no_gradient_through_lambda(batches):
    """Danskin: the gradient is that of LDR-KL at the (fixed) new temperature."""
    sl = S.aldr_kl(lam0=1.0, margin=0.1)
    logits, labels, index = batches[2]
    state = sl.init(N)._replace(lam=jnp.linspace(0.6, 1.0, N))

    def total(f):
        loss, new = sl.apply(f, labels, state, index=index)
        return jnp.sum(loss), new

    grad, new = jax.grad(total, has_aux=True)(jnp.asarray(logits))
    lam_new = new.lam[index]
    delta = (
        logits
        - np.take_along_axis(logits, labels[:, None], 1)
        + 0.1 * (np.arange(K) != labels[:, None])
    )
    expected = jax.nn.softmax(delta / lam_new[:, None]) - jax.nn.one_hot(labels, K)
    np.testing.assert_allclose(grad, expected, atol=1e-5)
    np.testing.assert_allclose(
        jax.grad(lambda f: jnp.sum(ldr_kl(f, labels, lam=lam_new, margin=0.1)))(logits),
        expected,
        atol=1e-5,
    )


def test_aldr_kl_limits():
    """Uniform prediction keeps lam = lam0; the code rule ignores margin and label."""
    lam0, alpha = 2.0, 2.0
    flat = jnp.zeros((2, 5))
    lam = S.aldr_kl_lambda(
        flat,
        jnp.array([0, 3]),
        jnp.array([1.0, 2.0]),
        alpha=alpha,
        lam0=lam0,
        margin=0.0,
        update="paper",
    )
    np.testing.assert_allclose(lam, lam0, rtol=1e-6)
    f = jnp.array([[3.0, 1.0, 0.0, -1.0, 0.5]] * 2)
    a = S.aldr_kl_lambda(f, jnp.array([0, 2]), jnp.ones(2), lam0=lam0, margin=0.3, update="code")
    np.testing.assert_allclose(a[0], a[1], rtol=1e-6)
    b = S.aldr_kl_lambda(f, jnp.array([0, 2]), jnp.ones(2), lam0=lam0, margin=0.3, update="paper")
    assert abs(float(b[0] - b[1])) > 1e-3
    # Extremely confident: KL -> log K, lam -> lam0 (1 - 1/alpha), finite at +-1e4.
    big = jnp.array([[1e4, -1e4, -1e4, -1e4, -1e4]])
    for update in ("paper", "code"):
        lam = S.aldr_kl_lambda(
            big, jnp.array([0]), jnp.ones(1), alpha=alpha, lam0=lam0, update=update
        )
        np.testing.assert_allclose(lam, lam0 * (1 - 1 / alpha), rtol=1e-3)


@pytest.mark.parametrize("update", ["paper", "code"])
def test_aldr_kl_soft_labels_and_extremes(update, batches):
    sl = S.aldr_kl(update=update, score_norm="l1")
    logits, labels, index = batches[0]
    l_int, s_int = sl.apply(logits, labels, sl.init(N), index=index)
    l_hot, s_hot = sl.apply(logits, jax.nn.one_hot(labels, K), sl.init(N), index=index)
    np.testing.assert_allclose(l_hot, l_int, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s_hot.lam, s_int.lam, rtol=1e-6)
    extreme = jnp.array([[1e4, -1e4, 0.0, 1e4], [0.0] * 4, [-1e4] * 4, [1e4, 0, 0, 0]])
    for dtype in (jnp.float32, jnp.bfloat16):
        f = extreme.astype(dtype)
        for lab in (jnp.array([1, 0, 2, 0]), jnp.full((4, K), 0.25, dtype)):

            def total(x, lab=lab):
                return jnp.sum(sl.apply(x, lab, sl.init(N), index=jnp.arange(4))[0])

            val, grad = jax.value_and_grad(total)(f)
            assert np.isfinite(float(val)) and np.all(np.isfinite(np.asarray(grad, np.float32)))


def test_aldr_kl_vmap_over_runs(batches):
    """A batch of independent runs (e.g. seeds) vmapped into one program, state included."""
    sl = S.aldr_kl(lam0=1.0, update="code")
    (f0, y0, i0), (f1, y1, i1) = batches[0], batches[2]
    states = jax.vmap(lambda _: sl.init(N))(jnp.arange(2))
    step = jax.jit(jax.vmap(lambda f, y, st, i: sl.apply(f, y, st, index=i)))
    loss, states = step(jnp.stack([f0, f1]), jnp.stack([y0, y1]), states, jnp.stack([i0, i1]))
    for r, (f, y, i) in enumerate([(f0, y0, i0), (f1, y1, i1)]):
        one_loss, one_state = sl.apply(f, y, sl.init(N), index=i)
        np.testing.assert_allclose(loss[r], one_loss, rtol=1e-6)
        np.testing.assert_allclose(states.lam[r], one_state.lam, rtol=1e-6)
    # vmap over a hyperparameter (traced lam0) through get_loss.
    lam0s = jnp.array([0.5, 2.0])

    def run(lam0):
        s = robustloss.get_loss("aldr_kl", lam0=lam0)
        return s.apply(f0, y0, s.init(N), index=i0)

    losses, st = jax.vmap(run)(lam0s)
    for r, lam0 in enumerate([0.5, 2.0]):
        ref = NumpyAldr(N, alpha=2.0, lam0=lam0, margin=0.1, score_norm="none", update="paper")
        np.testing.assert_allclose(losses[r], ref.step(f0, y0, i0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(st.lam[r], ref.lam, rtol=1e-6)
    assert not sl.refresh_due(10, 100)
    assert sl.refresh(st, None, None) is st


# ---------------------------------------------------------------------------------------------
# TGCE


def np_lq(p, q):
    return (1 - p**q) / q


def test_tgce_follows_numpy_transcription(batches):
    q, k = 0.7, 0.5
    sl = robustloss.get_loss("tgce", q=q, k=k)
    assert sl.name == "tgce" and sl.hparams["schedule"] == "paper"
    state = sl.init(N)
    np.testing.assert_array_equal(state.mask, np.ones(N))
    mask = np.ones(N)
    rng = np.random.default_rng(3)
    apply, refresh = jax.jit(sl.apply), jax.jit(sl.refresh)
    for _epoch in range(3):
        for logits, labels, index in batches:
            loss, state = apply(logits, labels, state, index=index)
            p = np.array(
                [np_softmax(h.astype(np.float64))[y] for h, y in zip(logits, labels, strict=True)]
            )
            v = np.array([mask[i] if i < N else 1.0 for i in index])
            expected = v * np_lq(p, q) + (1 - v) * np_lq(k, q)
            real = index < N
            np.testing.assert_allclose(np.asarray(loss)[real], expected[real], rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(state.mask, mask)  # apply never changes the state
        # Eval pass over the whole training set, then refresh: v_i = 1[p_y > k].
        all_logits = (3 * rng.normal(size=(N, K))).astype(np.float32)
        all_labels = rng.integers(0, K, N).astype(np.int32)
        state = refresh(state, all_logits, all_labels)
        p_all = np.array(
            [
                np_softmax(h.astype(np.float64))[y]
                for h, y in zip(all_logits, all_labels, strict=True)
            ]
        )
        mask = (p_all > k).astype(np.float64)
        np.testing.assert_array_equal(state.mask, mask)
        assert 0 < mask.sum() < N  # both kinds present, so the next epoch tests both branches


def test_tgce_pruned_examples_have_no_gradient(batches):
    sl = S.tgce(q=0.7, k=0.5)
    logits, labels, index = batches[0]
    state = S.TgceState(mask=jnp.array([1.0, 0.0] * (N // 2)))
    grad = jax.grad(lambda f: jnp.sum(sl.apply(f, labels, state, index=index)[0]))(logits)
    kept = np.asarray(state.mask)[index] > 0
    assert np.all(grad[~kept] == 0) and np.all(np.abs(grad[kept]).sum(-1) > 0)
    # Soft labels (one-hot) agree with int labels, in apply and refresh.
    one_hot = jax.nn.one_hot(labels, K)
    np.testing.assert_allclose(
        sl.apply(logits, one_hot, state, index=index)[0],
        sl.apply(logits, labels, state, index=index)[0],
        rtol=1e-6,
    )
    f_all = jnp.asarray(np.random.default_rng(1).normal(size=(N, K)) * 3, jnp.float32)
    y_all = jnp.arange(N) % K
    np.testing.assert_array_equal(
        sl.refresh(state, f_all, jax.nn.one_hot(y_all, K)).mask,
        sl.refresh(state, f_all, y_all).mask,
    )
    with pytest.raises(ValueError, match="whole training set"):
        sl.refresh(state, f_all[:5], y_all[:5])


def test_tgce_schedules():
    paper = S.tgce()
    due = [e for e in range(120) if paper.refresh_due(e, 120)]
    assert due == [39, 49, 59, 69, 79, 89, 99, 109, 119]
    custom = S.tgce(prune_start=5, prune_every=3)
    assert [e for e in range(12) if custom.refresh_due(e, 12)] == [4, 7, 10]
    code = S.tgce(schedule="code")
    assert [e for e in range(100) if code.refresh_due(e, 100)] == [59, 69, 79, 89, 99]
    assert [e for e in range(30) if code.refresh_due(e, 30)] == [19, 29]


def test_tgce_jit_vmap_and_extremes(batches):
    sl = S.tgce(q=0.7, k=0.5)
    logits, labels, index = batches[0]
    states = S.TgceState(mask=jnp.stack([jnp.ones(N), jnp.zeros(N)]))
    loss, _ = jax.jit(jax.vmap(lambda st: sl.apply(logits, labels, st, index=index)))(states)
    np.testing.assert_allclose(loss[1], np_lq(0.5, 0.7))
    np.testing.assert_allclose(
        loss[0], robustloss.losses.generalized_cross_entropy(logits, labels, q=0.7), rtol=1e-6
    )
    big = jnp.array([[1e4, -1e4, 0.0, 1e4]] * 4, jnp.bfloat16)
    grad = jax.grad(lambda f: jnp.sum(sl.apply(f, labels, sl.init(N), index=index)[0]))(big)
    assert np.all(np.isfinite(np.asarray(grad, np.float32)))


# ---------------------------------------------------------------------------------------------
# Bad hyperparameters.

BAD = [
    ("aldr_kl", dict(alpha=1.0), r"alpha must be in \(1, inf\)"),
    ("aldr_kl", dict(lam0=0.0), r"lam0 must be in \(0, inf\)"),
    ("aldr_kl", dict(margin=-0.1), r"margin must be in \[0, inf\)"),
    ("aldr_kl", dict(update="exact"), "'paper', 'code'"),
    ("aldr_kl", dict(score_norm="l2"), "softplus_mean"),
    ("tgce", dict(q=1.5), r"q must be in \(0, 1\]"),
    ("tgce", dict(k=1.0), r"k must be in \[0, 1\)"),
    ("tgce", dict(schedule="never"), "'paper', 'code'"),
    ("tgce", dict(prune_every=0), "prune_every must be an int >= 1"),
    ("tgce", dict(prune_start=4.5), "prune_start must be a Python int"),
]


@pytest.mark.parametrize(("name", "hp", "match"), BAD, ids=[f"{b[0]}-{list(b[1])[0]}" for b in BAD])
def test_bad_hparams(name, hp, match):
    with pytest.raises(ValueError, match=match):
        robustloss.get_loss(name, **hp)
