"""The default path (``axis=-1, where=None``) is bit-identical to the losses before the change.

``default_path_pins.json`` holds the float32 bits of every stateless loss (int, one-hot and soft
labels; values and gradients; jitted, and eager for integer labels; float32 and bfloat16 logits)
and of the two stateful losses, computed by `compute_pins` with the implementation of commit
9b20e84 (before the optax conventions were added). The training harness and many pinned numbers
in results/ depend on these values, so any change to them must be deliberate.

Bit equality is only meaningful for the same jax version and CPU architecture; elsewhere the
comparison falls back to ``rtol=1e-6``. Regenerate (only from an implementation whose default
path is known to be unchanged) with::

    PYTHONPATH=. python -c "import tests.losses.test_default_path as t; t.write_pins()"
"""

from __future__ import annotations

import json
import pathlib
import platform

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import robustloss
from robustloss.registry import is_stateful

PINS = pathlib.Path(__file__).with_name("default_path_pins.json")
STATELESS = [n for n in robustloss.list_losses() if not is_stateful(n)]
# Non-default settings whose code paths differ from the defaults.
EXTRA = {
    "gce": dict(q=0.3),
    "sce": dict(alpha=0.5, beta=2.0, A=-6.0),
    "nce_rce": dict(alpha=5.0, beta=5.0, A=-9.21),
    "rll": dict(alpha=0.1),
    "ww": dict(margin=0.5, reduction="mean"),
    "ldr_kl": dict(lam=0.5, margin=0.3, score_norm="softplus_mean"),
    "ldr_kl-l1": dict(lam=10.0, margin=1.0, score_norm="l1"),
    "focal": dict(gamma=0.5),
    "taylor_ce": dict(order=5),
    "js": dict(pi1=0.9),
    "poly1": dict(epsilon=-0.5),
    "ls": dict(epsilon=0.3),
}
CASES = [(n, n, {}) for n in STATELESS] + [
    (f"{key}-custom", key.split("-")[0], hp) for key, hp in EXTRA.items()
]
STATEFUL = {
    "aldr_kl-paper": ("aldr_kl", dict(lam0=2.0, margin=0.2)),
    "aldr_kl-code-l1": ("aldr_kl", dict(lam0=10.0, score_norm="l1", update="code")),
    "aldr_kl-softplus": ("aldr_kl", dict(score_norm="softplus_mean")),
    "tgce": ("tgce", dict(q=0.6, k=0.4)),
}


def inputs():
    rng = np.random.default_rng(20261201)
    f = rng.normal(scale=3.0, size=(8, 5)).astype(np.float32)
    f[6] = [1e4, -1e4, 0.0, 1e4, -1e4]
    f[7] = 0.5
    y = np.array([0, 4, 2, 1, 3, -1, 1, 2], np.int32)  # -1: an invalid label (NaN row)
    q = rng.dirichlet(np.ones(5), size=8).astype(np.float32)
    return jnp.asarray(f), jnp.asarray(y), jnp.asarray(q)


def _bits(x) -> str:
    return np.asarray(x, np.float32).tobytes().hex()


def _stateless_outputs(loss, f, y, q):
    """Values for int / one-hot / soft labels and gradients of their sums, f32 and bf16."""

    def grads(x, lab):
        return jax.grad(lambda z: jnp.nansum(loss(z, lab)))(x)

    one_hot = jax.nn.one_hot(jnp.maximum(y, 0), f.shape[-1])
    fb = f.astype(jnp.bfloat16)
    return {
        "int": loss(f, y),
        "one_hot": loss(f, one_hot),
        "soft": loss(f, q),
        "grad_int": grads(f, y),
        "grad_soft": grads(f, q),
        "bf16_int": loss(fb, y),
        "bf16_grad_int": grads(fb, y).astype(jnp.float32),
    }


def _stateful_outputs(sl, f, y, q):
    def run(f, labels):
        state = sl.init(10)
        if sl.name == "tgce":
            state = state._replace(mask=jnp.arange(10) % 3 != 0)
        index = jnp.array([0, 1, 2, 3, 4, 5, 6, 10])
        out, state = sl.apply(f, labels, state, index=index)
        g = jax.grad(lambda z: jnp.nansum(sl.apply(z, labels, state, index=index)[0]))(f)
        return {"loss": out, "state": jax.tree_util.tree_leaves(state)[0], "grad": g}

    out = {f"int_{k}": v for k, v in run(f, y).items()}
    out.update({f"soft_{k}": v for k, v in run(f, q).items()})
    return out


def compute_pins() -> dict[str, dict[str, str]]:
    """The float32 bits (hex) of every output, keyed by case and output name."""
    f, y, q = inputs()
    pins = {}
    for key, name, hp in CASES:
        loss = robustloss.get_loss(name, **hp)
        jitted = jax.jit(lambda lo, f, y, q: _stateless_outputs(lo, f, y, q))(loss, f, y, q)
        pins[key] = {f"jit_{k}": _bits(v) for k, v in jitted.items()}
        pins[key]["eager_int"] = _bits(loss.fn(f, y, **loss.hparams))
    for key, (name, hp) in STATEFUL.items():
        sl = robustloss.get_loss(name, **hp)
        out = jax.jit(lambda f, y, q, sl=sl: _stateful_outputs(sl, f, y, q))(f, y, q)
        pins[f"stateful-{key}"] = {k: _bits(v) for k, v in out.items()}
    return pins


def _environment() -> dict[str, str]:
    return {"jax": jax.__version__, "machine": platform.machine()}


def write_pins() -> None:
    PINS.write_text(json.dumps({"env": _environment(), "pins": compute_pins()}, indent=0) + "\n")


@pytest.fixture(scope="module")
def current():
    return compute_pins()


@pytest.fixture(scope="module")
def saved():
    return json.loads(PINS.read_text())


def test_pins_cover_every_stateless_loss(saved):
    assert {name for _, name, _ in CASES} == set(STATELESS)
    assert set(saved["pins"]) == {k for k, _, _ in CASES} | {f"stateful-{k}" for k in STATEFUL}


@pytest.mark.parametrize("key", [k for k, _, _ in CASES] + [f"stateful-{k}" for k in STATEFUL])
def test_default_path_is_bit_identical(key, current, saved):
    exact = saved["env"] == _environment()
    for out, hexbits in saved["pins"][key].items():
        want = np.frombuffer(bytes.fromhex(hexbits), np.float32)
        got = np.frombuffer(bytes.fromhex(current[key][out]), np.float32)
        assert got.shape == want.shape, (key, out)
        if exact:
            both_nan = np.isnan(got) & np.isnan(want)
            same = (got.view(np.uint32) == want.view(np.uint32)) | both_nan
            assert np.all(same), (key, out, got[~same], want[~same])
        else:  # another jax version or CPU: XLA may fuse or vectorise sums differently
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=f"{key} {out}")
