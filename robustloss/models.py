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

import functools
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
    "conv2d_cnhw",
    "max_pool_2x2",
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
        dtype: computation dtype (``float32`` or ``bfloat16``); parameters stay float32 and the
            logits are returned in float32.
    """

    num_classes: int
    hidden: int = 0
    dtype: Any = jnp.float32

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


def _canonical_dtype(dtype: Any) -> jnp.dtype:
    """``"float32"`` / ``"bfloat16"`` (or the dtype objects) -> a NumPy dtype; else ValueError."""
    try:
        d = jnp.dtype(dtype)
    except TypeError:
        d = None
    if d not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16)):
        raise ValueError(f"dtype must be 'float32' or 'bfloat16', got {dtype!r}")
    return d


def _split_windows(x: jax.Array, axis: int) -> jax.Array:
    """``[..., H, W, ...] -> [..., H/2, 2, W/2, 2, ...]`` (H at ``axis``, W at ``axis + 1``)."""
    s = x.shape
    return x.reshape(s[:axis] + (s[axis] // 2, 2, s[axis + 1] // 2, 2) + s[axis + 2 :])


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def max_pool_2x2(x: jax.Array, axis: int = 1) -> jax.Array:
    """2×2 max pooling with stride 2 over axes ``(axis, axis + 1)``; same values and gradients as
    ``nn.max_pool(x, (2, 2), strides=(2, 2))``.

    ``y[..., i, j, ...] = max(x[..., 2i + a, 2j + b, ...] for a, b in {0, 1}²)``. The backward
    pass routes the cotangent to the *first* maximum of each window in row-major order, as
    XLA's ``select_and_scatter`` (the gradient of ``nn.max_pool``) and PyTorch's ``MaxPool2d``
    do, so ties (constant image regions, ReLU zeros) get the same gradient. It is written as a
    reshape + reduce-max forward and an elementwise select backward, which XLA:CPU runs much
    faster than ``select_and_scatter``. H and W must be even.

    Args:
        x: an array with the two pooled axes at ``axis`` and ``axis + 1`` (NHWC: ``axis=1``;
            the CNHW layout of `LeNet5`: ``axis=2``).
        axis: the first of the two pooled axes (non-negative).

    Returns:
        ``x`` with both pooled axes halved.

    Example:
        >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
        >>> max_pool_2x2(x)[0, :, :, 0].tolist()
        [[5.0, 7.0], [13.0, 15.0]]
    """
    return _max_pool_fwd(x, axis)[0]


def _max_pool_fwd(x: jax.Array, axis: int) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    if x.shape[axis] % 2 or x.shape[axis + 1] % 2:
        raise ValueError(f"max_pool_2x2 needs even sizes on axes {axis}, {axis + 1}: {x.shape}")
    y = jnp.max(_split_windows(x, axis), axis=(axis + 1, axis + 3))
    return y, (x, y)


def _max_pool_bwd(axis: int, res: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array]:
    x, y = res
    x6 = _split_windows(x, axis)

    def window(a: int, b: int) -> jax.Array:  # x[..., 2i + a, 2j + b, ...]
        t = jax.lax.index_in_dim(x6, b, axis + 3, keepdims=False)
        return jax.lax.index_in_dim(t, a, axis + 1, keepdims=False)

    # Index (0..3, row-major) of the first maximum of each window.
    first = jnp.where(
        window(0, 0) == y,
        0,
        jnp.where(window(0, 1) == y, 1, jnp.where(window(1, 0) == y, 2, 3)),
    ).astype(jnp.int8)
    shape = [1] * x6.ndim
    shape[axis + 1] = shape[axis + 3] = 2
    pos = 2 * jax.lax.broadcasted_iota(jnp.int8, shape, axis + 1) + jax.lax.broadcasted_iota(
        jnp.int8, shape, axis + 3
    )
    spread = lambda t: jnp.expand_dims(t, (axis + 1, axis + 3))
    dx6 = jnp.where(pos == spread(first), spread(g), jnp.zeros((), g.dtype))
    return (dx6.reshape(x.shape),)


max_pool_2x2.defvjp(_max_pool_fwd, _max_pool_bwd)


def _patches_cnhw(x: jax.Array, kh: int, kw: int) -> jax.Array:
    """im2col of ``x [C, B, H, W]``: ``[kh*kw*C, B*h*w]``, row ``(u*kw + v)*C + c``."""
    c, b = x.shape[:2]
    h, w = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    p = jnp.stack([x[:, :, u : u + h, v : v + w] for u in range(kh) for v in range(kw)])
    return p.reshape(kh * kw * c, b * h * w)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def conv2d_cnhw(x: jax.Array, kernel: jax.Array, bias: jax.Array, padding: int = 0) -> jax.Array:
    """Stride-1 2-D convolution of a ``[C, B, H, W]`` array as im2col + one GEMM per pass.

    ``y[f, b, i, j] = bias[f] + sum_{u, v, c} xp[c, b, i + u, j + v] * kernel[u, v, c, f]``
    with ``xp`` the input zero-padded by ``padding`` on each spatial side: the same function as
    ``lax.conv_general_dilated`` with ``("CNHW", "HWIO", "CNHW")`` dimension numbers. With the
    channels outermost, every im2col slice and every GEMM operand is a contiguous block, and the
    backward pass is written out (custom VJP): the kernel gradient is ``dY @ patchesᵀ``, the
    input gradient is ``kernel @ dY`` folded back (col2im) by a 5-iteration loop over kernel
    rows, which keeps XLA from re-computing the fold inside its consumers. On XLA:CPU this
    trains LeNet-5 more than twice as fast as NHWC im2col (`PatchConv`), and ``lax.conv`` is
    slower still for its tiny channel counts (results/bench.json, docs/training.md).

    Args:
        x: ``[C, B, H, W]`` input.
        kernel: ``[kh, kw, C, F]`` (``nn.Conv``'s layout).
        bias: ``[F]``.
        padding: zero padding on each spatial side (static).

    Returns:
        ``[F, B, H + 2p - kh + 1, W + 2p - kw + 1]``.

    Example:
        >>> x = jnp.ones((1, 2, 4, 4)); k = jnp.ones((3, 3, 1, 5))
        >>> conv2d_cnhw(x, k, jnp.zeros(5), 1)[0, 0].tolist()[0]
        [4.0, 6.0, 6.0, 4.0]
    """
    return _conv_cnhw_fwd(x, kernel, bias, padding)[0]


def _conv_cnhw_fwd(x, kernel, bias, padding):
    kh, kw, c, f = kernel.shape
    if padding:
        x = jnp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    b, h, w = x.shape[1], x.shape[2] - kh + 1, x.shape[3] - kw + 1
    patches = _patches_cnhw(x, kh, kw)
    y = kernel.reshape(kh * kw * c, f).T @ patches + bias[:, None]
    return y.reshape(f, b, h, w), (patches, kernel)


def _conv_cnhw_bwd(padding, res, g):
    patches, kernel = res
    kh, kw, c, f = kernel.shape
    _, b, h, w = g.shape
    g2 = g.reshape(f, b * h * w)
    d_kernel = (g2 @ patches.T).T.reshape(kernel.shape)
    d_bias = jnp.sum(g2, axis=1)
    # Input gradient: dpatches = kernel @ dY, then col2im. XLA drops it when x is not
    # differentiated (LeNet's first layer).
    d_patches = (kernel.reshape(kh * kw * c, f) @ g2).reshape(kh, kw, c, b, h, w)
    hp, wp = h + kh - 1, w + kw - 1

    def add_row(u, acc):
        row = jax.lax.dynamic_index_in_dim(d_patches, u, 0, keepdims=False)  # [kw, C, B, h, w]
        shifted = sum(jnp.pad(row[v], ((0, 0), (0, 0), (0, 0), (v, wp - w - v))) for v in range(kw))
        cur = jax.lax.dynamic_slice(acc, (0, 0, u, 0), (c, b, h, wp))
        return jax.lax.dynamic_update_slice(acc, cur + shifted, (0, 0, u, 0))

    dx = jax.lax.fori_loop(0, kh, add_row, jnp.zeros((c, b, hp, wp), g.dtype))
    if padding:
        dx = dx[:, :, padding : hp - padding, padding : wp - padding]
    return dx, d_kernel, d_bias


conv2d_cnhw.defvjp(_conv_cnhw_fwd, _conv_cnhw_bwd)


class PatchConv(nn.Module):
    """A stride-1 2-D convolution computed as im2col + one matmul (same maths as ``nn.Conv``).

    ``y[b, i, j, f] = bias[f] + sum_{u, v, c} x[b, i + u, j + v, c] * kernel[u, v, c, f]`` over
    the (zero-padded) input. ``layout="NHWC"``: the patches are ``kh*kw`` shifted slices
    concatenated on the channel axis, so forward and backward passes are slices, pads and a
    single GEMM (faster than ``lax.conv_general_dilated`` for LeNet on XLA:CPU).
    ``layout="CNHW"``: input and output are ``[C, B, H, W]`` and the work is `conv2d_cnhw`
    (contiguous im2col, hand-written backward pass), faster again (docs/training.md).

    Attributes:
        features: output channels.
        kernel_size: ``(kh, kw)``.
        padding: zero padding on each spatial side.
        kernel_init, bias_init: initialisers; the kernel has ``nn.Conv``'s shape
            ``(kh, kw, C_in, features)`` in both layouts.
        layout: ``"NHWC"`` or ``"CNHW"``.
        dtype: computation dtype (the input and float32 parameters are cast to it).
        param_dtype: parameter dtype (float32).
    """

    features: int
    kernel_size: tuple[int, int] = (5, 5)
    padding: int = 0
    kernel_init: Callable[..., jax.Array] = nn.initializers.lecun_normal()
    bias_init: Callable[..., jax.Array] = nn.initializers.zeros
    layout: str = "NHWC"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.layout not in ("NHWC", "CNHW"):
            raise ValueError(f"layout must be 'NHWC' or 'CNHW', got {self.layout!r}")
        kh, kw = self.kernel_size
        c_in = x.shape[-1] if self.layout == "NHWC" else x.shape[0]
        kernel = self.param(
            "kernel", self.kernel_init, (kh, kw, c_in, self.features), self.param_dtype
        )
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
        x, kernel, bias = (a.astype(self.dtype) for a in (x, kernel, bias))
        p = self.padding
        if self.layout == "CNHW":
            return conv2d_cnhw(x, kernel, bias, p)
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
    dtype: Any = jnp.float32
    conv_init: str = "kaiming_fan_out"

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


class _BasicBlock(nn.Module):
    """ResNet basic block: two 3×3 convs with BatchNorm, projection shortcut when needed."""

    features: int
    stride: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm = lambda: nn.BatchNorm(
            use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype
        )
        conv = lambda f, k, s, p: nn.Conv(
            f,
            (k, k),
            strides=(s, s),
            padding=p,
            use_bias=False,
            kernel_init=_torch_default_kernel,
            dtype=self.dtype,
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
        dtype: computation dtype (``float32`` or ``bfloat16``); parameters and BatchNorm
            statistics stay float32 (Flax computes the batch statistics in float32) and the
            logits are returned in float32.
    """

    num_classes: int
    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    width: int = 64
    stem: str = "cifar"
    dtype: Any = jnp.float32

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
                x = _BasicBlock(self.width * 2**stage, stride, dtype=self.dtype)(x, train)
        x = jnp.mean(x, axis=(1, 2))
        fan_in = x.shape[-1]
        logits = nn.Dense(
            self.num_classes,
            kernel_init=_torch_default_kernel,
            bias_init=_torch_default_bias(fan_in),
            dtype=self.dtype,
        )(x)
        return logits.astype(jnp.float32)


def _lenet(num_classes: int, init: str = "kaiming_fan_out", **kw: Any) -> LeNet5:
    lenet_conv_kernel_init(init)  # a bad name fails here, with the choices
    return LeNet5(num_classes, conv_init=init, **kw)


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


def _dtype_problem(value: Any) -> str | None:
    try:
        _canonical_dtype(value)
    except ValueError as e:
        return str(e)
    return None


_DTYPE = {"dtype": Option("float32", check=_dtype_problem)}
_RESNET_OPTIONS = {
    **_DTYPE,
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
        {**_DTYPE, "hidden": Option(0, low=0, integer=True)},
        meta={"epoch_mode": "scan"},
    ),
    "lenet": Entry(
        _lenet,
        "LeNet-5 for 28x28 images (init: kaiming_fan_out convs, or torch = PyTorch default)",
        {**_DTYPE, "init": Option("kaiming_fan_out", choices=LENET_INITS)},
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
        {'dtype': 'float32', 'width': 64, 'stem': 'cifar'}
    """
    return {k: o.default for k, o in _entry(name).options.items()}


def get_model(name: str, num_classes: int, **kw: Any) -> nn.Module:
    """Builds a model by registry name.

    Args:
        name: one of `list_models()`: ``ffnn``, ``lenet``, ``resnet18``, ``resnet34``.
        num_classes: number of logits K >= 2.
        **kw: model options (`model_options`: ``hidden`` for ``ffnn``; ``width`` and ``stem``
            (``"cifar"`` or ``"imagenet"``) for the ResNets; ``dtype`` for all: the computation
            dtype, ``"float32"`` (default) or ``"bfloat16"``, with float32 parameters and logits).

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
    options = resolve(entry, kw, f"model {name!r}")
    options["dtype"] = _canonical_dtype(options["dtype"])
    return entry.factory(num_classes=num_classes, **options)


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
