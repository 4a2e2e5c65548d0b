"""A seconds-long CPU run: ffnn on scikit-learn digits, 20% symmetric noise, 2 epochs.

``get_sweep`` is a small mixed grid for ``python -m experiments.sweep`` (docs/sweeps.md): CE
and GCE (q 0.5/0.9) under two noise rates, two seeds: 12 cells in 2 programs (CE, GCE).
"""

from configs.base import base_config, finish
from robustloss.sweep import product, zip


def get_config(arg: str | None = None):
    c = base_config()
    c.dataset.name = "digits"
    c.dataset.val_fraction = 0.1
    c.noise.kind = "symmetric"
    c.noise.rate = 0.2
    c.model.name = "ffnn"
    c.model.hidden = 32
    c.loss.name = "ce"
    c.optimizer.name = "adam"
    c.optimizer.lr = 1e-2
    c.batch_size = 64
    c.num_epochs = 2
    c.progress = "lines"
    return finish(c, arg)


def get_sweep(arg: str | None = None):
    losses = zip(loss=["ce", "gce", "gce"], q=[None, 0.5, 0.9])
    return product(losses, rate=[0.2, 0.4], seed=[0, 1])
