"""Writes the tour notebook from the cells below (run: python notebooks/_build.py).

Kept as a script so the notebook's source is reviewable as plain Python; the committed .ipynb has
no outputs and is executed by tests/test_notebooks.py.
"""

import pathlib

import nbformat as nbf

MD, CODE = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell

cells = [
    MD(
        "# robustloss tour\n\n"
        "Losses as pure JAX functions, seeded label noise with its true transition matrix T, and a "
        "short noisy-label training run through the harness. Everything here uses the public API "
        "only and runs on a CPU in about a minute."
    ),
    CODE(
        "import jax\n"
        "import jax.numpy as jnp\n"
        "import numpy as np\n"
        "import optax\n\n"
        "import robustloss as rl\n"
        "from robustloss import noise\n\n"
        "print(len(rl.list_losses()), 'losses:', ', '.join(rl.list_losses()))"
    ),
    MD(
        "## 1. A loss is `logits, labels -> per-example loss`\n\n"
        "Hyperparameters are bound by the registry (or passed as keywords to the functions in "
        "`robustloss.losses`); integer labels and one-hot/soft labels give the same value for "
        "one-hot."
    ),
    CODE(
        "logits = jax.random.normal(jax.random.key(0), (4, 5)) * 3\n"
        "labels = jnp.array([0, 1, 2, 3])\n"
        "ldr = rl.get_loss('ldr_kl', lam=1.0, margin=0.0)\n"
        "ce = rl.get_loss('ce')\n"
        "# LDR-KL with lam=1, margin=0 is CE - log K\n"
        "print(ldr(logits, labels))\n"
        "print(ce(logits, labels) - jnp.log(5.0))\n"
        "np.testing.assert_allclose(ldr(logits, labels), ce(logits, labels) - np.log(5), rtol=1e-5)\n"
        "onehot = jax.nn.one_hot(labels, 5)\n"
        "np.testing.assert_allclose(ldr(logits, onehot), ldr(logits, labels), rtol=1e-6)"
    ),
    MD(
        "Symmetric losses (Ghosh et al. 2017) satisfy sum over y of loss(f, y) = constant; "
        "CE does not."
    ),
    CODE(
        "f = jax.random.normal(jax.random.key(1), (3, 6)) * 2\n"
        "def class_sum(name, **hp):\n"
        "    loss = rl.get_loss(name, **hp)\n"
        "    return sum(loss(f, jnp.full((3,), y)) for y in range(6))\n"
        "for name in ['mae', 'nce', 'rce', 'rll', 'ce', 'gce']:\n"
        "    print(f'{name:4s}', np.round(np.asarray(class_sum(name)), 4))"
    ),
    MD(
        "Drop a loss into your own optax training step: it returns one value per example, you "
        "reduce it."
    ),
    CODE(
        "w = jnp.zeros((64, 10))\n"
        "x = jax.random.normal(jax.random.key(2), (256, 64))\n"
        "y = jnp.argmax(x[:, :10], axis=1)\n"
        "gce = rl.get_loss('gce', q=0.7)\n"
        "opt = optax.adam(1e-2)\n"
        "state = opt.init(w)\n\n"
        "@jax.jit\n"
        "def step(w, state):\n"
        "    loss, g = jax.value_and_grad(lambda w: gce(x @ w, y).mean())(w)\n"
        "    updates, state = opt.update(g, state)\n"
        "    return optax.apply_updates(w, updates), state, loss\n\n"
        "for i in range(300):\n"
        "    w, state, loss = step(w, state)\n"
        "acc = float((jnp.argmax(x @ w, 1) == y).mean())\n"
        "print(f'final GCE loss {float(loss):.3f}, train accuracy {acc:.2f}')\n"
        "assert acc > 0.8"
    ),
    MD(
        "## 2. Label noise with a stated meaning of `rate` and its true T\n\n"
        "`T[clean, noisy]`, rows sum to one. `symmetric` flips to a *different* class (error rate "
        "= rate); `uniform` redraws over all K (error rate = rate (K-1)/K)."
    ),
    CODE(
        "clean = np.repeat(np.arange(10), 10_000)\n"
        "for kind in ['symmetric', 'uniform']:\n"
        "    out = noise.add_noise(clean, num_classes=10, kind=kind, rate=0.4, seed=0)\n"
        "    print(kind, 'error rate', out.is_noisy.mean().round(4), 'T[0,0] =', out.T[0, 0].round(3))\n"
        "fm = noise.add_noise(clean, num_classes=10, kind='pair', class_map='fashion_mnist', rate=0.4, seed=0)\n"
        "emp = noise.empirical_transition(clean, fm.labels, 10)\n"
        "print('pair (RENT FMNIST map): max |empirical T - T| =', np.abs(emp - fm.T).max().round(4))"
    ),
    MD(
        "## 3. Train through the harness\n\n"
        "A config (ml-collections) names the dataset, noise, model, loss and optimizer; `train` "
        "runs it (here on scikit-learn digits with 20% symmetric noise, no workdir). "
        "`train_many` vmaps several seeds into one compiled program."
    ),
    CODE(
        "from configs import test as test_config\n"
        "from robustloss.training import train, train_many\n\n"
        "summary = train(test_config.get_config('loss=gce,epochs=2'), workdir=None, log=lambda s: None)\n"
        "print('GCE clean test top-1:', round(summary['final']['test/top1'], 3))\n"
        "runs = train_many(test_config.get_config('loss=ldr_kl,epochs=2'), seeds=[0, 1, 2], log=lambda s: None)\n"
        "print('LDR-KL, 3 seeds in one program:', np.round(runs['final']['test/top1'], 3))\n"
        "assert len(runs['final']['test/top1']) == 3"
    ),
]

nb = nbf.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
out = pathlib.Path(__file__).with_name("tour.ipynb")
nbf.write(nb, out)
print("wrote", out)
