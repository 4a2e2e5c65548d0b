"""Flax models used by the LDR and RENT protocols: ``ffnn``, ``lenet``, ``resnet18``, ``resnet34``.

Why Linen and not NNX: the training harness treats a model as two pure functions,
``init(key, x) -> variables`` and ``apply(variables, x, train=...) -> logits``. With Linen the
parameters and BatchNorm statistics are plain pytrees that live in the train state, so
``jax.vmap`` over a leading "runs" axis (seeds, noise draws, loss hyperparameters in one compiled
program), replication over a ``("data",)`` mesh, and Orbax checkpointing with an abstract target
all apply to them directly, with no split/merge of module objects. NNX would need
``nnx.split``/``nnx.merge`` around every one of those transformations for the same effect
(DESIGN §7 measured both at the same speed once split), so Linen is the simpler fit here.

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

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from robustloss.table import Entry, Option, resolve

__all__ = [
    "FFNN",
    "LeNet5",
    "PatchConv",
    "ResNet",
    "get_model",
    "list_models",
    "default_epoch_mode",
]

# PyTorch's default Linear/Conv initialisation (kaiming_uniform with a=sqrt(5)) is
# U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weights: variance scale 1/3, uniform, fan_in.
_torch_default_kernel = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def _torch_default_bias(fan_in: int) -> Callable[..., jax.Array]:
    """PyTorch's default bias initialiser U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class FFNN(nn.Module):
    """The LDR paper's tabular network: Linear(d→H)-tanh-Linear(H→H)-tanh-Linear(H→K).

    ``H = min(d, K)`` unless ``hidden`` is given. Weights are Xavier-normal, biases
    U(±1/√fan_in) (the PyTorch default the paper's code keeps). Inputs with more than one
    feature axis are flattened.

    Attributes:
        num_classes: K >= 2, the number of logits.
        hidden: hidden width H; 0 means ``min(d, K)``.
    """

    num_classes: int
    hidden: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train
        x = x.reshape((x.shape[0], -1))
        d = x.shape[-1]
        h = self.hidden or min(d, self.num_classes)
        xavier = nn.initializers.xavier_normal()
        x = nn.Dense(h, kernel_init=xavier, bias_init=_torch_default_bias(d))(x)
        x = jnp.tanh(x)
        x = nn.Dense(h, kernel_init=xavier, bias_init=_torch_default_bias(h))(x)
        x = jnp.tanh(x)
        return nn.Dense(self.num_classes, kernel_init=xavier, bias_init=_torch_default_bias(h))(x)


class PatchConv(nn.Module):
    """A stride-1 2-D convolution computed as im2col + one matmul (same maths as ``nn.Conv``).

    ``y[b, i, j, f] = bias[f] + sum_{u, v, c} x[b, i + u, j + v, c] * kernel[u, v, c, f]`` over
    the (zero-padded) input. The patches are ``kh*kw`` shifted slices concatenated on the
    channel axis, so forward and backward passes are slices, pads and a single GEMM. On XLA:CPU
    this trains LeNet-5 ~1.8x faster than ``lax.conv_general_dilated`` (measured in
    ``docs/training.md``), whose backward convolutions are slow for tiny channel counts.

    Attributes:
        features: output channels.
        kernel_size: ``(kh, kw)``.
        padding: zero padding on each spatial side.
        kernel_init, bias_init: initialisers; the kernel has ``nn.Conv``'s shape
            ``(kh, kw, C_in, features)``.
    """

    features: int
    kernel_size: tuple[int, int] = (5, 5)
    padding: int = 0
    kernel_init: Callable[..., jax.Array] = nn.initializers.lecun_normal()
    bias_init: Callable[..., jax.Array] = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kh, kw = self.kernel_size
        c_in = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (kh, kw, c_in, self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        p = self.padding
        if p:
            x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
        patches = jnp.concatenate(
            [x[:, u : u + h, v : v + w, :] for u in range(kh) for v in range(kw)], axis=-1
        )
        return patches @ kernel.reshape(kh * kw * c_in, self.features) + bias


LENET_INITS = ("kaiming_fan_out", "torch")


def lenet_conv_kernel_init(init: str) -> Callable[..., jax.Array]:
    """The LeNet convolution weights' initialiser for ``init`` in `LENET_INITS`.

    ``"torch"``: PyTorch's default for ``nn.Conv2d`` (kaiming-uniform with a = √5), i.e.
    U(±√(6/((1+a²)·fan_in))) = U(±1/√fan_in) -- what the RENT code's LeNet uses (it applies
    Kaiming-normal only in its ResNets). ``"kaiming_fan_out"``: Kaiming-normal, fan_out, ReLU gain,
    N(0, 2/fan_out) (this library's earlier default). Biases are U(±1/√fan_in) in both.

    Example:
        >>> w = lenet_conv_kernel_init("torch")(jax.random.PRNGKey(0), (5, 5, 1, 6))
        >>> bool(abs(w).max() <= 1 / 5)
        True
    """
    if init == "torch":
        return _torch_default_kernel
    if init == "kaiming_fan_out":
        return nn.initializers.variance_scaling(2.0, "fan_out", "normal")
    raise ValueError(f"LeNet init {init!r} is not valid; choose one of {list(LENET_INITS)}")


class LeNet5(nn.Module):
    """The RENT paper's LeNet-5 for 28×28 inputs.

    conv(6, 5×5, pad 2)-ReLU-maxpool2-conv(16, 5×5, valid)-ReLU-maxpool2-FC120-ReLU-FC84-ReLU-FC K.
    Convolution weights follow ``conv_init`` (`lenet_conv_kernel_init`): ``"torch"`` is PyTorch's
    default, as the RENT code's LeNet; ``"kaiming_fan_out"`` is Kaiming-normal (fan_out), which
    the RENT code applies to its ResNets only. Dense layers and all biases use the PyTorch
    defaults. The convolutions are `PatchConv` (im2col + GEMM), the faster formulation on CPU.

    Attributes:
        num_classes: K >= 2.
        conv_init: ``"kaiming_fan_out"`` (default) or ``"torch"`` (the registry option
            ``init``: ``get_model("lenet", K, init="torch")``).
    """

    num_classes: int
    conv_init: str = "kaiming_fan_out"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train
        if x.ndim == 3:
            x = x[..., None]
        conv_init = lenet_conv_kernel_init(self.conv_init)
        c_in = x.shape[-1]
        x = PatchConv(
            6, (5, 5), padding=2, kernel_init=conv_init, bias_init=_torch_default_bias(25 * c_in)
        )(x)
        x = nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2))
        x = PatchConv(
            16, (5, 5), padding=0, kernel_init=conv_init, bias_init=_torch_default_bias(150)
        )(x)
        x = nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        for width in (120, 84):
            fan_in = x.shape[-1]
            x = nn.Dense(
                width, kernel_init=_torch_default_kernel, bias_init=_torch_default_bias(fan_in)
            )(x)
            x = nn.relu(x)
        fan_in = x.shape[-1]
        return nn.Dense(
            self.num_classes,
            kernel_init=_torch_default_kernel,
            bias_init=_torch_default_bias(fan_in),
        )(x)


