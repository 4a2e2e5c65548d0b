"""The final train state of one run, for diagnostics that read the objective's state.

`final_state(config, workdir)` trains the run (or resumes it; a complete run is not retrained)
and restores its final checkpoint: ALDR-KL's per-example λ_i (`experiments.aldr_lambda`), a
transition method's estimated T (`experiments.transition_heatmap`).
"""

from __future__ import annotations

from typing import Any

from robustloss.training.build import build_trainer, init_state, load_run_data
from robustloss.training.config import validate_config
from robustloss.training.run import train
from robustloss.training.workdir import Workdir


def final_state(config, workdir: str) -> tuple[Any, Any, dict]:
    """Trains or resumes one run; returns ``(final TrainState, RunData, summary)``.

    Raises:
        ValueError: the config vmaps several runs, or the workdir has no checkpoint of the
            final epoch.
    """
    plan = validate_config(config)
    if plan.num_runs:
        raise ValueError(
            f"one run only: config.runs has {plan.num_runs} runs (seeds=/sweep= expand into it); "
            "unset it, or take a run's own config with plan_runs(config).run_config(r)"
        )
    summary = train(config, workdir)
    data = load_run_data(plan)
    template = init_state(plan, build_trainer(plan, data), data)
    wd = Workdir(workdir, config)
    try:
        wd.open(config.keep_checkpoints)
        state, history = wd.resume(template)
    finally:
        wd.close()
    if not history or history[-1]["epoch"] != config.num_epochs:
        raise ValueError(f"{workdir}: no checkpoint of the final epoch {config.num_epochs}")
    return state, data, summary
