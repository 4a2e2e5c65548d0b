"""robustloss: learning with noisy labels in JAX.

Losses (``robustloss.losses``, ``robustloss.get_loss``), per-example-state losses
(``robustloss.stateful``), label-noise generators (``robustloss.noise``), datasets
(``robustloss.data``), transition-matrix methods (``robustloss.transition``), models
(``robustloss.models``) and a data-parallel training harness (``robustloss.training``).
"""

from robustloss import losses, stateful
from robustloss.registry import Loss, get_loss, list_losses, loss_hparams
from robustloss.stateful import StatefulLoss

__version__ = "0.1.0"

__all__ = [
    "Loss",
    "StatefulLoss",
    "get_loss",
    "list_losses",
    "loss_hparams",
    "losses",
    "stateful",
]
