"""Losses with per-example state: ALDR-KL (per-example temperature) and TGCE (pruning mask).

A :class:`StatefulLoss` is a NamedTuple of pure functions, in the style of optax's
``init``/``update`` (docs/design.md §5)::

    sl = robustloss.get_loss("aldr_kl", lam0=1.0)      # or robustloss.stateful.aldr_kl(...)
    state = sl.init(num_examples)                       # pytree of [N] arrays
    loss, state = sl.apply(logits, labels, state, index=index)   # loss: [B]
    if sl.refresh_due(epoch, num_epochs):               # host-side Python, epochs from 0
        state = sl.refresh(state, all_logits, all_labels)   # [N, K], [N] in index order

``index`` ``[B]`` holds each example's stable position in the training set; padded rows carry
``index == N``: they read a neutral state value and their updates are dropped
(``.at[index].set(..., mode="drop")``). All state updates are computed under ``stop_gradient``.
The state lives in the train state and is checkpointed with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from robustloss.losses import _common as c
from robustloss.losses._ldr import SCORE_NORMS, ldr_kl_on_scores, normalize_scores
from robustloss.losses._symmetric import truncated_generalized_cross_entropy
from robustloss.objective import never, no_refresh

PyTree = Any

ALDR_UPDATES = ("paper", "code")
TGCE_SCHEDULES = ("paper", "code")
CODE_SMOOTHING = 1e-5


class StatefulLoss(NamedTuple):
    """A loss with per-example state: a bundle of pure functions (see the module docstring).

    Attributes:
      init: ``init(num_examples) -> state``, a pytree of ``[N]`` arrays.
      apply: ``apply(logits, labels, state, *, index) -> (loss [B], state)``; ``logits``
        ``[B, K]``, ``labels`` ``[B]`` ints or ``[B, K]`` probabilities, ``index`` ``[B]`` ints
        (``N`` for padded rows). jit- and vmap-compatible.
      refresh: ``refresh(state, logits, labels) -> state`` with ``logits`` ``[N, K]`` and
        ``labels`` ``[N]`` covering the whole training set in index order (an eval pass).
      refresh_due: ``refresh_due(epoch, num_epochs) -> bool``, host-side Python schedule,
        epochs counted from 0; when True the caller runs ``refresh`` after that epoch.
      name: registry name.
      hparams: the hyperparameters it was built with.
    """

    init: Callable[[int], PyTree]
    apply: Callable[..., tuple[jax.Array, PyTree]]
    refresh: Callable[[PyTree, jax.Array, jax.Array], PyTree]
    refresh_due: Callable[[int, int], bool]
    name: str
    hparams: Mapping[str, Any]


def _gather(values: jax.Array, index: ArrayLike, fill) -> jax.Array:
    """``values[index]`` with ``fill`` (may be traced) for out-of-range (padding) indices."""
    index = jnp.asarray(index)
    n = values.shape[0]
    inside = (index >= 0) & (index < n)
    return jnp.where(inside, values[jnp.clip(index, 0, n - 1)], fill)


# ---------------------------------------------------------------------------------------------
# ALDR-KL


class AldrKlState(NamedTuple):
    """State of ALDR-KL: the per-example temperature ``lam`` ``[N]`` (initialised to ``lam0``)."""

    lam: jax.Array


def aldr_kl_lambda(
    scores: ArrayLike,
    labels: ArrayLike,
    lam_old: ArrayLike,
    *,
    alpha: ArrayLike = 2.0,
    lam0: ArrayLike = 1.0,
    margin: ArrayLike = 0.1,
    update: str = "paper",
) -> jax.Array:
    r"""The closed-form ALDR-KL temperature update (one block of Algorithm 1), no gradient.

    .. math:: \lambda_{new} = \lambda_0 \Bigl(1 - \frac{\mathrm{KL}(\hat p \| u)}{\alpha \log K}
       \Bigr)

    which maximises ``-lam KL(p||u) - beta (lam - lam0)^2`` over ``lam`` with
    ``beta = alpha log K / (2 lam0)``; since ``0 <= KL <= log K`` and ``alpha > 1``,
    ``lam_new`` lies in ``[lam0 (1 - 1/alpha), lam0]`` (KL is clipped to ``[0, log K]`` against
    rounding). ``p_hat`` depends on ``update``:

    * ``"paper"`` (default): the maximiser of the inner LDR problem at the old temperature,
      ``p_hat = softmax(delta / lam_old)`` with ``delta = f - f_y + c [k != y]`` -- block
      coordinate ascent in ``(p, lam)``, then the loss at ``lam_new``. For probability labels
      ``q`` the expected margin shift is used: ``softmax((f - c q) / lam_old)``.
    * ``"code"``: the released LDR code, ``p_hat = softmax(f / lam_old)`` without margin or
      label, plus ``1e-5`` smoothing and renormalisation.

    Args:
      scores: ``[B, K]`` (normalised) scores ``f``.
      labels: integer ids ``[B]`` or probability vectors ``[B, K]``.
      lam_old: ``[B]`` current temperatures.
      alpha: ``> 1``; lam0: ``> 0``; margin: ``>= 0`` (may be traced).
      update: ``"paper"`` or ``"code"`` (static).

    Returns:
      ``[B]`` new temperatures (stop-gradient).

    References:
      Zhu, Ying and Yang, "Label Distributionally Robust Losses for Multi-class
      Classification: Consistency, Robustness and Adaptivity", ICML 2023, Algorithm 1.
    """
    c.check_choice("aldr_kl", "update", update, ALDR_UPDATES)
    scores, labels, is_int = c.canonicalize(scores, labels)
    f = jax.lax.stop_gradient(scores)
    lam_old = jax.lax.stop_gradient(jnp.asarray(lam_old, f.dtype))[..., None]
    num_classes = f.shape[-1]
    log_k = math.log(num_classes)
    if update == "paper":
        if is_int:
            shift = margin * (labels[..., None] != jnp.arange(num_classes)).astype(f.dtype)
        else:
            shift = -margin * labels
        # KL(softmax(x) || u) = sum_k e_k x_k / S - log S + log K, e = exp(x - max x), S = sum e.
        x = (f + shift) * (1.0 / lam_old)
        x = x - jnp.max(x, axis=-1, keepdims=True)
        e = jnp.exp(x)
        total = jnp.sum(e, axis=-1)
        kl = jnp.sum(e * x, axis=-1) / total - jnp.log(total) + log_k
    else:
        p = jax.nn.softmax(f * (1.0 / lam_old), axis=-1) + CODE_SMOOTHING
        p = p / jnp.sum(p, axis=-1, keepdims=True)
        kl = jnp.sum(p * jnp.log(num_classes * p), axis=-1)
    kl = jnp.clip(kl, 0.0, log_k)
    return jax.lax.stop_gradient(lam0 * (1.0 - kl / (alpha * log_k)))


def aldr_kl(
    *,
    alpha: ArrayLike = 2.0,
    lam0: ArrayLike = 1.0,
    margin: ArrayLike = 0.1,
    score_norm: str = "none",
    update: str = "paper",
) -> StatefulLoss:
    r"""ALDR-KL: LDR-KL with an adaptive per-example temperature ``lam_i`` (Algorithm 1).

    The per-example objective is

    .. math:: \ell(f, y) = \max_\lambda \max_{p \in \Delta} \sum_k p_k \delta_k
       - \lambda \mathrm{KL}(p \| u) - \beta (\lambda - \lambda_0)^2,
       \quad \beta = \frac{\alpha \log K}{2 \lambda_0}

    optimised stochastically: for each example of the batch, ``lam_i`` is updated in closed form
    from the stored ``lam_i`` (see :func:`aldr_kl_lambda`, ``update="paper"`` or ``"code"``),
    stored back, and the loss is ``LDR-KL(f, y; lam_new) - beta (lam_new - lam0)^2``. The
    penalty is a constant for the parameters (no gradient flows through ``lam``); it is
    **included** in the returned value, as in the released code, so the value is the objective
    at the current ``(p, lam)`` iterate. Confident examples get a smaller ``lam_i``
    (CE/CS-like), uncertain ones keep ``lam_i ≈ lam0`` (the robust end).

    Scores: ``f = normalize_scores(logits, score_norm)``; the LDR code used ``"l1"`` for
    ALDR-KL (``"softplus_mean"`` on CIFAR-100).

    Args:
      alpha: ``> 1`` (keeps ``lam`` in ``[lam0 (1 - 1/alpha), lam0]``).
      lam0: base temperature ``> 0`` (also the initial ``lam_i``).
      margin: ``c >= 0``.
      score_norm: ``"none"`` (default), ``"softplus_mean"`` or ``"l1"`` (static).
      update: ``"paper"`` (default) or ``"code"`` (static; see :func:`aldr_kl_lambda`).

    Returns:
      A :class:`StatefulLoss` with state :class:`AldrKlState`; ``refresh`` is a no-op and
      ``refresh_due`` is always False (all updates happen in ``apply``).

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.stateful import aldr_kl
      >>> sl = aldr_kl(lam0=1.0)
      >>> state = sl.init(4)
      >>> loss, state = sl.apply(jnp.array([[3.0, 0.0, 0.0]]), jnp.array([0]), state,
      ...                        index=jnp.array([2]))
      >>> print(state.lam)
      [1.  1.  0.678...  1. ]

    References:
      Zhu, Ying and Yang, "Label Distributionally Robust Losses for Multi-class
      Classification: Consistency, Robustness and Adaptivity", ICML 2023.
    """
    c.check_range("aldr_kl", "alpha", alpha, lambda x: x > 1, "(1, inf)")
    c.check_range("aldr_kl", "lam0", lam0, c.positive, "(0, inf)")
    c.check_range("aldr_kl", "margin", margin, c.nonnegative, "[0, inf)")
    c.check_choice("aldr_kl", "score_norm", score_norm, SCORE_NORMS)
    c.check_choice("aldr_kl", "update", update, ALDR_UPDATES)

    def init(num_examples: int) -> AldrKlState:
        return AldrKlState(lam=jnp.full((num_examples,), lam0, dtype=jnp.float32))

    def apply(
        logits: ArrayLike, labels: ArrayLike, state: AldrKlState, *, index: ArrayLike
    ) -> tuple[jax.Array, AldrKlState]:
        raw_labels, n_cls = labels, jnp.shape(logits)[-1]
        logits, labels, is_int = c.canonicalize(logits, labels)
        scores = normalize_scores(logits, score_norm)
        lam_old = _gather(state.lam, index, lam0).astype(scores.dtype)
        lam_new = aldr_kl_lambda(
            scores, labels, lam_old, alpha=alpha, lam0=lam0, margin=margin, update=update
        )
        beta = alpha * math.log(scores.shape[-1]) / (2.0 * lam0)
        loss = ldr_kl_on_scores(scores, labels, is_int, lam_new, margin)
        loss = loss - beta * jnp.square(lam_new - lam0)
        if is_int:  # a label outside [0, K) gives NaN (and a NaN lambda), never a plausible loss
            ok = c.valid_int_labels(jnp.asarray(raw_labels), n_cls)[1]
            loss = jnp.where(ok, loss, jnp.nan)
            # explicit: the NaN row's lambda must not depend on how XLA's clip/min/max treat NaN
            # (it came out NaN or finite depending on the compilation)
            lam_new = jnp.where(ok, lam_new, jnp.nan)
        lam = state.lam.at[jnp.asarray(index)].set(lam_new.astype(state.lam.dtype), mode="drop")
        return loss, AldrKlState(lam=lam)

    hparams = dict(alpha=alpha, lam0=lam0, margin=margin, score_norm=score_norm, update=update)
    return StatefulLoss(init, apply, no_refresh, never, "aldr_kl", hparams)


# ---------------------------------------------------------------------------------------------
# TGCE


class TgceState(NamedTuple):
    """State of TGCE: the per-example selection mask ``v`` ``[N]`` (1 = kept, 0 = pruned)."""

    mask: jax.Array


def tgce_schedule(
    epoch: int,
    num_epochs: int,
    *,
    schedule: str = "paper",
    prune_start: int = 40,
    prune_every: int = 10,
) -> bool:
    """TGCE pruning schedule (host-side; epochs counted from 0; True = refresh after ``epoch``).

    * ``"paper"``: Zhang and Sabuncu prune every ``prune_every`` epochs from epoch
      ``prune_start`` on (40 and 10 for their 120-epoch runs): refresh after epochs
      ``prune_start - 1, prune_start - 1 + prune_every, ...``, so the first new mask is in use
      from (0-based) epoch ``prune_start``. Absolute epochs, independent of ``num_epochs``.
    * ``"code"``: the released LDR code, ``(epoch + 1) % 10 == 0 and epoch > num_epochs / 2``
      (epochs 59, 69, ..., 99 of 100). The code spends those epochs on a pruning pass without
      an optimiser step; here the refresh follows a normal training epoch.
    """
    c.check_choice("tgce", "schedule", schedule, TGCE_SCHEDULES)
    if schedule == "code":
        return (epoch + 1) % 10 == 0 and epoch > num_epochs / 2
    done = epoch + 1
    return done >= prune_start and (done - prune_start) % prune_every == 0


def tgce(
    *,
    q: ArrayLike = 0.7,
    k: ArrayLike = 0.5,
    schedule: str = "paper",
    prune_start: int = 40,
    prune_every: int = 10,
) -> StatefulLoss:
    r"""Truncated L_q (TGCE) with a periodically refreshed per-example pruning mask.

    .. math:: \ell_i = v_i L_q(p_{y_i}) + (1 - v_i) L_q(k), \qquad
       L_q(t) = \frac{1 - t^q}{q}, \qquad v_i = 1[p_{y_i} > k]

    ``v`` starts at all ones; ``refresh`` recomputes ``v_i = 1[p_y(x_i) > k]`` from the logits
    of the whole training set (labels ``[N]`` ints, or probability vectors with
    ``p_label = q . p``). Pruned examples contribute the **constant** ``L_q(k)`` (no gradient);
    the LDR code uses 0 instead, which has the same gradient. ``apply`` never changes the
    state.

    Args:
      q: exponent in ``(0, 1]``; k: threshold in ``[0, 1)`` (both may be traced).
      schedule: ``"paper"`` (default) or ``"code"`` (static; see :func:`tgce_schedule`).
      prune_start: first pruning epoch of the ``"paper"`` schedule (int ``>= 1``).
      prune_every: period of the ``"paper"`` schedule (int ``>= 1``).

    Returns:
      A :class:`StatefulLoss` with state :class:`TgceState`.

    Example:
      >>> import jax.numpy as jnp
      >>> from robustloss.stateful import tgce
      >>> sl = tgce(q=0.7, k=0.5)
      >>> state = sl.refresh(sl.init(2), jnp.array([[3.0, 0.0], [0.0, 3.0]]), jnp.array([0, 0]))
      >>> print(state.mask)
      [1. 0.]
      >>> sl.refresh_due(39, 120), sl.refresh_due(40, 120)
      (True, False)

    References:
      Zhang and Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with
      Noisy Labels", NeurIPS 2018.
    """
    c.check_range("tgce", "q", q, lambda x: (x > 0) & (x <= 1), "(0, 1]")
    c.check_range("tgce", "k", k, lambda x: (x >= 0) & (x < 1), "[0, 1)")
    c.check_choice("tgce", "schedule", schedule, TGCE_SCHEDULES)
    c.check_static_int("tgce", "prune_start", prune_start, 1)
    c.check_static_int("tgce", "prune_every", prune_every, 1)

    def init(num_examples: int) -> TgceState:
        return TgceState(mask=jnp.ones((num_examples,), dtype=jnp.float32))

    def apply(
        logits: ArrayLike, labels: ArrayLike, state: TgceState, *, index: ArrayLike
    ) -> tuple[jax.Array, TgceState]:
        v = jax.lax.stop_gradient(_gather(state.mask, index, 1.0))
        return truncated_generalized_cross_entropy(logits, labels, v, q=q, k=k), state

    def refresh(state: TgceState, logits: ArrayLike, labels: ArrayLike) -> TgceState:
        logits, labels, is_int = c.canonicalize(logits, labels)
        if logits.shape[:-1] != state.mask.shape:
            raise ValueError(
                f"tgce.refresh needs logits for the whole training set, shape "
                f"[{state.mask.shape[0]}, K]; got {logits.shape}."
            )
        logits = jax.lax.stop_gradient(logits)
        log_p, _ = c.log_prob_label(logits, labels, is_int)
        p_label = jnp.exp(log_p) if is_int else jnp.sum(labels * jnp.exp(log_p), axis=-1)
        return TgceState(mask=(p_label > k).astype(state.mask.dtype))

    def refresh_due(epoch: int, num_epochs: int) -> bool:
        return tgce_schedule(
            epoch,
            num_epochs,
            schedule=schedule,
            prune_start=prune_start,
            prune_every=prune_every,
        )

    hparams = dict(q=q, k=k, schedule=schedule, prune_start=prune_start, prune_every=prune_every)
    return StatefulLoss(init, apply, refresh, refresh_due, "tgce", hparams)


__all__ = [
    "AldrKlState",
    "StatefulLoss",
    "TgceState",
    "aldr_kl",
    "aldr_kl_lambda",
    "tgce",
    "tgce_schedule",
]
