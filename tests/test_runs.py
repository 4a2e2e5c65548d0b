"""Per-run fields of a batched (vmapped) config: each run is exactly a separate run."""

import numpy as np
import pytest

from configs import test as test_config
from robustloss.training import load_run_data


def _standalone(arg: str):
    return load_run_data(test_config.get_config(arg))


def test_batched_seeds_get_the_noise_of_separate_runs():
    """Run r of ``seeds`` draws the labels (train and noisy validation) of ``seed=seeds[r]``."""
    batched = load_run_data(test_config.get_config("seeds=3/4/5,rate=0.4"))
    assert batched.y_train.shape[0] == 3 and batched.y_val.shape[0] == 3
    for r, s in enumerate((3, 4, 5)):
        alone = _standalone(f"seed={s},rate=0.4")
        np.testing.assert_array_equal(batched.y_train[r], alone.y_train)
        np.testing.assert_array_equal(batched.y_val[r], alone.y_val)
    # Independent draws: every pair of runs differs in many labels (not only in model inits).
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert np.mean(batched.y_train[a] != batched.y_train[b]) > 0.2
        assert np.mean(batched.y_val[a] != batched.y_val[b]) > 0.2


def test_fixed_noise_seed_gives_every_run_one_draw():
    batched = load_run_data(test_config.get_config("seeds=3/4,rate=0.4,noise.seed=7"))
    alone = _standalone("seed=0,rate=0.4,noise.seed=7")
    for r in range(2):
        np.testing.assert_array_equal(batched.y_train[r], alone.y_train)


def test_rent_paper_config_seeds_differ_in_noise():
    from configs.paper import rent_iclr2024
    from robustloss.training.config import noise_seed

    batched = rent_iclr2024.get_config("fmnist_cpu,seeds=3/4/5")
    assert batched.noise.seed == -1
    for s in (3, 4, 5):
        assert noise_seed(rent_iclr2024.get_config(f"fmnist_cpu,seed={s}")) == s


def test_noise_seed_range_is_checked():
    from robustloss.training.config import validate_config

    with pytest.raises(ValueError, match=r"noise.seed=-2 .* -1 \(the run's seed\)"):
        validate_config(test_config.get_config("noise.seed=-2"))
