"""Ways to use a transition matrix in training: forward correction, reweighting, DWS, RENT.

Convention everywhere: ``T[i, j] = P(noisy = j | clean = i)`` (rows sum to 1). The RENT paper
and its fixed-T code write the transpose ``T_paper[j, i]``; pass ``T_paper.T`` here. The noisy
posterior predicted from the clean posterior ``p = softmax(logits)`` is ``p @ T``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from robustloss.losses._common import valid_int_labels
from robustloss.options import Option

#: RENT's resampling budget (the ``ratio`` option of the use table `USES`), written once here.
RENT_RATIO = Option(1.0, low=0.0, low_open=True)

Loss = Callable[[jax.Array, jax.Array], jax.Array]

# The constant the RENT/DWS code adds inside logs and denominators.
CODE_EPS = 1e-12
# Smallest Dirichlet concentration sampled; float32 log-gamma draws are -inf below ~1e-38.
_MIN_CONCENTRATION = 1e-30


def check_transition_matrix(
    T: ArrayLike, num_classes: int | None = None, *, name: str = "T", atol: float = 1e-4
) -> ArrayLike:
    """Raises ``ValueError`` unless a concrete ``T`` is a row-stochastic ``[K, K]`` matrix.

    Checks: shape ``[K, K]`` (``K = num_classes`` when given), finite, non-negative (to
    ``-1e-6``), every row summing to 1 within ``atol`` (a zero row fails). A traced ``T`` (inside
    ``jit``/``vmap``/``grad``) cannot be inspected and is returned unchecked: under a transform
    the caller guarantees the contract (the transition objective builds its T row-stochastic
    by construction). The message names ``name``, the bad values and the convention.

    Args:
      T: the matrix ``T[clean, noisy]``.
      num_classes: expected K (None: any square shape).
      name: what to call it in the message.
      atol: tolerance on the row sums.

    Returns:
      ``T`` unchanged.

    Example:
      >>> check_transition_matrix(jnp.eye(2)).shape
      (2, 2)
      >>> check_transition_matrix(jnp.array([[0.5, 0.5], [0.0, 0.0]]))  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: T must be row-stochastic T[clean, noisy] ...
    """
    if isinstance(T, jax.core.Tracer):
        return T
    try:
        arr = np.asarray(T, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a [K, K] array of probabilities, got {T!r}") from None
    k = arr.shape[0] if num_classes is None and arr.ndim == 2 else num_classes
    if arr.ndim != 2 or arr.shape != (k, k):
        want = "[K, K]" if num_classes is None else f"({num_classes}, {num_classes})"
        raise ValueError(f"{name} has shape {arr.shape}; expected a square matrix {want}")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0].tolist()
        raise ValueError(f"{name} has non-finite entries (first at {bad}); it must be finite")
    if (arr < -1e-6).any():
        i, j = np.argwhere(arr < -1e-6)[0].tolist()
        raise ValueError(f"{name}[{i}, {j}] = {arr[i, j]:.4g} is negative; entries must be >= 0")
    sums = arr.sum(1)
    if not np.allclose(sums, 1.0, atol=atol):
        raise ValueError(
            f"{name} must be row-stochastic T[clean, noisy] (non-negative, rows sum to 1); "
            f"row sums are {sums.round(4).tolist()} (pass the transpose of a column-"
            "stochastic paper matrix)"
        )
    return T


def cross_entropy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Per-example cross-entropy ``-log softmax(logits)[y]`` for integer labels ``[B]``.

    A label outside ``[0, K)`` (e.g. ``-1``) gives NaN, like every registry loss.
    """
    logits = jnp.asarray(logits)
    logp = jax.nn.log_softmax(logits, axis=-1)
    safe, valid = valid_int_labels(labels, logits.shape[-1])
    ce = -jnp.take_along_axis(logp, safe[..., None], -1)[..., 0]
    return jnp.where(valid, ce, jnp.nan)


def _mask_or_ones(mask: ArrayLike | None, n: int) -> jax.Array:
    return jnp.ones((n,), jnp.float32) if mask is None else jnp.asarray(mask, jnp.float32)


def noisy_log_posterior(logits: ArrayLike, T: ArrayLike) -> jax.Array:
    """``log(p @ T)``, the log noisy-label posterior, computed as a log-sum-exp.

    ``log (p T)_j = logsumexp_k(log p_k + log T[k, j])``: exact (no eps) and finite whenever
    column j of T has a positive entry.

    Args:
      logits: ``[B, K]`` classifier logits (clean-class scores).
      T: ``[K, K]`` row-stochastic, ``T[clean, noisy]``.

    Returns:
      ``[B, K]`` log-probabilities of the noisy labels.

    Raises:
      ValueError: for a concrete T that is not row-stochastic ``[K, K]``
        (`check_transition_matrix`; a traced T is not checked).
    """
    check_transition_matrix(T, jnp.shape(logits)[-1])
    return _noisy_log_posterior(logits, T)


