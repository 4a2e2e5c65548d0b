"""The Letter-shaped grid of issue 10 (LDR paper, Letter table): 15 losses x 7 noise settings x
5 folds = 525 cells of ``configs/letter.py`` (ffnn, batch 64, 100 epochs).

    python -m experiments.sweep --config bench/sweep_letter_grid.py:dataset.path=/path/letter.data \
        --workdir /tmp/letter_sweep --dry_run

Five-fold cross-validation of the training file (``dataset.num_folds=5``, the LDR code's
unshuffled ``KFold``, noise drawn on the whole file before the split as in that code). Noise
kind/rate and the fold are per-run fields (`robustloss.training.runs.RUN_FIELDS`), so each
loss is one program of 7 x 5 = 35 vmapped runs: 15 programs (``--dry_run`` shows it). Time the
whole command (``/usr/bin/time -v python -m experiments.sweep --config bench/sweep_letter_grid.py
--workdir DIR``); docs/sweeps.md has the measurement.
"""

from robustloss.sweep import product

LOSSES = ["ce", "cs", "ww", "mae", "mse", "gce", "tgce", "sce", "rll", "js"]
LOSSES += ["nce_rce", "nce_agce", "nce_aul", "ldr_kl", "aldr_kl"]
NOISE = [{"noise": "clean", "rate": 0.0}]
NOISE += [{"noise": "uniform", "rate": r} for r in (0.3, 0.6, 0.9)]
NOISE += [{"noise": "pair", "noise.class_map": "letter", "rate": r} for r in (0.1, 0.3, 0.5)]


FOLDS = "dataset.val_fraction=0.0,dataset.num_folds=5,noise.before_split=True,checkpoint_seconds=60"


def get_config(arg: str | None = None):  # noqa: F811 -- configs/letter.py with 5-fold CV
    from configs.letter import get_config as letter

    rest = [x for x in (arg or "").split(",") if x and not x.startswith("losses=")]
    return letter(",".join([FOLDS, *rest]))


def get_sweep(arg: str | None = None):
    losses = LOSSES
    if arg and "losses=" in arg:  # a fraction of the grid, e.g. losses=ce/gce
        losses = [x for x in arg.split("losses=", 1)[1].split(",")[0].split("/") if x]
    return product(NOISE, loss=losses, **{"dataset.fold": list(range(5))})
