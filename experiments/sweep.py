"""Run a whole grid of cells: packed into vmapped programs, resumable cell by cell.

Usage::

    python -m experiments.sweep --config configs/test.py --workdir /tmp/rl_sweep --dry_run
    python -m experiments.sweep --config configs/test.py --workdir /tmp/rl_sweep
    python -m experiments.sweep --config configs/test.py:epochs=3 --workdir /tmp/rl_sweep3 \
        --engine ray --workers 2

The config file defines ``get_sweep(arg)`` (a list of ``:key=value`` cells) next to
``get_config(arg)``. Re-running the same command trains only unfinished cells. Results:
``DIR/cells/<id>/`` per cell and ``DIR/results.parquet`` (``robustloss.sweep.results.load``). See
``docs/sweeps.md``.
"""

from __future__ import annotations

from absl import app, flags, logging

_CONFIG = flags.DEFINE_string("config", None, "Config file[:arg] defining get_sweep(arg).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Sweep directory (created; resumed if present).")
_ENGINE = flags.DEFINE_enum("engine", "local", ["local", "ray"], "Where programs run.")
_WORKERS = flags.DEFINE_integer(
    "workers", None, "Programs in parallel (0: inline in this process). Default: 1 using all cores."
)
_THREADS = flags.DEFINE_integer("threads", None, "CPU threads per worker (default cores/workers).")
_MAX_PACK = flags.DEFINE_integer("max_pack", 64, "At most this many runs per program.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print cells, packing and cost; train nothing.")
_RETRY = flags.DEFINE_bool("retry_failed", False, "Re-run cells recorded as FAILED.")
_RAY_ADDRESS = flags.DEFINE_string("ray_address", None, "Join this Ray cluster (--engine ray).")
_WAIT = flags.DEFINE_bool(
    "wait", False, "If another driver runs in --workdir, wait for it instead of failing."
)
_CACHE = flags.DEFINE_string(
    "compilation_cache",
    None,
    "JAX persistent compilation cache of the workers (default DIR/jax_cache; '' turns it off).",
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from robustloss.sweep import load_cells, run_sweep
    from robustloss.sweep.lock import SweepLockedError
    from robustloss.sweep.runner import SweepInterrupted, interrupted_by

    cells = load_cells(_CONFIG.value)
    try:
        report = run_sweep(
            cells,
            _WORKDIR.value,
            engine=_ENGINE.value,
            workers=_WORKERS.value,
            threads=_THREADS.value,
            max_pack=_MAX_PACK.value,
            retry_failed=_RETRY.value,
            dry_run=_DRY_RUN.value,
            ray_address=_RAY_ADDRESS.value,
            compilation_cache=_CACHE.value,
            wait=_WAIT.value,
        )
    except SweepLockedError as e:
        raise SystemExit(f"error: {e}") from None
    except KeyboardInterrupt as e:  # SIGINT, or SIGTERM (SweepInterrupted)
        signum = e.signum if isinstance(e, SweepInterrupted) else (interrupted_by() or 2)
        print(
            f"sweep interrupted ({'SIGTERM' if signum == 15 else 'SIGINT'}): workers stopped, "
            "finished cells kept; rerun the same command to resume",
            flush=True,
        )
        raise SystemExit(128 + signum) from None
    if report["stopped"] and not _DRY_RUN.value:
        raise SystemExit(f"error: {report['stopped']}")
    if report["failed"] and not _DRY_RUN.value:
        raise SystemExit(f"{report['failed']} cell(s) failed; see their FAILED files")


if __name__ == "__main__":
    app.run(main)
