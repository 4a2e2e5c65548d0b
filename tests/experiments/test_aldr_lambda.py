"""ALDR-KL's λ_i diagnostic: the restored λ belong to the trained run's training examples."""

import numpy as np
import pytest

from configs import test as test_config
from experiments import aldr_lambda
from robustloss.training.build import load_run_data

ARG = "loss=aldr_kl,lam0=2.0,alpha=2.0,epochs=2,rate=0.4"


def test_final_lambdas_are_the_runs_state(tmp_path):
    config = test_config.get_config(ARG)
    lam, noisy, summary = aldr_lambda.final_lambdas(config, str(tmp_path / "run"))
    data = load_run_data(config)
    assert lam.shape == noisy.shape == data.y_train.shape
    assert noisy.sum() == (data.y_train != data.y_train_clean).sum() > 0
    # λ_i stay in [lam0 (1 - 1/alpha), lam0] and the training moved them off lam0.
    assert lam.min() >= 1.0 - 1e-5 and lam.max() <= 2.0 + 1e-5
    assert np.mean(np.abs(lam - 2.0) > 1e-4) > 0.5
    assert summary["complete"]
    # A second call restores the same state without training again.
    lam2, _, _ = aldr_lambda.final_lambdas(config, str(tmp_path / "run"))
    np.testing.assert_array_equal(lam, lam2)


def test_other_losses_are_refused(tmp_path):
    with pytest.raises(ValueError, match="needs 'aldr_kl'"):
        aldr_lambda.final_lambdas(test_config.get_config("loss=ce"), str(tmp_path / "x"))
