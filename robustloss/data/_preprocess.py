"""Preprocessing in NumPy and a jittable on-device augmentation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


def minmax_scale(
    x_fit: np.ndarray, *others: np.ndarray, lo: float = -1.0, hi: float = 1.0
) -> tuple[np.ndarray, ...]:
    """Per-feature min-max scaling to ``[lo, hi]`` fitted on ``x_fit``, applied to all arrays.

    ``x' = lo + (hi − lo)·(x − min)/(max − min)`` with min/max over the rows of ``x_fit``;
    constant features map to ``(lo + hi)/2``. Other arrays use the same statistics, so their
    values may fall outside ``[lo, hi]``. This is LIBSVM's ``svm-scale -l -1 -u 1``, the
    preprocessing of the LDR paper's tabular data.

    Args:
      x_fit: ``[N, ...]`` array the statistics are computed on.
      *others: arrays with the same trailing shape to transform too.
      lo: lower bound (default −1).
      hi: upper bound (default 1), ``hi > lo``.

    Returns:
      tuple of float32 arrays, ``x_fit`` scaled first, then ``others`` in order.

    Example:
      >>> minmax_scale(np.array([[0.0], [5.0], [10.0]]))[0].ravel().tolist()
      [-1.0, 0.0, 1.0]
    """
    if not hi > lo:
        raise ValueError(f"need hi > lo, got lo={lo}, hi={hi}")
    x_fit = np.asarray(x_fit, dtype=np.float64)
    mn = x_fit.min(axis=0) if len(x_fit) else np.zeros(x_fit.shape[1:])
    mx = x_fit.max(axis=0) if len(x_fit) else np.ones(x_fit.shape[1:])
    span = mx - mn
    const = span == 0

    def f(x):
        x = np.asarray(x, dtype=np.float64)
        z = (x - mn) / np.where(const, 1.0, span)
        z = np.where(const, 0.5, z)
        return (lo + (hi - lo) * z).astype(np.float32)

    return (f(x_fit), *(f(o) for o in others))


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of NHWC images (float64 ``[C]`` each).

    Example:
      >>> m, s = channel_stats(np.ones((2, 4, 4, 3)))
      >>> m.tolist(), s.tolist()
      ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    """
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"images must be NHWC (4-D), got shape {x.shape}")
    axes = (0, 1, 2)
    mean = x.mean(axis=axes, dtype=np.float64)
    var = np.square(x, dtype=np.float64).mean(axis=axes) - mean**2
    return mean, np.sqrt(np.maximum(var, 0.0))


def normalize_per_channel(
    images: np.ndarray, mean: ArrayLike | None = None, std: ArrayLike | None = None
) -> np.ndarray:
    """Per-channel normalisation ``(x − mean_c)/std_c`` of NHWC images.

    Args:
      images: ``[N, H, W, C]``.
      mean: ``[C]`` means; computed from ``images`` when ``None`` (fit on the train split and
        pass the result for val/test).
      std: ``[C]`` standard deviations (> 0); computed when ``None``.

    Returns:
      float32 ``[N, H, W, C]``.

    Example:
      >>> x = np.stack([np.zeros((2, 2, 1)), np.full((2, 2, 1), 2.0)])
      >>> normalize_per_channel(x).ravel().tolist()
      [-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0]
    """
    x = np.asarray(images, dtype=np.float32)
    if mean is None or std is None:
        m, s = channel_stats(x)
        mean = m if mean is None else mean
        std = s if std is None else std
    std = np.asarray(std, dtype=np.float64)
    if np.any(std <= 0):
        raise ValueError(f"std must be > 0 in every channel, got {std.tolist()}")
    return ((x - np.asarray(mean, dtype=np.float64)) / std).astype(np.float32)


def random_crop_flip(
    key: jax.Array, images: ArrayLike, padding: int = 4, flip: bool = True
) -> jax.Array:
    """Random crop after zero padding plus random horizontal flip, per image (jittable).

    Each image of the NHWC batch is zero-padded by ``padding`` pixels on every side, cropped
    back to ``H×W`` at a uniformly random offset in ``[0, 2·padding]²`` and, when ``flip``,
    mirrored left-right with probability 1/2 — torchvision's ``RandomCrop(H, padding)`` +
    ``RandomHorizontalFlip()``. Deterministic in ``key``; runs on device inside ``jit``.

    Args:
      key: a JAX PRNG key.
      images: ``[B, H, W, C]`` batch.
      padding: non-negative int (static).
      flip: whether to flip (static).

    Returns:
      ``[B, H, W, C]`` array with the dtype of ``images``.

    Example:
      >>> x = jnp.ones((2, 8, 8, 3))
      >>> random_crop_flip(jax.random.key(0), x).shape
      (2, 8, 8, 3)

    References:
      He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (the CIFAR recipe).
    """
    if int(padding) != padding or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    x = jnp.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"images must be NHWC (4-D), got shape {x.shape}")
    b, h, w, c = x.shape
    k_y, k_x, k_f = jax.random.split(key, 3)
    p = int(padding)
    padded = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    oy = jax.random.randint(k_y, (b,), 0, 2 * p + 1)
    ox = jax.random.randint(k_x, (b,), 0, 2 * p + 1)
    crop = jax.vmap(lambda im, y0, x0: jax.lax.dynamic_slice(im, (y0, x0, 0), (h, w, c)))(
        padded, oy, ox
    )
    if not flip:
        return crop
    do = jax.random.bernoulli(k_f, 0.5, (b,))
    return jnp.where(do[:, None, None, None], crop[:, :, ::-1, :], crop)
