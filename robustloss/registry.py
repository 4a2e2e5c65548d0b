"""Name -> loss registry: ``get_loss``, ``list_losses``, ``loss_hparams``.

Registry names are the papers' acronyms (DESIGN §2). ``get_loss(name, **hparams)`` returns a
:class:`Loss` (a callable ``(logits, labels) -> [B]``) for stateless losses, or a
:class:`robustloss.stateful.StatefulLoss` for ``aldr_kl`` and ``tgce``.

Hyperparameter checking: unknown names raise ``ValueError`` listing the valid ones; concrete
out-of-range values raise ``ValueError`` naming the valid range. **Traced** values (inside
``jit``/``vmap``/``grad``) skip the range check, so a sweep can build the loss inside a vmapped
function::

    lams = jnp.array([0.1, 1.0, 10.0])
    per_lam = jax.vmap(lambda lam: get_loss("ldr_kl", lam=lam)(logits, labels))(lams)
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from robustloss import losses as L
from robustloss import stateful as S
from robustloss.stateful import StatefulLoss


@dataclasses.dataclass(frozen=True)
class _Spec:
    fn: Callable[..., Any]
    defaults: Mapping[str, Any]
    static: frozenset[str] = frozenset()
    stateful: bool = False


_REGISTRY: dict[str, _Spec] = {
    "ce": _Spec(L.cross_entropy, {}),
    "mae": _Spec(L.mean_absolute_error, {}),
    "mse": _Spec(L.mean_squared_error, {}),
    "gce": _Spec(L.generalized_cross_entropy, {"q": 0.7}),
    "sce": _Spec(L.symmetric_cross_entropy, {"alpha": 0.1, "beta": 1.0, "A": -4.0}),
    "rce": _Spec(L.reverse_cross_entropy, {"A": -4.0}),
    "nce": _Spec(L.normalized_cross_entropy, {}),
    "nce_rce": _Spec(L.nce_plus_rce, {"alpha": 1.0, "beta": 1.0, "A": -4.0}),
    "agce": _Spec(L.asymmetric_generalized_cross_entropy, {"a": 1.0, "q": 2.0}),
    "aul": _Spec(L.asymmetric_unhinged_loss, {"a": 6.0, "q": 1.5}),
    "nce_agce": _Spec(L.nce_plus_agce, {"alpha": 1.0, "beta": 1.0, "a": 3.0, "q": 1.5}),
    "nce_aul": _Spec(L.nce_plus_aul, {"alpha": 1.0, "beta": 1.0, "a": 6.0, "q": 1.5}),
    "js": _Spec(L.jensen_shannon, {"pi1": 0.5}),
    "rll": _Spec(L.robust_log_loss, {"alpha": 1.0}),
    "cs": _Spec(L.crammer_singer_hinge, {"margin": 1.0}),
    "ww": _Spec(
        L.weston_watkins_hinge, {"margin": 1.0, "reduction": "sum"}, frozenset({"reduction"})
    ),
    "ldr_kl": _Spec(
        L.ldr_kl,
        {"lam": 1.0, "margin": 0.1, "score_norm": "none"},
        frozenset({"score_norm"}),
    ),
    "aldr_kl": _Spec(
        S.aldr_kl,
        {"alpha": 2.0, "lam0": 1.0, "margin": 0.1, "score_norm": "none", "update": "paper"},
        frozenset({"score_norm", "update"}),
        stateful=True,
    ),
    "tgce": _Spec(
        S.tgce,
        {"q": 0.7, "k": 0.5, "schedule": "paper", "prune_start": 40, "prune_every": 10},
        frozenset({"schedule", "prune_start", "prune_every"}),
        stateful=True,
    ),
    "focal": _Spec(L.softmax_focal_loss, {"gamma": 2.0}),
    "ls": _Spec(L.label_smoothing_cross_entropy, {"epsilon": 0.1}),
    "taylor_ce": _Spec(L.taylor_cross_entropy, {"order": 2}, frozenset({"order"})),
    "poly1": _Spec(L.poly1_cross_entropy, {"epsilon": 1.0}),
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

    def __call__(self, logits: ArrayLike, labels: ArrayLike) -> jax.Array:
        """Per-example losses ``[...]`` for ``logits`` ``[..., K]`` and int/probability labels."""
        return self.fn(logits, labels, **self.hparams)

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
    """All registry names, stateless and stateful, in the order of DESIGN §2's table."""
    return list(_REGISTRY)


def is_stateful(name: str) -> bool:
    """True if ``get_loss(name)`` returns a :class:`StatefulLoss`."""
    return _spec(name).stateful


def loss_hparams(name: str) -> dict[str, Any]:
    """The hyperparameters of ``name`` and their defaults (a fresh dict)."""
    return dict(_spec(name).defaults)


def _spec(name: str) -> _Spec:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"Unknown loss {name!r}. Valid names: {', '.join(_REGISTRY)}.")
    return _REGISTRY[name]


def _validate_stateless(spec: _Spec, hparams: Mapping[str, Any]) -> None:
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
    jax.eval_shape(lambda f, y: spec.fn(f, y, **hparams), logits, labels)


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
    unknown = sorted(set(hparams) - set(spec.defaults))
    if unknown:
        valid = ", ".join(spec.defaults) if spec.defaults else "(none)"
        raise ValueError(f"Unknown hyperparameter(s) {unknown} for loss {name!r}. Valid: {valid}.")
    full = {**spec.defaults, **hparams}
    if spec.stateful:
        return spec.fn(**full)
    _validate_stateless(spec, full)
    return Loss(name, spec.fn, full, spec.static)


__all__ = ["Loss", "StatefulLoss", "get_loss", "is_stateful", "list_losses", "loss_hparams"]
