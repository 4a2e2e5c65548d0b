"""Shared helpers for the loss functions: input canonicalisation, label handling, checks.

Every loss follows the contract of docs/design.md §4: ``fn(logits, labels, *, hparams)`` returns
one loss per example (shape ``logits.shape[:-1]``). ``labels`` are either integer class ids (shape
``logits.shape[:-1]``) or probability vectors (shape ``logits.shape``). For probability vectors a
loss returns the expectation of the integer-label loss under the label distribution,
``sum_y q_y * loss(f, y)`` (linear in ``q``, identical for one-hot labels) unless its docstring
says otherwise.

Integer labels outside ``[0, K)`` (including ``-1``) give a NaN loss for that example, and NaN
in everything computed from it (losses run under jit and cannot raise; without this ``-1`` would
silently index class ``K - 1``). The harness checks labels before training.

Computation runs in at least float32 (bfloat16/float16 logits are upcast); the result has dtype
``jnp.promote_types(logits.dtype, jnp.float32)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


def canonicalize(logits: ArrayLike, labels: ArrayLike) -> tuple[jax.Array, jax.Array, bool]:
    """Validates shapes, upcasts logits and tells integer from probability labels.

    Args:
      logits: ``[..., K]`` real scores, ``K >= 2``.
      labels: integer ids ``[...]`` or probability vectors ``[..., K]``.

    Returns:
      ``(logits, labels, is_int)`` with logits in at least float32, probability labels in the
      same dtype as the logits. For integer labels outside ``[0, K)`` the row's logits are
      replaced by NaN and the label by 0, so every loss of that example is NaN (never the loss
      of another class); see `valid_int_labels`.

    Raises:
      ValueError: on a non-floating ``logits``, ``K < 2`` or a label shape that matches neither
        form.
    """
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        raise ValueError(f"logits must be a floating array, got dtype {logits.dtype}.")
    if logits.ndim < 1 or logits.shape[-1] < 2:
        raise ValueError(f"logits must have shape [..., K] with K >= 2, got {logits.shape}.")
    dtype = jnp.promote_types(logits.dtype, jnp.float32)
    logits = logits.astype(dtype)
    if jnp.issubdtype(labels.dtype, jnp.integer):
        if labels.shape != logits.shape[:-1]:
            raise ValueError(
                f"integer labels must have shape logits.shape[:-1] = {logits.shape[:-1]}, "
                f"got {labels.shape}."
            )
        labels, valid = valid_int_labels(labels, logits.shape[-1])
        return jnp.where(valid[..., None], logits, jnp.nan), labels, True
    if jnp.issubdtype(labels.dtype, jnp.floating):
        if labels.shape != logits.shape:
            raise ValueError(
                f"probability labels must have shape logits.shape = {logits.shape}, "
                f"got {labels.shape}."
            )
        return logits, labels.astype(dtype), False
    raise ValueError(
        f"labels must be integer class ids or floating probability vectors, got dtype "
        f"{labels.dtype}."
    )


def valid_int_labels(labels: ArrayLike, num_classes: int) -> tuple[jax.Array, jax.Array]:
    """``(safe, valid)``: ``valid = 0 <= y < K`` and ``safe = where(valid, y, 0)`` (int32).

    Gathering with ``safe`` never wraps (``-1`` would read class ``K - 1``) or clips; callers put
    NaN where ``valid`` is False.

    Example:
      >>> [a.tolist() for a in valid_int_labels(jnp.array([-1, 0, 2, 3]), 3)]
      [[0, 0, 2, 0], [False, True, True, False]]
    """
    labels = jnp.asarray(labels)
    valid = (labels >= 0) & (labels < num_classes)
    return jnp.where(valid, labels, 0).astype(jnp.int32), valid


def nan_for_invalid_int_labels(fn: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """Wraps a loss ``fn(logits, labels, ...)`` so that integer labels outside ``[0, K)`` give NaN.

    `canonicalize` already makes such rows' logits NaN, but XLA does not propagate NaN through
    every fused reduction (on CPU ``sum(exp(nan))`` can come out as 0), so the per-example output
    is masked as well: ``where(0 <= y < K, fn(...), nan)``. Probability labels are untouched.
    """

    @functools.wraps(fn)
    def wrapper(logits, labels, *args, **kwargs):
        out = fn(logits, labels, *args, **kwargs)
        lab = jnp.asarray(labels)
        if not jnp.issubdtype(lab.dtype, jnp.integer):
            return out
        _, valid = valid_int_labels(lab, jnp.shape(logits)[-1])
        return jnp.where(valid, out, jnp.nan)

    return wrapper


def take_label(x: jax.Array, labels: jax.Array) -> jax.Array:
    """``x[..., labels]`` for integer labels ``[...]`` and ``x`` ``[..., K]``."""
    return jnp.take_along_axis(x, labels[..., None], axis=-1)[..., 0]


def expect(
    per_class: Callable[[jax.Array], jax.Array], x: jax.Array, labels: jax.Array, is_int: bool
) -> jax.Array:
    """``per_class(x[..., y])`` for integer labels, ``sum_k q_k per_class(x[..., k])`` otherwise.

    ``per_class`` must be elementwise. For integer labels only the labelled entry is evaluated.
    """
    if is_int:
        return per_class(take_label(x, labels))
    return jnp.sum(labels * per_class(x), axis=-1)


def label_mass(labels: jax.Array, is_int: bool, dtype) -> jax.Array | float:
    """``sum_k q_k`` for probability labels (1 for integer labels): the weight of a constant."""
    if is_int:
        return jnp.ones(labels.shape, dtype)
    return jnp.sum(labels, axis=-1)


def log_prob_label(logits: jax.Array, labels: jax.Array, is_int: bool):
    """Returns ``(log p, lse)``: ``log p_y`` ``[...]`` (int labels) or ``log p`` ``[..., K]``."""
    lse = jax.nn.logsumexp(logits, axis=-1)
    if is_int:
        return take_label(logits, labels) - lse, lse
    return logits - lse[..., None], lse


def one_minus_exp(log_p: jax.Array) -> jax.Array:
    """``1 - exp(log_p)`` computed as ``-expm1(log_p)``: exact near ``p = 1``."""
    return -jnp.expm1(log_p)


# ---------------------------------------------------------------------------------------------
# Hyperparameter checks. Concrete values are checked; traced values (inside jit/vmap/grad) are
# skipped so that a sweep can vmap over hyperparameters.


def is_traced(value) -> bool:
    """True for a JAX tracer (a value inside ``jit``/``vmap``/``grad``)."""
    return isinstance(value, jax.core.Tracer)


def check_range(
    loss: str, name: str, value, ok: Callable[[np.ndarray], np.ndarray], valid: str
) -> None:
    """Raises ``ValueError`` if a concrete ``value`` fails ``ok``; skips traced values.

    Args:
      loss: the loss name, for the message.
      name: the hyperparameter name.
      value: a Python number or an array (every entry is checked).
      ok: vectorised predicate on a NumPy array.
      valid: human-readable valid range, e.g. ``"(0, 1]"``.
    """
    if is_traced(value):
        return
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{loss}: {name} must be a number in {valid}, got {value!r}.")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{loss}: {name} must be a number in {valid}, got {value!r}.") from None
    if not np.all(np.isfinite(arr)) or not np.all(ok(arr)):
        raise ValueError(f"{loss}: {name} must be in {valid}, got {value!r}.")


def check_choice(loss: str, name: str, value, choices: Iterable[str]) -> None:
    """Raises ``ValueError`` unless ``value`` is one of the (static, string) ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{loss}: {name} must be one of {choices}, got {value!r}.")


