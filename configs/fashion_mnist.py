"""Fashion-MNIST with the RENT protocol's LeNet-5: Adam 1e-3, batch 128, no augmentation.

Loads the Debian ``dataset-fashion-mnist`` IDX files (or a prepared TFDS copy). 40% symmetric
noise by default; RENT trains 200 epochs, the default here is 30 (override ``epochs=``).
"""

from configs.base import base_config, finish


def protocol():
    """The unfinished config (no ``arg`` applied), for configs that build on it."""
    c = base_config()
    c.dataset.name = "fashion_mnist"
    c.noise.kind = "symmetric"
    c.noise.rate = 0.4
    c.model.name = "lenet"
    c.loss.name = "ce"
    c.optimizer.name = "adam"
    c.optimizer.lr = 1e-3
    c.batch_size = 128
    c.eval_batch_size = 2000
    c.num_epochs = 30
    c.shuffle = True
    return c


def get_config(arg: str | None = None):
    return finish(protocol(), arg)
