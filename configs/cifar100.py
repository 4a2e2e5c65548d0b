"""CIFAR-100 (LDR, ICML 2023): CIFAR ResNet-18, SGD-momentum 0.9, wd 5e-3, batch 64, 30 epochs.

lr ÷10 at epochs 10 and 20; noise ``uniform`` (0.3/0.6/0.9) or ``pair`` with the ``(y+1) mod K``
map (0.1/0.3/0.5). Needs a prepared TFDS copy (``dataset.data_dir``). Augmentation here is
random crop (pad 4) + flip, not the LDR code's RandomCrop(30)+Resize(32).
"""

from configs.base import base_config, finish


def get_config(arg: str | None = None):
    c = base_config()
    c.dataset.name = "cifar100"
    c.dataset.val_fraction = 0.2
    c.noise.kind = "uniform"
    c.noise.rate = 0.3
    c.model.name = "resnet18"
    c.loss.name = "ldr_kl"
    c.optimizer.name = "sgd"
    c.optimizer.lr = 0.01
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 5e-3
    c.optimizer.schedule = "step"
    c.optimizer.decay_epochs = (10, 20)
    c.batch_size = 64
    c.num_epochs = 30
    c.augment = True
    return finish(c, arg)
