"""The training objective: the one interface the training step calls (bottom layer).

This module imports nothing of the project but JAX, so `robustloss.stateful`,
`robustloss.transition` and `robustloss.training` all build on it.

Every way of turning a batch of logits into a scalar to minimise -- a plain loss from
`robustloss.losses`, a `StatefulLoss` with per-example state (ALDR-KL, TGCE), or a
transition-matrix method (forward correction, reweighting, DWS, RENT, with a fixed or learnable
T) -- is adapted to an `Objective`. The training step is written once against it, so the loop has
no special cases per method, and every objective is vmappable over a leading "runs" axis.

Contract (all functions pure; `aux` is a pytree that lives in the train state and is
checkpointed with it):

* ``init(num_examples, num_classes, key) -> aux``: the objective's state. Per-example arrays have
  leading size ``num_examples`` and are indexed by the stable example ``index`` of the batch.
* ``loss(logits, batch, aux, key) -> (scalar, aux, metrics)``: ``logits`` ``[B, K]`` for the
  *global* batch (under ``jit`` + ``NamedSharding`` the step sees the global batch, so batch-wide
  methods such as RENT resample over it and per-example state updates hit the right rows whichever
  device holds an example). ``batch`` is a dict with at least ``"label"`` (noisy int labels
  ``[B]``), ``"index"`` (``[B]`` int, ``num_examples`` for padded rows) and ``"mask"`` (``[B]``
  float, 0 for padded rows); ``"clean_label"`` is present when clean labels are known. The scalar
  must ignore masked rows. ``metrics`` is a dict of scalars that the loop averages over the steps
  of an epoch (may be empty). State updates use ``stop_gradient`` and
  ``.at[index].set(..., mode="drop")``.
* ``refresh_due(epoch, num_epochs) -> bool``: host-side schedule (Python ints, epochs counted from
  0); when true the loop runs an evaluation pass over the whole training set after that epoch and
  calls ``refresh``.
* ``refresh(aux, logits, labels, epoch) -> aux``: ``logits`` ``[N, K]`` of all training examples
  in index order (eval mode), ``labels`` ``[N]`` noisy labels, ``epoch`` the epoch just completed
  (counted from 0) as an int32 scalar that is traced under ``jit`` (the trainer compiles
  ``refresh`` once). Used for TGCE pruning and for the
  anchor/DualT estimators that run once after a warm-up.
* ``warmup_epochs`` / ``warmup_loss`` (optional; ``0`` / ``None`` by default): for objectives
  that start with plain-loss epochs (the transition methods' CE warm-up). During the first
  ``warmup_epochs`` epochs the loop trains with ``warmup_loss`` (same signature as ``loss``) as a
  second compiled step, so a warm-up epoch is the same program as training with the plain loss
  (bit-identical metrics, and none of the method's cost); ``loss`` itself must still be correct
  during the warm-up (it selects the plain loss while ``aux`` says the method is inactive).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

PyTree = Any


class Objective(NamedTuple):
    """A training objective (see the module docstring for the contract)."""

    init: Callable[[int, int, jax.Array], PyTree]
    loss: Callable[[jax.Array, dict, PyTree, jax.Array], tuple[jax.Array, PyTree, dict]]
    refresh_due: Callable[[int, int], bool]
    refresh: Callable[[PyTree, jax.Array, jax.Array, int], PyTree]
    warmup_epochs: int = 0
    warmup_loss: Callable[[jax.Array, dict, PyTree, jax.Array], tuple] | None = None


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """``sum(mask * values) / max(sum(mask), 1)``: the mean over the real (unpadded) rows.

    Example:
        >>> float(masked_mean(jnp.array([1.0, 3.0, 100.0]), jnp.array([1.0, 1.0, 0.0])))
        2.0
    """
    values = jnp.asarray(values)
    mask = jnp.asarray(mask).astype(values.dtype)
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def never(epoch: int, num_epochs: int) -> bool:
    """A ``refresh_due`` schedule that never fires (for objectives and stateful losses).

    Example:
        >>> never(3, 10)
        False
    """
    del epoch, num_epochs
    return False


def no_refresh(
    aux: PyTree, logits: jax.Array, labels: jax.Array, epoch: int | None = None
) -> PyTree:
    """A ``refresh`` that keeps the state unchanged.

    Serves both contracts: an `Objective`'s ``refresh(aux, logits, labels, epoch)`` and a
    ``StatefulLoss``'s ``refresh(state, logits, labels)``.

    Example:
        >>> no_refresh({"a": 1}, None, None)
        {'a': 1}
    """
    del logits, labels, epoch
    return aux


def _is_stateful(loss: Any) -> bool:
    """True for a `robustloss.StatefulLoss`-like object (``init``/``apply``/``refresh``)."""
    return all(callable(getattr(loss, name, None)) for name in ("init", "apply", "refresh"))


def objective_from_loss(loss: Any) -> Objective:
    """Adapts a loss from `robustloss.get_loss` to the `Objective` contract.

    A stateless ``Loss`` (callable ``(logits, labels) -> [B]``) becomes the masked batch mean
    ``sum_i m_i l_i / max(sum_i m_i, 1)`` with an empty state. A ``StatefulLoss`` keeps its
    per-example state as the objective's ``aux``: ``apply`` is called with the batch's stable
    ``index`` (padded rows carry ``index == num_examples`` and are dropped by the loss), and its
    ``refresh_due``/``refresh`` schedule is passed through.

    Args:
        loss: a ``Loss`` or ``StatefulLoss`` (docs/design.md §4–§5).

    Returns:
        An `Objective` whose ``loss`` returns ``(scalar, aux, {})``.

    Raises:
        ValueError: ``loss`` is neither callable nor a stateful loss.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> obj = objective_from_loss(optax.softmax_cross_entropy_with_integer_labels)
        >>> batch = {"label": jnp.array([0]), "index": jnp.array([0]), "mask": jnp.ones(1)}
        >>> float(obj.loss(jnp.zeros((1, 2)), batch, obj.init(1, 2, None), None)[0])  # log 2
        0.693...
    """
    if _is_stateful(loss):

        def init_stateful(num_examples: int, num_classes: int, key: jax.Array) -> PyTree:
            del num_classes, key
            return loss.init(num_examples)

        def loss_stateful(
            logits: jax.Array, batch: dict, aux: PyTree, key: jax.Array
        ) -> tuple[jax.Array, PyTree, dict]:
            del key
            values, aux = loss.apply(logits, batch["label"], aux, index=batch["index"])
            return masked_mean(values, batch["mask"]), aux, {}

        def refresh_stateful(
            aux: PyTree, logits: jax.Array, labels: jax.Array, epoch: int
        ) -> PyTree:
            del epoch
            return loss.refresh(aux, logits, labels)

        return Objective(
            init=init_stateful,
            loss=loss_stateful,
            refresh_due=loss.refresh_due,
            refresh=refresh_stateful,
        )
    if not callable(loss):
        raise ValueError(
            f"expected a Loss (callable (logits, labels) -> [B]) or a StatefulLoss, got {loss!r}"
        )

    def init_stateless(num_examples: int, num_classes: int, key: jax.Array) -> PyTree:
        del num_examples, num_classes, key
        return {}

    def loss_stateless(
        logits: jax.Array, batch: dict, aux: PyTree, key: jax.Array
    ) -> tuple[jax.Array, PyTree, dict]:
        del key
        return masked_mean(loss(logits, batch["label"]), batch["mask"]), aux, {}

    return Objective(
        init=init_stateless, loss=loss_stateless, refresh_due=never, refresh=no_refresh
    )


def objective_hparams(
    loss: Any, fields: Any, rebuild: Callable[..., Any] | None = None
) -> Objective:
    """An objective whose loss hyperparameters ``fields`` are traced values in ``aux``.

    Stateless loss: ``aux = {"hparams": {field: value, ...}}``; each step calls
    ``loss.fn(logits, labels, **hparams)`` with those values in place of ``loss.hparams``.
    Stateful loss (ALDR-KL, TGCE): ``aux = {"hparams": ..., "state": <the loss's state>}``; each
    step (and each refresh) calls ``rebuild(**hparams)`` -- the loss rebuilt with the traced
    values, e.g. ``lambda **hp: get_loss("aldr_kl", **hp)`` -- and applies it to the state. Its
    ``refresh_due`` schedule is the given loss's (host-side, so not a traced hyperparameter).

    Setting each hyperparameter to ``[R]`` values in a train state with a leading runs axis
    trains R settings of one loss (several hyperparameters at once) in one vmapped program; the
    harness does this for per-run ``loss.hparams.*`` fields (`robustloss.training.runs`), and
    gives each run the initial state of its own values (ALDR-KL's ``lam_i`` start at its
    ``lam0``).

    Args:
        loss: a ``robustloss.Loss`` or ``StatefulLoss`` (from ``get_loss``): its ``hparams``.
        fields: names of numeric hyperparameters (e.g. ``("alpha", "beta")`` for ``sce``).
        rebuild: for a stateful loss, ``(**hparams) -> StatefulLoss`` (required).

    Returns:
        An `Objective`; ``init`` stores ``loss.hparams[field]`` for each field (float32).

    Raises:
        ValueError: a field is not a numeric hyperparameter of the loss, or a stateful loss
            comes without ``rebuild``.

    Example:
        >>> import jax.numpy as jnp, robustloss
        >>> obj = objective_hparams(robustloss.get_loss("sce"), ("alpha", "beta"))
        >>> batch = {"label": jnp.array([0]), "index": jnp.array([0]), "mask": jnp.ones(1)}
        >>> aux = {"hparams": {"alpha": jnp.float32(0.0), "beta": jnp.float32(1.0)}}
        >>> float(obj.loss(jnp.zeros((1, 2)), batch, aux, None)[0])  # RCE: -A (1 - p_y) = 2
        2.0
    """
    name = getattr(loss, "name", repr(loss))
    stateful = _is_stateful(loss)
    if stateful and rebuild is None:
        raise ValueError(f"traced hyperparameters of the stateful loss {name!r} need rebuild")
    hparams = dict(getattr(loss, "hparams", {}))
    fields = tuple(fields)
    numeric = sorted(k for k, v in hparams.items() if not isinstance(v, str | bool))
    bad = [f for f in fields if f not in numeric]
    if bad or not fields:
        raise ValueError(
            f"loss {name!r} has no numeric hyperparameter(s) {bad or fields!r} to trace; "
            f"valid: {numeric}"
        )
    start = {f: float(hparams[f]) for f in fields}

    def traced(aux: PyTree) -> dict:
        return {**hparams, **aux["hparams"]}

    def init(num_examples: int, num_classes: int, key: jax.Array) -> PyTree:
        del num_classes, key
        aux = {"hparams": {f: jnp.asarray(v, jnp.float32) for f, v in start.items()}}
        if stateful:
            aux["state"] = loss.init(num_examples)
        return aux

    def loss_traced(
        logits: jax.Array, batch: dict, aux: PyTree, key: jax.Array
    ) -> tuple[jax.Array, PyTree, dict]:
        del key
        if not stateful:
            values = loss.fn(logits, batch["label"], **traced(aux))
            return masked_mean(values, batch["mask"]), aux, {}
        values, state = rebuild(**traced(aux)).apply(
            logits, batch["label"], aux["state"], index=batch["index"]
        )
        return masked_mean(values, batch["mask"]), {**aux, "state": state}, {}

    def refresh_traced(aux: PyTree, logits: jax.Array, labels: jax.Array, epoch: int) -> PyTree:
        del epoch
        return {**aux, "state": rebuild(**traced(aux)).refresh(aux["state"], logits, labels)}

    if not stateful:
        return Objective(init=init, loss=loss_traced, refresh_due=never, refresh=no_refresh)
    return Objective(
        init=init, loss=loss_traced, refresh_due=loss.refresh_due, refresh=refresh_traced
    )
