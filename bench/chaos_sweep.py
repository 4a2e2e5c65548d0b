"""Chaos run of the sweep driver: random kills and second drivers, then the table is compared.

    PYTHONPATH=$PWD python bench/chaos_sweep.py --kills 20 --out /tmp/chaos.json
    PYTHONPATH=$PWD python bench/chaos_sweep.py --config configs/test.py:epochs=20 \
        --kills 3 --min_delay 2 --max_delay 20         # a small run (minutes)

What it does (docs/sweeps.md, "What survives what"):

1. An uninterrupted sweep of ``--config`` into ``DIR/reference`` (or ``--reference DIR``, a
   finished sweep of the same grid).
2. ``--kills`` rounds in ``DIR/chaos``: start ``python -m experiments.sweep`` in its own process
   group; once it holds the directory's lock, start a second driver on the same directory
   with probability ``--second`` (it must exit at once, non-zero, naming the first); after a
   random delay in [``--min_delay``, ``--max_delay``] s kill the first, in turn, with: SIGKILL
   of the driver only, SIGKILL of its whole process group, SIGTERM of the driver only (which
   must exit 143 after stopping its workers). Then every process the driver had started must
   be gone within ``--grace`` s. A reader thread calls
   ``results.load`` on the chaos directory all along (readers must never fail while the
   driver rewrites the table).
3. A final driver runs the chaos sweep to its end; its table must equal the reference table
   (every cell and epoch; every number to float rounding: rel 2e-5, abs 1e-6; ``time``,
   ``elapsed`` skipped), the FAILED cells must be the same, no pack and no temporary file may
   be left.

Defaults: the Letter-shaped grid (``bench/sweep_letter_grid.py``: 525 cells, 15 programs of 35
runs, ~9 min uninterrupted on a quiet 2-core machine), 20 kills with delays of 5-90 s. The
script prints a summary and writes it as JSON to ``--out``; it exits non-zero when a check
fails. Run the full version on a quiet machine (it takes about as long as the uninterrupted
sweep plus the kills' delays, twice).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from robustloss._io import tmp_owner, write_json  # noqa: E402 -- after the path setup

DEFAULT_CONFIG = os.path.join(ROOT, "bench", "sweep_letter_grid.py")
KILLS = ("driver SIGKILL", "group SIGKILL", "driver SIGTERM")
NOT_COMPARED = ("time", "elapsed")


def _env() -> dict:
    return {
        **os.environ,
        "PYTHONPATH": ROOT,
        "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
    }


def _cmd(args, wd: str) -> list[str]:
    cmd = [sys.executable, "-m", "experiments.sweep", "--config", args.config, "--workdir", wd]
    cmd += [f"--engine={args.engine}"]
    if args.workers is not None:
        cmd += [f"--workers={args.workers}"]
    if args.threads is not None:
        cmd += [f"--threads={args.threads}"]
    return cmd


def _start(args, wd: str, log) -> subprocess.Popen:
    return subprocess.Popen(
        _cmd(args, wd),
        cwd=ROOT,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: "whole group" kills reach its workers
    )


def _holder(wd: str) -> int | None:
    from robustloss.sweep.lock import holder

    return (holder(wd) or {}).get("pid")


def _tree(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(procs) -> list[int]:
    import psutil

    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def _reader(wd: str, stop: threading.Event, counts: dict) -> None:
    """Reads the chaos table over and over while drivers write it."""
    import warnings

    from robustloss.sweep import results

    while not stop.is_set():
        if os.path.exists(os.path.join(wd, results.TABLE)):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    results.load(wd)
                counts["reads"] += 1
            except Exception as e:  # noqa: BLE001 -- what we count
                counts["failed"] += 1
                counts.setdefault("errors", []).append(f"{type(e).__name__}: {e}"[:300])
        time.sleep(0.05)


def _run_to_end(args, wd: str, log) -> tuple[int, float]:
    t0 = time.time()
    out = subprocess.run(_cmd(args, wd), cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    return out.returncode, time.time() - t0


def _failed(wd: str) -> set[str]:
    root = os.path.join(wd, "cells")
    return {c for c in os.listdir(root) if os.path.exists(os.path.join(root, c, "FAILED"))}


def _compare(ref: str, chaos: str) -> dict:
    import numpy as np
    import pandas as pd

    from robustloss.sweep import results

    a = results.load(ref).sort_values(["cell_id", "epoch"]).reset_index(drop=True)
    b = results.load(chaos).sort_values(["cell_id", "epoch"]).reset_index(drop=True)
    out = {"rows": [len(a), len(b)], "cells": [a["cell_id"].nunique(), b["cell_id"].nunique()]}
    out["same_cells_and_epochs"] = bool(
        len(a) == len(b)
        and (a["cell_id"] == b["cell_id"]).all()
        and (a["epoch"] == b["epoch"]).all()
    )
    out["same_columns"] = sorted(set(a.columns) ^ set(b.columns)) == []
    worst, exact, bad = 0.0, 0, []
    if out["same_cells_and_epochs"] and out["same_columns"]:
        for col in sorted(set(a.columns) - set(NOT_COMPARED)):
            x, y = a[col], b[col]
            if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
                xv, yv = x.to_numpy(np.float64), y.to_numpy(np.float64)
                both_nan = np.isnan(xv) & np.isnan(yv)
                diff = np.where(both_nan, 0.0, np.abs(xv - yv))
                worst = max(worst, float(np.nanmax(diff)) if len(diff) else 0.0)
                if not np.all(both_nan | np.isclose(xv, yv, rtol=2e-5, atol=1e-6)):
                    bad.append(col)
            elif not x.astype(str).equals(y.astype(str)):
                bad.append(col)
        per_cell = a.drop(columns=list(NOT_COMPARED), errors="ignore").groupby("cell_id")
        other = b.drop(columns=list(NOT_COMPARED), errors="ignore").groupby("cell_id")
        for cid, frame in per_cell:
            if frame.reset_index(drop=True).equals(other.get_group(cid).reset_index(drop=True)):
                exact += 1
    out.update(max_abs_diff=worst, columns_differing=bad, cells_bitwise_equal=exact)
    out["equal_to_rounding"] = bool(
        out["same_cells_and_epochs"] and out["same_columns"] and not bad
    )
    return out


def _leftovers(wd: str) -> dict:
    packs = os.path.join(wd, "packs")
    tmp = []
    for dirpath, _, files in os.walk(wd):
        if "jax_cache" in dirpath:
            continue
        tmp += [os.path.join(dirpath, f) for f in files if tmp_owner(f) is not None]
    return {"packs": sorted(os.listdir(packs)) if os.path.isdir(packs) else [], "tmp_files": tmp}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=DEFAULT_CONFIG, help="sweep config FILE[:arg]")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--min_delay", type=float, default=5.0)
    ap.add_argument("--max_delay", type=float, default=90.0)
    ap.add_argument("--second", type=float, default=0.5, help="chance of a second driver")
    ap.add_argument("--grace", type=float, default=10.0, help="s for killed processes to end")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engine", default="local", choices=["local", "ray"])
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--workdir", default=None, help="default: a new temporary directory")
    ap.add_argument("--reference", default=None, help="a finished sweep of the same grid")
    ap.add_argument("--out", default=None, help="write the summary here (JSON)")
    ap.add_argument("--keep", action="store_true", help="keep the directories")
    args = ap.parse_args(argv)
    from robustloss.sweep import lock, results  # noqa: F401 -- imported before the reader thread

    rng = random.Random(args.seed)
    base = args.workdir or tempfile.mkdtemp(prefix="chaos_sweep_")
    os.makedirs(base, exist_ok=True)
    chaos = os.path.join(base, "chaos")
    log = open(os.path.join(base, "drivers.log"), "a")
    summary: dict = {
        "config": args.config,
        "engine": args.engine,
        "kills_requested": args.kills,
        "seed": args.seed,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "workdir": base,
    }
    ref = args.reference
    if ref is None:
        ref = os.path.join(base, "reference")
        print(f"reference: an uninterrupted sweep in {ref} ...", flush=True)
        rc, wall = _run_to_end(args, ref, log)
        summary["reference"] = {"returncode": rc, "wall_s": wall}
        print(f"  exit {rc} in {wall:.0f}s", flush=True)
    stop, reads = threading.Event(), {"reads": 0, "failed": 0}
    reader = threading.Thread(target=_reader, args=(chaos, stop, reads), daemon=True)
    reader.start()
    rounds = []
    t_chaos = time.time()
    try:
        kinds = list(KILLS)
        rng.shuffle(kinds)  # every kind in turn, from a random first one
        for i in range(args.kills):
            kind = kinds[i % len(kinds)]
            delay = rng.uniform(args.min_delay, args.max_delay)
            second = rng.random() < args.second
            r: dict = {"round": i + 1, "kill": kind, "delay_s": round(delay, 1)}
            a = _start(args, chaos, log)
            t0 = time.time()
            while _holder(chaos) != a.pid and a.poll() is None and time.time() - t0 < 300:
                time.sleep(0.1)
            if second and a.poll() is None:
                b = subprocess.run(
                    _cmd(args, chaos),
                    cwd=ROOT,
                    env=_env(),
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                held = a.poll() is None  # A still ran when B finished
                r["second_driver"] = {
                    "returncode": b.returncode,
                    "refused_naming_the_first": b.returncode != 0
                    and f"pid {a.pid}" in (b.stdout + b.stderr),
                    "first_alive_throughout": held,
                }
            time.sleep(max(0.0, delay - (time.time() - t0)))
            if a.poll() is not None:
                r["finished_before_kill"] = True
                r["returncode"] = a.returncode
                rounds.append(r)
                print(f"round {i + 1}: the driver finished before its kill", flush=True)
                break
            procs = _tree(a.pid)
            if kind == "group SIGKILL":
                os.killpg(a.pid, signal.SIGKILL)
            else:
                a.send_signal(signal.SIGKILL if kind == "driver SIGKILL" else signal.SIGTERM)
            t_kill = time.time()
            a.wait()
            while _alive(procs) and time.time() - t_kill < args.grace:
                time.sleep(0.1)
            r["returncode"] = a.returncode
            r["processes_left_after_grace"] = _alive(procs)
            r["seconds_to_clean"] = round(time.time() - t_kill, 2)
            for p in r["processes_left_after_grace"]:  # do not let them spoil later rounds
                os.kill(p, signal.SIGKILL)
            rounds.append(r)
            print(f"round {i + 1}: {kind} after {delay:.0f}s; {r}", flush=True)
        rc, wall = _run_to_end(args, chaos, log)
    finally:
        stop.set()
        reader.join(5)
        log.close()
    summary["rounds"] = rounds
    summary["kills_done"] = sum(1 for r in rounds if not r.get("finished_before_kill"))
    killed = [r for r in rounds if not r.get("finished_before_kill")]
    summary["kills_by_kind"] = {k: sum(r["kill"] == k for r in killed) for k in KILLS}
    summary["final"] = {"returncode": rc, "wall_s": wall}
    summary["chaos_wall_s"] = time.time() - t_chaos
    summary["readers"] = reads
    summary["table"] = _compare(ref, chaos)
    summary["failed_cells_same"] = _failed(ref) == _failed(chaos)
    summary["leftovers"] = _leftovers(chaos)
    seconds = [r for r in rounds if "second_driver" in r]
    checks = {
        "final driver exit 0 (or as the reference)": rc
        == summary.get("reference", {}).get("returncode", 0),
        "table equals the reference to float rounding": summary["table"]["equal_to_rounding"],
        "same FAILED cells": summary["failed_cells_same"],
        "no process left after a kill": all(
            not r.get("processes_left_after_grace") for r in rounds
        ),
        "SIGTERM stops the driver cleanly (exit 143)": all(
            r["returncode"] == 128 + signal.SIGTERM for r in killed if r["kill"] == "driver SIGTERM"
        ),
        "second drivers refused at once, naming the first": all(
            r["second_driver"]["refused_naming_the_first"]
            for r in seconds
            if r["second_driver"]["first_alive_throughout"]
        ),
        "no reader failed": reads["failed"] == 0,
        "no pack or temporary file left": not any(summary["leftovers"].values()),
    }
    summary["checks"] = checks
    summary["ok"] = all(checks.values())
    print(json.dumps({k: v for k, v in summary.items() if k != "rounds"}, indent=1, default=str))
    if args.out:
        write_json(args.out, summary, default=str)
    if not args.keep and args.workdir is None and summary["ok"]:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
