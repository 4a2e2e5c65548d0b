"""A first look at an accelerator: dtypes, packed runs, and a streamed ResNet-50 at 224.

Three sections, each timed after compilation, written to ``--json`` (``results/bench_gpu.json``
via ``bench/gpu_check.sh``), with the device, date and versions:

1. ``resnet18_dtype``: CIFAR-shaped ResNet-18 (32×32×3, K = 10, CIFAR stem), SGD, batch
   ``--batch``, device-resident synthetic data: steps/s in float32 and in bfloat16 compute.
2. ``packs``: the same network as packs of R = 4/8/16 vmapped runs (one program, one batch
   of data, each run its own labels and weights), run-steps/s against R separate runs of the
   standalone program of section 1 in ``--pack-dtype`` (``R · t₁ / t_R`` is the speed-up of
   packing).
3. ``resnet50_stream``: ResNet-50 (ImageNet stem) at 224×224 fed by the grain stream from
   JPEGs generated on the machine's disk (decode + random-resized crop + flip + normalise on
   ``--workers`` processes): images/s of the pipeline alone, steps/s of the model alone on
   device-resident data, and steps/s of the two together; the verdict says which one bounds
   training.

A global ``--budget-s`` (default 420 s, so the check fits 8 minutes with start-up) skips the
sections that would start too late, saying so in the JSON. ``--smoke`` shrinks everything
(ResNets of one block of width 2, tiny images, a few steps, no time budget) so the script runs
on a CPU in seconds: tests run it that way; its numbers mean nothing.

No number of this file was measured on an accelerator by the project so far (none was
available); do not quote CPU numbers as GPU ones.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Clock:
    def __init__(self, budget: float):
        self.t0, self.budget = time.perf_counter(), budget

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)


def _model(name: str, k: int, args, dtype: str):
    from robustloss.models import ResNet, get_model

    stem = "cifar" if name == "resnet18" else "imagenet"
    if args.smoke:  # one block: compiles in seconds on a CPU (a full ResNet takes minutes)
        block = "basic" if name == "resnet18" else "bottleneck"
        return ResNet(k, stage_sizes=(1,), width=2, stem=stem, block=block, dtype=dtype)
    return get_model(name, k, stem=stem, dtype=dtype)


def _trainer(model, k: int, n: int, batch: int, devices, runs=None):
    import robustloss
    from robustloss.training import (
        Trainer,
        make_mesh,
        make_optimizer,
        make_schedule,
        objective_from_loss,
    )

    return Trainer(
        model,
        objective_from_loss(robustloss.get_loss("ce")),
        make_optimizer("sgd", make_schedule(0.05), momentum=0.9, weight_decay=5e-4),
        num_examples=n,
        num_classes=k,
        batch_size=batch,
        epoch_mode="loop",
        mesh=make_mesh(devices),
        num_runs=runs,
        labels_per_run=runs is not None,
    )


def _epoch_time(trainer, state, data, repeats: int) -> tuple[object, list[float]]:
    """Compiles (one epoch), then times ``repeats`` epochs (each ends with a host read)."""
    state, _ = trainer.train_epoch(state, data)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        state, _ = trainer.train_epoch(state, data)
        times.append(time.perf_counter() - t)
    return state, times


def _synthetic(n: int, shape: tuple, k: int, runs=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    y = rng.integers(0, k, (runs, n) if runs else n).astype(np.int32)
    return x, y


def section_dtype(args, devices) -> dict:
    from _record import stats

    size = 16 if args.smoke else 32
    n = args.batch * args.steps
    x, y = _synthetic(n, (size, size, 3), 10)
    out = {}
    for dtype in ("float32", "bfloat16"):
        tr = _trainer(_model("resnet18", 10, args, dtype), 10, n, args.batch, devices)
        state = tr.init(0, x[:1])
        _, times = _epoch_time(tr, state, tr.prepare_train_data(x, y), args.repeats)
        s = stats([args.steps / t for t in times])
        out[dtype] = {"steps_per_s": s, "images_per_s": s["median"] * args.batch}
        print(f"resnet18 {dtype}: {s['median']:.2f} steps/s ({s['min']:.2f}-{s['max']:.2f})")
    out["bfloat16_speedup"] = (
        out["bfloat16"]["steps_per_s"]["median"] / out["float32"]["steps_per_s"]["median"]
    )
    return out


def section_packs(args, devices, clock, single: dict | None) -> dict:
    """Packs of R runs; R = 1 is the standalone (not vmapped) program of `section_dtype`, the
    baseline of sequential runs."""
    import jax
    from _record import stats

    size = 16 if args.smoke else 32
    n = args.batch * args.steps
    out = {"dtype": args.pack_dtype, "packs": {}}
    t1 = None
    if single is not None:
        t1 = args.steps / single["steps_per_s"]["median"]
        out["packs"]["1"] = {"epoch_s": t1, "run_steps_per_s": args.steps / t1, "standalone": True}
    for r in args.packs:
        if r == 1 and single is not None:
            continue
        if clock.left() < 30:
            out["packs"][str(r)] = "skipped: time budget"
            continue
        x, y = _synthetic(n, (size, size, 3), 10, runs=r)
        tr = _trainer(_model("resnet18", 10, args, args.pack_dtype), 10, n, args.batch, devices, r)
        keys = np.stack([np.asarray(jax.random.PRNGKey(i)) for i in range(r)])
        state = tr.init(keys, x[:1])
        _, times = _epoch_time(tr, state, tr.prepare_train_data(x, y), args.repeats)
        s = stats(times)
        row = {"epoch_s": s, "run_steps_per_s": r * args.steps / s["median"]}
        if r == 1:
            t1 = s["median"]
        if t1:
            row["speedup_vs_sequential"] = r * t1 / s["median"]
        out["packs"][str(r)] = row
        print(
            f"pack of {r:2d}: {row['run_steps_per_s']:.2f} run-steps/s"
            + (f", {row['speedup_vs_sequential']:.2f}x sequential" if t1 else "")
        )
    return out


def section_resnet50_stream(args, devices, clock) -> dict:
    import jax
    from _images import write_images
    from _record import stats

    from robustloss.data import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        ImageFileSource,
        ImageTransform,
        read_image_list,
        stream_batches,
    )

    size = 64 if args.smoke else 224
    batch, steps = args.batch50, args.steps
    out = {"image_size": size, "batch": batch, "workers": args.workers}
    tf = ImageTransform(
        size=size, crop="random_resized", flip=True, mean=IMAGENET_MEAN, std=IMAGENET_STD
    )
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        files = args.jpegs
        lst = write_images(tmp, files, threads=os.cpu_count() or 4)
        out["jpeg_write_s"] = time.perf_counter() - t
        rel, labels, _ = read_image_list(lst)
        src = ImageFileSource(rel, labels, tmp)
        spe = math.ceil(len(src) / batch)  # steps per epoch of the streamed training set
        epochs = 2 + math.ceil(steps * args.repeats / spe)

        def stream():
            return stream_batches(
                src,
                tf,
                batch_size=batch,
                num_epochs=epochs,
                seed=0,
                workers=args.workers,
                threads=args.threads,
                prefetch=max(4, args.threads),
                process_index=0,
                process_count=1,
            )

        # 1. the pipeline alone
        s = stream()
        try:
            next(s)
            t = time.perf_counter()
            for _ in range(steps * args.repeats):
                next(s)
            ips = steps * args.repeats * batch / (time.perf_counter() - t)
        finally:
            s.close()
        out["pipeline_images_per_s"] = ips
        print(f"resnet50 pipeline alone: {ips:.1f} images/s")
        if clock.left() < 60:
            out["compute"] = "skipped: time budget"
            return out
        # 2. the model alone on device-resident data
        n = batch * steps
        x, y = _synthetic(n, (size, size, 3), 1000)
        tr = _trainer(_model("resnet50", 1000, args, "bfloat16"), 1000, n, batch, devices)
        state = tr.init(0, x[:1])
        state, times = _epoch_time(tr, state, tr.prepare_train_data(x, y), args.repeats)
        c = stats([steps / t for t in times])
        out["compute_steps_per_s"] = c
        print(f"resnet50 bf16 compute alone: {c['median']:.2f} steps/s")
        # 3. together: the same model and state, its batches from the stream
        tr2 = _trainer(_model("resnet50", 1000, args, "bfloat16"), 1000, len(src), batch, devices)
        data = tr2.prepare_train_data(None, src.labels)
        st2 = state._replace(  # the counters restart: an epoch here is len(src) / batch steps
            step=jax.numpy.zeros_like(state.step), epoch=jax.numpy.zeros_like(state.epoch)
        )
        s = stream()
        put = lambda a: jax.make_array_from_process_local_data(tr2.batch_sharding, a)
        batches = ({"x": put(b["x"]), "index": put(b["index"])} for b in s)
        try:
            st2, _ = tr2.train_epoch(st2, data, batches)  # compile + one epoch
            t, done = time.perf_counter(), 0
            while done < steps * args.repeats and clock.left() > 10:
                st2, _ = tr2.train_epoch(st2, data, batches)
                done += tr2.steps_per_epoch
            both = done / (time.perf_counter() - t) if done else float("nan")
        finally:
            s.close()
        out["together_steps_per_s"] = both
        pipe_steps = ips / batch
        bound = "pipeline" if pipe_steps < c["median"] else "compute"
        out["verdict"] = (
            f"{bound}-bound: the pipeline alone gives {pipe_steps:.2f} batches/s, the model "
            f"alone {c['median']:.2f} steps/s, together {both:.2f} steps/s"
        )
        print("resnet50:", out["verdict"])
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default="results/bench_gpu.json")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on any device (a test)")
    ap.add_argument("--budget-s", type=float, default=420.0)
    ap.add_argument("--batch", type=int, default=128, help="ResNet-18 batch")
    ap.add_argument("--batch50", type=int, default=128, help="ResNet-50 batch")
    ap.add_argument("--steps", type=int, default=20, help="steps per timed epoch")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--packs", default="1,4,8,16")
    ap.add_argument("--pack-dtype", default="bfloat16", choices=("float32", "bfloat16"))
    ap.add_argument("--jpegs", type=int, default=2048)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    ap.add_argument("--threads", type=int, default=2, help="reading threads per worker")
    ap.add_argument("--devices", type=int, default=0, help="0 = all")
    ap.add_argument("--sections", default="dtype,packs,resnet50_stream")
    args = ap.parse_args(argv)
    if args.smoke:
        args.budget_s = float("inf")
        args.batch, args.batch50, args.steps, args.repeats = 8, 4, 2, 1
        args.jpegs, args.workers, args.threads, args.devices = 12, 0, 2, args.devices or 1
        args.packs = "1,2"
    args.packs = [int(v) for v in str(args.packs).split(",")]
    import jax
    from _record import machine, update_section

    devices = jax.devices()[: args.devices] if args.devices else jax.devices()
    clock = _Clock(args.budget_s)
    out = {
        "machine": machine(),
        "devices": [f"{d.platform}:{d.device_kind}" for d in devices],
        "args": {k: v for k, v in vars(args).items()},
        "smoke": args.smoke,
    }
    sections = args.sections.split(",")
    if "dtype" in sections:
        out["resnet18_dtype"] = section_dtype(args, devices)
    if "packs" in sections:
        single = out.get("resnet18_dtype", {}).get(args.pack_dtype)
        out["packs"] = section_packs(args, devices, clock, single)
    if "resnet50_stream" in sections:
        if clock.left() < 90:
            out["resnet50_stream"] = "skipped: time budget"
        else:
            out["resnet50_stream"] = section_resnet50_stream(args, devices, clock)
    out["seconds"] = time.perf_counter() - clock.t0
    if args.json:
        update_section(args.json, "gpu_check", out)
        print(f"wrote {args.json} ({out['seconds']:.0f} s)")
    print(json.dumps({k: v for k, v in out.items() if k != "machine"}, default=str)[:2000])
    return out


if __name__ == "__main__":
    main()
