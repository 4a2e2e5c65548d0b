"""Tests for robustloss.noise: true T vs empirical T, error rates, seeds, paper-exact modes."""

# The transcriptions of the papers' code below use NumPy's legacy global RNG on purpose.
# ruff: noqa: NPY002

import numpy as np
import pytest

from robustloss import noise
from robustloss.noise import add_noise

N = 100_000


def _labels(k, n=N, seed=0):
    return np.random.default_rng(seed).integers(0, k, size=n)


def _empirical(y, z, k):
    c = np.zeros((k, k))
    np.add.at(c, (y, z), 1)
    return c / c.sum(1, keepdims=True), c.sum(1)


def _assert_T_close(y, out, k, sigmas=5.0):
    """Every cell of the empirical T within a binomial tolerance of the returned T."""
    emp, n_k = _empirical(y, out.labels, k)
    tol = sigmas * np.sqrt(out.T * (1 - out.T) / n_k[:, None]) + 2.0 / n_k[:, None]
    assert np.all(np.abs(emp - out.T) <= tol), np.abs(emp - out.T).max()


def test_T_hand_values():
    T = add_noise(np.arange(4), num_classes=4, kind="symmetric", rate=0.3).T
    want = np.full((4, 4), 0.1) + np.eye(4) * 0.6
    np.testing.assert_allclose(T, want)
    T = add_noise(np.arange(4), num_classes=4, kind="uniform", rate=0.4).T
    np.testing.assert_allclose(T, np.full((4, 4), 0.1) + np.eye(4) * 0.6)
    T = add_noise(np.arange(3), num_classes=3, kind="pair", rate=0.25, class_map=[1, 1, 0]).T
    np.testing.assert_allclose(T, [[0.75, 0.25, 0], [0, 1, 0], [0.25, 0, 0.75]])


@pytest.mark.parametrize("sampling", ["exact", "bernoulli"])
@pytest.mark.parametrize(
    "kind,k,kw",
    [
        ("symmetric", 10, {}),
        ("uniform", 10, {}),
        ("pair", 10, {"class_map": "cifar10"}),
        ("pair", 26, {"class_map": "letter"}),
        ("superclass", 100, {}),
    ],
)
def test_empirical_T_matches(kind, k, kw, sampling):
    y = _labels(k)
    out = add_noise(y, num_classes=k, kind=kind, rate=0.4, seed=3, sampling=sampling, **kw)
    assert out.labels.dtype == np.int32 and out.labels.shape == (N,)
    assert out.is_noisy.dtype == bool
    np.testing.assert_array_equal(out.is_noisy, out.labels != y)
    np.testing.assert_allclose(out.T.sum(1), 1.0)
    _assert_T_close(y, out, k)


def test_error_rates():
    k, r = 10, 0.3
    y = _labels(k)
    sym = add_noise(y, num_classes=k, kind="symmetric", rate=r, seed=1)
    # exact stratified sampling: per-class error rate is round(r * n_k) / n_k
    n_k = np.bincount(y, minlength=k)
    want = np.floor(r * n_k + 0.5).sum() / N
    assert sym.is_noisy.mean() == pytest.approx(want, abs=1e-12)
    uni = add_noise(y, num_classes=k, kind="uniform", rate=r, seed=1)
    sd = np.sqrt(0.27 * 0.73 / N)
    assert abs(uni.is_noisy.mean() - r * (k - 1) / k) < 5 * sd
    ber = add_noise(y, num_classes=k, kind="symmetric", rate=r, seed=1, sampling="bernoulli")
    assert abs(ber.is_noisy.mean() - r) < 5 * np.sqrt(r * (1 - r) / N)
    # pair with the CIFAR-10 map: 5 of 10 classes flip -> overall about r/2
    pr = add_noise(y, num_classes=k, kind="pair", rate=r, class_map="cifar10", seed=1)
    flipping = np.isin(y, [2, 3, 4, 5, 9])
    assert pr.is_noisy[flipping].mean() == pytest.approx(r, abs=1e-3)
    assert not pr.is_noisy[~flipping].any()


