"""Tests of the T estimators: each recovers a known T where the theory says it can."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustloss.transition import (
    TransitionOptions,
    anchor_transition,
    dualt_transition,
    make_objective,
    transition_error,
    tv_init,
    tv_matrix,
    volminnet_init,
    volminnet_matrix,
)


class _Fields(dict):
    """A dict with attribute access, like the harness's ``config.transition`` block."""

    __getattr__ = dict.__getitem__
    __setattr__ = dict.__setitem__


def default_config():
    """The default fields of `TransitionOptions` (what ``config.transition`` holds by default)."""
    return _Fields(dataclasses.asdict(TransitionOptions()))


# Asymmetric, diagonally dominant (each column's maximum on the diagonal), all entries > 0.
T3 = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.25, 0.05, 0.7]])


def _sample(rng, probs):
    return (rng.random(len(probs))[:, None] > np.cumsum(probs, 1)).sum(1)


def _synthetic(n=3000, k=3, anchor_share=0.2, seed=0, T=T3):
    """Clean posteriors with anchors (one-hot rows) for every class, noisy labels from T."""
    rng = np.random.default_rng(seed)
    n_anchor = int(anchor_share * n / k)
    # Near-anchors (purity 0.99-1.0, not tied, so a percentile rule has a unique anchor).
    eps = rng.uniform(0.0, 0.01, size=(k * n_anchor, 1))
    anchors = (1 - eps) * np.repeat(np.eye(k), n_anchor, axis=0) + eps / k
    rest = rng.dirichlet(np.ones(k), size=n - k * n_anchor)
    rest = 0.5 * rest + 0.5 / k  # non-anchors: max posterior well below 1
    post = np.concatenate([anchors, rest])
    clean = _sample(rng, post)
    noisy = _sample(rng, T[clean])
    return post, clean, noisy


def _full_batch(noisy, clean=None) -> dict:
    """Every example in one batch (clean labels too when given)."""
    batch = {
        "label": jnp.asarray(noisy),
        "index": jnp.arange(len(noisy)),
        "mask": jnp.ones(len(noisy)),
    }
    if clean is not None:
        batch["clean_label"] = jnp.asarray(clean)
    return batch


def test_transition_error_hand_value():
    assert float(transition_error(np.eye(3), T3)) == pytest.approx(
        (0.3 + 0.3 + 0.2 + 0.2 + 0.3 + 0.3) / 3
    )


@pytest.mark.parametrize("variant", ["noisy_class", "all"])
def test_anchor_recovers_T_from_exact_noisy_posteriors(variant):
    post, _, noisy = _synthetic()
    noisy_post = post @ T3  # a perfect model of P(y~ | x)
    T_hat = anchor_transition(noisy_post, noisy, variant=variant)
    np.testing.assert_allclose(T_hat, T3, atol=0.01)
    assert not np.allclose(T_hat, T3.T, atol=0.05)  # rows are clean classes


def test_anchor_noisy_class_picks_the_kth_largest_like_the_code():
    # 100 candidates of class 0 with p(0|x) = 0.01..1.00: int(0.03 * 100) = 3rd largest = 0.98.
    p0 = np.linspace(0.01, 1.0, 100)
    probs = np.stack([p0, 1 - p0], 1)
    probs = np.concatenate([probs, [[0.1, 0.9]]])
    labels = np.array([0] * 100 + [1])
    T_hat = anchor_transition(probs, labels, variant="noisy_class")
    np.testing.assert_allclose(T_hat[0], [0.98, 0.02], atol=1e-6)
    np.testing.assert_allclose(T_hat[1], [0.1, 0.9], atol=1e-6)  # n_1 = 1 < 34: the largest
    # Patrini's variant: largest value strictly below the 97th percentile ("higher").
    thresh = np.percentile(probs[:, 0], 97, method="higher")
    below = probs[:, 0][probs[:, 0] < thresh].max()
    np.testing.assert_allclose(anchor_transition(probs, variant="all")[0, 0], below, atol=1e-6)
    with pytest.raises(ValueError, match="variant"):
        anchor_transition(probs, labels, variant="median")


