"""Input-pipeline throughput: our grain stream vs a PyTorch ``DataLoader``, images per second.

Two workloads on the same generated files (`bench/_images.py`, nothing downloaded):

* ``imagenet``: JPEGs of ~256-512 px, decode + random-resized crop to 224 + flip + normalise
  (ImageNet's training transform);
* ``cifar``: 32×32 PNGs, decode + pad-4 random crop + flip + normalise.

Variants, interleaved (A/B/C/A/B/C...) over ``--repeats`` rounds so that load drift hits all:

* ``grain_processes``: `robustloss.data.stream_batches` with ``workers=W`` grain processes
  (one reading thread each);
* ``grain_threads``: the same with ``workers=0`` and ``W`` threads in the main process
  (Pillow decodes without the GIL);
* ``torch``: ``torch.utils.data.DataLoader(num_workers=W)`` over a ``Dataset`` doing the same
  work with Pillow + NumPy. torchvision is *not* used: its PyPI wheels do not import beside the
  torch 2.13.0 CPU build the bench extra pins (docs/training.md); the transforms are written
  here the way torchvision does them (``RandomResizedCrop`` via ``Image.resize(box=...)``).

Per variant: images/s in the steady state (after the first batch: worker start-up excluded)
and the start-up time to the first batch. Every variant streams ``--images`` images per
repeat at batch ``--batch``.

Numbers taken on a machine shared with other jobs are not quotable: run it on a quiet machine
(``uptime`` before and after is recorded)::

    python bench/input_pipeline.py --workers 4 --json results/bench_input.json
    python bench/input_pipeline.py --quick   # a check that it runs (seconds)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _images import write_images  # noqa: E402
from _record import machine, stats, update_section  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def _ours(source, transform, batch, workers, threads, limit):
    from robustloss.data import stream_batches

    t0 = time.perf_counter()
    s = stream_batches(
        source,
        transform,
        batch_size=batch,
        num_epochs=math.ceil(limit / len(source)) + 1,
        seed=0,
        workers=workers,
        threads=threads,
        prefetch=max(2, threads),
        process_index=0,
        process_count=1,
    )
    try:
        next(s)
        t1 = time.perf_counter()
        seen = 0
        while seen < limit:
            seen += len(next(s)["index"])
        t2 = time.perf_counter()
    finally:
        s.close()
    return {"startup": t1 - t0, "images_per_s": seen / (t2 - t1)}


class _TorchImages:
    """A map-style dataset doing the stream's work with Pillow + NumPy (no torchvision)."""

    def __init__(self, paths, labels, kind, seed=0):
        self.paths, self.labels, self.kind, self.seed = paths, labels, kind, seed

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        import torch
        from PIL import Image, ImageOps

        rng = np.random.default_rng([self.seed, i, int(torch.randint(1 << 30, ()))])
        with Image.open(self.paths[i]) as im:
            im = im.convert("RGB")
        if self.kind == "imagenet":  # RandomResizedCrop(224), torchvision's algorithm
            w, h = im.size
            box = None
            for _ in range(10):
                area = h * w * rng.uniform(0.08, 1.0)
                ar = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
                cw, ch = round(math.sqrt(area * ar)), round(math.sqrt(area / ar))
                if 0 < cw <= w and 0 < ch <= h:
                    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
                    box = (int(left), int(top), int(left + cw), int(top + ch))
                    break
            im = im.resize((224, 224), Image.BILINEAR, box=box or (0, 0, w, h))
            if rng.random() < 0.5:
                im = ImageOps.mirror(im)
            x = np.asarray(im)
        else:  # RandomCrop(32, padding=4) + RandomHorizontalFlip
            x = np.pad(np.asarray(im), ((4, 4), (4, 4), (0, 0)))
            oy, ox = rng.integers(0, 9, 2)
            x = x[oy : oy + 32, ox : ox + 32]
            if rng.random() < 0.5:
                x = x[:, ::-1]
        x = (x.astype(np.float32) / np.float32(255) - MEAN) / STD
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), self.labels[i]


def _torch(paths, labels, kind, batch, workers, limit, start="fork"):
    import torch

    ds = _TorchImages(paths, labels, kind)
    t0 = time.perf_counter()
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        drop_last=False,
        multiprocessing_context=start if workers else None,
    )
    seen, t1 = 0, None
    while True:
        for x, _ in loader:
            if t1 is None:
                t1 = time.perf_counter()
                continue
            seen += len(x)
            if seen >= limit:
                return {"startup": t1 - t0, "images_per_s": seen / (time.perf_counter() - t1)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--images", type=int, default=2048, help="images timed per repeat")
    ap.add_argument("--files", type=int, default=1024, help="distinct files generated")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workloads", default="imagenet,cifar")
    ap.add_argument("--variants", default="grain_processes,grain_threads,torch")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a check that it runs")
    ap.add_argument(
        "--torch-start",
        default="fork",
        choices=("fork", "spawn", "forkserver"),
        help="how the DataLoader starts its workers (PyTorch's Linux default: fork)",
    )
    ap.add_argument("--dir", default="", help="where to write the images (default: a temp dir)")
    ap.add_argument("--json", default="", help="results file (section 'input_pipeline')")
    args = ap.parse_args(argv)
    if args.quick:
        args.workers, args.batch, args.images, args.files, args.repeats = 2, 8, 32, 24, 1
    from robustloss.data import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        ImageFileSource,
        ImageTransform,
        read_image_list,
    )

    variants = args.variants.split(",")
    if "torch" in variants:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("torch not installed (pip install -e '.[bench]'): skipping the torch variant")
            variants.remove("torch")
    norm = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    tfs = {
        "imagenet": ImageTransform(size=224, crop="random_resized", flip=True, **norm),
        "cifar": ImageTransform(crop="pad", padding=4, flip=True, **norm),
    }
    out = {"machine": machine(), "args": vars(args), "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.workloads.split(","):
            folder = os.path.join(args.dir or tmp, kind)
            size = None if kind == "imagenet" else (32, 32)
            fmt = "jpg" if kind == "imagenet" else "png"
            t = time.perf_counter()
            lst = write_images(folder, args.files, size=size, fmt=fmt)
            print(f"{kind}: wrote {args.files} {fmt} files in {time.perf_counter() - t:.1f} s")
            rel, labels, _ = read_image_list(lst)
            src = ImageFileSource(rel, labels, folder)
            paths = [src.path(i) for i in range(len(src))]
            runs = {v: [] for v in variants}
            for _ in range(args.repeats):
                for v in variants:
                    if v == "grain_processes":
                        r = _ours(src, tfs[kind], args.batch, args.workers, 1, args.images)
                    elif v == "grain_threads":
                        r = _ours(src, tfs[kind], args.batch, 0, args.workers, args.images)
                    else:
                        r = _torch(
                            paths,
                            labels,
                            kind,
                            args.batch,
                            args.workers,
                            args.images,
                            args.torch_start,
                        )
                    runs[v].append(r)
            res = {}
            for v, rs in runs.items():
                res[v] = {
                    "images_per_s": stats([r["images_per_s"] for r in rs]),
                    "startup_s": stats([r["startup"] for r in rs]),
                }
                ips = res[v]["images_per_s"]
                print(
                    f"  {v:16s} {ips['median']:8.1f} images/s ({ips['min']:.1f}-{ips['max']:.1f}),"
                    f" start-up {res[v]['startup_s']['median']:.2f} s"
                )
            out["results"][kind] = res
    out["load_average_after"] = list(os.getloadavg())
    if args.json:
        update_section(args.json, "input_pipeline", out)
    return out


if __name__ == "__main__":
    main()
