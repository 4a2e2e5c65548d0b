"""Built-in class maps of pair (asymmetric) and superclass noise: the papers' per-dataset maps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustloss.options import Option, lookup


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

# The ``class_map`` options of the noise-kind table (`robustloss.noise.NOISE_KINDS`): a ``[K]``
# array or a map's name; each default is written here once.
PAIR_MAP = Option("next")
SUPERCLASS_MAP = Option("cifar100")


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
    m = np.asarray(lookup(_PAIR_MAPS, key, "class map", also=["next"]), dtype=np.int32)
    if num_classes is not None and len(m) != num_classes:
        raise ValueError(f"class map {name!r} has {len(m)} classes, but num_classes={num_classes}")
    return m


def superclass_map(name: str = SUPERCLASS_MAP.default) -> np.ndarray:
    """Returns a built-in fine -> group (superclass) map, e.g. CIFAR-100's 100 -> 20 map.

    Args:
      name: ``"cifar100"`` (the fine->coarse table of Krizhevsky 2009, in TFDS label order).

    Returns:
      int32 ``[K]`` array of group ids.

    Example:
      >>> superclass_map("cifar100")[:5].tolist()
      [4, 1, 14, 8, 0]
    """
    return np.asarray(lookup(_SUPERCLASS_MAPS, name, "superclass map"), dtype=np.int32)