def test_exact_counts_per_class():
    y = np.repeat(np.arange(5), [100, 200, 300, 7, 0])
    out = add_noise(y, num_classes=5, kind="symmetric", rate=0.25, seed=0)
    got = [int(out.is_noisy[y == c].sum()) for c in range(4)]
    assert got == [25, 50, 75, 2]


def test_symmetric_never_keeps_label_uniform_can():
    y = _labels(3, 20_000)
    out = add_noise(y, num_classes=3, kind="symmetric", rate=0.5, seed=0)
    assert out.is_noisy.sum() == pytest.approx(10_000, abs=3)
    uni = add_noise(y, num_classes=3, kind="uniform", rate=0.5, seed=0)
    assert 0.30 < uni.is_noisy.mean() < 0.37  # 0.5 * 2/3


def test_seeds():
    y = _labels(10, 10_000)
    for kind in ("symmetric", "uniform", "pair", "superclass"):
        k = 100 if kind == "superclass" else 10
        yy = _labels(k, 10_000)
        a = add_noise(yy, num_classes=k, kind=kind, rate=0.3, seed=7)
        b = add_noise(yy, num_classes=k, kind=kind, rate=0.3, seed=7)
        c = add_noise(yy, num_classes=k, kind=kind, rate=0.3, seed=8)
        np.testing.assert_array_equal(a.labels, b.labels)
        assert (a.labels != c.labels).any()
    x = np.random.default_rng(0).normal(size=(10_000, 5))
    a = add_noise(y, num_classes=10, kind="instance", rate=0.3, seed=1, features=x)
    b = add_noise(y, num_classes=10, kind="instance", rate=0.3, seed=1, features=x)
    c = add_noise(y, num_classes=10, kind="instance", rate=0.3, seed=2, features=x)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert (a.labels != c.labels).any()


def test_superclass_stays_in_group():
    groups = noise.superclass_map("cifar100")
    assert np.bincount(groups).tolist() == [5] * 20
    y = _labels(100)
    for include_true in (False, True):
        out = add_noise(
            y, num_classes=100, kind="superclass", rate=0.6, seed=0, include_true=include_true
        )
        np.testing.assert_array_equal(groups[out.labels], groups[y])
        sd = 5 * np.sqrt(0.25 / N)
        want = 0.6 if not include_true else 0.6 * 4 / 5
        assert abs(out.is_noisy.mean() - want) < sd + 1e-3
        _assert_T_close(y, out, 100)
    T = noise.superclass(np.arange(100), rate=0.4).T
    assert T[0, 0] == pytest.approx(0.6)
    mates = np.flatnonzero(groups == groups[0])
    np.testing.assert_allclose(T[0, mates[mates != 0]], 0.1)
    assert T[0].sum() == pytest.approx(1.0)


def test_instance_dependent():
    k, n, r = 5, 40_000, 0.3
    rng = np.random.default_rng(0)
    y = rng.integers(0, k, n)
    x = rng.normal(size=(n, 4, 4)) + y[:, None, None]
    out, probs = noise.instance_dependent(
        y, num_classes=k, rate=r, features=x, seed=0, return_probs=True
    )
    np.testing.assert_allclose(probs.sum(1), 1.0)
    q = 1 - probs[np.arange(n), y]
    # q is the seeded truncated-normal draw (the first draw of default_rng(seed)).
    from scipy import stats

    q_ref = stats.truncnorm.rvs(
        -r / 0.1, (1 - r) / 0.1, loc=r, scale=0.1, size=n, random_state=np.random.default_rng(0)
    )
    np.testing.assert_allclose(q, q_ref, rtol=1e-9, atol=1e-12)
    assert abs(q.mean() - r) < 0.005  # truncated normal(0.3, 0.1) on [0,1] has mean ~0.3
    assert abs(out.is_noisy.mean() - q.mean()) < 5 * np.sqrt(r * (1 - r) / n)
    # returned T is the class-wise mean of the per-example rows; empirical T matches it
    for c in range(k):
        np.testing.assert_allclose(out.T[c], probs[y == c].mean(0))
    _assert_T_close(y, out, k)
    # per-example rows differ (instance dependence)
    assert probs[y == 0].std(axis=0).max() > 0.01


