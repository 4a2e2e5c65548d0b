"""``make_objective``: a transition-matrix method as a training ``Objective``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from robustloss.training.objective import Objective, masked_mean
from robustloss.transition import _estimators as est
from robustloss.transition import _utilise as ut
from robustloss.transition._config import (
    LEARNABLE_ESTIMATORS,
    resolved_warmup_epochs,
    validate_config,
)


def _check_true_T(true_T: Any, num_classes: int) -> jax.Array | None:
    if true_T is None:
        return None
    ut.check_transition_matrix(np.asarray(true_T, np.float64), num_classes, name="true_T")
    return jnp.asarray(true_T, jnp.float32)


def _t_optimizer(cfg) -> optax.GradientTransformation:
    kind = cfg.t_optimizer
    if kind == "auto":
        kind = "sgd" if cfg.estimator == "cycle" else "adam"
    if kind == "sgd":
        return optax.sgd(cfg.t_lr, momentum=0.9)
    return optax.adam(cfg.t_lr)


def _learnable_T(estimator: str, params: dict) -> jax.Array:
    if estimator == "tv":
        return est.tv_matrix(params["w"])
    return est.volminnet_matrix(params["w"])


def make_objective(
    cfg: ml_collections.ConfigDict,
    *,
    num_classes: int,
    base_loss=None,
    true_T=None,
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
      cfg: a ``config.transition`` block (``default_config()``).
      num_classes: K.
      base_loss: stateless per-example loss ``(logits, labels) -> [B]`` (cross-entropy if None).
      true_T: ``[K, K]`` true ``T[clean, noisy]`` or None; required by ``estimator="true"``,
        and used for the ``t_error`` metric otherwise.

    Returns:
      An ``Objective``.

    Example:
      >>> from robustloss.transition import default_config
      >>> cfg = default_config(); cfg.use = "rent"; cfg.warmup_epochs = 0
      >>> obj = make_objective(cfg, num_classes=3, true_T=jnp.eye(3))
      >>> aux = obj.init(10, 3, jax.random.key(0))
      >>> batch = {"label": jnp.array([0, 1]), "index": jnp.array([0, 1]), "mask": jnp.ones(2)}
      >>> loss, aux, metrics = obj.loss(jnp.zeros((2, 3)), batch, aux, jax.random.key(1))
    """
    validate_config(cfg, num_classes)
    cfg = ml_collections.ConfigDict(cfg.to_dict())
    k = int(num_classes)
    base_loss = ut.cross_entropy if base_loss is None else base_loss
    true_T = _check_true_T(true_T, k)
    use, estimator, compat = cfg.use, cfg.estimator, bool(cfg.paper_code_compat)
    if use != "none" and estimator == "true" and true_T is None:
        raise ValueError("transition.estimator='true' needs true_T (the noise generator's T)")
    warmup = resolved_warmup_epochs(cfg) if use != "none" else 0
    learnable = estimator in LEARNABLE_ESTIMATORS and use != "none"
    keep_proba = compat and estimator in ("anchor", "dualt") and use != "none"
    t_opt = _t_optimizer(cfg) if learnable else None
    # eps placement: exact log-space weights by default; the code's constants when compat.
    eps_num = ut.CODE_EPS if (compat and use == "dws") else 0.0
    eps_den = ut.CODE_EPS if compat else 0.0
    fwd_eps = ut.CODE_EPS if compat else 0.0
    # D1: the code's learnable T is row = clean but its weights index T[y~] (row = noisy).
    transpose_weights = compat and estimator in LEARNABLE_ESTIMATORS

    def init(num_examples: int, num_classes_: int, key: jax.Array) -> dict:
        del key
        if num_classes_ != k:
            raise ValueError(f"num_classes={num_classes_} but the objective was built for {k}")
        aux: dict = {"active": jnp.asarray(int(warmup == 0), jnp.int32)}
        if learnable:
            if estimator == "tv":
                params = {"w": est.tv_init(k)}
            elif estimator == "volminnet":
                params = {"w": est.volminnet_init(k)}
            else:
                params = {"w": est.volminnet_init(k), "w_inv": est.volminnet_init(k)}
            aux["t_params"] = params
            aux["t_opt"] = t_opt.init(params)
            aux["T"] = _learnable_T(estimator, params)
        elif estimator == "true" and true_T is not None:
            aux["T"] = true_T
        else:
            aux["T"] = jnp.eye(k, dtype=jnp.float32)
        if keep_proba:
            aux["proba"] = jnp.full((num_examples, k), 1.0 / k, jnp.float32)
        return aux

    def _t_loss(params, probs, labels, mask):
        T = _learnable_T(estimator, params)
        loss = est.forward_nll(probs, labels, T, mask)
        if estimator == "volminnet":
            loss = loss + cfg.volmin_lambda * jnp.linalg.slogdet(T)[1]
        if estimator == "cycle":
            T_inv = est.volminnet_matrix(params["w_inv"])
            loss = loss + est.cycle_backward_loss(probs, labels, T_inv, mask, code_softmax=compat)
        return loss

    def loss(logits, batch, aux, key):
        labels = jnp.asarray(batch["label"]).astype(jnp.int32)
        mask = jnp.asarray(batch["mask"], jnp.float32)
        active = aux["active"] > 0
        T = jax.lax.stop_gradient(aux["T"])
        T_w = T.T if transpose_weights else T
        key_sample, key_tv = jax.random.split(key)
        per_example = base_loss(logits, labels)
        warm = masked_mean(per_example, mask)
        metrics: dict = {"active": active.astype(jnp.float32)}
        clean = None
        if "clean_label" in batch:
            clean = (labels == jnp.asarray(batch["clean_label"]).astype(jnp.int32)).astype(
                jnp.float32
            )
            metrics["batch_precision"] = masked_mean(clean, mask)
        eff = None  # the effective per-example weights, for the precision / ESS metrics

        if use == "none":
            main = warm
        elif use == "forward":
            fwd = ut._forward_correction_loss(logits, labels, T, base_loss=base_loss, eps=fwd_eps)
            main = masked_mean(fwd, mask)
        else:
            w = ut._importance_weights(logits, labels, T_w, mask, eps_num=eps_num, eps_den=eps_den)
            if use == "reweight":
                eff = w
                if cfg.normalize:
                    main = jnp.sum(w * per_example) / jnp.maximum(jnp.sum(w), 1e-30)
                else:
                    main = masked_mean(w * per_example, mask)
            elif use == "dws":
                draws = int(cfg.num_draws) or logits.shape[0]
                eff = ut.dirichlet_weights(key_sample, w, mask, alpha=cfg.alpha, num_draws=draws)
                main = jnp.sum(eff * per_example)
            else:  # rent
                idx, valid = ut.rent_resample(key_sample, w, mask, ratio=cfg.ratio)
                resampled = base_loss(logits[idx], labels[idx])
                main = jnp.sum(resampled * valid) / jnp.maximum(jnp.sum(valid), 1.0)
                eff = jnp.zeros_like(mask).at[idx].add(valid)
            metrics["ess"] = ut.effective_sample_fraction(eff, mask)
            metrics["mean_weight"] = masked_mean(w, mask)
            if clean is not None:
                metrics["label_precision"] = jnp.sum(eff * clean) / jnp.maximum(jnp.sum(eff), 1e-30)

        extra = jnp.zeros((), jnp.float32)
        new_aux = dict(aux)
        if learnable:
            probs_g = jax.nn.softmax(logits, axis=-1)
            if estimator == "tv" and not compat:
                extra = cfg.tv_weight * est.total_variation(probs_g, key_tv, mask)
            if estimator == "cycle" and cfg.cycle_classifier_losses:
                T_inv = jax.lax.stop_gradient(est.volminnet_matrix(aux["t_params"]["w_inv"]))
                extra = (
                    est.forward_nll(probs_g, labels, T, mask)
                    + est.cycle_backward_loss(probs_g, labels, T_inv, mask, code_softmax=compat)
                    + cfg.cycle_weight * est.cycle_consistency_loss(probs_g, T, T_inv, mask)
                )
            probs = jax.lax.stop_gradient(probs_g)
            params = aux["t_params"]
            t_loss, grads = jax.value_and_grad(_t_loss)(params, probs, labels, mask)
            updates, opt_state = t_opt.update(grads, aux["t_opt"], params)
            stepped = optax.apply_updates(params, updates)
            pick = lambda new, old: jnp.where(active, new, old)
            new_aux["t_params"] = jax.tree.map(pick, stepped, params)
            new_aux["t_opt"] = jax.tree.map(pick, opt_state, aux["t_opt"])
            new_aux["T"] = jax.lax.stop_gradient(_learnable_T(estimator, new_aux["t_params"]))
            metrics["t_loss"] = t_loss
        if keep_proba:
            index = jnp.asarray(batch["index"]).astype(jnp.int32)
            p = jax.lax.stop_gradient(jax.nn.softmax(logits, axis=-1))
            new_aux["proba"] = aux["proba"].at[index].set(p, mode="drop")
        if true_T is not None:
            metrics["t_error"] = est.transition_error(new_aux["T"], true_T)

        total = jnp.where(active, main + extra, warm)
        return total, new_aux, metrics

    def refresh_due(epoch: int, num_epochs: int) -> bool:
        del num_epochs
        return warmup > 0 and epoch == warmup - 1

    def refresh(aux, logits, labels, epoch):
        del epoch
        new_aux = dict(aux)
        new_aux["active"] = jnp.ones((), jnp.int32)
        if use != "none" and estimator in ("anchor", "dualt"):
            probs = jax.nn.softmax(jnp.asarray(logits, jnp.float32), axis=-1)
            anchor_probs = aux["proba"] if keep_proba else probs
            if estimator == "anchor":
                T = est.anchor_transition(
                    anchor_probs, labels, quantile=cfg.quantile, variant=cfg.anchor_variant
                )
            else:
                T = est.dualt_transition(
                    probs,
                    labels,
                    anchor_probs=anchor_probs,
                    quantile=cfg.quantile,
                    variant=cfg.anchor_variant,
                    empty_rows="zeros" if compat else "identity",
                )
            new_aux["T"] = T.astype(jnp.float32)
        return new_aux

    return Objective(init=init, loss=loss, refresh_due=refresh_due, refresh=refresh)
