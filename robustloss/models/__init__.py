"""Flax models used by the LDR and RENT protocols: ``ffnn``, ``lenet``, ``resnet18/34/50``.

Why Linen and not NNX: the training harness treats a model as two pure functions,
``init(key, x) -> variables`` and ``apply(variables, x, train=...) -> logits``. With Linen the
parameters and BatchNorm statistics are plain pytrees that live in the train state, so
``jax.vmap`` over a leading "runs" axis (seeds, noise draws, loss hyperparameters in one compiled
program), replication over a ``("data",)`` mesh, and Orbax checkpointing with an abstract target
all apply to them directly, with no split/merge of module objects. NNX would need
``nnx.split``/``nnx.merge`` around every one of those transformations for the same effect
(both measured at the same speed once split; docs/design.md §11), so Linen is the simpler fit here.

All models take images ``[B, H, W, C]`` (NHWC, floats) or feature vectors ``[B, d]`` and return
logits ``[B, K]``; ``train`` switches BatchNorm between batch statistics (train) and running
averages (eval). Only the ResNets have a ``batch_stats`` collection.

Example:
    >>> import jax, jax.numpy as jnp
    >>> model = get_model("ffnn", num_classes=3)
    >>> variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 5)), train=False)
    >>> model.apply(variables, jnp.ones((2, 5)), train=False).shape
    (2, 3)

References:
    Zhu, Ying, Yang: "Label Distributionally Robust Losses for Multi-class Classification:
    Consistency, Robustness and Adaptivity", ICML 2023 (FFNN and CIFAR ResNet18 protocol).
    Bae, Choi, Lee, Moon: "Dirichlet-based Per-Sample Weighting by Transition Matrix for Noisy
    Label Learning" (RENT/DWS), ICLR 2024 (LeNet-5 protocol).
    LeCun, Bottou, Bengio, Haffner: "Gradient-based learning applied to document recognition",
    Proc. IEEE 1998.
    He, Zhang, Ren, Sun: "Deep Residual Learning for Image Recognition", CVPR 2016.
"""

from robustloss.models._layers import PatchConv, conv2d_cnhw, max_pool_2x2
from robustloss.models._nets import FFNN, LENET_INITS, LeNet5, ResNet, lenet_conv_kernel_init
from robustloss.models._pretrained import (
    is_torchvision_weights,
    load_torchvision_resnet,
    read_weights,
)
from robustloss.models._registry import (
    MODELS,
    check_model_input,
    default_epoch_mode,
    get_model,
    list_models,
    model_options,
)

__all__ = [
    "FFNN",
    "LENET_INITS",
    "MODELS",
    "LeNet5",
    "PatchConv",
    "ResNet",
    "check_model_input",
    "conv2d_cnhw",
    "default_epoch_mode",
    "get_model",
    "is_torchvision_weights",
    "lenet_conv_kernel_init",
    "list_models",
    "load_torchvision_resnet",
    "max_pool_2x2",
    "model_options",
    "read_weights",
]
