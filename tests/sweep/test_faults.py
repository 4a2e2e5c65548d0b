"""Fault injection: the sweep run the way people really run it (docs/sweeps.md, "What survives
what"). Two drivers on one directory; the driver alone killed (SIGKILL, SIGTERM) while its
worker trains; a kill between a program's cell writes; damaged cells and tables; a full disk;
read-only storage; a diverging run inside a pack; a worker lost between programs.

Grids are ``configs/test.py``-sized (digits, 200-300 training rows, 1-2 epochs) and most
scenarios use a fake task (no training) or run inline, so the module stays within the suite's
budget; one test drives real ``python -m experiments.sweep`` processes and kills them.
"""

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings

import pytest

from configs import test as test_config
from robustloss._io import tmp_name
from robustloss.sweep import (
    cell_status,
    cells_from_grid,
    load_cells,
    plan_programs,
    product,
    results,
    run_program,
    run_sweep,
)
from robustloss.sweep import zip as side_by_side
from robustloss.sweep.executors import InlineExecutor, LocalExecutor
from robustloss.sweep.lock import DriverLock, SweepLockedError
from robustloss.sweep.packs import clean_leftovers, remove_pack
from robustloss.sweep.worker import wait_for_pack
from tests import ROOT as _ROOT
from tests.sweep.test_sweep import FakeTask

ROOT = str(_ROOT)
TINY = "epochs=2,dataset.max_train=300,dataset.val_fraction=0.0"


def _cells(grid, arg=TINY):
    return cells_from_grid(test_config.get_config, grid, arg)


def _run(cells, wd, fn, **kw):
    lines = []
    rep = run_sweep(cells, wd, executor=InlineExecutor(fn), log=lines.append, tty=False, **kw)
    return rep, lines


def _until(cond, timeout, what, poll=0.1):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


def _lines(path):
    try:
        with open(path) as f:
            return [json.loads(x) for x in f if x.endswith("\n")]
    except FileNotFoundError:
        return []


def _snapshot(wd, cells):
    out = {}
    for c in cells:
        d = os.path.join(wd, "cells", c.id)
        for n in sorted(os.listdir(d)):
            p = os.path.join(d, n)
            out[p] = (os.stat(p).st_mtime_ns, open(p, "rb").read())
    return out


def _gone(pid):
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# A process that holds a directory's driver lock (the lock module alone: no JAX to import).
HOLD_LOCK = (
    "import importlib.util, sys, time\n"
    "spec = importlib.util.spec_from_file_location('lock', sys.argv[1])\n"
    "lock = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(lock)\n"
    "held = lock.DriverLock(sys.argv[2])\n"
    "print('held', flush=True)\n"
    "time.sleep(float(sys.argv[3]))\n"
)


def _hold_lock(wd, seconds):
    path = os.path.join(ROOT, "robustloss", "sweep", "lock.py")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, path, wd, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


# ---------------------------------------------------------------- one driver per directory


def test_second_driver_fails_at_once_naming_the_first_or_waits(tmp_path):
    wd = str(tmp_path / "sweep")
    cells = _cells(product(seed=[0, 1]))
    os.makedirs(os.path.join(wd, "cells"))  # a sweep directory (the table could be written)
    holder = _hold_lock(wd, seconds=3)
    try:
        host = socket.gethostname()
        with pytest.raises(SweepLockedError) as e:
            _run(cells, wd, FakeTask())
        msg = str(e.value)
        assert f"being driven by pid {holder.pid} on {host}, started " in msg
        assert "lock.py" in msg and "--wait" in msg  # its command, and what to do
        # The table has one writer: a write from outside the driver fails at once as well.
        with pytest.raises(SweepLockedError, match=f"pid {holder.pid}"):
            results.rebuild(wd)
        fake = FakeTask()
        rep, lines = _run(cells, wd, fake, wait=True)  # waits for the holder to end
        assert holder.poll() is not None and rep["done"] == 2 and len(fake.calls) == 1
        assert any(f"waiting for the driver of {wd}: pid {holder.pid}" in x for x in lines)
    finally:
        holder.kill()
        holder.wait()
    with DriverLock(wd):  # released: taken at once
        pass


# ---------------------------------------------------------------- driver killed, workers follow