def test_builtin_maps():
    assert noise.class_map("mnist").tolist() == [0, 1, 7, 8, 4, 6, 5, 7, 8, 9]
    assert noise.class_map("svhn").tolist() == [0, 1, 7, 8, 4, 6, 5, 7, 8, 9]
    assert noise.class_map("fashion_mnist").tolist() == [6, 1, 4, 3, 4, 7, 6, 7, 8, 9]
    assert noise.class_map("cifar10").tolist() == [0, 1, 0, 5, 7, 3, 6, 7, 8, 1]
    assert noise.class_map("next", 4).tolist() == [1, 2, 3, 0]
    letter = noise.class_map("letter")
    a = {chr(65 + i): chr(65 + int(j)) for i, j in enumerate(letter)}
    assert a["B"] == "D" and a["D"] == "B" and a["K"] == "X" and a["U"] == "V"
    assert [a[c] for c in "AJSTYZ"] == list("AJSTYZ")
    np.testing.assert_array_equal(letter[letter], np.arange(26))  # involution
    vowel = noise.class_map("vowel")
    assert vowel.tolist() == [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 10]
    news = noise.class_map("news20")
    assert news[2] == 5 and news[5] == 2 and news[15] == 18 and news[0] == 0 and news[19] == 19
    assert set(noise.list_noise_kinds()) >= {"symmetric", "uniform", "pair", "superclass"}
    assert "cifar100" in noise.list_class_maps()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kind": "symmetric", "rate": 1.0}, "rate"),
        ({"kind": "symmetric", "rate": -0.1}, "-0.1"),
        ({"kind": "pair", "rate": 0.2, "class_map": [0, 1]}, "length"),
        ({"kind": "pair", "rate": 0.2, "class_map": [0, 1, 7]}, "7"),
        ({"kind": "pair", "rate": 0.2, "class_map": "nope"}, "nope"),
        ({"kind": "bogus", "rate": 0.2}, "bogus"),
        ({"kind": "symmetric", "rate": 0.2, "mode": "x"}, "mode"),
        ({"kind": "symmetric", "rate": 0.2, "sampling": "x"}, "sampling"),
        ({"kind": "symmetric", "rate": 0.2, "mode": "ldr_code"}, "ldr_code"),
        ({"kind": "instance", "rate": 0.2}, "features"),
        ({"kind": "real"}, "noisy_labels"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        add_noise(np.array([0, 1, 2]), num_classes=3, **kwargs)


def test_label_validation():
    with pytest.raises(ValueError, match="label 3 is outside"):
        add_noise([0, 3], num_classes=3, kind="symmetric", rate=0.1)
    with pytest.raises(ValueError, match="label -1"):
        add_noise([0, -1], num_classes=3, kind="symmetric", rate=0.1)
    with pytest.raises(ValueError, match="num_classes"):
        add_noise([0], num_classes=1, kind="symmetric", rate=0.1)


# -------------------------------------------------------------------------------------------
# Paper-exact modes vs independent transcriptions of the authors' code.
# -------------------------------------------------------------------------------------------


def _ldr_uniform_transcription(y, k, rho):
    np.random.seed(123)
    y = y.copy()
    r = np.random.randint(k, size=len(y))
    u = np.random.rand(len(y))
    for i in range(len(y)):
        if u[i] < rho:
            y[i] = r[i]
    return y


def _ldr_class_transcription(y, rho, t):
    np.random.seed(123)
    y = y.copy()
    u = np.random.rand(len(y))
    for i in range(len(y)):
        if u[i] < rho:
            y[i] = t[y[i]]
    return y


def test_ldr_code_uniform_draw_for_draw():
    y = _labels(26, 5000)
    got = add_noise(y, num_classes=26, kind="uniform", rate=0.6, mode="ldr_code", seed=None)
    np.testing.assert_array_equal(got.labels, _ldr_uniform_transcription(y, 26, 0.6))
    np.testing.assert_allclose(got.T[0, 0], 0.4 + 0.6 / 26)


def test_ldr_code_class_dependent_draw_for_draw():
    y = _labels(26, 5000)
    letter = noise.class_map("letter")
    got = add_noise(
        y, num_classes=26, kind="pair", rate=0.3, class_map="letter", mode="ldr_code", seed=None
    )
    np.testing.assert_array_equal(got.labels, _ldr_class_transcription(y, 0.3, letter))


def _rent_transcription(y, k, kind, r, seed, lst=None, coarse=None):
    """RENT noise_generator, with NumPy randint in place of torch.randint for the new labels."""
    np.random.seed(seed)
    y = y.copy()
    n = len(y)
    if kind == "sym":
        n_noisy = int(n * (r * (k / (k - 1))))  # the code's order of float operations
        idx = np.random.permutation(n)[:n_noisy]
        new = np.random.randint(k, size=n_noisy)
        for j, i in enumerate(idx):
            y[i] = new[j]
    elif kind == "asym":
        idx = np.random.permutation(n)[: int(n * r)]
        for i in idx:
            y[i] = lst[y[i]]
    else:
        n_noisy = int(n * r * 5 / 4)
        idx = np.random.permutation(n)[:n_noisy]
        new = np.random.randint(5, size=n_noisy)
        for j, i in enumerate(idx):
            fine = [c for c in range(100) if coarse[c] == coarse[y[i]]]
            y[i] = fine[new[j]]
    return y


def test_rent_code_matches_transcription():
    y = _labels(10, 3000)
    got = add_noise(y, num_classes=10, kind="symmetric", rate=0.4, mode="rent_code", seed=5)
    np.testing.assert_array_equal(got.labels, _rent_transcription(y, 10, "sym", 0.4, 5))
    lst = [6, 1, 4, 3, 4, 7, 6, 7, 8, 9]
    got = add_noise(
        y,
        num_classes=10,
        kind="asym",
        rate=0.4,
        class_map="fashion_mnist",
        mode="rent_code",
        seed=5,
    )
    np.testing.assert_array_equal(got.labels, _rent_transcription(y, 10, "asym", 0.4, 5, lst))
    y100 = _labels(100, 3000)
    coarse = noise.superclass_map("cifar100").tolist()
    got = add_noise(y100, num_classes=100, kind="superclass", rate=0.4, mode="rent_code", seed=5)
    want = _rent_transcription(y100, 100, "cifar100", 0.4, 5, coarse=coarse)
    np.testing.assert_array_equal(got.labels, want)
    assert got.T[0, 0] == pytest.approx(0.6)
    assert got.T[0].sum() == pytest.approx(1.0)


def test_rent_code_rates():
    y = _labels(10)
    sym = add_noise(y, num_classes=10, kind="symmetric", rate=0.5, mode="rent_code", seed=0)
    assert abs(sym.is_noisy.mean() - 0.5) < 0.01
    _assert_T_close(y, sym, 10, sigmas=6)
    y100 = _labels(100)
    sc = add_noise(y100, num_classes=100, kind="superclass", rate=0.4, mode="rent_code", seed=0)
    assert abs(sc.is_noisy.mean() - 0.4) < 0.01


# -------------------------------------------------------------------------------------------
# Real noisy labels.
# -------------------------------------------------------------------------------------------


def test_rent_code_symmetric_count_uses_the_codes_float_order():
    # int(9 * (0.3 * (10 / 9))) = 3 but int(9 * 0.3 * 10 / 9) = 2.
    assert int(9 * (0.3 * (10 / 9))) == 3 and int(9 * 0.3 * 10 / 9) == 2
    y = np.arange(9) % 10
    for seed in range(20):  # with 3 indices re-drawn over 10 classes, some seed shows all 3
        got = add_noise(y, num_classes=10, kind="symmetric", rate=0.3, mode="rent_code", seed=seed)
        np.testing.assert_array_equal(got.labels, _rent_transcription(y, 10, "sym", 0.3, seed))


def test_ldr_code_default_seed_is_the_papers_123():
    y = _labels(26, 2000)
    default = add_noise(y, num_classes=26, kind="uniform", rate=0.6, mode="ldr_code")
    s123 = add_noise(y, num_classes=26, kind="uniform", rate=0.6, mode="ldr_code", seed=123)
    s0 = add_noise(y, num_classes=26, kind="uniform", rate=0.6, mode="ldr_code", seed=0)
    np.testing.assert_array_equal(default.labels, s123.labels)
    assert (default.labels != s0.labels).any()
    # "ours" and "rent_code" default to 0.
    for mode, kind in (("ours", "symmetric"), ("rent_code", "symmetric")):
        a = add_noise(y, num_classes=26, kind=kind, rate=0.3, mode=mode)
        b = add_noise(y, num_classes=26, kind=kind, rate=0.3, mode=mode, seed=0)
        np.testing.assert_array_equal(a.labels, b.labels)
    with pytest.raises(ValueError, match="ldr_code"):
        add_noise(y, num_classes=26, kind="uniform", rate=0.3, mode="ldr_code", seed=-1)
    with pytest.raises(ValueError, match="rent_code"):
        add_noise(
            y,
            num_classes=26,
            kind="symmetric",
            rate=0.3,
            mode="rent_code",
            seed=np.random.default_rng(0),
        )


def _likeliest_wrong_mass(probs, y):
    p = probs.copy()
    q = 1 - p[np.arange(len(y)), y]
    p[np.arange(len(y)), y] = 0
    return float(np.mean(p.max(1) / q))


def test_instance_dependent_default_is_the_common_unnormalised_form():
    """Xia et al.'s common code multiplies the raw/ToTensor features by W: on CIFAR-shaped
    [0, 1] inputs the flip mass concentrates on one class (~0.97); normalised rows spread it."""
    rng = np.random.default_rng(0)
    n, k = 400, 10
    y = rng.integers(0, k, n)
    x = rng.random((n, 32, 32, 3)).astype(np.float32)  # ToTensor-scaled images
    out, probs = noise.instance_dependent(
        y, num_classes=k, rate=0.4, features=x, seed=0, return_probs=True
    )
    _, probs_n = noise.instance_dependent(
        y, num_classes=k, rate=0.4, features=x, seed=0, normalize=True, return_probs=True
    )
    raw, normed = _likeliest_wrong_mass(probs, y), _likeliest_wrong_mass(probs_n, y)
    assert raw > 0.9 and normed < 0.5, (raw, normed)
    # Default is exactly the unnormalised transcription: z = x W[y].
    flat = x.reshape(n, -1).astype(np.float64)
    rs = np.random.default_rng(0)
    from scipy import stats

    stats.truncnorm.rvs(-4.0, 6.0, loc=0.4, scale=0.1, size=n, random_state=rs)
    w = rs.standard_normal((k, flat.shape[1], k))
    i = 0
    z = flat[i] @ w[y[i]]
    z[y[i]] = -np.inf
    e = np.exp(z - z.max())
    q = 1 - probs[i, y[i]]
    ref = q * e / e.sum()
    ref[y[i]] = 1 - q
    np.testing.assert_allclose(probs[i], ref, rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(
        out.labels,
        add_noise(y, num_classes=k, kind="instance", rate=0.4, features=x, seed=0).labels,
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_instance_dependent_rejects_non_finite_features(bad):
    x = np.ones((20, 4))
    x[3, 1] = bad
    x[7, 0] = bad
    with pytest.raises(ValueError, match=r"2 non-finite values .* first row 3"):
        noise.instance_dependent(np.arange(20) % 2, num_classes=2, rate=0.3, features=x)


def test_clean_is_the_same_in_every_mode_and_bad_pairs_fail_early():
    """``clean`` under a paper-code mode is no noise (a grid over settings may mix them); a kind
    a code mode cannot draw fails early."""
    y = np.arange(40) % 4
    for mode in ("ours", "ldr_code", "rent_code"):
        out = noise.add_noise(y, num_classes=4, kind="clean", rate=0.0, mode=mode)
        np.testing.assert_array_equal(out.labels, y)
        np.testing.assert_array_equal(out.T, np.eye(4))
        assert not out.is_noisy.any()
    with pytest.raises(ValueError, match="supports kinds 'clean', 'uniform', 'pair'"):
        noise.check_mode("instance", "ldr_code")


@pytest.mark.harness  # configs/ and the training config
def test_a_kind_a_code_mode_cannot_draw_fails_in_validate_config():
    """A kind that a paper-code mode cannot draw fails in validate_config, before any data is
    loaded."""
    from configs import test as test_config
    from robustloss.training.config import validate_config

    with pytest.raises(ValueError, match="config.noise.kind='instance' with config.noise.mode"):
        validate_config(test_config.get_config("noise=instance,noise.mode=ldr_code"))
