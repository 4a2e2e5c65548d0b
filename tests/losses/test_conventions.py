"""The optax conventions of every stateless loss: ``axis`` (the class axis) and ``where``.

Reference definition of ``where``: a loss with a class mask equals the same loss evaluated on the
logits restricted to the unmasked classes, the integer label re-indexed, and for probability
labels ``sum_{y unmasked} q_y loss(f_U, y)`` (label mass on masked classes is ignored, as in
``optax.softmax_cross_entropy(..., where=)``). It is checked three ways: against optax where
optax has the loss (CE, label smoothing, Poly-1), against the float64 NumPy transcriptions of
``test_losses.py`` applied to the restricted logits, and against the library's own unmasked
loss on a dense restricted batch (values and gradients). Masked classes carry large logits so
that ignoring the mask anywhere changes the result.
"""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import robustloss
from robustloss import losses as L
from robustloss.registry import is_stateful


def _sibling(name: str):
    """A sibling test module by file path (the library-only runs, which import the installed
    package with PYTHONSAFEPATH, cannot import the ``tests`` package)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_robustloss_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_REF = _sibling("test_losses")
CUSTOM, ids, np_loss = _REF.CUSTOM, _REF.ids, _REF.np_loss

STATELESS = [n for n in robustloss.list_losses() if not is_stateful(n)]
# Defaults, plus the settings whose masked code paths differ (score normalisations, WW's mean,
# the Taylor order); the other hyperparameters are wired identically with or without where.
CASES = [(n, {}) for n in STATELESS] + [
    ("ldr_kl", CUSTOM["ldr_kl"]),
    ("ldr_kl", dict(lam=0.3, margin=0.2, score_norm="l1")),
    ("ww", CUSTOM["ww"]),
    ("taylor_ce", CUSTOM["taylor_ce"]),
]
CASE_IDS = ids(CASES)
UNDEFINED_FOR_ONE_CLASS = {"nce", "nce_rce", "nce_agce", "nce_aul", "rll"}

K = 6
B = 8
KEPT = 4  # unmasked classes per row of the fixed-count mask


def _labels_among(rng, mask):
    return np.array([rng.choice(np.flatnonzero(row)) for row in mask], np.int32)


def _masked_logits(rng, f, mask):
    """Masked entries get large logits (+40, +1e3, -40): ignoring the mask changes everything."""
    big = rng.choice([40.0, 1e3, -40.0], size=f.shape, p=[0.5, 0.25, 0.25])
    return np.where(mask, f, big).astype(np.float32)


@functools.cache
def _data():
    rng = np.random.default_rng(2026)
    f = rng.normal(scale=2.0, size=(B, K)).astype(np.float32)
    # Fixed count: KEPT unmasked classes per row (a dense restricted batch exists).
    fixed = np.zeros((B, K), bool)
    for i in range(B):
        fixed[i, rng.choice(K, KEPT, replace=False)] = True
    # Variable count: 2 .. K unmasked classes per row.
    var = np.zeros((B, K), bool)
    for i, n in enumerate([2, 3, 4, 5, 6, 2, 3, 5]):
        var[i, rng.choice(K, n, replace=False)] = True
    q = rng.dirichlet(np.ones(K), size=B).astype(np.float32)  # mass on masked classes too
    d = {
        "f_fixed": _masked_logits(rng, f, fixed),
        "fixed": fixed,
        "y_fixed": _labels_among(rng, fixed),
        "f_var": _masked_logits(rng, f, var),
        "var": var,
        "y_var": _labels_among(rng, var),
        "q": q,
    }
    # The dense restricted batch: [B, KEPT] logits, re-indexed labels, restricted q.
    d["f_r"] = d["f_fixed"][fixed].reshape(B, KEPT)
    d["y_r"] = np.array(
        [np.flatnonzero(fixed[i]).tolist().index(d["y_fixed"][i]) for i in range(B)], np.int32
    )
    d["q_r"] = q[fixed].reshape(B, KEPT)
    return d


@pytest.fixture(scope="module")
def data():
    return _data()


@functools.cache
def _axis_data():
    rng = np.random.default_rng(3)
    f3 = rng.normal(scale=2.0, size=(2, 3, K)).astype(np.float32)
    y3 = rng.integers(0, K, size=(2, 3)).astype(np.int32)
    q3 = rng.dirichlet(np.ones(K), size=(2, 3)).astype(np.float32)
    m3 = rng.random((2, 3, K)) < 0.7
    m3[..., 0] = True
    m3[np.arange(2)[:, None], np.arange(3)[None, :], y3] = True  # labels unmasked
    return f3, y3, q3, m3


def _loss(case):
    name, hp = CASES[case]
    return robustloss.get_loss(name, **hp)


def _per_example_and_grad(fn, f):
    per, pullback = jax.vjp(fn, f)
    return per, pullback(jnp.ones_like(per))[0]


@jax.jit
def _masked_and_restricted(loss, d):
    """Values and gradients with ``where`` and on the restricted batch."""
    out = {}
    for tag, lab, lab_r in (("int", d["y_fixed"], d["y_r"]), ("soft", d["q"], d["q_r"])):
        out[f"{tag}_where"] = _per_example_and_grad(
            lambda z, lab=lab: loss(z, lab, where=d["fixed"]), d["f_fixed"]
        )
        out[f"{tag}_restricted"] = _per_example_and_grad(
            lambda z, lab_r=lab_r: loss(z, lab_r), d["f_r"]
        )
    out["int_var"] = loss(d["f_var"], d["y_var"], where=d["var"])
    out["soft_var"] = loss(d["f_var"], d["q"], where=d["var"])
    return out


def np_restricted(name, f, y, mask, **hp):
    """The NumPy transcription on each row's unmasked classes, the label re-indexed."""
    out = []
    for fi, yi, mi in zip(f, y, mask, strict=True):
        kept = np.flatnonzero(mi)
        out.append(np_loss(name, fi[kept], kept.tolist().index(yi), **hp))
    return np.array(out)


