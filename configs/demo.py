"""The ``make demo`` run: LeNet on a Fashion-MNIST subset, 40% symmetric noise, a few epochs.

``experiments/demo.py`` trains this config once per loss (``:loss=ce``, ``gce``, ``ldr_kl``,
``aldr_kl``). 12,000 training images and 5 epochs keep each run well under a minute on 2 CPU
cores; the full 10,000-image test set is used.
"""

from configs.base import base_config, finish


def get_config(arg: str | None = None):
    c = base_config()
    c.dataset.name = "fashion_mnist"
    c.dataset.max_train = 12000
    c.noise.kind = "symmetric"
    c.noise.rate = 0.4
    c.model.name = "lenet"
    c.loss.name = "ce"
    c.optimizer.name = "adam"
    c.optimizer.lr = 1e-3
    c.batch_size = 128
    c.eval_batch_size = 2000
    c.num_epochs = 5
    c.checkpoint_every = 1
    return finish(c, arg)