def test_anchor_with_model_noise_within_tolerance():
    rng = np.random.default_rng(1)
    post, _, noisy = _synthetic(seed=1)
    noisy_post = post @ T3
    logits = np.log(noisy_post) + rng.normal(scale=0.05, size=noisy_post.shape)
    T_hat = anchor_transition(jax.nn.softmax(logits), noisy)
    assert float(transition_error(T_hat, T3)) < 0.1


def test_dualt_matches_numpy_and_recovers_T_with_a_clean_intermediate_classifier():
    rng = np.random.default_rng(2)
    n, k = 20000, 3
    clean = rng.integers(0, k, n)
    noisy = _sample(rng, T3[clean])
    # Intermediate classifier that predicts the clean class (T_club = I from its anchors);
    # T_spade counts P(y~ | y') = P(y~ | y) -> T.
    probs = 0.96 * np.eye(k)[clean] + 0.04 / k
    T_hat = np.asarray(dualt_transition(probs, noisy))
    # NumPy transcription: T = T_club @ T_spade, T_spade rows normalised per predicted class.
    club = np.asarray(anchor_transition(probs, noisy))
    pred = probs.argmax(1)
    spade = np.zeros((k, k))
    np.add.at(spade, (pred, noisy), 1.0)
    spade /= spade.sum(1, keepdims=True)
    np.testing.assert_allclose(T_hat, club @ spade, atol=1e-5)
    assert float(transition_error(T_hat, T3)) < 0.1
    # A class never predicted: identity row by default, zeros (the code's NaN -> 0) in compat.
    probs2 = np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0]] * 20)
    lab2 = np.array([0, 1] * 20)
    assert np.allclose(np.asarray(dualt_transition(probs2, lab2)).sum(1), 1.0, atol=1e-6)
    z = np.asarray(dualt_transition(probs2, lab2, empty_rows="zeros"))
    assert np.allclose(z[:, 2], 0.0)


def test_parameterisations_initial_values():
    np.testing.assert_allclose(np.diag(volminnet_matrix(volminnet_init(10))), 0.4824, atol=1e-4)
    np.testing.assert_allclose(volminnet_matrix(volminnet_init(10))[0, 1], 0.0575, atol=1e-4)
    t = np.asarray(tv_matrix(tv_init(10)))
    np.testing.assert_allclose(np.diag(t), 0.5, atol=1e-6)
    np.testing.assert_allclose(t[0, 1], 0.5 / 9, atol=1e-6)


@pytest.mark.parametrize("estimator", ["volminnet", "tv", "cycle"])
def test_learnable_T_recovers_T_through_the_objective(estimator):
    """With the clean posterior known (anchors exist), fitting p @ T to noisy labels finds T."""
    post, clean, noisy = _synthetic(n=3000, seed=3)
    cfg = default_config()
    cfg.use, cfg.estimator, cfg.warmup_epochs = "reweight", estimator, 0
    cfg.t_lr = 0.05 if estimator != "cycle" else 0.5
    cfg.t_optimizer = "adam" if estimator != "cycle" else "sgd"
    cfg.volmin_lambda = 0.0
    obj = make_objective(cfg, num_classes=3, true_T=T3)
    aux = obj.init(len(noisy), 3, jax.random.key(0))
    batch = _full_batch(noisy, clean)
    logits = jnp.log(jnp.asarray(post, jnp.float32) + 1e-12)

    @jax.jit
    def fit(aux):
        def body(a, key):
            _, a, m = obj.loss(logits, batch, a, key)
            return a, m["t_error"]

        return jax.lax.scan(body, aux, jax.random.split(jax.random.key(1), 600))

    initial = float(transition_error(aux["T"], T3))
    aux, errors = fit(aux)
    final = float(transition_error(aux["T"], T3))
    # Sampling error of the noisy labels (n = 3000) limits the recovery.
    assert final < 0.08 and final < initial / 2, (initial, final, np.asarray(aux["T"]))


