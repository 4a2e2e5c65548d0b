"""Tests of the T uses (forward, reweight, DWS, RENT) and of the transition objective."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from robustloss.transition import (
    TransitionOptions,
    dirichlet_weights,
    forward_correction_loss,
    importance_weights,
    make_objective,
    rent_resample,
)
from robustloss.transition import _utilise as _ut


class _Fields(dict):
    """A dict with attribute access, like the harness's ``config.transition`` block."""

    __getattr__ = dict.__getitem__
    __setattr__ = dict.__setitem__


def default_config():
    """The default fields of `TransitionOptions` (what ``config.transition`` holds by default)."""
    return _Fields(dataclasses.asdict(TransitionOptions()))


def validate_config(cfg, num_classes):
    TransitionOptions.from_mapping(cfg).check(num_classes)


# An asymmetric row-stochastic T[clean, noisy] with a zero entry and unequal columns.
T_ASYM = np.array([[0.6, 0.4, 0.0], [0.0, 1.0, 0.0], [0.1, 0.2, 0.7]])


def np_ce(logits, labels):
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -logp[np.arange(len(labels)), labels]


def np_softmax(logits):
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def _batch(labels, mask=None, clean=None):
    labels = jnp.asarray(labels)
    b = {
        "label": labels,
        "index": jnp.arange(labels.shape[0]),
        "mask": jnp.ones(labels.shape[0]) if mask is None else jnp.asarray(mask, jnp.float32),
    }
    if clean is not None:
        b["clean_label"] = jnp.asarray(clean)
    return b


def _objective(use, estimator="true", true_T=T_ASYM, **kw):
    cfg = default_config()
    cfg.use, cfg.estimator, cfg.warmup_epochs = use, estimator, 0
    for k, v in kw.items():
        if k != "k":  # K itself, not an option
            cfg[k] = v
    k = np.asarray(true_T).shape[0] if true_T is not None else kw.get("k", 3)
    return make_objective(cfg, num_classes=k, true_T=true_T)


# ----------------------------------------------------------------------------- pure functions


def test_forward_matches_numpy_and_log_sum_exp_form():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3)).astype(np.float32) * 3
    labels = np.array([0, 1, 2, 1, 0, 2])
    expected = -np.log((np_softmax(logits) @ T_ASYM)[np.arange(6), labels])
    got = forward_correction_loss(logits, labels, T_ASYM)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    got_eps = forward_correction_loss(logits, labels, T_ASYM, eps=1e-12)
    np.testing.assert_allclose(got_eps, expected, rtol=1e-5)
    # The transposed matrix gives a different loss (orientation matters).
    # (the transposed matrix is not row-stochastic, so the public function rejects it; the
    # unchecked core shows what a transposed T would compute)
    assert not np.allclose(
        _ut._forward_correction_loss(logits, labels, T_ASYM.T), expected, rtol=1e-3
    )
    with pytest.raises(ValueError, match="row-stochastic"):
        forward_correction_loss(logits, labels, T_ASYM.T)
    # Finite values and gradients at extreme logits.
    ext = jnp.array([[1e4, -1e4, 0.0]])
    g = jax.grad(lambda z: forward_correction_loss(z, jnp.array([2]), T_ASYM).sum())(ext)
    assert np.isfinite(g).all()


def test_importance_weights_hand_example_and_orientation():
    # Digest §1.1: truck -> automobile with rate 0.4; class 0 = automobile, 1 = truck.
    T = np.array([[1.0, 0.0], [0.4, 0.6]])
    logits = np.log(np.array([[0.3, 0.7]], np.float32))
    w = importance_weights(logits, np.array([0]), T)
    np.testing.assert_allclose(w, [0.3 / (0.3 + 0.4 * 0.7)], rtol=1e-5)
    # The RENT code's learnable-T bug (T[y~] . p, i.e. T transposed) gives w = 1 here.
    np.testing.assert_allclose(
        _ut._importance_weights(logits, np.array([0]), T.T), [1.0], rtol=1e-5
    )
    # eps variants agree to float precision; masked rows are 0; normalised sums to 1.
    rng = np.random.default_rng(1)
    lg = rng.normal(size=(5, 3)).astype(np.float32)
    lab = np.array([0, 1, 2, 2, 1])
    p = np_softmax(lg)
    ref = p[np.arange(5), lab] / (p @ T_ASYM)[np.arange(5), lab]
    np.testing.assert_allclose(importance_weights(lg, lab, T_ASYM), ref, rtol=1e-5)
    np.testing.assert_allclose(
        importance_weights(lg, lab, T_ASYM, eps_num=1e-12, eps_den=1e-12), ref, rtol=1e-5
    )
    mask = np.array([1, 1, 0, 1, 0])
    wn = importance_weights(lg, lab, T_ASYM, mask, normalize=True)
    np.testing.assert_allclose(wn, ref * mask / (ref * mask).sum(), rtol=1e-5)


