"""Shared helpers for the loss functions: input canonicalisation, label handling, checks.

Every stateless loss follows one contract (docs/design.md §4, modelled on ``optax.losses``)::

    fn(logits, labels, *, axis=-1, where=None, **hparams) -> one loss per example

``logits`` has its classes along ``axis``; ``labels`` are either integer class ids (shape
``logits.shape`` without ``axis``) or probability vectors (shape ``logits.shape``, classes along
the same ``axis``). For probability vectors a loss returns the expectation of the
integer-label loss under the label distribution, ``sum_y q_y * loss(f, y)`` (linear in ``q``,
identical for one-hot labels) unless its docstring says otherwise.

`prepare` turns the arguments into a `Classes` (class axis last, ``where`` turned into a
per-class mask with masked logits replaced by a harmless finite value), whose methods are the
masked reductions every loss is written with (``sum``, ``lse``, ``log_p``, ``softmax``,
``num_classes``, ...), and whose `Classes.finish` applies the rules for special rows:

* ``where``: ``False`` entries are classes that do not take part, exactly as in
  ``optax.softmax_cross_entropy(..., where=)``: they are left out of the softmax normaliser and
  of every sum, max or count over classes, and receive an exact zero gradient. A loss with
  ``where`` equals the same loss on the logits restricted to the unmasked classes (the label
  re-indexed); for probability labels, label mass on masked classes is ignored, as in optax.
* A row with no unmasked class gives 0 (and a zero gradient), whatever its label, as optax
  does; it is how padded rows are written.
* An integer label whose class is masked out (in a row with some unmasked class) gives NaN and
  a zero gradient: it has no probability, and optax's value there (``LSE - f_y``) is not a
  loss.
* Integer labels outside ``[0, K)`` (including ``-1``) give a NaN loss for that example, and NaN
  in everything computed from it (losses run under jit and cannot raise; without this ``-1``
  would silently index class ``K - 1``). The harness checks labels before training.

With ``axis=-1, where=None`` no array is moved or masked: the computation is the same sequence
of operations as before the conventions were added, so results are bit-identical
(``tests/losses/test_default_path.py``).

Computation runs in at least float32 (bfloat16/float16 logits are upcast); the result has dtype
``jnp.promote_types(logits.dtype, jnp.float32)``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import NamedTuple

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


def take_label(x: jax.Array, labels: jax.Array) -> jax.Array:
    """``x[..., labels]`` for integer labels ``[...]`` and ``x`` ``[..., K]``."""
    return jnp.take_along_axis(x, labels[..., None], axis=-1)[..., 0]


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
# The optax conventions: the class axis and the ``where`` mask.


def class_axis(axis, ndim: int) -> int:
    """The class axis as an int in ``[0, ndim)``.

    Raises:
      ValueError: naming ``axis`` unless it is an int (not a bool, float or tuple) in
        ``[-ndim, ndim)``.
    """
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        hint = " (a tuple of axes is not supported)" if isinstance(axis, tuple | list) else ""
        raise ValueError(f"axis must be an int, the class axis of logits{hint}; got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"axis={axis!r} is out of range for logits with {ndim} dimension(s): it must be in "
            f"[{-ndim}, {ndim - 1}]."
        )
    return operator.index(axis) % ndim


def where_mask(where: ArrayLike, shape: tuple[int, ...], axis: int) -> jax.Array:
    """``where`` as a boolean ``[..., K]`` mask with the class axis moved last.

    Args:
      where: a boolean array that broadcasts to ``shape`` (same number of dimensions), or one of
        ``shape`` without the class axis (a per-example mask, expanded at ``axis`` as optax
        does).
      shape: ``logits.shape`` (class axis not yet moved).
      axis: the class axis, in ``[0, len(shape))``.

    Raises:
      ValueError: ``where`` is not boolean, or does not broadcast (naming both shapes).
    """
    w = jnp.asarray(where)
    if w.dtype != jnp.bool_:
        raise ValueError(f"where must be a boolean mask, got dtype {w.dtype}.")
    given = w.shape
    if w.ndim == len(shape) - 1:
        w = jnp.expand_dims(w, axis)
    fits = w.ndim == len(shape) and all(a in (1, b) for a, b in zip(w.shape, shape, strict=True))
    if not fits:
        raise ValueError(
            f"where has shape {given}, which broadcasts neither to logits.shape = {shape} nor to "
            f"the batch shape {shape[:axis] + shape[axis + 1 :]} (logits without the class axis "
            f"{axis}); a per-class mask shared by all rows needs the full number of dimensions, "
            f"e.g. shape {tuple(k if i == axis else 1 for i, k in enumerate(shape))}."
        )
    w = jnp.broadcast_to(w, shape)
    return w if axis == len(shape) - 1 else jnp.moveaxis(w, axis, -1)


class Classes(NamedTuple):
    """Canonical inputs of a loss, built by `prepare`: class axis last, ``where`` applied.

    Attributes:
      logits: ``[..., K]`` scores in at least float32. Masked entries are replaced by the row's
        largest unmasked logit (held out of the gradient), so that every per-class expression
        stays finite there; they are left out of every reduction.
      labels: safe integer ids ``[...]`` or probability vectors ``[..., K]``.
      is_int: True for integer labels (static).
      mask: ``[..., K]`` bool, the classes that take part, or None (all of them). Rows with no
        unmasked class are computed as if every class took part and zeroed by `finish`.
      keep: ``[...]`` bool, rows with at least one unmasked class (None without ``where``).
      valid: ``[...]`` bool, integer labels in ``[0, K)`` (None for probability labels).
    """

    logits: jax.Array
    labels: jax.Array
    is_int: bool
    mask: jax.Array | None
    keep: jax.Array | None
    valid: jax.Array | None

    @property
    def num_classes(self) -> int | jax.Array:
        """``K`` (a Python int) without a mask; the count of unmasked classes ``[...]`` with one."""
        if self.mask is None:
            return self.logits.shape[-1]
        return jnp.sum(self.mask, axis=-1).astype(self.logits.dtype)

    def sum(self, x: jax.Array) -> jax.Array:
        """``sum_k x_k`` over the unmasked classes (the last axis)."""
        if self.mask is None:
            return jnp.sum(x, axis=-1)
        return jnp.sum(jnp.where(self.mask, x, 0.0), axis=-1)

    def take(self, x: jax.Array) -> jax.Array:
        """``x[..., y]`` for integer labels."""
        return take_label(x, self.labels)

    def lse(self) -> jax.Array:
        """``log sum_k exp(f_k)`` over the unmasked classes, ``[...]``."""
        if self.mask is None:
            return jax.nn.logsumexp(self.logits, axis=-1)
        return jax.nn.logsumexp(self.logits, axis=-1, where=self.mask)

    def log_p(self) -> tuple[jax.Array, jax.Array]:
        """``(log p, lse)``: ``log p_y`` ``[...]`` (int labels) or ``log p`` ``[..., K]``."""
        lse = self.lse()
        if self.is_int:
            return self.take(self.logits) - lse, lse
        return self.logits - lse[..., None], lse

    def softmax(self) -> jax.Array:
        """``p = softmax(f)`` over the unmasked classes, ``[..., K]`` (0 at masked classes)."""
        return softmax(self.logits, self.mask)

    def expect(self, per_class: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
        """``per_class(x_y)`` (int labels) or ``sum_k q_k per_class(x_k)`` over unmasked ``k``.

        ``per_class`` must be elementwise; for integer labels only the labelled entry is
        evaluated.
        """
        if self.is_int:
            return per_class(self.take(x))
        return self.sum(self.labels * per_class(x))

    def of_log_prob(self, per_class: Callable[[jax.Array], jax.Array]) -> jax.Array:
        """A loss that depends on ``log p_y`` only: ``per_class(log p_y)`` (expected for soft q)."""
        log_p, _ = self.log_p()
        if self.is_int:
            return per_class(log_p)
        return self.sum(self.labels * per_class(log_p))

    def mass(self) -> jax.Array:
        """``sum_k q_k`` over unmasked classes (ones for integer labels): a constant's weight."""
        if self.is_int:
            return jnp.ones(self.labels.shape, self.logits.dtype)
        return self.sum(self.labels)

    def at_least_two(self) -> jax.Array | None:
        """``[...]`` True where at least two classes take part; None without a mask (K >= 2)."""
        if self.mask is None:
            return None
        return self.num_classes >= 2

    def nan_below_two(self, out: jax.Array) -> jax.Array:
        """NaN where fewer than two classes take part (for losses undefined for one class).

        The caller keeps ``out`` finite there (e.g. a denominator replaced by 1), so that the
        selection gives a zero gradient.
        """
        two = self.at_least_two()
        return out if two is None else jnp.where(two, out, jnp.nan)

    def finish(self, out: jax.Array) -> jax.Array:
        """Applies the special-row rules to the per-example losses ``out`` ``[...]``.

        NaN for an integer label outside ``[0, K)`` or whose class is masked out; then 0 for a
        row with no unmasked class. Both are selections, so such rows get a zero gradient.
        """
        if self.is_int:
            ok = self.valid if self.mask is None else self.valid & self.take(self.mask)
            out = jnp.where(ok, out, jnp.nan)
        if self.keep is not None:
            out = jnp.where(self.keep, out, jnp.zeros((), out.dtype))
        return out


