"""Classification metrics computed on device: top-k accuracy, balanced accuracy, non-finite rows.

Ties never favour the label, and NaN/inf logits or out-of-range labels are never a hit (see
`label_rank`), so a broken model cannot score a high accuracy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def _mask(labels: jax.Array, mask: ArrayLike | None) -> jax.Array:
    if mask is None:
        return jnp.ones(labels.shape, jnp.float32)
    return jnp.asarray(mask, jnp.float32)


def label_rank(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Rank of the labelled class, with ties counted against the label.

    ``rank_i = #{k : f_ik > f_{i,y_i}} + #{k != y_i : f_ik = f_{i,y_i}}``; the label is in the
    top-k iff ``rank_i < k``. A tie never favours the label: all-equal logits give rank
    ``K - 1`` (top-1 is then 0, not 1). A row with a non-finite logit (NaN or +-inf) and a label
    outside ``[0, K)`` get rank ``K``, so they are never a hit for any k (count such rows with
    `nonfinite_rows`).

    Args:
        logits: ``[B, K]`` scores.
        labels: ``[B]`` int class ids in ``[0, K)``.

    Returns:
        ``[B]`` int32 ranks in ``[0, K]`` (``K``: not rankable).

    Example:
        >>> label_rank(jnp.array([[0.1, 0.5, 0.2]]), jnp.array([2])).tolist()
        [1]
        >>> tied_and_nan = jnp.array([[0.0, 0.0, 0.0], [jnp.nan, 1.0, 0.0]])
        >>> label_rank(tied_and_nan, jnp.array([0, 1])).tolist()
        [2, 3]
    """
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels).astype(jnp.int32)
    k = logits.shape[-1]
    in_range = (labels >= 0) & (labels < k)
    safe = jnp.where(in_range, labels, 0)
    own = jnp.take_along_axis(logits, safe[:, None], axis=-1)
    others = jnp.arange(k)[None, :] != safe[:, None]
    rank = jnp.sum((logits > own) | ((logits == own) & others), axis=-1)
    ok = in_range & jnp.all(jnp.isfinite(logits), axis=-1)
    return jnp.where(ok, rank, k).astype(jnp.int32)


def nonfinite_rows(logits: ArrayLike, mask: ArrayLike | None = None) -> jax.Array:
    """Number of (unmasked) rows with a NaN or infinite logit: ``sum_i m_i [any_k !isfinite f_ik]``.

    Such rows are never counted as hits by `label_rank`; a positive count means the evaluation
    is not trustworthy and should be reported or raised by the caller.

    Example:
        >>> float(nonfinite_rows(jnp.array([[0.0, jnp.nan], [1.0, 0.0], [jnp.inf, 0.0]])))
        2.0
    """
    logits = jnp.asarray(logits)
    bad = (~jnp.all(jnp.isfinite(logits), axis=-1)).astype(jnp.float32)
    return jnp.sum(bad * _mask(bad, mask))


def topk_accuracy(
    logits: ArrayLike, labels: ArrayLike, k: int = 1, mask: ArrayLike | None = None
) -> jax.Array:
    """Top-k accuracy ``sum_i m_i [rank_i < k] / sum_i m_i`` (see `label_rank`).

    Args:
        logits: ``[B, K]`` scores.
        labels: ``[B]`` int class ids.
        k: 1 <= k <= K.
        mask: optional ``[B]`` weights (0 for padded rows).

    Returns:
        Scalar accuracy in [0, 1].

    Example:
        >>> float(topk_accuracy(jnp.array([[0.1, 0.5, 0.2]]), jnp.array([2]), k=2))
        1.0
    """
    labels = jnp.asarray(labels)
    m = _mask(labels, mask)
    hit = (label_rank(logits, labels) < k).astype(jnp.float32)
    return jnp.sum(hit * m) / jnp.maximum(jnp.sum(m), 1.0)


def balanced_accuracy(
    logits: ArrayLike, labels: ArrayLike, num_classes: int, mask: ArrayLike | None = None
) -> jax.Array:
    """Balanced top-1 accuracy: the mean over present classes of per-class recall.

    ``(1/|C|) sum_{c in C} #{i: y_i = c, argmax f_i = c} / #{i: y_i = c}`` where ``C`` is the set
    of classes with at least one (unmasked) example.

    Args:
        logits: ``[B, K]`` scores.
        labels: ``[B]`` int class ids in ``[0, num_classes)``.
        num_classes: K.
        mask: optional ``[B]`` weights.

    Returns:
        Scalar in [0, 1].

    Example:
        >>> logits = jnp.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
        >>> float(balanced_accuracy(logits, jnp.array([0, 0, 1]), 2))  # (1 + 0) / 2
        0.5
    """
    labels = jnp.asarray(labels)
    m = _mask(labels, mask)
    hit = (label_rank(logits, labels) < 1).astype(jnp.float32) * m
    onehot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    count = m @ onehot
    correct = hit @ onehot
    present = count > 0
    recall = jnp.where(present, correct / jnp.maximum(count, 1.0), 0.0)
    return jnp.sum(recall) / jnp.maximum(jnp.sum(present), 1)


def classification_metrics(
    logits: ArrayLike, labels: ArrayLike, num_classes: int, mask: ArrayLike | None = None
) -> dict[str, jax.Array]:
    """``top1`` .. ``top{min(5, K)}``, ``balanced_acc`` and ``nonfinite`` as a dict of scalars.

    ``nonfinite`` is the number of (unmasked) rows with a NaN/inf logit (`nonfinite_rows`); those
    rows, and rows whose label is outside ``[0, K)``, are never hits (`label_rank`).

    Example:
        >>> sorted(classification_metrics(jnp.eye(3), jnp.arange(3), 3))
        ['balanced_acc', 'nonfinite', 'top1', 'top2', 'top3']
    """
    labels = jnp.asarray(labels)
    m = _mask(labels, mask)
    rank = label_rank(logits, labels)
    total = jnp.maximum(jnp.sum(m), 1.0)
    out = {
        f"top{k}": jnp.sum((rank < k).astype(jnp.float32) * m) / total
        for k in range(1, min(5, num_classes) + 1)
    }
    out["balanced_acc"] = balanced_accuracy(logits, labels, num_classes, m)
    out["nonfinite"] = nonfinite_rows(logits, m)
    return out
