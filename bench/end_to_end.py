"""Where a short training run's time goes: process start to checkpoint, compile time visible.

Runs the ``make demo`` configuration (LeNet-5, Fashion-MNIST subset, CE, 40% symmetric
noise) for 2 epochs in a fresh Python process, ``--repeats`` times, with the same library
calls as ``robustloss.training.train`` timed one by one:

* ``start_and_imports``: interpreter start + ``import jax, robustloss.training`` (measured from
  the parent's ``Popen`` to the child's first line);
* ``load_data`` (`load_run_data`: read, subset, noise), ``build_trainer``;
* ``init`` (compiles the init function) and ``put_data`` (training set to the device);
* ``epoch_1`` (compile + train) and ``epoch_2`` (train only): ``compile_epoch`` = their
  difference;
* ``eval_1`` (compile + test-set evaluation) and ``eval_2``;
* ``checkpoint``: an Orbax ``CheckpointManager`` save of the train state, waited for.

Every phase is reported as the median (min-max) over the repeats, plus the parent's wall time
of the whole process. Usage::

    python bench/end_to_end.py [--repeats 5] [--max-train 12000] [--json results/bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def child(max_train: int, workdir: str) -> None:
    t_first = time.time()
    import jax
    import orbax.checkpoint as ocp

    from configs import demo
    from robustloss.training import build_trainer, load_run_data

    t = {"imports_only": time.time() - t_first}
    mark = time.perf_counter()

    def lap(name):
        nonlocal mark
        now = time.perf_counter()
        t[name] = now - mark
        mark = now

    config = demo.get_config(f"loss=ce,epochs=2,dataset.max_train={max_train}")
    data = load_run_data(config)
    lap("load_data")
    trainer = build_trainer(config, data, devices=jax.devices()[:1])
    lap("build_trainer")
    state = trainer.init(config.seed, data.x_train)
    jax.block_until_ready(state)
    lap("init")
    train_data = trainer.prepare_train_data(data.x_train, data.y_train, data.y_train_clean)
    x_test = trainer.put(data.x_test)
    jax.block_until_ready((train_data, x_test))
    lap("put_data")
    for e in (1, 2):
        state, _ = trainer.train_epoch(state, train_data)
        lap(f"epoch_{e}")
    for e in (1, 2):
        trainer.evaluate(state, x_test, data.y_test)
        lap(f"eval_{e}")
    mgr = ocp.CheckpointManager(
        os.path.join(workdir, "checkpoints"), options=ocp.CheckpointManagerOptions(create=True)
    )
    mgr.save(2, args=ocp.args.StandardSave(state))
    mgr.wait_until_finished()
    lap("checkpoint")
    t["steps_per_epoch"] = trainer.steps_per_epoch
    print("PHASES " + json.dumps({"t_first": t_first, **t}), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--max-train", type=int, default=12000)
    p.add_argument("--json", default="")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.max_train, args.child)
        return 0
    from _record import fmt, machine, stats, update_section

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", tmp]
            cmd += ["--max-train", str(args.max_train)]
            t0 = time.time()
            out = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True)
            total = time.time() - t0
        if out.returncode:
            raise RuntimeError(f"end-to-end child failed:\n{out.stderr[-3000:]}")
        line = [s for s in out.stdout.splitlines() if s.startswith("PHASES ")][-1]
        ph = json.loads(line[len("PHASES ") :])
        ph["start_and_imports"] = ph.pop("t_first") - t0 + ph.pop("imports_only")
        ph["compile_epoch"] = ph["epoch_1"] - ph["epoch_2"]
        ph["compile_eval"] = ph["eval_1"] - ph["eval_2"]
        ph["process_total"] = total
        runs.append(ph)
    keys = [
        "start_and_imports",
        "load_data",
        "build_trainer",
        "init",
        "put_data",
        "epoch_1",
        "epoch_2",
        "compile_epoch",
        "eval_1",
        "eval_2",
        "compile_eval",
        "checkpoint",
        "process_total",
    ]
    phases = {k: stats([r[k] for r in runs]) for k in keys}
    for k in keys:
        print(f"{k:18s} {fmt(phases[k])}")
    payload = {
        "machine": machine(),
        "command": " ".join(["bench/end_to_end.py"] + (argv or sys.argv[1:])),
        "what": (
            f"configs/demo.py:loss=ce, {args.max_train:,} Fashion-MNIST training images, "
            f"{runs[0]['steps_per_epoch']} steps/epoch, 2 epochs, 10k test images, one "
            "checkpoint; fresh process per repeat; seconds"
        ),
        "phases_s": phases,
    }
    if args.json:
        update_section(args.json, "end_to_end", payload)
        print(f"wrote section 'end_to_end' of {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