def np_restricted_soft(name, f, soft, mask, **hp):
    """``sum_{y unmasked} q_y loss(f_U, y)``: masked label mass ignored, q not renormalised."""
    out = []
    for fi, qi, mi in zip(f, soft, mask, strict=True):
        kept = np.flatnonzero(mi)
        out.append(sum(qi[c] * np_loss(name, fi[kept], j, **hp) for j, c in enumerate(kept)))
    return np.array(out)


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASE_IDS)
def test_where_is_the_loss_on_the_unmasked_classes(case, data):
    """Values vs the NumPy transcription on restricted logits; values and gradients vs the
    unmasked loss on the dense restricted batch; masked classes get exactly zero gradient."""
    d = data
    name, hp = CASES[case]
    out = _masked_and_restricted(_loss(case), d)
    # Independent NumPy reference, variable number of unmasked classes per row.
    np.testing.assert_allclose(
        out["int_var"],
        np_restricted(name, d["f_var"], d["y_var"], d["var"], **hp),
        rtol=2e-5,
        atol=2e-5,
    )
    np.testing.assert_allclose(
        out["soft_var"],
        np_restricted_soft(name, d["f_var"], d["q"], d["var"], **hp),
        rtol=2e-5,
        atol=2e-5,
    )
    # Dense restricted batch: same values and the same gradients on the unmasked classes.
    mask = d["fixed"]
    for tag in ("int", "soft"):
        (val, grad), (ref, ref_grad) = out[f"{tag}_where"], out[f"{tag}_restricted"]
        np.testing.assert_allclose(val, ref, rtol=1e-5, atol=1e-6, err_msg=tag)
        grad = np.asarray(grad)
        np.testing.assert_allclose(
            grad[mask].reshape(B, KEPT), ref_grad, rtol=1e-5, atol=1e-6, err_msg=tag
        )
        assert np.all(grad[~mask] == 0.0), (tag, grad[~mask])


