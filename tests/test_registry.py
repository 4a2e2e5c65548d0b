"""Tests for the loss registry: names, defaults, error messages, traced hyperparameters."""

from __future__ import annotations

import doctest
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import robustloss
from robustloss import registry

# The fixed public names and their hyperparameter defaults (docs/losses.md's table), written
# out independently of registry.LOSSES.
TABLE = {
    "ce": {},
    "mae": {},
    "mse": {},
    "gce": {"q": 0.7},
    "sce": {"alpha": 0.1, "beta": 1.0, "A": -4.0},
    "rce": {"A": -4.0},
    "nce": {},
    "nce_rce": {"alpha": 1, "beta": 1, "A": -4},
    "agce": {"a": 1, "q": 2},
    "aul": {"a": 6, "q": 1.5},
    "nce_agce": {"alpha": 1, "beta": 1, "a": 3, "q": 1.5},
    "nce_aul": {"alpha": 1, "beta": 1, "a": 6, "q": 1.5},
    "js": {"pi1": 0.5},
    "rll": {"alpha": 1.0},
    "cs": {"margin": 1.0},
    "ww": {"margin": 1.0},
    "ldr_kl": {"lam": 1.0, "margin": 0.1, "score_norm": "none"},
    "aldr_kl": {"alpha": 2.0, "lam0": 1.0, "margin": 0.1, "score_norm": "none"},
    "tgce": {"q": 0.7, "k": 0.5},
    "focal": {"gamma": 2.0},
    "ls": {"epsilon": 0.1},
    "taylor_ce": {"order": 2},
    "poly1": {"epsilon": 1.0},
}
# Options added beyond the table (paper-code switches and schedules), with their defaults.
OPTIONS = {
    "ww": {"reduction": "sum"},
    "aldr_kl": {"update": "paper"},
    "tgce": {"schedule": "paper", "prune_start": 40, "prune_every": 10},
}


def test_names_and_defaults_match_the_design_table():
    assert robustloss.list_losses() == list(TABLE)
    for name, defaults in TABLE.items():
        got = robustloss.loss_hparams(name)
        assert got == {**defaults, **OPTIONS.get(name, {})}, name
        assert all(type(got[k]) is type(v) or isinstance(v, int) for k, v in defaults.items())


def test_get_loss_types_and_attributes():
    f = jnp.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
    y = jnp.array([0, 2])
    for name in robustloss.list_losses():
        loss = robustloss.get_loss(name)
        assert loss.name == name
        assert dict(loss.hparams) == robustloss.loss_hparams(name)
        if registry.is_stateful(name):
            assert isinstance(loss, robustloss.StatefulLoss)
            out, _ = loss.apply(f, y, loss.init(3), index=jnp.array([0, 1]))
        else:
            assert isinstance(loss, robustloss.Loss)
            out = loss(f, y)
        assert out.shape == (2,)
    gce = robustloss.get_loss("gce", q=0.3)
    np.testing.assert_allclose(
        gce(f, y), robustloss.losses.generalized_cross_entropy(f, y, q=0.3), rtol=1e-6
    )
    np.testing.assert_allclose(jax.jit(gce)(f, y), gce(f, y), rtol=1e-6)  # jit of the object
    assert repr(gce) == "Loss('gce', q=0.3)"
    with pytest.raises(AttributeError):
        gce.name = "ce"
    with pytest.raises(TypeError):
        gce.hparams["q"] = 0.5
    # loss_hparams returns a fresh dict.
    robustloss.loss_hparams("gce")["q"] = 0.1
    assert robustloss.loss_hparams("gce") == {"q": 0.7}


def test_public_exports():
    for attr in ("get_loss", "list_losses", "Loss", "StatefulLoss", "losses", "stateful"):
        assert hasattr(robustloss, attr), attr
    assert robustloss.__version__


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown loss 'xent'; choose one of") as err:
        robustloss.get_loss("xent")
    for name in TABLE:
        assert repr(name) in str(err.value)
    with pytest.raises(ValueError, match="unknown loss 'nope'; choose one of"):
        robustloss.loss_hparams("nope")


def test_unknown_hparam_lists_valid_hparams():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['lambda'\] for loss 'ldr_kl'"):
        robustloss.get_loss("ldr_kl", **{"lambda": 2.0})
    with pytest.raises(ValueError, match=r"valid: \['lam', 'margin', 'score_norm'\]"):
        robustloss.get_loss("ldr_kl", **{"lambda": 2.0})
    with pytest.raises(ValueError, match=r"for loss 'ce'; valid: \[\]"):
        robustloss.get_loss("ce", q=0.5)
    with pytest.raises(ValueError, match=r"valid: \['alpha', 'lam0'"):
        robustloss.get_loss("aldr_kl", lam=1.0)


