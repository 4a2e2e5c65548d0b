"""Sweeps: grids of cells in config files, packed into vmapped programs, resumable, on a local
process pool or Ray; results in one table (`robustloss.sweep.results`). See ``docs/sweeps.md``.

* `product`, `zip`: build grids of ``:key=value`` cells (a config file's ``get_sweep(arg)``).
* `load_cells`, `cells_from_grid`: resolve cells to standalone configs with stable ids.
* `plan_programs`, `PACKABLE`: which cells share one compiled program.
* `run_sweep`: the driver (what ``python -m experiments.sweep`` runs), one per directory
  (`DriverLock`, `SweepLockedError`).
* `make_executor`: the engines (``local``, ``ray``).
* `verify_cell`: a finished cell's files against its ``DONE`` record.
"""

from robustloss.sweep.cells import NOT_IN_ID, Cell, cell_dir, cell_status, verify_cell
from robustloss.sweep.executors import ENGINES, make_executor, thread_env
from robustloss.sweep.grid import cell_arg, join_args, product, zip
from robustloss.sweep.lock import DriverLock, SweepLockedError
from robustloss.sweep.plan import PACKABLE, PackAxis, Program, plan_programs, program_key
from robustloss.sweep.runner import (
    SweepInterrupted,
    cells_from_grid,
    describe_plan,
    load_cells,
    run_sweep,
)
from robustloss.sweep.worker import run_program

__all__ = [
    "DriverLock",
    "ENGINES",
    "NOT_IN_ID",
    "PACKABLE",
    "Cell",
    "PackAxis",
    "SweepInterrupted",
    "SweepLockedError",
    "Program",
    "cell_arg",
    "cell_dir",
    "cell_status",
    "cells_from_grid",
    "describe_plan",
    "join_args",
    "load_cells",
    "make_executor",
    "plan_programs",
    "product",
    "program_key",
    "run_program",
    "run_sweep",
    "thread_env",
    "verify_cell",
    "zip",
]
