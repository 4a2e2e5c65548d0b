"""Tests for the stateless losses (robustloss.losses) through the registry and directly.

Every loss is checked against an independent float64 NumPy transcription of its published
formula written below (values and finite-difference gradients), plus identities, limits,
symmetry, int-vs-probability labels, extreme inputs and jit/vmap/grad.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp as np_logsumexp

import robustloss
from robustloss import losses as L
from robustloss.registry import is_stateful

STATELESS = [n for n in robustloss.list_losses() if not is_stateful(n)]

# Non-default hyperparameters, to check that every hyperparameter is wired through.
CUSTOM = {
    "ce": {},
    "mae": {},
    "mse": {},
    "nce": {},
    "gce": dict(q=0.3),
    "sce": dict(alpha=0.5, beta=2.0, A=-6.0),
    "rce": dict(A=-9.21),
    "nce_rce": dict(alpha=5.0, beta=5.0, A=math.log(1e-4)),
    "agce": dict(a=3.0, q=1.5),
    "aul": dict(a=3.0, q=2.0),
    "nce_agce": dict(alpha=0.1, beta=9.9, a=2.0, q=3.0),
    "nce_aul": dict(alpha=9.9, beta=0.1, a=2.5, q=1.2),
    "js": dict(pi1=0.9),
    "rll": dict(alpha=0.1),
    "cs": dict(margin=0.1),
    "ww": dict(margin=10.0, reduction="mean"),
    "ldr_kl": dict(lam=10.0, margin=1.0, score_norm="softplus_mean"),
    "focal": dict(gamma=0.5),
    "ls": dict(epsilon=0.3),
    "taylor_ce": dict(order=6),
    "poly1": dict(epsilon=-0.5),
}
EXTRA = [
    ("ldr_kl", dict(lam=0.1, margin=0.1, score_norm="l1")),
    ("ldr_kl", dict(lam=0.5, margin=0.0, score_norm="none")),
    ("ww", dict(margin=0.5)),
    ("taylor_ce", dict(order=1)),
    ("js", dict(pi1=0.1)),
]
CASES = [(n, {}) for n in STATELESS] + [(n, CUSTOM[n]) for n in STATELESS if CUSTOM[n]] + EXTRA


def ids(cases):
    return [f"{n}-{'-'.join(f'{k}={v}' for k, v in h.items()) or 'default'}" for n, h in cases]


CASE_IDS = ids(CASES)


# Jitted entry points: a few compilations per loss (a Loss is a pytree whose numeric
# hyperparameters are leaves), much cheaper than op-by-op eager dispatch on 2 shared cores.
call = jax.jit(lambda loss, f, y: loss(f, y))


def _value_and_grad(loss, f, y):
    """Per-example losses and the gradient of their sum, with a single forward pass."""
    per, pullback = jax.vjp(lambda x: loss(x, y), f)
    return per, pullback(jnp.ones_like(per))[0]


value_and_grad = jax.jit(jax.value_and_grad(lambda f, loss, y: jnp.sum(loss(f, y))))


# ---------------------------------------------------------------------------------------------
# Independent NumPy transcriptions (float64, one example at a time, straight from the papers).


def np_softmax(f):
    e = np.exp(f - f.max())
    return e / e.sum()


def np_scores(h, score_norm):
    k = h.shape[-1]
    if score_norm == "softplus_mean":
        sp = np.logaddexp(0.0, h)
        return sp / sp.mean()
    if score_norm == "l1":
        return h / (np.abs(h).sum() / k)
    return h


def np_loss(name, f, y, **h):  # noqa: C901 - one branch per published formula
    hp = {**robustloss.loss_hparams(name), **h}
    f = np.asarray(f, np.float64)
    k = f.shape[-1]
    p = np_softmax(f)
    e = np.eye(k)[y]
    ce = -np.log(p[y])
    others = np.arange(k) != y

    def rce(a_):  # -sum_k p_k log(e_k), log 0 := A
        log_e = np.where(e > 0, 0.0, a_)
        return -np.sum(p * log_e)

    def nce():
        return np.log(p[y]) / np.sum(np.log(p))

    def agce(a, q):
        return ((a + 1) ** q - (a + p[y]) ** q) / q

    def aul(a, q):
        return ((a - p[y]) ** q - (a - 1) ** q) / q

    if name == "ce":
        return ce
    if name == "mae":
        return np.abs(e - p).sum()
    if name == "mse":
        return ((e - p) ** 2).sum()
    if name == "gce":
        return (1 - p[y] ** hp["q"]) / hp["q"]
    if name == "rce":
        return rce(hp["A"])
    if name == "sce":
        return hp["alpha"] * ce + hp["beta"] * rce(hp["A"])
    if name == "nce":
        return nce()
    if name == "nce_rce":
        return hp["alpha"] * nce() + hp["beta"] * rce(hp["A"])
    if name == "agce":
        return agce(hp["a"], hp["q"])
    if name == "aul":
        return aul(hp["a"], hp["q"])
    if name == "nce_agce":
        return hp["alpha"] * nce() + hp["beta"] * agce(hp["a"], hp["q"])
    if name == "nce_aul":
        return hp["alpha"] * nce() + hp["beta"] * aul(hp["a"], hp["q"])
    if name == "js":
        pi1 = hp["pi1"]
        m = pi1 * e + (1 - pi1) * p
        kl_em = np.log(1.0 / m[y])
        kl_pm = np.sum(p * np.log(p / m))
        return (pi1 * kl_em + (1 - pi1) * kl_pm) / (-(1 - pi1) * np.log(1 - pi1))
    if name == "rll":
        a = hp["alpha"]
        return np.log((a + 1) / a) - np.log(a + p[y]) + np.sum(np.log(a + p[others])) / (k - 1)
    if name == "cs":
        return max(0.0, np.max(f[others] - f[y] + hp["margin"]))
    if name == "ww":
        total = np.sum(np.maximum(0.0, f[others] - f[y] + hp["margin"]))
        return total / k if hp["reduction"] == "mean" else total
    if name == "ldr_kl":
        s = np_scores(f, hp["score_norm"])
        d = s - s[y] + hp["margin"] * others
        lam = hp["lam"]
        return lam * (np_logsumexp(d / lam) - np.log(k))
    if name == "focal":
        return -((1 - p[y]) ** hp["gamma"]) * np.log(p[y])
    if name == "ls":
        t = (1 - hp["epsilon"]) * e + hp["epsilon"] / k
        return -np.sum(t * np.log(p))
    if name == "taylor_ce":
        return sum((1 - p[y]) ** j / j for j in range(1, hp["order"] + 1))
    if name == "poly1":
        return ce + hp["epsilon"] * (1 - p[y])
    raise AssertionError(name)


def np_batch(name, f, y, **h):
    return np.array([np_loss(name, fi, yi, **h) for fi, yi in zip(f, y, strict=True)])


def np_soft(name, f, soft, **h):
    """sum_y q_y loss(f, y): the documented probability-label semantics."""
    k = f.shape[-1]
    per_y = np.stack([np_batch(name, f, np.full(len(f), c), **h) for c in range(k)], -1)
    return np.sum(soft * per_y, -1)


def np_grad(name, f, y, eps=1e-6, **h):
    """Central finite differences of sum_i loss(f_i, y_i) in float64."""
    g = np.zeros_like(f, dtype=np.float64)
    for i in range(f.shape[0]):
        for j in range(f.shape[1]):
            up, dn = f[i].astype(np.float64).copy(), f[i].astype(np.float64).copy()
            up[j] += eps
            dn[j] -= eps
            g[i, j] = (np_loss(name, up, y[i], **h) - np_loss(name, dn, y[i], **h)) / (2 * eps)
    return g


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    f = rng.normal(scale=2.0, size=(6, 5)).astype(np.float32)
    y = rng.integers(0, 5, size=6).astype(np.int32)
    q = rng.dirichlet(np.ones(5), size=6).astype(np.float32)
    return f, y, q


# ---------------------------------------------------------------------------------------------
# Values and gradients vs the transcriptions.


@jax.jit
def evaluate(loss, f, y, one_hot, soft):
    """Per-example losses for int / one-hot / soft labels and the gradient, in one compile."""
    per_int, grad = _value_and_grad(loss, f, y)
    return per_int, loss(f, one_hot), loss(f, soft), grad


@pytest.mark.parametrize(("name", "hp"), CASES, ids=CASE_IDS)
def test_matches_numpy_transcription(name, hp, data):
    """Values (int, one-hot and probability labels) and gradients vs the float64 NumPy code."""
    f, y, q = data
    loss = robustloss.get_loss(name, **hp)
    per_int, per_onehot, per_soft, grad = evaluate(loss, f, y, jax.nn.one_hot(y, 5), q)
    assert per_int.shape == (6,) and per_int.dtype == np.float32
    np.testing.assert_allclose(per_int, np_batch(name, f, y, **hp), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(per_onehot, per_int, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(per_soft, np_soft(name, f, q, **hp), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(grad, np_grad(name, f, y, **hp), rtol=2e-4, atol=2e-4)


def test_hand_computed_values():
    """A few values worked out by hand for logits (2, 0.5, -1), label 0."""
    f, y = jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])
    z = math.exp(2.0) + math.exp(0.5) + math.exp(-1.0)
    p0 = math.exp(2.0) / z
    np.testing.assert_allclose(L.cross_entropy(f, y), [-math.log(p0)], rtol=1e-6)
    np.testing.assert_allclose(L.mean_absolute_error(f, y), [2 * (1 - p0)], rtol=1e-6)
    np.testing.assert_allclose(L.crammer_singer_hinge(f, jnp.array([1])), [2.5], rtol=1e-6)
    np.testing.assert_allclose(L.weston_watkins_hinge(f, jnp.array([2])), [4.0 + 2.5], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Identities and limits.


def test_ldr_kl_special_cases(data):
    f, y, _ = data
    k = f.shape[-1]
    ce = L.cross_entropy(f, y)
    np.testing.assert_allclose(L.ldr_kl(f, y, lam=1.0, margin=0.0), ce - math.log(k), atol=2e-6)
    # Temperature-scaled CE: lam * (CE(f / lam) - log K).
    np.testing.assert_allclose(
        L.ldr_kl(f, y, lam=3.0, margin=0.0),
        3.0 * (L.cross_entropy(f / 3.0, y) - math.log(k)),
        atol=1e-5,
    )
    for margin in (0.0, 0.1, 1.0):
        cs = L.crammer_singer_hinge(f, y, margin=margin)
        lam = 1e-4
        small = L.ldr_kl(f, y, lam=lam, margin=margin)
        assert np.all(small <= cs + 1e-5) and np.all(small >= cs - lam * math.log(k) - 1e-5)
        delta = f - np.take_along_axis(f, y[:, None], 1) + margin * (np.arange(k) != y[:, None])
        np.testing.assert_allclose(
            L.ldr_kl(f, y, lam=1e6, margin=margin), delta.mean(-1), rtol=1e-4, atol=1e-4
        )
    # Non-increasing in lam, between mean and max of delta.
    lams = [0.01, 0.1, 1.0, 10.0, 100.0]
    vals = np.stack([L.ldr_kl(f, y, lam=lam) for lam in lams])
    assert np.all(np.diff(vals, axis=0) <= 1e-6)


def test_gce_limits(data):
    f, y, _ = data
    np.testing.assert_allclose(
        L.generalized_cross_entropy(f, y, q=1e-5), L.cross_entropy(f, y), rtol=1e-3
    )
    np.testing.assert_allclose(
        L.generalized_cross_entropy(f, y, q=1.0), L.mean_absolute_error(f, y) / 2, atol=1e-6
    )


def test_reductions_to_cross_entropy(data):
    f, y, _ = data
    ce = L.cross_entropy(f, y)
    np.testing.assert_allclose(L.symmetric_cross_entropy(f, y, alpha=0.7, beta=0.0), 0.7 * ce)
    np.testing.assert_allclose(L.softmax_focal_loss(f, y, gamma=0.0), ce, rtol=1e-6)
    np.testing.assert_allclose(L.poly1_cross_entropy(f, y, epsilon=0.0), ce, rtol=1e-6)
    np.testing.assert_allclose(L.label_smoothing_cross_entropy(f, y, epsilon=0.0), ce)
    np.testing.assert_allclose(L.taylor_cross_entropy(f, y, order=400), ce, rtol=2e-3)
    np.testing.assert_allclose(
        L.taylor_cross_entropy(f, y, order=1), L.mean_absolute_error(f, y) / 2, atol=1e-6
    )


def test_combinations_are_sums(data):
    f, y, _ = data
    nce = L.normalized_cross_entropy(f, y)
    np.testing.assert_allclose(
        L.nce_plus_rce(f, y, alpha=2.0, beta=3.0, A=-5.0),
        2.0 * nce + 3.0 * L.reverse_cross_entropy(f, y, A=-5.0),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        L.nce_plus_agce(f, y, alpha=2.0, beta=3.0, a=2.0, q=1.2),
        2.0 * nce + 3.0 * L.asymmetric_generalized_cross_entropy(f, y, a=2.0, q=1.2),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        L.nce_plus_aul(f, y, alpha=2.0, beta=3.0, a=2.0, q=1.2),
        2.0 * nce + 3.0 * L.asymmetric_unhinged_loss(f, y, a=2.0, q=1.2),
        rtol=1e-6,
    )


def test_sce_code_form_and_apl_rce_constant(data):
    """The LDR code's SCE ((1-b) CE + 4 b (1-p_y)) and APL's RCE (A = log 1e-4)."""
    f, y, _ = data
    b = 0.3
    p_y = np.exp(-np.asarray(L.cross_entropy(f, y)))
    code_sce = (1 - b) * L.cross_entropy(f, y) + b * 4.0 * (1 - p_y)
    np.testing.assert_allclose(
        L.symmetric_cross_entropy(f, y, alpha=1 - b, beta=b, A=-4.0), code_sce, rtol=1e-5
    )
    clamped = np.clip(np.eye(5)[y], 1e-4, 1.0)  # APL: -sum_k p_k log(clamp(e_y, 1e-4))
    p = jax.nn.softmax(f)
    apl_rce = -np.sum(p * np.log(clamped), -1)
    np.testing.assert_allclose(L.reverse_cross_entropy(f, y, A=math.log(1e-4)), apl_rce, rtol=1e-5)


def test_score_norms(data):
    f, _, _ = data
    sp = L.normalize_scores(f, "softplus_mean")
    np.testing.assert_allclose(np.sum(sp, -1), 5.0, rtol=1e-5)
    assert np.all(sp >= 0)
    l1 = L.normalize_scores(f, "l1")
    np.testing.assert_allclose(np.sum(np.abs(l1), -1), 5.0, rtol=1e-5)
    np.testing.assert_allclose(L.normalize_scores(f, "none"), f)
    # Underflow / zero norm: finite, with the limit values.
    h = jnp.array([[-1e4, -1e4, -1e4], [0.0, 0.0, 0.0], [-200.0, -201.0, 1e4]])
    for norm in ("softplus_mean", "l1"):
        out = L.normalize_scores(h, norm)
        g = jax.grad(lambda x, norm=norm: jnp.sum(L.normalize_scores(x, norm)[:, 0]))(h)
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(g)), norm
    np.testing.assert_allclose(L.normalize_scores(h, "softplus_mean")[0], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(L.normalize_scores(h, "l1")[1], [0.0, 0.0, 0.0])


# ---------------------------------------------------------------------------------------------
# Symmetry: sum_y loss(f, y) is a constant exactly for the symmetric losses.

SYMMETRIC = {
    "mae": ({}, lambda k: 2 * (k - 1)),
    "nce": ({}, lambda k: 1.0),
    "rce": (dict(A=-4.0), lambda k: 4.0 * (k - 1)),
    "nce_rce": (dict(alpha=0.7, beta=2.0, A=-4.0), lambda k: 0.7 + 2.0 * 4.0 * (k - 1)),
    "rll": (dict(alpha=0.5), lambda k: k * math.log(3.0)),
    "gce": (dict(q=1.0), lambda k: k - 1.0),
}
NOT_SYMMETRIC = [(n, {}) for n in STATELESS if n not in {"mae", "nce", "rce", "nce_rce", "rll"}]


def _sum_over_labels(loss, f):
    k = f.shape[-1]
    labels = [np.full(f.shape[0], c, np.int32) for c in range(k)]
    return sum(np.asarray(call(loss, f, lab), np.float64) for lab in labels)


@pytest.mark.parametrize("name", list(SYMMETRIC))
def test_symmetric_losses(name):
    hp, const = SYMMETRIC[name]
    f = np.random.default_rng(1).normal(scale=3.0, size=(32, 7)).astype(np.float32)
    total = _sum_over_labels(robustloss.get_loss(name, **hp), f)
    np.testing.assert_allclose(total, const(7), rtol=1e-5)


@pytest.mark.parametrize(("name", "hp"), NOT_SYMMETRIC, ids=[n for n, _ in NOT_SYMMETRIC])
def test_not_symmetric_losses(name, hp):
    f = np.random.default_rng(1).normal(scale=3.0, size=(32, 7)).astype(np.float32)
    total = _sum_over_labels(robustloss.get_loss(name, **hp), f)
    assert np.std(total) > 1e-4 * max(1.0, abs(np.mean(total)))  # float32 noise is ~1e-6


# ---------------------------------------------------------------------------------------------
# Extreme and ill-conditioned inputs.

BIG = 1e4
EXTREME = np.array(
    [
        [BIG, -BIG, 0.0, BIG, -BIG],
        [BIG, -BIG, 0.0, BIG, -BIG],
        [BIG, BIG, BIG, BIG, BIG],
        [-BIG, -BIG, -BIG, -BIG, -BIG],
        [BIG, 0.0, 0.0, 0.0, 0.0],
        [-BIG, BIG, BIG, -BIG, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [1.0, 1.0 + 1e-6, 1.0 - 1e-6, 1.0, 1.0],
        [1e-30, -1e-30, 0.0, 1e-30, 0.0],
    ],
    np.float32,
)
EXTREME_Y = np.array([1, 0, 2, 3, 0, 0, 4, 2, 1], np.int32)
# Defaults plus the non-default settings that change the numerics (pow exponents < 1, tiny
# alpha/pi1, negative epsilon, small lam, the score normalisations).
EXTREME_CASES = (
    [(n, {}) for n in STATELESS]
    + [
        ("focal", dict(gamma=0.5)),
        ("rll", dict(alpha=0.1)),
        ("poly1", dict(epsilon=-0.5)),
        ("js", dict(pi1=0.9)),
        ("gce", dict(q=0.3)),
        ("nce_rce", CUSTOM["nce_rce"]),
        ("ldr_kl", CUSTOM["ldr_kl"]),
    ]
    + [c for c in EXTRA if c[0] != "ww"]
)
EXTREME_IDS = ids(EXTREME_CASES)


@jax.jit
def extreme(loss, f, y, soft, f_bf16, soft_bf16):
    out = []
    for x, s in ((f, soft), (f_bf16, soft_bf16)):
        out += [*_value_and_grad(loss, x, y), *_value_and_grad(loss, x, s)]
    return tuple(out)


@pytest.mark.parametrize(("name", "hp"), EXTREME_CASES, ids=EXTREME_IDS)
def test_finite_at_extreme_logits(name, hp):
    """Values and gradients finite at logits ±1e4 (float32 and bfloat16; int and soft labels)."""
    loss = robustloss.get_loss(name, **hp)
    f32 = jnp.asarray(EXTREME, jnp.float32)
    soft = jnp.full(EXTREME.shape, 0.2, jnp.float32)
    outs = extreme(loss, f32, EXTREME_Y, soft, f32.astype(jnp.bfloat16), soft.astype(jnp.bfloat16))
    for arr in outs:
        assert np.all(np.isfinite(np.asarray(arr, np.float32))), (name, arr)
    assert outs[1].dtype == jnp.float32 and outs[5].dtype == jnp.bfloat16
    # Label at +BIG alone: the CE-like losses reach their minimum 0 exactly.
    if name in {"ce", "mae", "mse", "gce", "rce", "nce", "focal", "taylor_ce", "poly1"}:
        np.testing.assert_allclose(np.asarray(outs[0])[4], 0.0, atol=1e-6)
        np.testing.assert_allclose(np.asarray(outs[4], np.float32)[4], 0.0, atol=1e-6)


def test_equal_logits():
    # Equal logits: p = 1/K, so losses take their textbook values.
    eq = jnp.zeros((1, 4))
    np.testing.assert_allclose(L.cross_entropy(eq, jnp.array([0])), [math.log(4)], rtol=1e-6)
    np.testing.assert_allclose(L.normalized_cross_entropy(eq, jnp.array([0])), [0.25], rtol=1e-6)
    np.testing.assert_allclose(L.ldr_kl(eq, jnp.array([0]), margin=0.0), [0.0], atol=1e-7)


# ---------------------------------------------------------------------------------------------
# Transformations.


# Defaults, plus the score normalisations (their code paths differ); every numeric
# hyperparameter is swept at two values in each case.
TRANSFORM_CASES = [(n, {}) for n in STATELESS] + [
    ("ldr_kl", CUSTOM["ldr_kl"]),
    EXTRA[0],
    ("ww", CUSTOM["ww"]),
]


@pytest.mark.parametrize(("name", "hp"), TRANSFORM_CASES, ids=ids(TRANSFORM_CASES))
def test_jit_vmap_traced_hparams_and_shift(name, hp, data):
    """Under one jit: vmap over a "runs" axis, vmap over every numeric hyperparameter (traced
    values, built through get_loss), and the f -> f ± 1e4 shift invariance of raw-logit losses."""
    f, y, _ = data
    full = {**robustloss.loss_hparams(name), **hp}
    numeric = {k: v for k, v in full.items() if not isinstance(v, str) and k != "order"}
    static = {k: v for k, v in full.items() if k not in numeric}
    second = {k: v * 1.01 if v > 0 else v * 0.99 for k, v in numeric.items()}
    sweep = {k: jnp.asarray([v, second[k]]) for k, v in numeric.items()}

    @jax.jit
    def run(f, sweep):
        loss = robustloss.get_loss(name, **full)
        runs = jax.vmap(loss)(jnp.stack([f, 2 * f]), jnp.stack([y, y]))
        swept = None
        if sweep:
            swept = jax.vmap(lambda h: robustloss.get_loss(name, **static, **h)(f, y))(sweep)
        return runs, swept, loss(f + 1e4, y), loss(f - 1e4, y)

    runs, swept, up, down = run(f, sweep)
    ref = np_batch(name, f, y, **full)
    np.testing.assert_allclose(runs[0], ref, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(runs[1], np_batch(name, 2 * f, y, **full), rtol=2e-5, atol=2e-5)
    if numeric:
        np.testing.assert_allclose(swept[0], ref, rtol=2e-5, atol=2e-5)
        other = np_batch(name, f, y, **static, **second)
        np.testing.assert_allclose(swept[1], other, rtol=2e-5, atol=2e-5)
    if full.get("score_norm", "none") == "none":  # float32 spacing at 1e4 is 1e-3
        np.testing.assert_allclose(up, ref, rtol=2e-2, atol=2e-2)
        np.testing.assert_allclose(down, ref, rtol=2e-2, atol=2e-2)


def test_per_example_lam_and_batch_shapes(data):
    f, y, _ = data
    lam = jnp.linspace(0.5, 5.0, 6)
    per = L.ldr_kl(f, y, lam=lam)
    one = [float(L.ldr_kl(f[i : i + 1], y[i : i + 1], lam=float(lam[i]))[0]) for i in range(6)]
    np.testing.assert_allclose(per, one, rtol=1e-5)
    # Extra leading axes: [2, 3, K] logits, [2, 3] labels.
    out = L.generalized_cross_entropy(f.reshape(2, 3, 5), y.reshape(2, 3))
    np.testing.assert_allclose(out.reshape(6), L.generalized_cross_entropy(f, y), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Bad inputs.


def test_bad_label_shapes_and_dtypes(data):
    f, y, _ = data
    with pytest.raises(ValueError, match="integer labels must have shape"):
        L.cross_entropy(f, y[:3])
    with pytest.raises(ValueError, match="probability labels must have shape"):
        L.cross_entropy(f, np.ones((6, 4), np.float32))
    with pytest.raises(ValueError, match="floating"):
        L.cross_entropy(f.astype(np.int32), y)
    with pytest.raises(ValueError, match="K >= 2"):
        L.cross_entropy(f[:, :1], y * 0)
    with pytest.raises(ValueError, match="labels must be integer"):
        L.cross_entropy(f, np.ones((6,), bool))


BAD_DIRECT = [
    (L.generalized_cross_entropy, dict(q=0.0), r"\(0, 1\]"),
    (L.ldr_kl, dict(lam=-1.0), r"\(0, inf\)"),
    (L.ldr_kl, dict(score_norm="softmax"), "softplus_mean"),
    (L.weston_watkins_hinge, dict(reduction="max"), "'sum', 'mean'"),
    (L.taylor_cross_entropy, dict(order=2.0), "Python int"),
    (L.jensen_shannon, dict(pi1=1.0), r"\(0, 1\)"),
]


@pytest.mark.parametrize(("fn", "hp", "match"), BAD_DIRECT, ids=[b[0].__name__ for b in BAD_DIRECT])
def test_functions_reject_bad_hparams(fn, hp, match, data):
    f, y, _ = data
    with pytest.raises(ValueError, match=match):
        fn(f, y, **hp)


def test_docstring_examples_run():
    import doctest

    from robustloss.losses import _asymmetric, _ce, _ldr, _margin, _symmetric

    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    for mod in (_ce, _symmetric, _asymmetric, _margin, _ldr):
        res = doctest.testmod(mod, optionflags=flags)
        assert res.failed == 0 and res.attempted > 0, mod.__name__
