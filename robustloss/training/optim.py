"""Optimisers and learning-rate schedules for the two papers' protocols (optax)."""

from __future__ import annotations

from collections.abc import Sequence

import optax

from robustloss.options import lookup

#: The optimizers (`make_optimizer`, `make_run_optimizer`): name -> description.
OPTIMIZERS = {
    "sgd": "SGD with momentum and coupled L2 weight decay (PyTorch SGD; LDR)",
    "adam": "Adam with coupled L2 weight decay (PyTorch Adam; RENT)",
    "adamw": "Adam with decoupled weight decay",
}
#: The learning-rate schedules (`make_schedule`): name -> description.
SCHEDULES = {
    "constant": "lr",
    "step": "lr times decay_factor at the start of each of decay_epochs",
    "cosine": "cosine decay from lr to 0 over the run",
}


def make_schedule(
    lr: float,
    *,
    schedule: str = "constant",
    steps_per_epoch: int = 1,
    num_epochs: int = 1,
    decay_epochs: Sequence[int] = (),
    decay_factor: float = 0.1,
) -> optax.Schedule:
    """Learning rate as a function of the global step.

    * ``constant``: ``lr``.
    * ``step``: ``lr * decay_factor ** #{e in decay_epochs : step >= e * steps_per_epoch}``
      (LDR: 100 epochs, ÷10 at the start of epochs 50 and 75).
    * ``cosine``: ``lr * (1 + cos(pi * step / (num_epochs * steps_per_epoch))) / 2``.

    Args:
        lr: initial learning rate > 0.
        schedule: one of ``constant``, ``step``, ``cosine``.
        steps_per_epoch: optimizer steps in one epoch (>= 1).
        num_epochs: total epochs (for ``cosine``).
        decay_epochs: epochs (counted from 0) at whose start the rate is multiplied by
            ``decay_factor``.
        decay_factor: multiplier in (0, 1].

    Returns:
        An optax schedule.

    Example:
        >>> s = make_schedule(0.1, schedule="step", steps_per_epoch=10, decay_epochs=(2,))
        >>> round(float(s(19)), 6), round(float(s(20)), 6)
        (0.1, 0.01)
    """
    lookup(SCHEDULES, schedule, "schedule")
    if schedule == "constant":
        return optax.constant_schedule(lr)
    if schedule == "step":
        bounds = {int(e) * steps_per_epoch: decay_factor for e in sorted(decay_epochs)}
        return optax.piecewise_constant_schedule(lr, bounds)
    return optax.cosine_decay_schedule(lr, max(1, num_epochs * steps_per_epoch))


def make_optimizer(
    name: str,
    schedule: optax.Schedule,
    *,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    clip_norm: float = 0.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> optax.GradientTransformation:
    """An optax optimiser with the papers' semantics.

    * ``sgd``: ``chain(add_decayed_weights(wd), sgd(schedule, momentum))`` — PyTorch SGD with
      coupled L2 weight decay: ``buf <- m*buf + (g + wd*theta)``, ``theta <- theta - lr*buf``
      (LDR protocol: momentum 0.9, wd 5e-3).
    * ``adam``: Adam with coupled L2 (PyTorch ``Adam(weight_decay=wd)``); RENT uses lr 1e-3, wd 0.
    * ``adamw``: decoupled weight decay.

    ``clip_norm > 0`` prepends ``clip_by_global_norm(clip_norm)``.

    Args:
        name: ``sgd``, ``adam`` or ``adamw``.
        schedule: learning rate schedule (see `make_schedule`).
        momentum: SGD momentum in [0, 1); 0 means plain SGD.
        nesterov: Nesterov momentum for SGD.
        weight_decay: >= 0.
        clip_norm: >= 0; 0 disables clipping.
        b1, b2, eps: Adam parameters.

    Returns:
        An ``optax.GradientTransformation``.

    Example:
        >>> tx = make_optimizer("sgd", make_schedule(0.01), weight_decay=5e-3)
        >>> type(tx).__name__
        'GradientTransformationExtraArgs'
    """
    lookup(OPTIMIZERS, name, "optimizer")
    parts = []
    if clip_norm > 0:
        parts.append(optax.clip_by_global_norm(clip_norm))
    if name == "sgd":
        if weight_decay > 0:
            parts.append(optax.add_decayed_weights(weight_decay))
        parts.append(optax.sgd(schedule, momentum=momentum or None, nesterov=nesterov))
    elif name == "adam":
        if weight_decay > 0:
            parts.append(optax.add_decayed_weights(weight_decay))
        parts.append(optax.adam(schedule, b1=b1, b2=b2, eps=eps))
    else:
        parts.append(optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay))
    return optax.chain(*parts)


#: The optimizer fields that `make_run_optimizer` injects (and a batched run may vary).
INJECTED = {"lr": "learning_rate", "weight_decay": "weight_decay", "momentum": "momentum"}


def make_run_optimizer(
    name: str,
    lr: float,
    shape: optax.Schedule,
    *,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    clip_norm: float = 0.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> optax.GradientTransformation:
    """`make_optimizer`'s optimizers with ``lr``, ``weight_decay`` and ``momentum`` injected.

    ``optax.inject_hyperparams`` keeps the three values in the optimizer state
    (``opt_state.hyperparams["learning_rate" | "weight_decay" | "momentum"]``), so a state with
    a leading runs axis can hold ``[R]`` values: R optimizer settings in one vmapped program
    (optax#932; `set_hyperparams`). The step size at step ``t`` is ``lr * shape(t)``: the
    schedule's shape (`make_schedule` with ``lr=1``) scales each run's base rate. The updates
    are those of `make_optimizer` with ``make_schedule(lr, ...)``: ``sgd`` =
    ``add_decayed_weights(wd)``, ``trace(momentum)``, ``-lr*shape``; ``adam`` = coupled L2 then
    Adam; ``adamw`` = Adam then decoupled decay (weight decay 0 and momentum 0 add exact zeros,
    so one structure serves every value).

    Example:
        >>> tx = make_run_optimizer("sgd", 0.1, make_schedule(1.0), weight_decay=5e-3)
        >>> import jax.numpy as jnp
        >>> state = tx.init({"w": jnp.ones(2)})
        >>> round(float(state.hyperparams["learning_rate"]), 6)
        0.1
    """
    lookup(OPTIMIZERS, name, "optimizer")

    def factory(learning_rate, weight_decay, momentum):
        parts = [optax.clip_by_global_norm(clip_norm)] if clip_norm > 0 else []
        step = optax.scale_by_schedule(lambda count: -learning_rate * shape(count))
        if name == "sgd":
            parts += [
                optax.add_decayed_weights(weight_decay),
                optax.trace(decay=momentum, nesterov=nesterov),
                step,
            ]
        elif name == "adam":
            parts += [
                optax.add_decayed_weights(weight_decay),
                optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
                step,
            ]
        else:
            parts += [
                optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
                optax.add_decayed_weights(weight_decay),
                step,
            ]
        return optax.chain(*parts)

    return optax.inject_hyperparams(factory)(
        learning_rate=lr, weight_decay=weight_decay, momentum=momentum
    )


def set_hyperparams(opt_state, values: dict):
    """``opt_state`` of `make_run_optimizer` with ``{config field: value or [R] values}`` set
    (``lr``, ``weight_decay``, ``momentum``; see `INJECTED`)."""
    import jax.numpy as jnp

    hp = dict(opt_state.hyperparams)
    for field, v in values.items():
        key = INJECTED[field]
        hp[key] = jnp.asarray(v, hp[key].dtype).reshape(hp[key].shape)
    return opt_state._replace(hyperparams=hp)
