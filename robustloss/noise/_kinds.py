"""The table of noise kinds and the one entry point, `add_noise`."""

from __future__ import annotations

from typing import Any

import numpy as np
from jax.typing import ArrayLike

from robustloss.noise._class_maps import PAIR_MAP, SUPERCLASS_MAP
from robustloss.noise._generators import (
    _MODES,
    _SAMPLINGS,
    IDN_NORMALIZE,
    IDN_STD,
    INCLUDE_TRUE,
    SAMPLING,
    NoisyLabels,
    _check_labels,
    _check_map,
    _check_rate,
    _check_sampling,
    _result,
    from_labels,
    instance_dependent,
    pair,
    superclass,
    symmetric,
    uniform,
)
from robustloss.noise._paper_code import _ldr_code, _rent_code
from robustloss.options import Entry, Option, lookup, resolve


def _kind_clean(y, *, num_classes, rate, seed, sampling):
    del rate, seed, sampling
    return _result(y, y.copy(), np.eye(num_classes))


def _kind_real(y, *, num_classes, rate, seed, sampling, noisy_labels=None):
    del rate, seed, sampling
    if noisy_labels is None:
        raise ValueError(
            "kind='real' needs noisy_labels= (an [N] array; read a file with "
            "robustloss.data.read_label_file)"
        )
    return from_labels(y, noisy_labels, num_classes=num_classes)


def _kind_superclass(y, *, class_map, **kw):
    return superclass(y, groups=class_map, **kw)


def _kind_instance(y, *, sampling, features=None, **kw):
    if features is None:
        raise ValueError("kind='instance' needs features=[N, ...]")
    _check_sampling(sampling)
    return instance_dependent(y, features=features, **kw)


_SAMPLING = {"sampling": SAMPLING}

# The noise kinds: name -> Entry(generator, description, options). `add_noise` checks the given
# options against the entry (unknown ones raise) and passes them on with the defaults of the
# others; an option whose default is None is an input the kind needs (``features``,
# ``noisy_labels``), passed only when given. `meta["code_modes"]`: the papers' released
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
        {**_SAMPLING, "class_map": PAIR_MAP},
        meta={"code_modes": ("ldr_code", "rent_code")},
    ),
    "superclass": Entry(
        _kind_superclass,
        "flip within the class's superclass (class_map: fine -> group, CIFAR-100 by default)",
        {**_SAMPLING, "class_map": SUPERCLASS_MAP, "include_true": INCLUDE_TRUE},
        meta={"code_modes": ("rent_code",)},
    ),
    "instance": Entry(
        _kind_instance,
        "instance-dependent noise of Xia et al. 2020 (features required)",
        {
            **_SAMPLING,
            "features": Option(None),
            "std": IDN_STD,
            "normalize": IDN_NORMALIZE,
        },
    ),
    "real": Entry(
        _kind_real,
        "a given noisy label per example (noisy_labels: an [N] array, e.g. CIFAR-N's)",
        {**_SAMPLING, "noisy_labels": Option(None)},
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
    k = NOISE_KIND_ALIASES.get(name.lower(), name.lower()) if isinstance(name, str) else name
    lookup(NOISE_KINDS, k, "noise kind")
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
        (``instance``). ``noisy_labels`` (an ``[N]`` array, required; ``real``, see
        :func:`from_labels`). The code modes take ``class_map`` (and
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
        full = resolve(entry, options, f"noise kind {k!r}")
        given = {name: v for name, v in full.items() if v is not None}
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
        m = _check_map(PAIR_MAP.default if cm is None else cm, num_classes)
        return _ldr_code(y, num_classes, k, rate, m, seed)
    m = g = None
    if k == "pair":
        m = _check_map(PAIR_MAP.default if cm is None else cm, num_classes)
    if k == "superclass":
        g = _check_map(SUPERCLASS_MAP.default if cm is None else cm, num_classes, "superclass_map")
    return _rent_code(y, num_classes, k, rate, m, g, seed)
