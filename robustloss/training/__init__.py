"""Data-parallel training harness: train state, jitted step, epoch loop, checkpoints, metrics.

Modules, one job each: ``config.py`` (the ConfigDict schema, `validate_config`, and
`transition_options`, where ConfigDicts become library arguments), ``runs.py`` (`RunPlan`: a
config resolved into its vmapped runs, ``config.runs``), ``build.py`` (data + noise,
model, objective, optimizer and initial state from a config), ``trainer.py`` (the jitted
data-parallel step, epoch and evaluation), ``epoch_stats.py`` (running epoch statistics),
``workdir.py`` (config check, append-only ``metrics.jsonl``, summary, Orbax save/restore),
``progress.py`` (progress display), ``run.py`` (the loop: `train`, `train_many`), ``optim.py``
and ``metrics.py``.

Entry points:

* `train(config, workdir)`: one run (or, with ``config.runs``, a vmapped batch of runs) from a
  config; writes ``config.json``, ``metrics.jsonl``, ``summary.json`` and Orbax checkpoints and
  resumes from them. `train_many(config, seeds)` gives run ``r`` the seed ``seeds[r]``.
* `Trainer`: the compiled engine (init / train_epoch / predict / evaluate / refresh) for any
  Linen model, `Objective` and optax optimizer, on a ``("data",)`` mesh of 1..N devices.
* `objective_from_loss`: adapts a ``Loss`` or ``StatefulLoss`` to the `Objective` contract.
* `default_config` / `validate_config`: the config schema and its up-front checks.
* `make_optimizer` / `make_schedule`, `classification_metrics`, `topk_accuracy`,
  `balanced_accuracy`, `nonfinite_rows`.

See ``docs/training.md``.
"""

from robustloss.objective import (
    Objective,
    masked_mean,
    never,
    no_refresh,
    objective_from_loss,
)
from robustloss.training.build import (
    RunData,
    build_objective,
    build_trainer,
    init_state,
    load_run_data,
)
from robustloss.training.config import (
    default_config,
    set_loss,
    transition_options,
    validate_config,
)
from robustloss.training.epoch_stats import EpochStats
from robustloss.training.metrics import (
    balanced_accuracy,
    classification_metrics,
    label_rank,
    nonfinite_rows,
    topk_accuracy,
)
from robustloss.training.optim import make_optimizer, make_schedule
from robustloss.training.progress import Progress
from robustloss.training.run import NonFiniteEvaluationError, train, train_many
from robustloss.training.trainer import (
    NonFiniteLossError,
    Trainer,
    TrainState,
    make_mesh,
)
from robustloss.training.workdir import Workdir, WorkdirLockedError, restore_state, summarize

__all__ = [
    "EpochStats",
    "NonFiniteEvaluationError",
    "NonFiniteLossError",
    "Objective",
    "Progress",
    "RunData",
    "TrainState",
    "Trainer",
    "Workdir",
    "WorkdirLockedError",
    "balanced_accuracy",
    "build_objective",
    "build_trainer",
    "classification_metrics",
    "default_config",
    "init_state",
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
    "restore_state",
    "set_loss",
    "summarize",
    "topk_accuracy",
    "train",
    "train_many",
    "transition_options",
    "validate_config",
]
