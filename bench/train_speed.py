"""Epoch time of the JAX training loop vs a straightforward PyTorch-eager loop (CPU).

Cases (each: the same model, batch size, optimizer and data size in both frameworks):

* ``ffnn``: the LDR tabular net on an 18,000×16 synthetic problem with 26 classes (Letter's
  shape), batch 64, SGD momentum 0.9 with weight decay 5e-3; 282 steps per epoch.
* ``ffnn_x16``: 16 independent ``ffnn`` runs (different seeds) vmapped into one program, vs one.
* ``lenet``: LeNet-5 on Fashion-MNIST (60,000 images; synthetic if the files are absent), batch
  128, Adam 1e-3; 469 steps per epoch.

JAX timings exclude compilation (one warm-up epoch); every number is the minimum over
``--repeats`` epochs, because the machine is shared. PyTorch LeNet epochs are timed over 150
steps and scaled to 469. PyTorch runs with
``torch.set_num_threads(2)``, data as in-memory tensors indexed by a shuffled permutation
(no DataLoader), ``zero_grad / forward / backward / step`` per batch.

Usage::

    python bench/train_speed.py [--cases ffnn,ffnn_x16,lenet] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def _data_tabular(n=18000, d=16, k=26, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d))
    y = rng.integers(0, k, size=n).astype(np.int32)
    x = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    return np.clip(x / 3, -1, 1).astype(np.float32), y, k


def _data_fmnist():
    try:
        from robustloss.data import load_dataset

        ds = load_dataset("fashion_mnist")
        return ds.x_train, ds.y_train, 10, "Fashion-MNIST"
    except Exception as e:  # noqa: BLE001 - any loader failure: fall back to synthetic data
        print(f"Fashion-MNIST unavailable ({e}); synthetic 28x28 images")
        rng = np.random.default_rng(0)
        x = rng.random((60000, 28, 28, 1), dtype=np.float32)
        return x, rng.integers(0, 10, 60000).astype(np.int32), 10, "synthetic"


# ----------------------------------------------------------------------------- JAX
def jax_epoch_times(model_name, x, y, k, batch, opt, *, mode, repeats, runs=None):
    import jax
    import optax

    from robustloss.models import get_model
    from robustloss.training import (
        Trainer,
        make_mesh,
        make_optimizer,
        make_schedule,
        objective_from_loss,
    )

    if opt == "sgd":
        tx = make_optimizer("sgd", make_schedule(1e-2), momentum=0.9, weight_decay=5e-3)
    else:
        tx = make_optimizer("adam", make_schedule(1e-3))
    tr = Trainer(
        get_model(model_name, k),
        objective_from_loss(optax.softmax_cross_entropy_with_integer_labels),
        tx,
        num_examples=len(x),
        num_classes=k,
        batch_size=batch,
        epoch_mode=mode,
        mesh=make_mesh(jax.devices()[:1]),
        num_runs=runs,
    )
    labels = np.stack([y] * runs) if runs else y
    state = tr.init(0, x)
    data = tr.prepare_train_data(x, labels, None)
    state, m = tr.train_epoch(state, data)  # compile + warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        state, m = tr.train_epoch(state, data)  # ends with a device->host read: synchronised
        times.append(time.perf_counter() - t)
    return min(times), m


# ----------------------------------------------------------------------------- PyTorch
def torch_epoch_times(model_name, x, y, k, batch, opt, *, repeats, max_steps=None):
    import torch
    from torch import nn

    torch.set_num_threads(2)
    torch.manual_seed(0)
    if model_name == "ffnn":
        d = x.shape[1]
        h = min(d, k)
        model = nn.Sequential(
            nn.Linear(d, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, k)
        )
        for m in model:
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
        xt = torch.from_numpy(x)
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, k),
        )
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y.astype(np.int64))
    if opt == "sgd":
        optim = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, weight_decay=5e-3)
    else:
        optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = len(x)
    steps = -(-n // batch)

    def epoch(limit):
        perm = torch.randperm(n)
        total = 0.0
        for i in range(min(steps, limit or steps)):
            idx = perm[i * batch : (i + 1) * batch]
            optim.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            optim.step()
            total += loss.item() * len(idx)
        return total / n

    epoch(50)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        epoch(max_steps)
        dt = time.perf_counter() - t
        if max_steps and max_steps < steps:
            dt *= steps / max_steps
        times.append(dt)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default="ffnn,ffnn_x16,lenet")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default="")
    args = p.parse_args()
    cases = args.cases.split(",")
    out: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "host": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "results": {},
    }
    import jax
    import torch

    out["versions"] = {"jax": jax.__version__, "torch": torch.__version__}
    res = out["results"]
    if "ffnn" in cases or "ffnn_x16" in cases:
        x, y, k = _data_tabular()
        if "ffnn" in cases:
            for mode in ("scan", "loop"):
                t, _ = jax_epoch_times("ffnn", x, y, k, 64, "sgd", mode=mode, repeats=args.repeats)
                res[f"ffnn/jax_{mode}_s"] = t
            res["ffnn/torch_eager_s"] = torch_epoch_times(
                "ffnn", x, y, k, 64, "sgd", repeats=args.repeats
            )
            best = min(res["ffnn/jax_scan_s"], res["ffnn/jax_loop_s"])
            res["ffnn/speedup"] = res["ffnn/torch_eager_s"] / best
            print(json.dumps({k_: v for k_, v in res.items() if k_.startswith("ffnn/")}))
        if "ffnn_x16" in cases:
            t1, _ = jax_epoch_times("ffnn", x, y, k, 64, "sgd", mode="scan", repeats=args.repeats)
            t16, m = jax_epoch_times(
                "ffnn", x, y, k, 64, "sgd", mode="scan", repeats=args.repeats, runs=16
            )
            res["ffnn_x16/one_run_s"] = t1
            res["ffnn_x16/sixteen_runs_s"] = t16
            res["ffnn_x16/cost_ratio"] = t16 / t1
            print(json.dumps({k_: v for k_, v in res.items() if k_.startswith("ffnn_x16/")}))
    if "lenet" in cases:
        x, y, k, src = _data_fmnist()
        res["lenet/data"] = src
        for mode in ("loop", "scan"):
            t, _ = jax_epoch_times("lenet", x, y, k, 128, "adam", mode=mode, repeats=args.repeats)
            res[f"lenet/jax_{mode}_s"] = t
        # PyTorch: 150 timed steps per repeat, scaled to the 469-step epoch.
        res["lenet/torch_eager_s"] = torch_epoch_times(
            "lenet", x, y, k, 128, "adam", repeats=args.repeats, max_steps=150
        )
        best = min(res["lenet/jax_loop_s"], res["lenet/jax_scan_s"])
        res["lenet/speedup"] = res["lenet/torch_eager_s"] / best
        print(json.dumps({k_: v for k_, v in res.items() if k_.startswith("lenet/")}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
