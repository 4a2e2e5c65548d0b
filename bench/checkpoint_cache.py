"""Checkpoint cost and the persistent compilation cache (issue 10), one fresh process per run.

    PYTHONPATH=$PWD python bench/checkpoint_cache.py --epochs 30 --reps 2

Checkpointing: ``configs/test.py`` (digits, ffnn) for ``--epochs`` epochs with a workdir,
saving every epoch (``checkpoint_every=1``), only after the last epoch (``checkpoint_every =
epochs``) and by elapsed time (``checkpoint_seconds``); modes interleaved, ``--reps`` times.
Compilation cache: the same run twice in fresh processes sharing a new cache directory (cold,
then warm), and once without the cache. Wall time is the whole ``train`` call in the child
(data, compilation, epochs), measured there.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from robustloss._io import write_json

CHILD = r"""
import json, sys, time
import jax
cache = sys.argv[3]
if cache:
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
from configs import test as test_config
from robustloss.training import train
t0 = time.time()
train(test_config.get_config(sys.argv[1]), sys.argv[2], log=lambda s: None)
print(json.dumps({"wall": time.time() - t0}))
"""


def _run(arg: str, cache: str = "") -> float:
    wd = tempfile.mkdtemp(prefix="rl_ckpt_")
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, arg, wd, cache],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "JAX_PLATFORMS": "cpu"},
        )
        return json.loads(out.stdout.strip().splitlines()[-1])["wall"]
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def _stat(v):
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--out", default="")
    a = p.parse_args()
    base = f"epochs={a.epochs},progress=none"
    modes = {
        "every_epoch": base + ",checkpoint_every=1",
        "last_only": base + f",checkpoint_every={a.epochs}",
        "by_time": base + f",checkpoint_seconds={a.seconds}",
    }
    times = {m: [] for m in modes}
    for _ in range(a.reps):
        for m, arg in modes.items():
            times[m].append(_run(arg))
    cache = {"cold": [], "warm": [], "off": []}
    for _ in range(a.reps):
        d = tempfile.mkdtemp(prefix="rl_jaxcache_")
        cache["cold"].append(_run(base + f",checkpoint_every={a.epochs}", d))
        cache["warm"].append(_run(base + f",checkpoint_every={a.epochs}", d))
        cache["off"].append(_run(base + f",checkpoint_every={a.epochs}"))
        shutil.rmtree(d, ignore_errors=True)
    res = {
        "load_avg": os.getloadavg(),
        "checkpointing": {m: _stat(v) for m, v in times.items()},
        "compilation_cache": {m: _stat(v) for m, v in cache.items()},
    }
    print(json.dumps(res, indent=1))
    if a.out:
        write_json(a.out, res)


if __name__ == "__main__":
    main()
