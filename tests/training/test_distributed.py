"""One run over 2 processes x 2 CPU devices (jax.distributed, gloo collectives) gives the
metrics of 1 process x 4 devices."""

import json
import os
import socket
import subprocess
import sys

import jax
import pytest

from configs import test as test_config
from robustloss.training import train
from tests import ROOT as _ROOT

ROOT = str(_ROOT)
ARG = "epochs=2,dataset.max_train=600"

WORKER = """
import json, sys
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(sys.argv[1], num_processes=2, process_id=int(sys.argv[2]))
assert jax.device_count() == 4 and jax.local_device_count() == 2, jax.devices()
from configs import test as test_config
from robustloss.training import train
s = train(test_config.get_config(sys.argv[3]), None, log=lambda s: None)
print("RESULT " + json.dumps(s["final"]), flush=True)
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process_with_four_devices():
    addr = f"localhost:{_port()}"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT}
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, addr, str(i), ARG],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err[-3000:]
            outs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    finals = [json.loads(o.split("RESULT ", 1)[1]) for o in outs]
    assert len(jax.devices()) >= 4
    want = train(test_config.get_config(ARG), None, devices=jax.devices()[:4], log=lambda s: None)
    for got in finals:  # every process reports the global metrics
        for k in ("train/loss", "train/acc_noisy", "test/top1", "val/top1"):
            assert got[k] == pytest.approx(want["final"][k], rel=1e-5, abs=1e-6), k