def test_truncated_gce_function_with_where_and_axis(data):
    d = data
    v = jnp.asarray([1.0, 0.0] * (B // 2))
    got = L.truncated_generalized_cross_entropy(
        d["f_fixed"], d["y_fixed"], v, q=0.6, k=0.3, where=d["fixed"]
    )
    ref = L.truncated_generalized_cross_entropy(d["f_r"], d["y_r"], v, q=0.6, k=0.3)
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    moved = L.truncated_generalized_cross_entropy(
        d["f_fixed"].T, d["y_fixed"], v, q=0.6, k=0.3, axis=0, where=d["fixed"].T
    )
    np.testing.assert_array_equal(moved, got)


# ---------------------------------------------------------------------------------------------
# Against optax (CE, label smoothing, Poly-1), with where masks and on 3-D logits.


def _random_mask(rng, shape, axis):
    """At least 2 unmasked classes along ``axis`` in every row."""
    mask = rng.random(shape) < 0.6
    moved = np.moveaxis(mask, axis, -1)
    moved[..., :2] = True  # two sure classes per row, then shuffle them along the class axis
    moved = np.take_along_axis(moved, rng.permuted(np.indices(moved.shape)[-1], axis=-1), -1)
    return np.moveaxis(moved, -1, axis)


def _int_labels_among(rng, mask, axis):
    moved = np.moveaxis(mask, axis, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    return _labels_among(rng, flat).reshape(moved.shape[:-1])


# (5, 5) with axis 0: a class axis that is not moved gives wrong values, not a shape error.
OPTAX_SHAPES = [
    ((8, 5), -1),
    ((8, 5), 1),
    ((5, 5), 0),
    ((5, 3, 4), 0),
    ((3, 5, 4), 1),
    ((3, 4, 5), -1),
]


@pytest.mark.parametrize(
    ("shape", "axis"), OPTAX_SHAPES, ids=[f"{s}-axis{a}" for s, a in OPTAX_SHAPES]
)
def test_matches_optax(shape, axis):
    rng = np.random.default_rng(sum(shape) + axis)
    f = rng.normal(scale=3.0, size=shape).astype(np.float32)
    mask = _random_mask(rng, shape, axis)
    f = np.where(mask, f, 50.0).astype(np.float32)
    y = _int_labels_among(rng, mask, axis)
    one_hot = np.moveaxis(np.eye(shape[axis], dtype=np.float32)[y], -1, axis)
    q = np.moveaxis(rng.dirichlet(np.ones(shape[axis]), size=y.shape), -1, axis).astype(np.float32)
    # Probability labels supported on the unmasked classes (sum 1 there), for label smoothing.
    q_in = np.where(mask, q, 0.0)
    q_in = (q_in / q_in.sum(axis, keepdims=True)).astype(np.float32)
    kw = dict(axis=axis, where=mask)
    ce_int = optax.losses.softmax_cross_entropy_with_integer_labels
    checks = [
        (L.cross_entropy(f, y, **kw), ce_int(f, y, **kw)),
        (L.cross_entropy(f, one_hot, **kw), optax.losses.softmax_cross_entropy(f, one_hot, **kw)),
        # Mass on masked classes is ignored, as in optax.
        (L.cross_entropy(f, q, **kw), optax.losses.softmax_cross_entropy(f, q, **kw)),
        (L.cross_entropy(f, y, axis=axis), ce_int(f, y, axis=axis)),
        (L.cross_entropy(f, q, axis=axis), optax.losses.softmax_cross_entropy(f, q, axis=axis)),
    ]
    for eps in (0.1, 0.7):
        for lab_int, lab_prob in ((y, one_hot), (None, q_in)):
            smoothed = optax.smooth_labels(lab_prob, eps, **kw)
            want = optax.losses.softmax_cross_entropy(f, smoothed, **kw)
            got = L.label_smoothing_cross_entropy(f, lab_prob, epsilon=eps, **kw)
            checks.append((got, want))
            if lab_int is not None:
                checks.append((L.label_smoothing_cross_entropy(f, y, epsilon=eps, **kw), want))
        smoothed = optax.smooth_labels(q_in, eps, axis=axis)
        checks.append(
            (
                L.label_smoothing_cross_entropy(f, q_in, epsilon=eps, axis=axis),
                optax.losses.softmax_cross_entropy(f, smoothed, axis=axis),
            )
        )
    for eps in (-1.0, 1.0, 2.0):
        poly = functools.partial(optax.losses.poly_loss_cross_entropy, epsilon=eps)
        checks += [
            (L.poly1_cross_entropy(f, y, epsilon=eps, **kw), poly(f, one_hot, **kw)),
            (L.poly1_cross_entropy(f, one_hot, epsilon=eps, **kw), poly(f, one_hot, **kw)),
            (L.poly1_cross_entropy(f, q, epsilon=eps, **kw), poly(f, q, **kw)),
            (L.poly1_cross_entropy(f, q, epsilon=eps, axis=axis), poly(f, q, axis=axis)),
        ]
    for i, (got, want) in enumerate(checks):
        assert got.shape == want.shape, i
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6, err_msg=str(i))


def test_mass_on_masked_classes_is_ignored_as_in_optax():
    f = jnp.array([[1.0, 30.0, -2.0, 0.5]])
    mask = jnp.array([[True, False, True, True]])
    q = jnp.array([[0.2, 0.5, 0.1, 0.2]])
    q_unmasked = q.at[0, 1].set(0.0)
    for name in STATELESS:
        loss = robustloss.get_loss(name)
        np.testing.assert_allclose(
            loss(f, q, where=mask), loss(f, q_unmasked, where=mask), rtol=1e-6, err_msg=name
        )


def test_all_true_where_is_the_unmasked_loss(data):
    f = data["f_fixed"]
    for name in STATELESS:
        loss = robustloss.get_loss(name)
        for lab in (data["y_fixed"], data["q"]):
            np.testing.assert_allclose(
                loss(f, lab, where=np.ones(f.shape, bool)), loss(f, lab), rtol=2e-6, atol=1e-6
            )


# ---------------------------------------------------------------------------------------------
# The class axis.


@jax.jit
def _all_axes(loss, f3, y3, q3, m3):
    """The loss with the class axis at 2 (last), 0 and 1: int and soft labels with and without
    where, and the gradient with where (moved back)."""
    out = {}
    for axis in (2, 0, 1):
        fa, qa, ma = (jnp.moveaxis(a, -1, axis) for a in (f3, q3, m3))
        per, grad = _per_example_and_grad(lambda z, a=axis, m=ma: loss(z, y3, axis=a, where=m), fa)
        out[axis] = {
            "int": loss(fa, y3, axis=axis),
            "soft": loss(fa, qa, axis=axis),
            "int_where": per,
            "soft_where": loss(fa, qa, axis=axis, where=ma),
            "grad_where": jnp.moveaxis(grad, axis, -1),
        }
    return out


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASE_IDS)
def test_axis_moves_the_class_axis(case):
    """fn(moveaxis(f, -1, a), y, axis=a) == fn(f, y) for every axis, labels and where."""
    f3, y3, _, _ = _axis_data()
    name, hp = CASES[case]
    loss = robustloss.get_loss(name, **hp)
    # The default path: axis=-1 and axis=ndim-1 are the call without them, bit for bit.
    plain = loss(f3, y3)
    np.testing.assert_array_equal(plain, loss.fn(f3, y3, axis=-1, where=None, **loss.hparams))
    np.testing.assert_array_equal(plain, loss(f3, y3, axis=2))
    out = _all_axes(loss, *_axis_data())
    assert out[2]["int_where"].shape == (2, 3)
    np.testing.assert_allclose(out[2]["int"], plain, rtol=1e-6)
    for axis in (0, 1):
        for key, want in out[2].items():
            got = out[axis][key]
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=f"{axis} {key}")


