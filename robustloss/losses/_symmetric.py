"""Bounded and symmetric losses: MAE, MSE, GCE, RCE, SCE, NCE, NCE+RCE, RLL, JS.

A loss is *symmetric* (Ghosh, Kumar and Sastry, AAAI 2017) when ``sum_y loss(f, y)`` is the same
constant for every ``f``; such losses are provably robust to uniform label noise. Exactly
symmetric here: MAE (``2(K-1)``), GCE with ``q = 1`` (``K-1``), RCE (``-A(K-1)``), NCE (``1``),
NCE+RCE (``alpha - beta A (K-1)``) and RLL (``K log((alpha+1)/alpha)``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from robustloss.losses import _common as c


def mean_absolute_error(
    logits: ArrayLike, labels: ArrayLike, *, axis: int = -1, where: ArrayLike | None = None
) -> jax.Array:
    r"""Mean absolute error between the one-hot label and the softmax probabilities.

    .. math:: \ell(f, y) = \sum_k |e_{y,k} - p_k| = 2 (1 - p_y)

    This is Ghosh et al.'s scale; the APL code (Ma et al.) uses half of it, ``1 - p_y``.
    Symmetric: ``sum_y loss(f, y) = 2(K - 1)``. Probability labels: ``sum_y q_y * loss(f, y)``
    (not ``sum_k |q_k - p_k|``).

    Note (LDR code): the released LDR code computes ``sum_k (e_{y,k} - p_k)``, which is
    identically 0, so its "MAE" never trains. That bug is documented, not reproduced.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses in ``[0, 2]``, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import mean_absolute_error
      >>> print(mean_absolute_error(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])))
      [0.42...]

    References:
      Ghosh, Kumar and Sastry, "Robust Loss Functions under Label Noise for Deep Neural
      Networks", AAAI 2017.
    """
    x = c.prepare(logits, labels, axis, where)
    return x.finish(x.of_log_prob(lambda lp: 2.0 * c.one_minus_exp(lp)))


def mean_squared_error(
    logits: ArrayLike, labels: ArrayLike, *, axis: int = -1, where: ArrayLike | None = None
) -> jax.Array:
    r"""Squared error between the one-hot label and the softmax probabilities (Brier score).

    .. math:: \ell(f, y) = \sum_k (e_{y,k} - p_k)^2 = 1 - 2 p_y + \|p\|^2

    With ``where``, ``p`` and ``||p||^2`` are over the unmasked classes.
    Not symmetric (``sum_y loss = K - 2 + K ||p||^2``). Probability labels:
    ``sum_y q_y * loss(f, y) = (sum q)(1 + ||p||^2) - 2 q.p``, which differs from
    ``||q - p||^2`` by the constant ``1 - ||q||^2``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses in ``[0, 2]``, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import mean_squared_error
      >>> print(mean_squared_error(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])))
      [0.07...]

    References:
      Brier, "Verification of forecasts expressed in terms of probability", Monthly Weather
      Review, 1950; Ghosh, Kumar and Sastry, AAAI 2017 (as a noise-robust baseline).
    """
    x = c.prepare(logits, labels, axis, where)
    p = x.softmax()
    sq = x.sum(p * p)
    if x.is_int:
        return x.finish(1.0 - 2.0 * x.take(p) + sq)
    return x.finish(x.sum(x.labels) * (1.0 + sq) - 2.0 * x.sum(x.labels * p))


def _lq(log_p: jax.Array, q) -> jax.Array:
    """``(1 - p^q)/q = -expm1(q log p)/q``: exact as ``q -> 0`` (gives ``-log p``)."""
    return -jnp.expm1(q * log_p) / q


def generalized_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    q: ArrayLike = 0.7,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Generalized cross-entropy (the negative Box-Cox / L_q loss).

    .. math:: \ell(f, y) = \frac{1 - p_y^{\,q}}{q}

    ``q -> 0`` gives cross-entropy, ``q = 1`` gives ``1 - p_y`` (MAE/2, symmetric with
    ``sum_y = K - 1``). Computed as ``-expm1(q log p_y)/q``, accurate for small ``q``.
    Probability labels: ``sum_y q_y * loss(f, y)``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      q: exponent in ``(0, 1]`` (may be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses in ``[0, 1/q]``, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import generalized_cross_entropy
      >>> print(generalized_cross_entropy(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0]), q=0.7))
      [0.22...]

    References:
      Zhang and Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with
      Noisy Labels", NeurIPS 2018.
    """
    c.check_range("gce", "q", q, lambda x: (x > 0) & (x <= 1), "(0, 1]")
    x = c.prepare(logits, labels, axis, where)
    return x.finish(x.of_log_prob(lambda lp: _lq(lp, q)))


