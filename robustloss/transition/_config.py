"""Configuration of the transition-matrix methods: defaults and validation."""

from __future__ import annotations

import ml_collections

USES = ("none", "forward", "reweight", "dws", "rent")
ESTIMATORS = ("true", "anchor", "dualt", "volminnet", "tv", "cycle")
LEARNABLE_ESTIMATORS = ("volminnet", "tv", "cycle")
ANCHOR_VARIANTS = ("noisy_class", "all")
T_OPTIMIZERS = ("auto", "adam", "sgd")

# CE warm-up epochs of the RENT code per estimator (MNIST/FMNIST/SVHN/CIFAR; digest §2).
PAPER_WARMUP_EPOCHS = {"true": 10, "anchor": 10, "dualt": 20, "volminnet": 0, "tv": 0, "cycle": 10}


def default_config() -> ml_collections.ConfigDict:
    """The ``config.transition`` block: which T-based method to train with and how.

    Fields:
      use: how T enters training, one of ``"none"`` (plain base loss), ``"forward"`` (forward
        correction), ``"reweight"`` (importance reweighting), ``"dws"`` (Dirichlet weight
        sampling) or ``"rent"`` (resampling).
      estimator: where T comes from: ``"true"`` (the noise generator's T), ``"anchor"``
        (Patrini anchor points), ``"dualt"`` (Yao et al.), ``"volminnet"``, ``"tv"`` or
        ``"cycle"`` (learnable, updated every step).
      alpha: DWS Dirichlet concentration (> 0; the RENT code's default is 10).
      ratio: RENT resampling budget ``M = int(ratio * B)`` (> 0; paper default 1.0).
      num_draws: DWS Dirichlet draws per batch; 0 means the (padded) batch size, as the code.
      normalize: reweighting normalises the weights over the batch (``sum w l / sum w``) if
        True, else uses the unnormalised ``mean(w l)`` of Liu & Tao.
      warmup_epochs: plain base-loss epochs before the method switches on; -1 takes the RENT
        code's value for the estimator (true 10, anchor 10, dualt 20, volminnet 0, tv 0,
        cycle 10). Warm-up epochs count towards ``config.num_epochs`` here.
      anchor_variant: ``"noisy_class"`` (RENT code: candidates are the examples whose noisy
        label is the class) or ``"all"`` (Patrini et al.: all examples).
      quantile: anchor quantile (0.97 in both codes).
      t_lr: learning rate of the learnable T (1e-3).
      t_optimizer: ``"auto"`` (Adam for volminnet/tv, SGD momentum 0.9 for cycle, as the code),
        ``"adam"`` or ``"sgd"``.
      volmin_lambda: weight of ``log|det T|`` in the VolMinNet T loss (1e-4).
      tv_weight: weight of the total-variation term (0.1).
      cycle_weight: weight of the cycle-consistency term l3 (0.3).
      cycle_classifier_losses: add the Cycle losses l1 + l2 + cycle_weight * l3 to the
        classifier loss (the RENT code does, the DWS code does not).
      paper_code_compat: reproduce the released code's number-changing quirks (transposed T
        in the weights of learnable estimators, eps placement, dead TV term, softmax of a
        one-hot in Cycle, anchors from train-mode probabilities of the last warm-up epoch,
        zero rows in DualT). See ``docs/transition.md``.
    """
    c = ml_collections.ConfigDict()
    c.use = "none"
    c.estimator = "true"
    c.alpha = 10.0
    c.ratio = 1.0
    c.num_draws = 0
    c.normalize = True
    c.warmup_epochs = -1
    c.anchor_variant = "noisy_class"
    c.quantile = 0.97
    c.t_lr = 1e-3
    c.t_optimizer = "auto"
    c.volmin_lambda = 1e-4
    c.tv_weight = 0.1
    c.cycle_weight = 0.3
    c.cycle_classifier_losses = True
    c.paper_code_compat = False
    return c


def resolved_warmup_epochs(cfg: ml_collections.ConfigDict) -> int:
    """``cfg.warmup_epochs``, with -1 replaced by the RENT code's value for the estimator."""
    w = int(cfg.warmup_epochs)
    return PAPER_WARMUP_EPOCHS[cfg.estimator] if w < 0 else w


def _choice(cfg, name: str, choices: tuple[str, ...]) -> None:
    value = cfg[name]
    if value not in choices:
        raise ValueError(f"transition.{name}={value!r} is not valid; choose one of {choices}")


def _positive(cfg, name: str, *, allow_zero: bool = False) -> None:
    value = cfg[name]
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"transition.{name}={value!r} is out of range; it must be {bound}")


def validate_config(cfg: ml_collections.ConfigDict, num_classes: int) -> None:
    """Raises ``ValueError`` naming the bad field and its valid choices or range.

    Args:
      cfg: a ``config.transition`` block (see ``default_config``).
      num_classes: number of classes K (>= 2).

    Example:
      >>> cfg = default_config(); cfg.use = "rent"
      >>> validate_config(cfg, 10)
    """
    if int(num_classes) < 2:
        raise ValueError(f"num_classes={num_classes!r} is out of range; it must be >= 2")
    missing = [k for k in default_config() if k not in cfg]
    if missing:
        raise ValueError(
            f"transition config lacks the fields {missing}; start from default_config()"
        )
    _choice(cfg, "use", USES)
    _choice(cfg, "estimator", ESTIMATORS)
    _choice(cfg, "anchor_variant", ANCHOR_VARIANTS)
    _choice(cfg, "t_optimizer", T_OPTIMIZERS)
    for name in ("alpha", "ratio", "t_lr"):
        _positive(cfg, name)
    for name in ("volmin_lambda", "tv_weight", "cycle_weight"):
        _positive(cfg, name, allow_zero=True)
    if int(cfg.num_draws) < 0:
        raise ValueError(f"transition.num_draws={cfg.num_draws!r} is out of range; it must be >= 0")
    if int(cfg.warmup_epochs) < -1:
        raise ValueError(
            f"transition.warmup_epochs={cfg.warmup_epochs!r} is out of range; it must be >= 0 "
            "(or -1 for the paper's value per estimator)"
        )
    if not 0.0 < float(cfg.quantile) < 1.0:
        raise ValueError(f"transition.quantile={cfg.quantile!r} is out of range (0, 1)")
    if (
        cfg.use != "none"
        and cfg.estimator in ("anchor", "dualt")
        and resolved_warmup_epochs(cfg) < 1
    ):
        raise ValueError(
            f"transition.warmup_epochs={cfg.warmup_epochs!r} is out of range for "
            f"estimator={cfg.estimator!r}: it must be >= 1 (the estimate needs a warmed-up model)"
        )
