"""LeNet-5 step time under XLA:CPU library/fusion flags (exploratory; not part of bench.json).

Each flag set runs in a fresh process (XLA reads ``XLA_FLAGS`` once), ``--rounds`` times,
interleaved, on synthetic 28x28 images; one Adam epoch of ``--images`` images at batch 128 in
the harness's scan epoch (the same ``jax_runner`` as ``bench/train_speed.py``). Prints one JSON
line per (round, flag set) with the median and min over 3 epochs in ms per step::

    python bench/xla_flags_lenet.py --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

DEVICES2 = "--xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false"
FLAG_SETS = (
    "",
    DEVICES2,  # data parallel over 2 single-threaded CPU devices (64 images each)
    "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
    "--xla_cpu_experimental_xnn_fusion_type=dot,eltwise,reduce",
    "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce",
    "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true",
    "--xla_cpu_experimental_onednn_fusion_type=dot,eltwise,reduce",
    "--xla_cpu_use_xnnpack=false",
)


def _child(images: int, devices: int) -> dict:
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import train_speed

    from robustloss.models import get_model

    rng = np.random.default_rng(0)
    x = rng.random((images, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, images).astype(np.int32)
    model = get_model("lenet", num_classes=10)
    run = train_speed.jax_runner(model, x, y, 10, 128, "adam", mode="scan", devices=devices)
    s = sorted(run() for _ in range(3))
    steps = images // 128
    return {"median_ms_per_step": 1e3 * s[1] / steps, "min_ms_per_step": 1e3 * s[0] / steps}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--images", type=int, default=12_800)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(_child(a.images, a.devices)))
        return 0
    for r in range(a.rounds):
        for flags in FLAG_SETS:
            env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
            cmd = [sys.executable, os.path.abspath(__file__), "--child", "--images", str(a.images)]
            cmd += ["--devices", "2" if flags == DEVICES2 else "1"]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            line = out.stdout.strip().splitlines()[-1] if out.returncode == 0 else None
            result = json.loads(line) if line else {"error": out.stderr.strip()[-300:]}
            print(json.dumps({"round": r, "flags": flags, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
