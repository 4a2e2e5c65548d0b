"""Tests for preprocessing: min-max scaling, per-channel normalisation, crop/flip augmentation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustloss.data import (
    channel_stats,
    minmax_scale,
    normalize_per_channel,
    random_crop_flip,
)


def test_minmax_scale():
    x = np.array([[0.0, 5.0, 3.0], [10.0, 5.0, 1.0], [5.0, 5.0, 2.0]])
    a, b = minmax_scale(x, np.array([[20.0, 7.0, 2.0]]))
    np.testing.assert_allclose(a, [[-1, 0, 1], [1, 0, -1], [0, 0, 0]])
    np.testing.assert_allclose(b, [[3.0, 0.0, 0.0]])  # same statistics; constant feature -> 0
    assert a.dtype == np.float32
    (c,) = minmax_scale(x, lo=0.0, hi=1.0)
    np.testing.assert_allclose(c[:, 0], [0, 1, 0.5])
    with pytest.raises(ValueError, match="hi > lo"):
        minmax_scale(x, lo=1.0, hi=0.0)


def test_normalize_per_channel():
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[1.0, -2.0, 5.0], scale=[0.5, 2.0, 3.0], size=(64, 4, 4, 3))
    z = normalize_per_channel(x)
    np.testing.assert_allclose(z.mean((0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std((0, 1, 2)), 1.0, atol=1e-5)
    m, s = channel_stats(x)
    np.testing.assert_allclose(m, x.reshape(-1, 3).mean(0))
    np.testing.assert_allclose(s, x.reshape(-1, 3).std(0))
    cifar = normalize_per_channel(x[:2], mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    np.testing.assert_allclose(cifar, (x[:2] - 0.5) / 0.25, rtol=1e-5)
    with pytest.raises(ValueError, match="std"):
        normalize_per_channel(x, mean=[0, 0, 0], std=[1, 0, 1])


def _windows(img, p):
    h, w, _ = img.shape
    padded = np.pad(img, ((p, p), (p, p), (0, 0)))
    return [padded[i : i + h, j : j + w] for i in range(2 * p + 1) for j in range(2 * p + 1)]


def test_random_crop_flip_shape_determinism_and_content():
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 3)).astype(np.float32) + 0.1  # no zeros in the image itself
    key = jax.random.key(0)
    f = jax.jit(random_crop_flip, static_argnames=("padding", "flip"))
    a = f(key, x, padding=2)
    b = f(key, x, padding=2)
    c = f(jax.random.key(1), x, padding=2)
    assert a.shape == x.shape and a.dtype == jnp.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # every output is a padded window of its input, possibly mirrored left-right
    flips = 0
    for img, out in zip(x, np.asarray(a), strict=True):
        wins = _windows(img, 2)
        plain = any(np.array_equal(out, w) for w in wins)
        mirrored = any(np.array_equal(out[:, ::-1], w) for w in wins)
        assert plain or mirrored
        flips += mirrored and not plain
    assert 0 < flips < 16
    # without flips: never mirrored; with padding 0 and no flip: identity
    nf = np.asarray(f(key, x, padding=2, flip=False))
    assert all(
        any(np.array_equal(o, w) for w in _windows(i, 2)) for i, o in zip(x, nf, strict=True)
    )
    np.testing.assert_array_equal(f(key, x, padding=0, flip=False), x)
    with pytest.raises(ValueError, match="NHWC"):
        random_crop_flip(key, x[0])
    with pytest.raises(ValueError, match="padding"):
        random_crop_flip(key, x, padding=-1)
