"""ALDR-KL's learned per-example temperatures λ_i, split by clean and mislabelled examples.

A diagnostic the LDR paper does not show. Trains one ALDR-KL run (resuming it if its workdir
exists; nothing is retrained when it is complete), restores its final checkpoint, and plots the
λ_i of the training examples whose noisy label is correct against those whose label was
corrupted::

    python -m experiments.aldr_lambda \
        --config 'configs/paper/ldr_icml2023.py:letter,setting=u60,fold=0,loss=aldr_kl' \
        --workdir /tmp/aldr_letter_u60 --out results/ldr_icml2023/letter/aldr_lambda_U_0.6.png

Prints the medians and quartiles of both groups as one JSON line. One run only (no vmapped
seeds); the config's ``checkpoint_every`` must leave a checkpoint of the last epoch (the
harness always saves one after the final epoch).
"""

from __future__ import annotations

import json

import jax
import numpy as np
from absl import app, flags, logging


def final_lambdas(config, workdir: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Trains (or resumes) the run; returns ``(lam [N], is_noisy [N], summary)``.

    Raises:
        ValueError: the config's loss is not ``aldr_kl`` or it vmaps several runs.
    """
    from robustloss.training.restore import final_state

    if config.loss.name != "aldr_kl":
        raise ValueError(f"loss.name={config.loss.name!r}: this diagnostic needs 'aldr_kl'")
    state, data, summary = final_state(config, workdir)
    leaves = [
        np.asarray(jax.device_get(x))
        for path, x in jax.tree_util.tree_leaves_with_path(state.aux)
        if "lam" in jax.tree_util.keystr(path)
    ]
    if len(leaves) != 1:
        raise ValueError(f"expected one λ array in the objective state, found {len(leaves)}")
    lam = leaves[0].reshape(-1)
    noisy = np.asarray(data.y_train) != np.asarray(data.y_train_clean)
    if lam.shape != noisy.shape:
        raise ValueError(f"λ has {lam.shape} entries but the training set {noisy.shape}")
    return lam, noisy, summary


def _quartiles(x: np.ndarray) -> list[float]:
    return [round(float(q), 4) for q in np.quantile(x, [0.25, 0.5, 0.75])]


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from robustloss.report import plots

    f = flags.FLAGS
    config = f.config
    lam, noisy, summary = final_lambdas(config, f.workdir)
    lam0 = float(config.loss.hparams.get("lam0", 1.0))
    plots.lambda_distribution(lam, noisy, f.out, lam0=lam0)
    print(
        json.dumps(
            {
                "out": f.out,
                "examples": int(lam.size),
                "noisy": int(noisy.sum()),
                "lam_quartiles_clean": _quartiles(lam[~noisy]),
                "lam_quartiles_noisy": _quartiles(lam[noisy]) if noisy.any() else None,
                "test/top1": summary["final"].get("test/top1"),
            }
        )
    )


if __name__ == "__main__":
    from experiments._run_flags import define_run_flags

    define_run_flags("ALDR-KL run")
    app.run(main)
