"""Label-noise generators with their true transition matrices.

Every generator is a pure function of its inputs and an explicit integer ``seed``: it runs on the
host with NumPy, so the same seed gives the same noisy labels whatever the number or kind of JAX
devices. Each returns a :class:`NoisyLabels` ``(labels, T, is_noisy)`` with the convention of
DESIGN §4, ``T[i, j] = P(noisy = j | clean = i)`` (rows sum to one; the RENT paper writes the
transpose).

What ``rate`` means depends on the kind (``K`` classes):

================  ==========================================================  ================
kind              corruption                                                  error rate
================  ==========================================================  ================
``symmetric``     with prob. ``rate`` flip to a uniformly drawn *other* class  ``rate``
``uniform``       with prob. ``rate`` redraw uniformly over *all* K classes    ``rate·(K−1)/K``
``pair``          with prob. ``rate`` map ``y → class_map[y]``                 ``rate`` on the
                                                                              flipping classes
``superclass``    with prob. ``rate`` flip to another class of the same group  ``rate``
``instance``      per-example flip prob. ``q_i ~ TruncNormal(rate, 0.1², [0,1])``  ``≈ rate``
================  ==========================================================  ================

``sampling="exact"`` (default) corrupts exactly ``round(rate · n_k)`` examples of every clean
class ``k`` (stratified, so each row of the empirical T matches its diagonal up to rounding);
``sampling="bernoulli"`` corrupts each example independently with probability ``rate``.

``mode`` selects a paper's released procedure instead of ours (see :func:`add_noise`):
``"ldr_code"`` (Zhu et al., ICML 2023, draw for draw) and ``"rent_code"`` (Bae et al., ICLR 2024,
indices draw for draw, replacement labels in distribution only).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from jax.typing import ArrayLike

from robustloss.table import Entry, Option, resolve

__all__ = [
    "NoisyLabels",
    "add_noise",
    "check_label_count",
    "check_mode",
    "class_map",
    "empirical_transition",
    "from_labels",
    "instance_dependent",
    "list_class_maps",
    "list_noise_kinds",
    "pair",
    "read_label_file",
    "superclass",
    "superclass_map",
    "symmetric",
    "uniform",
]


class NoisyLabels(NamedTuple):
    """Noisy labels with the transition matrix that generated them.

    Attributes:
      labels: int32 ``[N]`` noisy labels in ``[0, K)``.
      T: float64 ``[K, K]`` row-stochastic, ``T[clean, noisy]``. For instance-dependent noise the
        class-conditional average of the per-example rows; for real labels the empirical matrix.
      is_noisy: bool ``[N]``, ``labels != clean labels``.
    """

    labels: np.ndarray
    T: np.ndarray
    is_noisy: np.ndarray


# --------------------------------------------------------------------------------------------
# Built-in class maps.
# --------------------------------------------------------------------------------------------


def _swaps(k: int, pairs: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    m = list(range(k))
    for a, b in pairs:
        m[a], m[b] = b, a
    return tuple(m)


# RENT (Bae et al. 2024), ``data/noise_generator.py`` lists: y -> list[y].
_PAIR_MAPS: dict[str, tuple[int, ...]] = {
    "mnist": (0, 1, 7, 8, 4, 6, 5, 7, 8, 9),
    "svhn": (0, 1, 7, 8, 4, 6, 5, 7, 8, 9),
    "fashion_mnist": (6, 1, 4, 3, 4, 7, 6, 7, 8, 9),
    "cifar10": (0, 1, 0, 5, 7, 3, 6, 7, 8, 1),
    # LDR (Zhu et al. 2023), ``utils.py`` class-dependent pair swaps (0 = first class).
    "letter": _swaps(
        26,
        [
            (1, 3),
            (2, 6),
            (4, 5),
            (7, 13),
            (8, 11),
            (10, 23),
            (12, 22),
            (14, 16),
            (15, 17),
            (20, 21),
        ],
    ),
    "vowel": _swaps(11, [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]),
    "news20": _swaps(20, [(2, 5), (3, 4), (7, 8), (9, 10), (11, 12), (15, 18)]),
}
_PAIR_ALIASES = {"fmnist": "fashion_mnist", "svhn_cropped": "svhn", "cifar-10": "cifar10"}

# CIFAR-100 fine label -> coarse (superclass) label, in the TFDS / Krizhevsky label order.
_CIFAR100_COARSE = (
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
)  # fmt: skip
_SUPERCLASS_MAPS: dict[str, tuple[int, ...]] = {"cifar100": _CIFAR100_COARSE}


def list_class_maps() -> list[str]:
    """Names accepted by :func:`class_map` (pair maps) and :func:`superclass_map`."""
    return sorted([*_PAIR_MAPS, "next"]) + sorted(_SUPERCLASS_MAPS)


def class_map(name: str, num_classes: int | None = None) -> np.ndarray:
    """Returns a built-in pair-noise class map ``y -> m[y]`` by name.

    Maps: RENT's ``mnist``/``svhn`` ``[0,1,7,8,4,6,5,7,8,9]``, ``fashion_mnist``
    ``[6,1,4,3,4,7,6,7,8,9]``, ``cifar10`` ``[0,1,0,5,7,3,6,7,8,1]``; LDR's ``letter`` (26),
    ``vowel`` (11), ``news20`` (20) pair swaps; and ``next``, ``m[y] = (y + 1) mod K`` (needs
    ``num_classes``). Classes with ``m[y] = y`` are never corrupted.

    Args:
      name: one of :func:`list_class_maps` (pair maps).
      num_classes: K, required for ``"next"``; when given for other maps it must match.

    Returns:
      int32 ``[K]`` array.

    Example:
      >>> class_map("cifar10").tolist()
      [0, 1, 0, 5, 7, 3, 6, 7, 8, 1]

    References:
      Bae et al., "Dirichlet-based Per-Sample Weighting by Transition Matrix for Noisy Label
      Learning", ICLR 2024; Zhu et al., "Label Distributionally Robust Losses for Multi-class
      Classification", ICML 2023.
    """
    key = _PAIR_ALIASES.get(name, name)
    if key == "next":
        if num_classes is None or int(num_classes) < 2:
            raise ValueError(f"class_map('next') needs num_classes >= 2, got {num_classes!r}")
        return ((np.arange(num_classes) + 1) % num_classes).astype(np.int32)
    if key not in _PAIR_MAPS:
        raise ValueError(
            f"unknown class map {name!r}; choose one of {sorted([*_PAIR_MAPS, 'next'])}"
        )
    m = np.asarray(_PAIR_MAPS[key], dtype=np.int32)
    if num_classes is not None and len(m) != num_classes:
        raise ValueError(f"class map {name!r} has {len(m)} classes, but num_classes={num_classes}")
    return m


def superclass_map(name: str = "cifar100") -> np.ndarray:
    """Returns a built-in fine -> group (superclass) map, e.g. CIFAR-100's 100 -> 20 map.

    Args:
      name: ``"cifar100"`` (the fine->coarse table of Krizhevsky 2009, in TFDS label order).

    Returns:
      int32 ``[K]`` array of group ids.

    Example:
      >>> superclass_map("cifar100")[:5].tolist()
      [4, 1, 14, 8, 0]
    """
    if name not in _SUPERCLASS_MAPS:
        raise ValueError(
            f"unknown superclass map {name!r}; choose one of {sorted(_SUPERCLASS_MAPS)}"
        )
    return np.asarray(_SUPERCLASS_MAPS[name], dtype=np.int32)


# --------------------------------------------------------------------------------------------
# Validation helpers.
# --------------------------------------------------------------------------------------------

_SAMPLINGS = ("exact", "bernoulli")
_MODES = ("ours", "ldr_code", "rent_code")


def _check_labels(labels: ArrayLike, num_classes: int) -> np.ndarray:
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of class ids, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"label {bad} is outside [0, {num_classes}) (num_classes={num_classes})"
            )
    return y


def _check_rate(rate: float) -> float:
    r = float(rate)
    if not 0.0 <= r < 1.0:
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")
    return r


def _check_sampling(sampling: str) -> None:
    if sampling not in _SAMPLINGS:
        raise ValueError(f"sampling must be one of {_SAMPLINGS}, got {sampling!r}")


def _check_map(m: ArrayLike | str, num_classes: int, what: str = "class_map") -> np.ndarray:
    if isinstance(m, str):
        m = class_map(m, num_classes) if what == "class_map" else superclass_map(m)
    arr = np.asarray(m)
    if arr.ndim != 1 or len(arr) != num_classes:
        raise ValueError(
            f"{what} must have length num_classes={num_classes}, got shape {arr.shape}"
        )
    arr = arr.astype(np.int64)
    if what == "class_map" and (arr.min() < 0 or arr.max() >= num_classes):
        bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
        raise ValueError(f"{what} entry {bad} is outside [0, {num_classes})")
    if what == "superclass_map" and arr.min() < 0:
        raise ValueError(f"{what} entry {int(arr.min())} is negative")
    return arr


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _select(y: np.ndarray, num_classes: int, rate: float, sampling: str, rng) -> np.ndarray:
    """Bool mask of examples to corrupt: stratified exact count or Bernoulli."""
    _check_sampling(sampling)
    n = len(y)
    if sampling == "bernoulli":
        return rng.random(n) < rate
    mask = np.zeros(n, dtype=bool)
    for k in range(num_classes):
        idx = np.flatnonzero(y == k)
        count = int(np.floor(rate * len(idx) + 0.5))
        if count:
            mask[rng.permutation(idx)[:count]] = True
    return mask


def _result(clean: np.ndarray, noisy: np.ndarray, T: np.ndarray) -> NoisyLabels:
    noisy = noisy.astype(np.int32)
    return NoisyLabels(noisy, np.asarray(T, dtype=np.float64), noisy != clean)


def _symmetric_T(k: int, rate: float) -> np.ndarray:
    return (1.0 - rate) * np.eye(k) + rate / (k - 1) * (1.0 - np.eye(k))


def _uniform_T(k: int, rate: float) -> np.ndarray:
    return (1.0 - rate) * np.eye(k) + rate / k


def _pair_T(m: np.ndarray, rate: float) -> np.ndarray:
    k = len(m)
    T = np.eye(k)
    for c in range(k):
        if m[c] != c:
            T[c, c] = 1.0 - rate
            T[c, m[c]] = rate
    return T


def _superclass_T(groups: np.ndarray, rate: float, include_true: bool) -> np.ndarray:
    k = len(groups)
    T = np.zeros((k, k))
    for c in range(k):
        members = np.flatnonzero(groups == groups[c])
        s = len(members)
        if s == 1:
            T[c, c] = 1.0
        elif include_true:
            T[c, members] = rate / s
            T[c, c] += 1.0 - rate
        else:
            T[c, members] = rate / (s - 1)
            T[c, c] = 1.0 - rate
    return T


# --------------------------------------------------------------------------------------------
# Generators ("ours").
# --------------------------------------------------------------------------------------------


def symmetric(
    labels: ArrayLike,
    *,
    num_classes: int,
    rate: float,
    seed: int | np.random.Generator = 0,
    sampling: str = "exact",
) -> NoisyLabels:
    """Symmetric noise: flip to a uniformly drawn *different* class with probability ``rate``.

    ``T = (1 − rate)·I + rate/(K − 1)·(11ᵀ − I)``; the error rate equals ``rate``.

    Args:
      labels: int ``[N]`` clean labels in ``[0, K)``.
      num_classes: K >= 2.
      rate: flip probability in ``[0, 1)``.
      seed: non-negative int (or a ``numpy.random.Generator``).
      sampling: ``"exact"`` (exactly ``round(rate·n_k)`` flips in every class k) or
        ``"bernoulli"`` (independent flips).

    Returns:
      :class:`NoisyLabels`.

    Example:
      >>> out = symmetric([0, 1, 2, 3] * 25, num_classes=4, rate=0.2, seed=0)
      >>> int(out.is_noisy.sum())
      20

    References:
      Van Rooyen, Menon and Williamson, "Learning with Symmetric Label Noise: The Importance of
      Being Unhinged", NeurIPS 2015.
    """
    y = _check_labels(labels, num_classes)
    rate = _check_rate(rate)
    rng = _rng(seed)
    mask = _select(y, num_classes, rate, sampling, rng)
    offset = rng.integers(1, num_classes, size=int(mask.sum()))
    noisy = y.copy()
    noisy[mask] = (y[mask] + offset) % num_classes
    return _result(y, noisy, _symmetric_T(num_classes, rate))


def uniform(
    labels: ArrayLike,
    *,
    num_classes: int,
    rate: float,
    seed: int | np.random.Generator = 0,
    sampling: str = "exact",
) -> NoisyLabels:
    """Uniform noise: with probability ``rate`` replace the label by a draw over *all* K classes.

    ``T = (1 − rate)·I + rate/K·11ᵀ``; the redraw may return the true class, so the error rate is
    ``rate·(K − 1)/K`` (the convention of the LDR paper and DivideMix). With ``"exact"`` sampling
    exactly ``round(rate·n_k)`` examples of class k are *redrawn* (about ``1/K`` of them keep their
    label).

    Args:
      labels: int ``[N]`` clean labels in ``[0, K)``.
      num_classes: K >= 2.
      rate: redraw probability in ``[0, 1)``.
      seed: non-negative int (or a ``numpy.random.Generator``).
      sampling: ``"exact"`` or ``"bernoulli"``.

    Returns:
      :class:`NoisyLabels`.

    Example:
      >>> out = uniform(np.zeros(1000, int), num_classes=2, rate=0.5, seed=0)
      >>> out.T.tolist()
      [[0.75, 0.25], [0.25, 0.75]]

    References:
      Zhu et al., "Label Distributionally Robust Losses for Multi-class Classification:
      Consistency, Robustness and Adaptivity", ICML 2023.
    """
    y = _check_labels(labels, num_classes)
    rate = _check_rate(rate)
    rng = _rng(seed)
    mask = _select(y, num_classes, rate, sampling, rng)
    noisy = y.copy()
    noisy[mask] = rng.integers(0, num_classes, size=int(mask.sum()))
    return _result(y, noisy, _uniform_T(num_classes, rate))


def pair(
    labels: ArrayLike,
    *,
    num_classes: int,
    rate: float,
    class_map: ArrayLike | str = "next",
    seed: int | np.random.Generator = 0,
    sampling: str = "exact",
) -> NoisyLabels:
    """Pair (asymmetric, class-dependent) noise: ``y → class_map[y]`` with probability ``rate``.

    ``T[c, c] = 1 − rate`` and ``T[c, m[c]] = rate`` for every class with ``m[c] ≠ c``; classes
    with ``m[c] = c`` keep ``T[c, c] = 1``. The error rate is ``rate`` on the flipping classes and
    ``rate × (fraction of examples in flipping classes)`` overall. Flips are applied once from the
    clean labels (never in sequence), so swaps such as cat↔dog stay symmetric.

    Args:
      labels: int ``[N]`` clean labels in ``[0, K)``.
      num_classes: K >= 2.
      rate: flip probability in ``[0, 1)``.
      class_map: int ``[K]`` array with entries in ``[0, K)``, or a name of :func:`class_map`
        (default ``"next"``, ``(y + 1) mod K``).
      seed: non-negative int (or a ``numpy.random.Generator``).
      sampling: ``"exact"`` (``round(rate·n_k)`` flips in every flipping class) or
        ``"bernoulli"``.

    Returns:
      :class:`NoisyLabels`.

    Example:
      >>> out = pair([2, 2, 3, 3], num_classes=10, rate=0.5, class_map="cifar10", seed=0)
      >>> sorted(out.labels.tolist())
      [0, 2, 3, 5]

    References:
      Patrini et al., "Making Deep Neural Networks Robust to Label Noise: a Loss Correction
      Approach", CVPR 2017; Zhu et al., ICML 2023; Bae et al., ICLR 2024.
    """
    y = _check_labels(labels, num_classes)
    rate = _check_rate(rate)
    m = _check_map(class_map, num_classes)
    rng = _rng(seed)
    _check_sampling(sampling)
    flipping = m[y] != y
    if sampling == "exact":
        mask = np.zeros(len(y), dtype=bool)
        sub = _select(np.where(flipping, y, -1), num_classes, rate, sampling, rng)
        mask[flipping] = sub[flipping]
    else:
        mask = _select(y, num_classes, rate, sampling, rng) & flipping
    noisy = np.where(mask, m[y], y)
    return _result(y, noisy, _pair_T(m, rate))


def superclass(
    labels: ArrayLike,
    *,
    num_classes: int = 100,
    rate: float,
    groups: ArrayLike | str = "cifar100",
    include_true: bool = False,
    seed: int | np.random.Generator = 0,
    sampling: str = "exact",
) -> NoisyLabels:
    """Superclass noise: flip uniformly within the true class's group (CIFAR-100 superclasses).

    With ``include_true=False`` (default) a corrupted label is drawn uniformly from the *other*
    ``s − 1`` classes of the group: ``T[c, c] = 1 − rate``, ``T[c, c'] = rate/(s − 1)`` for ``c'``
    in the group; error rate ``rate``. With ``include_true=True`` the draw is over all ``s``
    group members (as RENT's code does): ``T[c, c] = 1 − rate + rate/s``; error rate
    ``rate·(s − 1)/s``. Labels never leave their group; singleton groups are never corrupted.

    Args:
      labels: int ``[N]`` clean fine labels in ``[0, K)``.
      num_classes: K (100 for CIFAR-100).
      rate: corruption probability in ``[0, 1)``.
      groups: int ``[K]`` fine -> group map, or a :func:`superclass_map` name (``"cifar100"``).
      include_true: whether the redraw may return the true class.
      seed: non-negative int (or a ``numpy.random.Generator``).
      sampling: ``"exact"`` or ``"bernoulli"``.

    Returns:
      :class:`NoisyLabels`.

    Example:
      >>> out = superclass(np.arange(100), rate=0.5, seed=0)
      >>> bool(np.all(superclass_map()[out.labels] == superclass_map()))
      True

    References:
      Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009 (the superclass
      table); Bae et al., ICLR 2024.
    """
    y = _check_labels(labels, num_classes)
    rate = _check_rate(rate)
    g = _check_map(groups, num_classes, what="superclass_map")
    rng = _rng(seed)
    mask = _select(y, num_classes, rate, sampling, rng)
    noisy = y.copy()
    for c in range(num_classes):
        members = np.flatnonzero(g == g[c])
        if len(members) == 1:
            continue
        choices = members if include_true else members[members != c]
        sel = np.flatnonzero(mask & (y == c))
        noisy[sel] = choices[rng.integers(0, len(choices), size=len(sel))]
    return _result(y, noisy, _superclass_T(g, rate, include_true))


def instance_dependent(
    labels: ArrayLike,
    *,
    num_classes: int,
    rate: float,
    features: ArrayLike,
    seed: int | np.random.Generator = 0,
    std: float = 0.1,
    normalize: bool = False,
    return_probs: bool = False,
) -> NoisyLabels | tuple[NoisyLabels, np.ndarray]:
    """Instance-dependent noise (IDN) following Xia et al. (2020).

    For each example ``i`` with flattened features ``x_i`` (as given by default; L2-normalised
    when ``normalize``):
    ``q_i ~ TruncNormal(rate, std², [0, 1])``, ``W ~ N(0, 1)`` of shape ``[K, D, K]``,
    ``z_i = x_iᵀ W[y_i]`` with ``z_i[y_i] = −∞``, ``p_i = q_i·softmax(z_i)`` and
    ``p_i[y_i] = 1 − q_i``; the noisy label is drawn from ``p_i``. The expected error rate is
    ``E[q] ≈ rate``. ``T`` is per example; the returned ``T[k]`` is the mean of ``p_i`` over the
    examples of clean class k (rows of absent classes are identity), i.e. the class-level
    ``P(noisy | clean)``. ``sampling`` does not apply: every example is drawn from its ``p_i``.
    The default is the common implementation (Xia et al.'s code, also RENT's): the raw or
    ToTensor-scaled features times W, no normalisation. On images ``z_i`` is then large and
    ``softmax(z_i)`` nearly one-hot (each example flips to one fixed class w.p. ``q_i``; on
    CIFAR-shaped [0, 1] inputs about 0.97 of the flip mass is on the likeliest wrong class).
    ``normalize=True`` scales each row to unit L2 norm first, a much softer flip distribution
    (about 0.36 on the same inputs), which earlier versions of this module used by default.

    Args:
      labels: int ``[N]`` clean labels in ``[0, K)``.
      num_classes: K >= 2.
      rate: mean flip probability in ``[0, 1)``.
      features: ``[N, ...]`` features (flattened to ``[N, D]``).
      seed: non-negative int (or a ``numpy.random.Generator``).
      std: standard deviation of the truncated normal (0.1 in the paper).
      normalize: scale each feature row to unit L2 norm before the projection (default False:
        the common form).
      return_probs: also return the per-example rows ``p_i`` (float64 ``[N, K]``).

    Returns:
      :class:`NoisyLabels`, or ``(NoisyLabels, probs)`` when ``return_probs``.

    Example:
      >>> x = np.random.default_rng(0).normal(size=(1000, 8))
      >>> out = instance_dependent(np.arange(1000) % 4, num_classes=4, rate=0.3, features=x)
      >>> out.T.shape
      (4, 4)

    References:
      Xia et al., "Part-dependent Label Noise: Towards Instance-dependent Label Noise",
      NeurIPS 2020.
    """
    from scipy import stats

    y = _check_labels(labels, num_classes)
    rate = _check_rate(rate)
    x = np.asarray(features, dtype=np.float64)
    if x.ndim < 1 or x.shape[0] != len(y):
        raise ValueError(f"features must have {len(y)} rows (one per label), got shape {x.shape}")
    x = x.reshape(len(y), -1)
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(
            f"features hold {int(bad.sum())} non-finite values (NaN/inf) in {len(rows)} rows, "
            f"first row {int(rows[0])}; instance-dependent noise needs finite features"
        )
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std!r}")
    rng = _rng(seed)
    n, d = x.shape
    k = num_classes
    q = stats.truncnorm.rvs(
        (0.0 - rate) / std, (1.0 - rate) / std, loc=rate, scale=std, size=n, random_state=rng
    )
    w = rng.standard_normal((k, d, k))
    probs = np.empty((n, k))
    for c in range(k):
        idx = np.flatnonzero(y == c)
        if not len(idx):
            continue
        z = x[idx] @ w[c]
        z[:, c] = -np.inf
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = q[idx, None] * e / e.sum(axis=1, keepdims=True)
        p[:, c] = 1.0 - q[idx]
        probs[idx] = p
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(n)[:, None] * cdf[:, -1:]
    noisy = np.minimum((u >= cdf).sum(axis=1), k - 1)
    T = np.eye(k)
    for c in range(k):
        idx = y == c
        if idx.any():
            T[c] = probs[idx].mean(axis=0)
    out = _result(y, noisy, T)
    return (out, probs) if return_probs else out


def empirical_transition(clean: ArrayLike, noisy: ArrayLike, num_classes: int) -> np.ndarray:
    """Empirical ``T[i, j] = #{clean = i, noisy = j} / #{clean = i}`` (identity rows if absent).

    Args:
      clean: int ``[N]`` clean labels in ``[0, K)``.
      noisy: int ``[N]`` noisy labels in ``[0, K)``.
      num_classes: K.

    Returns:
      float64 ``[K, K]`` row-stochastic matrix.

    Example:
      >>> empirical_transition([0, 0, 1, 1], [0, 1, 1, 1], 2).tolist()
      [[0.5, 0.5], [0.0, 1.0]]
    """
    c = _check_labels(clean, num_classes)
    z = _check_labels(noisy, num_classes)
    if len(c) != len(z):
        raise ValueError(f"clean and noisy labels differ in length: {len(c)} vs {len(z)}")
    counts = np.zeros((num_classes, num_classes))
    np.add.at(counts, (c, z), 1.0)
    rows = counts.sum(axis=1, keepdims=True)
    return np.where(rows > 0, counts / np.maximum(rows, 1.0), np.eye(num_classes))


_CIFARN_KEYS = {
    "aggre": "aggre_label",
    "rand1": "random_label1",
    "random1": "random_label1",
    "rand2": "random_label2",
    "random2": "random_label2",
    "rand3": "random_label3",
    "random3": "random_label3",
    "worst": "worse_label",
    "worse": "worse_label",
    "noisy": "noisy_label",  # CIFAR-100N
    "clean": "clean_label",
}


def read_label_file(
    path: str | os.PathLike,
    key: str | None = None,
    *,
    column: int | None = None,
    expected_rows: int | None = None,
) -> np.ndarray:
    """Reads one label per example from ``.npy``, ``.npz`` or ``.csv``/``.tsv``/``.txt``.

    Nothing is guessed: a 2-D array (e.g. ``[N, 2]``) is never flattened — pass ``column=`` to
    pick its label column (``[N, 1]`` is taken as ``[N]``); a text file's first line is a header
    only if every cell is a column name (starts with a letter or ``_``, not a number), and a
    first line that is neither integers nor names is an error (taking a garbled first line as a
    header would shift every label by one). Every error names the file.

    Args:
      path: the file.
      key: array (``.npz``) or header column (text) to read; CIFAR-N short names (``aggre``,
        ``rand1``..``rand3``, ``worst``, ``noisy``) are accepted.
      column: 0-based column of a 2-D array or of a text file (with or without a header).
      expected_rows: if given, the file must hold exactly this many labels (the dataset's
        source rows; see `check_label_count`).

    Returns:
      ``[N]`` labels as stored (values are checked by :func:`from_labels`).

    Raises:
      FileNotFoundError: no such file.
      ValueError: unsupported type, ambiguous or malformed content, wrong row count.

    Example:
      >>> import tempfile
      >>> f = os.path.join(tempfile.mkdtemp(), "y.npy"); np.save(f, np.array([2, 0, 1]))
      >>> read_label_file(f).tolist()
      [2, 0, 1]
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"noisy-label file {p!r} does not exist")
    if column is not None and (
        isinstance(column, bool) or not isinstance(column, (int, np.integer)) or column < 0
    ):
        raise ValueError(f"{p!r}: column must be a non-negative int, got {column!r}")
    ext = os.path.splitext(p)[1].lower()
    if ext == ".npy":
        out = _label_column(np.load(p, allow_pickle=False), column, f"{p!r}")
    elif ext == ".npz":
        with np.load(p, allow_pickle=False) as z:
            names = list(z.files)
            if key is None:
                if len(names) != 1:
                    raise ValueError(f"{p!r} holds arrays {names}; pass key= to choose one")
                k = names[0]
            else:
                k = key if key in names else _CIFARN_KEYS.get(key, key)
                if k not in names:
                    raise ValueError(f"key {key!r} not in {p!r}; it holds {names}")
            out = _label_column(z[k], column, f"{p!r} array {k!r}")
    elif ext in (".csv", ".txt", ".tsv"):
        out = _read_label_text(p, "\t" if ext == ".tsv" else ",", key, column)
    else:
        raise ValueError(
            f"unsupported noisy-label file type {ext!r} ({p!r}); use .npy, .npz, .csv/.tsv/.txt "
            "(convert a torch .pt file with torch.load(...) and numpy.save)"
        )
    if expected_rows is not None:
        check_label_count(out, expected_rows, source=repr(p))
    return out


def check_label_count(labels: ArrayLike, expected_rows: int, *, source: str = "labels") -> None:
    """Raises ``ValueError`` unless ``labels`` holds exactly ``expected_rows`` entries.

    A noisy-label file aligned by source row must have one label per row of the dataset's
    source order: a longer file (e.g. a different dataset or split) or a shorter one is
    misaligned even when every index happens to be in range.

    Example:
      >>> check_label_count(np.zeros(3), 4, source="'c10n.npy'")
      Traceback (most recent call last):
      ...
      ValueError: 'c10n.npy' holds 3 labels but the dataset has 4 source rows ...
    """
    n = len(np.asarray(labels).reshape(-1)) if np.ndim(labels) else 1
    if n != int(expected_rows):
        more = "more" if n > expected_rows else "fewer"
        raise ValueError(
            f"{source} holds {n} labels but the dataset has {int(expected_rows)} source rows "
            f"({more} labels than rows): the file must hold one label per source row, in the "
            "source order"
        )


def _label_column(arr: np.ndarray, column: int | None, where: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 1:
        if column not in (None, 0):
            raise ValueError(f"{where} is 1-D (shape {arr.shape}); column={column} does not apply")
        return arr
    if arr.ndim == 2:
        if column is None:
            if arr.shape[1] == 1:
                return arr[:, 0]
            raise ValueError(
                f"{where} has shape {arr.shape}: one label per row is needed; pass column=<0.."
                f"{arr.shape[1] - 1}> to choose the label column (a 2-D array is not flattened)"
            )
        if column >= arr.shape[1]:
            raise ValueError(f"{where} has {arr.shape[1]} columns; column={column} is out of range")
        return arr[:, column]
    raise ValueError(f"{where} has shape {arr.shape}; expected [N] labels (or [N, C] with column=)")


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .\-]*$")


def _read_label_text(p: str, delim: str, key, column) -> np.ndarray:
    with open(p) as f:
        lines = [(i, ln.strip()) for i, ln in enumerate(f, 1)]
    lines = [(i, ln) for i, ln in lines if ln]
    if not lines:
        raise ValueError(f"{p!r} is empty")
    first_no, first = lines[0]
    cells = [c.strip() for c in first.split(delim)]
    if all(_is_int(c) for c in cells):
        names = None
    elif all(_NAME.match(c) for c in cells):
        names = cells
        lines = lines[1:]
    else:
        raise ValueError(
            f"{p!r} line {first_no} ({first!r}) is neither integer labels nor a header of column "
            "names; fix the file (a garbled first line is not taken as a header)"
        )
    if names is not None:
        if key is not None:
            k = key if key in names else _CIFARN_KEYS.get(key, key)
            if k not in names:
                raise ValueError(f"column {key!r} not in {p!r}; it has {names}")
            col = names.index(k)
        elif column is not None:
            if column >= len(names):
                raise ValueError(f"{p!r} has columns {names}; column={column} is out of range")
            col = column
        elif len(names) == 1:
            col = 0
        else:
            raise ValueError(f"{p!r} has columns {names}; pass key= (a name) or column=")
    else:
        if key is not None:
            raise ValueError(
                f"{p!r} has no header row, so key={key!r} cannot name a column; pass column="
            )
        if column is not None:
            col = column
        elif len(cells) == 1:
            col = 0
        else:
            raise ValueError(
                f"{p!r} line {first_no} has {len(cells)} columns and there is no header; pass "
                "column= to choose the label column"
            )
    out = []
    for i, ln in lines:
        row = ln.split(delim)
        if col >= len(row) or not _is_int(row[col]):
            raise ValueError(f"{p!r} line {i}: expected an integer in column {col}, got {ln!r}")
        out.append(int(row[col]))
    if not out:
        raise ValueError(f"{p!r} holds a header but no labels")
    return np.asarray(out)


def _is_int(s: str) -> bool:
    try:
        int(s.strip())
    except ValueError:
        return False
    return True


def _check_label_values(z: np.ndarray, num_classes: int, source: str) -> np.ndarray:
    """Integer-valued labels in ``[0, K)``; the error names the source, the value and its row."""
    z = np.asarray(z)
    if z.ndim != 1:
        raise ValueError(f"{source}: noisy labels must be 1-D [N], got shape {z.shape}")
    if z.dtype.kind not in "iub":
        try:
            f = z.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: labels must be integers, got dtype {z.dtype}") from None
        bad = np.flatnonzero(~np.isfinite(f) | (f != np.round(f)))
        if len(bad):
            i = int(bad[0])
            raise ValueError(
                f"{source}: label {z[i].item()!r} at row {i} is not an integer class id "
                f"({len(bad)} such rows); labels must be integers in [0, {num_classes})"
            )
        z = f
    z = z.astype(np.int64)
    out = np.flatnonzero((z < 0) | (z >= num_classes))
    if len(out):
        i = int(out[0])
        raise ValueError(
            f"{source}: label {int(z[i])} at row {i} is outside [0, {num_classes}) "
            f"(num_classes={num_classes}; {len(out)} such rows)"
        )
    return z


def from_labels(
    clean_labels: ArrayLike,
    noisy: ArrayLike | str | os.PathLike,
    *,
    num_classes: int,
    key: str | None = None,
    column: int | None = None,
) -> NoisyLabels:
    """Real noisy labels (e.g. CIFAR-10N) from an array or a file, with their empirical T.

    Args:
      clean_labels: int ``[N]`` clean labels in ``[0, K)`` (same order as the noisy labels).
      noisy: int ``[N]`` array, or a path to ``.npy``, ``.npz`` (pick the array with ``key``;
        CIFAR-N names ``aggre``, ``rand1``..``rand3``, ``worst``, ``noisy`` map to
        ``aggre_label``, ``random_label1``.., ``worse_label``, ``noisy_label``) or
        ``.csv``/``.tsv``/``.txt`` (one integer per line, or a header row and ``key`` column);
        see :func:`read_label_file` (nothing is guessed).
      num_classes: K.
      key: array/column name in the file.
      column: column of a 2-D array or text file (see :func:`read_label_file`).

    Returns:
      :class:`NoisyLabels` with ``T = empirical_transition(clean, noisy)``.

    Raises:
      ValueError: naming the file (or "noisy labels" for an array), for a label that is not an
        integer in ``[0, K)`` (with its value and row) or a length that differs from the clean
        labels'.

    Example:
      >>> from_labels([0, 1, 1], [0, 0, 1], num_classes=2).is_noisy.tolist()
      [False, True, False]

    References:
      Wei et al., "Learning with Noisy Labels Revisited: A Study Using Real-World Human
      Annotations", ICLR 2022.
    """
    y = _check_labels(clean_labels, num_classes)
    source = "noisy labels"
    if isinstance(noisy, (str, os.PathLike)):
        source = f"noisy-label file {os.fspath(noisy)!r}"
        noisy = read_label_file(noisy, key, column=column)
    elif column is not None:
        noisy = _label_column(np.asarray(noisy), column, source)
    z = _check_label_values(np.asarray(noisy), num_classes, source)
    if len(z) != len(y):
        raise ValueError(f"{source}: {len(z)} noisy labels for {len(y)} clean labels")
    return _result(y, z, empirical_transition(y, z, num_classes))


# --------------------------------------------------------------------------------------------
# Paper-exact modes.
# --------------------------------------------------------------------------------------------


def _legacy_seed(seed, default: int, mode: str) -> int:
    """The integer seed of a paper-exact mode (None -> the mode's default)."""
    if seed is None:
        return default
    if isinstance(seed, (bool, np.random.Generator)) or int(seed) != seed or seed < 0:
        raise ValueError(
            f"mode={mode!r} needs seed=None (default {default}) or a non-negative integer (it "
            f"seeds numpy.random.RandomState like the authors' code), got {seed!r}"
        )
    return int(seed)


def _ldr_code(y, num_classes, kind, rate, m, seed) -> NoisyLabels:
    # LDR utils.py: numpy legacy global RNG after np.random.seed(123); RandomState(seed) draws
    # the identical stream.
    rs = np.random.RandomState(_legacy_seed(seed, 123, "ldr_code"))
    n = len(y)
    noisy = y.copy()
    if kind == "uniform":
        r = rs.randint(num_classes, size=n)
        u = rs.rand(n)
        noisy[u < rate] = r[u < rate]
        return _result(y, noisy, _uniform_T(num_classes, rate))
    u = rs.rand(n)
    noisy[u < rate] = m[y[u < rate]]
    return _result(y, noisy, _pair_T(m, rate))


def _rent_code(y, num_classes, kind, rate, m, groups, seed) -> NoisyLabels:
    rs = np.random.RandomState(_legacy_seed(seed, 0, "rent_code"))
    n = len(y)
    noisy = y.copy()
    if kind == "symmetric":
        # The code's order of operations: int(n * (rate * (K / (K - 1)))), which can differ by
        # one from int(n * rate * K / (K - 1)) (N=9, rate 0.3, K=10: 3 vs 2).
        count = int(n * (rate * (num_classes / (num_classes - 1))))
        idx = rs.permutation(n)[:count]
        noisy[idx] = rs.randint(num_classes, size=count)
        return _result(y, noisy, _symmetric_T(num_classes, rate))
    if kind == "pair":
        idx = rs.permutation(n)[: int(n * rate)]
        noisy[idx] = m[y[idx]]
        return _result(y, noisy, _pair_T(m, rate))
    sizes = np.bincount(groups)[groups]
    s = int(sizes.max())
    if not np.all(sizes == s):
        raise ValueError("rent_code superclass noise needs groups of equal size")
    count = int(n * rate * s / (s - 1))
    idx = rs.permutation(n)[:count]
    for i, d in zip(idx, rs.randint(s, size=count), strict=True):
        noisy[i] = np.flatnonzero(groups == groups[y[i]])[d]
    return _result(y, noisy, _superclass_T(groups, rate * s / (s - 1), include_true=True))


# --------------------------------------------------------------------------------------------
# Public entry point.
# --------------------------------------------------------------------------------------------


def _kind_clean(y, *, num_classes, rate, seed, sampling="exact"):
    del rate, seed, sampling
    return _result(y, y.copy(), np.eye(num_classes))


def _kind_real(y, *, num_classes, rate, seed, sampling="exact", noisy_labels=None, **kw):
    del rate, seed, sampling
    if noisy_labels is None:
        raise ValueError("kind='real' needs noisy_labels= (an array or a .npy/.npz/.csv path)")
    return from_labels(y, noisy_labels, num_classes=num_classes, **kw)


def _kind_superclass(y, *, class_map="cifar100", **kw):
    return superclass(y, groups=class_map, **kw)


def _kind_instance(y, *, sampling="exact", features=None, **kw):
    if features is None:
        raise ValueError("kind='instance' needs features=[N, ...]")
    _check_sampling(sampling)
    return instance_dependent(y, features=features, **kw)


_SAMPLING = {"sampling": Option("exact", choices=_SAMPLINGS)}

# The noise kinds: name -> Entry(generator, description, options). `add_noise` checks the given
# options against the entry (unknown ones raise) and passes the given ones on; an option whose
# default is None takes the generator's own default. `meta["code_modes"]`: the papers' released
# generators (``mode=``) that implement the kind.
NOISE_KINDS: dict[str, Entry] = {
    "clean": Entry(_kind_clean, "no noise: labels unchanged, T = I", _SAMPLING),
    "symmetric": Entry(
        symmetric,
        "flip to a different class with probability rate",
        _SAMPLING,
        meta={"code_modes": ("rent_code",)},
    ),
    "uniform": Entry(
        uniform,
        "replace by a uniform draw over all K (error rate rate(K-1)/K)",
        _SAMPLING,
        meta={"code_modes": ("ldr_code",)},
    ),
    "pair": Entry(
        pair,
        "flip y to class_map[y] with probability rate (class_map: [K] array or a map's name)",
        {**_SAMPLING, "class_map": Option(None)},
        meta={"code_modes": ("ldr_code", "rent_code")},
    ),
    "superclass": Entry(
        _kind_superclass,
        "flip within the class's superclass (class_map: fine -> group, CIFAR-100 by default)",
        {
            **_SAMPLING,
            "class_map": Option(None),
            "include_true": Option(None, choices=(True, False)),
        },
        meta={"code_modes": ("rent_code",)},
    ),
    "instance": Entry(
        _kind_instance,
        "instance-dependent noise of Xia et al. 2020 (features required)",
        {
            **_SAMPLING,
            "features": Option(None),
            "std": Option(None, low=0.0),
            "normalize": Option(None, choices=(True, False)),
        },
    ),
    "real": Entry(
        _kind_real,
        "a given noisy label per example (noisy_labels: array or .npy/.npz/.csv, e.g. CIFAR-N)",
        {
            **_SAMPLING,
            "noisy_labels": Option(None),
            "key": Option(None),
            "column": Option(None, low=0, integer=True),
        },
    ),
}
NOISE_KIND_ALIASES = {
    "sym": "symmetric",
    "asym": "pair",
    "asymmetric": "pair",
    "class_dependent": "pair",
    "idn": "instance",
    "instance_dependent": "instance",
    "from_labels": "real",
    "none": "clean",
}
_KINDS = tuple(NOISE_KINDS)
SAMPLINGS = _SAMPLINGS
NOISE_MODES = _MODES


def list_noise_kinds() -> list[str]:
    """Noise kinds accepted by :func:`add_noise` (canonical names; aliases in the docs)."""
    return list(_KINDS)


def noise_kind(name: str) -> str:
    """The canonical noise kind of ``name`` (an alias such as ``"idn"`` or a kind).

    Raises:
      ValueError: unknown kind, naming the valid kinds.

    Example:
      >>> noise_kind("asym")
      'pair'
    """
    if not isinstance(name, str):
        raise ValueError(f"kind must be a string, one of {list(_KINDS)}; got {name!r}")
    k = NOISE_KIND_ALIASES.get(name.lower(), name.lower())
    if k not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {name!r}; choose one of {list(_KINDS)}")
    return k


def add_noise(
    labels: ArrayLike,
    *,
    num_classes: int,
    kind: str,
    rate: float = 0.0,
    seed: int | np.random.Generator | None = None,
    mode: str = "ours",
    **options: Any,
) -> NoisyLabels:
    """Corrupts ``labels`` with the named noise kind; the single entry point used by the harness.

    Kinds (aliases): ``clean`` (``none``), ``symmetric`` (``sym``), ``uniform``, ``pair``
    (``asym``, ``asymmetric``, ``class_dependent``), ``superclass``, ``instance`` (``idn``,
    ``instance_dependent``), ``real`` (``from_labels``; needs ``noisy_labels``). See the module
    docstring for what ``rate`` means per kind.

    Modes:
      * ``"ours"``: the generators of this module, seeded with ``numpy.random.default_rng(seed)``;
        ``seed=None`` (the default) means 0. A different seed gives a different draw (RENT's
        code reused one draw for all seeds; pass the same seed to mimic that).
      * ``"ldr_code"``: Zhu et al.'s ``utils.py``, draw for draw — ``np.random.RandomState(seed)``
        (default ``seed=None`` → 123, the paper's ``SEED``), ``uniform``: ``randint(K, size=N)``
        then ``rand(N)``, ``y ← r`` where ``u < rate``; ``pair``: ``rand(N)`` then
        ``y ← map[y]``. Their code calls the same function on the test set with rate 0 after the
        training set, which consumes RNG but changes no label; it is not replayed here. Known
        defect: uniform noise's error rate is ``rate·(K−1)/K``, not ``rate``.
      * ``"rent_code"``: Bae et al.'s ``noise_generator.py``. ``symmetric``: the first
        ``int(N·(rate·(K/(K−1))))`` (the code's float order) of
        ``RandomState(seed).permutation(N)`` get a label drawn over all K (error rate
        ``rate``); ``pair``: the first ``int(N·rate)`` indices get ``map[y]``;
        ``superclass``: the first ``int(N·rate·s/(s−1))`` indices (s = 5 for CIFAR-100) get a
        uniform draw over their superclass including themselves. The *indices* match the
        authors' code draw for draw when NumPy's global RNG was seeded with ``seed`` just
        before; the *replacement labels* are drawn with ``RandomState.randint`` after the
        permutation, whereas the code uses ``torch.randint``, so they match only in
        distribution. Known defects: the code caches the draw without the seed (one draw shared
        by all replications) and its MNIST map omits 7→1.

    Args:
      labels: int ``[N]`` clean labels in ``[0, K)``.
      num_classes: K >= 2.
      kind: a noise kind (above).
      rate: in ``[0, 1)``; ignored for ``clean`` and ``real``.
      seed: non-negative int, or a ``numpy.random.Generator`` (``"ours"`` only). Default None:
        each mode's documented default, 0 for ``"ours"`` and ``"rent_code"``, 123 (the paper's
        ``SEED``) for ``"ldr_code"``, so ``mode="ldr_code"`` without a seed is the paper's draw.
      mode: ``"ours"``, ``"ldr_code"`` or ``"rent_code"`` (``clean`` is the same in all three).
      **options: the kind's options (``NOISE_KINDS[kind].options``); any other raises.
        ``sampling``: ``"exact"`` or ``"bernoulli"`` (every kind; ``"ours"`` only; clean,
        instance and real ignore it). ``class_map``: ``pair``: a ``[K]`` map or
        :func:`class_map` name (default ``"next"``); ``superclass``: a ``[K]`` fine -> group
        map or :func:`superclass_map` name (default ``"cifar100"``). ``include_true``
        (``superclass``). ``features`` ``[N, ...]`` (required), ``std``, ``normalize``
        (``instance``). ``noisy_labels`` (array or file, required), ``key`` and ``column``
        (``real``, see :func:`from_labels`). The code modes take ``class_map`` (and
        ``sampling``, ignored).

    Returns:
      :class:`NoisyLabels` ``(labels int32 [N], T float64 [K, K], is_noisy bool [N])``.

    Raises:
      ValueError: unknown kind, mode or option (naming the valid ones), or a bad value.

    Example:
      >>> out = add_noise(np.arange(10) % 2, num_classes=2, kind="symmetric", rate=0.2, seed=1)
      >>> int(out.is_noisy.sum()), out.T[0].tolist()
      (2, [0.8, 0.2])
      >>> add_noise([0, 1], num_classes=2, kind="pair", rate=0.2, classmap=[1, 0])
      ... # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: unknown option(s) ['classmap'] for noise kind 'pair'; valid: ['class_map', ...]
    """
    k = noise_kind(kind)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    entry = NOISE_KINDS[k]
    y = _check_labels(labels, num_classes)
    if k != "real":
        rate = _check_rate(rate)
    if mode == "ours" or k == "clean":  # no noise: the same in every mode (no draw)
        resolve(entry, options, f"noise kind {k!r}")
        given = {name: v for name, v in options.items() if v is not None}
        seed = 0 if seed is None else seed
        return entry.factory(y, num_classes=num_classes, rate=rate, seed=seed, **given)
    return _code_mode(y, num_classes, k, kind, rate, seed, mode, options)


def check_mode(kind: str, mode: str) -> None:
    """Raises ``ValueError`` unless noise ``kind`` can be drawn in ``mode`` (``clean`` always:
    no noise is the same in every mode); cheap, so configs check it before loading data."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    k = noise_kind(kind)
    if mode == "ours" or k == "clean":
        return
    if mode not in NOISE_KINDS[k].meta.get("code_modes", ()):
        supported = [n for n, e in NOISE_KINDS.items() if mode in e.meta.get("code_modes", ())]
        supported = ", ".join(repr(n) for n in ["clean", *supported])
        raise ValueError(f"mode={mode!r} supports kinds {supported}, got {kind!r}")


def _code_mode(y, num_classes, k, kind, rate, seed, mode, options) -> NoisyLabels:
    """``mode="ldr_code"`` / ``"rent_code"``: the papers' released generators."""
    check_mode(kind, mode)
    valid = {"class_map", "sampling"}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for noise kind {k!r} with mode={mode!r}; "
            f"valid: {sorted(valid)}"
        )
    cm = options.get("class_map")
    if mode == "ldr_code":
        m = _check_map("next" if cm is None else cm, num_classes)
        return _ldr_code(y, num_classes, k, rate, m, seed)
    m = g = None
    if k == "pair":
        m = _check_map("next" if cm is None else cm, num_classes)
    if k == "superclass":
        g = _check_map("cifar100" if cm is None else cm, num_classes, "superclass_map")
    return _rent_code(y, num_classes, k, rate, m, g, seed)
