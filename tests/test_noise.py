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
    assert np.all((q >= 0) & (q <= 1))
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
        n_noisy = int(n * r * k / (k - 1))
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


def test_from_labels_array_and_files(tmp_path):
    y = _labels(10, 1000)
    z = y.copy()
    z[:100] = (z[:100] + 1) % 10
    out = noise.from_labels(y, z, num_classes=10)
    assert out.is_noisy.sum() == 100
    want = np.zeros((10, 10))
    np.add.at(want, (y, z), 1)
    np.testing.assert_allclose(out.T, want / want.sum(1, keepdims=True))
    np.save(tmp_path / "n.npy", z)
    np.testing.assert_array_equal(
        noise.from_labels(y, tmp_path / "n.npy", num_classes=10).labels, z
    )
    np.savez(tmp_path / "c10n.npz", aggre_label=z, worse_label=y, clean_label=y)
    got = add_noise(
        y, num_classes=10, kind="real", noisy_labels=str(tmp_path / "c10n.npz"), key="aggre"
    )
    np.testing.assert_array_equal(got.labels, z)
    with pytest.raises(ValueError, match="key="):
        noise.from_labels(y, tmp_path / "c10n.npz", num_classes=10)
    (tmp_path / "n.csv").write_text("\n".join(map(str, z)) + "\n")
    np.testing.assert_array_equal(
        noise.from_labels(y, tmp_path / "n.csv", num_classes=10).labels, z
    )
    (tmp_path / "h.csv").write_text(
        "clean,worse_label\n" + "\n".join(f"{a},{b}" for a, b in zip(y, z, strict=True))
    )
    got = noise.from_labels(y, tmp_path / "h.csv", num_classes=10, key="worst")
    np.testing.assert_array_equal(got.labels, z)


def test_from_labels_errors(tmp_path):
    y = np.array([0, 1, 2])
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        noise.from_labels(y, tmp_path / "missing.npy", num_classes=3)
    (tmp_path / "bad.csv").write_text("0\n1\nx2\n")
    with pytest.raises(ValueError, match="line 3"):
        noise.from_labels(y, tmp_path / "bad.csv", num_classes=3)
    (tmp_path / "l.pt").write_bytes(b"\x80")
    with pytest.raises(ValueError, match=r"\.pt"):
        noise.from_labels(y, tmp_path / "l.pt", num_classes=3)
    with pytest.raises(ValueError, match="2 noisy labels for 3"):
        noise.from_labels(y, [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="label 5"):
        noise.from_labels(y, [0, 1, 5], num_classes=3)