# ----------------------------------------------------------------------------- regularisers
def _num_grad(f, x, h=1e-6):
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def _np_volmin(w):
    k = w.shape[0]
    t = np.eye(k) + (1 - np.eye(k)) / (1 + np.exp(-w))
    return t / t.sum(1, keepdims=True)


def _np_forward_nll(p, y, T, m):
    return np.sum(-np.log((p @ T)[np.arange(len(y)), y] + 1e-12) * m) / m.sum()


def test_regularisers_match_numpy_values_and_gradients():
    from robustloss.transition import (
        cycle_backward_loss,
        cycle_consistency_loss,
        forward_nll,
        total_variation,
    )

    rng = np.random.default_rng(21)
    k, b = 3, 7
    p = rng.dirichlet(np.ones(k), size=b)
    y = rng.integers(0, k, b)
    m = np.array([1, 1, 1, 1, 1, 0, 1.0])
    w0 = rng.normal(size=(k, k)) - 1.0
    w1 = rng.normal(size=(k, k)) - 1.0
    T, T_inv = _np_volmin(w0), _np_volmin(w1)
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    # Forward NLL: value and gradient w.r.t. p and T.
    np.testing.assert_allclose(
        forward_nll(f32(p), y, f32(T), f32(m)), _np_forward_nll(p, y, T, m), rtol=1e-5
    )
    g = jax.grad(forward_nll, argnums=(0, 2))(f32(p), y, f32(T), f32(m))
    np.testing.assert_allclose(
        g[0], _num_grad(lambda q: _np_forward_nll(q, y, T, m), p), rtol=1e-3, atol=1e-5
    )
    np.testing.assert_allclose(
        g[1], _num_grad(lambda t: _np_forward_nll(p, y, t, m), T), rtol=1e-3, atol=1e-5
    )

    # Cycle l2 (backward) and l3 (consistency), one-hot and the code's softmax(one-hot).
    def np_back(q, ti, soft):
        e = np.eye(k)[y]
        if soft:
            e = np.exp(e) / np.exp(e).sum(1, keepdims=True)
        per = np.sum(-q * np.log(e @ ti + 1e-12), 1)
        return np.sum(per * m) / m.sum()

    def np_cons(q, t, ti):
        per = np.sum(-q * np.log(q @ t @ ti + 1e-12), 1)
        return np.sum(per * m) / m.sum()

    for soft in (False, True):
        fn = lambda q, ti, s=soft: cycle_backward_loss(q, y, ti, f32(m), code_softmax=s)
        np.testing.assert_allclose(fn(f32(p), f32(T_inv)), np_back(p, T_inv, soft), rtol=1e-5)
        gq, gt = jax.grad(fn, argnums=(0, 1))(f32(p), f32(T_inv))
        np.testing.assert_allclose(
            gq, _num_grad(lambda q, s=soft: np_back(q, T_inv, s), p), rtol=1e-3, atol=1e-5
        )
        np.testing.assert_allclose(
            gt, _num_grad(lambda t, s=soft: np_back(p, t, s), T_inv), rtol=1e-3, atol=1e-5
        )
    cons = lambda q, t, ti: cycle_consistency_loss(q, t, ti, f32(m))
    np.testing.assert_allclose(cons(f32(p), f32(T), f32(T_inv)), np_cons(p, T, T_inv), rtol=1e-5)
    grads = jax.grad(cons, argnums=(0, 1, 2))(f32(p), f32(T), f32(T_inv))
    refs = (
        _num_grad(lambda q: np_cons(q, T, T_inv), p),
        _num_grad(lambda t: np_cons(p, t, T_inv), T),
        _num_grad(lambda t: np_cons(p, T, t), T_inv),
    )
    for got, ref in zip(grads, refs, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-5)

    # TV: -0.5 * mean over (real) pairs (a, perm[a]) of ||p_a - p_perm[a]||_1; sign matters.
    key = jax.random.key(3)
    perm = np.asarray(jax.random.permutation(key, b))

    def np_tv(q):
        pm = m * m[perm]
        return -0.5 * np.sum(np.abs(q - q[perm]).sum(1) * pm) / pm.sum()

    np.testing.assert_allclose(total_variation(f32(p), key, f32(m)), np_tv(p), rtol=1e-5)
    assert np_tv(p) < 0
    g = jax.grad(lambda q: total_variation(q, key, f32(m)))(f32(p))
    np.testing.assert_allclose(g, _num_grad(np_tv, p), rtol=1e-3, atol=1e-5)


