"""``make_objective``: a transition-matrix method as a training ``Objective``.

The method is a use (``USES``) and an estimator (``ESTIMATORS``) from ``_methods.py``; this
module wires them into the `robustloss.objective.Objective` contract in small pieces: the
per-batch weighted metrics (`_weighted_metrics`), one step of a learnable T (`_t_step`), the
clean-label indicator (`_clean_indicator`) and the anchor probabilities (`_record_proba`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from robustloss.objective import Objective, masked_mean
from robustloss.transition import _estimators as est
from robustloss.transition import _utilise as ut
from robustloss.transition._methods import ESTIMATORS, USES, Estimator, UseInputs
from robustloss.transition._options import TransitionOptions


def _check_true_T(true_T: Any, num_classes: int) -> jax.Array | None:
    if true_T is None:
        return None
    ut.check_transition_matrix(np.asarray(true_T, np.float64), num_classes, name="true_T")
    return jnp.asarray(true_T, jnp.float32)


def _t_optimizer(o: TransitionOptions) -> optax.GradientTransformation:
    kind = o.t_optimizer
    if kind == "auto":
        kind = ESTIMATORS[o.estimator].meta["t_optimizer"]
    if kind == "sgd":
        return optax.sgd(o.t_lr, momentum=0.9)
    return optax.adam(o.t_lr)


def _as_options(options: Any, overrides: dict) -> TransitionOptions:
    if options is None:
        options = TransitionOptions()
    elif not isinstance(options, TransitionOptions):
        options = TransitionOptions.from_mapping(options)
    return options.replace(**overrides) if overrides else options


def _t_step(
    method: Estimator,
    t_opt: optax.GradientTransformation,
    aux: dict,
    probs: jax.Array,
    labels: jax.Array,
    mask: jax.Array,
    active: jax.Array,
) -> tuple[dict, jax.Array]:
    """One optimiser step of a learnable T on detached ``probs``; a no-op during the warm-up."""
    params = aux["t_params"]
    t_loss, grads = jax.value_and_grad(method.t_loss)(params, probs, labels, mask)
    updates, opt_state = t_opt.update(grads, aux["t_opt"], params)
    stepped = optax.apply_updates(params, updates)
    pick = lambda new, old: jnp.where(active, new, old)
    new_params = jax.tree.map(pick, stepped, params)
    new = {
        "t_params": new_params,
        "t_opt": jax.tree.map(pick, opt_state, aux["t_opt"]),
        "T": jax.lax.stop_gradient(method.matrix(new_params)),
    }
    return new, t_loss


def _weighted_metrics(
    eff: jax.Array, w: jax.Array, mask: jax.Array, clean: jax.Array | None
) -> dict:
    """ESS of the effective weights, their mean, and the weighted share of clean labels."""
    metrics = {
        "ess": ut.effective_sample_fraction(eff, mask),
        "mean_weight": masked_mean(w, mask),
    }
    if clean is not None:
        metrics["label_precision"] = jnp.sum(eff * clean) / jnp.maximum(jnp.sum(eff), 1e-30)
    return metrics


def _clean_indicator(batch: dict, labels: jax.Array) -> jax.Array | None:
    """1.0 where the (noisy) training label equals the clean one; None without clean labels."""
    if "clean_label" not in batch:
        return None
    clean = jnp.asarray(batch["clean_label"]).astype(jnp.int32)
    return (labels == clean).astype(jnp.float32)


def _record_proba(aux: dict, logits: jax.Array, batch: dict) -> jax.Array:
    """``aux["proba"]`` with this batch's (detached) softmax written at its example indices."""
    index = jnp.asarray(batch["index"]).astype(jnp.int32)
    p = jax.lax.stop_gradient(jax.nn.softmax(logits, axis=-1))
    return aux["proba"].at[index].set(p, mode="drop")