BAD = [
    ("gce", dict(q=0.0), r"q must be in \(0, 1\]"),
    ("gce", dict(q=1.5), r"q must be in \(0, 1\]"),
    ("ldr_kl", dict(lam=0.0), r"lam must be in \(0, inf\)"),
    ("ldr_kl", dict(margin=-1.0), r"margin must be in \[0, inf\)"),
    ("ldr_kl", dict(score_norm="softmax"), "score_norm must be one of"),
    ("aldr_kl", dict(alpha=0.5), r"alpha must be in \(1, inf\)"),
    ("aldr_kl", dict(lam0=-1.0), r"lam0 must be in \(0, inf\)"),
    ("js", dict(pi1=0.0), r"pi1 must be in \(0, 1\)"),
    ("js", dict(pi1=1.0), r"pi1 must be in \(0, 1\)"),
    ("rll", dict(alpha=0.0), r"alpha must be in \(0, inf\)"),
    ("cs", dict(margin=-0.5), r"margin must be in \[0, inf\)"),
    ("ww", dict(margin=-0.5), r"margin must be in \[0, inf\)"),
    ("ww", dict(reduction="max"), "reduction must be one of"),
    ("focal", dict(gamma=-1.0), r"gamma must be in \[0, inf\)"),
    ("ls", dict(epsilon=1.5), r"epsilon must be in \[0, 1\]"),
    ("poly1", dict(epsilon=-2.0), r"epsilon must be in \[-1, inf\)"),
    ("taylor_ce", dict(order=0), "order must be an int >= 1"),
    ("taylor_ce", dict(order=2.5), "order must be a Python int"),
    ("sce", dict(A=4.0), r"A must be in \(-inf, 0\)"),
    ("sce", dict(alpha=-0.1), r"alpha must be in \[0, inf\)"),
    ("rce", dict(A=0.0), r"A must be in \(-inf, 0\)"),
    ("nce_rce", dict(beta=-1.0), r"beta must be in \[0, inf\)"),
    ("agce", dict(a=0.0), r"a must be in \(0, inf\)"),
    ("aul", dict(a=1.0), r"a must be in \(1, inf\)"),
    ("nce_agce", dict(q=0.0), r"q must be in \(0, inf\)"),
    ("nce_aul", dict(a=0.5), r"a must be in \(1, inf\)"),
    ("tgce", dict(k=-0.1), r"k must be in \[0, 1\)"),
    ("gce", dict(q="0.5"), "q must be a number"),
    ("gce", dict(q=float("nan")), r"q must be in \(0, 1\]"),
    ("ldr_kl", dict(lam=np.array([1.0, -1.0])), r"lam must be in \(0, inf\)"),
]


@pytest.mark.parametrize(("name", "hp", "match"), BAD, ids=[f"{b[0]}-{list(b[1])[0]}" for b in BAD])
def test_out_of_range_values_raise(name, hp, match):
    with pytest.raises(ValueError, match=match):
        robustloss.get_loss(name, **hp)


def test_boundary_values_are_accepted():
    for name, hp in [
        ("gce", dict(q=1.0)),
        ("ldr_kl", dict(margin=0.0)),
        ("focal", dict(gamma=0.0)),
        ("ls", dict(epsilon=1.0)),
        ("poly1", dict(epsilon=-1.0)),
        ("tgce", dict(k=0.0)),
        ("taylor_ce", dict(order=1)),
        ("nce_rce", dict(A=math.log(1e-4))),
        ("gce", dict(q=jnp.float32(0.5))),  # concrete jnp scalars are checked and accepted
    ]:
        robustloss.get_loss(name, **hp)
    with pytest.raises(ValueError):
        robustloss.get_loss("gce", q=jnp.float32(2.0))  # ... and checked when out of range


def test_traced_values_skip_the_range_check():
    """Inside jit/vmap the values are abstract: no check, so sweeps can trace hyperparameters."""
    f = jnp.array([[2.0, 0.5, -1.0]])
    y = jnp.array([0])
    out = jax.jit(lambda q: robustloss.get_loss("gce", q=q)(f, y))(2.0)  # out of range, traced
    assert out.shape == (1,)
    lams = jnp.array([0.1, 1.0, 10.0])
    swept = jax.vmap(lambda lam: robustloss.get_loss("ldr_kl", lam=lam)(f, y))(lams)
    for i, lam in enumerate([0.1, 1.0, 10.0]):
        np.testing.assert_allclose(
            swept[i], robustloss.get_loss("ldr_kl", lam=lam)(f, y), rtol=1e-6
        )