@pytest.mark.parametrize("use", ["forward", "reweight", "dws", "rent"])
def test_identity_T_equals_plain_ce(use):
    rng = np.random.default_rng(2)
    logits = jnp.asarray(rng.normal(size=(16, 4)).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, 4, 16))
    mask = jnp.asarray((np.arange(16) < 13).astype(np.float32))
    ce = np_ce(np.asarray(logits), np.asarray(labels))[:13].mean()
    obj = _objective(use, true_T=np.eye(4), alpha=1e7)
    aux = obj.init(16, 4, jax.random.key(0))
    batch = _batch(labels, mask)

    def value_and_grad(key):
        f = lambda z: obj.loss(z, batch, aux, key)[0]
        return jax.value_and_grad(f)(logits)

    value_and_grad = jax.jit(value_and_grad)

    ce_grad = jax.grad(lambda z: (np_ce_j(z, labels) * mask).sum() / mask.sum())(logits)
    if use in ("forward", "reweight", "dws"):
        v, g = value_and_grad(jax.random.key(3))
        tol = 1e-3 if use == "dws" else 1e-5  # DWS with alpha = 1e7 is normalised reweighting
        np.testing.assert_allclose(v, ce, rtol=tol)
        np.testing.assert_allclose(g, ce_grad, atol=tol)
    else:  # RENT with uniform weights: uniform resampling, CE in expectation over the keys
        keys = jax.random.split(jax.random.key(4), 400)
        vs, gs = jax.vmap(value_and_grad)(keys)
        np.testing.assert_allclose(vs.mean(), ce, rtol=0.03)
        np.testing.assert_allclose(gs.mean(0), ce_grad, atol=0.01)


def np_ce_j(z, labels):
    return -jnp.take_along_axis(jax.nn.log_softmax(z), labels[:, None], -1)[:, 0]


def test_reweighting_with_true_T_is_unbiased_for_the_clean_risk():
    """Liu & Tao: E_{x,y~}[w l(f(x), y~)] = E_{x,y}[l(f(x), y)] when w uses the true posteriors."""
    rng = np.random.default_rng(3)
    k, n_x = 3, 6
    post = rng.dirichlet(np.ones(k) * 0.7, size=n_x)  # true clean posteriors P(y | x)
    f_logits = rng.normal(size=(n_x, k)) * 2  # an arbitrary classifier being evaluated
    loss_table = np.stack([np_ce(f_logits, np.full(n_x, c)) for c in range(k)], 1)  # [x, y]
    clean_risk = np.mean(np.sum(post * loss_table, 1))
    n = 200_000
    x = rng.integers(0, n_x, n)
    y = (rng.random(n)[:, None] > np.cumsum(post[x], 1)).sum(1)
    y_noisy = (rng.random(n)[:, None] > np.cumsum(T_ASYM[y], 1)).sum(1)
    post_logits = np.log(post[x]).astype(np.float32)
    w = np.asarray(importance_weights(post_logits, y_noisy, T_ASYM), np.float64)
    samples = w * loss_table[x, y_noisy]
    se = samples.std() / np.sqrt(n)
    assert abs(samples.mean() - clean_risk) < 4 * se
    naive = loss_table[x, y_noisy].mean()
    assert abs(naive - clean_risk) > 10 * se  # the noisy risk is biased: the test has power
    w_t = np.asarray(_ut._importance_weights(post_logits, y_noisy, T_ASYM.T), np.float64)
    assert abs((w_t * loss_table[x, y_noisy]).mean() - clean_risk) > 10 * se  # orientation


