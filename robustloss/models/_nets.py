"""The networks: ``FFNN`` (LDR tabular), ``LeNet5`` (RENT), ``ResNet`` (CIFAR/ImageNet stems)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from robustloss.models._layers import (
    PatchConv,
    _canonical_dtype,
    _torch_default_bias,
    _torch_default_kernel,
    max_pool_2x2,
)
from robustloss.options import Option


def _dtype_problem(value: Any) -> str | None:
    try:
        _canonical_dtype(value)
    except ValueError as e:
        return str(e)
    return None


LENET_INITS = ("kaiming_fan_out", "torch")

# The nets' options, as the model table (`robustloss.models.MODELS`) offers them: each default is
# written once, here, and the nets' attribute defaults below are these options' defaults.
DTYPE = Option("float32", check=_dtype_problem)
FFNN_HIDDEN = Option(0, low=0, integer=True)
LENET_INIT = Option("kaiming_fan_out", choices=LENET_INITS)
RESNET_WIDTH = Option(64, low=1, integer=True)
RESNET_STEM = Option("cifar", choices=("cifar", "imagenet"))
_DEFAULT_DTYPE = _canonical_dtype(DTYPE.default)


class FFNN(nn.Module):
    """The LDR paper's tabular network: Linear(d→H)-tanh-Linear(H→H)-tanh-Linear(H→K).

    Two hidden layers of width H, each followed by tanh, then the K logits; ``H = min(d, K)``
    unless ``hidden`` is given. Weights are Xavier-normal, biases
    U(±1/√fan_in) (the PyTorch default the paper's code keeps). Inputs with more than one
    feature axis are flattened.

    Attributes:
        num_classes: K >= 2, the number of logits.
        hidden: hidden width H; 0 means ``min(d, K)``.
        dtype: computation dtype (``float32`` or ``bfloat16``); parameters stay float32 and the
            logits are returned in float32.
    """

    num_classes: int
    hidden: int = FFNN_HIDDEN.default
    dtype: Any = _DEFAULT_DTYPE

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train
        x = x.reshape((x.shape[0], -1)).astype(self.dtype)
        d = x.shape[-1]
        h = self.hidden or min(d, self.num_classes)
        dense = lambda n, fan_in: nn.Dense(
            n,
            kernel_init=nn.initializers.xavier_normal(),
            bias_init=_torch_default_bias(fan_in),
            dtype=self.dtype,
        )
        x = jnp.tanh(dense(h, d)(x))
        x = jnp.tanh(dense(h, h)(x))
        return dense(self.num_classes, h)(x).astype(jnp.float32)


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
    defaults. Inputs are NHWC; internally the convolutional part runs in the CNHW layout
    (`PatchConv` with ``layout="CNHW"``, i.e. `conv2d_cnhw`, and `max_pool_2x2`), the fastest
    formulation measured on XLA:CPU, and is transposed back to NHWC before flattening, so the
    function, the parameters (names, shapes) and the flattening order are those of the plain
    NHWC ``nn.Conv`` + ``nn.max_pool`` network (tested).

    Attributes:
        num_classes: K >= 2.
        dtype: computation dtype (``float32`` or ``bfloat16``); parameters stay float32 and the
            logits are returned in float32.
        conv_init: ``"kaiming_fan_out"`` (default) or ``"torch"`` (the registry option
            ``init``: ``get_model("lenet", K, init="torch")``).
    """

    num_classes: int
    dtype: Any = _DEFAULT_DTYPE
    conv_init: str = LENET_INIT.default

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train
        if x.ndim == 3:
            x = x[..., None]
        conv_init = lenet_conv_kernel_init(self.conv_init)
        c_in = x.shape[-1]
        x = jnp.transpose(x.astype(self.dtype), (3, 0, 1, 2))  # NHWC -> CNHW
        for features, pad, fan_in in ((6, 2, 25 * c_in), (16, 0, 150)):
            x = PatchConv(
                features,
                (5, 5),
                padding=pad,
                kernel_init=conv_init,
                bias_init=_torch_default_bias(fan_in),
                layout="CNHW",
                dtype=self.dtype,
            )(x)
            x = max_pool_2x2(nn.relu(x), 2)
        x = jnp.transpose(x, (1, 2, 3, 0))  # CNHW -> NHWC, so flattening is (h, w, c)
        x = x.reshape((x.shape[0], -1))
        for width in (120, 84):
            fan_in = x.shape[-1]
            x = nn.Dense(
                width,
                kernel_init=_torch_default_kernel,
                bias_init=_torch_default_bias(fan_in),
                dtype=self.dtype,
            )(x)
            x = nn.relu(x)
        fan_in = x.shape[-1]
        logits = nn.Dense(
            self.num_classes,
            kernel_init=_torch_default_kernel,
            bias_init=_torch_default_bias(fan_in),
            dtype=self.dtype,
        )(x)
        return logits.astype(jnp.float32)


def _block_layers(train: bool, dtype: Any):
    """The ResNet blocks' layer makers (torchvision's settings): ``norm()`` a BatchNorm
    (momentum 0.1 in PyTorch's convention, eps 1e-5) and ``conv(features, k, stride, pad)`` a
    bias-free k×k conv with PyTorch's default init. Called inside a block's ``nn.compact``
    ``__call__``, so the layers are that block's submodules (``Conv_i``, ``BatchNorm_i``)."""
    norm = lambda: nn.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype
    )
    conv = lambda f, k, s, p: nn.Conv(
        f,
        (k, k),
        strides=(s, s),
        padding=p,
        use_bias=False,
        kernel_init=_torch_default_kernel,
        dtype=dtype,
    )
    return norm, conv


