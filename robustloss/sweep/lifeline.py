"""Workers live and die with their driver.

Local engine (`bind_to_driver`, run first in every pool worker):

* on Linux the worker asks the kernel to SIGKILL it when its parent (the driver) dies
  (``prctl(PR_SET_PDEATHSIG)``, via ctypes);
* on every platform a daemon thread polls ``os.getppid()`` every ``poll`` seconds and ends the
  worker when it changes (the driver is gone and the worker was re-parented);
* SIGINT is ignored (a Ctrl-C in the terminal reaches the whole process group; the driver
  handles it and stops its workers), and SIGTERM raises `WorkerStopped` inside the running
  task, so the training loop unwinds through its ``finally`` (pending checkpoint writes
  finish, the pack's lock is released) and the worker then exits; the pack resumes later.

Dying abruptly is safe too: checkpoints are renamed into place, ``metrics.jsonl`` is cut back to
the last checkpoint on resume, and the pack's ``flock`` is released by the kernel.

Ray engine: Ray ends the tasks of a driver that is gone, but when the driver started a local
Ray instance and is killed with SIGKILL, some of that instance's processes (its dashboard and
runtime-env agents) are left running for good. `Reaper` is a small process in its own session,
started before ``ray.init``, that remembers the driver's descendants (every 0.2 s) and, when
the driver's pipe to it closes without a "done" line, terminates them and any process of the
driver's Ray session directory that was orphaned before it was seen (SIGKILL after 3 s).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
import time

__all__ = ["Reaper", "WorkerStopped", "bind_to_driver", "in_task", "pdeathsig"]

_PR_SET_PDEATHSIG = 1
_state = {"in_task": False, "driver": None}


class WorkerStopped(BaseException):
    """The driver asked this worker to stop (SIGTERM); not an `Exception`, so a task's error
    handling does not turn it into a failed cell."""


def pdeathsig(sig: int = signal.SIGKILL) -> bool:
    """Asks Linux to send ``sig`` to this process when its parent dies; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(driver_pid: int, poll: float) -> None:
    while True:
        time.sleep(poll)
        if os.getppid() != driver_pid:
            os._exit(3)  # the driver is gone: nothing will collect this worker's result


def _on_sigterm(signum, frame) -> None:
    if not _state["in_task"] or _state.get("stopping"):
        os._exit(0)  # idle (nothing to unwind), or a second SIGTERM while unwinding
    _state["stopping"] = True
    raise WorkerStopped(f"stopped by the sweep driver (signal {signum})")


def bind_to_driver(driver_pid: int, poll: float = 0.5) -> None:
    """Ties this worker process to its driver (see the module docstring); call it first.

    Args:
        driver_pid: the driver's pid (this process's parent).
        poll: seconds between parent checks of the portable fallback.
    """
    pdeathsig(signal.SIGKILL)
    if os.getppid() != driver_pid:  # the driver died before the kernel hook was set
        os._exit(3)
    _state["driver"] = driver_pid
    threading.Thread(
        target=_watch, args=(driver_pid, poll), name="driver-watch", daemon=True
    ).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)


@contextlib.contextmanager
def in_task():
    """Marks this worker busy (SIGTERM then unwinds the task instead of exiting at once)."""
    _state["in_task"] = True
    try:
        yield
    finally:
        _state["in_task"] = False
        if _state.get("stopping"):
            os._exit(0)  # the task has unwound (its workdir closed): the worker is done


class Reaper:
    """Ends the processes a driver started if the driver dies without saying "done".

    Args:
        driver_pid: whose descendants to watch (default: this process).

    Example:
        >>> reaper = Reaper()  # after ray.init() started a local instance  # doctest: +SKIP
        >>> reaper.stop()  # after ray.shutdown(): nothing to end  # doctest: +SKIP
    """

    def __init__(self, driver_pid: int | None = None):
        pid = os.getpid() if driver_pid is None else driver_pid
        self.proc = subprocess.Popen(
            # -I and the file itself: only the standard library and psutil are imported
            [sys.executable, "-I", os.path.abspath(__file__), str(pid)],
            stdin=subprocess.PIPE,
            start_new_session=True,  # survives a kill of the driver's process group
            close_fds=True,
        )

    def stop(self) -> None:
        """Tells the reaper the driver shut down cleanly; it exits without ending anything."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"done\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _reap(driver_pid: int, poll: float = 0.2) -> int:
    import psutil

    me = os.getpid()
    try:
        driver = psutil.Process(driver_pid)
        started = driver.create_time()
    except psutil.NoSuchProcess:
        return 0
    known: dict[int, psutil.Process] = {}
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], poll)
        if ready:
            line = sys.stdin.readline()
            if line.strip() == "done":
                return 0
            if line == "":
                break  # EOF: the driver is gone
            continue
        if not driver.is_running():
            break
        try:
            for p in driver.children(recursive=True):
                if p.pid != me:
                    known[p.pid] = p
        except psutil.NoSuchProcess:
            break
    procs = [p for p in known.values() if p.is_running()]
    for p in list(procs):
        with contextlib.suppress(psutil.Error):
            procs += [c for c in p.children(recursive=True) if c.pid != me]
    seen = {p.pid for p in procs}
    procs += [p for p in _session_orphans(driver_pid, started, me) if p.pid not in seen]
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=3)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    return 0


def _session_orphans(driver_pid: int, started: float, me: int) -> list:
    """Processes of a local Ray instance the driver started that were orphaned before the
    reaper saw them (a kill during ``ray.init``): created after the driver, with a file or an
    argument in its Ray session directory (``.../session_<date>_<driver pid>/``)."""
    import psutil

    tag = f"_{driver_pid}/"
    out = []
    for p in psutil.process_iter(["pid", "create_time", "cmdline"]):
        try:
            if p.pid == me or p.info["create_time"] < started:
                continue
            texts = [a + "/" for a in p.info["cmdline"] or []]
            texts += [f.path for f in p.open_files()]
            if any("session_" in t and tag in t for t in texts):
                out.append(p)
        except psutil.Error:
            continue
    return out


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(_reap(int(sys.argv[1])))
