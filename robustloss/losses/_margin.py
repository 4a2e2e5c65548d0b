"""Multi-class hinge (margin) losses: Crammer-Singer and Weston-Watkins."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from robustloss.losses import _common as c


def label_mask(labels: jax.Array, num_classes: int) -> jax.Array:
    """Boolean ``[..., K]`` mask that is True at the labelled class (integer labels)."""
    return labels[..., None] == jnp.arange(num_classes, dtype=labels.dtype)


def margin_shifted(logits: jax.Array, labels: jax.Array, margin) -> jax.Array:
    """``delta_k = f_k - f_y + margin * [k != y]`` (``[..., K]``; exactly 0 at ``k = y``)."""
    is_y = label_mask(labels, logits.shape[-1])
    f_y = c.take_label(logits, labels)[..., None]
    return jnp.where(is_y, 0.0, logits - f_y + margin)


def expect_over_classes(
    int_loss, logits: jax.Array, labels: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
    """``sum_y q_y int_loss(logits, y)`` for probability labels, by evaluating every class.

    Costs ``K`` evaluations of the integer-label loss (``O(K^2)`` per example for losses that
    are ``O(K)``). With a class ``mask`` ``[..., K]`` the sum runs over the unmasked ``y``.
    """
    num_classes = logits.shape[-1]
    ys = jnp.arange(num_classes)

    def one(y):
        return int_loss(logits, jnp.full(logits.shape[:-1], y, dtype=jnp.int32))

    per_y = jax.vmap(one, out_axes=-1)(ys)  # [..., K]
    if mask is None:
        return jnp.sum(labels * per_y, axis=-1)
    return jnp.sum(jnp.where(mask, labels * per_y, 0.0), axis=-1)


def crammer_singer_hinge(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    margin: ArrayLike = 1.0,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Crammer-Singer multi-class hinge loss.

    .. math:: \ell(f, y) = \max\bigl(0, \max_{k \neq y} (f_k - f_y + c)\bigr)
       = \max_k \delta_k, \quad \delta_k = f_k - f_y + c [k \neq y]

    The ``lam -> 0`` limit of LDR-KL. Computed on the raw logits. Probability labels:
    ``sum_y q_y * loss(f, y)`` (via the two largest logits, ``O(K)``). With ``where`` the max
    runs over the unmasked classes other than ``y`` (0 when there is none).

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      margin: ``c >= 0`` (may be traced).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import crammer_singer_hinge
      >>> print(crammer_singer_hinge(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([1])))
      [2.5]

    References:
      Crammer and Singer, "On the Algorithmic Implementation of Multiclass Kernel-based Vector
      Machines", JMLR 2001.
    """
    c.check_range("cs", "margin", margin, c.nonnegative, "[0, inf)")
    x = c.prepare(logits, labels, axis, where)
    logits = x.logits
    if x.is_int:
        left_out = label_mask(x.labels, logits.shape[-1])
        if x.mask is not None:
            left_out = left_out | ~x.mask
        max_other = jnp.max(jnp.where(left_out, -jnp.inf, logits), axis=-1)
        return x.finish(jax.nn.relu(max_other + margin - x.take(logits)))
    candidates = logits if x.mask is None else jnp.where(x.mask, logits, -jnp.inf)
    top2, idx = jax.lax.top_k(candidates, 2)
    is_top = jnp.arange(logits.shape[-1]) == idx[..., :1]
    max_other = jnp.where(is_top, top2[..., 1:2], top2[..., 0:1])  # max_{k != y} f_k, per y
    per_y = jax.nn.relu(max_other - logits + margin)
    return x.finish(x.sum(x.labels * per_y))


def weston_watkins_hinge(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    margin: ArrayLike = 1.0,
    reduction: str = "sum",
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Weston-Watkins multi-class hinge loss.

    .. math:: \ell(f, y) = \sum_{k \neq y} \max(0, f_k - f_y + c)

    Computed on the raw logits. Probability labels: ``sum_y q_y * loss(f, y)``, which evaluates
    every class (``O(K^2)`` per example). With ``where`` the sum runs over the unmasked classes
    other than ``y``.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      margin: ``c >= 0`` (may be traced).
      reduction: ``"sum"`` (the definition above, default) or ``"mean"``, which divides by
        ``K`` as the released LDR code does (equivalent to a learning-rate rescale); with
        ``where``, by the number of unmasked classes. Static.
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import weston_watkins_hinge
      >>> print(weston_watkins_hinge(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([1])))
      [2.5]

    References:
      Weston and Watkins, "Support Vector Machines for Multi-Class Pattern Recognition",
      ESANN 1999.
    """
    c.check_range("ww", "margin", margin, c.nonnegative, "[0, inf)")
    c.check_choice("ww", "reduction", reduction, ("sum", "mean"))
    x = c.prepare(logits, labels, axis, where)
    num_classes = x.num_classes  # of unmasked classes

    def int_loss(f, y):
        total = x.sum(jax.nn.relu(margin_shifted(f, y, margin)))
        return total / num_classes if reduction == "mean" else total

    if x.is_int:
        return x.finish(int_loss(x.logits, x.labels))
    return x.finish(expect_over_classes(int_loss, x.logits, x.labels, x.mask))
