"""Layers and kernels of the convnets: the CNHW im2col convolution and 2x2 max-pool with
their custom VJPs (faster than ``lax.conv`` on XLA:CPU, docs/training.md), and PyTorch's
default initialisers."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# PyTorch's default Linear/Conv initialisation (kaiming_uniform with a=sqrt(5)) is
# U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weights: variance scale 1/3, uniform, fan_in.
_torch_default_kernel = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def _torch_default_bias(fan_in: int) -> Callable[..., jax.Array]:
    """PyTorch's default bias initialiser U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


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