GRID_FILE = """
from configs import test as base
from robustloss.sweep import product


def get_config(arg=None):
    return base.get_config(arg)


def get_sweep(arg=None):
    # program 1: two one-epoch cells; program 2: long enough to be killed while it trains
    return product(loss=["ce"], seed=[0, 1]) + product(loss=["mae"], epochs=[1000], seed=[0, 1])
"""
GRID_ARG = "epochs=1,dataset.max_train=200,dataset.val_fraction=0.0,progress=none"


def _driver(cfg, wd, log):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT}
    env["XLA_FLAGS"] = " ".join(  # one CPU device, not the suite's 4 simulated ones
        f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f
    )
    cmd = [sys.executable, "-m", "experiments.sweep", "--config", cfg, "--workdir", wd]
    cmd += ["--workers", "1", "--threads", "1"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _holder_pid(wd):
    from robustloss.sweep.lock import holder

    return (holder(wd) or {}).get("pid")


def _descendants(pid):
    import psutil

    return [p.pid for p in psutil.Process(pid).children(recursive=True)]


def test_killed_driver_takes_its_workers_along_and_the_sweep_resumes(tmp_path):
    """SIGKILL of the driver alone: its worker exits within seconds (no orphan keeps the pack
    locked); a second driver meanwhile fails at once naming the first; SIGTERM stops driver and
    workers cleanly; the rerun trains nothing that was finished and resumes the killed program
    from its checkpoint."""
    grid = tmp_path / "grid.py"
    grid.write_text(GRID_FILE)
    cfg, wd = f"{grid}:{GRID_ARG}", str(tmp_path / "sweep")
    cells = load_cells(cfg)
    first, second = plan_programs(cells)
    pack = os.path.join(wd, "packs", second.id)
    metrics = os.path.join(pack, "metrics.jsonl")
    log = open(tmp_path / "drivers.log", "w")
    a = _driver(cfg, wd, log)
    try:
        _until(lambda: _holder_pid(wd) == a.pid, 180, "the first driver to take the lock")
        b = _driver(cfg, wd, log)  # the same command in a second terminal
        assert b.wait(timeout=180) != 0
        assert a.poll() is None  # B gave up while A was still running
        _until(lambda: len(_lines(metrics)) >= 3, 300, "program 2 to train 3 epochs")
        assert all(cell_status(wd, c.id) == "done" for c in first.cells)
        done_files = _snapshot(wd, first.cells)
        workers = _descendants(a.pid)
        assert workers
        a.kill()  # SIGKILL, the driver only
        a.wait()
        _until(lambda: all(_gone(p) for p in workers), 10, f"workers {workers} to exit")
        with DriverLock(wd):  # the dead driver's lock went with it
            pass
        # SIGTERM: the driver stops its worker (which unwinds), keeps the pack, exits 143.
        killed = _lines(metrics)
        ckpt = max(int(n) for n in os.listdir(os.path.join(pack, "checkpoints")) if n.isdigit())
        a2 = _driver(cfg, wd, log)
        _until(lambda: len(_lines(metrics)) >= len(killed) + 2, 300, "the rerun to train on")
        workers = _descendants(a2.pid)
        a2.send_signal(signal.SIGTERM)
        assert a2.wait(timeout=60) == 128 + signal.SIGTERM
        _until(lambda: all(_gone(p) for p in workers), 10, f"workers {workers} to exit")
    finally:
        for proc in (a, locals().get("b"), locals().get("a2")):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        log.close()
    text = (tmp_path / "drivers.log").read_text()
    assert f"is being driven by pid {a.pid} on {socket.gethostname()}" in text, text[-3000:]
    assert "sweep interrupted (SIGTERM): workers stopped, finished cells kept" in text
    after = _lines(metrics)
    # The rerun resumed from the killed run's last finished checkpoint (they are written in
    # the background, after the epoch's line): the epochs up to it are the same lines, timings
    # included (not trained again), and the epochs after it were trained to the same numbers.
    untimed = lambda rows: [
        {k: v for k, v in r.items() if k not in ("time", "elapsed")} for r in rows
    ]
    assert ckpt >= 1 and after[:ckpt] == killed[:ckpt]
    assert untimed(after[: len(killed)]) == untimed(killed)
    assert [r["epoch"] for r in after] == list(range(1, len(after) + 1))
    assert os.path.isdir(os.path.join(pack, "checkpoints"))  # kept for the next run
    assert _snapshot(wd, first.cells) == done_files  # finished cells untouched
    with DriverLock(wd):
        pass


# A driver that started a long-lived helper in its own session which ignores SIGTERM (as a
# local Ray instance's agents do), under a Reaper; "clean" shuts down properly.
REAPED_DRIVER = (
    "import importlib.util, subprocess, sys, time\n"
    "spec = importlib.util.spec_from_file_location('lifeline', sys.argv[1])\n"
    "lifeline = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(lifeline)\n"
    "code = 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(90)'\n"
    "agent = subprocess.Popen([sys.executable, '-c', code], start_new_session=True)\n"
    "reaper = lifeline.Reaper()\n"
    "time.sleep(2.0)\n"
    "if sys.argv[2] == 'clean':\n"
    "    reaper.stop()\n"
    "print(agent.pid, reaper.proc.pid, flush=True)\n"
    "time.sleep(90)\n"
)


@pytest.mark.parametrize("how", ["killed", "clean"])
def test_reaper_ends_what_a_killed_driver_started(how):
    """The Ray engine's guard: when a driver that started a local Ray instance is killed, the
    instance's processes (some ignore SIGTERM and outlive the driver) are ended."""
    path = os.path.join(ROOT, "robustloss", "sweep", "lifeline.py")
    driver = subprocess.Popen(
        [sys.executable, "-c", REAPED_DRIVER, path, how], stdout=subprocess.PIPE, text=True
    )
    agent, reaper = map(int, driver.stdout.readline().split())
    try:
        if how == "clean":
            _until(lambda: _gone(reaper), 10, "the reaper to exit after 'done'")
        driver.kill()
        driver.wait()
        if how == "killed":
            _until(lambda: _gone(agent), 15, "the reaper to end the driver's helper")
        else:
            time.sleep(1.0)
            assert not _gone(agent)  # a clean shutdown leaves ending things to the engine
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(agent, signal.SIGKILL)


# ---------------------------------------------------------------- a program's cells: all or none


def test_kill_between_a_programs_cell_writes_trains_nothing_on_restart(tmp_path, monkeypatch):
    from robustloss.sweep import runner

    wd = str(tmp_path)
    cells = _cells(product(seed=[0, 1, 2]))
    kept = {}

    def remember(task):
        kept["res"] = run_program(task)
        return kept["res"]

    real, written = runner.write_cell, []

    def killed_after_one(workdir, cell, *a, **k):
        if written:
            raise KeyboardInterrupt  # the driver is killed before the other cells are written
        written.append(cell.id)
        return real(workdir, cell, *a, **k)

    monkeypatch.setattr(runner, "write_cell", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        _run(cells, wd, remember)
    monkeypatch.undo()
    rest = [c for c in cells if c.id not in written]
    assert len(rest) == 2 and all(cell_status(wd, c.id) == "pending" for c in rest)
    # The pending cells alone pack into another program; the finished pack is found anyway.
    assert plan_programs(rest)[0].id != plan_programs(cells)[0].id

    def must_not_train(task):
        raise AssertionError(f"trained {task['cell_ids']} again")

    rep, lines = _run(cells, wd, must_not_train)
    assert rep["done"] == 3 and rep["trained"] == 0, lines
    assert any("had finished before the last run stopped" in x for x in lines), lines
    by_id = {r["id"]: r for r in kept["res"]["cells"]}
    for c in rest:  # exactly the numbers the program produced
        assert _lines(os.path.join(wd, "cells", c.id, "metrics.jsonl")) == by_id[c.id]["history"]
    assert os.listdir(os.path.join(wd, "packs")) == []
    assert len(results.load(wd)) == 3 * 2


# ---------------------------------------------------------------- DONE means verified


def test_damaged_cells_are_named_set_aside_and_trained_again(tmp_path):
    wd = str(tmp_path)
    cells = _cells(product(seed=[0, 1, 2, 3]))
    _run(cells, wd, FakeTask())
    a, b, c, d = (os.path.join(wd, "cells", x.id) for x in cells)
    with open(os.path.join(a, "metrics.jsonl")) as f:
        first_line = f.readline()
    with open(os.path.join(a, "metrics.jsonl"), "w") as f:  # lost its last epoch
        f.write(first_line)
    os.remove(os.path.join(b, "summary.json"))
    with open(os.path.join(c, "DONE"), "w") as f:
        f.write('{"cell": "trunc')
    assert [cell_status(wd, x.id) for x in cells] == ["damaged"] * 3 + ["done"]
    with pytest.warns(UserWarning) as caught:
        assert results.rebuild(wd) == 2  # only the intact cell, 2 epochs
    text = "\n".join(str(w.message) for w in caught)
    assert f"{a}/metrics.jsonl differs from the checksum in DONE" in text
    assert f"{b}/summary.json is missing or unreadable" in text
    assert f"{c}/DONE is not a readable DONE record (JSONDecodeError" in text
    fake = FakeTask()
    rep, lines = _run(cells, wd, fake)
    assert sorted(fake.calls[0]) == sorted(x.id for x in cells[:3]) and len(fake.calls) == 1
    for path in (f"{a}/metrics.jsonl", f"{b}/summary.json", f"{c}/DONE"):
        assert any("is damaged" in x and path in x for x in lines), (path, lines)
    assert all(os.path.exists(os.path.join(x, "DAMAGED")) for x in (a, b, c))
    assert [cell_status(wd, x.id) for x in cells] == ["done"] * 4
    assert len(results.load(wd)) == 8
    # A damaged table: readers fall back to the cells; the next driver rebuilds it.
    with open(os.path.join(wd, results.TABLE), "wb") as f:
        f.write(b"PAR1 this is not parquet")
    with pytest.warns(UserWarning, match="results.parquet is damaged"):
        assert len(results.load(wd)) == 8
    with pytest.warns(UserWarning, match="rebuilding it from"):
        rep, lines = _run(cells, wd, FakeTask())
    assert rep["trained"] == 0 and any("rebuilt from cells/" in x for x in lines)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(results.load(wd)) == 8


def test_a_late_failure_never_deletes_a_finished_cell(tmp_path):
    """A failure reported after the cell finished (another driver, a retried task) leaves it."""
    from robustloss.sweep.cells import write_failed

    wd = str(tmp_path)
    cells = _cells(product(seed=[0]))
    _run(cells, wd, FakeTask())
    before = _snapshot(wd, cells)
    assert write_failed(wd, cells[0], "RuntimeError: reported late", {"program": "x"}) is None
    assert _snapshot(wd, cells) == before and cell_status(wd, cells[0].id) == "done"


def test_the_table_follows_the_grid_and_queries_say_what_is_wrong(tmp_path):
    wd = str(tmp_path)
    old = _cells(product(seed=[0, 1]))
    _run(old, wd, FakeTask(bad=[c.id for c in old]))  # nothing finished yet
    with pytest.raises(ValueError, match=r"no finished cells of the 2 in its grid yet"):
        results.query(wd, 'SELECT avg("test/top1") FROM results')
    with pytest.raises(ValueError, match=r"sql='  ' is empty"):
        results.query(wd, "  ")
    _run(old, wd, FakeTask(), retry_failed=True)
    new = _cells(product(seed=[1, 2, 3]))  # the grid changed: seed 0 left, 2 and 3 came
    rep, lines = _run(new, wd, FakeTask())
    assert rep["trained"] == 2
    assert any("holds 1 finished cell(s) that are not in this grid" in x for x in lines)
    assert sorted(results.load(wd)["cell_id"].unique()) == sorted(c.id for c in new)
    assert results.load(wd, all_cells=True)["cell_id"].nunique() == 4
    count = "SELECT count(DISTINCT cell_id) AS n FROM results"
    assert results.query(wd, count)["n"][0] == 3
    assert results.query(wd, count, all_cells=True)["n"][0] == 4
    with pytest.raises(
        ValueError,
        match=r'(?s)query failed: BinderException.*no_such_column.*quote dotted names: "loss.name"',
    ):
        results.query(wd, "SELECT no_such_column FROM results")


# ---------------------------------------------------------------- environment failures


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (root), else None and the reason."""
    path = tmp_path / "disk"
    path.mkdir()
    if os.geteuid() != 0:
        yield None, "not root"
        return
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        yield None, f"mount failed: {out.stderr.strip()}"
        return
    try:
        yield str(path), ""
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(folder, leave):
    """Fills the file system of ``folder`` up to ``leave`` free bytes (a filler file)."""
    path = os.path.join(folder, "filler")
    # unbuffered: nothing is left to flush at close (a buffered close on a full disk raised
    # ENOSPC from the filler itself, now and then)
    with open(path, "wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
    st = os.statvfs(folder)
    size = os.path.getsize(path)
    os.truncate(path, max(0, size - max(0, leave - st.f_bavail * st.f_frsize)))
    return path


def test_full_disk_stops_the_program_and_leaves_its_cells_pending(small_disk, tmp_path):
    """ENOSPC in the worker (a checkpoint) and in the driver (the cell files): one message,
    cells pending (never FAILED); once space is free the sweep finishes, the program that had
    trained writing its cells from its pack."""
    disk, reason = small_disk
    wd = os.path.join(disk or str(tmp_path), "sweep")
    cells = _cells(product(seed=[0, 1]))
    if disk is None:
        warnings.warn(f"no tmpfs ({reason}): ENOSPC is injected instead", stacklevel=1)

    def full(where):
        if disk is not None:
            return _fill(disk, leave=0)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), where)

    def disk_full_in_worker(task):
        if disk is None:
            from robustloss.training import workdir

            def save(*a, **k):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), task["workdir"])

            real, workdir.Workdir.save = workdir.Workdir.save, save
            try:
                return run_program(task)
            finally:
                workdir.Workdir.save = real
        filler = full(task["workdir"])
        try:
            return run_program(task)
        finally:
            os.remove(filler)

    rep, lines = _run(cells, wd, disk_full_in_worker)
    assert "no space left on device (ENOSPC)" in rep["stopped"], lines
    assert rep["done"] == 0 and rep["failed"] == 0 and rep["pending"] == 2
    assert all(cell_status(wd, c.id) == "pending" for c in cells)
    assert sum("no space left on device" in x for x in lines) == 2  # the event and the summary
    # The driver cannot write the cells of a program that trained: the pack is kept.
    from robustloss.sweep import runner

    def disk_full_in_driver(task):
        res = run_program(task)
        disk_full_in_driver.filler = full(wd) if disk is not None else None
        return res

    real = runner.write_cell
    if disk is None:
        runner.write_cell = lambda *a, **k: full(wd)
    try:
        rep, lines = _run(cells, wd, disk_full_in_driver)
    finally:
        runner.write_cell = real
        if getattr(disk_full_in_driver, "filler", None):
            os.remove(disk_full_in_driver.filler)
    assert "no space left on device (ENOSPC) while writing the cells" in rep["stopped"], lines
    assert all(cell_status(wd, c.id) == "pending" for c in cells)

    def must_not_train(task):
        raise AssertionError(f"trained {task['cell_ids']} again")

    rep, lines = _run(cells, wd, must_not_train)
    assert rep["done"] == 2 and not rep["stopped"] and rep["trained"] == 0, lines


def test_lost_workers_are_replaced_and_never_fail_cells(tmp_path):
    """A worker dying between programs does not crash the driver (BrokenProcessPool on submit);
    one dying for good is an environment failure, not failed cells."""
    from tests.sweep._tasks import die, report_pid

    ex = LocalExecutor(1, 1, fn=report_pid, max_retries=1)
    try:
        ex.submit({"program_id": "a"})
        pid = ex.next_done()["pid"]
        os.kill(pid, signal.SIGKILL)
        _until(lambda: _gone(pid), 10, "the worker to die")
        time.sleep(1.0)  # the pool notices and marks itself broken
        ex.submit({"program_id": "b"})  # raised BrokenProcessPool before
        res = ex.next_done()
        assert res["status"] == "done" and res["pid"] != pid
    finally:
        ex.close()
    ex = LocalExecutor(1, 1, fn=die, max_retries=1)
    try:
        ex.submit({"program_id": "c"})
        res = ex.next_done()
    finally:
        ex.close()
    assert res["status"] == "env" and res["error"].startswith("lost: its worker process died 2")
    # The driver leaves such cells pending and says why.
    cells = _cells(product(seed=[0, 1]))
    rep, lines = _run(cells, str(tmp_path), lambda t: {**res, "program_id": t["program_id"]})
    assert rep["failed"] == 0 and rep["pending"] == 2 and "worker process died" in rep["stopped"]
    assert not os.path.exists(os.path.join(str(tmp_path), "cells", cells[0].id, "FAILED"))


def test_a_pack_held_by_a_live_process_is_waited_for_never_deleted(tmp_path):
    wd = str(tmp_path / "sweep")
    pack = os.path.join(wd, "packs", "p1")
    os.makedirs(pack)
    with open(os.path.join(pack, "program.json"), "w") as f:
        json.dump({"program": "p1", "cells": ["c1"]}, f)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    # temporary files named as robustloss._io.atomic_write names them: the writer's pid inside
    dead_tmp = os.path.join(wd, f".results.parquet.{ended.pid}-0123456789ab.tmp.parquet")
    live_tmp = tmp_name(os.path.join(wd, "sweep.json"))
    for p in (dead_tmp, live_tmp):
        open(p, "w").close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({pack!r}, os.O_RDONLY)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = []
    try:
        assert holder.stdout.readline().strip() == "locked"
        clean_leftovers(wd, lambda c: True, lines.append)  # every cell done: stale, but locked
        assert os.path.isdir(pack) and not remove_pack(wd, "p1")
        assert not os.path.exists(dead_tmp) and os.path.exists(live_tmp)
        t0 = time.time()
        task = {"program_id": "p1", "workdir": pack, "cell_ids": ["c1"], "config": {}}
        res = run_program({**task, "lock_wait": 1.0})
        assert res["status"] == "env" and "held by another live process" in res["error"]
        assert time.time() - t0 >= 1.0 and os.path.isdir(pack)
    finally:
        holder.kill()
        holder.wait()
    assert wait_for_pack(pack, timeout=5)  # free once its holder is gone
    clean_leftovers(wd, lambda c: True, lines.append)
    assert not os.path.exists(pack)
    assert any("1 pack(s) no cell needs" in x for x in lines)


def test_finished_sweep_rechecks_on_read_only_storage(small_disk):
    disk, reason = small_disk
    if disk is None:
        pytest.skip(f"needs a read-only mount: {reason}")
    wd = os.path.join(disk, "sweep")
    cells = _cells(product(seed=[0, 1]))
    _run(cells, wd, FakeTask())
    out = subprocess.run(["mount", "-o", "remount,ro", disk], capture_output=True, text=True)
    if out.returncode:
        pytest.skip(f"remount read-only failed: {out.stderr.strip()}")
    rep, lines = _run(cells, wd, FakeTask())
    assert rep["done"] == 2 and not rep["stopped"]
    assert "read-only storage: checked, nothing written" in lines[-1]
    assert len(results.load(wd)) == 4
    more = _cells(product(seed=[0, 1, 2]))
    rep, lines = _run(more, wd, FakeTask())
    assert (
        "is on read-only storage and the sweep is not finished (1 cell(s) to train"
        in (rep["stopped"])
    )


# ---------------------------------------------------------------- a diverging run in a pack


def test_a_diverging_run_stops_alone_and_its_pack_mates_are_untouched(tmp_path):
    """lr=3e38 makes run 3 of the pack NaN at its second step: it is frozen and recorded FAILED
    (epoch, step, value) while runs 1-2 go on; their numbers equal those of the same pack with
    a healthy third run exactly, and nothing is re-run alone."""
    diverging = _cells(side_by_side(seed=[0, 1, 2], lr=[0.01, 0.01, 3e38]))
    healthy = _cells(side_by_side(seed=[0, 1, 2], lr=[0.01, 0.01, 0.02]))
    out = {}
    for name, cells in (("diverging", diverging), ("healthy", healthy)):
        calls = []

        def counted(task, calls=calls):
            calls.append(task["cell_ids"])
            return run_program(task)

        rep, _ = _run(cells, str(tmp_path / name), counted)
        out[name] = (rep, calls)
    rep, calls = out["diverging"]
    assert len(calls) == 1 and rep["done"] == 2 and rep["failed"] == 1
    with open(tmp_path / "diverging" / "cells" / diverging[2].id / "FAILED") as f:
        err = json.load(f)["error"]
    assert "training loss became nan at epoch 1 (counted from 1), step 1 of that epoch" in err
    for a, b in zip(diverging[:2], healthy[:2], strict=True):
        assert a.id == b.id
        strip = lambda rows: [
            {k: v for k, v in r.items() if k not in ("time", "elapsed")} for r in rows
        ]
        got = _lines(tmp_path / "diverging" / "cells" / a.id / "metrics.jsonl")
        want = _lines(tmp_path / "healthy" / "cells" / a.id / "metrics.jsonl")
        assert strip(got) == strip(want)  # exactly, not to rounding