def truncated_generalized_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    mask: ArrayLike,
    *,
    q: ArrayLike = 0.7,
    k: ArrayLike = 0.5,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Truncated L_q loss with a given per-example selection mask (the TGCE objective).

    .. math:: \ell(f, y; v) = v \, L_q(p_y) + (1 - v) \, L_q(k), \qquad
       L_q(t) = \frac{1 - t^q}{q}

    Pruned examples (``v = 0``) contribute the constant ``L_q(k)`` and no gradient. The mask is
    the state of the stateful ``tgce`` loss (``robustloss.stateful``), refreshed periodically by
    ``v = 1[p_y > k]``. Probability labels: ``v sum_y q_y L_q(p_y) + (1-v)(sum q) L_q(k)``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      mask: selection weights ``v`` in ``{0, 1}`` (any float works), shape ``logits.shape``
        without ``axis``. Not to be confused with ``where``, the class mask.
      q: exponent in ``(0, 1]`` (may be traced).
      k: truncation threshold in ``[0, 1)`` (may be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import truncated_generalized_cross_entropy as tgce
      >>> logits, labels = jnp.array([[2.0, 0.5, -1.0]] * 2), jnp.array([0, 2])
      >>> print(tgce(logits, labels, jnp.array([1.0, 0.0]), q=0.7, k=0.5))
      [0.22... 0.54...]

    References:
      Zhang and Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with
      Noisy Labels", NeurIPS 2018.
    """
    c.check_range("tgce", "q", q, lambda x: (x > 0) & (x <= 1), "(0, 1]")
    c.check_range("tgce", "k", k, lambda x: (x >= 0) & (x < 1), "[0, 1)")
    x = c.prepare(logits, labels, axis, where)
    mask = jnp.asarray(mask, x.logits.dtype)
    lq = x.of_log_prob(lambda lp: _lq(lp, q))
    lq_k = (1.0 - jnp.power(jnp.asarray(k, x.logits.dtype), q)) / q
    return x.finish(mask * lq + (1.0 - mask) * x.mass() * lq_k)


def reverse_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    A: ArrayLike = -4.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Reverse cross-entropy ``-sum_k p_k log e_{y,k}`` with ``log 0 := A``.

    .. math:: \ell(f, y) = -A (1 - p_y)

    Symmetric: ``sum_y loss = -A (K - 1)``. Probability labels: ``sum_y q_y * loss(f, y)``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      A: the value substituted for ``log 0``, ``A < 0`` (may be traced). The SCE paper uses
        ``-4``; the APL / LDR code clamps the label at ``1e-4``, i.e. ``A = log(1e-4) ≈ -9.21``.
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses in ``[0, -A]``, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import reverse_cross_entropy
      >>> print(reverse_cross_entropy(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])))
      [0.85...]

    References:
      Wang, Ma, Chen, Luo, Yi and Bailey, "Symmetric Cross Entropy for Robust Learning with
      Noisy Labels", ICCV 2019.
    """
    c.check_range("rce", "A", A, c.negative, "(-inf, 0)")
    x = c.prepare(logits, labels, axis, where)
    return x.finish(x.of_log_prob(lambda lp: -A * c.one_minus_exp(lp)))


def symmetric_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: ArrayLike = 0.1,
    beta: ArrayLike = 1.0,
    A: ArrayLike = -4.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Symmetric cross-entropy: ``alpha * CE + beta * RCE``.

    .. math:: \ell(f, y) = -\alpha \log p_y - \beta A (1 - p_y)

    Not symmetric for ``alpha > 0``. The released LDR code uses the convex form
    ``(1 - b) CE + b * 4 (1 - p_y)``; reproduce it with ``alpha = 1 - b, beta = b, A = -4``.
    Probability labels: ``sum_y q_y * loss(f, y)``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      alpha: CE weight, ``>= 0`` (may be traced).
      beta: RCE weight, ``>= 0`` (may be traced).
      A: ``log 0`` substitute of RCE, ``< 0`` (may be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import symmetric_cross_entropy
      >>> print(symmetric_cross_entropy(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])))
      [0.8817...]

    References:
      Wang, Ma, Chen, Luo, Yi and Bailey, "Symmetric Cross Entropy for Robust Learning with
      Noisy Labels", ICCV 2019.
    """
    c.check_range("sce", "alpha", alpha, c.nonnegative, "[0, inf)")
    c.check_range("sce", "beta", beta, c.nonnegative, "[0, inf)")
    c.check_range("sce", "A", A, c.negative, "(-inf, 0)")
    x = c.prepare(logits, labels, axis, where)
    return x.finish(x.of_log_prob(lambda lp: -alpha * lp - beta * A * c.one_minus_exp(lp)))


def nce_parts(x: c.Classes):
    """Returns ``(CE, sum_k -log p_k, log p)``; ``log p`` is gathered for int labels.

    Sums run over the unmasked classes. The denominator is at least ``K log K > 0`` for
    ``K >= 2`` classes; with a single unmasked class it is 0 and NCE is undefined: it is
    replaced by 1 here, and the caller returns ``x.nan_below_two(...)``.
    """
    lse = x.lse()
    denom = x.num_classes * lse - x.sum(x.logits)  # -sum_k log p_k >= K log K > 0
    two = x.at_least_two()
    if two is not None:
        denom = jnp.where(two, denom, 1.0)
    if x.is_int:
        log_p = x.take(x.logits) - lse
        return -log_p, denom, log_p
    log_p = x.logits - lse[..., None]
    return -x.sum(x.labels * log_p), denom, log_p


def normalized_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, axis: int = -1, where: ArrayLike | None = None
) -> jax.Array:
    r"""Normalized cross-entropy: CE divided by the sum of CE over all labels.

    .. math:: \ell(f, y) = \frac{\log p_y}{\sum_k \log p_k}

    Symmetric: ``sum_y loss = 1``. The denominator is at least ``K log K`` (Jensen), so it never
    vanishes. Probability labels: ``sum_y q_y * loss(f, y)``. With ``where`` both sums run over
    the unmasked classes; a row with a single unmasked class has ``0/0`` and gives NaN (with a
    zero gradient).

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses in ``[0, 1]``, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import normalized_cross_entropy
      >>> print(normalized_cross_entropy(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])))
      [0.04...]

    References:
      Ma, Huang, Wang, Romano, Erfani and Bailey, "Normalized Loss Functions for Deep Learning
      with Noisy Labels", ICML 2020.
    """
    x = c.prepare(logits, labels, axis, where)
    ce, denom, _ = nce_parts(x)
    return x.finish(x.nan_below_two(ce / denom))


def nce_plus_rce(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: ArrayLike = 1.0,
    beta: ArrayLike = 1.0,
    A: ArrayLike = -4.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Active-passive loss NCE+RCE: ``alpha * NCE + beta * RCE``.

    .. math:: \ell(f, y) = \alpha \frac{\log p_y}{\sum_k \log p_k} - \beta A (1 - p_y)

    Symmetric: ``sum_y loss = alpha - beta A (K - 1)``. The APL / LDR code clamps the one-hot
    label at ``1e-4`` inside RCE, i.e. ``A = log(1e-4) ≈ -9.2103``; pass
    ``A=math.log(1e-4)`` to reproduce it. Probability labels: ``sum_y q_y * loss(f, y)``.
    With ``where``, NCE's sums run over the unmasked classes; a row with a single unmasked class
    gives NaN (NCE is ``0/0`` there).

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      alpha: NCE weight, ``>= 0`` (may be traced).
      beta: RCE weight, ``>= 0`` (may be traced).
      A: ``log 0`` substitute of RCE, ``< 0`` (may be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import nce_plus_rce
      >>> print(nce_plus_rce(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])))
      [0.9038...]

    References:
      Ma, Huang, Wang, Romano, Erfani and Bailey, "Normalized Loss Functions for Deep Learning
      with Noisy Labels", ICML 2020.
    """
    c.check_range("nce_rce", "alpha", alpha, c.nonnegative, "[0, inf)")
    c.check_range("nce_rce", "beta", beta, c.nonnegative, "[0, inf)")
    c.check_range("nce_rce", "A", A, c.negative, "(-inf, 0)")
    x = c.prepare(logits, labels, axis, where)
    ce, denom, log_p = nce_parts(x)
    rce = -A * c.one_minus_exp(log_p)
    if not x.is_int:
        rce = x.sum(x.labels * rce)
    return x.finish(x.nan_below_two(alpha * ce / denom + beta * rce))