def check_static_int(loss: str, name: str, value, minimum: int) -> None:
    """Raises ``ValueError`` unless ``value`` is a Python/NumPy integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"{loss}: {name} must be a Python int >= {minimum} (it is static: it sets the "
            f"number of terms, so it cannot be traced), got {value!r}."
        )
    if value < minimum:
        raise ValueError(f"{loss}: {name} must be an int >= {minimum}, got {value!r}.")


def positive(x):
    return x > 0


def nonnegative(x):
    return x >= 0


def negative(x):
    return x < 0


def loss_of_log_prob(
    logits: ArrayLike, labels: ArrayLike, per_class: Callable[[jax.Array], jax.Array]
) -> jax.Array:
    """A loss that depends on ``log p_y`` only: ``per_class(log p_y)`` (expectation for soft q).

    Args:
      logits: ``[..., K]`` scores.
      labels: integer ids ``[...]`` or probability vectors ``[..., K]``.
      per_class: elementwise map from ``log p`` to the loss.
    """
    logits, labels, is_int = canonicalize(logits, labels)
    log_p, _ = log_prob_label(logits, labels, is_int)
    if is_int:
        return per_class(log_p)
    return jnp.sum(labels * per_class(log_p), axis=-1)


def softmax(logits: jax.Array) -> jax.Array:
    """``softmax`` over the last axis with one division per row (``e * (1 / sum e)``)."""
    e = jnp.exp(logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True)))
    return e * (1.0 / jnp.sum(e, axis=-1, keepdims=True))