def prepare(logits: ArrayLike, labels: ArrayLike, axis=-1, where: ArrayLike | None = None):
    """Checks the arguments of a loss and returns its canonical `Classes`.

    Args:
      logits: real scores with the classes along ``axis`` (``K >= 2`` of them).
      labels: integer ids of shape ``logits.shape`` without ``axis``, or probability vectors of
        shape ``logits.shape``.
      axis: the class axis (an int).
      where: None, or a boolean mask that broadcasts to ``logits`` (or to the batch shape): True
        marks the entries (classes) that take part.

    Returns:
      A `Classes` with the class axis last. With ``axis`` last and ``where=None`` nothing is
      moved or masked (the operations are those of `canonicalize`).

    Raises:
      ValueError: a bad ``axis``, ``where``, dtype or label shape (see `canonicalize`).
    """
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    if logits.ndim < 1:
        raise ValueError(f"logits must have shape [..., K] with K >= 2, got {logits.shape}.")
    shape = logits.shape
    ax = class_axis(axis, logits.ndim)
    batch = shape[:ax] + shape[ax + 1 :]
    if jnp.issubdtype(labels.dtype, jnp.integer) and labels.shape != batch:
        raise ValueError(
            f"integer labels must have shape logits.shape without the class axis {ax} "
            f"= {batch}, got {labels.shape}."
        )
    if jnp.issubdtype(labels.dtype, jnp.floating) and labels.shape != shape:
        raise ValueError(
            f"probability labels must have shape logits.shape = {shape}, got {labels.shape}."
        )
    if ax != logits.ndim - 1:
        logits = jnp.moveaxis(logits, ax, -1)
        if jnp.issubdtype(labels.dtype, jnp.floating):
            labels = jnp.moveaxis(labels, ax, -1)
    raw = labels
    logits, labels, is_int = canonicalize(logits, labels)
    valid = valid_int_labels(raw, logits.shape[-1])[1] if is_int else None
    if where is None:
        return Classes(logits, labels, is_int, None, None, valid)
    logits, mask, keep = apply_where(logits, where_mask(where, shape, ax))
    return Classes(logits, labels, is_int, mask, keep, valid)