class _BasicBlock(nn.Module):
    """ResNet basic block: two 3×3 convs with BatchNorm, projection shortcut when needed."""

    features: int
    stride: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)
        conv = lambda f, k, s, p: nn.Conv(
            f, (k, k), strides=(s, s), padding=p, use_bias=False, kernel_init=_torch_default_kernel
        )
        y = nn.relu(norm()(conv(self.features, 3, self.stride, 1)(x)))
        y = norm()(conv(self.features, 3, 1, 1)(y))
        if self.stride != 1 or x.shape[-1] != self.features:
            x = norm()(conv(self.features, 1, self.stride, 0)(x))
        return nn.relu(x + y)


class ResNet(nn.Module):
    """ResNet with basic blocks; CIFAR stem by default (kuangliu variant used by the LDR code).

    Stem ``"cifar"``: 3×3 stride-1 conv (64), BatchNorm, ReLU, no max-pool. Stem ``"imagenet"``
    (torchvision, used by the RENT code for Fashion-MNIST/SVHN/CIFAR): 7×7 stride-2 conv (pad 3),
    BatchNorm, ReLU, 3×3 stride-2 max-pool (pad 1). Four stages of basic blocks with
    widths 64/128/256/512 and strides 1/2/2/2, global average pooling (equal to the code's
    ``avg_pool2d(·, 4)`` for 32×32 inputs), Linear(512→K). PyTorch default initialisation;
    BatchNorm momentum 0.1 in PyTorch terms (0.9 in Flax), epsilon 1e-5.

    Attributes:
        num_classes: K >= 2.
        stage_sizes: blocks per stage, (2, 2, 2, 2) for ResNet-18, (3, 4, 6, 3) for ResNet-34.
        width: channels of the first stage (64 in the papers; smaller for tests).
        stem: ``"cifar"`` or ``"imagenet"``.
    """

    num_classes: int
    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    width: int = 64
    stem: str = "cifar"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.ndim == 3:
            x = x[..., None]
        if self.stem not in ("cifar", "imagenet"):
            raise ValueError(f"stem must be 'cifar' or 'imagenet', got {self.stem!r}")
        big = self.stem == "imagenet"
        x = nn.Conv(
            self.width,
            (7, 7) if big else (3, 3),
            strides=(2, 2) if big else (1, 1),
            padding=3 if big else 1,
            use_bias=False,
            kernel_init=_torch_default_kernel,
        )(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(x)
        x = nn.relu(x)
        if big:
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for stage, num_blocks in enumerate(self.stage_sizes):
            for block in range(num_blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                x = _BasicBlock(self.width * 2**stage, stride)(x, train)
        x = jnp.mean(x, axis=(1, 2))
        fan_in = x.shape[-1]
        return nn.Dense(
            self.num_classes,
            kernel_init=_torch_default_kernel,
            bias_init=_torch_default_bias(fan_in),
        )(x)


def _lenet(num_classes: int, init: str = "kaiming_fan_out") -> LeNet5:
    lenet_conv_kernel_init(init)  # a bad name fails here, with the choices
    return LeNet5(num_classes, conv_init=init)


def _resnet18(num_classes: int, **kw: Any) -> ResNet:
    return ResNet(num_classes=num_classes, stage_sizes=(2, 2, 2, 2), **kw)


def _resnet34(num_classes: int, **kw: Any) -> ResNet:
    return ResNet(num_classes=num_classes, stage_sizes=(3, 4, 6, 3), **kw)


def _needs_28x28(shape: tuple) -> str | None:
    if tuple(shape[:2]) != (28, 28):
        return (
            f"needs 28x28 images, but the inputs have shape {tuple(shape)}; use 'ffnn' or a ResNet"
        )
    return None


def _needs_images(shape: tuple) -> str | None:
    if len(shape) not in (2, 3):
        return f"needs images, but the inputs have shape {tuple(shape)}; use 'ffnn'"
    return None


_RESNET_OPTIONS = {
    "width": Option(64, low=1, integer=True),
    "stem": Option("cifar", choices=("cifar", "imagenet")),
}

# The models: name -> Entry(factory(num_classes, **options), description, options). meta:
# "epoch_mode" is how the training loop runs an epoch on CPU, measured on 2 cores
# (docs/training.md): a whole epoch under `lax.scan` removes per-step dispatch; it is 2.1x faster
# for the tabular net and, with LeNet's im2col convolutions (PatchConv), 1.7x faster for LeNet
# too. The ResNets use `nn.Conv`, whose XLA:CPU convolutions run 2.7-3x slower inside loops
# (jax-ml/jax#12868), so they use a Python loop of jitted steps. "check_input": a function of
# the per-example input shape returning why the model cannot take it (None if it can).
MODELS: dict[str, Entry] = {
    "ffnn": Entry(
        FFNN,
        "one-hidden-layer ReLU net (LDR tabular protocol); hidden 0 = min(d, K)",
        {"hidden": Option(0, low=0, integer=True)},
        meta={"epoch_mode": "scan"},
    ),
    "lenet": Entry(
        _lenet,
        "LeNet-5 for 28x28 images (init: kaiming_fan_out convs, or torch = PyTorch default)",
        {"init": Option("kaiming_fan_out", choices=LENET_INITS)},
        meta={"epoch_mode": "scan", "check_input": _needs_28x28},
    ),
    "resnet18": Entry(
        _resnet18,
        "ResNet-18 (CIFAR or ImageNet stem)",
        _RESNET_OPTIONS,
        meta={"epoch_mode": "loop", "check_input": _needs_images},
    ),
    "resnet34": Entry(
        _resnet34,
        "ResNet-34 (CIFAR or ImageNet stem)",
        _RESNET_OPTIONS,
        meta={"epoch_mode": "loop", "check_input": _needs_images},
    ),
}


def list_models() -> list[str]:
    """Names accepted by `get_model`, sorted."""
    return sorted(MODELS)


def _entry(name: str) -> Entry:
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid choices: {list_models()}")
    return MODELS[name]


def model_options(name: str) -> dict[str, Any]:
    """The keyword options of model ``name`` and their defaults.

    Example:
        >>> model_options("resnet18")
        {'width': 64, 'stem': 'cifar'}
    """
    return {k: o.default for k, o in _entry(name).options.items()}


def get_model(name: str, num_classes: int, **kw: Any) -> nn.Module:
    """Builds a model by registry name.

    Args:
        name: one of `list_models()`: ``ffnn``, ``lenet``, ``resnet18``, ``resnet34``.
        num_classes: number of logits K >= 2.
        **kw: model options (`model_options`: ``hidden`` for ``ffnn``; ``width`` and ``stem``
            (``"cifar"`` or ``"imagenet"``) for the ResNets).

    Returns:
        A Linen module; call ``init(key, x, train=False)`` and ``apply(variables, x, train=...)``.

    Raises:
        ValueError: unknown name, K < 2, an unknown keyword or a value out of range.

    Example:
        >>> get_model("lenet", num_classes=10).num_classes
        10
    """
    entry = _entry(name)
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    bad = sorted(set(kw) - set(entry.options))
    if bad:
        raise ValueError(
            f"unknown keyword(s) {bad} for model {name!r}; valid keywords: {sorted(entry.options)}"
        )
    return entry.factory(num_classes=num_classes, **resolve(entry, kw, f"model {name!r}"))


def check_model_input(name: str, shape: tuple) -> None:
    """Raises ``ValueError`` if model ``name`` cannot take inputs of per-example ``shape``.

    Example:
        >>> check_model_input("lenet", (8, 8, 1))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: model 'lenet' needs 28x28 images, but the inputs have shape (8, 8, 1); ...
    """
    check = _entry(name).meta.get("check_input")
    reason = check(tuple(shape)) if check else None
    if reason:
        raise ValueError(f"model {name!r} {reason}")


def default_epoch_mode(name: str) -> str:
    """The measured-faster epoch mode for a model on CPU: ``"scan"`` or ``"loop"``."""
    return _entry(name).meta["epoch_mode"]
