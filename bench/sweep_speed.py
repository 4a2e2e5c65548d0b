"""Sweep benchmarks: the 64-cell grid through ``experiments.sweep`` vs separate
``experiments.main`` commands, and 1 worker x 2 threads vs 2 workers x 1 thread.

    PYTHONPATH=$PWD python bench/sweep_speed.py [--reps 2] [--separate 6] [--out FILE]

Every figure is the wall time of a fresh command (Python start, JAX import, data, compile,
train) on this machine. Separate commands: ``--separate`` of the 64 are timed one after the
other and the total for 64 is extrapolated from their mean (said so in the output). The
worker configurations are interleaved A/B/A/B. Load average is recorded before each timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from robustloss._io import write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRID = os.path.join(ROOT, "bench", "sweep_grid.py")


def _load() -> float:
    return os.getloadavg()[0]


def _timed(cmd: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    t0 = time.time()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if out.returncode:
        raise SystemExit(f"{cmd} failed:\n{out.stderr[-3000:]}")
    return wall


def sweep(workers: int, threads: int) -> dict:
    wd = tempfile.mkdtemp(prefix="sweep_bench_")
    load = _load()
    try:
        wall = _timed(
            [sys.executable, "-m", "experiments.sweep", "--config", GRID, "--workdir", wd]
            + [f"--workers={workers}", f"--threads={threads}"]
        )
    finally:
        shutil.rmtree(wd, ignore_errors=True)
    return {"workers": workers, "threads": threads, "wall_s": wall, "load": load}


def cache(enabled: bool) -> dict:
    """configs/test.py's 12-cell grid twice in one DIR (cells removed in between): the second
    sweep compiles nothing when the persistent compilation cache is on."""
    wd = tempfile.mkdtemp(prefix="sweep_cache_")
    cmd = [sys.executable, "-m", "experiments.sweep", "--config", "configs/test.py"]
    cmd += ["--workdir", wd, "--workers=1", "--threads=2"]
    if not enabled:
        cmd.append("--compilation_cache=")
    try:
        load = _load()
        first = _timed(cmd)
        for name in ("cells", "results.parquet"):
            p = os.path.join(wd, name)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
        second = _timed(cmd)
    finally:
        shutil.rmtree(wd, ignore_errors=True)
    return {"cache": enabled, "first_s": first, "repeat_s": second, "load": load}


def separate(n: int) -> list[dict]:
    sys.path.insert(0, ROOT)
    import bench.sweep_grid as grid  # noqa: E402
    from robustloss.sweep import cell_arg

    cells = grid.get_sweep()
    step = max(1, len(cells) // n)
    out = []
    for c in cells[::step][:n]:
        wd = tempfile.mkdtemp(prefix="main_bench_")
        load = _load()
        try:
            wall = _timed(
                [sys.executable, "-m", "experiments.main"]
                + [f"--config=configs/test.py:{cell_arg(c)}", "--workdir", wd]
            )
        finally:
            shutil.rmtree(wd, ignore_errors=True)
        out.append({"cell": cell_arg(c), "wall_s": wall, "load": load})
    return out


def _stats(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--separate", type=int, default=6)
    p.add_argument("--out", default="")
    a = p.parse_args()
    runs = {"1x2": [], "2x1": []}
    for _ in range(a.reps):
        for name, (w, t) in (("1x2", (1, 2)), ("2x1", (2, 1))):
            r = sweep(w, t)
            runs[name].append(r)
            print(json.dumps({"sweep": name, **r}), flush=True)
    caches = []
    for enabled in (True, False):
        caches.append(cache(enabled))
        print(json.dumps(caches[-1]), flush=True)
    sep = separate(a.separate)
    for r in sep:
        print(json.dumps({"separate": r}), flush=True)
    per_cmd = _stats([r["wall_s"] for r in sep])
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPU cores",
        "grid": "bench/sweep_grid.py: 64 cells = 4 programs x 16 runs (configs/test.py, 2 epochs)",
        "sweep_64_cells_s": {k: _stats([r["wall_s"] for r in v]) for k, v in runs.items()},
        "sweep_load": {k: [r["load"] for r in v] for k, v in runs.items()},
        "separate_command_s": per_cmd,
        "separate_load": [r["load"] for r in sep],
        "separate_64_extrapolated_s": 64 * per_cmd["median"],
        "compilation_cache": caches,
        "note": f"64 separate commands extrapolated from {len(sep)} timed ones (median x 64)",
    }
    best = min(report["sweep_64_cells_s"].values(), key=lambda s: s["median"])
    report["speedup_vs_separate"] = report["separate_64_extrapolated_s"] / best["median"]
    for k, s in report["sweep_64_cells_s"].items():
        report.setdefault("cells_per_hour", {})[k] = 64 * 3600 / s["median"]
    print(json.dumps(report, indent=1))
    if a.out:
        write_json(a.out, report)


if __name__ == "__main__":
    main()
