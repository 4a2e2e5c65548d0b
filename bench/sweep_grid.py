"""The benchmark grid: 64 cells of ``configs/test.py``-sized runs (2 losses x 2 noise rates x
16 seeds; 4 programs of 16 vmapped runs). ``get_config`` is ``configs/test.py``'s."""

from configs.test import get_config  # noqa: F401 -- the sweep runner resolves cells with it
from robustloss.sweep import product


def get_sweep(arg: str | None = None):
    return product(loss=["ce", "gce"], rate=[0.2, 0.4], seed=list(range(16)))
