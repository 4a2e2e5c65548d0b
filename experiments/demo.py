"""The ``make demo`` job: CE vs GCE vs LDR-KL vs ALDR-KL under 40% symmetric label noise.

Trains ``configs/demo.py`` (LeNet-5, Adam 1e-3, batch 128, a 12,000-image Fashion-MNIST subset,
5 epochs) once per loss, prints a table of clean test accuracy per loss, and writes
``test_accuracy.png`` (test accuracy per epoch, and train accuracy against the noisy and the
clean labels) into the workdir. Without the Debian Fashion-MNIST files it says so and uses
scikit-learn digits with the ``ffnn`` model instead. Each loss has its own sub-workdir, so
re-running resumes unfinished runs and reuses finished ones.

Usage::

    python -m experiments.demo --workdir /tmp/robustloss_demo [--losses ce,gce] [--epochs 5]
"""

from __future__ import annotations

import json
import os
import time

from absl import app, flags, logging

from experiments.plots import plot

_WORKDIR = flags.DEFINE_string("workdir", "/tmp/robustloss_demo", "Output directory.")
_LOSSES = flags.DEFINE_list("losses", ["ce", "gce", "ldr_kl", "aldr_kl"], "Losses to compare.")
_EPOCHS = flags.DEFINE_integer("epochs", 0, "Epochs per run (0: the config's).")

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
NAMES = {"ce": "CE", "gce": "GCE", "ldr_kl": "LDR-KL", "aldr_kl": "ALDR-KL"}


def _have_fashion_mnist() -> bool:
    files = ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")
    return all(os.path.exists(os.path.join(FMNIST_DIR, f)) for f in files)


def demo_config(loss: str, fashion_mnist: bool, epochs: int = 0):
    """The demo's config for one loss (digits + ffnn when Fashion-MNIST is absent)."""
    from configs import demo

    arg = f"loss={loss}"
    if not fashion_mnist:
        arg += ",dataset=digits,model=ffnn,epochs=30,batch=64,lr=0.01,dataset.max_train=0"
    if epochs:
        arg += f",epochs={epochs}"
    config = demo.get_config(arg)
    with config.unlocked():
        config.progress = "lines"
    return config


def main(argv: list[str]) -> None:
    del argv
    logging.set_verbosity(logging.WARNING)
    from robustloss.training import train

    workdir = os.path.abspath(_WORKDIR.value)
    os.makedirs(workdir, exist_ok=True)
    fmnist = _have_fashion_mnist()
    if fmnist:
        print(f"Fashion-MNIST from {FMNIST_DIR}: LeNet-5, 12,000 training images, 40% noise")
    else:
        print(
            f"Fashion-MNIST not found in {FMNIST_DIR} (Debian package dataset-fashion-mnist); "
            "using scikit-learn digits with the ffnn model instead"
        )
    histories: dict[str, list[dict]] = {}
    rows = []
    t_all = time.time()
    for loss in _LOSSES.value:
        config = demo_config(loss, fmnist, _EPOCHS.value)
        print(f"--- {NAMES.get(loss, loss)} ({loss}) ---", flush=True)
        t0 = time.time()
        summary = train(config, os.path.join(workdir, loss))
        histories[NAMES.get(loss, loss)] = summary["history"]
        final = summary["final"]
        rows.append(
            (
                NAMES.get(loss, loss),
                final["test/top1"],
                max(r["test/top1"] for r in summary["history"]),
                final["train/acc_noisy"],
                final["train/acc_clean"],
                time.time() - t0,
            )
        )
    dataset = "Fashion-MNIST" if fmnist else "digits"
    title = f"{dataset}, 40% symmetric noise"
    png = os.path.join(workdir, "test_accuracy.png")
    plot(histories, png, title)
    header = f"{'loss':8s} {'test acc':>9s} {'best':>7s} {'train/noisy':>12s} {'train/clean':>12s}"
    lines = [f"Clean test accuracy, {title} (final epoch)", header, "-" * len(header)]
    for name, acc, best, an, ac, _ in rows:
        lines.append(f"{name:8s} {acc:9.4f} {best:7.4f} {an:12.4f} {ac:12.4f}")
    table = "\n".join(lines)
    print("\n" + table)
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(
            {
                "dataset": dataset,
                "rows": [
                    {"loss": r[0], "test_top1": r[1], "best_test_top1": r[2], "seconds": r[5]}
                    for r in rows
                ],
            },
            f,
            indent=1,
        )
    print(f"\nplot: {png}\ntotal {time.time() - t_all:.0f}s")


if __name__ == "__main__":
    app.run(main)
