"""True vs estimated transition matrix of one transition-method run, as heatmaps.

Trains one run with a transition method (resuming it if its workdir exists; a complete run is
not retrained), restores its final checkpoint and plots the noise generator's true
``T[clean, noisy]`` beside the T the method used at the end (``aux["T"]``: the anchor/DualT
estimate after the warm-up, or the learnable estimator's last T)::

    python -m experiments.transition_heatmap \
        --config 'configs/paper/rent_iclr2024.py:fmnist_cpu,setting=asym40,method=reweight' \
        --workdir /tmp/rent_anchor --out results/rent_fmnist_T_anchor_asym40.png

Prints the mean row L1 error ``||T_hat - T||_1 / K`` as one JSON line.
"""

from __future__ import annotations

import json

import jax
import numpy as np
from absl import app, flags, logging


def final_transition(config, workdir: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Trains (or resumes) the run; returns ``(T_true [K, K], T_estimated [K, K], summary)``.

    Raises:
        ValueError: the config has no transition method, or its state has no T.
    """
    from robustloss.training.restore import final_state

    if config.transition.use == "none":
        raise ValueError("transition.use='none': this diagnostic needs a transition method")
    state, data, summary = final_state(config, workdir)
    aux = state.aux
    if not isinstance(aux, dict) or "T" not in aux or "true_T" not in aux:
        raise ValueError("the objective's state holds no T and true_T (noise without a true T?)")
    T_est = np.asarray(jax.device_get(aux["T"]), np.float64)
    T_true = np.asarray(jax.device_get(aux["true_T"]), np.float64)
    if not np.allclose(T_true, np.asarray(data.true_T, np.float64), atol=1e-6):
        raise ValueError("the state's true_T is not the noise generator's T")
    return T_true, T_est, summary


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from robustloss.report import plots

    f = flags.FLAGS
    T_true, T_est, summary = final_transition(f.config, f.workdir)
    t = f.config.transition
    plots.transition_heatmaps(T_true, T_est, f.out, title=f"{t.use}, {t.estimator} T")
    err = float(np.abs(T_est - T_true).sum() / len(T_true))
    print(json.dumps({"out": f.out, "t_error": round(err, 4), **summary["final"]}, default=str))


if __name__ == "__main__":
    from experiments._run_flags import define_run_flags

    define_run_flags("Transition-method run")
    app.run(main)
