"""One driver per sweep directory: an OS lock held for the driver's lifetime.

`DriverLock` takes an exclusive ``fcntl.flock`` on ``DIR/driver.lock`` and holds it until
`DriverLock.release` (or until the process ends: the kernel drops the lock of a killed process,
so a crashed driver never leaves a stale lock). The file's text names the holder -- pid, host,
start time and command -- so a second driver fails at once with `SweepLockedError` naming it,
or, with ``wait=True``, waits for it.

Everything that writes the sweep directory's shared files (``cells/``, ``results.parquet``,
``sweep.json``, removing ``packs/``) runs under this lock; `held` tells a writer whether this
process holds it (`robustloss.sweep.results` takes it for the length of one write when called
outside a driver). Workers never take it: they write only their own ``packs/<id>/``, under the
run's own workdir lock.

On read-only storage the lock file cannot be created or written; `DriverLock` then holds a
shared view only (``read_only=True``), and the driver may only re-check a finished sweep.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable

__all__ = ["LOCK_FILE", "DriverLock", "SweepLockedError", "held", "holder"]

LOCK_FILE = "driver.lock"

_HELD: dict[str, DriverLock] = {}  # sweep directory -> this process's lock on it


class SweepLockedError(RuntimeError):
    """Another driver (another process) holds the sweep directory's lock."""


def _describe(info: dict | None) -> str:
    if not info:
        return "another process (its details are not readable)"
    return (
        f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}: "
        f"{info.get('command')}"
    )


def holder(workdir: str) -> dict | None:
    """The holder's details written in ``DIR/driver.lock`` (None when unreadable/empty).

    The details stay in the file after the holder ends; they describe the *current* holder
    only while the lock is held (`DriverLock` rewrites them when it takes the lock).
    """
    path = os.path.join(os.path.abspath(workdir), LOCK_FILE)
    for _ in range(5):  # the holder may be rewriting the file this instant
        try:
            with open(path) as f:
                text = f.read()
            if text.strip():
                return json.loads(text)
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, OSError):
            pass
        time.sleep(0.05)
    return None


def held(workdir: str) -> bool:
    """Whether this process holds the driver lock of ``workdir`` (writable)."""
    lock = _HELD.get(os.path.abspath(workdir))
    return lock is not None and not lock.read_only


class DriverLock:
    """The driver lock of one sweep directory (see the module docstring).

    Args:
        workdir: the sweep directory (created if missing and writable).
        wait: wait for another holder instead of failing.
        log: line printer for the "waiting for ..." note.

    Raises:
        SweepLockedError: another process holds the lock (``wait=False``), naming it.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> lock = DriverLock(d)  # then write cells/, the table
        >>> held(d)
        True
        >>> lock.release()
        >>> held(d)
        False
    """

    def __init__(
        self, workdir: str, *, wait: bool = False, log: Callable[[str], None] | None = None
    ):
        self.workdir = os.path.abspath(workdir)
        self.path = os.path.join(self.workdir, LOCK_FILE)
        self.read_only = False
        self.fd: int | None = None
        if self.workdir in _HELD:
            raise SweepLockedError(
                f"sweep directory {self.workdir} is already driven by this process "
                f"(pid {os.getpid()}); one driver per directory"
            )
        try:
            os.makedirs(self.workdir, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            # Read-only storage: nobody can write here, so a shared look is safe.
            self.read_only = True
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except OSError:
                fd = None
        self.fd = fd
        if fd is not None:
            self._take(fd, wait, log)
        if not self.read_only:
            self._write_holder()
        _HELD[self.workdir] = self

    def _take(self, fd: int, wait: bool, log) -> None:
        mode = fcntl.LOCK_SH if self.read_only else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                os.close(fd)
                raise
        who = _describe(holder(self.workdir))
        if not wait:
            os.close(fd)
            self.fd = None
            raise SweepLockedError(
                f"sweep directory {self.workdir} is being driven by {who}. One driver per "
                "directory: wait for it to finish (or stop it), or rerun with --wait to wait "
                "for it here"
            )
        (log or (lambda s: print(s, flush=True)))(
            f"waiting for the driver of {self.workdir}: {who}"
        )
        try:
            fcntl.flock(fd, mode)
        except BaseException:
            os.close(fd)
            self.fd = None
            raise

    def _write_holder(self) -> None:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "command": " ".join(sys.argv) or sys.executable,
        }
        text = json.dumps(info, sort_keys=True).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, text + b"\n", 0)
        os.fsync(self.fd)

    def release(self) -> None:
        """Releases the lock (idempotent)."""
        _HELD.pop(self.workdir, None)
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> DriverLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
