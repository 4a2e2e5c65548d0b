"""Engines that run programs: one small interface, three implementations.

An `Executor` runs ``fn(task) -> result`` (plain dicts; ``fn`` is `run_program` unless a test
passes another) for submitted tasks and hands back results as tasks finish:

* `InlineExecutor` (``--workers 0``): in the driver process, one task at a time.
* `LocalExecutor` (``--engine local``, the default): a pool of spawned worker processes on this
  machine, each importing JAX itself with its own thread settings (`thread_env`) and tied to the
  driver (`robustloss.sweep.lifeline.bind_to_driver`: a worker whose driver is gone exits). A
  worker that dies (killed, out of memory) -- while running a program or between programs -- is
  replaced and its task re-run up to ``max_retries`` times, then reported as an environment
  failure (``status="env"``: its cells stay pending), never as failed cells.
* `RayExecutor` (``--engine ray``): one Ray Core task per program, ``num_gpus=1`` per task when
  the cluster has GPUs, ``max_retries`` for system failures (a killed worker) and no retry of
  Python exceptions (`run_program` returns those as failed results anyway). A local instance it
  starts is watched by a `robustloss.sweep.lifeline.Reaper`, which ends the instance's processes
  if the driver is killed.

``close(wait=False)`` (the driver was interrupted: SIGINT/SIGTERM) stops running tasks: local
workers get SIGTERM, unwind their training (checkpoints written so far stay resumable) and exit
within ``stop_grace`` seconds, or are killed.

Resumption does not belong here: the driver decides what to run from the cell directories.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from robustloss.sweep.worker import run_program

__all__ = [
    "ENGINES",
    "Executor",
    "InlineExecutor",
    "LocalExecutor",
    "RayExecutor",
    "make_executor",
    "thread_env",
]

ENGINES = ("local", "ray")


class Executor(Protocol):
    """Runs tasks; ``slots`` tasks at a time are worth keeping in flight."""

    slots: int

    def submit(self, task: dict) -> None: ...

    def next_done(self) -> dict:
        """Blocks until a submitted task ends; returns its result (``program_id`` set)."""
        ...

    def close(self, wait: bool = True) -> None:
        """Releases the workers; ``wait=False`` (the driver is being interrupted) stops running
        tasks instead of waiting for them."""
        ...


def _died(task: dict, why: str) -> dict:
    """The result of a task whose worker was lost for good: an environment failure (its cells
    stay pending), not failed cells."""
    return {
        "program_id": task["program_id"],
        "status": "env",
        "error": f"lost: {why}; its cells stay pending",
        "cells": [],
        "wall": 0.0,
    }


def _init_worker(driver_pid: int) -> None:
    from robustloss.sweep.lifeline import bind_to_driver

    bind_to_driver(driver_pid)


def thread_env(threads: int, base: dict | None = None) -> dict[str, str]:
    """Environment variables for a worker with ``threads`` CPU threads (XLA, Eigen, BLAS).

    ``threads == 1`` turns XLA's Eigen multi-threading off (``--xla_cpu_multi_thread_eigen=false``
    appended to ``XLA_FLAGS`` of ``base``, default ``os.environ``); more threads leave XLA's own
    thread pool as it is (XLA has no flag capping it). OpenMP/MKL/OpenBLAS get ``threads``. GPU
    memory is not preallocated, so several tasks can share a GPU.
    """
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads={threads!r} must be an int >= 1")
    base = os.environ if base is None else base
    flags = [
        f for f in base.get("XLA_FLAGS", "").split() if not f.startswith("--xla_cpu_multi_thread")
    ]
    if threads == 1:
        flags.append("--xla_cpu_multi_thread_eigen=false")
    env = {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["XLA_FLAGS"] = " ".join(flags)
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    return env


class InlineExecutor:
    """Runs each task in the driver process at ``next_done`` (no parallelism)."""

    def __init__(self, fn: Callable[[dict], dict] = run_program):
        self.fn = fn
        self.slots = 1
        self._queue: list[dict] = []

    def submit(self, task: dict) -> None:
        self._queue.append(task)

    def next_done(self) -> dict:
        return self.fn(self._queue.pop(0))

    def close(self, wait: bool = True) -> None:
        self._queue.clear()


class LocalExecutor:
    """A pool of ``workers`` spawned processes with ``threads`` CPU threads each."""

    def __init__(
        self,
        workers: int,
        threads: int,
        fn: Callable[[dict], dict] = run_program,
        max_retries: int = 2,
        stop_grace: float = 15.0,
    ):
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers={workers!r} must be an int >= 1 (0 runs inline)")
        self.fn, self.slots, self.max_retries = fn, workers, max_retries
        self.stop_grace = stop_grace
        self._env = thread_env(threads)
        self._futures: dict[cf.Future, dict] = {}
        self._tries: dict[str, int] = {}
        self._ready: list[dict] = []
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        # Spawned children copy os.environ when they start (lazily, on submit), so the thread
        # settings are set here for the pool's lifetime and restored by close().
        if not hasattr(self, "_saved"):
            self._saved = {k: os.environ.get(k) for k in self._env}
            os.environ.update(self._env)
        return cf.ProcessPoolExecutor(
            max_workers=self.slots,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )

    def submit(self, task: dict) -> None:
        self._tries.setdefault(task["program_id"], 0)
        try:
            self._futures[self._pool.submit(self.fn, task)] = task
        except cf.process.BrokenProcessPool:
            # A worker died between programs: replace the pool; the tasks it held are retried.
            self._restart(fresh=[task])

    def _restart(self, fresh: list[dict] = ()) -> None:
        """A new pool; the tasks in flight (lost with the dead worker) are retried up to
        ``max_retries`` times, ``fresh`` tasks (never started) are submitted as new."""
        lost = []
        for fut, t in self._futures.items():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._ready.append(fut.result())  # finished before the pool broke
            else:
                lost.append(t)
        self._futures.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        for t in lost:
            self._tries[t["program_id"]] += 1
            if self._tries[t["program_id"]] > self.max_retries:
                self._ready.append(
                    _died(
                        t,
                        f"its worker process died {self._tries[t['program_id']]} times "
                        "(killed, or out of memory)",
                    )
                )
            else:
                self._futures[self._pool.submit(self.fn, t)] = t
        for t in fresh:
            self._futures[self._pool.submit(self.fn, t)] = t

    def next_done(self) -> dict:
        while not self._ready:
            done, _ = cf.wait(list(self._futures), return_when=cf.FIRST_COMPLETED)
            fut = next(iter(done))
            try:
                res = fut.result()
            except cf.process.BrokenProcessPool:
                # A worker died: every task in flight is lost. Start a new pool, resubmit them.
                self._restart()
                continue
            del self._futures[fut]
            return res
        return self._ready.pop(0)

    def close(self, wait: bool = True) -> None:
        try:
            if not wait:  # interrupted: stop our own worker processes instead of waiting
                procs = list((getattr(self._pool, "_processes", None) or {}).values())
                for proc in procs:
                    proc.terminate()  # SIGTERM: the task unwinds (lifeline), the worker exits
                deadline = time.time() + self.stop_grace
                for proc in procs:
                    proc.join(max(0.0, deadline - time.time()))
                for proc in procs:
                    if proc.is_alive():
                        proc.kill()
                        proc.join(5)
            self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            for k, v in self._saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class RayExecutor:
    """One Ray Core task per program (starts a local Ray instance unless one is running)."""

    def __init__(
        self,
        workers: int,
        threads: int,
        address: str | None = None,
        fn: Callable[[dict], dict] = run_program,
        max_retries: int = 2,
    ):
        try:
            import ray
        except ImportError as e:
            raise ValueError(
                "--engine ray needs Ray: pip install 'robustloss[ray]' (or pip install ray)"
            ) from e
        self._ray = ray
        self._owns = False
        self._reaper = None
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                ray.init(address=address, **kw)
            else:
                from robustloss.sweep.lifeline import Reaper

                # Started first, so it also sees the processes of an init killed half-way.
                self._reaper = Reaper()  # ends this local instance if the driver is killed
                try:
                    ray.init(num_cpus=max(1, workers) * threads, **kw)
                except BaseException:
                    self._reaper.stop()
                    raise
            self._owns = True
        gpus = ray.cluster_resources().get("GPU", 0)
        cpus = ray.cluster_resources().get("CPU", 1)
        self.slots = max(1, int(gpus) if gpus else int(cpus // threads))
        env = thread_env(threads, base={"XLA_FLAGS": os.environ.get("XLA_FLAGS", "")})
        self._remote = ray.remote(fn).options(
            num_cpus=threads,
            num_gpus=1 if gpus else 0,
            max_retries=max_retries,
            retry_exceptions=False,
            runtime_env={"env_vars": env},
        )
        self._refs: dict[Any, dict] = {}

    def submit(self, task: dict) -> None:
        self._refs[self._remote.remote(task)] = task

    def next_done(self) -> dict:
        ready, _ = self._ray.wait(list(self._refs), num_returns=1)
        task = self._refs.pop(ready[0])
        try:
            return self._ray.get(ready[0])
        except Exception as e:  # noqa: BLE001 -- system failure after max_retries
            return _died(task, f"its Ray task was lost ({type(e).__name__}: {e})")

    def close(self, wait: bool = True) -> None:
        try:
            for ref in self._refs:
                self._ray.cancel(ref, force=True)
            self._refs.clear()
            if self._owns:
                self._ray.shutdown()
        finally:
            if self._reaper is not None:
                self._reaper.stop()


def make_executor(
    engine: str,
    workers: int,
    threads: int,
    address: str | None = None,
    fn: Callable[[dict], dict] = run_program,
) -> Executor:
    """The executor for ``engine`` (``local`` with ``workers == 0`` runs inline)."""
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is not valid; choose one of {list(ENGINES)}")
    if engine == "ray":
        return RayExecutor(workers or 1, threads, address, fn)
    if address:
        raise ValueError("--ray_address needs --engine ray")
    if workers == 0:
        return InlineExecutor(fn)
    return LocalExecutor(workers, threads, fn)