def test_negative_axes():
    rng = np.random.default_rng(6)
    f3 = rng.normal(size=(K, 2, 3)).astype(np.float32)
    y3 = rng.integers(0, K, size=(2, 3)).astype(np.int32)
    for name in ("ce", "ww"):
        loss = robustloss.get_loss(name)
        np.testing.assert_array_equal(loss(f3, y3, axis=-3), loss(f3, y3, axis=0))
        np.testing.assert_array_equal(
            loss(np.moveaxis(f3, 0, 1), y3, axis=-2), loss(np.moveaxis(f3, 0, 1), y3, axis=1)
        )


def test_axis_and_where_shapes_on_higher_rank_logits():
    """Integer labels drop the class axis; a per-example where [...] is expanded (optax)."""
    rng = np.random.default_rng(4)
    f = rng.normal(size=(4, K, 2)).astype(np.float32)  # classes on axis 1
    y = rng.integers(0, K, size=(4, 2)).astype(np.int32)
    rows = np.array([[True, False], [True, True], [False, False], [True, True]])
    out = L.generalized_cross_entropy(f, y, axis=1, where=rows)
    ref = L.generalized_cross_entropy(np.moveaxis(f, 1, -1), y)
    np.testing.assert_allclose(out, np.where(rows, ref, 0.0), rtol=1e-6)
    # A shared per-class mask with the full number of dimensions broadcasts.
    cls = np.ones((1, K, 1), bool)
    cls[0, 3, 0] = False
    y_ok = np.where(y == 3, 0, y).astype(np.int32)
    got = L.generalized_cross_entropy(f, y_ok, axis=1, where=cls)
    want = L.generalized_cross_entropy(np.delete(np.moveaxis(f, 1, -1), 3, -1), y_ok - (y_ok > 3))
    np.testing.assert_allclose(got, want, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Special rows: no unmasked class, a masked label, an invalid label, a single unmasked class.

SPECIAL_F = np.array(
    [
        [0.5, 2.0, -1.0, 30.0, 0.0],  # 0: ordinary, class 3 masked
        [1.0, 2.0, 3.0, 4.0, 5.0],  # 1: nothing unmasked -> 0
        [1.0, 2.0, 3.0, 4.0, 5.0],  # 2: nothing unmasked, label -1 -> 0
        [0.5, 2.0, -1.0, 30.0, 0.0],  # 3: the label's class masked -> NaN
        [0.5, 2.0, -1.0, 30.0, 0.0],  # 4: one unmasked class (the label)
        [0.5, 2.0, -1.0, 30.0, 0.0],  # 5: label out of range (5) -> NaN
    ],
    np.float32,
)
SPECIAL_MASK = np.array(
    [
        [True, True, True, False, True],
        [False] * 5,
        [False] * 5,
        [True, True, True, False, True],
        [False, True, False, False, False],
        [True, True, True, False, True],
    ]
)
SPECIAL_Y = np.array([1, 2, -1, 3, 1, 5], np.int32)


# ---------------------------------------------------------------------------------------------
# Extreme logits (rows with at least two unmasked classes, labels unmasked).

EXTREME = np.array(
    [
        [1e4, -1e4, 0.0, 1e4, -1e4],
        [1e4, -1e4, 0.0, 1e4, -1e4],
        [-1e4, -1e4, 1e4, -1e4, -1e4],
        [1e4, 1e4, 1e4, 1e4, 1e4],
        [-1e4, -1e4, -1e4, -1e4, 0.0],
    ],
    np.float32,
)
EXTREME_MASK = np.array(
    [
        [False, True, True, True, False],  # the largest logit masked, label at -1e4
        [True, True, False, False, True],
        [True, True, False, True, True],  # the only +1e4 masked
        [True, False, True, False, True],
        [True, True, True, True, False],  # unmasked all at -1e4
    ]
)
EXTREME_Y = np.array([1, 0, 3, 2, 0], np.int32)


@jax.jit
def _edge_rows(loss, special_f, special_y, special_mask, extreme_f, extreme_y):
    """Special rows (int and soft labels) and extreme logits."""
    special_soft = jnp.full(special_f.shape, 0.2, jnp.float32)
    extreme_soft = jnp.full(extreme_f.shape, 0.2, jnp.float32)
    out = {
        "special_int": _per_example_and_grad(
            lambda z: loss(z, special_y, where=special_mask), special_f
        ),
        "special_soft": _per_example_and_grad(
            lambda z: loss(z, special_soft, where=special_mask), special_f
        ),
    }
    for key, lab in (("extreme_int", extreme_y), ("extreme_soft", extreme_soft)):
        out[key] = _per_example_and_grad(
            lambda z, lab=lab: loss(z, lab, where=EXTREME_MASK), extreme_f
        )
    return out


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASE_IDS)
def test_special_rows_and_extreme_logits(case):
    """No unmasked class -> 0; masked or invalid integer label -> NaN; one unmasked class -> the
    value at p_y = 1 (NaN where undefined); all with zero gradients. Finite values and
    gradients at logits of +-1e4 with masked classes among them."""
    name = CASES[case][0]
    out = _edge_rows(_loss(case), SPECIAL_F, SPECIAL_Y, SPECIAL_MASK, EXTREME, EXTREME_Y)
    val, grad = (np.asarray(a) for a in out["special_int"])
    assert np.isfinite(val[0]) and np.all(np.isfinite(grad)), (val, grad)
    # No unmasked class: 0, whatever the label (optax's convention; padded rows).
    assert val[1] == 0.0 and val[2] == 0.0
    # Masked or invalid integer label: NaN, never a plausible number.
    assert np.isnan(val[3]) and np.isnan(val[5])
    # One unmasked class: p_y = 1; every loss is 0 there except the ones undefined for K = 1.
    if name in UNDEFINED_FOR_ONE_CLASS:
        assert np.isnan(val[4])
    else:
        np.testing.assert_allclose(val[4], 0.0, atol=1e-6)
    assert np.all(grad[[1, 2, 3, 5]] == 0.0)
    np.testing.assert_allclose(grad[4], 0.0, atol=1e-6)
    assert np.all(grad[0][~SPECIAL_MASK[0]] == 0.0)
    # Probability labels: a fully masked row is 0 too.
    sval, sgrad = (np.asarray(a) for a in out["special_soft"])
    assert sval[1] == 0.0 and sval[2] == 0.0 and np.all(sgrad[1:3] == 0.0)
    assert np.all(np.isfinite(sval[[0, 3, 5]])) and np.all(np.isfinite(sgrad))
    # Extreme logits.
    for key in ("extreme_int", "extreme_soft"):
        val, grad = (np.asarray(a) for a in out[key])
        assert np.all(np.isfinite(val)) and np.all(np.isfinite(grad)), (key, val, grad)
        assert np.all(grad[~EXTREME_MASK] == 0.0), key


