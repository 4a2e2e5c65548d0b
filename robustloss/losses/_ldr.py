"""Label-distributionally robust losses: LDR-KL and the score normalisations of the LDR code."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from robustloss.losses import _common as c
from robustloss.losses._margin import expect_over_classes, label_mask

SCORE_NORMS = ("none", "softplus_mean", "l1")
L1_EPS = 1e-6
_LOG_SOFTPLUS_SWITCH = -20.0


def _log_softplus(h: jax.Array) -> jax.Array:
    """``log(softplus(h))`` without underflow: equals ``h`` (to 1e-9 relative) for ``h < -20``."""
    small = h < _LOG_SOFTPLUS_SWITCH
    safe = jnp.where(small, 0.0, h)
    return jnp.where(small, h, jnp.log(jax.nn.softplus(safe)))


def normalize_scores(
    logits: ArrayLike,
    score_norm: str = "none",
    *,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Score normalisation used by the LDR code before LDR-KL / ALDR-KL.

    * ``"none"``: ``f = h`` (raw logits).
    * ``"softplus_mean"``: ``f = softplus(h) / mean_k softplus(h)`` (``f >= 0``, ``sum f = K``),
      computed in log space as ``K * softmax(log softplus(h))`` so that softplus underflow
      (``h < -100`` in float32) never gives 0/0. Used by the LDR code for LDR-KL, and (as
      "softplus + L1") for ALDR-KL on CIFAR-100 -- the same map, since softplus is positive.
    * ``"l1"``: ``f = K h / (||h||_1 + 1e-6)`` (``sum |f| = K`` up to the epsilon, which keeps
      an all-zero ``h`` finite). Used by the LDR code for ALDR-KL.

    Gradients flow through the normaliser. With ``where`` the mean and the norm run over the
    unmasked classes and ``K`` is their count (the scores the same classes would get alone);
    masked entries of the result are 0 and get no gradient.

    Args:
      logits: raw scores ``h``, classes along ``axis`` (``[..., K]`` by default).
      score_norm: one of ``"none"``, ``"softplus_mean"``, ``"l1"`` (static).
      axis: the class axis, an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part.

    Returns:
      Normalised scores, shape ``logits.shape`` (at least float32).

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import normalize_scores
      >>> print(normalize_scores(jnp.array([1.0, -1.0, 2.0]), "l1").round(4))
      [ 0.75 -0.75  1.5 ]
      >>> mask = jnp.array([True, True, False])
      >>> print(normalize_scores(jnp.array([1.0, -1.0, 2.0]), "l1", where=mask).round(4))
      [ 1. -1.  0.]

    References:
      Zhu, Ying and Yang, "Label Distributionally Robust Losses for Multi-class
      Classification: Consistency, Robustness and Adaptivity", ICML 2023 (released code).
    """
    c.check_choice("ldr", "score_norm", score_norm, SCORE_NORMS)
    h = jnp.asarray(logits)
    h = h.astype(jnp.promote_types(h.dtype, jnp.float32))
    if h.ndim < 1:
        raise ValueError(f"logits must have shape [..., K], got {h.shape}.")
    ax = c.class_axis(axis, h.ndim)
    if where is None and ax == h.ndim - 1:
        return _normalize(h, score_norm)
    shape = h.shape
    h = jnp.moveaxis(h, ax, -1)
    if where is None:
        out = _normalize(h, score_norm)
    else:
        mask = c.where_mask(where, shape, ax)
        h, eff_mask, _ = c.apply_where(h, mask)
        out = jnp.where(mask, _normalize(h, score_norm, eff_mask), 0.0)
    return jnp.moveaxis(out, -1, ax)


def _normalize(h: jax.Array, score_norm: str, mask: jax.Array | None = None) -> jax.Array:
    """`normalize_scores` on ``[..., K]`` scores (class axis last, at least float32).

    With a class ``mask`` (at least one True per row; masked ``h`` finite) the mean and the
    norm run over the unmasked classes and ``K`` is their count; masked outputs are finite
    values to be left out by the caller.
    """
    if mask is None:
        num_classes = h.shape[-1]
        if score_norm == "none":
            return h
        if score_norm == "softplus_mean":
            return num_classes * jax.nn.softmax(_log_softplus(h), axis=-1)
        return num_classes * h / (jnp.sum(jnp.abs(h), axis=-1, keepdims=True) + L1_EPS)
    num_classes = jnp.sum(mask, axis=-1, keepdims=True).astype(h.dtype)
    if score_norm == "none":
        return h
    if score_norm == "softplus_mean":
        return num_classes * c.softmax(_log_softplus(h), mask)
    norm = jnp.sum(jnp.where(mask, jnp.abs(h), 0.0), axis=-1, keepdims=True)
    return num_classes * h / (norm + L1_EPS)


