"""Stateless classification losses for learning with noisy labels.

Every function follows one contract (docs/design.md §4), the conventions of ``optax.losses``::

    loss = fn(logits, labels, *, axis=-1, where=None, <hyperparameters>)
    # one value per example: logits.shape without `axis`

* ``logits``: real scores with ``K >= 2`` classes along ``axis`` (any float dtype; computed in
  at least float32).
* ``labels``: integer class ids (shape ``logits.shape`` without ``axis``) or probability vectors
  (shape ``logits.shape``, classes along the same ``axis``): one-hot, smoothed, soft. For
  probability vectors each loss returns ``sum_y q_y * loss(f, y)`` -- the expectation of the
  integer-label loss -- so one-hot vectors give the integer-label result.
* ``axis``: the class axis, an int (tuples of axes are not supported).
* ``where``: an optional boolean mask that broadcasts to ``logits`` (or of the batch shape, as in
  optax): entries that are False are classes that take no part, exactly as in
  ``optax.softmax_cross_entropy(..., where=)``. They are left out of the softmax normaliser and
  of every sum, max, mean or class count (``K`` becomes the number of unmasked classes), and
  get a zero gradient: the loss equals the loss on the logits restricted to the unmasked
  classes. Label mass on masked classes is ignored. A row with no unmasked class gives 0 (as
  optax); an integer label whose class is masked gives NaN; NCE (and NCE+X) and RLL give NaN
  for a row with a single unmasked class.
* One value per example, no reduction; example weights are the caller's.
* An integer label outside ``[0, K)`` gives NaN for that example (never another class's loss).
* Numeric hyperparameters are keyword-only and may be traced (``jit``/``vmap`` over them);
  concrete out-of-range values raise ``ValueError``. String options (``score_norm``,
  ``reduction``) and ``taylor_cross_entropy``'s ``order`` are static.
* Log-space computation: finite values and gradients at logits of ``±1e4`` in float32 and
  bfloat16.

Use ``robustloss.get_loss(name, **hparams)`` for the registry of names (``"ce"``, ``"gce"``,
``"ldr_kl"``, ...); per-example-state losses (ALDR-KL, TGCE) live in ``robustloss.stateful``.
"""

from robustloss.losses._asymmetric import (
    asymmetric_generalized_cross_entropy,
    asymmetric_unhinged_loss,
    nce_plus_agce,
    nce_plus_aul,
)
from robustloss.losses._ce import (
    cross_entropy,
    label_smoothing_cross_entropy,
    poly1_cross_entropy,
    softmax_focal_loss,
    taylor_cross_entropy,
)
from robustloss.losses._ldr import SCORE_NORMS, ldr_kl, normalize_scores
from robustloss.losses._margin import crammer_singer_hinge, weston_watkins_hinge
from robustloss.losses._symmetric import (
    generalized_cross_entropy,
    jensen_shannon,
    mean_absolute_error,
    mean_squared_error,
    nce_plus_rce,
    normalized_cross_entropy,
    reverse_cross_entropy,
    robust_log_loss,
    symmetric_cross_entropy,
    truncated_generalized_cross_entropy,
)

__all__ = [
    "SCORE_NORMS",
    "asymmetric_generalized_cross_entropy",
    "asymmetric_unhinged_loss",
    "crammer_singer_hinge",
    "cross_entropy",
    "generalized_cross_entropy",
    "jensen_shannon",
    "label_smoothing_cross_entropy",
    "ldr_kl",
    "mean_absolute_error",
    "mean_squared_error",
    "nce_plus_agce",
    "nce_plus_aul",
    "nce_plus_rce",
    "normalize_scores",
    "normalized_cross_entropy",
    "poly1_cross_entropy",
    "reverse_cross_entropy",
    "robust_log_loss",
    "softmax_focal_loss",
    "symmetric_cross_entropy",
    "taylor_cross_entropy",
    "truncated_generalized_cross_entropy",
    "weston_watkins_hinge",
]
