"""A seconds-long CPU run: ffnn on scikit-learn digits, 20% symmetric noise, 2 epochs."""

from configs.base import base_config, finish


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
