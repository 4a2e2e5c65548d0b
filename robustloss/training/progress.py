"""Progress display of a training run: a live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from robustloss.training.workdir import mean_value

__all__ = ["Progress"]


class Progress:
    """A live status line on a terminal, plain lines otherwise (or nothing).

    Args:
        mode: ``"auto"`` (``"bar"`` on a terminal, else ``"lines"``), ``"bar"``, ``"lines"``
            or ``"none"``.
        num_epochs: total epochs (for ``epoch e/n`` and the ETA).
        log: line printer for ``"lines"`` (default ``print``).

    Example:
        >>> p = Progress("lines", 2, log=print)
        >>> p.note("compiling…")
        compiling…
        >>> p.update({"epoch": 1, "train/loss": [0.5, 0.7], "time": 1.0})  # doctest: +ELLIPSIS
        epoch 1/2  train/loss=0.6000  1.0s ETA ...s
    """

    def __init__(self, mode: str, num_epochs: int, log: Callable[[str], None] | None):
        if mode == "auto":
            mode = "bar" if sys.stdout.isatty() else "lines"
        self.mode = mode
        self.num_epochs = num_epochs
        self.log = log or (lambda s: print(s, flush=True))
        self.t0 = time.time()
        self.done0: int | None = None

    def note(self, message: str) -> None:
        """A status line (``loading data…``, ``compiling…``); nothing with ``mode="none"``."""
        if self.mode == "none":
            return
        if self.mode == "bar":  # only before the first epoch's bar, so no carriage return
            sys.stdout.write(message + "\n")
            sys.stdout.flush()
        else:
            self.log(message)

    def update(self, record: dict) -> None:
        if self.mode == "none":
            return
        e = record["epoch"]
        if self.done0 is None:
            self.done0 = e - 1
        rate = (time.time() - self.t0) / max(1, e - self.done0)
        eta = rate * (self.num_epochs - e)
        parts = [f"epoch {e}/{self.num_epochs}"]
        for key in ("train/loss", "train/acc_noisy", "train/acc_clean", "val/top1", "test/top1"):
            if key in record:
                parts.append(f"{key}={mean_value(record[key]):.4f}")
        parts.append(f"{record['time']:.1f}s ETA {eta:.0f}s")
        line = "  ".join(parts)
        if self.mode == "bar":
            end = "\n" if e == self.num_epochs else ""
            sys.stdout.write("\r\033[K" + line + end)
            sys.stdout.flush()
        else:
            self.log(line)
