"""Name -> loss registry: ``get_loss``, ``list_losses``, ``loss_hparams``.

Registry names are the papers' acronyms (docs/design.md §2). ``get_loss(name, **hparams)`` returns a
:class:`Loss` (a callable ``(logits, labels, *, axis=-1, where=None) -> [B]``) for stateless
losses, or a :class:`robustloss.stateful.StatefulLoss` for ``aldr_kl`` and ``tgce``.

Hyperparameter checking: unknown names raise ``ValueError`` listing the valid ones; concrete
out-of-range values raise ``ValueError`` naming the valid range. **Traced** values (inside
``jit``/``vmap``/``grad``) skip the range check, so a sweep can build the loss inside a vmapped
function::

    lams = jnp.array([0.1, 1.0, 10.0])
    per_lam = jax.vmap(lambda lam: get_loss("ldr_kl", lam=lam)(logits, labels))(lams)
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from robustloss import losses as L
from robustloss import stateful as S
from robustloss.options import Entry, Option, lookup, resolve
from robustloss.stateful import StatefulLoss


def _entry(fn: Callable[..., Any], description: str, defaults: dict, **kw: Any) -> Entry:
    """A loss entry; ranges are the loss function's own checks (run by `get_loss`)."""
    return Entry(fn, description, {k: Option(v) for k, v in defaults.items()}, **kw)


# The losses: name -> Entry(function, description, options = hyperparameters with defaults).
# meta: "static" (options that are not traced: strings, the Taylor order), "stateful".
LOSSES: dict[str, Entry] = {
    "ce": _entry(L.cross_entropy, "cross-entropy -log p_y", {}),
    "mae": _entry(L.mean_absolute_error, "mean absolute error 2(1 - p_y) (Ghosh et al. 2017)", {}),
    "mse": _entry(L.mean_squared_error, "squared error sum_k (e_yk - p_k)^2", {}),
    "gce": _entry(
        L.generalized_cross_entropy,
        "generalized cross-entropy (1 - p_y^q)/q (Zhang & Sabuncu 2018)",
        {"q": 0.7},
    ),
    "sce": _entry(
        L.symmetric_cross_entropy,
        "symmetric cross-entropy alpha CE + beta RCE (Wang et al. 2019)",
        {"alpha": 0.1, "beta": 1.0, "A": -4.0},
    ),
    "rce": _entry(L.reverse_cross_entropy, "reverse cross-entropy -A(1 - p_y)", {"A": -4.0}),
    "nce": _entry(
        L.normalized_cross_entropy,
        "normalized cross-entropy log p_y / sum_k log p_k (Ma et al. 2020)",
        {},
    ),
    "nce_rce": _entry(
        L.nce_plus_rce,
        "NCE + RCE active-passive loss (Ma et al. 2020)",
        {"alpha": 1.0, "beta": 1.0, "A": -4.0},
    ),
    "agce": _entry(
        L.asymmetric_generalized_cross_entropy,
        "asymmetric GCE (Zhou et al. 2021)",
        {"a": 1.0, "q": 2.0},
    ),
    "aul": _entry(
        L.asymmetric_unhinged_loss,
        "asymmetric unhinged loss (Zhou et al. 2021)",
        {"a": 6.0, "q": 1.5},
    ),
    "nce_agce": _entry(
        L.nce_plus_agce,
        "NCE + AGCE (Zhou et al. 2021)",
        {"alpha": 1.0, "beta": 1.0, "a": 3.0, "q": 1.5},
    ),
    "nce_aul": _entry(
        L.nce_plus_aul,
        "NCE + AUL (Zhou et al. 2021)",
        {"alpha": 1.0, "beta": 1.0, "a": 6.0, "q": 1.5},
    ),
    "js": _entry(
        L.jensen_shannon,
        "generalized Jensen-Shannon divergence, scaled (Englesson & Azizpour 2021)",
        {"pi1": 0.5},
    ),
    "rll": _entry(L.robust_log_loss, "robust log loss (Kumar & Sastry 2018)", {"alpha": 1.0}),
    "cs": _entry(L.crammer_singer_hinge, "Crammer-Singer multiclass hinge", {"margin": 1.0}),
    "ww": _entry(
        L.weston_watkins_hinge,
        "Weston-Watkins multiclass hinge",
        {"margin": 1.0, "reduction": "sum"},
        meta={"static": frozenset({"reduction"})},
    ),
    "ldr_kl": _entry(
        L.ldr_kl,
        "LDR-KL: label-distributionally robust KL loss (Zhu et al. 2023)",
        {"lam": 1.0, "margin": 0.1, "score_norm": "none"},
        meta={"static": frozenset({"score_norm"})},
    ),
    "aldr_kl": _entry(
        S.aldr_kl,
        "ALDR-KL: adaptive per-example temperature (stateful, Zhu et al. 2023)",
        {"alpha": 2.0, "lam0": 1.0, "margin": 0.1, "score_norm": "none", "update": "paper"},
        meta={"static": frozenset({"score_norm", "update"}), "stateful": True},
    ),
    "tgce": _entry(
        S.tgce,
        "truncated GCE with periodic pruning (stateful, Zhang & Sabuncu 2018)",
        {"q": 0.7, "k": 0.5, "schedule": "paper", "prune_start": 40, "prune_every": 10},
        meta={"static": frozenset({"schedule", "prune_start", "prune_every"}), "stateful": True},
    ),
    "focal": _entry(L.softmax_focal_loss, "softmax focal loss (Lin et al. 2017)", {"gamma": 2.0}),
    "ls": _entry(L.label_smoothing_cross_entropy, "label-smoothed cross-entropy", {"epsilon": 0.1}),
    "taylor_ce": _entry(
        L.taylor_cross_entropy,
        "Taylor cross-entropy of the given order (Feng et al. 2020)",
        {"order": 2},
        meta={"static": frozenset({"order"})},
    ),
    "poly1": _entry(
        L.poly1_cross_entropy, "Poly-1 cross-entropy (Leng et al. 2022)", {"epsilon": 1.0}
    ),
}


