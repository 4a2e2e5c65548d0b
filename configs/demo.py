"""The ``make demo`` run: LeNet on a Fashion-MNIST subset, 40% symmetric noise, a few epochs.

``experiments/demo.py`` trains this config once per loss (``:loss=ce``, ``gce``, ``ldr_kl``,
``aldr_kl``). 12,000 training images and 5 epochs keep each run well under a minute on 2 CPU
cores; the full 10,000-image test set is used.
"""

from configs import fashion_mnist
from configs.base import finish


def get_config(arg: str | None = None):
    c = fashion_mnist.protocol()
    c.dataset.max_train = 12000
    c.num_epochs = 5
    c.checkpoint_every = 1
    return finish(c, arg)