def test_dws_alpha_limits():
    w = jnp.array([0.7, 0.2, 0.1, 5.0])
    mask = jnp.array([1.0, 1.0, 1.0, 0.0])
    mu = np.array([0.7, 0.2, 0.1, 0.0])
    # One compiled sampler, alpha traced: [reps] keys -> [reps, 4] single-draw weights.
    draw = jax.jit(
        jax.vmap(
            lambda kk, a: dirichlet_weights(kk, w, mask, alpha=a, num_draws=1), in_axes=(0, None)
        )
    )
    keys = jax.random.split(jax.random.key(1), 10000)
    # alpha -> inf: normalised reweighting (mu up to O(1/sqrt(alpha))).
    big = draw(keys[:4], 1e9)
    np.testing.assert_allclose(big, np.broadcast_to(mu, (4, 4)), atol=1e-3)
    # moments at moderate alpha: E[pi] = mu, Var[pi] = mu (1 - mu) / (alpha + 1).
    pis = draw(keys, 4.0)
    np.testing.assert_allclose(pis.mean(0), mu, atol=0.01)
    np.testing.assert_allclose(pis.var(0)[:3], (mu * (1 - mu) / 5.0)[:3], rtol=0.1)
    # alpha -> 0: every draw is one-hot, index i with prob. mu_i (resampling).
    tiny = draw(keys[:4000], 1e-6)
    assert np.isfinite(tiny).all()
    np.testing.assert_allclose(tiny.max(1), 1.0, atol=1e-4)
    counts = np.bincount(np.asarray(tiny.argmax(1)), minlength=4)
    assert counts[3] == 0  # masked rows are never drawn
    chi = stats.chisquare(counts[:3], 4000 * mu[:3])
    assert chi.pvalue > 1e-3
    # alpha * mu far below float32's smallest normal: still finite, one-hot, no NaN.
    ext = draw(keys[:50], 1e-40)
    assert np.isfinite(ext).all()
    np.testing.assert_allclose(ext.sum(1), 1.0, atol=1e-5)


def test_rent_resample_counts_are_multinomial():
    w = jnp.array([3.0, 1.0, 0.5, 0.0, 2.0, 9.0])
    mask = jnp.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    mu = np.array([3.0, 1.0, 0.5, 0.0, 2.0, 0.0]) / 6.5
    reps = 3000

    def counts(kk):
        idx, valid = rent_resample(kk, w, mask, ratio=1.0)
        return jnp.zeros(6).at[idx].add(valid)

    c = np.asarray(jax.jit(jax.vmap(counts))(jax.random.split(jax.random.key(0), reps)))
    m = 5  # int(ratio * n_real) with n_real = 5
    np.testing.assert_array_equal(c.sum(1), m)
    assert c[:, 3].sum() == 0 and c[:, 5].sum() == 0  # zero weight and padding never drawn
    live = [0, 1, 2, 4]
    chi = stats.chisquare(c[:, live].sum(0), reps * m * mu[live])
    assert chi.pvalue > 1e-3
    # Per-replicate covariance of a multinomial: Var[c_i] = M mu_i (1 - mu_i).
    np.testing.assert_allclose(c[:, live].var(0), m * mu[live] * (1 - mu[live]), rtol=0.1)
    # ratio sets the budget.
    idx, valid = rent_resample(jax.random.key(1), w, mask, ratio=2.5)
    assert idx.shape == (15,) and float(valid.sum()) == 12.0


# ----------------------------------------------------------------------------- objective


