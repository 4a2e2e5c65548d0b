"""Whole-objective tests: how each transition method composes its building blocks into the loss.

For every use (forward, reweight, DWS, RENT) x estimator (true T, anchor, DualT, VolMinNet, TV,
Cycle) the objective is built as the harness builds it for a run config with that method
(``make_objective(TransitionOptions(...), base_loss=CE, true_T=...)``, what
`robustloss.training.build_objective` calls)
and one training step on a small batch (K = 4, a padded row, an asymmetric non-identity T,
non-default weights) is compared with an independent NumPy transcription of the method,
written from the paper's formulas and, with ``paper_code_compat=True``, from the authors' code
(docs/transition.md lists its deviations):

* the scalar classifier loss, and its gradient w.r.t. the logits with the importance weights,
  the Dirichlet draws and the resampled indices held constant (they are stop-gradient);
* for a learnable T (VolMinNet, TV, Cycle): the T loss and the parameters after the objective's
  own optimiser step (Adam or SGD with momentum, first step transcribed).

Random draws: the objective splits its step key as ``key_sample, key_tv = split(key)`` (the
split `test_transition.py` pins as well). The transcription makes the same sampler calls on the
same keys for the draws only (Dirichlet's log-gamma variates, RENT's categorical indices, the
TV pairs); everything else is NumPy in float64. The DWS/RENT statistics tests below check the
distribution of the weights over many keys without relying on the split.

Behavioural tests: raising each regulariser's weight moves T (or the predictions the
regulariser acts on) in the direction the method's paper claims.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustloss import get_loss
from robustloss.transition import TransitionOptions, make_objective

K = 4
EPS = 1e-12  # the authors' constant inside logs and denominators
# T[clean, noisy]: asymmetric, non-identity, with zeros (T[0, 3] = 0 makes the eps placement
# matter on row 6 of the batch below).
T_TRUE = np.array(
    [
        [0.60, 0.25, 0.15, 0.00],
        [0.10, 0.70, 0.00, 0.20],
        [0.00, 0.30, 0.65, 0.05],
        [0.20, 0.00, 0.10, 0.70],
    ]
)
N_TRAIN = 280  # training-set size (anchor / DualT estimates; the index of a padded row)
B = 7
LABELS = np.array([0, 1, 2, 3, 0, 1, 3])
MASK = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0])  # row 4 is padding (label 0, as the trainer)
INDEX = np.array([3, 17, 42, 99, N_TRAIN, 150, 201])
KEY = jax.random.key(7)
USES = ("forward", "reweight", "dws", "rent")
ESTIMATORS = ("true", "anchor", "dualt", "volminnet", "tv", "cycle")
LEARNABLE = ("volminnet", "tv", "cycle")
# Non-default values, so that a default or a dropped option changes the numbers.
OPTIONS = dict(
    alpha=3.0,
    ratio=1.5,
    volmin_lambda=0.2,
    tv_weight=0.7,
    cycle_weight=0.6,
    t_lr=0.05,
)


def _batch_logits():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(B, K)) * 1.5
    z[4] = [6.0, -3.0, 2.0, -1.0]  # the padded row: its own values, which must not count
    # Label 3 with p_3 ~ 1e-13 and T[0, 3] = 0: (p T)_3 ~ 1e-13, so the eps placement changes
    # the weight (1.05 exact, 0.09 with eps in the denominator, 1.005 in both) and the forward
    # loss (30.0 exact, 27.6 with eps).
    z[6] = [0.0, -30.0, -30.0, -30.0]
    return z.astype(np.float32)


def _train_set():
    """Labels and the two kinds of logits of a training set for the anchor / DualT estimates."""
    rng = np.random.default_rng(1)
    labels = rng.permutation(
        np.repeat(np.arange(K), [60, 70, 80, 70])
    )  # int(0.03 n_i) = 1, 2, 2, 2
    train = rng.normal(size=(N_TRAIN, K)) * 2.0  # train mode, recorded in the last warm-up epoch
    evals = rng.normal(size=(N_TRAIN, K)) * 2.0  # eval mode, after the warm-up
    # Class 3 is never the prediction (DualT's empty row matters) but keeps a fair probability
    # (its anchor row, and hence every weight, stays well-conditioned).
    evals[:, 3] = evals[:, :3].max(1) - rng.uniform(0.3, 2.0, size=N_TRAIN)
    return labels, train.astype(np.float32), evals.astype(np.float32)


def _learnable_params(estimator):
    """A (trained-looking) asymmetric parameter state of a learnable T, float32-exact."""
    rng = np.random.default_rng({"volminnet": 3, "tv": 4, "cycle": 5}[estimator])
    if estimator == "tv":
        params = {"w": rng.uniform(0.3, 1.7, size=(K, K))}
    else:
        params = {"w": rng.normal(size=(K, K)) - 1.0}
        if estimator == "cycle":
            params["w_inv"] = rng.normal(size=(K, K)) - 1.5
    return {k: v.astype(np.float32).astype(np.float64) for k, v in params.items()}


# ----------------------------------------------------------------------------- NumPy reference


def np_softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_ce(z, y):
    """Cross-entropy of logits z [B, K] (the registry's "ce")."""
    z = np.asarray(z, np.float64)
    zs = z - z.max(-1, keepdims=True)
    return np.log(np.exp(zs).sum(-1)) - zs[np.arange(len(y)), y]


def np_masked_mean(v, m):
    return np.sum(v * m) / max(np.sum(m), 1.0)


def np_volminnet_T(w):
    """Li et al. 2021 / the RENT code: T = rownorm(I + sigmoid(w) (1 - I))."""
    eye = np.eye(len(w))
    t = eye + (1.0 - eye) / (1.0 + np.exp(-w))
    return t / t.sum(1, keepdims=True)


def np_tv_T(w):
    """The RENT code's TV matrix: softmax_row(L), L_kk = -log 2, L_kj = w_kj log(0.5/(K-1))."""
    logits = np.where(np.eye(len(w), dtype=bool), -np.log(2.0), w * np.log(0.5 / (len(w) - 1)))
    return np_softmax(logits)


def np_T_of(estimator, params):
    return (np_tv_T if estimator == "tv" else np_volminnet_T)(params["w"])


def np_anchor_rows(probs, labels, variant):
    """Row i = the softmax output of class i's anchor example (quantile 0.97)."""
    rows = []
    for i in range(K):
        if variant == "noisy_class":  # RENT `update_transition_matrix`
            cand = np.nonzero(labels == i)[0]
            k = int(0.03 * len(cand))  # topk(p_i over the examples labelled i, k)[-1]
            top = cand[np.argsort(-probs[cand, i], kind="stable")[:k]]
            rows.append(probs[top[-1]])
        else:  # Patrini et al.'s code: the best example below the 97th percentile
            eta = probs[:, i].copy()
            eta[eta >= np.percentile(eta, 97, method="higher")] = 0.0
            rows.append(probs[np.argmax(eta)])
    return np.array(rows)


def np_dualt(eval_probs, anchor_probs, labels, variant, zero_rows):
    """Yao et al. 2020 as the RENT code writes it, in its [noisy, clean] orientation."""
    club = np_anchor_rows(anchor_probs, labels, variant).T  # T_club[noisy, clean]
    spade = np.zeros((K, K))
    for noisy, pred in zip(labels, eval_probs.argmax(1), strict=True):
        spade[noisy, pred] += 1.0  # T_spade[y~, argmax f(x)] += 1
    col = spade.sum(0)
    if zero_rows:  # the code: normalise per predicted class, NaN -> 0
        spade = np.where(col > 0, spade / np.maximum(col, 1.0), 0.0)
    else:  # a never-predicted class y' maps to itself (keeps T stochastic)
        spade = np.where(col > 0, spade / np.maximum(col, 1.0), np.eye(K))
    return (spade @ club).T  # T_paper = T_spade @ T_club; ours is its transpose


def np_weights(p, y, m, T, *, use, compat, learnable):
    """Importance weights w = P(y = y~ | x) / P(y~ | x)."""
    rows = np.arange(len(y))
    if compat:
        # The code: noisy_prob = sum(T_code[y~] * f_prob). T_code is T_paper[noisy, clean] for
        # fixed T, but the learnable estimators' own row = clean matrix (digest D1).
        T_code = T if learnable else T.T
        noisy = np.sum(T_code[y] * p, axis=1) + EPS
        true = p[rows, y] + (EPS if use == "dws" else 0.0)  # DWS adds eps to both
        w = true / noisy
    else:
        w = p[rows, y] / (p @ T)[rows, y]
    return np.where(m > 0, w, 0.0)


def np_forward_nll(p, y, T, m):
    """The learnable estimators' T-fitting loss: NLL(log(p T + 1e-12), y~)."""
    return np_masked_mean(-np.log((p @ T)[np.arange(len(y)), y] + EPS), m)


def np_cycle_backward(p, y, T_inv, m, code_softmax):
    """Cycle l2 = C * mean_{i,c}(-p_ic log((e_{y~} T_inv)_ic + 1e-12)); the code uses
    softmax(onehot) for e_{y~}."""
    e = np.eye(K)[y]
    if code_softmax:
        e = np_softmax(e)
    per = np.sum(-p * np.log(e @ T_inv + EPS), axis=1)  # = C * mean over c
    return np_masked_mean(per, m)


def np_cycle_consistency(p, T, T_inv, m):
    """Cycle l3 = C * mean_{i,c}(-p_ic log((p T T_inv)_ic + 1e-12))."""
    return np_masked_mean(np.sum(-p * np.log(p @ T @ T_inv + EPS), axis=1), m)


def np_draws(use, w, m, opts):
    """The use's random quantities, drawn with the objective's keys (only the draws)."""
    key_sample, key_tv = jax.random.split(KEY)
    out = {"perm": np.asarray(jax.random.permutation(key_tv, B))}
    valid = (m > 0) & (w > 0)
    mu = np.where(valid, w, 0.0) / np.sum(np.where(valid, w, 0.0))
    if use == "dws":
        # pi^(m) ~ Dir(alpha mu), m = 1..M: G ~ Gamma(alpha mu_i), pi = G / sum G over the batch.
        draws = opts.get("num_draws", 0) or B  # M: the (padded) batch size, as the code
        conc = np.where(valid, opts["alpha"] * mu, 1.0).astype(np.float32)
        log_g = np.asarray(jax.random.loggamma(key_sample, np.broadcast_to(conc, (draws, B))))
        log_g = np.where(valid, log_g.astype(np.float64), -np.inf)
        g = np.exp(log_g - log_g.max(1, keepdims=True))  # G up to a per-draw factor
        out["pi_bar"] = (g / g.sum(1, keepdims=True)).mean(0)
    if use == "rent":
        # M = int(ratio * B) draws with replacement, P(i) = w_i / sum w; the first
        # int(ratio * n_real) count (the code's M for its unpadded batch).
        m_max = max(int(opts["ratio"] * B), 1)
        logw = np.where(valid, np.log(np.where(valid, w, 1.0)), -np.inf).astype(np.float32)
        out["idx"] = np.asarray(jax.random.categorical(key_sample, logw, shape=(m_max,)))
        out["valid"] = (np.arange(m_max) < np.floor(opts["ratio"] * m.sum())).astype(float)
    return out


def np_classifier_loss(z, *, use, estimator, compat, opts, T, T_inv, w, draws):
    """The scalar loss the classifier trains on, as a function of its logits ``z``; ``w`` and
    ``draws`` are constants (stop-gradient)."""
    y, m = LABELS, MASK
    rows = np.arange(B)
    p = np_softmax(z)
    l = np_ce(z, y)
    if use == "forward":  # Patrini et al.: the base loss (CE) of log(p T) used as logits
        q = p @ T + (EPS if compat else 0.0)  # digest §1.2: log(sum_k T[y~, k] f_k + eps)
        # CE of log q as logits is -log(q_y / sum q): -log q_y for a row-stochastic T; compat
        # DualT's zero rows make T sub-stochastic, and the documented base_loss(log(p T), y~)
        # then renormalises q (the authors' code has no forward correction to compare with).
        main = np_masked_mean(-np.log(q[rows, y] / q.sum(1)), m)
    elif use == "reweight":
        if opts.get("normalize", True):  # the alpha -> inf limit of DWS
            main = np.sum(w * l) / np.sum(w)
        else:  # Liu & Tao: (1/n) sum_i w_i l_i
            main = np_masked_mean(w * l, m)
    elif use == "dws":  # L = (1/M) sum_m sum_i pi^(m)_i l_i (no 1/N)
        main = np.sum(draws["pi_bar"] * l)
    else:  # RENT: mean CE over the resampled examples
        main = np.sum(draws["valid"] * l[draws["idx"]]) / np.sum(draws["valid"])
    if estimator == "tv" and not compat:
        # Zhang et al.: the classifier maximises the total variation between predictions,
        # TV = -0.5 mean over pairs (a, perm(a)) of ||p_a - p_b||_1. The code's is dead (D3).
        perm = draws["perm"]
        pm = m * m[perm]
        tv = -0.5 * np.sum(np.abs(p - p[perm]).sum(1) * pm) / max(pm.sum(), 1.0)
        main = main + opts["tv_weight"] * tv
    if estimator == "cycle" and opts.get("cycle_classifier_losses", True):
        # The RENT code's Cycle_Sample: + l1 + l2 + 0.3 l3 with T, T_inv detached.
        l1 = np_forward_nll(p, y, T, m)
        l2 = np_cycle_backward(p, y, T_inv, m, code_softmax=compat)
        l3 = np_cycle_consistency(p, T, T_inv, m)
        main = main + l1 + l2 + opts["cycle_weight"] * l3
    return main


def np_t_losses(estimator, params, p, compat, opts):
    """``[(loss, names of the parameters it trains)]``: the learnable T's losses (p detached)."""
    y, m = LABELS, MASK
    if estimator == "volminnet":  # Li et al.: NLL + lambda log|det T|
        T = np_volminnet_T(params["w"])
        nll = np_forward_nll(p, y, T, m)
        return [(nll + opts["volmin_lambda"] * np.linalg.slogdet(T)[1], ("w",))]
    if estimator == "tv":  # NLL (the code's + 0.1 TV of detached p is constant in T)
        return [(np_forward_nll(p, y, np_tv_T(params["w"]), m), ("w",))]
    # Cycle: a T step on l1, then a T_inv step on l2 (separate SGD optimisers).
    l1 = np_forward_nll(p, y, np_volminnet_T(params["w"]), m)
    l2 = np_cycle_backward(p, y, np_volminnet_T(params["w_inv"]), m, code_softmax=compat)
    return [(l1, ("w",)), (l2, ("w_inv",))]


def num_grad(f, x, h=1e-6):
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def np_t_step(estimator, params, p, compat, opts, optimizer):
    """The parameters after one step of the T optimiser (first step: zero optimiser state)."""
    new = dict(params)
    for index, (_, names) in enumerate(np_t_losses(estimator, params, p, compat, opts)):
        for name in names:

            def f(v, name=name, index=index):
                return np_t_losses(estimator, {**params, name: v}, p, compat, opts)[index][0]

            g = num_grad(f, params[name])
            if optimizer == "sgd":  # momentum 0.9: the first trace is g
                new[name] = params[name] - opts["t_lr"] * g
            else:  # Adam (b1 0.9, b2 0.999, eps 1e-8), bias-corrected first moments
                mu, nu = 0.1 * g / (1 - 0.9), 0.001 * g**2 / (1 - 0.999)
                new[name] = params[name] - opts["t_lr"] * mu / (np.sqrt(nu) + 1e-8)
    return new


# ----------------------------------------------------------------------------- objective side


def _build(**fields):
    """The objective the harness builds for a CE run whose ``config.transition`` has ``fields``
    (`robustloss.training.build_objective` with no per-run fields)."""
    options = TransitionOptions.from_mapping(fields)
    true_T = T_TRUE.astype(np.float32)
    return make_objective(options, num_classes=K, base_loss=get_loss("ce"), true_T=true_T)


def _objective(use, estimator, compat, **overrides):
    """The objective as the harness builds it from a run config."""
    opts = {**OPTIONS, **overrides}
    warmup = 1 if estimator in ("anchor", "dualt") else 0
    fields = dict(use=use, estimator=estimator, paper_code_compat=compat, warmup_epochs=warmup)
    return _build(**fields, **opts), opts


def _prepare(obj, estimator, compat, variant):
    """The objective's state after its warm-up / with a learnable T; and the reference's T."""
    aux = obj.init(N_TRAIN, K, jax.random.key(0))
    if estimator == "true":
        return aux, T_TRUE, None
    if estimator in ("anchor", "dualt"):
        labels, train, evals = _train_set()
        warm = {
            "label": jnp.asarray(labels),
            "index": jnp.arange(N_TRAIN),
            "mask": jnp.ones(N_TRAIN),
        }
        assert obj.warmup_epochs == 1 and obj.refresh_due(0, 10)
        aux = obj.warmup_loss(jnp.asarray(train), warm, aux, jax.random.key(1))[1]
        aux = obj.refresh(aux, jnp.asarray(evals), jnp.asarray(labels), 0)
        assert int(aux["active"]) == 1
        # D5: the code's anchors come from the train-mode softmax of the last warm-up epoch.
        anchor_p = np_softmax(train if compat else evals)
        if estimator == "anchor":
            T = np_anchor_rows(anchor_p, labels, variant)
        else:
            T = np_dualt(np_softmax(evals), anchor_p, labels, variant, zero_rows=compat)
        np.testing.assert_allclose(aux["T"], T, rtol=1e-5, atol=1e-7)
        return aux, T, None
    params = _learnable_params(estimator)
    aux["t_params"] = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    T = np_T_of(estimator, params)
    aux["T"] = jnp.asarray(T, jnp.float32)
    return aux, T, params


def _step(obj, aux, logits):
    """One objective call: (loss, gradient w.r.t. the logits, new aux, metrics)."""
    batch = {
        "label": jnp.asarray(LABELS),
        "index": jnp.asarray(INDEX),
        "mask": jnp.asarray(MASK, jnp.float32),
    }

    def f(z):
        loss, new_aux, metrics = obj.loss(z, batch, aux, KEY)
        return loss, (new_aux, metrics)

    (loss, (new_aux, metrics)), grad = jax.value_and_grad(f, has_aux=True)(jnp.asarray(logits))
    return float(loss), np.asarray(grad, np.float64), new_aux, metrics


CASES = [(u, e, c, {}) for u in USES for e in ESTIMATORS for c in (False, True)] + [
    ("reweight", "true", False, {"normalize": False}),
    ("reweight", "tv", True, {"normalize": False}),
    ("forward", "anchor", False, {"anchor_variant": "all"}),
    ("rent", "dualt", True, {"anchor_variant": "all"}),
    ("dws", "cycle", True, {"cycle_classifier_losses": False}),  # the DWS code's Cycle_Weight
    ("rent", "cycle", False, {"cycle_classifier_losses": False}),
    ("reweight", "volminnet", False, {"t_optimizer": "sgd", "t_lr": 0.5}),
    ("forward", "tv", False, {"t_optimizer": "sgd", "t_lr": 0.5}),
    ("rent", "cycle", True, {"t_lr": 0.5}),
]


def _case_id(case):
    use, est, compat, extra = case
    return "-".join(
        [use, est, "compat" if compat else "paper"] + [f"{k}={v}" for k, v in extra.items()]
    )


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_objective_matches_numpy_transcription(case):
    use, estimator, compat, extra = case
    obj, opts = _objective(use, estimator, compat, **extra)
    aux, T, params = _prepare(obj, estimator, compat, extra.get("anchor_variant", "noisy_class"))
    learnable = estimator in LEARNABLE
    z = _batch_logits()
    loss, grad, new_aux, metrics = _step(obj, aux, z)

    p = np_softmax(z)
    w = np_weights(p, LABELS, MASK, T, use=use, compat=compat, learnable=learnable)
    draws = np_draws(use, w, MASK, opts)
    T_inv = np_volminnet_T(params["w_inv"]) if estimator == "cycle" else None
    ref = lambda zz: np_classifier_loss(
        zz,
        use=use,
        estimator=estimator,
        compat=compat,
        opts=opts,
        T=T,
        T_inv=T_inv,
        w=w,
        draws=draws,
    )
    np.testing.assert_allclose(loss, ref(z), rtol=2e-5)
    np.testing.assert_allclose(grad, num_grad(ref, z), rtol=1e-4, atol=2e-6)
    assert np.all(grad[4] == 0.0)  # the padded row gets no gradient
    if use != "forward":
        np.testing.assert_allclose(metrics["mean_weight"], np_masked_mean(w, MASK), rtol=2e-5)
    if learnable:
        p_det = p  # the T step sees the same (detached) probabilities
        t_loss = sum(v for v, _ in np_t_losses(estimator, params, p_det, compat, opts))
        np.testing.assert_allclose(metrics["t_loss"], t_loss, rtol=2e-5)
        optimizer = opts.get("t_optimizer", "auto")
        if optimizer == "auto":  # the code's: Adam for VolMinNet / TV, SGD (mom. 0.9) for Cycle
            optimizer = "sgd" if estimator == "cycle" else "adam"
        new = np_t_step(estimator, params, p_det, compat, opts, optimizer)
        for name, value in new.items():
            got = np.asarray(new_aux["t_params"][name], np.float64)
            step = value - params[name]
            scale = np.abs(step).max()
            assert scale > 1e-4  # a visible step
            np.testing.assert_allclose(got - params[name], step, rtol=2e-3, atol=1e-3 * scale)
        np.testing.assert_allclose(new_aux["T"], np_T_of(estimator, new), rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(new_aux["T"], aux["T"])


# ----------------------------------------------------------------------------- DWS / RENT draws


def _weights_from_gradient(grad, logits, labels):
    """Per-example weights pi_i of a loss sum_i pi_i CE_i with constant pi: the CE gradient of row
    i is pi_i (p_i - e_{y_i})."""
    d = np_softmax(logits) - np.eye(K)[labels]
    return np.einsum("rbk,bk->rb", grad, d) / np.sum(d * d, axis=1)


@pytest.mark.parametrize("use", ["dws", "rent"])
def test_draw_statistics_match_the_closed_form(use):
    """Over many step keys, the per-example weights of the objective (read off its gradient)
    have mean mu = w / sum w and the variance of the documented number of draws:

    * DWS: the mean of M draws pi ~ Dir(alpha mu) with M = the padded batch size (12 here; the
      code's M = batch size): Var[pi_bar_i] = mu_i (1 - mu_i) / ((alpha + 1) M). One draw per
      batch is 12x, M = the 6 real rows 2x this variance.
    * RENT: M = int(ratio * n_real) indices drawn ~ mu: Var[c_i / M] = mu_i (1 - mu_i) / M.

    The loss's own variance follows: Var[sum_i pi_i l_i] = (sum mu l^2 - (sum mu l)^2) * the
    same factor."""
    b, alpha, reps = 12, 4.0, 4000
    rng = np.random.default_rng(8)
    logits = (rng.normal(size=(b, K)) * 1.5).astype(np.float32)
    labels = rng.integers(0, K, b)
    mask = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1], np.float64)  # 6 real rows
    obj = _build(use=use, warmup_epochs=0, alpha=alpha)
    aux = obj.init(b, K, jax.random.key(0))
    batch = {"label": jnp.asarray(labels), "index": jnp.arange(b), "mask": jnp.asarray(mask)}
    f = jax.value_and_grad(lambda z, key: obj.loss(z, batch, aux, key)[0])
    keys = jax.random.split(jax.random.key(9), reps)
    loss, grad = jax.jit(jax.vmap(f, in_axes=(None, 0)))(jnp.asarray(logits), keys)
    loss, grad = np.asarray(loss, np.float64), np.asarray(grad, np.float64)
    pi = _weights_from_gradient(grad, logits, labels)

    w = np_weights(np_softmax(logits), labels, mask, T_TRUE, use=use, compat=False, learnable=False)
    mu = w / w.sum()
    factor = 1.0 / ((alpha + 1.0) * b) if use == "dws" else 1.0 / int(mask.sum())
    real = mask > 0
    np.testing.assert_allclose(pi[:, ~real], 0.0, atol=1e-6)
    np.testing.assert_allclose(pi.sum(1), 1.0, atol=1e-4)
    se = np.sqrt(mu * (1 - mu) * factor / reps)
    assert np.all(np.abs(pi.mean(0) - mu)[real] < 4 * se[real] + 1e-6)
    np.testing.assert_allclose(pi.var(0)[real], (mu * (1 - mu) * factor)[real], rtol=0.15)
    ce = np_ce(logits, labels)
    mean_l = np.sum(mu * ce)
    np.testing.assert_allclose(loss.mean(), mean_l, rtol=0.01)
    np.testing.assert_allclose(loss.var(), (np.sum(mu * ce**2) - mean_l**2) * factor, rtol=0.12)


