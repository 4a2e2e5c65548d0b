"""Training speed of the JAX harness vs a straightforward PyTorch-eager loop, on this CPU.

Cases (each: the same model, batch size, optimizer and data size in both frameworks):

* ``ffnn``: the LDR tabular net on an 18,000×16 synthetic problem with 26 classes (Letter's
  shape), batch 64, SGD momentum 0.9 with weight decay 5e-3; 282 steps per epoch. JAX scan
  epochs, JAX loop epochs, PyTorch.
* ``ffnn_x16``: 16 independent ``ffnn`` runs (different seeds) vmapped into one program, vs one.
* ``lenet``: LeNet-5 on Fashion-MNIST (60,000 images; synthetic if the files are absent), batch
  128, Adam 1e-3; 469 steps per epoch. JAX with the library's model (CNHW im2col, scan and loop
  epochs), JAX with the previous formulation (NHWC `PatchConv` + ``nn.max_pool``, scan), PyTorch.
* ``resnet18``: one SGD-momentum training step of the CIFAR ResNet-18 (32×32×3, 10 classes,
  BatchNorm in train mode) at ``--resnet-batch``; JAX (the harness's loop mode) vs PyTorch.

Method: every variant is built and warmed up first (JAX compile time is recorded separately),
then the variants are timed in turn, one epoch each, ``--repeats`` times (A/B/C/A/B/C/...), so
drift in machine load hits all of them. Each figure is the median and the min-max of the
repeats; each speed-up is the median (min-max) of the per-repeat ratios. PyTorch runs with
``torch.set_num_threads(os.cpu_count())``, in-memory tensors indexed by a shuffled permutation
(no DataLoader), ``zero_grad / forward / backward / step`` per batch, and reads the loss once
per epoch, like the JAX loop.

Usage::

    python bench/train_speed.py [--cases ffnn,ffnn_x16,lenet,resnet18] [--repeats 5] [--quick]
        [--json results/bench.json]

``--quick``: LeNet on the first 12,000 images, ResNet-18 at batch 8 (about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _record import fmt, machine, stats, update_section  # noqa: E402


def _data_tabular(n=18000, d=16, k=26, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d))
    y = rng.integers(0, k, size=n).astype(np.int32)
    x = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    return np.clip(x / 3, -1, 1).astype(np.float32), y, k


def _data_fmnist(n):
    try:
        from robustloss.data import load_dataset

        ds = load_dataset("fashion_mnist")
        return ds.x_train[:n], ds.y_train[:n], 10, "Fashion-MNIST"
    except Exception as e:  # noqa: BLE001 - any loader failure: fall back to synthetic data
        print(f"Fashion-MNIST unavailable ({e}); synthetic 28x28 images", file=sys.stderr)
        rng = np.random.default_rng(0)
        x = rng.random((n, 28, 28, 1), dtype=np.float32)
        return x, rng.integers(0, 10, n).astype(np.int32), 10, "synthetic"


# ----------------------------------------------------------------------------- JAX
def _lenet_nhwc(num_classes):
    """The previous LeNet-5 formulation (NHWC `PatchConv` + ``nn.max_pool``), same function."""
    import flax.linen as nn
    import jax

    from robustloss.models import PatchConv, _torch_default_bias, _torch_default_kernel

    class LeNetNHWC(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            del train
            init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
            for f, p, fan_in in ((6, 2, 25), (16, 0, 150)):
                conv = PatchConv(
                    f, (5, 5), padding=p, kernel_init=init, bias_init=_torch_default_bias(fan_in)
                )
                x = nn.max_pool(jax.nn.relu(conv(x)), (2, 2), strides=(2, 2))
            x = x.reshape((x.shape[0], -1))
            for width in (120, 84):
                dense = nn.Dense(
                    width,
                    kernel_init=_torch_default_kernel,
                    bias_init=_torch_default_bias(x.shape[-1]),
                )
                x = jax.nn.relu(dense(x))
            return nn.Dense(
                num_classes, kernel_init=_torch_default_kernel, bias_init=_torch_default_bias(84)
            )(x)

    return LeNetNHWC()


def jax_runner(model, x, y, k, batch, opt, *, mode, runs=None, devices=1):
    """Builds a `Trainer`, compiles and warms up; returns ``run() -> epoch seconds``."""
    import jax
    import optax

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
        model,
        objective_from_loss(optax.softmax_cross_entropy_with_integer_labels),
        tx,
        num_examples=len(x),
        num_classes=k,
        batch_size=batch,
        epoch_mode=mode,
        mesh=make_mesh(jax.devices()[:devices]),
        num_runs=runs,
    )
    labels = np.stack([y] * runs) if runs else y
    box = {"state": tr.init(0, x)}
    data = tr.prepare_train_data(x, labels, None)

    def run():
        t = time.perf_counter()
        box["state"], _ = tr.train_epoch(box["state"], data)  # ends with a host read: synced
        return time.perf_counter() - t

    run.first_epoch_s = run()  # compile + one epoch
    run()  # warm-up
    return run


# ----------------------------------------------------------------------------- PyTorch
def _torch_model(name, d, k):
    import torch.nn.functional as F
    from torch import nn

    if name == "ffnn":
        h = min(d, k)
        model = nn.Sequential(
            nn.Linear(d, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, k)
        )
        for m in model:
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
        return model
    if name == "lenet":
        return nn.Sequential(
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

    class Block(nn.Module):  # the CIFAR ResNet basic block (kuangliu), as robustloss.models
        def __init__(self, i, o, stride):
            super().__init__()
            self.c1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(o)
            self.c2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(o)
            self.short = nn.Sequential()
            if stride != 1 or i != o:
                self.short = nn.Sequential(
                    nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o)
                )

        def forward(self, x):
            y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
            return F.relu(self.short(x) + y)

    layers, i = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()], 64
    for stage, o in enumerate((64, 128, 256, 512)):
        for block in range(2):
            layers.append(Block(i, o, 2 if stage > 0 and block == 0 else 1))
            i = o
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, k)]
    return nn.Sequential(*layers)


def torch_runner(name, x, y, k, batch, opt):
    """PyTorch eager training; returns ``run() -> epoch seconds`` (after a warm-up epoch)."""
    import torch
    from torch import nn

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    model = _torch_model(name, x.shape[-1], k)
    xt = torch.from_numpy(x if x.ndim == 2 else np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y.astype(np.int64))
    if opt == "sgd":
        optim = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, weight_decay=5e-3)
    else:
        optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = len(x)
    steps = -(-n // batch)

    def run():
        t = time.perf_counter()
        perm = torch.randperm(n)
        total = torch.zeros(())
        for i in range(steps):
            idx = perm[i * batch : (i + 1) * batch]
            optim.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            optim.step()
            total += loss.detach() * len(idx)
        float(total)  # one read per epoch, as the JAX loop
        return time.perf_counter() - t

    run()  # warm-up
    return run


# ----------------------------------------------------------------------------- driver
def interleave(runners: dict, repeats: int, scale: float = 1.0) -> dict:
    """Times every runner once per round, ``repeats`` rounds; seconds x ``scale``."""
    samples = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            samples[name].append(run() * scale)
    return samples


def ratios(samples: dict, num: str, den: str) -> dict:
    """Per-repeat ratios ``num / den`` of interleaved samples (a speed-up of ``den``)."""
    return stats([a / b for a, b in zip(samples[num], samples[den], strict=True)])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default="ffnn,ffnn_x16,lenet,resnet18")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="smaller LeNet data and ResNet batch")
    p.add_argument("--resnet-batch", type=int, default=0, help="default 32 (8 with --quick)")
    p.add_argument("--json", default="", help="update the 'train_speed' section of this file")
    p.add_argument(
        "--lenet-devices",
        type=int,
        default=1,
        help="also time LeNet data parallel over N CPU devices (run with XLA_FLAGS="
        "'--xla_force_host_platform_device_count=N --xla_cpu_multi_thread_eigen=false')",
    )
    args = p.parse_args(argv)
    if args.repeats < 5:
        print("note: fewer than 5 repeats; bench.json figures should use >= 5", file=sys.stderr)
    cases = args.cases.split(",")
    bad = sorted(set(cases) - {"ffnn", "ffnn_x16", "lenet", "resnet18"})
    if bad:
        raise ValueError(f"unknown case(s) {bad}; valid: ffnn, ffnn_x16, lenet, resnet18")

    from robustloss.models import get_model

    out: dict = {"machine": machine(), "command": " ".join(["bench/train_speed.py"] + sys.argv[1:])}
    out["method"] = (
        f"{args.repeats} interleaved repeats per variant after compile + warm-up; median, "
        "min-max; ratios are medians of per-repeat ratios"
    )
    res: dict = {}

    def report(case, desc, samples, extra=None):
        res[case] = {"what": desc, "seconds": {k: stats(v) for k, v in samples.items()}}
        res[case].update(extra or {})
        for k, v in res[case]["seconds"].items():
            print(f"{case:9s} {k:28s} {fmt(v)}", flush=True)
        for k, v in res[case].items():
            if k.startswith("speedup") or k.endswith("ratio"):
                print(f"{case:9s} {k:28s} {fmt(v, 'x')}", flush=True)

    if "ffnn" in cases or "ffnn_x16" in cases:
        x, y, k = _data_tabular()
    if "ffnn" in cases:
        run = {
            "jax_scan": jax_runner(get_model("ffnn", k), x, y, k, 64, "sgd", mode="scan"),
            "jax_loop": jax_runner(get_model("ffnn", k), x, y, k, 64, "sgd", mode="loop"),
            "torch_eager": torch_runner("ffnn", x, y, k, 64, "sgd"),
        }
        s = interleave(run, args.repeats)
        report(
            "ffnn",
            "s/epoch; 18,000x16 synthetic, 26 classes, batch 64, SGD-momentum + wd, 282 steps",
            s,
            {
                "speedup_jax_scan_vs_torch": ratios(s, "torch_eager", "jax_scan"),
                "compile_plus_first_epoch_s": {
                    m: run[m].first_epoch_s for m in ("jax_scan", "jax_loop")
                },
            },
        )
    if "ffnn_x16" in cases:
        run = {
            "one_run": jax_runner(get_model("ffnn", k), x, y, k, 64, "sgd", mode="scan"),
            "sixteen_runs": jax_runner(
                get_model("ffnn", k), x, y, k, 64, "sgd", mode="scan", runs=16
            ),
        }
        s = interleave(run, args.repeats)
        report(
            "ffnn_x16",
            "s/epoch; the ffnn case, 16 seeds vmapped into one program vs one run (scan)",
            s,
            {"cost_ratio": ratios(s, "sixteen_runs", "one_run")},
        )
    if "lenet" in cases:
        x, y, k, src = _data_fmnist(12000 if args.quick else 60000)
        steps = -(-len(x) // 128)
        run = {
            "jax_scan": jax_runner(get_model("lenet", k), x, y, k, 128, "adam", mode="scan"),
            "jax_loop": jax_runner(get_model("lenet", k), x, y, k, 128, "adam", mode="loop"),
            "jax_scan_previous_nhwc": jax_runner(_lenet_nhwc(k), x, y, k, 128, "adam", mode="scan"),
            "torch_eager": torch_runner("lenet", x, y, k, 128, "adam"),
        }
        n_dev = args.lenet_devices
        if n_dev > 1:
            import jax

            if len(jax.devices()) < n_dev:
                raise ValueError(
                    f"--lenet-devices={n_dev} but JAX sees {len(jax.devices())} device(s); set "
                    f"XLA_FLAGS=--xla_force_host_platform_device_count={n_dev}"
                )
            model = get_model("lenet", k)
            run[f"jax_scan_{n_dev}dev"] = jax_runner(
                model, x, y, k, 128, "adam", mode="scan", devices=n_dev
            )
        s = interleave(run, args.repeats)
        report(
            "lenet",
            f"s/epoch; LeNet-5, {src} {len(x):,} images, batch 128, Adam, {steps} steps",
            s,
            {
                "data": src,
                "speedup_jax_scan_vs_torch": ratios(s, "torch_eager", "jax_scan"),
                "speedup_jax_loop_vs_torch": ratios(s, "torch_eager", "jax_loop"),
                "speedup_vs_previous_nhwc": ratios(s, "jax_scan_previous_nhwc", "jax_scan"),
                **(
                    {
                        f"speedup_jax_scan_{n_dev}dev_vs_torch": ratios(
                            s, "torch_eager", f"jax_scan_{n_dev}dev"
                        )
                    }
                    if n_dev > 1
                    else {}
                ),
                "compile_plus_first_epoch_s": {
                    m: run[m].first_epoch_s
                    for m in ("jax_scan", "jax_loop", "jax_scan_previous_nhwc")
                },
            },
        )
    if "resnet18" in cases:
        b = args.resnet_batch or (8 if args.quick else 32)
        rng = np.random.default_rng(0)
        x = rng.random((2 * b, 32, 32, 3), dtype=np.float32)
        y = rng.integers(0, 10, 2 * b).astype(np.int32)
        run = {
            "jax_loop": jax_runner(get_model("resnet18", 10), x, y, 10, b, "sgd", mode="loop"),
            "torch_eager": torch_runner("resnet18", x, y, 10, b, "sgd"),
        }
        s = interleave(run, args.repeats, scale=0.5)  # 2 steps per epoch -> s/step
        report(
            "resnet18",
            f"s/step; CIFAR ResNet-18 (nn.Conv), 32x32x3, batch {b}, SGD-momentum + wd, BN train",
            s,
            {
                "batch": b,
                "speedup_jax_vs_torch": ratios(s, "torch_eager", "jax_loop"),
                "compile_plus_first_epoch_s": {"jax_loop": run["jax_loop"].first_epoch_s},
            },
        )
    out["cases"] = res
    if args.json:
        update_section(args.json, "train_speed", out)
        print(f"wrote section 'train_speed' of {args.json}")
    else:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
