"""scikit-learn digits (1,797 8×8 images, offline): the LDR tabular protocol with ``ffnn``.

SGD momentum 0.9, coupled weight decay 5e-3, batch 64, step decay ÷10 at 50% and 75% of the
epochs, fixed data order (the LDR code's unshuffled DataLoader), 10% noisy validation split.
"""

from configs.base import base_config, finish


def get_config(arg: str | None = None):
    c = base_config()
    c.dataset.name = "digits"
    c.dataset.val_fraction = 0.1
    c.noise.kind = "uniform"
    c.noise.rate = 0.3
    c.model.name = "ffnn"
    c.optimizer.name = "sgd"
    c.optimizer.lr = 0.05
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 5e-3
    c.optimizer.schedule = "step"
    c.optimizer.decay_epochs = (50, 75)
    c.batch_size = 64
    c.num_epochs = 100
    c.shuffle = False
    return finish(c, arg)