def test_objective_rent_gradient_flows_through_gathered_logits_only():
    obj = _objective("rent")
    aux = obj.init(8, 3, jax.random.key(0))
    rng = np.random.default_rng(5)
    logits = jnp.asarray(rng.normal(size=(8, 3)).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, 3, 8))
    mask = jnp.asarray([1, 1, 1, 1, 1, 1, 0, 0], jnp.float32)
    key = jax.random.key(7)
    g = jax.grad(lambda z: obj.loss(z, _batch(labels, mask), aux, key)[0])(logits)
    # Recompute the draw independently and compare with count-weighted CE.
    w = importance_weights(logits, labels, T_ASYM, mask)
    idx, valid = rent_resample(jax.random.split(key)[0], w, mask, ratio=1.0)
    cnt = jnp.zeros(8).at[idx].add(valid)
    ref = jax.grad(lambda z: (cnt * np_ce_j(z, labels)).sum() / valid.sum())(logits)
    np.testing.assert_allclose(g, ref, atol=1e-6)
    assert np.all(np.asarray(g)[6:] == 0)  # padded rows get no gradient


def test_objective_orientation_and_compat_transpose():
    """Learnable-T weights use T correctly by default; paper_code_compat reproduces D1."""
    T = jnp.array([[1.0, 0.0], [0.4, 0.6]])
    logits = jnp.log(jnp.array([[0.3, 0.7]]))
    batch = _batch(jnp.array([0]))
    out = {}
    for compat in (False, True):
        obj = _objective("reweight", "volminnet", true_T=None, k=2, paper_code_compat=compat)
        aux = obj.init(1, 2, jax.random.key(0))
        aux["T"] = T  # pretend VolMinNet learned this asymmetric T
        out[compat] = float(
            jax.jit(obj.loss)(logits, batch, aux, jax.random.key(1))[2]["mean_weight"]
        )
    np.testing.assert_allclose(out[False], 0.3 / (0.3 + 0.4 * 0.7), rtol=1e-5)
    np.testing.assert_allclose(out[True], 1.0, rtol=1e-5)
    # Fixed estimators are consistent in the code: compat does not transpose them.
    obj = _objective("reweight", "true", true_T=np.asarray(T), paper_code_compat=True)
    aux = obj.init(1, 2, jax.random.key(0))
    w = float(jax.jit(obj.loss)(logits, batch, aux, jax.random.key(1))[2]["mean_weight"])
    np.testing.assert_allclose(w, 0.3 / (0.3 + 0.4 * 0.7), rtol=1e-5)


