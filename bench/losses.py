"""Speed of every registered loss vs optax's integer-label softmax cross-entropy.

For each loss: a jitted forward pass (per-example losses) and a jitted forward+backward pass
(gradient of the mean loss w.r.t. the logits) on ``[batch, classes]`` float32 logits with integer
labels. Loss and baseline calls alternate one by one (so a change in machine load hits both),
each call followed by ``block_until_ready``; the table reports the medians and the ratio to
``optax.softmax_cross_entropy_with_integer_labels``. Stateful losses are timed through ``apply``
(forward includes the state update).

The whole sweep is repeated (``--repeat``) and the reported ratio is the median of the
per-sweep ratios, with their range, because a shared machine drifts.

Usage::

    python bench/losses.py                      # all losses, [4096, 100]
    python bench/losses.py --losses ce,ldr_kl --batch 1024 --classes 1000 --json out.json
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import robustloss
from robustloss.registry import is_stateful


def _time(fn, args, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        out.append(time.perf_counter() - t0)
    return out


def _range(lo_hi) -> str:
    return f"{lo_hi[0]:.2f}-{lo_hi[1]:.2f}"


def _programs(name: str):
    """(forward, forward+grad) jitted functions of (logits, labels)."""
    if name == "optax_ce":
        per_example = optax.softmax_cross_entropy_with_integer_labels
    elif is_stateful(name):
        sl = robustloss.get_loss(name)

        def per_example(logits, labels):
            state = sl.init(logits.shape[0])
            return sl.apply(logits, labels, state, index=jnp.arange(logits.shape[0]))[0]
    else:
        per_example = robustloss.get_loss(name)

    fwd = jax.jit(per_example)
    fwd_bwd = jax.jit(jax.grad(lambda f, y: jnp.mean(per_example(f, y))))
    return fwd, fwd_bwd


def bench(names, batch: int, classes: int, rounds: int, reps: int, warmup: int, repeat: int):
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(scale=3.0, size=(batch, classes)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, classes, size=batch), jnp.int32)
    base = _programs("optax_ce")
    progs = {name: _programs(name) for name in names}
    for name in names:  # compile and warm up everything first
        for fn in (*progs[name], *base):
            _time(fn, (logits, labels), warmup)
    samples = {name: {"fwd": [], "fwd_bwd": []} for name in names}
    for _ in range(repeat):  # whole sweeps, so slow drifts in machine load hit every loss
        for name in names:
            for kind, fn, ref in (
                ("fwd", progs[name][0], base[0]),
                ("fwd_bwd", progs[name][1], base[1]),
            ):
                t_loss, t_ref = [], []
                for _ in range(rounds * reps):  # paired, alternating calls
                    t_loss += _time(fn, (logits, labels), 1)
                    t_ref += _time(ref, (logits, labels), 1)
                samples[name][kind].append((statistics.median(t_loss), statistics.median(t_ref)))
    rows = []
    for name in names:
        row = {"loss": name}
        for kind, pairs in samples[name].items():
            ratios = [a / b for a, b in pairs]
            row[f"{kind}_ms"] = 1e3 * statistics.median(a for a, _ in pairs)
            row[f"{kind}_optax_ms"] = 1e3 * statistics.median(b for _, b in pairs)
            row[f"{kind}_ratio"] = statistics.median(ratios)
            row[f"{kind}_ratio_range"] = (min(ratios), max(ratios))
        rows.append(row)
        print(
            f"{name:10s} fwd {row['fwd_ms']:7.3f} ms ({row['fwd_ratio']:.2f}x)   "
            f"fwd+grad {row['fwd_bwd_ms']:7.3f} ms ({row['fwd_bwd_ratio']:.2f}x)",
            file=sys.stderr,
            flush=True,
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10, help="rounds x reps timed calls")
    parser.add_argument("--reps", type=int, default=20, help="timed calls per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--repeat", type=int, default=5, help="whole sweeps; medians of the per-sweep ratios"
    )
    parser.add_argument("--losses", default="all", help="comma-separated names, or 'all'")
    parser.add_argument(
        "--json", default=None, help="also write the rows to the 'losses' section of this file"
    )
    args = parser.parse_args(argv)

    names = robustloss.list_losses() if args.losses == "all" else args.losses.split(",")
    print(
        f"# jax {jax.__version__}, optax {optax.__version__}, {jax.devices()[0].platform}, "
        f"{platform.processor() or platform.machine()}; logits [{args.batch}, {args.classes}] "
        f"float32, int labels; {args.repeat} sweeps of {args.rounds * args.reps} alternating calls"
    )
    rows = bench(names, args.batch, args.classes, args.rounds, args.reps, args.warmup, args.repeat)
    print()
    print(
        "| loss | fwd ms | optax CE fwd ms | fwd ratio (range) | fwd+grad ms "
        "| optax CE fwd+grad ms | fwd+grad ratio (range) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        flag = " (stateful)" if is_stateful(r["loss"]) else ""
        print(
            f"| `{r['loss']}`{flag} | {r['fwd_ms']:.3f} | {r['fwd_optax_ms']:.3f} | "
            f"{r['fwd_ratio']:.2f} ({_range(r['fwd_ratio_range'])}) | {r['fwd_bwd_ms']:.3f} | "
            f"{r['fwd_bwd_optax_ms']:.3f} | {r['fwd_bwd_ratio']:.2f} "
            f"({_range(r['fwd_bwd_ratio_range'])}) |"
        )
    stateless = [r for r in rows if not is_stateful(r["loss"])]
    worst = max(max(r["fwd_ratio"], r["fwd_bwd_ratio"]) for r in stateless) if stateless else 0
    print(f"\nworst stateless ratio: {worst:.2f}x (target <= 2x)")
    if args.json:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _record import machine, update_section

        payload = {
            "machine": machine(),
            "command": " ".join(["bench/losses.py"] + (argv or sys.argv[1:])),
            "method": (
                f"{args.repeat} sweeps, each {args.rounds * args.reps} alternating loss/optax "
                "calls; ms are medians over sweeps of per-sweep medians, ratios medians "
                "(min-max) of per-sweep ratios"
            ),
            "batch": args.batch,
            "classes": args.classes,
            "rows": rows,
        }
        update_section(args.json, "losses", payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