@jax.tree_util.register_pytree_node_class
class Loss:
    """A stateless loss bound to its hyperparameters: ``loss(logits, labels) -> [...]``.

    Attributes:
      name: registry name (e.g. ``"gce"``).
      hparams: read-only mapping of all hyperparameters (defaults filled in).
      fn: the underlying pure function, called as ``fn(logits, labels, **hparams)``.

    A ``Loss`` is a pytree whose leaves are its numeric hyperparameters (string/int options are
    static), so it can be passed through ``jax.jit`` and ``jax.vmap``.
    """

    __slots__ = ("name", "hparams", "fn", "_static", "__weakref__")

    def __init__(
        self,
        name: str,
        fn: Callable[..., jax.Array],
        hparams: Mapping[str, Any],
        static: frozenset[str] = frozenset(),
    ):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "hparams", types.MappingProxyType(dict(hparams)))
        object.__setattr__(self, "_static", frozenset(static))

    def __setattr__(self, key, value):
        raise AttributeError("Loss is immutable; build a new one with get_loss.")

    def __call__(
        self,
        logits: ArrayLike,
        labels: ArrayLike,
        *,
        axis: int = -1,
        where: ArrayLike | None = None,
    ) -> jax.Array:
        """Per-example losses for int/probability labels: ``fn(logits, labels, axis, where)``.

        Args:
          logits: scores with the classes along ``axis``.
          labels: integer ids (``logits.shape`` without ``axis``) or probability vectors
            (``logits.shape``).
          axis: the class axis (an int, default -1).
          where: optional boolean mask that broadcasts to ``logits``: True marks the classes
            that take part (as in ``optax.softmax_cross_entropy``); see docs/losses.md.

        Returns:
          One loss per example, shape ``logits.shape`` without ``axis``.
        """
        return self.fn(logits, labels, axis=axis, where=where, **self.hparams)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())
        return f"Loss({self.name!r}{', ' if args else ''}{args})"

    def tree_flatten(self):
        keys = tuple(sorted(k for k in self.hparams if k not in self._static))
        static = tuple(sorted((k, v) for k, v in self.hparams.items() if k in self._static))
        return tuple(self.hparams[k] for k in keys), (self.name, self.fn, keys, static)

    @classmethod
    def tree_unflatten(cls, aux, children):
        name, fn, keys, static = aux
        hparams = dict(zip(keys, children, strict=True))
        hparams.update(dict(static))
        return cls(name, fn, hparams, frozenset(k for k, _ in static))


def list_losses() -> list[str]:
    """All registry names, stateless and stateful, in table order (that of docs/losses.md)."""
    return list(LOSSES)


def is_stateful(name: str) -> bool:
    """True if ``get_loss(name)`` returns a :class:`StatefulLoss`."""
    return bool(_spec(name).meta.get("stateful", False))


def loss_hparams(name: str) -> dict[str, Any]:
    """The hyperparameters of ``name`` and their defaults (a fresh dict)."""
    return {k: o.default for k, o in _spec(name).options.items()}


def _spec(name: str) -> Entry:
    return lookup(LOSSES, name, "loss")


def _validate_stateless(spec: Entry, hparams: Mapping[str, Any]) -> None:
    """Runs the function's own argument checks by tracing it on a tiny abstract input.

    The abstract batch takes the shape of the largest array-valued hyperparameter (e.g. a
    per-example ``lam`` ``[B]``), so that broadcasting never fails for valid values.
    """
    batch = (1,)
    for value in hparams.values():
        shape = tuple(getattr(value, "shape", ()))
        if len(shape) >= len(batch) and shape != (1,):
            batch = shape or batch
    logits = jax.ShapeDtypeStruct((*batch, 3), jnp.float32)
    labels = jax.ShapeDtypeStruct(batch, jnp.int32)
    jax.eval_shape(lambda f, y: spec.factory(f, y, **hparams), logits, labels)


def get_loss(name: str, **hparams: Any) -> Loss | StatefulLoss:
    """Builds the loss registered as ``name`` with the given hyperparameters.

    Args:
      name: a registry name, see :func:`list_losses`.
      **hparams: hyperparameters (see :func:`loss_hparams`); missing ones take their defaults.
        Numeric values may be Python numbers or (traced) JAX scalars/arrays.

    Returns:
      A :class:`Loss` (``loss(logits, labels) -> [B]``) or, for ``aldr_kl``/``tgce``, a
      :class:`StatefulLoss`.

    Raises:
      ValueError: unknown ``name`` (lists the valid names), unknown hyperparameter (lists the
        loss's hyperparameters), or a concrete value outside its valid range.

    Example:
      >>> import jax.numpy as jnp
      >>> import robustloss
      >>> loss = robustloss.get_loss("gce", q=0.7)
      >>> loss(jnp.array([[2.0, 0.5, -1.0]]), jnp.array([0])).shape
      (1,)
    """
    spec = _spec(name)
    full = resolve(spec, hparams, f"loss {name!r}")
    if is_stateful(name):
        return spec.factory(**full)
    _validate_stateless(spec, full)
    return Loss(name, spec.factory, full, spec.meta.get("static", frozenset()))


__all__ = [
    "LOSSES",
    "Loss",
    "StatefulLoss",
    "get_loss",
    "is_stateful",
    "list_losses",
    "loss_hparams",
]