def test_objective_warmup_refresh_and_metrics():
    cfg = default_config()
    cfg.use, cfg.estimator, cfg.warmup_epochs = "rent", "anchor", 2
    obj = make_objective(cfg, num_classes=3, true_T=T_ASYM)
    assert [obj.refresh_due(e, 10) for e in range(4)] == [False, True, False, False]
    aux = obj.init(6, 3, jax.random.key(0))
    rng = np.random.default_rng(6)
    logits = jnp.asarray(rng.normal(size=(4, 3)).astype(np.float32))
    labels = jnp.array([0, 1, 2, 1])
    batch = _batch(labels, clean=jnp.array([0, 1, 1, 1]))
    step = jax.jit(obj.loss)
    loss, aux1, m = step(logits, batch, aux, jax.random.key(1))
    np.testing.assert_allclose(loss, np_ce(np.asarray(logits), np.asarray(labels)).mean(), 1e-5)
    assert float(m["active"]) == 0.0 and float(m["batch_precision"]) == 0.75
    np.testing.assert_allclose(m["t_error"], np.abs(np.eye(3) - T_ASYM).sum() / 3, rtol=1e-5)
    # refresh: anchor estimate from all-train logits (here: exact noisy posteriors with anchors).
    post = np.concatenate([np.eye(3), np.eye(3)]) @ T_ASYM
    post = np.clip(post, 1e-8, None)
    aux2 = jax.jit(obj.refresh, static_argnums=3)(
        aux1, jnp.log(post), jnp.array([0, 1, 2, 0, 1, 2]), 1
    )
    assert int(aux2["active"]) == 1
    np.testing.assert_allclose(aux2["T"], T_ASYM, atol=1e-6)
    loss2, _, m2 = step(logits, batch, aux2, jax.random.key(1))
    assert float(m2["active"]) == 1.0 and float(m2["t_error"]) < 1e-5
    assert {"ess", "label_precision", "mean_weight"} <= set(m2)
    # label_precision = resampled mass on clean-labelled rows, recomputed from the same draw.
    w = importance_weights(logits, labels, T_ASYM)
    idx, valid = rent_resample(jax.random.split(jax.random.key(1))[0], w, jnp.ones(4))
    eff = np.zeros(4)
    np.add.at(eff, np.asarray(idx), np.asarray(valid))
    clean = np.array([1.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(m2["label_precision"], (eff * clean).sum() / eff.sum(), rtol=1e-6)


@pytest.mark.parametrize("estimator", ["tv", "cycle"])
def test_inactive_learnable_T_objective_is_the_plain_loss(estimator):
    """While ``aux`` says the method is inactive (the warm-up), ``loss`` is the plain masked CE,
    value and gradient, with no trace of the estimator's classifier term (TV, Cycle l1-l3), and
    the learnable T does not move (the `Objective` contract: ``loss`` is correct during the
    warm-up too, not only ``warmup_loss``)."""
    cfg = default_config()
    cfg.use, cfg.estimator, cfg.warmup_epochs = "forward", estimator, 2
    cfg.tv_weight, cfg.cycle_weight = 5.0, 5.0  # a term that would show
    obj = make_objective(cfg, num_classes=3, true_T=T_ASYM)
    aux = obj.init(6, 3, jax.random.key(0))
    assert int(aux["active"]) == 0
    rng = np.random.default_rng(11)
    logits = jnp.asarray(rng.normal(size=(5, 3)).astype(np.float32))
    labels = np.array([0, 1, 2, 1, 0])
    mask = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    batch = _batch(labels, mask=mask)

    def value(f):
        loss, new, _ = obj.loss(f, batch, aux, jax.random.key(3))
        return loss, new

    (loss, new), grad = jax.jit(jax.value_and_grad(value, has_aux=True))(logits)
    ce = np_ce(np.asarray(logits, np.float64), labels)
    np.testing.assert_allclose(loss, (ce * mask).sum() / mask.sum(), rtol=1e-5)
    want = (np_softmax(np.asarray(logits, np.float64)) - np.eye(3)[labels]) * mask[:, None] / 4
    np.testing.assert_allclose(grad, want, atol=1e-6)
    jax.tree.map(np.testing.assert_array_equal, new["t_params"], aux["t_params"])


def test_compat_anchor_uses_recorded_train_probabilities():
    cfg = default_config()
    cfg.use, cfg.estimator, cfg.warmup_epochs, cfg.paper_code_compat = "reweight", "anchor", 1, True
    obj = make_objective(cfg, num_classes=2, true_T=None)
    aux = obj.init(3, 2, jax.random.key(0))
    logits = jnp.log(jnp.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]))
    batch = {"label": jnp.array([0, 1, 1]), "index": jnp.array([0, 1, 3]), "mask": jnp.ones(3)}
    batch["mask"] = batch["mask"].at[2].set(0.0)  # a padded row (index == N) is dropped
    _, aux, _ = obj.loss(logits, batch, aux, jax.random.key(1))
    np.testing.assert_allclose(aux["proba"][:2], jnp.exp(logits[:2]), rtol=1e-6)
    np.testing.assert_allclose(aux["proba"][2], [0.5, 0.5])
    # refresh ignores its eval logits and uses the recorded train-mode probabilities.
    aux = obj.refresh(aux, jnp.zeros((3, 2)), jnp.array([0, 1, 1]), 0)
    np.testing.assert_allclose(aux["T"], [[0.9, 0.1], [0.2, 0.8]], atol=1e-6)