def _noisy_log_posterior(logits: ArrayLike, T: ArrayLike) -> jax.Array:
    logp = jax.nn.log_softmax(jnp.asarray(logits), axis=-1)
    logT = jnp.log(jnp.asarray(T, logp.dtype))
    return jax.nn.logsumexp(logp[:, :, None] + logT[None, :, :], axis=1)


def forward_correction_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    T: ArrayLike,
    *,
    base_loss: Loss | None = None,
    eps: float = 0.0,
) -> jax.Array:
    """Forward-corrected per-example loss ``l(log(p T), y~)`` (Patrini et al. 2017).

    With cross-entropy this is ``-log (p T)_{y~}``. Any registry loss is applied to the
    corrected log-probabilities ``log(p T)`` used as logits (their softmax is ``p T``).
    T is a constant (no gradient); the gradient flows through ``p``.

    Args:
      logits: ``[B, K]`` logits.
      labels: ``[B]`` noisy integer labels.
      T: ``[K, K]`` ``T[clean, noisy]``.
      base_loss: ``(logits, labels) -> [B]``; cross-entropy if None.
      eps: if > 0, use ``log(p T + eps)`` like the RENT code (``1e-12``); 0 is the exact
        log-sum-exp form.

    Returns:
      ``[B]`` per-example losses.

    Example:
      >>> forward_correction_loss(jnp.zeros((1, 2)), jnp.array([0]), jnp.eye(2))  # log 2
      Array([0.6931472], dtype=float32)

    Raises:
      ValueError: for a concrete T that is not row-stochastic ``[K, K]``
        (`check_transition_matrix`; a traced T is not checked).

    References:
      G. Patrini, A. Rozza, A. K. Menon, R. Nock, L. Qu, "Making deep neural networks robust to
      label noise: a loss correction approach", CVPR 2017.
    """
    check_transition_matrix(T, jnp.shape(logits)[-1])
    return _forward_correction_loss(logits, labels, T, base_loss=base_loss, eps=eps)


def _forward_correction_loss(logits, labels, T, *, base_loss=None, eps=0.0) -> jax.Array:
    """`forward_correction_loss` without the check on T (T may be non-stochastic in compat)."""
    base_loss = cross_entropy if base_loss is None else base_loss
    T = jax.lax.stop_gradient(jnp.asarray(T))
    if eps > 0:
        p = jax.nn.softmax(jnp.asarray(logits), axis=-1)
        corrected = jnp.log(p @ T + eps)
    else:
        corrected = _noisy_log_posterior(logits, T)
    return base_loss(corrected, labels)


def importance_log_weights(
    logits: ArrayLike,
    labels: ArrayLike,
    T: ArrayLike,
    *,
    eps_num: float = 0.0,
    eps_den: float = 0.0,
) -> jax.Array:
    """Log importance weights ``log w = log p_{y~} - log (p T)_{y~}``, under stop-gradient.

    ``w_i = P(Y = y~_i | x_i) / P(Y~ = y~_i | x_i)`` (Liu & Tao 2016), both from the current
    model. With ``eps_num = eps_den = 0`` it is computed exactly in log space (``T = I`` gives
    ``w = 1`` exactly); the RENT code uses ``eps_den = 1e-12`` and the DWS code both.

    Args:
      logits: ``[B, K]`` logits (detached inside).
      labels: ``[B]`` noisy integer labels.
      T: ``[K, K]`` ``T[clean, noisy]``.
      eps_num, eps_den: constants added to numerator / denominator (probability space).

    Returns:
      ``[B]`` log-weights (``-inf`` for a weight that is exactly 0, NaN for a label outside
      ``[0, K)``).

    Raises:
      ValueError: for a concrete T that is not row-stochastic ``[K, K]``
        (`check_transition_matrix`; a traced T is not checked).
    """
    check_transition_matrix(T, jnp.shape(logits)[-1])
    return _importance_log_weights(logits, labels, T, eps_num=eps_num, eps_den=eps_den)