def robust_log_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: ArrayLike = 1.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Robust log loss (RLL), the symmetric form of Patel and Sastry.

    .. math:: \ell(f, y) = \log\frac{\alpha + 1}{\alpha} - \log(\alpha + p_y)
       + \frac{1}{K-1} \sum_{k \neq y} \log(\alpha + p_k)

    Symmetric: ``sum_y loss = K log((alpha+1)/alpha)``. Probability labels:
    ``sum_y q_y * loss(f, y)``. With ``where``, ``p`` and the sum are over the unmasked classes
    and ``K`` is their count (so ``1/(K-1)`` uses the unmasked count); a row with a single
    unmasked class gives NaN (``1/(K-1)`` is undefined), with a zero gradient.

    Note (LDR code): the released LDR code computes
    ``-log(alpha + p_y) + log(sum_k (alpha + exp(f_k [k != y] - sum_j f_j)))/(K-1)``, which is
    not this loss and not symmetric. That variant is documented, not reproduced.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      alpha: ``alpha > 0`` (may be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import robust_log_loss
      >>> print(robust_log_loss(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])))
      [0.2133...]
      >>> mask = jnp.array([[True, True, False, False]])  # RLL on the first two classes (K = 2)
      >>> logits = jnp.array([[2.0, 0.5, 40.0, -1.0]])
      >>> print(robust_log_loss(logits, jnp.array([0]), where=mask))
      [0.2632...]

    References:
      Patel and Sastry, "Memorization in Deep Neural Networks: Does the Loss Function
      Matter?", PAKDD 2021.
    """
    c.check_range("rll", "alpha", alpha, c.positive, "(0, inf)")
    x = c.prepare(logits, labels, axis, where)
    num_classes = x.num_classes  # of unmasked classes
    two = x.at_least_two()
    if two is not None:  # one class: 1/(K-1) is undefined (NaN below); keep the gradient finite
        num_classes = jnp.where(two, num_classes, 2.0)
    log_ap = jnp.log(alpha + x.softmax())  # [..., K]
    total = x.sum(log_ap)
    const = jnp.log1p(1.0 / alpha) + total / (num_classes - 1)
    scale = num_classes / (num_classes - 1)
    if x.is_int:
        out = const - scale * x.take(log_ap)
    else:
        out = x.sum(x.labels) * const - scale * x.sum(x.labels * log_ap)
    return x.finish(x.nan_below_two(out))


def jensen_shannon(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    pi1: ArrayLike = 0.5,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Jensen-Shannon divergence loss between the one-hot label and the prediction.

    .. math:: \ell(f, y) = \frac{\pi_1 \mathrm{KL}(e_y \| m) + (1 - \pi_1)\mathrm{KL}(p \| m)}
       {-(1 - \pi_1)\log(1 - \pi_1)}, \qquad m = \pi_1 e_y + (1 - \pi_1) p

    In closed form, with ``m_y = pi1 + (1 - pi1) p_y``:
    ``JS = -pi1 log m_y + (1 - pi1)[-(1 - p_y) log(1 - pi1) + p_y (log p_y - log m_y)]``,
    computed in log space. ``pi1 -> 0`` approaches CE, ``pi1 -> 1`` approaches MAE (scaled);
    not symmetric. Probability labels: ``sum_y q_y * loss(f, y)`` (not the JS divergence to
    ``q``).

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      pi1: weight of the label distribution, ``0 < pi1 < 1`` (may be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import jensen_shannon
      >>> print(jensen_shannon(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0]), pi1=0.5))
      [0.2330...]

    References:
      Englesson and Azizpour, "Generalized Jensen-Shannon Divergence Loss for Learning with
      Noisy Labels", NeurIPS 2021.
    """
    c.check_range("js", "pi1", pi1, lambda x: (x > 0) & (x < 1), "(0, 1)")
    log_pi1 = jnp.log(pi1)
    log_pi2 = jnp.log1p(-pi1)  # log(1 - pi1)
    z = -(1.0 - pi1) * log_pi2

    def per_class(lp):
        log_m = jnp.logaddexp(log_pi1, log_pi2 + lp)
        p = jnp.exp(lp)
        kl_label = -log_m
        kl_pred = -c.one_minus_exp(lp) * log_pi2 + p * (lp - log_m)
        return (pi1 * kl_label + (1.0 - pi1) * kl_pred) / z

    x = c.prepare(logits, labels, axis, where)
    return x.finish(x.of_log_prob(per_class))