def _ldr_int(scores: jax.Array, labels: jax.Array, lam, margin, mask=None) -> jax.Array:
    """LDR-KL for integer labels; ``lam`` scalar or ``[...]``; optional class ``mask``.

    With ``z_k = f_k + c [k != y]`` (so ``delta = z - f_y``), the loss is
    ``M + lam * log1p(mean_k expm1((z_k - M)/lam)) - f_y`` with ``M = max z``: stable for
    ``lam -> 0`` (tends to ``max delta``) and accurate for ``lam -> inf`` (tends to
    ``mean delta`` without the cancellation of ``LSE - log K``). ``M`` is a pure shift (the
    expression does not depend on it), so it is held out of the gradient. With a ``mask`` the
    max and the mean run over the unmasked classes (masked ``z`` are set to ``M`` first, so that
    ``expm1`` never overflows there).
    """
    lam = jnp.asarray(lam, scores.dtype)
    is_y = label_mask(labels, scores.shape[-1])
    z = jnp.where(is_y, scores, scores + margin)
    f_y = c.take_label(scores, labels)
    inv_lam = 1.0 / lam  # one division per row, not per entry
    if mask is None:
        m = jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
        s = jnp.mean(jnp.expm1((z - m) * inv_lam[..., None]), axis=-1)
    else:
        m = jax.lax.stop_gradient(jnp.max(jnp.where(mask, z, -jnp.inf), axis=-1, keepdims=True))
        terms = jnp.expm1((jnp.where(mask, z, m) - m) * inv_lam[..., None])
        count = jnp.sum(mask, axis=-1).astype(scores.dtype)
        s = jnp.sum(jnp.where(mask, terms, 0.0), axis=-1) / count
    return m[..., 0] + lam * jnp.log1p(s) - f_y


def ldr_kl_on_scores(
    scores: jax.Array, labels: jax.Array, is_int: bool, lam, margin, mask=None
) -> jax.Array:
    """LDR-KL on already-normalised, canonicalised scores; ``lam`` scalar or ``[...]``.

    ``mask``: optional ``[..., K]`` class mask (at least one True per row, masked scores
    finite), as in ``c.Classes.mask``.
    """
    if is_int:
        return _ldr_int(scores, labels, lam, margin, mask)
    return expect_over_classes(lambda f, y: _ldr_int(f, y, lam, margin, mask), scores, labels, mask)


def ldr_kl(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    lam: ArrayLike = 1.0,
    margin: ArrayLike = 0.1,
    score_norm: str = "none",
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""LDR-KL: the label-distributionally robust loss with a KL regulariser.

    .. math:: \ell_\lambda(f, y) = \max_{p \in \Delta_K} \sum_k p_k \delta_k - \lambda
       \mathrm{KL}(p \| u) = \lambda \log\Bigl(\frac{1}{K}\sum_k e^{\delta_k/\lambda}\Bigr),
       \qquad \delta_k = f_k - f_y + c [k \neq y]

    Special cases: ``lam = 1, margin = 0`` on raw logits is ``CE - log K``; ``lam -> 0`` is the
    Crammer-Singer hinge ``max_k delta_k``; ``lam -> inf`` is ``mean_k delta_k``. The value is
    computed as ``M + lam log1p(mean expm1((delta - M)/lam))``, ``M = max delta``, which is
    stable in both limits. ``f`` is ``normalize_scores(logits, score_norm)``; the LDR code used
    ``"softplus_mean"`` for LDR-KL. Probability labels: ``sum_y q_y * loss(f, y)``, which
    evaluates every class (``O(K^2)`` per example). With ``where``, ``K`` is the number of
    unmasked classes: the scores are normalised over them, and the mean ``(1/K) sum_k`` and the
    max run over them only.

    Args:
      logits: scores, ``K >= 2`` classes along ``axis`` (``[..., K]`` by default).
      labels: integer ids in ``[0, K)``, shape ``logits.shape`` without ``axis``; or
        probability vectors, shape ``logits.shape`` (classes along ``axis``).
      lam: temperature ``lam > 0``, a scalar or a per-example array (``logits.shape`` without
        ``axis``; may be traced).
      margin: ``c >= 0`` (may be traced).
      score_norm: ``"none"`` (default, raw logits), ``"softplus_mean"`` or ``"l1"`` (static;
        see ``normalize_scores``).
      axis: the class axis of ``logits`` (and of probability labels), an int.
      where: optional boolean mask broadcastable to ``logits`` (or to its shape without
        ``axis``): classes where it is False take no part, as in
        ``optax.softmax_cross_entropy(..., where=)`` (see `robustloss.losses`).

    Returns:
      Per-example losses, shape ``logits.shape`` without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.losses import ldr_kl
      >>> logits, labels = jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])
      >>> print(ldr_kl(logits, labels, lam=1.0, margin=0.0))  # CE - log 3
      [-0.85...]

    References:
      Zhu, Ying and Yang, "Label Distributionally Robust Losses for Multi-class
      Classification: Consistency, Robustness and Adaptivity", ICML 2023.
    """
    c.check_range("ldr_kl", "lam", lam, c.positive, "(0, inf)")
    c.check_range("ldr_kl", "margin", margin, c.nonnegative, "[0, inf)")
    c.check_choice("ldr_kl", "score_norm", score_norm, SCORE_NORMS)
    x = c.prepare(logits, labels, axis, where)
    scores = _normalize(x.logits, score_norm, x.mask)
    return x.finish(ldr_kl_on_scores(scores, x.labels, x.is_int, lam, margin, x.mask))