@pytest.mark.harness  # orbax
def test_aux_checkpoint_round_trip(tmp_path):
    import orbax.checkpoint as ocp

    obj = _objective("dws", "cycle", true_T=T_ASYM)
    aux = obj.init(10, 3, jax.random.key(0))
    logits = jnp.asarray(np.random.default_rng(7).normal(size=(4, 3)).astype(np.float32))
    batch = _batch(jnp.array([0, 1, 2, 1]))
    step = jax.jit(lambda a, kk: obj.loss(logits, batch, a, kk))
    for i in range(3):
        _, aux, _ = step(aux, jax.random.key(i))
    ckpt = ocp.StandardCheckpointer()
    path = tmp_path / "aux"
    ckpt.save(path, aux)
    ckpt.wait_until_finished()
    restored = ckpt.restore(path, jax.tree.map(ocp.utils.to_shape_dtype_struct, aux))
    assert jax.tree.structure(restored) == jax.tree.structure(aux)
    for a, b in zip(jax.tree.leaves(aux), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(a, b)
    l1, a1, _ = step(aux, jax.random.key(9))
    l2, a2, _ = step(restored, jax.random.key(9))
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(a1["T"], a2["T"])


def test_objective_vmaps_over_runs():
    obj = _objective("rent", "volminnet", true_T=T_ASYM)
    auxs = jax.vmap(lambda kk: obj.init(5, 3, kk))(jax.random.split(jax.random.key(0), 2))
    logits = jnp.zeros((2, 4, 3))
    batch = _batch(jnp.array([0, 1, 2, 1]))
    keys = jax.random.split(jax.random.key(1), 2)
    loss, aux, m = jax.jit(jax.vmap(lambda z, a, kk: obj.loss(z, batch, a, kk)))(logits, auxs, keys)
    assert loss.shape == (2,) and aux["T"].shape == (2, 3, 3) and m["t_loss"].shape == (2,)
    # Each run equals the same objective run alone with its own state and key.
    for r in range(2):
        one = jax.tree.map(lambda a, r=r: a[r], auxs)
        l_r, a_r, m_r = obj.loss(logits[r], batch, one, keys[r])
        np.testing.assert_allclose(loss[r], l_r, rtol=1e-6)
        np.testing.assert_allclose(aux["T"][r], a_r["T"], rtol=1e-6)
        np.testing.assert_allclose(m["t_loss"][r], m_r["t_loss"], rtol=1e-6)


def test_validate_config_errors():
    cfg = default_config()
    validate_config(cfg, 10)
    for field, value, needle in [
        ("use", "backward", "forward"),
        ("estimator", "hoc", "volminnet"),
        ("anchor_variant", "x", "noisy_class"),
        ("alpha", 0.0, "> 0"),
        ("ratio", -1.0, "> 0"),
        ("quantile", 1.0, "(0, 1)"),
        ("num_draws", -1, ">= 0"),
        ("t_optimizer", "rmsprop", "adam"),
    ]:
        bad = default_config()
        bad[field] = value
        with pytest.raises(ValueError, match=field) as err:
            validate_config(bad, 10)
        assert needle in str(err.value)
    bad = default_config()
    bad.use, bad.estimator, bad.warmup_epochs = "rent", "anchor", 0
    with pytest.raises(ValueError, match="warmup_epochs"):
        validate_config(bad, 10)
    with pytest.raises(ValueError, match="num_classes"):
        validate_config(default_config(), 1)
    good = default_config()
    good.use = "rent"
    with pytest.raises(ValueError, match="true_T"):
        make_objective(good, num_classes=3, true_T=None)
    with pytest.raises(ValueError, match="row-stochastic"):
        make_objective(good, num_classes=3, true_T=T_ASYM.T)


@pytest.mark.parametrize("module", ["_utilise", "_estimators", "_objective", "_options"])
def test_docstring_examples(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"robustloss.transition.{module}")
    result = doctest.testmod(mod, extraglobs={"jax": jax, "jnp": jnp}, verbose=False)
    assert result.failed == 0 and result.attempted > 0


def test_uses_combine_with_registry_losses():
    from robustloss import get_loss

    rng = np.random.default_rng(8)
    logits = rng.normal(size=(6, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 2, 1, 0])
    rows = np.arange(6)
    q = np_softmax(logits) @ T_ASYM
    # MAE = 2 (1 - p_y), applied to the corrected posterior p T.
    mae = forward_correction_loss(logits, labels, T_ASYM, base_loss=get_loss("mae"))
    np.testing.assert_allclose(mae, 2 * (1 - q[rows, labels]), rtol=1e-5)
    # GCE (q = 0.7) reweighted and normalised, through the objective.
    gce = get_loss("gce", q=0.7)
    cfg = default_config()
    cfg.use, cfg.warmup_epochs = "reweight", 0
    obj = make_objective(cfg, num_classes=3, base_loss=gce, true_T=T_ASYM)
    aux = obj.init(6, 3, jax.random.key(0))
    loss = obj.loss(jnp.asarray(logits), _batch(labels), aux, jax.random.key(1))[0]
    p = np_softmax(logits)
    w = p[rows, labels] / q[rows, labels]
    per = (1 - p[rows, labels] ** 0.7) / 0.7
    np.testing.assert_allclose(loss, (w * per).sum() / w.sum(), rtol=1e-5)


# ----------------------------------------------------------------------------- regressions


def test_invalid_T_raises_outside_jit_and_is_unchecked_when_traced():
    from robustloss.transition import check_transition_matrix, noisy_log_posterior

    logits, labels = jnp.zeros((2, 3)), jnp.array([0, 1])
    bad = {
        "shape": (np.eye(2), "shape"),
        "negative": (np.array([[1.2, -0.2, 0.0], [0, 1, 0], [0, 0, 1]]), "negative"),
        "zero row": (np.array([[1.0, 0, 0], [0, 0, 0], [0, 0, 1]]), "row sums"),
        "unnormalised": (2 * np.eye(3), "row-stochastic"),
        "nan": (np.full((3, 3), np.nan), "non-finite"),
    }
    calls = {
        "forward": lambda T: forward_correction_loss(logits, labels, T),
        "posterior": lambda T: noisy_log_posterior(logits, T),
        "weights": lambda T: importance_weights(logits, labels, T),
        "make_objective": lambda T: make_objective(default_config(), num_classes=3, true_T=T),
    }
    for T, needle in bad.values():
        for fn_name, fn in calls.items():
            with pytest.raises(ValueError, match=needle) as err:
                fn(T)
            assert ("true_T" if fn_name == "make_objective" else "T") in str(err.value)
        with pytest.raises(ValueError, match=needle):
            check_transition_matrix(T, 3)
    check_transition_matrix(T_ASYM, 3)  # valid: no raise
    # Traced T: no check (the contract is the caller's), the computation still runs.
    out = jax.jit(lambda T: forward_correction_loss(logits, labels, T))(2 * jnp.eye(3))
    assert out.shape == (2,)


def test_transition_uses_give_nan_for_out_of_range_labels():
    rng = np.random.default_rng(11)
    logits = jnp.asarray(rng.normal(size=(4, 3)).astype(np.float32))
    for bad in (-1, 3):  # -1 would wrap to class K-1, K would be clipped or filled
        labels = jnp.array([0, bad, 2, 1])
        assert np.isnan(np.asarray(forward_correction_loss(logits, labels, T_ASYM))[1])
        w = np.asarray(importance_weights(logits, labels, T_ASYM))
        assert np.isnan(w[1]) and np.isfinite(w[[0, 2, 3]]).all()
    labels = jnp.array([0, -1, 2, 3])
    w = np.asarray(importance_weights(logits, labels, T_ASYM))
    key = jax.random.key(0)
    assert np.isnan(np.asarray(dirichlet_weights(key, w, alpha=1.0, num_draws=2))).all()
    assert np.isnan(np.asarray(rent_resample(key, w)[1])).all()
    for use in ("forward", "reweight", "dws", "rent"):
        obj = _objective(use)
        loss = jax.jit(obj.loss)(logits, _batch(labels), obj.init(4, 3, key), key)[0]
        assert np.isnan(float(loss)), use
    # A padded row may carry any label: it is ignored.
    mask = jnp.array([1.0, 0.0, 1.0, 0.0])
    w = np.asarray(importance_weights(logits, labels, T_ASYM, mask))
    assert w[1] == 0.0 and w[3] == 0.0 and np.isfinite(w).all()


def test_dws_concentration_is_alpha_times_normalised_weights_with_M_draws():
    """Var[mean of M draws] = mu (1 - mu) / ((alpha + 1) M) with mu = w / sum w.

    Unnormalised weights (sum 8) expose alpha * w (total concentration 8 alpha: 8x smaller
    variance); M = 4 exposes a single draw (4x larger variance)."""
    w = jnp.array([4.0, 2.0, 1.0, 1.0, 7.0])
    mask = jnp.array([1.0, 1.0, 1.0, 1.0, 0.0])
    mu = np.array([4.0, 2.0, 1.0, 1.0]) / 8.0
    alpha, m = 3.0, 4
    draw = jax.jit(jax.vmap(lambda kk: dirichlet_weights(kk, w, mask, alpha=alpha, num_draws=m)))
    pis = np.asarray(draw(jax.random.split(jax.random.key(2), 20000)), np.float64)
    np.testing.assert_allclose(pis[:, 4], 0.0)
    np.testing.assert_allclose(pis.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pis[:, :4].mean(0), mu, atol=0.005)
    np.testing.assert_allclose(pis[:, :4].var(0), mu * (1 - mu) / ((alpha + 1) * m), rtol=0.08)


def test_random_draws_follow_the_key_and_change_across_steps():
    """Same key -> same draw; different keys -> different draws (a reused key would repeat)."""
    w = jnp.array([3.0, 1.0, 0.5, 2.0, 1.5, 1.0])
    k1, k2 = jax.random.key(5), jax.random.key(6)
    a, b = (
        dirichlet_weights(k1, w, alpha=2.0, num_draws=3),
        dirichlet_weights(k1, w, alpha=2.0, num_draws=3),
    )
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, dirichlet_weights(k2, w, alpha=2.0, num_draws=3))
    np.testing.assert_array_equal(rent_resample(k1, w)[0], rent_resample(k1, w)[0])
    assert not np.array_equal(rent_resample(k1, w)[0], rent_resample(k2, w)[0])
    # Through the objective: the step key reaches the sampler (DWS, RENT) and the TV pairs.
    rng = np.random.default_rng(12)
    logits = jnp.asarray(rng.normal(size=(16, 3)).astype(np.float32))
    labels = jnp.asarray(rng.integers(0, 3, 16))
    for use, est in (("dws", "true"), ("rent", "true"), ("reweight", "tv")):
        obj = _objective(use, est, true_T=T_ASYM, alpha=1.0)
        aux = obj.init(16, 3, jax.random.key(0))
        step = jax.jit(lambda kk, o=obj, a=aux: o.loss(logits, _batch(labels), a, kk)[0])
        keys = jax.random.split(jax.random.key(1), 3)
        vals = [float(step(kk)) for kk in keys]
        assert float(step(keys[0])) == vals[0], use
        assert len(set(vals)) == 3, (use, vals)


