"""CIFAR-10 (needs a prepared TFDS copy in ``dataset.data_dir``): CIFAR ResNet-18, SGD.

Random crop (pad 4) + flip, batch 128, SGD momentum 0.9 with coupled weight decay 5e-4, lr 0.1
with step decay at epochs 10 and 20 of 30 (the LDR image protocol's schedule). Realistic only on
an accelerator.
"""

from configs.base import base_config, finish


def get_config(arg: str | None = None):
    c = base_config()
    c.dataset.name = "cifar10"
    c.noise.kind = "symmetric"
    c.noise.rate = 0.4
    c.model.name = "resnet18"
    c.optimizer.name = "sgd"
    c.optimizer.lr = 0.1
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 5e-4
    c.optimizer.schedule = "step"
    c.optimizer.decay_epochs = (10, 20)
    c.batch_size = 128
    c.num_epochs = 30
    c.augment = True
    return finish(c, arg)
