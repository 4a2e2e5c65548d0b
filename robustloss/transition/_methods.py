"""The tables of transition-matrix methods: how T is used (``USES``) and estimated (``ESTIMATORS``).

Each table is a plain dict ``name -> robustloss.options.Entry`` (one registry pattern for every
family of components). ``make_objective`` dispatches through them:

* a **use** entry's factory is ``use(inputs, options) -> (loss, weights)``: the objective after
  the warm-up for one batch (`UseInputs`), and the effective per-example weights (None when the
  use does not weight examples). ``meta["weighted"]`` says whether it needs the importance
  weights ``w_i = p(y_i | x) / p(y~_i | x)``.
* an **estimator** entry's factory is ``estimator(num_classes, true_T, options) -> Estimator``:
  the initial T and, for estimators that move it, how (`Estimator`). ``meta["paper_warmup"]`` is
  the RENT code's number of CE warm-up epochs for it.

Adding a use or an estimator: write its function here (or in ``_utilise.py`` /
``_estimators.py``), add its table entry, a test, and a line in ``docs/transition.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from robustloss.objective import masked_mean
from robustloss.options import Entry, Option
from robustloss.transition import _estimators as est
from robustloss.transition import _utilise as ut

T_OPTIMIZERS = ("auto", "adam", "sgd")


class UseInputs(NamedTuple):
    """What a use sees of one batch (all under ``jit``).

    Attributes:
        logits: ``[B, K]``.
        labels: ``[B]`` noisy int32 labels.
        mask: ``[B]`` float32, 0 for padded rows.
        per_example: ``[B]`` base loss per example.
        T: ``[K, K]`` current transition matrix (no gradient).
        weights: ``[B]`` importance weights for weighted uses, else None.
        key: a PRNG key for the use's own randomness (DWS draws, RENT resampling).
        base_loss: the per-example base loss ``(logits, labels) -> [B]``.
    """

    logits: jax.Array
    labels: jax.Array
    mask: jax.Array
    per_example: jax.Array
    T: jax.Array
    weights: jax.Array | None
    key: jax.Array
    base_loss: Callable[[jax.Array, jax.Array], jax.Array]


def _use_none(x: UseInputs, o: Any) -> tuple[jax.Array, None]:
    del o
    return masked_mean(x.per_example, x.mask), None


def _use_forward(x: UseInputs, o: Any) -> tuple[jax.Array, None]:
    eps = ut.CODE_EPS if o.paper_code_compat else 0.0
    fwd = ut._forward_correction_loss(x.logits, x.labels, x.T, base_loss=x.base_loss, eps=eps)
    return masked_mean(fwd, x.mask), None


def _use_reweight(x: UseInputs, o: Any) -> tuple[jax.Array, jax.Array]:
    w = x.weights
    if o.normalize:
        return jnp.sum(w * x.per_example) / jnp.maximum(jnp.sum(w), 1e-30), w
    return masked_mean(w * x.per_example, x.mask), w


def _use_dws(x: UseInputs, o: Any) -> tuple[jax.Array, jax.Array]:
    draws = int(o.num_draws) or x.logits.shape[0]
    eff = ut.dirichlet_weights(x.key, x.weights, x.mask, alpha=o.alpha, num_draws=draws)
    return jnp.sum(eff * x.per_example), eff


def _use_rent(x: UseInputs, o: Any) -> tuple[jax.Array, jax.Array]:
    idx, valid = ut.rent_resample(x.key, x.weights, x.mask, ratio=o.ratio)
    resampled = x.base_loss(x.logits[idx], x.labels[idx])
    return masked_mean(resampled, valid), jnp.zeros_like(x.mask).at[idx].add(valid)


USES: dict[str, Entry] = {
    "none": Entry(_use_none, "the plain base loss (T only reported)", meta={"weighted": False}),
    "forward": Entry(
        _use_forward,
        "forward correction: the base loss of log(p @ T) (Patrini et al. 2017)",
        meta={"weighted": False},
    ),
    "reweight": Entry(
        _use_reweight,
        "importance reweighting by p(y|x)/p(y~|x) (Liu & Tao 2016)",
        {"normalize": Option(True, choices=(True, False))},
        meta={"weighted": True},
    ),
    "dws": Entry(
        _use_dws,
        "Dirichlet weight sampling around the importance weights (Bae et al. 2024)",
        {
            "alpha": Option(10.0, low=0.0, low_open=True),
            "num_draws": Option(0, low=0, integer=True),
        },
        meta={"weighted": True, "code_eps_num": True},
    ),
    "rent": Entry(
        _use_rent,
        "resampling by the importance weights (RENT, Bae et al. 2024)",
        {"ratio": ut.RENT_RATIO},
        meta={"weighted": True},
    ),
}


class Estimator(NamedTuple):
    """How an estimator provides T.

    Attributes:
        init: ``() -> dict`` of initial ``aux`` entries: ``"T"`` and, when learnable,
            ``"t_params"``.
        matrix: learnable only: ``t_params -> T``.
        t_loss: learnable only: ``(t_params, probs, labels, mask) -> scalar`` minimised by the
            T optimiser (``probs`` detached).
        classifier_loss: learnable only: ``(probs, labels, T, aux, key, mask) -> scalar`` added
            to the classifier's loss after the warm-up (0 for none).
        estimate: fixed estimators only: ``(probs, anchor_probs, labels) -> T`` run once after
            the warm-up on the whole training set.
    """

    init: Callable[[], dict]
    matrix: Callable[[dict], jax.Array] | None = None
    t_loss: Callable[..., jax.Array] | None = None
    classifier_loss: Callable[..., jax.Array] | None = None
    estimate: Callable[..., jax.Array] | None = None


def _identity(k: int) -> Callable[[], dict]:
    return lambda: {"T": jnp.eye(k, dtype=jnp.float32)}


def _est_true(k: int, true_T: jax.Array | None, o: Any) -> Estimator:
    del o
    if true_T is None:
        return Estimator(init=_identity(k))
    return Estimator(init=lambda: {"T": true_T})


def _est_anchor(k: int, true_T: jax.Array | None, o: Any) -> Estimator:
    del true_T

    def estimate(probs, anchor_probs, labels):
        del probs
        return est.anchor_transition(
            anchor_probs, labels, quantile=o.quantile, variant=o.anchor_variant
        )

    return Estimator(init=_identity(k), estimate=estimate)


def _est_dualt(k: int, true_T: jax.Array | None, o: Any) -> Estimator:
    del true_T

    def estimate(probs, anchor_probs, labels):
        return est.dualt_transition(
            probs,
            labels,
            anchor_probs=anchor_probs,
            quantile=o.quantile,
            variant=o.anchor_variant,
            empty_rows="zeros" if o.paper_code_compat else "identity",
        )

    return Estimator(init=_identity(k), estimate=estimate)


def _learnable(k: int, init_w: Callable[[int], jax.Array], matrix, **kw: Any) -> Estimator:
    def init():
        params = {"w": init_w(k)}
        return {"t_params": params, "T": matrix(params)}

    return Estimator(init=init, matrix=matrix, **kw)


def _no_classifier_loss(probs, labels, T, aux, key, mask) -> jax.Array:
    del probs, labels, T, aux, key, mask
    return jnp.zeros((), jnp.float32)


def _est_volminnet(k: int, true_T: jax.Array | None, o: Any) -> Estimator:
    del true_T
    matrix = lambda p: est.volminnet_matrix(p["w"])

    def t_loss(params, probs, labels, mask):
        T = matrix(params)
        return est.forward_nll(probs, labels, T, mask) + o.volmin_lambda * jnp.linalg.slogdet(T)[1]

    return _learnable(
        k, est.volminnet_init, matrix, t_loss=t_loss, classifier_loss=_no_classifier_loss
    )


def _est_tv(k: int, true_T: jax.Array | None, o: Any) -> Estimator:
    del true_T
    matrix = lambda p: est.tv_matrix(p["w"])

    def t_loss(params, probs, labels, mask):
        return est.forward_nll(probs, labels, matrix(params), mask)

    def classifier_loss(probs, labels, T, aux, key, mask):
        del labels, T, aux
        if o.paper_code_compat:  # the code's TV term acts on detached logits: no gradient
            return jnp.zeros((), jnp.float32)
        return o.tv_weight * est.total_variation(probs, key, mask)

    return _learnable(k, est.tv_init, matrix, t_loss=t_loss, classifier_loss=classifier_loss)


def _est_cycle(k: int, true_T: jax.Array | None, o: Any) -> Estimator:
    del true_T
    compat = bool(o.paper_code_compat)
    matrix = lambda p: est.volminnet_matrix(p["w"])

    def init():
        params = {"w": est.volminnet_init(k), "w_inv": est.volminnet_init(k)}
        return {"t_params": params, "T": matrix(params)}

    def t_loss(params, probs, labels, mask):
        T_inv = est.volminnet_matrix(params["w_inv"])
        back = est.cycle_backward_loss(probs, labels, T_inv, mask, code_softmax=compat)
        return est.forward_nll(probs, labels, matrix(params), mask) + back

    def classifier_loss(probs, labels, T, aux, key, mask):
        del key
        if not o.cycle_classifier_losses:
            return jnp.zeros((), jnp.float32)
        T_inv = jax.lax.stop_gradient(est.volminnet_matrix(aux["t_params"]["w_inv"]))
        return (
            est.forward_nll(probs, labels, T, mask)
            + est.cycle_backward_loss(probs, labels, T_inv, mask, code_softmax=compat)
            + o.cycle_weight * est.cycle_consistency_loss(probs, T, T_inv, mask)
        )

    return Estimator(init=init, matrix=matrix, t_loss=t_loss, classifier_loss=classifier_loss)


_ANCHOR_OPTIONS = {"anchor_variant": est.ANCHOR_VARIANT, "quantile": est.ANCHOR_QUANTILE}
_T_OPTIONS = {
    "t_lr": Option(1e-3, low=0.0, low_open=True),
    "t_optimizer": Option("auto", choices=T_OPTIMIZERS),
}

ESTIMATORS: dict[str, Entry] = {
    "true": Entry(
        _est_true, "the noise generator's T (an oracle)", meta={"paper_warmup": 10, "fixed": True}
    ),
    "anchor": Entry(
        _est_anchor,
        "anchor points of a warmed-up model (Patrini et al. 2017)",
        _ANCHOR_OPTIONS,
        meta={"paper_warmup": 10, "needs_warmup": True},
    ),
    "dualt": Entry(
        _est_dualt,
        "dual T: T_spread @ T_clustering from anchor points (Yao et al. 2020)",
        _ANCHOR_OPTIONS,
        meta={"paper_warmup": 20, "needs_warmup": True},
    ),
    "volminnet": Entry(
        _est_volminnet,
        "learnable T with a log-det volume penalty (Li et al. 2021)",
        {**_T_OPTIONS, "volmin_lambda": Option(1e-4, low=0.0)},
        meta={"paper_warmup": 0, "learnable": True, "t_optimizer": "adam"},
    ),
    "tv": Entry(
        _est_tv,
        "learnable T with a total-variation regulariser (Zhang et al. 2021)",
        {**_T_OPTIONS, "tv_weight": Option(0.1, low=0.0)},
        meta={"paper_warmup": 0, "learnable": True, "t_optimizer": "adam"},
    ),
    "cycle": Entry(
        _est_cycle,
        "a pair of learnable T, T_inv with cycle consistency (Cheng et al. 2022)",
        {
            **_T_OPTIONS,
            "cycle_weight": Option(0.3, low=0.0),
            "cycle_classifier_losses": Option(True, choices=(True, False)),
        },
        meta={"paper_warmup": 10, "learnable": True, "t_optimizer": "sgd"},
    ),
}

# CE warm-up epochs of the RENT code per estimator (its MNIST/FMNIST/SVHN/CIFAR settings).
PAPER_WARMUP_EPOCHS = {name: e.meta["paper_warmup"] for name, e in ESTIMATORS.items()}