def test_array_valued_hparams():
    """A per-example lam [B] is accepted by get_loss and broadcasts over the batch."""
    f = jnp.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    y = jnp.array([0, 2])
    loss = robustloss.get_loss("ldr_kl", lam=jnp.array([0.5, 2.0]))
    for i, lam in enumerate([0.5, 2.0]):
        one = robustloss.get_loss("ldr_kl", lam=lam)(f[i : i + 1], y[i : i + 1])
        np.testing.assert_allclose(loss(f, y)[i], one[0], rtol=1e-6)


def test_loss_is_a_pytree():
    loss = robustloss.get_loss("ldr_kl", lam=2.0, score_norm="l1")
    leaves, treedef = jax.tree_util.tree_flatten(loss)
    assert leaves == [2.0, 0.1]  # lam, margin; score_norm is static
    rebuilt = jax.tree_util.tree_unflatten(treedef, [3.0, 0.2])
    assert rebuilt.hparams == {"lam": 3.0, "margin": 0.2, "score_norm": "l1"}
    # A stacked Loss vmaps over its hyperparameters.
    both = jax.tree_util.tree_map(lambda a, b: jnp.array([a, b]), loss, rebuilt)
    f, y = jnp.array([[2.0, 0.5, -1.0]]), jnp.array([1])
    out = jax.vmap(lambda lo: lo(f, y))(both)
    np.testing.assert_allclose(out[0], loss(f, y), rtol=1e-6)
    np.testing.assert_allclose(out[1], rebuilt(f, y), rtol=1e-6)


def test_loss_passes_axis_and_where_on():
    """Loss(logits, labels, axis=, where=) is the function with them; where may be traced."""
    f = jnp.array([[2.0, 0.5, -1.0, 9.0], [0.1, 0.2, 0.3, 9.0]])
    y = jnp.array([0, 2])
    mask = jnp.array([[True, True, True, False], [True, False, True, False]])
    for name in ("gce", "ldr_kl", "ww"):
        loss = robustloss.get_loss(name)
        want = loss.fn(f, y, where=mask, **loss.hparams)
        np.testing.assert_array_equal(loss(f, y, where=mask), want)
        np.testing.assert_array_equal(loss(f.T, y, axis=0, where=mask.T), want)
        jitted = jax.jit(lambda lo, f, m: lo(f, y, axis=0, where=m))(loss, f.T, mask.T)
        np.testing.assert_allclose(jitted, want, rtol=1e-6)
        assert not np.allclose(loss(f, y), want)  # the mask matters here
    stacked = jax.tree_util.tree_map(
        lambda a, b: jnp.array([a, b]),
        robustloss.get_loss("gce", q=0.3),
        robustloss.get_loss("gce"),
    )
    out = jax.vmap(lambda lo: lo(f, y, where=mask))(stacked)
    np.testing.assert_allclose(out[1], robustloss.get_loss("gce")(f, y, where=mask), rtol=1e-6)
    with pytest.raises(ValueError, match="axis=2 is out of range"):
        robustloss.get_loss("ce")(f, y, axis=2)


def test_docstring_examples_run():
    from robustloss import stateful

    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    for mod in (registry, stateful):
        res = doctest.testmod(mod, optionflags=flags)
        assert res.failed == 0 and res.attempted > 0, mod.__name__


def test_docs_examples_run():
    """Every Python block of docs/losses.md runs as written."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).parents[1] / "docs" / "losses.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    for block in blocks:
        exec(compile(block, "docs/losses.md", "exec"), {})


@pytest.mark.parametrize("bad", [-1, 3])
def test_out_of_range_integer_labels_give_nan_never_a_plausible_value(bad):
    """Label -1 must not be the loss of class K-1 (take_along_axis wraps), nor K a clipped one."""
    f = jnp.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0], [0.3, -0.2, 0.9]])
    y = jnp.array([0, bad, 2])
    for name in robustloss.list_losses():
        loss = robustloss.get_loss(name)
        if registry.is_stateful(name):
            state = loss.init(3)
            if name == "tgce":  # a pruned row contributes a constant: prune row 1 to test it
                state = state._replace(mask=jnp.array([1.0, 0.0, 1.0]))
            apply = jax.jit(lambda f, y, s, sl=loss: sl.apply(f, y, s, index=jnp.arange(3)))
            out, state = apply(f, y, state)
            ref, _ = loss.apply(f, y.at[1].set(1), loss.init(3), index=jnp.arange(3))
        else:
            out = jax.jit(loss)(f, y)
            ref = loss(f, y.at[1].set(1))
        out = np.asarray(out)
        assert np.isnan(out[1]), (name, out)
        # The valid rows are untouched.
        np.testing.assert_allclose(out[[0, 2]], np.asarray(ref)[[0, 2]], rtol=1e-6, err_msg=name)
        g = jax.grad(lambda z: jnp.nansum(robustloss.get_loss("ce")(z, y)))(f)
        assert np.all(np.asarray(g)[1] == 0)  # NaN, not a gradient toward some class
