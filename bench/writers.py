"""What the metric writers (and the noise diagnostics) cost a small run: the Letter protocol.

The LDR Letter run (``configs/letter.py``: ffnn, SGD, batch 64, 250 steps per epoch, LDR-KL)
for ``--epochs`` epochs, in one process, with the variants timed in turn (A/B/C/D, A/B/C/D,
... after one warm-up round, so drift in machine load hits all of them):

* ``off``: ``workdir=None`` -- nothing is written (the reference);
* ``jsonl``: a workdir with ``writers=("jsonl",)`` -- ``metrics.jsonl`` as before;
* ``jsonl+tensorboard``: ``writers=("jsonl", "tensorboard")``;
* ``jsonl+tensorboard+diagnostics``: the same plus the noise diagnostics on every epoch
  (``diagnostics.every=1``: an eval-mode pass over the training set; the default runs them on
  about ten epochs per run) and ``examples.parquet``.

The first three run with ``diagnostics.every=0`` and no ``examples.parquet``, and every variant
checkpoints only after the last epoch, so what differs per epoch is the writers. The measure is
the wall time between consecutive epoch ends (the progress callback fires after an epoch's
writers and checkpoint), over epochs 2..E-1 (epoch 1 compiles, epoch E checkpoints): the median
per run, then per repeat the ratio to ``off`` of the same round; reported as median (min-max)
over the repeats, with the whole call's wall time (compilation, opening the writers and the
final files included). The issue's bar: no writer adds more than 5% (ratio <= 1.05).

Run it on a quiet machine (the numbers of a loaded one mean nothing)::

    python bench/writers.py [--epochs 20] [--repeats 5] [--json results/bench.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = {
    "off": None,
    "jsonl": {"writers": ("jsonl",), "every": 0, "examples": False},
    "jsonl+tensorboard": {"writers": ("jsonl", "tensorboard"), "every": 0, "examples": False},
    "jsonl+tensorboard+diagnostics": {
        "writers": ("jsonl", "tensorboard"),
        "every": 1,
        "examples": True,
    },
}


def one_run(name: str, epochs: int, root: str) -> dict:
    """Trains variant ``name`` once; returns its per-epoch interval median and call wall time."""
    from configs import letter
    from robustloss.training import train

    config = letter.get_config(f"epochs={epochs}")
    spec = VARIANTS[name]
    with config.unlocked():
        config.progress = "lines"
        config.checkpoint_every = epochs + 1  # only the last epoch checkpoints
        if spec is None:
            config.diagnostics.every, config.diagnostics.examples = 0, False
        else:
            config.writers = spec["writers"]
            config.diagnostics.every, config.diagnostics.examples = spec["every"], spec["examples"]
    ends: list[float] = []

    def log(line: str) -> None:
        if line.startswith("epoch "):
            ends.append(time.perf_counter())

    workdir = None if spec is None else tempfile.mkdtemp(dir=root)
    t0 = time.perf_counter()
    train(config, workdir, log=log)
    wall = time.perf_counter() - t0
    gaps = [b - a for a, b in zip(ends[:-1], ends[1:], strict=True)][:-1]  # epochs 2..E-1
    return {"epoch": statistics.median(gaps), "wall": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--json", default=None, help="add a 'writers' section to this bench file")
    args = p.parse_args()
    if args.epochs < 4:
        raise SystemExit("--epochs must be >= 4 (epochs 2..E-1 are timed)")
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown or "off" not in names:
        raise SystemExit(f"--variants {unknown} unknown or 'off' missing; from {list(VARIANTS)}")
    from _record import fmt, machine, stats, update_section
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as root:
        for n in names:  # warm-up: data files in the page cache, imports, first compiles
            one_run(n, 4, root)
        for rep in range(args.repeats):
            for n in names:
                runs[n].append(one_run(n, args.epochs, root))
            print(f"repeat {rep + 1}/{args.repeats} done", flush=True)
    out: dict = {"machine": machine(), "epochs": args.epochs, "variants": {}}
    print(f"\nLetter protocol, {args.epochs} epochs, {args.repeats} interleaved repeats")
    print("| variant | s/epoch (epochs 2..E-1) | ratio to off | whole call s |")
    print("|---|---|---|---|")
    for n in names:
        ep = stats([r["epoch"] for r in runs[n]])
        ratio = stats([r["epoch"] / o["epoch"] for r, o in zip(runs[n], runs["off"], strict=True)])
        wall = stats([r["wall"] for r in runs[n]])
        out["variants"][n] = {"epoch_seconds": ep, "ratio_to_off": ratio, "call_seconds": wall}
        print(f"| {n} | {fmt(ep)} | {fmt(ratio, 'x')} | {fmt(wall)} |")
    if args.json:
        update_section(args.json, "writers", out)
        print(f"wrote section 'writers' of {args.json}")


if __name__ == "__main__":
    main()