# ----------------------------------------------------------------------------- regularisers


def _fit(use, estimator, field, values, *, steps, lr, **options):
    """``steps`` training steps on one fixed batch (32 examples, noisy labels drawn from
    ``T_TRUE``) for each value of the regulariser weight ``field`` (vmapped as the harness's
    per-run options): the classifier is a free table of logits moved by gradient descent (lr;
    0 keeps it fixed) on the objective's loss; T takes the objective's own optimiser steps."""
    b = 32
    rng = np.random.default_rng(10)
    clean = np.arange(b) % K
    noisy = (rng.random(b)[:, None] > np.cumsum(T_TRUE[clean], 1)).sum(1)
    z0 = jnp.asarray(np.eye(K)[clean] + rng.normal(size=(b, K)), jnp.float32)
    batch = {"label": jnp.asarray(noisy), "index": jnp.arange(b), "mask": jnp.ones(b)}
    obj = make_objective(
        use=use, estimator=estimator, warmup_epochs=0, num_classes=K, traced=(field,), **options
    )

    def run(value):
        aux = obj.init(b, K, jax.random.key(0))
        aux["t_hparams"] = {field: value}

        def step(carry, key):
            z, a = carry
            grad, new_aux = jax.grad(lambda zz: obj.loss(zz, batch, a, key)[:2], has_aux=True)(z)
            return (z - lr * grad, new_aux), None

        keys = jax.random.split(jax.random.key(1), steps)
        return jax.lax.scan(step, (z0, aux), keys)[0]

    z, aux = jax.jit(jax.vmap(run))(jnp.asarray(values, jnp.float32))
    return np.asarray(z, np.float64), aux