def apply_where(logits: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Masks ``[..., K]`` logits (class axis last) for the masked reductions.

    Returns:
      ``(logits, mask, keep)``: masked logits replaced by the row's largest unmasked logit
      (a stop-gradient constant, so every per-class expression stays finite and masked entries
      get an exact zero gradient; 0 in rows with no unmasked class), the mask with such rows
      set to all True (they are computed on zeros and zeroed afterwards), and ``keep`` ``[...]``,
      the rows with at least one unmasked class.
    """
    keep = jnp.any(mask, axis=-1)
    fill = jnp.max(jnp.where(mask, logits, -jnp.inf), axis=-1, keepdims=True)
    fill = jax.lax.stop_gradient(jnp.where(keep[..., None], fill, 0.0))
    return jnp.where(mask, logits, fill), mask | ~keep[..., None], keep


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


def softmax(logits: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """``softmax`` over the last axis with one division per row (``e * (1 / sum e)``).

    With a boolean ``mask`` ``[..., K]`` (at least one True per row) only the True entries take
    part; the others are exactly 0 and get no gradient, whatever their value.
    """
    if mask is None:
        e = jnp.exp(logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True)))
    else:
        top = jnp.max(jnp.where(mask, logits, -jnp.inf), axis=-1, keepdims=True)
        e = jnp.exp(jnp.where(mask, logits - jax.lax.stop_gradient(top), -jnp.inf))
    return e * (1.0 / jnp.sum(e, axis=-1, keepdims=True))
