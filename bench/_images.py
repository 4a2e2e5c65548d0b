"""Synthetic image files for the input-pipeline benchmarks (nothing is downloaded).

Photographs compress far better than random pixels, and JPEG decoding time depends on the
compressed size, so the images are smooth random fields (a small random image upsampled
bicubically) plus mild noise: ImageNet-like file sizes (tens of kB at ~400×350).
"""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np


def write_images(
    folder: str,
    n: int,
    *,
    size: tuple[int, int] | None = None,
    fmt: str = "jpg",
    classes: int = 10,
    seed: int = 0,
    threads: int = 8,
) -> str:
    """Writes ``n`` images and ``folder/list.csv`` (``path,label`` rows); returns the list.

    ``size=None`` draws each image's (height, width) in ``[256, 512)²`` (ImageNet-like); a
    fixed ``size`` makes all equal (e.g. ``(32, 32)`` for CIFAR-shaped PNGs).
    """
    from PIL import Image

    os.makedirs(folder, exist_ok=True)

    def one(i: int) -> str:
        rng = np.random.default_rng([seed, i])
        h, w = size if size else tuple(int(v) for v in rng.integers(256, 512, 2))
        small = rng.integers(0, 256, (max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
        im = Image.fromarray(small).resize((w, h), Image.BICUBIC)
        x = np.asarray(im).astype(np.int16) + rng.integers(-8, 9, (h, w, 3))
        name = f"{i:06d}.{fmt}"
        Image.fromarray(np.clip(x, 0, 255).astype(np.uint8)).save(
            os.path.join(folder, name), quality=90
        )
        return f"{name},{i % classes}"

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        rows = list(pool.map(one, range(n)))
    path = os.path.join(folder, "list.csv")
    with open(path, "w") as f:
        f.write("\n".join(rows) + "\n")
    return path