def test_volminnet_volume_weight_shrinks_the_log_det_of_T():
    """Li et al. 2021 (digest §2: T loss = NLL + lambda log|det T|): a larger volume weight gives
    a T of smaller volume, i.e. (T = rownorm(I + sigmoid(w)(1 - I))) a smaller log-det and more
    mass off the diagonal, from the same T-optimiser steps on the same fixed batch."""
    _, aux = _fit(
        "reweight", "volminnet", "volmin_lambda", [0.0, 0.05, 0.5], steps=20, lr=0.0, t_lr=0.05
    )
    T = np.asarray(aux["T"], np.float64)
    logdet = [np.linalg.slogdet(t)[1] for t in T]
    diag = [np.trace(t) / K for t in T]
    assert logdet[0] > logdet[1] + 0.1 > logdet[2] + 0.2, logdet
    assert diag[0] > diag[1] > diag[2], diag


def test_tv_weight_spreads_the_clean_posteriors_and_T_takes_the_noise():
    """Zhang et al. 2021: the classifier maximises the total variation between its clean
    posteriors (the term TV = -0.5 mean ||p_a - p_b||_1 is added with tv_weight). A larger weight
    gives more distinct predictions, and the T fitted to the noisy labels then has to carry more
    of the noise (a smaller diagonal). Joint training with forward correction (the paper's)."""
    z, aux = _fit("forward", "tv", "tv_weight", [0.0, 0.5, 2.0], steps=30, lr=1.0, t_lr=0.05)
    p = np_softmax(z)
    spread = np.abs(p[:, :, None] - p[:, None, :]).sum(-1).mean((1, 2))
    diag = np.trace(np.asarray(aux["T"], np.float64), axis1=1, axis2=2) / K
    assert spread[0] < spread[1] < spread[2] and spread[2] - spread[0] > 0.05, spread
    assert diag[0] > diag[1] > diag[2] and diag[0] - diag[2] > 0.01, diag


def test_cycle_weight_makes_the_predictions_cycle_consistent():
    """Cheng et al. 2022: the consistency term l3 = -sum p log(p T T_inv) (weight cycle_weight,
    on the classifier with T, T_inv detached as in the RENT code) makes the predictions survive
    the noisy-and-back cycle: a larger weight gives a smaller l3 after the same joint steps,
    and (through the predictions T is fitted to) a different T."""
    z, aux = _fit("reweight", "cycle", "cycle_weight", [0.0, 1.0, 3.0], steps=30, lr=1.0, t_lr=0.5)
    p = np_softmax(z)
    T = np.asarray(aux["T"], np.float64)
    T_inv = np.stack([np_volminnet_T(w) for w in np.asarray(aux["t_params"]["w_inv"], np.float64)])
    l3 = [np_cycle_consistency(p[r], T[r], T_inv[r], np.ones(len(p[r]))) for r in range(3)]
    assert l3[0] > l3[1] + 0.005 > l3[2] + 0.01, l3
    assert np.abs(T[2] - T[0]).max() > 1e-3