def test_reweighting_gradient_treats_weights_as_constants():
    """Dropping the stop-gradient on w changes the gradient; compare with constant weights."""
    rng = np.random.default_rng(13)
    logits = jnp.asarray(rng.normal(size=(8, 3)).astype(np.float32) * 2)
    labels = jnp.asarray(rng.integers(0, 3, 8))
    mask = jnp.ones(8)
    obj = _objective("reweight")  # normalised: sum w l / sum w
    aux = obj.init(8, 3, jax.random.key(0))
    g = jax.grad(lambda z: obj.loss(z, _batch(labels, mask), aux, jax.random.key(1))[0])(logits)
    w = jnp.asarray(np.asarray(importance_weights(logits, labels, T_ASYM)))  # constants
    ref = jax.grad(lambda z: jnp.sum(w * np_ce_j(z, labels)) / jnp.sum(w))(logits)
    np.testing.assert_allclose(g, ref, atol=1e-6)
    # The weights' own gradient is not small here, so the comparison has power.
    g_w = jax.grad(
        lambda z: (
            jnp.sum(
                jnp.exp(jax.nn.log_softmax(z)[jnp.arange(8), labels])
                / (jax.nn.softmax(z) @ T_ASYM)[jnp.arange(8), labels]
                * jax.lax.stop_gradient(np_ce_j(z, labels))
            )
            / jnp.sum(w)
        )
    )(logits)
    assert float(jnp.abs(g_w).max()) > 1e-2
    # The same for the functions: importance weights have zero gradient.
    gw = jax.grad(lambda z: importance_weights(z, labels, T_ASYM).sum())(logits)
    assert np.all(np.asarray(gw) == 0)
