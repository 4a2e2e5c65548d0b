"""The engines: a local process pool and Ray Core tasks give the same cells as inline runs,
and a program whose worker is killed is retried."""

import json
import os

import pytest

from configs import test as test_config
from robustloss.sweep import cells_from_grid, product, run_sweep, thread_env
from robustloss.sweep.executors import LocalExecutor, make_executor


def _cells():
    grid = product(loss=["ce"], seed=[0, 1]) + [{"loss": "mae", "seed": 0}]
    return cells_from_grid(test_config.get_config, grid, "epochs=1,dataset.max_train=600")


def _numbers(wd, cells):
    out = {}
    for c in cells:
        with open(os.path.join(wd, "cells", c.id, "metrics.jsonl")) as f:
            out[c.id] = [
                {k: v for k, v in json.loads(x).items() if k not in ("time", "elapsed")} for x in f
            ]
    return out


def _close(a, b):
    assert a.keys() == b.keys()
    for cid in a:
        for ra, rb in zip(a[cid], b[cid], strict=True):
            assert ra.keys() == rb.keys()
            for k in ra:
                assert ra[k] == pytest.approx(rb[k], rel=1e-5, abs=1e-6), (cid, k)


def crash_once(task):
    """Kills its own worker process the first time (marker file), then succeeds."""
    if not os.path.exists(task["marker"]):
        open(task["marker"], "w").close()
        os._exit(1)
    res = {"program_id": task["program_id"], "status": "done", "cells": [], "wall": 0.0}
    return {**res, "xla_flags": os.environ.get("XLA_FLAGS", "")}


def test_thread_env():
    env = thread_env(1, base={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    assert env["XLA_FLAGS"].split() == [
        "--xla_force_host_platform_device_count=4",
        "--xla_cpu_multi_thread_eigen=false",
    ]
    assert env["OMP_NUM_THREADS"] == "1"
    two = thread_env(2, base={"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"})
    assert two["XLA_FLAGS"] == "" and two["OMP_NUM_THREADS"] == "2"
    # XLA aborts at start-up on a bad XLA_FLAGS: check both settings start JAX.
    import subprocess
    import sys

    for threads in (1, 2):
        e = {**os.environ, "JAX_PLATFORMS": "cpu", **thread_env(threads)}
        code = "import jax; print(float(jax.numpy.ones(3).sum()))"
        out = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.strip() == "3.0", out.stderr[-2000:]
    with pytest.raises(ValueError, match="threads"):
        thread_env(0)
    with pytest.raises(ValueError, match="engine='slurm'"):
        make_executor("slurm", 1, 1)


def test_local_pool_retries_a_killed_worker(tmp_path):
    ex = LocalExecutor(1, 1, fn=crash_once)
    try:
        ex.submit({"program_id": "p", "marker": str(tmp_path / "m")})
        res = ex.next_done()
        assert res["status"] == "done"
        assert "--xla_cpu_multi_thread_eigen=false" in res["xla_flags"]  # the worker's threads
    finally:
        ex.close()
    assert os.path.exists(tmp_path / "m")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    wd = str(tmp_path_factory.mktemp("inline"))
    cells = _cells()
    run_sweep(cells, wd, workers=0, log=lambda s: None, tty=False)
    return cells, _numbers(wd, cells)


def test_local_engine_same_numbers_as_inline(reference, tmp_path):
    cells, want = reference
    rep = run_sweep(cells, str(tmp_path), workers=2, threads=1, log=lambda s: None, tty=False)
    assert rep["done"] == 3 and rep["programs"] == 2
    _close(_numbers(str(tmp_path), cells), want)
    assert os.listdir(tmp_path / "jax_cache")  # workers use the persistent compilation cache


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_engine_same_numbers_as_inline(reference, ray_instance, tmp_path):
    cells, want = reference
    rep = run_sweep(cells, str(tmp_path), engine="ray", workers=2, log=lambda s: None, tty=False)
    assert rep["done"] == 3 and rep["programs"] == 2
    _close(_numbers(str(tmp_path), cells), want)


def test_ray_retries_a_killed_worker(ray_instance, tmp_path):
    ex = make_executor("ray", 1, 1, fn=crash_once)
    try:
        ex.submit({"program_id": "p", "marker": str(tmp_path / "m")})
        assert ex.next_done()["status"] == "done"
    finally:
        ex.close()
    assert os.path.exists(tmp_path / "m")
    assert ray_instance.is_initialized()  # an instance the executor did not start stays up
