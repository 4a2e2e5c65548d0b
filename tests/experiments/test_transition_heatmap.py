"""True vs estimated T from a real run: the restored T is the run's own estimate."""

import json
import os

import numpy as np
import pytest

from configs import test as test_config
from experiments import transition_heatmap

ARG = (
    "transition=reweight,transition.estimator=anchor,transition.warmup_epochs=1,epochs=2,"
    "rate=0.4,dataset.max_train=400"
)


def test_final_transition_is_the_runs_estimate(tmp_path):
    wd = str(tmp_path / "run")
    T_true, T_est, summary = transition_heatmap.final_transition(test_config.get_config(ARG), wd)
    assert T_true.shape == T_est.shape == (10, 10)
    np.testing.assert_allclose(T_est.sum(1), 1.0, atol=1e-5)  # a row-stochastic estimate
    assert not np.allclose(T_est, np.eye(10)) and not np.allclose(T_est, T_true)
    # The last epoch's logged T error is the error of the restored T.
    with open(os.path.join(wd, "metrics.jsonl")) as f:
        last = [json.loads(x) for x in f][-1]
    err = np.abs(T_est - T_true).sum() / 10
    assert last["train/t_error"] == pytest.approx(err, abs=1e-5)
    assert summary["complete"]


def test_runs_without_a_method_are_refused(tmp_path):
    with pytest.raises(ValueError, match="needs a transition method"):
        transition_heatmap.final_transition(test_config.get_config("epochs=1"), str(tmp_path))