@pytest.mark.parametrize("name", ["ce", "rll", "ldr_kl", "js"])
def test_bfloat16_logits_with_where(name):
    """bfloat16 logits are upcast before masking: float32 losses, bfloat16 gradients, finite."""
    loss = robustloss.get_loss(name)
    f = jnp.asarray(EXTREME, jnp.bfloat16)
    val, grad = jax.jit(
        lambda f: _per_example_and_grad(lambda z: loss(z, EXTREME_Y, where=EXTREME_MASK), f)
    )(f)
    assert val.dtype == jnp.float32 and grad.dtype == jnp.bfloat16
    grad = np.asarray(grad, np.float32)
    assert np.all(np.isfinite(val)) and np.all(np.isfinite(grad))
    assert np.all(grad[~EXTREME_MASK] == 0.0)


# ---------------------------------------------------------------------------------------------
# Transformations.


@pytest.mark.parametrize("name", ["ce", "nce_rce", "rll", "ww", "ldr_kl", "cs"])
def test_jit_vmap_grad_with_where_and_axis(name, data):
    """where as a traced argument, vmap over runs (stacked masks), grad through axis=0."""
    d = data
    loss = robustloss.get_loss(name)
    f, y, mask = d["f_fixed"], d["y_fixed"], d["fixed"]
    direct = loss(f, y, where=mask)

    @jax.jit
    def run(f, mask):
        jitted = loss(f.T, y, axis=0, where=mask.T)
        runs = jax.vmap(lambda ff, mm: loss(ff, y, where=mm))(
            jnp.stack([f, f]), jnp.stack([mask, mask])
        )
        per_row = jax.vmap(lambda ff, yy, mm: loss(ff, yy, where=mm))(f, y, mask)
        grad = jax.grad(lambda z: jnp.sum(loss(z, y, axis=0, where=mask.T)))(f.T)
        return jitted, runs, per_row, grad

    jitted, runs, per_row, grad = run(f, mask)
    np.testing.assert_allclose(jitted, direct, rtol=1e-6)
    np.testing.assert_allclose(runs[1], direct, rtol=1e-6)
    np.testing.assert_allclose(per_row, direct, rtol=1e-6)
    assert np.all(np.asarray(grad).T[~mask] == 0.0) and np.any(np.asarray(grad) != 0.0)
    # Traced hyperparameters together with where.
    if robustloss.loss_hparams(name):
        key, value = next(
            (k, v) for k, v in robustloss.loss_hparams(name).items() if not isinstance(v, str)
        )
        swept = jax.vmap(lambda v: robustloss.get_loss(name, **{key: v})(f, y, where=mask))(
            jnp.array([value, value])
        )
        np.testing.assert_allclose(swept[0], direct, rtol=1e-6)