def make_objective(
    options: TransitionOptions | Any = None,
    *,
    num_classes: int,
    base_loss: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    true_T: Any = None,
    traced: tuple[str, ...] = (),
    **fields: Any,
) -> Objective:
    """Builds the training ``Objective`` of a transition-matrix method.

    The objective is the base loss during ``warmup_epochs`` (``aux["active"] == 0``); after the
    warm-up ``refresh`` switches it on and, for ``anchor``/``dualt``, estimates T once from the
    eval-mode softmax of all training examples. Learnable estimators (``volminnet``, ``tv``,
    ``cycle``) keep their parameters and optax state in ``aux`` and take one T step per
    training step after the classifier's loss is formed, from the same (detached) logits; the
    classifier's weights use the pre-step T.

    ``aux`` (checkpointed with the train state): ``T [K, K]``, ``active`` (int32 scalar),
    ``t_params``/``t_opt`` for learnable T, ``proba [N, K]`` when ``paper_code_compat`` needs the
    train-mode probabilities of the last warm-up epoch.

    Metrics per step: ``t_error`` (``||T_hat - T||_1 / K`` when the true T is known),
    ``label_precision`` (share of the weighted/resampled mass on examples whose noisy label is
    clean, when ``batch["clean_label"]`` exists), ``batch_precision`` (the same, unweighted),
    ``ess`` (Kish effective sample size of the weights as a fraction of the real batch),
    ``active``, ``t_loss`` (learnable T).

    Args:
      options: a `TransitionOptions` (or a dict of its fields); None for the defaults.
      num_classes: K (>= 2).
      base_loss: stateless per-example loss ``(logits, labels) -> [B]`` (cross-entropy if None).
      true_T: ``[K, K]`` true ``T[clean, noisy]`` or None; required by ``estimator="true"``,
        and used for the ``t_error`` metric otherwise.
      traced: `TRACEABLE` options read from ``aux["t_hparams"]`` at every step instead of
        being fixed (set them to ``[R]`` values for R vmapped runs: the harness does this for
        per-run ``transition.*`` fields).
      **fields: `TransitionOptions` fields set on top of ``options`` (``use="rent"``).

    Returns:
      An ``Objective``.

    Raises:
      ValueError: an unknown or out-of-range option, ``num_classes < 2``, or a missing/invalid
        ``true_T``.

    Example:
      >>> obj = make_objective(use="rent", warmup_epochs=0, num_classes=3, true_T=jnp.eye(3))
      >>> aux = obj.init(10, 3, jax.random.key(0))
      >>> batch = {"label": jnp.array([0, 1]), "index": jnp.array([0, 1]), "mask": jnp.ones(2)}
      >>> loss, aux, metrics = obj.loss(jnp.zeros((2, 3)), batch, aux, jax.random.key(1))
      >>> sorted(metrics)
      ['active', 'ess', 'mean_weight', 't_error']
    """
    o = _as_options(options, fields)
    o.check(num_classes)
    k = int(num_classes)
    base_loss = ut.cross_entropy if base_loss is None else base_loss
    true_T = _check_true_T(true_T, k)
    if o.use != "none" and o.estimator == "true" and true_T is None:
        raise ValueError("transition.estimator='true' needs true_T (the noise generator's T)")
    use, compat = USES[o.use], bool(o.paper_code_compat)
    o.with_traced({f: getattr(o, f) for f in traced})  # names checked before anything is built

    def build_method(opts: TransitionOptions) -> Estimator:
        if o.use == "none":  # T is only reported: the true T when known, else I
            return ESTIMATORS["true"].factory(k, true_T if o.estimator == "true" else None, opts)
        return ESTIMATORS[o.estimator].factory(k, true_T, opts)

    method = build_method(o)
    warmup = o.resolved_warmup_epochs() if o.use != "none" else 0
    learnable = method.matrix is not None
    keep_proba = compat and method.estimate is not None
    t_opt = _t_optimizer(o) if learnable else None
    # eps placement: exact log-space weights by default; the code's constants when compat.
    eps_num = ut.CODE_EPS if (compat and use.meta.get("code_eps_num")) else 0.0
    eps_den = ut.CODE_EPS if compat else 0.0
    # D1: the code's learnable T is row = clean but its weights index T[y~] (row = noisy).
    transpose_weights = compat and learnable

    def init(num_examples: int, num_classes_: int, key: jax.Array) -> dict:
        del key
        if num_classes_ != k:
            raise ValueError(f"num_classes={num_classes_} but the objective was built for {k}")
        aux: dict = {"active": jnp.asarray(int(warmup == 0), jnp.int32), **method.init()}
        if true_T is not None:  # in the state, so vmapped runs can each carry their own
            aux["true_T"] = true_T
        if learnable:
            aux["t_opt"] = t_opt.init(aux["t_params"])
        if keep_proba:
            aux["proba"] = jnp.full((num_examples, k), 1.0 / k, jnp.float32)
        if traced:
            aux["t_hparams"] = {f: jnp.asarray(getattr(o, f), jnp.float32) for f in traced}
        return aux

    def loss(logits, batch, aux, key):
        o_s, m = o, method
        if traced:  # this run's values: the use and the estimator read them from o_s
            o_s = o.with_traced(aux["t_hparams"])
            m = build_method(o_s)
        labels = jnp.asarray(batch["label"]).astype(jnp.int32)
        mask = jnp.asarray(batch["mask"], jnp.float32)
        active = aux["active"] > 0
        T = jax.lax.stop_gradient(aux["T"])
        key_sample, key_tv = jax.random.split(key)
        per_example = base_loss(logits, labels)
        warm = masked_mean(per_example, mask)
        metrics: dict = {"active": active.astype(jnp.float32)}
        clean = _clean_indicator(batch, labels)
        if clean is not None:
            metrics["batch_precision"] = masked_mean(clean, mask)
        w = None
        if use.meta["weighted"]:
            T_w = T.T if transpose_weights else T
            w = ut._importance_weights(logits, labels, T_w, mask, eps_num=eps_num, eps_den=eps_den)
        inputs = UseInputs(logits, labels, mask, per_example, T, w, key_sample, base_loss)
        main, eff = use.factory(inputs, o_s)
        if eff is not None:
            metrics.update(_weighted_metrics(eff, w, mask, clean))

        extra = jnp.zeros((), jnp.float32)
        new_aux = dict(aux)
        if learnable:
            probs = jax.nn.softmax(logits, axis=-1)
            extra = m.classifier_loss(probs, labels, T, aux, key_tv, mask)
            stepped, metrics["t_loss"] = _t_step(
                m, t_opt, aux, jax.lax.stop_gradient(probs), labels, mask, active
            )
            new_aux.update(stepped)
        if keep_proba:
            new_aux["proba"] = _record_proba(aux, logits, batch)
        if true_T is not None:
            metrics["t_error"] = est.transition_error(new_aux["T"], aux["true_T"])
        return jnp.where(active, main + extra, warm), new_aux, metrics

    def warmup_loss(logits, batch, aux, key):
        """The warm-up epochs' objective: the plain base loss, exactly as without a method.

        Only what the method needs after the warm-up is recorded (``proba`` for the code's
        anchor estimator), under ``stop_gradient``, so the gradient is the plain loss's."""
        del key
        labels = jnp.asarray(batch["label"]).astype(jnp.int32)
        value = masked_mean(base_loss(logits, labels), batch["mask"])
        new_aux = dict(aux)
        if keep_proba:
            new_aux["proba"] = _record_proba(aux, logits, batch)
        metrics: dict = {"active": jnp.zeros((), jnp.float32)}
        clean = _clean_indicator(batch, labels)
        if clean is not None:
            metrics["batch_precision"] = masked_mean(clean, batch["mask"])
        if true_T is not None:  # the T the method would start from (I before an estimate)
            metrics["t_error"] = est.transition_error(aux["T"], aux["true_T"])
        return value, new_aux, metrics

    def refresh_due(epoch: int, num_epochs: int) -> bool:
        del num_epochs
        return warmup > 0 and epoch == warmup - 1

    def refresh(aux, logits, labels, epoch):
        del epoch
        new_aux = {**aux, "active": jnp.ones((), jnp.int32)}
        if method.estimate is not None:
            probs = jax.nn.softmax(jnp.asarray(logits, jnp.float32), axis=-1)
            anchor_probs = aux["proba"] if keep_proba else probs
            new_aux["T"] = method.estimate(probs, anchor_probs, labels).astype(jnp.float32)
        return new_aux

    return Objective(
        init=init,
        loss=loss,
        refresh_due=refresh_due,
        refresh=refresh,
        warmup_epochs=warmup,
        warmup_loss=warmup_loss if warmup > 0 else None,
    )
