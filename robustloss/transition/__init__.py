"""Transition-matrix methods: T estimators and the ways T enters training.

Convention: ``T[i, j] = P(noisy = j | clean = i)``, rows sum to 1. The RENT/DWS paper and its
fixed-T code use the transpose (``T_paper[noisy, clean]``, columns sum to 1): pass
``T_paper.T``. T is always an array argument, so re-estimating it never recompiles.

Uses (per-example losses / weights; combine with any registry loss):
  ``forward_correction_loss``, ``importance_weights``, ``dirichlet_weights`` (DWS),
  ``rent_resample`` (RENT). A concrete invalid T (wrong shape, negative entries, rows not
  summing to 1) raises ``ValueError`` via ``check_transition_matrix``; a traced T is not
  checked (the caller's contract under jit).
Estimators (row-stochastic ``[K, K]``):
  ``anchor_transition``, ``dualt_transition``, learnable ``volminnet_matrix`` / ``tv_matrix``
  (+ Cycle's pair of VolMinNet matrices) trained inside the objective, and the true T.
Training: ``make_objective(options, num_classes=..., ...)`` (a ``robustloss.objective.Objective``)
with a frozen `TransitionOptions` that checks itself. The method tables ``USES`` and
``ESTIMATORS`` (name -> ``robustloss.options.Entry``) are what ``make_objective`` dispatches
through; `list_uses` / `list_estimators` describe them.

References:
  H. Bae, S. Shin, B. Na, I.-C. Moon, "Dirichlet-based per-sample weighting by transition matrix
  for noisy label learning", ICLR 2024.
"""

from robustloss.options import describe
from robustloss.transition._estimators import (
    anchor_transition,
    cycle_backward_loss,
    cycle_consistency_loss,
    dualt_transition,
    forward_nll,
    total_variation,
    transition_error,
    tv_init,
    tv_matrix,
    volminnet_init,
    volminnet_matrix,
)
from robustloss.transition._methods import (
    ESTIMATORS,
    PAPER_WARMUP_EPOCHS,
    USES,
    Estimator,
    UseInputs,
)
from robustloss.transition._objective import make_objective
from robustloss.transition._options import TRACEABLE, TransitionOptions
from robustloss.transition._utilise import (
    check_transition_matrix,
    cross_entropy,
    dirichlet_weights,
    effective_sample_fraction,
    forward_correction_loss,
    importance_log_weights,
    importance_weights,
    noisy_log_posterior,
    rent_resample,
)


def list_uses() -> dict[str, str]:
    """``{name: description}`` of the ways T enters training (the ``USES`` table)."""
    return describe(USES)


def list_estimators() -> dict[str, str]:
    """``{name: description}`` of the T estimators (the ``ESTIMATORS`` table)."""
    return describe(ESTIMATORS)


__all__ = [
    "ESTIMATORS",
    "PAPER_WARMUP_EPOCHS",
    "USES",
    "Estimator",
    "TRACEABLE",
    "TransitionOptions",
    "UseInputs",
    "anchor_transition",
    "check_transition_matrix",
    "cross_entropy",
    "cycle_backward_loss",
    "cycle_consistency_loss",
    "dirichlet_weights",
    "dualt_transition",
    "effective_sample_fraction",
    "forward_correction_loss",
    "forward_nll",
    "importance_log_weights",
    "importance_weights",
    "list_estimators",
    "list_uses",
    "make_objective",
    "noisy_log_posterior",
    "rent_resample",
    "total_variation",
    "transition_error",
    "tv_init",
    "tv_matrix",
    "volminnet_init",
    "volminnet_matrix",
]
