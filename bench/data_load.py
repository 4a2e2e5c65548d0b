"""Benchmark: time to load datasets into memory with ``robustloss.data.load_dataset``.

Usage::

    .venv/bin/python bench/data_load.py [--repeats 5] [--tfds-copy]

Measures (wall clock, median of ``--repeats`` runs, each in a fresh state of the page cache as
far as Python is concerned — the files themselves stay in the OS cache after the first run):

* ``fashion_mnist`` from the Debian IDX files (gzip decode + TFDS order), and in file order;
* the parts: ``read_idx`` of the 60k training images, ``tfds_order(60000)``;
* ``digits``;
* with ``--tfds-copy``: a full-size (60k/10k) Fashion-MNIST-shaped TFDS copy written with TFDS's
  own writer (array_record, ``Tensor`` feature; TensorFlow is not needed), read through the
  TFDS path once without the ``.npy`` cache and once from the cache.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

from robustloss import data


def _time(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _tfds_copy(root: str) -> None:
    d = data._sources.DEBIAN_FASHION_MNIST
    xs = {
        "train": data.read_idx(f"{d}/train-images-idx3-ubyte.gz")[..., None],
        "test": data.read_idx(f"{d}/t10k-images-idx3-ubyte.gz")[..., None],
    }
    ys = {
        "train": data.read_idx(f"{d}/train-labels-idx1-ubyte.gz"),
        "test": data.read_idx(f"{d}/t10k-labels-idx1-ubyte.gz"),
    }

    data.write_tfds_copy(root, {s: (xs[s], ys[s]) for s in ("train", "test")})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tfds-copy", action="store_true")
    ap.add_argument("--json", default="", help="write the 'data_load' section of this file")
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _record import machine, stats, update_section

    record = {}
    print(f"# {platform.node()} {os.cpu_count()} CPUs, numpy {np.__version__}")
    rows = []
    d = data._sources.DEBIAN_FASHION_MNIST
    if os.path.exists(f"{d}/train-images-idx3-ubyte.gz"):
        rows.append(
            ("fashion_mnist (Debian IDX, TFDS order)", lambda: data.load_dataset("fashion_mnist"))
        )
        rows.append(
            (
                "fashion_mnist (Debian IDX, file order)",
                lambda: data.load_dataset("fashion_mnist", order="file"),
            )
        )
        rows.append(
            ("  read_idx train images", lambda: data.read_idx(f"{d}/train-images-idx3-ubyte.gz"))
        )
        rows.append(("  tfds_order(60000)", lambda: data.tfds_order(60000, "train")))
    rows.append(("digits", lambda: data.load_dataset("digits")))
    for name, fn in rows:
        times = _time(fn, args.repeats)
        record[name.strip()] = stats(times)
        print(
            f"{name:45s} median {statistics.median(times):7.3f} s   "
            f"min-max {min(times):.3f}-{max(times):.3f} s"
        )
    if args.tfds_copy:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            _tfds_copy(os.path.join(tmp, "tfds"))
            print(
                f"{'  write TFDS copy (array_record, 70k)':45s} {time.perf_counter() - t0:7.3f} s"
            )
            kw = {"data_dir": os.path.join(tmp, "tfds")}
            med = _time(lambda: data.load_dataset("fashion_mnist", cache_dir="", **kw), 1)[0]
            print(f"{'fashion_mnist (TFDS copy, no cache)':45s} {med:7.3f} s")
            cache = os.path.join(tmp, "cache")
            data.load_dataset("fashion_mnist", cache_dir=cache, **kw)  # fills the cache
            times = _time(
                lambda: data.load_dataset("fashion_mnist", cache_dir=cache, **kw), args.repeats
            )
            record["fashion_mnist (TFDS copy, .npy cache)"] = stats(times)
            print(
                f"{'fashion_mnist (TFDS copy, .npy cache)':45s} {statistics.median(times):7.3f} s"
            )
    if args.json:
        payload = {
            "machine": machine(),
            "command": " ".join(["bench/data_load.py"] + sys.argv[1:]),
            "seconds": record,
        }
        update_section(args.json, "data_load", payload)


if __name__ == "__main__":
    main()
