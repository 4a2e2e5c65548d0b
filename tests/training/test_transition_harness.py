"""End-to-end: transition methods through the training harness (digits, ffnn, seconds)."""

import numpy as np
import pytest

from configs import test as test_config
from robustloss.training import train


def _config(arg: str, **transition):
    config = test_config.get_config(arg)
    config.unlock()
    config.progress = "none"
    for k, v in transition.items():
        config.transition[k] = v
    return config


@pytest.mark.slow
def test_rent_anchor_vmapped_seeds_with_per_run_noise(tmp_path):
    config = _config("transition=rent,seeds=0/1,epochs=2", estimator="anchor", warmup_epochs=1)
    summary = train(config, str(tmp_path / "run"))
    h = summary["history"]
    assert h[0]["train/active"] == [0.0, 0.0] and h[1]["train/active"] == [1.0, 1.0]
    err0, err1 = h[0]["train/t_error"], h[1]["train/t_error"]
    # Before the refresh T is the identity: error ||I - T||_1 / K = 2 * 0.2 for 20% noise.
    np.testing.assert_allclose(err0, [0.4, 0.4], rtol=1e-5)
    assert err1[0] != err1[1]  # each run estimated its own T from its own noisy labels
    assert all(e < 0.4 for e in err1)
    for key in ("train/label_precision", "train/batch_precision", "train/ess", "test/top1"):
        assert len(h[1][key]) == 2
    # The resampled mass is cleaner than the batch (RENT's premise), averaged over runs.
    assert np.mean(h[1]["train/label_precision"]) > np.mean(h[1]["train/batch_precision"])


@pytest.mark.slow
def test_learnable_T_state_is_checkpointed_and_resumes_exactly(tmp_path):
    config = _config("transition=dws,epochs=2", estimator="volminnet", warmup_epochs=0)
    full = train(config, str(tmp_path / "full"))
    part = train(config, str(tmp_path / "part"), stop_after=1)
    assert part["history"][-1]["epoch"] == 1
    resumed = train(config, str(tmp_path / "part"))
    for key in ("train/loss", "train/t_loss", "train/t_error", "test/top1"):
        assert resumed["final"][key] == pytest.approx(full["final"][key], rel=1e-6), key
    np.testing.assert_allclose(
        np.asarray(resumed["state"].aux["T"]), np.asarray(full["state"].aux["T"]), rtol=1e-6
    )
    # T moved away from its initial value during training.
    assert full["history"][0]["train/t_error"] != full["history"][1]["train/t_error"]


def test_bad_transition_config_fails_before_training(tmp_path):
    config = _config("transition=rent", estimator="hoc")
    with pytest.raises(ValueError, match="estimator"):
        train(config, str(tmp_path / "bad"))


@pytest.mark.slow
def test_rent_and_compat_anchor_same_on_one_and_two_devices(tmp_path):
    """Batch-wide resampling and per-example state see the global batch on any device count."""
    import jax

    config = _config(
        "transition=rent,epochs=2,batch=64",
        estimator="anchor",
        warmup_epochs=1,
        paper_code_compat=True,  # records per-example train-mode probabilities in aux["proba"]
    )
    out = {}
    for n in (1, 2):
        s = train(config, None, devices=jax.devices()[:n])
        out[n] = (
            s["history"],
            np.asarray(s["state"].aux["proba"]),
            np.asarray(s["state"].aux["T"]),
        )
    for key in ("train/loss", "train/label_precision", "train/t_error"):
        assert out[2][0][-1][key] == pytest.approx(out[1][0][-1][key], rel=2e-3), key
    np.testing.assert_allclose(out[2][1], out[1][1], atol=2e-3)
    np.testing.assert_allclose(out[2][2], out[1][2], atol=2e-3)


@pytest.mark.parametrize("protocol", ["mnist", "fmnist", "cifar10", "cifar100", "fmnist_cpu"])
def test_paper_configs_parse_and_validate(protocol):
    from configs.paper import rent_iclr2024
    from robustloss.training.config import noise_seed, validate_config

    c = rent_iclr2024.get_config(f"{protocol},setting=asym40,method=dws,estimator=dualt,seed=3")
    validate_config(c)
    assert c.transition.use == "dws" and c.transition.estimator == "dualt"
    assert noise_seed(c) == 3 and c.noise.mode == "rent_code" and c.noise.rate == 0.4
    warm = 2 if protocol == "fmnist_cpu" else 20  # the code's DualT warm-up
    assert c.num_epochs == warm + (6 if protocol == "fmnist_cpu" else 200)
    assert c.noise.kind == ("superclass" if protocol == "cifar100" else "pair")
    ce = rent_iclr2024.get_config(f"{protocol},method=ce")
    assert ce.transition.use == "none" and ce.noise.kind == "symmetric"
    with pytest.raises(ValueError, match="setting"):
        rent_iclr2024.get_config(f"{protocol},setting=sym30")
