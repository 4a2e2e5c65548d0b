"""Asymmetric losses (Zhou et al. 2021) and their active-passive combinations with NCE."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from robustloss.losses import _common as c
from robustloss.losses._symmetric import nce_parts


def _agce(log_p, a, q):
    return (jnp.power(a + 1.0, q) - jnp.power(a + jnp.exp(log_p), q)) / q


def _aul(log_p, a, q):
    return (jnp.power(a - jnp.exp(log_p), q) - jnp.power(a - 1.0, q)) / q


def asymmetric_generalized_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    a: ArrayLike = 1.0,
    q: ArrayLike = 2.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Asymmetric generalized cross-entropy (AGCE).

    .. math:: \ell(f, y) = \frac{(a + 1)^q - (a + p_y)^q}{q}

    Not symmetric. Probability labels: ``sum_y q_y * loss(f, y)``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      a: ``a > 0`` (may be traced).
      q: ``q > 0`` (may be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import asymmetric_generalized_cross_entropy as agce
      >>> print(agce(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0]), a=1.0, q=2.0))
      [0.4058...]

    References:
      Zhou, Liu, Jiang, Gao and Ji, "Asymmetric Loss Functions for Learning with Noisy
      Labels", ICML 2021.
    """
    c.check_range("agce", "a", a, c.positive, "(0, inf)")
    c.check_range("agce", "q", q, c.positive, "(0, inf)")
    x = c.prepare(logits, labels, axis, where)
    return x.finish(x.of_log_prob(lambda lp: _agce(lp, a, q)))


def asymmetric_unhinged_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    a: ArrayLike = 6.0,
    q: ArrayLike = 1.5,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Asymmetric unhinged loss (AUL).

    .. math:: \ell(f, y) = \frac{(a - p_y)^q - (a - 1)^q}{q}

    Not symmetric. Probability labels: ``sum_y q_y * loss(f, y)``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      a: ``a > 1`` (may be traced).
      q: ``q > 0`` (may be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import asymmetric_unhinged_loss as aul
      >>> print(aul(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0]), a=6.0, q=1.5))
      [0.4...]

    References:
      Zhou, Liu, Jiang, Gao and Ji, "Asymmetric Loss Functions for Learning with Noisy
      Labels", ICML 2021.
    """
    c.check_range("aul", "a", a, lambda x: x > 1, "(1, inf)")
    c.check_range("aul", "q", q, c.positive, "(0, inf)")
    x = c.prepare(logits, labels, axis, where)
    return x.finish(x.of_log_prob(lambda lp: _aul(lp, a, q)))


def _nce_plus(logits, labels, axis, where, alpha, beta, passive):
    x = c.prepare(logits, labels, axis, where)
    ce, denom, log_p = nce_parts(x)
    pas = passive(log_p)
    if not x.is_int:
        pas = x.sum(x.labels * pas)
    return x.finish(x.nan_below_two(alpha * ce / denom + beta * pas))


def nce_plus_agce(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: ArrayLike = 1.0,
    beta: ArrayLike = 1.0,
    a: ArrayLike = 3.0,
    q: ArrayLike = 1.5,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Active-passive loss NCE+AGCE: ``alpha * NCE + beta * AGCE(a, q)``.

    .. math:: \ell(f, y) = \alpha \frac{\log p_y}{\sum_k \log p_k}
       + \beta \frac{(a + 1)^q - (a + p_y)^q}{q}

    Probability labels: ``sum_y q_y * loss(f, y)``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      alpha: NCE weight, ``>= 0``; beta: AGCE weight, ``>= 0``; a: ``> 0``; q: ``> 0`` (all may
        be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import nce_plus_agce
      >>> print(nce_plus_agce(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])))
      [0.4692...]

    References:
      Zhou, Liu, Jiang, Gao and Ji, "Asymmetric Loss Functions for Learning with Noisy
      Labels", ICML 2021.
    """
    c.check_range("nce_agce", "alpha", alpha, c.nonnegative, "[0, inf)")
    c.check_range("nce_agce", "beta", beta, c.nonnegative, "[0, inf)")
    c.check_range("nce_agce", "a", a, c.positive, "(0, inf)")
    c.check_range("nce_agce", "q", q, c.positive, "(0, inf)")
    return _nce_plus(logits, labels, axis, where, alpha, beta, lambda lp: _agce(lp, a, q))


def nce_plus_aul(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: ArrayLike = 1.0,
    beta: ArrayLike = 1.0,
    a: ArrayLike = 6.0,
    q: ArrayLike = 1.5,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Active-passive loss NCE+AUL: ``alpha * NCE + beta * AUL(a, q)``.

    .. math:: \ell(f, y) = \alpha \frac{\log p_y}{\sum_k \log p_k}
       + \beta \frac{(a - p_y)^q - (a - 1)^q}{q}

    Probability labels: ``sum_y q_y * loss(f, y)``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      alpha: NCE weight, ``>= 0``; beta: AUL weight, ``>= 0``; a: ``> 1``; q: ``> 0`` (all may
        be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import nce_plus_aul
      >>> print(nce_plus_aul(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])))
      [0.5307...]

    References:
      Zhou, Liu, Jiang, Gao and Ji, "Asymmetric Loss Functions for Learning with Noisy
      Labels", ICML 2021.
    """
    c.check_range("nce_aul", "alpha", alpha, c.nonnegative, "[0, inf)")
    c.check_range("nce_aul", "beta", beta, c.nonnegative, "[0, inf)")
    c.check_range("nce_aul", "a", a, lambda x: x > 1, "(1, inf)")
    c.check_range("nce_aul", "q", q, c.positive, "(0, inf)")
    return _nce_plus(logits, labels, axis, where, alpha, beta, lambda lp: _aul(lp, a, q))
