"""scikit-learn digits (1,797 8×8 images, offline): the LDR tabular protocol with ``ffnn``.

SGD momentum 0.9, coupled weight decay 5e-3, batch 64, step decay ÷10 at 50% and 75% of the
epochs, fixed data order (the LDR code's unshuffled DataLoader), 10% noisy validation split.
"""

from configs.base import finish, ldr_tabular_protocol


def get_config(arg: str | None = None):
    c = ldr_tabular_protocol(lr=0.05)
    c.dataset.name = "digits"
    c.dataset.val_fraction = 0.1
    return finish(c, arg)
