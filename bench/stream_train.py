"""The training loop fed by the stream vs the same model on device-resident data.

A LeNet-5 (28×28×3 inputs) trains on generated PNG files listed in a CSV (the ``image_list``
dataset; nothing downloaded) with

* ``memory_scan`` / ``memory_loop``: ``dataset.pipeline="memory"`` (files decoded once at
  load, the training set on the device; LeNet's default scan epochs, and a loop of jitted
  steps, the like-for-like comparison with the stream);
* ``stream_threads``: ``dataset.pipeline="stream"`` with ``--workers`` reading threads;
* ``stream_processes``: the same with ``--workers`` grain processes.

Each variant is built once, trains one epoch (compilation), then ``--repeats`` timed epochs,
interleaved across variants (A/B/C/D/A/B/...); the epoch time is `StreamFeed.train_epoch` /
`MemoryFeed.train_epoch` alone (no evaluation). The overhead of streaming is the ratio of
``stream_*`` to ``memory_loop``.

Not quotable on a shared machine: run it quietly (the load average is recorded)::

    python bench/stream_train.py --json results/bench_stream.json
    python bench/stream_train.py --quick   # a check that it runs
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _images import write_images  # noqa: E402
from _record import machine, stats, update_section  # noqa: E402


def _config(train_list, test_list, pipeline, workers, threads, batch, epochs):
    from configs import test as test_config

    c = test_config.get_config()
    with c.unlocked():
        c.dataset.name = "image_list"
        c.dataset.path, c.dataset.test_path = train_list, test_list
        c.dataset.val_fraction = 0.0
        c.dataset.pipeline = pipeline
        c.dataset.workers, c.dataset.threads = workers, threads
        c.dataset.prefetch = max(2, threads)
        c.model.name = "lenet"
        c.optimizer.lr = 1e-3
        c.batch_size = batch
        c.num_epochs = epochs
        c.progress = "none"
        c.select_metric = "test/top1"
    return c


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4096, help="training images")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--variants", default="memory_scan,memory_loop,stream_threads,stream_processes")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a check that it runs")
    ap.add_argument("--json", default="", help="results file (section 'stream_train')")
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.batch, args.workers, args.repeats = 64, 16, 1, 1
    from robustloss.training.build import build_trainer, init_state, load_run_data
    from robustloss.training.feed import make_feed

    out = {"machine": machine(), "args": vars(args), "results": {}}
    variants = args.variants.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        train_list = write_images(os.path.join(tmp, "train"), args.images, size=(28, 28), fmt="png")
        test_list = write_images(os.path.join(tmp, "test"), 64, size=(28, 28), fmt="png", seed=1)
        built = {}
        for v in variants:
            pipeline = v.split("_")[0]
            workers = args.workers if v == "stream_processes" else 0
            cfg = _config(
                train_list,
                test_list,
                pipeline,
                workers,
                args.workers,
                args.batch,
                args.repeats + 1,
            )
            if v == "memory_loop":
                with cfg.unlocked():
                    cfg.epoch_mode = "loop"
            data = load_run_data(cfg)
            trainer = build_trainer(cfg, data)
            state = init_state(cfg, trainer, data)
            feed = make_feed(cfg, trainer, data)
            t = time.perf_counter()
            state, _ = feed.train_epoch(state)
            print(f"{v}: compile + first epoch {time.perf_counter() - t:.2f} s")
            built[v] = [feed, state, []]
        for _ in range(args.repeats):
            for v in variants:
                feed, state, times = built[v]
                t = time.perf_counter()
                state, m = feed.train_epoch(state)
                times.append(time.perf_counter() - t)
                built[v][1] = state
        for v in variants:
            feed, _, times = built[v]
            feed.close()
            s = stats(times)
            out["results"][v] = {"epoch_s": s, "images_per_s": args.images / s["median"]}
            print(f"  {v:17s} {s['median']:.3f} s/epoch ({s['min']:.3f}-{s['max']:.3f})")
    base = out["results"].get("memory_loop")
    if base:
        for v in variants:
            if v.startswith("stream"):
                r = out["results"][v]["epoch_s"]["median"] / base["epoch_s"]["median"]
                out["results"][v]["time_vs_memory_loop"] = r
                print(f"  {v} / memory_loop: {r:.2f}x the time")
    out["load_average_after"] = list(os.getloadavg())
    if args.json:
        update_section(args.json, "stream_train", out)
    return out


if __name__ == "__main__":
    main()
