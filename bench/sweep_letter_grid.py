"""The Letter-shaped grid of issue 10 (LDR paper, Letter table): 15 losses x 7 noise settings x
5 folds = 525 cells of ``configs/letter.py`` (ffnn, batch 64, 100 epochs).

    python -m experiments.sweep --config bench/sweep_letter_grid.py:dataset.path=/path/letter.data \
        --workdir /tmp/letter_sweep --dry_run

With today's packable axes (seed, one loss hyperparameter, noise draw) nothing in this grid
packs: the losses differ in family, the noise settings in kind/rate, the folds in
``dataset.split_seed``. It becomes a few dozen programs once the harness vmaps noise rate/kind
and folds (one `PackAxis` entry each in ``robustloss/sweep/plan.py``).
"""

from configs.letter import get_config  # noqa: F401 -- the sweep runner resolves cells with it
from robustloss.sweep import product

LOSSES = ["ce", "cs", "ww", "mae", "mse", "gce", "tgce", "sce", "rll", "js"]
LOSSES += ["nce_rce", "nce_agce", "nce_aul", "ldr_kl", "aldr_kl"]
NOISE = [{"noise": "clean", "rate": 0.0}]
NOISE += [{"noise": "uniform", "rate": r} for r in (0.3, 0.6, 0.9)]
NOISE += [{"noise": "pair", "noise.class_map": "letter", "rate": r} for r in (0.1, 0.3, 0.5)]


def get_sweep(arg: str | None = None):
    return product(NOISE, loss=LOSSES, **{"dataset.split_seed": list(range(5))})
