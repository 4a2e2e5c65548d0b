"""Prints the Markdown tables of ``results/bench.json`` that docs/training.md quotes.

Usage::

    python bench/summarize.py [results/bench.json]
"""

from __future__ import annotations

import json
import sys


def _f(s: dict, scale: float = 1.0, digits: int = 3) -> str:
    g = lambda v: f"{v * scale:.{digits}g}"
    return f"{g(s['median'])} ({g(s['min'])}–{g(s['max'])})"


def main(path: str = "results/bench.json") -> None:
    with open(path) as f:
        b = json.load(f)
    ts = b.get("train_speed")
    if ts:
        m = ts["machine"]
        print(
            f"`{ts['command']}`, {m['date_utc']} UTC, {m['cpu']} ({m['host']}), load average "
            f"{m['load_average_1_5_15'][0]:.1f} at the start; jax {m['jax']}, torch "
            f"{m.get('torch', '-')}; {ts['method']}.\n"
        )
        print("| case | variant | time | speed-up vs PyTorch |")
        print("|---|---|---|---|")
        for case, r in ts["cases"].items():
            unit = "s/step" if case == "resnet18" else "s/epoch"
            for v, s in r["seconds"].items():
                key = {
                    "jax_scan": "speedup_jax_scan_vs_torch",
                    "jax_loop": (
                        "speedup_jax_vs_torch"
                        if case == "resnet18"
                        else "speedup_jax_loop_vs_torch"
                    ),
                }.get(v)
                sp = f"{_f(r[key])}×" if key and key in r else ""
                print(f"| `{case}` | {v} | {_f(s)} {unit} | {sp} |")
            for k, v in r.items():
                if k.endswith("ratio") or k == "speedup_vs_previous_nhwc":
                    print(f"| `{case}` | {k} | {_f(v)}× | |")
        print()
        for case, r in ts["cases"].items():
            if "compile_plus_first_epoch_s" in r:
                c = ", ".join(f"{k} {v:.2f} s" for k, v in r["compile_plus_first_epoch_s"].items())
                print(f"- `{case}` compile + first epoch: {c}")
        print()
    e = b.get("end_to_end")
    if e:
        m = e["machine"]
        print(
            f"`{e['command']}`, {m['date_utc']} UTC, load average "
            f"{m['load_average_1_5_15'][0]:.1f}; {e['what']}.\n"
        )
        print("| phase | seconds, median (min–max) |")
        print("|---|---|")
        for k, s in e["phases_s"].items():
            print(f"| {k} | {_f(s)} |")
    lo = b.get("losses")
    if lo:
        m = lo["machine"]
        print(
            f"\n`{lo['command']}`, {m['date_utc']} UTC, load average "
            f"{m['load_average_1_5_15'][0]:.1f}, jax {m['jax']}; logits [{lo['batch']}, "
            f"{lo['classes']}]; {lo['method']}.\n"
        )
        print(
            "| loss | fwd ms | optax CE fwd ms | fwd ratio (range) | fwd+grad ms | "
            "optax CE fwd+grad ms | fwd+grad ratio (range) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in lo["rows"]:
            fr, br = r["fwd_ratio_range"], r["fwd_bwd_ratio_range"]
            print(
                f"| `{r['loss']}` | {r['fwd_ms']:.3f} | {r['fwd_optax_ms']:.3f} | "
                f"{r['fwd_ratio']:.2f} ({fr[0]:.2f}-{fr[1]:.2f}) | {r['fwd_bwd_ms']:.3f} | "
                f"{r['fwd_bwd_optax_ms']:.3f} | "
                f"{r['fwd_bwd_ratio']:.2f} ({br[0]:.2f}-{br[1]:.2f}) |"
            )


if __name__ == "__main__":
    main(*sys.argv[1:])