def test_normalize_scores_with_where_and_axis():
    rng = np.random.default_rng(5)
    h = rng.normal(scale=2.0, size=(4, K)).astype(np.float32)
    mask = np.ones((4, K), bool)
    mask[:, 2] = False
    mask[1, 4] = False
    h = np.where(mask, h, 1e3).astype(np.float32)
    for norm in L.SCORE_NORMS:
        out = np.asarray(L.normalize_scores(h, norm, where=mask))
        assert np.all(out[~mask] == 0.0)
        for i in range(4):
            ref = L.normalize_scores(h[i][mask[i]], norm)
            np.testing.assert_allclose(out[i][mask[i]], ref, rtol=1e-6, err_msg=norm)
        moved = L.normalize_scores(h.T, norm, axis=0, where=mask.T)
        np.testing.assert_array_equal(np.asarray(moved).T, out)
        g = jax.grad(lambda z, norm=norm: jnp.sum(L.normalize_scores(z, norm, where=mask) ** 2))(h)
        assert np.all(np.asarray(g)[~mask] == 0.0)


# ---------------------------------------------------------------------------------------------
# Bad arguments.

BAD_AXES = [2, -3, 1.0, (0, 1), True, "1", None]


@pytest.mark.parametrize("name", STATELESS)
def test_bad_axis_and_where_raise(name):
    loss = robustloss.get_loss(name)
    f = np.zeros((3, 4), np.float32)
    y = np.zeros(3, np.int32)
    for axis in BAD_AXES:
        with pytest.raises(ValueError, match="axis.*" + re.escape(repr(axis))):
            loss(f, y, axis=axis)
    for where in (np.ones((3, 5), bool), np.ones((4,), bool), np.ones((3, 4, 1), bool)):
        with pytest.raises(ValueError, match=re.escape(f"where has shape {where.shape}")):
            loss(f, y, where=where)
    with pytest.raises(ValueError, match="where must be a boolean mask, got dtype float32"):
        loss(f, y, where=np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"without the class axis 0 = \(4,\)"):
        loss(f, y, axis=0)


def test_normalize_scores_rejects_bad_axis_and_where():
    with pytest.raises(ValueError, match="axis=5"):
        L.normalize_scores(np.zeros((2, 3)), "l1", axis=5)
    with pytest.raises(ValueError, match=r"where has shape \(2, 2\)"):
        L.normalize_scores(np.zeros((2, 3)), "l1", where=np.ones((2, 2), bool))
