"""The papers' released noise procedures, replayed: ``mode="ldr_code"`` and ``mode="rent_code"``."""

from __future__ import annotations

import numpy as np

from robustloss.noise._generators import (
    NoisyLabels,
    _pair_T,
    _result,
    _superclass_T,
    _symmetric_T,
    _uniform_T,
)


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
