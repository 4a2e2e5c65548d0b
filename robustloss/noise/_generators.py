"""The label-noise generators ("ours"), their true transition matrices, and real labels."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from jax.typing import ArrayLike

from robustloss.noise._class_maps import PAIR_MAP, SUPERCLASS_MAP, class_map, superclass_map
from robustloss.options import Option


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


_SAMPLINGS = ("exact", "bernoulli")
_MODES = ("ours", "ldr_code", "rent_code")

# The generators' options as the noise-kind table (`robustloss.noise.NOISE_KINDS`) offers them;
# each default is written here once and the generators' keyword defaults are these.
SAMPLING = Option("exact", choices=_SAMPLINGS)
INCLUDE_TRUE = Option(False, choices=(True, False))
IDN_STD = Option(0.1, low=0.0, low_open=True)
IDN_NORMALIZE = Option(False, choices=(True, False))


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


def symmetric(
    labels: ArrayLike,
    *,
    num_classes: int,
    rate: float,
    seed: int | np.random.Generator = 0,
    sampling: str = SAMPLING.default,
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
    sampling: str = SAMPLING.default,
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
    class_map: ArrayLike | str = PAIR_MAP.default,
    seed: int | np.random.Generator = 0,
    sampling: str = SAMPLING.default,
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
    groups: ArrayLike | str = SUPERCLASS_MAP.default,
    include_true: bool = INCLUDE_TRUE.default,
    seed: int | np.random.Generator = 0,
    sampling: str = SAMPLING.default,
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
    std: float = IDN_STD.default,
    normalize: bool = IDN_NORMALIZE.default,
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


def check_label_values(z: ArrayLike, num_classes: int, source: str = "labels") -> np.ndarray:
    """Integer-valued labels in ``[0, K)`` as int64 ``[N]``; else a ``ValueError`` naming
    ``source``, the first bad value and its row (a float 0.5 or NaN is never truncated to an id).

    Example:
      >>> check_label_values([0, 2.0], 3).tolist()
      [0, 2]
    """
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
    noisy: ArrayLike,
    *,
    num_classes: int,
    source: str = "noisy labels",
) -> NoisyLabels:
    """Real noisy labels (e.g. CIFAR-10N) given as an array, with their empirical T.

    Args:
      clean_labels: int ``[N]`` clean labels in ``[0, K)`` (same order as the noisy labels).
      noisy: int ``[N]`` noisy labels in the same order (reading them from a file is the
        harness's job: ``robustloss.data.read_label_file``).
      num_classes: K.
      source: how errors name the labels (e.g. the file they came from).

    Returns:
      :class:`NoisyLabels` with ``T = empirical_transition(clean, noisy)``.

    Raises:
      ValueError: naming ``source``, for a label that is not an integer in ``[0, K)`` (with its
        value and row) or a length that differs from the clean labels'.

    Example:
      >>> from_labels([0, 1, 1], [0, 0, 1], num_classes=2).is_noisy.tolist()
      [False, True, False]

    References:
      Wei et al., "Learning with Noisy Labels Revisited: A Study Using Real-World Human
      Annotations", ICLR 2022.
    """
    y = _check_labels(clean_labels, num_classes)
    z = check_label_values(noisy, num_classes, source)
    if len(z) != len(y):
        raise ValueError(f"{source}: {len(z)} noisy labels for {len(y)} clean labels")
    return _result(y, z, empirical_transition(y, z, num_classes))
