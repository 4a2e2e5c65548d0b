"""Data-parallel training harness: train state, jitted step, epoch loop, checkpoints, metrics.

Entry points:

* `train(config, workdir)`: one run (or, with ``config.seeds``, a vmapped batch of runs) from a
  config; writes ``config.json``, ``metrics.jsonl``, ``summary.json`` and Orbax checkpoints and
  resumes from them. `train_many(config, seeds)` sets ``config.seeds``.
* `Trainer`: the compiled engine (init / train_epoch / predict / evaluate / refresh) for any
  Linen model, `Objective` and optax optimizer, on a ``("data",)`` mesh of 1..N devices.
* `objective_from_loss`: adapts a ``Loss`` or ``StatefulLoss`` to the `Objective` contract.
* `default_config` / `validate_config`: the config schema and its up-front checks.
* `make_optimizer` / `make_schedule`, `classification_metrics`, `topk_accuracy`,
  `balanced_accuracy`, `nonfinite_rows`.

See ``docs/training.md``.
"""

from robustloss.training.config import default_config, set_loss, validate_config
from robustloss.training.metrics import (
    balanced_accuracy,
    classification_metrics,
    label_rank,
    nonfinite_rows,
    topk_accuracy,
)
from robustloss.training.objective import (
    Objective,
    masked_mean,
    never,
    no_refresh,
    objective_from_loss,
    objective_hparam_sweep,
)
from robustloss.training.optim import make_optimizer, make_schedule
from robustloss.training.run import (
    RunData,
    build_objective,
    build_trainer,
    load_run_data,
    restore_state,
    train,
    train_many,
)
from robustloss.training.trainer import (
    NonFiniteLossError,
    Trainer,
    TrainState,
    make_mesh,
)

__all__ = [
    "NonFiniteLossError",
    "Objective",
    "RunData",
    "TrainState",
    "Trainer",
    "balanced_accuracy",
    "build_objective",
    "build_trainer",
    "classification_metrics",
    "default_config",
    "label_rank",
    "nonfinite_rows",
    "load_run_data",
    "make_mesh",
    "make_optimizer",
    "make_schedule",
    "masked_mean",
    "never",
    "no_refresh",
    "objective_from_loss",
    "objective_hparam_sweep",
    "restore_state",
    "set_loss",
    "topk_accuracy",
    "train",
    "train_many",
    "validate_config",
]
