"""Cross-entropy and its direct relatives: focal, label smoothing, Taylor-CE, Poly-1."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from robustloss.losses import _common as c


def cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, axis: int = -1, where: ArrayLike | None = None
) -> jax.Array:
    r"""Softmax cross-entropy, one value per example.

    .. math:: \ell(f, y) = -\log p_y = \mathrm{LSE}(f) - f_y, \quad p = \mathrm{softmax}(f)

    For probability labels ``q`` it is ``-sum_k q_k log p_k`` (the expectation over ``y ~ q``).
    Equal to ``optax.softmax_cross_entropy`` and ``..._with_integer_labels``, ``axis`` and
    ``where`` included, except that an integer label whose class is masked out gives NaN here.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis`` (at least float32).

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import cross_entropy
      >>> print(cross_entropy(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])))
      [0.24131...]
      >>> mask = jnp.array([[True, False, True]])  # class 1 takes no part: log(1 + e^-3)
      >>> print(cross_entropy(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0]), where=mask))
      [0.04858...]
      >>> print(cross_entropy(jnp.array([[2.0], [0.5], [-1.0]]), jnp.array([0]), axis=0))
      [0.24131...]

    References:
      Cox, "The regression analysis of binary sequences", JRSS B, 1958 (multinomial logistic
      regression); Goodfellow, Bengio and Courville, "Deep Learning", MIT Press, 2016, §6.2.
    """
    x = c.prepare(logits, labels, axis, where)
    lse = x.lse()
    if x.is_int:
        return x.finish(lse - x.take(x.logits))
    return x.finish(x.sum(x.labels) * lse - x.sum(x.labels * x.logits))


def softmax_focal_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    gamma: ArrayLike = 2.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-class (softmax) focal loss.

    .. math:: \ell(f, y) = -(1 - p_y)^{\gamma} \log p_y

    ``gamma = 0`` is cross-entropy. ``1 - p_y`` is computed as ``-expm1(log p_y)`` and clamped
    at the smallest normal float, so the value and gradient stay finite when ``p_y = 1``.
    Probability labels: ``sum_y q_y * loss(f, y)``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      gamma: focusing parameter, ``gamma >= 0`` (may be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import softmax_focal_loss
      >>> print(softmax_focal_loss(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0]), gamma=2.0))
      [0.01109...]

    References:
      Lin, Goyal, Girshick, He and Dollár, "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    c.check_range("focal", "gamma", gamma, c.nonnegative, "[0, inf)")
    x = c.prepare(logits, labels, axis, where)
    tiny = jnp.finfo(x.logits.dtype).tiny

    def per_class(lp):
        return -jnp.power(jnp.maximum(c.one_minus_exp(lp), tiny), gamma) * lp

    return x.finish(x.of_log_prob(per_class))


def label_smoothing_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    epsilon: ArrayLike = 0.1,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Cross-entropy against labels smoothed towards the uniform distribution.

    .. math:: \ell(f, y) = (1 - \epsilon)(-\log p_y) + \epsilon \cdot \frac{1}{K}\sum_k (-\log p_k)

    i.e. CE with target ``(1 - epsilon) e_y + epsilon / K`` (the convention of
    ``optax.smooth_labels``). Probability labels: ``sum_y q_y * loss(f, y)``, i.e. ``q`` is
    smoothed the same way. With ``where``, ``K`` is the number of unmasked classes and the
    uniform part spreads over them only, as ``optax.smooth_labels(..., where=)`` followed by
    ``optax.softmax_cross_entropy(..., where=)`` (equal when ``q`` sums to 1 over them).

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      epsilon: smoothing mass, ``0 <= epsilon <= 1`` (may be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import label_smoothing_cross_entropy
      >>> logits, labels = jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])
      >>> print(label_smoothing_cross_entropy(logits, labels, epsilon=0.1))
      [0.3913...]

    References:
      Szegedy, Vanhoucke, Ioffe, Shlens and Wojna, "Rethinking the Inception Architecture for
      Computer Vision", CVPR 2016; Lukasik, Bhojanapalli, Menon and Kumar, "Does label smoothing
      mitigate label noise?", ICML 2020.
    """
    c.check_range("ls", "epsilon", epsilon, lambda x: (x >= 0) & (x <= 1), "[0, 1]")
    x = c.prepare(logits, labels, axis, where)
    lse = x.lse()
    if x.mask is None:
        uniform_ce = lse - jnp.mean(x.logits, axis=-1)
    else:
        uniform_ce = lse - x.sum(x.logits) / x.num_classes
    if x.is_int:
        ce = lse - x.take(x.logits)
        mass = 1.0
    else:
        mass = x.sum(x.labels)
        ce = mass * lse - x.sum(x.labels * x.logits)
    return x.finish((1.0 - epsilon) * ce + epsilon * mass * uniform_ce)


def taylor_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    order: int = 2,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Taylor cross-entropy: the order-``t`` Taylor series of ``-log p_y`` around ``p_y = 1``.

    .. math:: \ell(f, y) = \sum_{j=1}^{t} \frac{(1 - p_y)^j}{j}

    ``t = 1`` gives ``1 - p_y`` (MAE/2); ``t -> inf`` gives cross-entropy. This is the truncated
    series of Feng et al. (not the "Taylor softmax" of de Brébisson and Vincent). Probability
    labels: ``sum_y q_y * loss(f, y)``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      order: number of terms ``t``, a Python int ``>= 1``. It is **static** (it sets the
        number of terms) and cannot be traced.
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import taylor_cross_entropy
      >>> print(taylor_cross_entropy(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0]), order=2))
      [0.23...]

    References:
      Feng, Shu, Lin, Lv, Li and An, "Can Cross Entropy Loss Be Robust to Label Noise?",
      IJCAI 2020.
    """
    c.check_static_int("taylor_ce", "order", order, 1)
    x = c.prepare(logits, labels, axis, where)

    def per_class(lp):
        u = c.one_minus_exp(lp)
        acc = jnp.full_like(u, 1.0 / order)
        for j in range(order - 1, 0, -1):  # Horner: u (1 + u (1/2 + u (1/3 + ...)))
            acc = 1.0 / j + u * acc
        return u * acc

    return x.finish(x.of_log_prob(per_class))


def poly1_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    epsilon: ArrayLike = 1.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Poly-1 loss: cross-entropy plus a weighted first polynomial term.

    .. math:: \ell(f, y) = -\log p_y + \epsilon (1 - p_y)

    Probability labels: ``sum_y q_y * loss(f, y) = CE(q) + epsilon sum_k q_k (1 - p_k)``, which
    is optax's ``poly_loss_cross_entropy`` (``axis`` and ``where`` included; its default
    ``epsilon`` is 2).

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      epsilon: weight of ``1 - p_y``, ``epsilon >= -1`` (the loss stays decreasing in ``p_y``);
        may be traced.
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import poly1_cross_entropy
      >>> print(poly1_cross_entropy(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0]), epsilon=1.0))
      [0.45...]

    References:
      Leng, Tan, Liu, Cubuk, Shi, Cheng and Anguelov, "PolyLoss: A Polynomial Expansion
      Perspective of Classification Loss Functions", ICLR 2022.
    """
    c.check_range("poly1", "epsilon", epsilon, lambda x: x >= -1, "[-1, inf)")
    x = c.prepare(logits, labels, axis, where)
    return x.finish(x.of_log_prob(lambda lp: -lp + epsilon * c.one_minus_exp(lp)))