def _importance_log_weights(logits, labels, T, *, eps_num=0.0, eps_den=0.0) -> jax.Array:
    logits = jax.lax.stop_gradient(jnp.asarray(logits))
    T = jax.lax.stop_gradient(jnp.asarray(T, logits.dtype))
    labels, valid = valid_int_labels(labels, logits.shape[-1])
    rows = jnp.arange(logits.shape[0])
    if eps_num > 0 or eps_den > 0:
        p = jax.nn.softmax(logits, axis=-1)
        num = p[rows, labels] + eps_num
        den = jnp.sum(p * T[:, labels].T, axis=-1) + eps_den
        return jnp.where(valid, jnp.log(num) - jnp.log(den), jnp.nan)
    logp = jax.nn.log_softmax(logits, axis=-1)
    log_den = jax.nn.logsumexp(logp + jnp.log(T[:, labels].T), axis=-1)
    return jnp.where(valid, logp[rows, labels] - log_den, jnp.nan)


def importance_weights(
    logits: ArrayLike,
    labels: ArrayLike,
    T: ArrayLike,
    mask: ArrayLike | None = None,
    *,
    normalize: bool = False,
    eps_num: float = 0.0,
    eps_den: float = 0.0,
) -> jax.Array:
    """Importance-reweighting weights ``w_i = p_{y~_i}(x_i) / (p(x_i) T)_{y~_i}``.

    The reweighted risk ``(1/N) sum_i w_i l(f(x_i), y~_i)`` is an unbiased estimate of the
    clean risk when ``p`` is the true clean posterior and T the true matrix (Liu & Tao 2016).
    Weights are constants (stop-gradient). Non-finite weights (a zero column of T) become 0;
    masked rows get weight 0; a real row whose label is outside ``[0, K)`` gets NaN (and with
    ``normalize`` every weight is NaN), so the reweighted loss is NaN rather than silently
    dropping the row.

    Args:
      logits: ``[B, K]`` logits.
      labels: ``[B]`` noisy labels.
      T: ``[K, K]`` ``T[clean, noisy]``.
      mask: ``[B]`` 1 for real rows, 0 for padding (None: all real).
      normalize: divide by the sum over the real rows (weights sum to 1).
      eps_num, eps_den: see ``importance_log_weights``.

    Returns:
      ``[B]`` non-negative weights.

    Example:
      >>> importance_weights(jnp.zeros((2, 2)), jnp.array([0, 1]), jnp.eye(2))
      Array([1., 1.], dtype=float32)

    Raises:
      ValueError: for a concrete T that is not row-stochastic ``[K, K]``
        (`check_transition_matrix`; a traced T is not checked).

    References:
      T. Liu, D. Tao, "Classification with noisy labels by importance reweighting", IEEE TPAMI
      2016. X. Xia et al., "Are anchor points really indispensable in label-noise learning?",
      NeurIPS 2019 (the T-Revision form used by the RENT code).
    """
    check_transition_matrix(T, jnp.shape(logits)[-1])
    return _importance_weights(
        logits, labels, T, mask, normalize=normalize, eps_num=eps_num, eps_den=eps_den
    )


def _importance_weights(
    logits, labels, T, mask=None, *, normalize=False, eps_num=0.0, eps_den=0.0
) -> jax.Array:
    """`importance_weights` without the check on T (T may be non-stochastic in compat)."""
    logits = jnp.asarray(logits)
    mask = _mask_or_ones(mask, logits.shape[0])
    w = jnp.exp(_importance_log_weights(logits, labels, T, eps_num=eps_num, eps_den=eps_den))
    _, valid = valid_int_labels(labels, logits.shape[-1])
    w = jnp.where(jnp.isfinite(w) & (mask > 0), w, 0.0)
    w = jnp.where(valid | (mask <= 0), w, jnp.nan)
    if normalize:
        w = w / jnp.maximum(jnp.sum(w), jnp.finfo(w.dtype).tiny)
    return w


