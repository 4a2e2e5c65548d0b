"""Progress display: a live line on a terminal, plain lines otherwise (or nothing).

`StatusLine` is the one display of the package; `Progress` (a training run's epochs) and the
sweep driver's cell counts (`robustloss.sweep.runner`) only format what it shows.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from robustloss.training.workdir import mean_value

__all__ = ["Progress", "StatusLine"]

MODES = ("auto", "bar", "lines", "none")


class StatusLine:
    """A status line rewritten in place on a terminal, logged line by line otherwise.

    Args:
        mode: ``"bar"`` (rewrite one live line on stdout: carriage return + clear-line),
            ``"lines"`` (hand each message to ``log``), ``"none"`` (show nothing) or ``"auto"``
            (``"bar"`` when stdout is a terminal, else ``"lines"``).
        log: line printer for ``"lines"`` (default: ``print``, flushed).

    Example:
        >>> s = StatusLine("lines", log=print)
        >>> s.show("3/10 done", "cell 7 done  [3/10 done]")
        cell 7 done  [3/10 done]
        >>> s.show("4/10 done")  # no message: nothing to log
    """

    def __init__(self, mode: str = "auto", log: Callable[[str], None] | None = None):
        if mode not in MODES:
            raise ValueError(f"progress mode={mode!r} is not valid; choose one of {list(MODES)}")
        if mode == "auto":
            mode = "bar" if sys.stdout.isatty() else "lines"
        self.mode = mode
        self.log = log or (lambda s: print(s, flush=True))
        self._open = False  # a live line is on the terminal without its newline

    def show(self, live: str, message: str | None = None) -> None:
        """Shows ``live`` as the live line (``"bar"``) or logs ``message`` (``"lines"``)."""
        if self.mode == "bar":
            sys.stdout.write("\r\033[K" + live)
            sys.stdout.flush()
            self._open = True
        elif self.mode == "lines" and message is not None:
            self.log(message)

    def note(self, message: str) -> None:
        """A line of its own (``loading data…``); ends an open live line first."""
        if self.mode == "bar":
            self.end()
            sys.stdout.write(message + "\n")
            sys.stdout.flush()
        elif self.mode == "lines":
            self.log(message)

    def end(self) -> None:
        """Ends the live line (a newline), so that later output starts on a line of its own."""
        if self._open:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._open = False


class Progress:
    """A training run's progress: one status line per epoch (`StatusLine`).

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
        self.display = StatusLine(mode, log)
        self.num_epochs = num_epochs
        self.t0 = time.time()
        self.done0: int | None = None

    def note(self, message: str) -> None:
        """A status line (``loading data…``, ``compiling…``); nothing with ``mode="none"``."""
        self.display.note(message)

    def update(self, record: dict) -> None:
        """Shows the epoch ``record`` (``epoch``, ``time`` and the metrics it has)."""
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
        self.display.show(line, line)
        if e == self.num_epochs:
            self.display.end()
