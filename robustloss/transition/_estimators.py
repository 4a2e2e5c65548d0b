"""Transition-matrix estimators returning a row-stochastic ``T[clean, noisy]``.

Fixed estimators (anchor points, DualT) are pure functions of the softmax outputs of a warmed-up
model on the training set. Learnable estimators (VolMinNet, TV, Cycle) are a parameterisation
``params -> T`` plus a loss minimised by their own optax optimiser, one step per training step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from robustloss.losses._common import valid_int_labels
from robustloss.objective import masked_mean
from robustloss.options import Option
from robustloss.transition._utilise import CODE_EPS

# The anchor estimators' options, as the estimator table (`ESTIMATORS`) offers them; each default
# is written here once, and the functions' keyword defaults below are these.
ANCHOR_VARIANT = Option("noisy_class", choices=("noisy_class", "all"))
ANCHOR_QUANTILE = Option(0.97, low=0.0, high=1.0, low_open=True, high_open=True)


def transition_error(T_hat: ArrayLike, T: ArrayLike) -> jax.Array:
    """Estimation error ``||T_hat - T||_1 / K`` (entrywise L1, i.e. the mean row L1 distance).

    Example:
      >>> float(transition_error(jnp.eye(2), jnp.array([[0.5, 0.5], [0.0, 1.0]])))
      0.5
    """
    T_hat, T = jnp.asarray(T_hat), jnp.asarray(T)
    return jnp.sum(jnp.abs(T_hat - T)) / T.shape[0]


def _anchor_row_noisy_class(probs, labels, i, keep_fraction):
    """Row i from the k-th most confident example among those labelled i (RENT code)."""
    is_i = labels == i
    n_i = jnp.sum(is_i)
    score = jnp.where(is_i, probs[:, i], -jnp.inf)
    order = jnp.argsort(-score)
    k = jnp.maximum(jnp.floor(keep_fraction * n_i).astype(jnp.int32), 1)
    row = probs[order[k - 1]]
    return jnp.where(n_i > 0, row, jax.nn.one_hot(i, probs.shape[1], dtype=probs.dtype))


def _anchor_row_all(probs, i, quantile):
    """Row i from the most confident example below the quantile over all examples (Patrini)."""
    v = probs[:, i]
    thresh = jnp.percentile(v, 100.0 * quantile, method="higher")
    robust = jnp.where(v >= thresh, -jnp.inf, v)
    best = jnp.where(jnp.all(v >= thresh), jnp.argmax(v), jnp.argmax(robust))
    return probs[best]


def anchor_transition(
    probs: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    quantile: float = ANCHOR_QUANTILE.default,
    variant: str = ANCHOR_VARIANT.default,
) -> jax.Array:
    """Anchor-point estimate of T from a model trained on noisy labels (Patrini et al. 2017).

    A model fitted to noisy labels estimates ``P(y~ | x) = (p(x) T)``. For an anchor ``x_i`` of
    clean class i (``P(y = i | x_i) = 1``) that is row i of T, so ``T_hat[i] = probs[x_i]``.
    The anchor is the example with the ``quantile``-th largest ``probs[:, i]`` (robust to
    outliers): ``variant="noisy_class"`` searches the examples whose noisy label is i and takes
    the ``int((1 - quantile) n_i)``-th largest (RENT code; at least the largest);
    ``variant="all"`` searches all examples and takes the largest value strictly below the
    ``quantile`` percentile ("higher" interpolation; Patrini's code).

    Args:
      probs: ``[N, K]`` softmax outputs of the warmed-up model on the training set.
      labels: ``[N]`` noisy labels (needed for ``"noisy_class"``).
      quantile: in (0, 1), 0.97 in both codes.
      variant: ``"noisy_class"`` or ``"all"``.

    Returns:
      ``[K, K]`` row-stochastic ``T[clean, noisy]`` (rows are softmax outputs; a class with
      no candidate gets the identity row).

    Example:
      >>> probs = jnp.array([[0.9, 0.1], [0.2, 0.8]])
      >>> [[round(float(v), 2) for v in row] for row in anchor_transition(probs, jnp.array([0, 1]))]
      [[0.9, 0.1], [0.2, 0.8]]

    References:
      G. Patrini et al., "Making deep neural networks robust to label noise: a loss correction
      approach", CVPR 2017.
    """
    ANCHOR_VARIANT.validate("variant", variant)
    probs = jnp.asarray(probs)
    k = probs.shape[1]
    classes = jnp.arange(k)
    if variant == "all":
        return jax.vmap(lambda i: _anchor_row_all(probs, i, quantile))(classes)
    if labels is None:
        raise ValueError("variant='noisy_class' needs the noisy labels")
    labels = jnp.asarray(labels).astype(jnp.int32)
    keep = round(1.0 - quantile, 10)
    return jax.vmap(lambda i: _anchor_row_noisy_class(probs, labels, i, keep))(classes)


def dualt_transition(
    probs: ArrayLike,
    labels: ArrayLike,
    *,
    anchor_probs: ArrayLike | None = None,
    quantile: float = ANCHOR_QUANTILE.default,
    variant: str = ANCHOR_VARIANT.default,
    empty_rows: str = "identity",
) -> jax.Array:
    """Dual-T estimate ``T = T_club @ T_spade`` (Yao et al. 2020), in ``T[clean, noisy]`` form.

    Factorises ``y -> y' -> y~`` through the model's prediction ``y' = argmax p(x)``:
    ``T_club[y, y']`` is the anchor estimate (``anchor_transition``) and
    ``T_spade[y', y~] = #{argmax p = y', noisy = y~} / #{argmax p = y'}`` is counted. The paper
    writes ``T_spade @ T_club`` for the transposed (column-stochastic) matrices.

    Args:
      probs: ``[N, K]`` softmax outputs (eval mode) used for ``T_spade``.
      labels: ``[N]`` noisy labels.
      anchor_probs: ``[N, K]`` outputs used for ``T_club`` (default: ``probs``).
      quantile, variant: passed to ``anchor_transition``.
      empty_rows: ``"identity"`` (a class never predicted gets ``e_y'``, keeping T
        row-stochastic) or ``"zeros"`` (the code's NaN -> 0).

    Returns:
      ``[K, K]`` ``T[clean, noisy]``.

    References:
      Y. Yao, T. Liu, B. Han, M. Gong, J. Deng, G. Niu, M. Sugiyama, "Dual T: reducing
      estimation error for transition matrix in label-noise learning", NeurIPS 2020.
    """
    probs = jnp.asarray(probs)
    k = probs.shape[1]
    labels = jnp.asarray(labels).astype(jnp.int32)
    anchor_probs = probs if anchor_probs is None else jnp.asarray(anchor_probs)
    t_club = anchor_transition(anchor_probs, labels, quantile=quantile, variant=variant)
    pred = jnp.argmax(probs, axis=-1)
    counts = jnp.zeros((k, k), probs.dtype).at[pred, labels].add(1.0)
    totals = jnp.sum(counts, axis=1, keepdims=True)
    spade = counts / jnp.maximum(totals, 1.0)
    if empty_rows == "identity":
        spade = jnp.where(totals > 0, spade, jnp.eye(k, dtype=probs.dtype))
    elif empty_rows != "zeros":
        raise ValueError(f"empty_rows={empty_rows!r} is not valid; choose 'identity' or 'zeros'")
    return t_club @ spade


# ----------------------------------------------------------------------------- learnable T


def volminnet_init(num_classes: int, init: float = -2.0) -> jax.Array:
    """VolMinNet parameters ``w [K, K]`` (init -2: diagonal 0.482, off-diagonal 0.058 at K=10)."""
    return jnp.full((num_classes, num_classes), init, jnp.float32)


def volminnet_matrix(w: ArrayLike) -> jax.Array:
    """``T = rownorm(I + sigmoid(w) * (1 - I))``: diagonally dominant, row-stochastic.

    References:
      X. Li, T. Liu, B. Han, G. Niu, M. Sugiyama, "Provably end-to-end label-noise learning
      without anchor points", ICML 2021.
    """
    w = jnp.asarray(w)
    eye = jnp.eye(w.shape[0], dtype=w.dtype)
    t = eye + jax.nn.sigmoid(w) * (1.0 - eye)
    return t / jnp.sum(t, axis=1, keepdims=True)


def tv_init(num_classes: int) -> jax.Array:
    """TV parameters ``w [K, K]`` = 1: initial T has diagonal 0.5, off-diagonal 0.5/(K-1)."""
    return jnp.ones((num_classes, num_classes), jnp.float32)


def tv_matrix(w: ArrayLike) -> jax.Array:
    """``T = softmax_row(L)``, ``L_kk = -log 2``, ``L_kj = w_kj log(0.5 / (K-1))`` (k != j).

    References:
      Y. Zhang, G. Niu, M. Sugiyama, "Learning noise transition matrices from only noisy labels
      via total variation regularization", ICML 2021.
    """
    w = jnp.asarray(w)
    k = w.shape[0]
    eye = jnp.eye(k, dtype=bool)
    off = w * jnp.log(0.5 / (k - 1))
    return jax.nn.softmax(jnp.where(eye, -jnp.log(2.0), off), axis=1)


def forward_nll(probs: ArrayLike, labels: ArrayLike, T: ArrayLike, mask: ArrayLike) -> jax.Array:
    """Masked mean of ``-log((p T)_{y~} + 1e-12)``: the T-fitting loss of the learnable methods.

    A real row with a label outside ``[0, K)`` makes the result NaN.
    """
    probs, T = jnp.asarray(probs), jnp.asarray(T)
    noisy = probs @ T
    lab, valid = valid_int_labels(labels, probs.shape[1])
    nll = -jnp.log(noisy[jnp.arange(noisy.shape[0]), lab] + CODE_EPS)
    nll = jnp.where(valid | (jnp.asarray(mask) <= 0), nll, jnp.nan)
    return masked_mean(nll, jnp.asarray(mask, probs.dtype))


def total_variation(probs: ArrayLike, key: jax.Array, mask: ArrayLike) -> jax.Array:
    """``-0.5 * mean_pairs ||p_a - p_b||_1`` over random pairs of real rows (Zhang et al. 2021).

    Minimising it pushes predictions apart (sharper, more distinct clean posteriors).
    """
    probs = jnp.asarray(probs)
    mask = jnp.asarray(mask, probs.dtype)
    perm = jax.random.permutation(key, probs.shape[0])
    pair_mask = mask * mask[perm]
    dist = jnp.sum(jnp.abs(probs - probs[perm]), axis=-1)
    return -0.5 * masked_mean(dist, pair_mask)


def cycle_backward_loss(
    probs: ArrayLike, labels: ArrayLike, T_inv: ArrayLike, mask: ArrayLike, *, code_softmax: bool
) -> jax.Array:
    """Cycle l2 = ``K * mean_{i,c}(-p_ic log((e_{y~_i} T_inv)_c + 1e-12))`` over real rows.

    ``code_softmax=True`` replaces the one-hot ``e_{y~}`` by ``softmax(e_{y~})`` as the RENT
    code does. A real row with a label outside ``[0, K)`` makes the result NaN.
    """
    probs = jnp.asarray(probs)
    k = probs.shape[1]
    mask = jnp.asarray(mask, probs.dtype)
    lab, valid = valid_int_labels(labels, k)
    onehot = jax.nn.one_hot(lab, k, dtype=probs.dtype)
    onehot = jnp.where((valid | (mask <= 0))[:, None], onehot, jnp.nan)
    if code_softmax:
        onehot = jax.nn.softmax(onehot, axis=-1)
    back = onehot @ jnp.asarray(T_inv)
    per = jnp.sum(-probs * jnp.log(back + CODE_EPS), axis=-1)
    return masked_mean(per, jnp.asarray(mask, probs.dtype))


def cycle_consistency_loss(
    probs: ArrayLike, T: ArrayLike, T_inv: ArrayLike, mask: ArrayLike
) -> jax.Array:
    """Cycle l3 = ``K * mean_{i,c}(-p_ic log((p T T_inv)_ic + 1e-12))`` over real rows.

    References:
      D. Cheng, Y. Ning, N. Wang, X. Gao, H. Yang, Y. Du, B. Han, T. Liu, "Class-dependent
      label-noise learning with cycle-consistency regularization", NeurIPS 2022.
    """
    probs = jnp.asarray(probs)
    cyc = probs @ jnp.asarray(T) @ jnp.asarray(T_inv)
    per = jnp.sum(-probs * jnp.log(cyc + CODE_EPS), axis=-1)
    return masked_mean(per, jnp.asarray(mask, probs.dtype))
