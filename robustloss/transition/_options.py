"""The options of a transition-matrix method: one frozen dataclass that checks itself."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from robustloss.options import Option, option_default
from robustloss.transition._methods import ESTIMATORS, PAPER_WARMUP_EPOCHS, USES

#: Float options that may be traced (one value per vmapped run): the weights of the DWS draw and
#: of the learnable estimators' loss terms. The others set shapes or Python control flow.
TRACEABLE = ("alpha", "volmin_lambda", "tv_weight", "cycle_weight")


def _default(option: str) -> Any:
    """The default of a use's or an estimator's option, from its table (written once there)."""
    return option_default({**USES, **ESTIMATORS}, option)


# The method's two names (``config.transition.use`` / ``.estimator``): a name of each table.
_USE = Option("none", choices=tuple(USES))
_ESTIMATOR = Option("true", choices=tuple(ESTIMATORS))


@dataclasses.dataclass(frozen=True)
class TransitionOptions:
    """Which T-based method to train with and how (the ``config.transition`` block).

    Construction checks every field (``ValueError`` naming ``transition.<field>``, the bad
    value and the valid choices or range); `check` adds the checks that need K.

    Attributes:
      use: how T enters training, a name of ``USES``: ``"none"`` (plain base loss),
        ``"forward"`` (forward correction), ``"reweight"`` (importance reweighting), ``"dws"``
        (Dirichlet weight sampling) or ``"rent"`` (resampling).
      estimator: where T comes from, a name of ``ESTIMATORS``: ``"true"`` (the noise
        generator's T), ``"anchor"`` (Patrini anchor points), ``"dualt"`` (Yao et al.),
        ``"volminnet"``, ``"tv"`` or ``"cycle"`` (learnable, updated every step).
      alpha: DWS Dirichlet concentration (> 0; the RENT code's default is 10).
      ratio: RENT resampling budget ``M = int(ratio * B)`` (> 0; paper default 1.0).
      num_draws: DWS Dirichlet draws per batch; 0 means the (padded) batch size, as the code.
      normalize: reweighting normalises the weights over the batch (``sum w l / sum w``) if
        True, else uses the unnormalised ``mean(w l)`` of Liu & Tao.
      warmup_epochs: plain base-loss epochs before the method switches on; -1 takes the RENT
        code's value for the estimator (``PAPER_WARMUP_EPOCHS``: true 10, anchor 10, dualt 20,
        volminnet 0, tv 0, cycle 10). Warm-up epochs count towards the run's epochs.
      anchor_variant: ``"noisy_class"`` (RENT code: candidates are the examples whose noisy
        label is the class) or ``"all"`` (Patrini et al.: all examples).
      quantile: anchor quantile in (0, 1) (0.97 in both codes).
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

    Example:
      >>> TransitionOptions(use="rent").resolved_warmup_epochs()
      10
      >>> TransitionOptions(use="backward")  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: transition.use='backward' is not valid; choose one of ['none', 'forward', ...]
    """

    use: str = _USE.default
    estimator: str = _ESTIMATOR.default
    alpha: float = _default("alpha")
    ratio: float = _default("ratio")
    num_draws: int = _default("num_draws")
    normalize: bool = _default("normalize")
    warmup_epochs: int = -1
    anchor_variant: str = _default("anchor_variant")
    quantile: float = _default("quantile")
    t_lr: float = _default("t_lr")
    t_optimizer: str = _default("t_optimizer")
    volmin_lambda: float = _default("volmin_lambda")
    tv_weight: float = _default("tv_weight")
    cycle_weight: float = _default("cycle_weight")
    cycle_classifier_losses: bool = _default("cycle_classifier_losses")
    paper_code_compat: bool = False

    def __post_init__(self) -> None:
        _USE.validate("transition.use", self.use)
        _ESTIMATOR.validate("transition.estimator", self.estimator)
        # Every option of every use/estimator is checked, not only the chosen one's, so a bad
        # value fails even while the method that reads it is not selected.
        for table in (USES, ESTIMATORS):
            for entry in table.values():
                for name, option in entry.options.items():
                    option.validate(f"transition.{name}", getattr(self, name))
        if not isinstance(self.warmup_epochs, int) or self.warmup_epochs < -1:
            raise ValueError(
                f"transition.warmup_epochs={self.warmup_epochs!r} is out of range; it must be "
                ">= 0 (or -1 for the paper's value per estimator)"
            )
        if not isinstance(self.paper_code_compat, bool):
            raise ValueError(
                f"transition.paper_code_compat={self.paper_code_compat!r} must be True or False"
            )

    @classmethod
    def from_mapping(cls, fields: Any) -> TransitionOptions:
        """Builds the options from a dict-like of fields; unknown fields raise, naming the valid."""
        fields = dict(fields)
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(fields) - set(valid))
        if unknown:
            raise ValueError(f"unknown transition option(s) {unknown}; valid: {valid}")
        return cls(**fields)

    def replace(self, **changes: Any) -> TransitionOptions:
        """A copy with ``changes`` applied (and checked; unknown fields raise)."""
        return TransitionOptions.from_mapping({**dataclasses.asdict(self), **changes})

    def with_traced(self, values: dict) -> TransitionOptions:
        """A copy whose `TRACEABLE` fields hold ``values`` (traced arrays inside a jitted step;
        not validated again -- the concrete values were, per run, when the config was)."""
        bad = sorted(set(values) - set(TRACEABLE))
        if bad:
            raise ValueError(f"transition options {bad} cannot be traced; valid: {list(TRACEABLE)}")
        new = copy.copy(self)
        for name, value in values.items():
            object.__setattr__(new, name, value)
        return new

    def resolved_warmup_epochs(self) -> int:
        """``warmup_epochs``, with -1 replaced by the RENT code's value for the estimator."""
        w = int(self.warmup_epochs)
        return PAPER_WARMUP_EPOCHS[self.estimator] if w < 0 else w

    def check(self, num_classes: int) -> None:
        """The checks that need K: ``num_classes >= 2``; warm-up for anchor-type estimators.

        Example:
          >>> opts = TransitionOptions(use="rent", estimator="anchor", warmup_epochs=0)
          >>> opts.check(10)  # doctest: +ELLIPSIS
          Traceback (most recent call last):
          ...
          ValueError: transition.warmup_epochs=0 is out of range for estimator='anchor': ...
        """
        if int(num_classes) < 2:
            raise ValueError(f"num_classes={num_classes!r} is out of range; it must be >= 2")
        needs = ESTIMATORS[self.estimator].meta.get("needs_warmup", False)
        if self.use != "none" and needs and self.resolved_warmup_epochs() < 1:
            raise ValueError(
                f"transition.warmup_epochs={self.warmup_epochs!r} is out of range for "
                f"estimator={self.estimator!r}: it must be >= 1 (the estimate needs a "
                "warmed-up model)"
            )