def dirichlet_weights(
    key: jax.Array,
    weights: ArrayLike,
    mask: ArrayLike | None = None,
    *,
    alpha: float | ArrayLike,
    num_draws: int,
) -> jax.Array:
    """DWS: the mean of ``num_draws`` draws ``pi ~ Dirichlet(alpha * w / sum w)``.

    ``E[pi] = mu = w / sum w`` and ``Var[pi_i] = mu_i (1 - mu_i) / (alpha + 1)``, so alpha -> inf
    gives normalised reweighting and alpha -> 0 one-hot draws, i.e. multinomial resampling of
    ``num_draws`` examples (RENT). Sampled in log space, ``log pi = log_softmax(log G)`` with
    ``log G ~ loggamma(alpha * mu)``, so tiny ``alpha * mu`` never gives NaN; concentrations
    below 1e-30 are raised to 1e-30 (float32 log-gamma draws are ``-inf`` below ~1e-38).
    Masked rows and zero weights get exactly 0. The loss is ``sum_i pi_bar_i l_i``. A NaN
    weight on a real row (an out-of-range label, see `importance_weights`) makes every output
    weight NaN.

    Args:
      key: PRNG key.
      weights: ``[B]`` non-negative (unnormalised) weights.
      mask: ``[B]`` 1 real / 0 padding.
      alpha: total concentration (> 0).
      num_draws: number of Dirichlet draws M_d (>= 1, static).

    Returns:
      ``[B]`` weights summing to 1 over the real rows (all zero if no row is real).

    Example:
      >>> pi = dirichlet_weights(jax.random.key(0), jnp.ones(4), alpha=1e6, num_draws=8)
      >>> bool(jnp.allclose(pi, 0.25, atol=1e-2))
      True

    References:
      H. Bae, S. Shin, B. Na, I.-C. Moon, "Dirichlet-based per-sample weighting by transition
      matrix for noisy label learning", ICLR 2024.
    """
    w = jax.lax.stop_gradient(jnp.asarray(weights, jnp.float32))
    mask = _mask_or_ones(mask, w.shape[0])
    valid = (mask > 0) & (w > 0)
    logw = jnp.where(valid, jnp.log(jnp.where(valid, w, 1.0)), -jnp.inf)
    log_mu = logw - jax.nn.logsumexp(logw)
    conc = jnp.exp(jnp.log(jnp.asarray(alpha, jnp.float32)) + log_mu)
    conc = jnp.where(valid, jnp.maximum(conc, _MIN_CONCENTRATION), 1.0)
    log_g = jax.random.loggamma(key, jnp.broadcast_to(conc, (num_draws, w.shape[0])))
    log_g = jnp.where(valid[None, :], log_g, -jnp.inf)
    log_pi = jax.nn.log_softmax(log_g, axis=-1)
    pi = jnp.where(valid[None, :], jnp.exp(log_pi), 0.0)
    out = jnp.where(jnp.any(valid), jnp.mean(pi, axis=0), 0.0)
    return jnp.where(jnp.any((mask > 0) & jnp.isnan(w)), jnp.nan, out)


def rent_resample(
    key: jax.Array,
    weights: ArrayLike,
    mask: ArrayLike | None = None,
    *,
    ratio: float = RENT_RATIO.default,
) -> tuple[jax.Array, jax.Array]:
    """RENT: draw ``M = int(ratio * B)`` batch indices with replacement, ``P(i) ∝ w_i``.

    The padded batch size B is static, so ``int(ratio * B)`` indices are always drawn and the
    first ``int(ratio * n_real)`` are marked valid (i.i.d. draws, so this is the multinomial
    with the real batch's budget). Masked rows are never drawn. A NaN weight on a real row (an
    out-of-range label, see `importance_weights`) makes ``valid`` NaN, so the resampled loss is
    NaN rather than silently skipping the row.

    Args:
      key: PRNG key.
      weights: ``[B]`` non-negative weights (unnormalised).
      mask: ``[B]`` 1 real / 0 padding.
      ratio: budget ratio N (> 0; the paper's default 1.0).

    Returns:
      ``(idx [M], valid [M] float)``.

    Example:
      >>> idx, valid = rent_resample(jax.random.key(0), jnp.array([0., 1., 0.]))
      >>> idx.tolist(), valid.tolist()
      ([1, 1, 1], [1.0, 1.0, 1.0])

    References:
      H. Bae et al., ICLR 2024 (Algorithm 1).
    """
    w = jax.lax.stop_gradient(jnp.asarray(weights, jnp.float32))
    b = w.shape[0]
    mask = _mask_or_ones(mask, b)
    valid_rows = (mask > 0) & (w > 0)
    logw = jnp.where(valid_rows, jnp.log(jnp.where(valid_rows, w, 1.0)), -jnp.inf)
    logw = jnp.where(jnp.any(valid_rows), logw, jnp.where(mask > 0, 0.0, -jnp.inf))
    m_max = max(int(ratio * b), 1)
    idx = jax.random.categorical(key, logw, shape=(m_max,))
    m_real = jnp.floor(ratio * jnp.sum(mask))
    valid = (jnp.arange(m_max) < m_real).astype(jnp.float32)
    return idx, jnp.where(jnp.any((mask > 0) & jnp.isnan(w)), jnp.nan, valid)


def effective_sample_fraction(weights: ArrayLike, mask: ArrayLike | None = None) -> jax.Array:
    """Kish effective sample size over the real rows, as a fraction: ``(Σw)² / Σw² / n``."""
    w = jnp.asarray(weights, jnp.float32)
    mask = _mask_or_ones(mask, w.shape[0])
    w = w * mask
    ess = jnp.sum(w) ** 2 / jnp.maximum(jnp.sum(w**2), jnp.finfo(jnp.float32).tiny)
    return ess / jnp.maximum(jnp.sum(mask), 1.0)
