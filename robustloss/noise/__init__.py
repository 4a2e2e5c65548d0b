"""Label-noise generators with their true transition matrices.

Every generator is a pure function of its inputs and an explicit integer ``seed``: it runs on the
host with NumPy, so the same seed gives the same noisy labels whatever the number or kind of JAX
devices. Each returns a :class:`NoisyLabels` ``(labels, T, is_noisy)`` with the convention of
docs/design.md §6, ``T[i, j] = P(noisy = j | clean = i)`` (rows sum to one; the RENT paper
writes the transpose).

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

from robustloss.noise._class_maps import class_map, list_class_maps, superclass_map
from robustloss.noise._generators import (
    NoisyLabels,
    check_label_values,
    empirical_transition,
    from_labels,
    instance_dependent,
    pair,
    superclass,
    symmetric,
    uniform,
)
from robustloss.noise._kinds import (
    NOISE_KIND_ALIASES,
    NOISE_KINDS,
    NOISE_MODES,
    SAMPLINGS,
    add_noise,
    check_mode,
    list_noise_kinds,
    noise_kind,
)

__all__ = [
    "NOISE_KINDS",
    "NOISE_KIND_ALIASES",
    "NOISE_MODES",
    "SAMPLINGS",
    "NoisyLabels",
    "add_noise",
    "check_label_values",
    "check_mode",
    "class_map",
    "empirical_transition",
    "from_labels",
    "instance_dependent",
    "list_class_maps",
    "list_noise_kinds",
    "noise_kind",
    "pair",
    "superclass",
    "superclass_map",
    "symmetric",
    "uniform",
]