class _BasicBlock(nn.Module):
    """ResNet basic block: two 3×3 convs with BatchNorm, projection shortcut when needed."""

    features: int
    stride: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm, conv = _block_layers(train, self.dtype)
        y = nn.relu(norm()(conv(self.features, 3, self.stride, 1)(x)))
        y = norm()(conv(self.features, 3, 1, 1)(y))
        if self.stride != 1 or x.shape[-1] != self.features:
            x = norm()(conv(self.features, 1, self.stride, 0)(x))
        return nn.relu(x + y)


class _Bottleneck(nn.Module):
    """ResNet bottleneck block (torchvision's v1.5 layout: the stride is on the 3×3 conv).

    1×1 conv (``features``) - BN - ReLU - 3×3 conv (``features``, stride) - BN - ReLU - 1×1 conv
    (``4·features``) - BN, plus the shortcut (1×1 conv with the stride + BN when the shape
    changes), then ReLU. Parameter order (``Conv_0..2``, ``BatchNorm_0..2``, projection
    ``Conv_3``/``BatchNorm_3``) is what `robustloss.models.load_torchvision_resnet` maps
    ``conv1..3``/``bn1..3``/``downsample.0/1`` to.
    """

    features: int
    stride: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm, conv = _block_layers(train, self.dtype)
        out = 4 * self.features
        y = nn.relu(norm()(conv(self.features, 1, 1, 0)(x)))
        y = nn.relu(norm()(conv(self.features, 3, self.stride, 1)(y)))
        y = norm()(conv(out, 1, 1, 0)(y))
        if self.stride != 1 or x.shape[-1] != out:
            x = norm()(conv(out, 1, self.stride, 0)(x))
        return nn.relu(x + y)


class ResNet(nn.Module):
    """ResNet with basic or bottleneck blocks; CIFAR stem by default (kuangliu variant used by
    the LDR code).

    Stem ``"cifar"``: 3×3 stride-1 conv (64), BatchNorm, ReLU, no max-pool. Stem ``"imagenet"``
    (torchvision, used by the RENT code for Fashion-MNIST/SVHN/CIFAR): 7×7 stride-2 conv (pad 3),
    BatchNorm, ReLU, 3×3 stride-2 max-pool (pad 1). Four stages of basic blocks with
    widths 64/128/256/512 and strides 1/2/2/2, global average pooling (equal to the code's
    ``avg_pool2d(·, 4)`` for 32×32 inputs), Linear(512→K) (Linear(2048→K) with bottleneck
    blocks, whose output is 4× the stage width: ResNet-50). PyTorch default initialisation;
    BatchNorm momentum 0.1 in PyTorch terms (0.9 in Flax), epsilon 1e-5. With the ImageNet stem
    the network is torchvision's ``resnet18/34/50`` layer for layer, so its weights load
    (`robustloss.models.load_torchvision_resnet`).

    Attributes:
        num_classes: K >= 2.
        stage_sizes: blocks per stage, (2, 2, 2, 2) for ResNet-18, (3, 4, 6, 3) for ResNet-34.
        width: channels of the first stage (64 in the papers; smaller for tests).
        stem: ``"cifar"`` or ``"imagenet"``.
        block: ``"basic"`` (ResNet-18/34) or ``"bottleneck"`` (ResNet-50).
        dtype: computation dtype (``float32`` or ``bfloat16``); parameters and BatchNorm
            statistics stay float32 (Flax computes the batch statistics in float32) and the
            logits are returned in float32.
    """

    num_classes: int
    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    width: int = RESNET_WIDTH.default
    stem: str = RESNET_STEM.default
    dtype: Any = _DEFAULT_DTYPE
    block: str = "basic"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.ndim == 3:
            x = x[..., None]
        RESNET_STEM.validate("stem", self.stem)
        blocks = {"basic": _BasicBlock, "bottleneck": _Bottleneck}
        if self.block not in blocks:
            raise ValueError(f"block must be one of {list(blocks)}, got {self.block!r}")
        block_cls = blocks[self.block]
        big = self.stem == "imagenet"
        x = nn.Conv(
            self.width,
            (7, 7) if big else (3, 3),
            strides=(2, 2) if big else (1, 1),
            padding=3 if big else 1,
            use_bias=False,
            kernel_init=_torch_default_kernel,
            dtype=self.dtype,
        )(x.astype(self.dtype))
        x = nn.BatchNorm(
            use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype
        )(x)
        x = nn.relu(x)
        if big:
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for stage, num_blocks in enumerate(self.stage_sizes):
            for block in range(num_blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                x = block_cls(self.width * 2**stage, stride, dtype=self.dtype)(x, train)
        x = jnp.mean(x, axis=(1, 2))
        fan_in = x.shape[-1]
        logits = nn.Dense(
            self.num_classes,
            kernel_init=_torch_default_kernel,
            bias_init=_torch_default_bias(fan_in),
            dtype=self.dtype,
        )(x)
        return logits.astype(jnp.float32)