def test_volminnet_t_step_follows_the_log_det_regularised_loss():
    """One SGD T step of the objective = -lr * d/dw [forward NLL + lambda * log det T(w)]."""
    rng = np.random.default_rng(22)
    k, b, lam, lr = 3, 9, 0.3, 0.1
    p = rng.dirichlet(np.ones(k), size=b)
    y = rng.integers(0, k, b)
    cfg = default_config()
    cfg.use, cfg.estimator, cfg.warmup_epochs = "reweight", "volminnet", 0
    cfg.volmin_lambda, cfg.t_lr, cfg.t_optimizer = lam, lr, "sgd"
    obj = make_objective(cfg, num_classes=k, true_T=T3)
    aux = obj.init(b, k, jax.random.key(0))
    w0 = rng.normal(size=(k, k)) - 1.0
    aux["t_params"] = {"w": jnp.asarray(w0, jnp.float32)}
    aux["T"] = volminnet_matrix(aux["t_params"]["w"])
    batch = {"label": jnp.asarray(y), "index": jnp.arange(b), "mask": jnp.ones(b)}
    logits = jnp.log(jnp.asarray(p, jnp.float32))
    _, new, metrics = obj.loss(logits, batch, aux, jax.random.key(1))
    m = np.ones(b)

    def np_t_loss(w):
        T = _np_volmin(w)
        return _np_forward_nll(p, y, T, m) + lam * np.log(abs(np.linalg.det(T)))

    np.testing.assert_allclose(metrics["t_loss"], np_t_loss(w0), rtol=1e-4)
    step = (w0 - np.asarray(new["t_params"]["w"], np.float64)) / lr  # SGD, first momentum step
    np.testing.assert_allclose(step, _num_grad(np_t_loss, w0), rtol=2e-3, atol=2e-4)


def test_volminnet_with_volume_term_recovers_T_without_anchors():
    """Li et al. 2021: minimising vol(T) s.t. p T fits the noisy posteriors identifies T when the
    clean posteriors are sufficiently scattered (here: near-anchors, no exact one-hot rows)."""
    post, clean, noisy = _synthetic(n=3000, seed=4, anchor_share=0.3)
    post = 0.97 * post + 0.01  # no exact anchors: the largest posterior is <= 0.98
    cfg = default_config()
    cfg.use, cfg.estimator, cfg.warmup_epochs = "reweight", "volminnet", 0
    cfg.t_lr, cfg.t_optimizer, cfg.volmin_lambda = 0.05, "adam", 1e-2
    obj = make_objective(cfg, num_classes=3, true_T=T3)
    aux = obj.init(len(noisy), 3, jax.random.key(0))
    batch = _full_batch(noisy)
    # The model sees only its own (clean) posterior; the noisy labels carry T.
    logits = jnp.log(jnp.asarray(post, jnp.float32))

    @jax.jit
    def fit(aux):
        def body(a, key):
            return obj.loss(logits, batch, a, key)[1], None

        return jax.lax.scan(body, aux, jax.random.split(jax.random.key(1), 800))[0]

    T_hat = np.asarray(fit(aux)["T"])
    assert float(transition_error(T_hat, T3)) < 0.1, T_hat
