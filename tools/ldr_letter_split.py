"""Derives ``robustloss/data/ldr_letter_test_rows.txt``: the LDR authors' Letter test rows.

The LDR code (Optimization-AI/ICML2023_LDR at 732fc85) ships ``data/letter_test.npz``: 2,000
rows of UCI Letter, features scaled as ``x / 15 * 2 - 1`` and stored at ``%g`` precision, labels
one-hot (A = 0). Its training file is lost. This script finds, for each test row in the file's
order, the UCI row (0-based, in the order of ``letter-recognition.data`` = mlbench's
``LetterRecognition.rda``) with the same 16 integer features and letter; when several UCI rows
are identical, a test row takes the first one not taken yet. The result is written with a
provenance header; ``robustloss.data`` reads it (``dataset.split="ldr"``) and never needs the
npz at run time.

    python tools/ldr_letter_split.py --npz <the LDR code's data/letter_test.npz> [--out FILE]
"""

from __future__ import annotations

import argparse
import collections
import os

import numpy as np

from robustloss._io import atomic_write

HEADER = """\
UCI Letter rows of the LDR authors' test split (Zhu, Ying, Yang, ICML 2023).
Source: data/letter_test.npz of Optimization-AI/ICML2023_LDR at commit 732fc85 (2023-06-06),
2,000 rows; derived by tools/ldr_letter_split.py. One 0-based row number of the UCI file
letter-recognition.data (= mlbench's LetterRecognition.rda, same rows and order) per line, in
the order of the npz file: row i of the authors' test set is UCI row rows[i]. A test row that
matches several identical UCI rows (features and letter) takes the first one not yet taken.
The authors' training file is lost: the training set is taken as the other 18,000 rows in UCI
order (a reconstruction). UCI Letter Recognition data: CC BY 4.0."""


def derive_rows(x_uci: np.ndarray, y_uci: np.ndarray, x_test: np.ndarray, onehot: np.ndarray):
    """The UCI row of every test row (see the module docstring).

    Args:
      x_uci: ``[20000, 16]`` integer-valued UCI features; ``y_uci``: ``[20000]`` letters (A=0).
      x_test: ``[M, 16]`` scaled test features ``x / 15 * 2 - 1``; ``onehot``: ``[M, 26]``.

    Returns:
      ``[M]`` int64 UCI row numbers, all different.

    Raises:
      ValueError: a test row that is not an exact rescaled integer row, or has no unused match.
    """
    ints = np.rint((np.asarray(x_test, np.float64) + 1.0) / 2.0 * 15.0)
    if np.abs(ints / 15.0 * 2.0 - 1.0 - x_test).max() > 1e-6:
        raise ValueError("test features are not x/15*2-1 of integer features")
    labels = np.asarray(onehot).argmax(axis=1)
    where = collections.defaultdict(collections.deque)
    for row, (feat, lab) in enumerate(zip(np.asarray(x_uci).astype(np.int64), y_uci, strict=True)):
        where[(feat.tobytes(), int(lab))].append(row)
    rows = []
    for i, (feat, lab) in enumerate(zip(ints.astype(np.int64), labels, strict=True)):
        queue = where[(feat.tobytes(), int(lab))]
        if not queue:
            raise ValueError(f"test row {i} has no unused identical UCI row")
        rows.append(queue.popleft())
    return np.asarray(rows, dtype=np.int64)


def main() -> None:
    from robustloss.data import _mlbench

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--npz", required=True, help="the authors' letter_test.npz")
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "robustloss", "data", "ldr_letter_test_rows.txt")
    p.add_argument("--out", default=default_out)
    args = p.parse_args()
    x, y, _ = _mlbench.letter_rda()
    z = np.load(args.npz)
    rows = derive_rows(x, y, z["arr_0"], z["arr_1"])
    atomic_write(args.out, lambda tmp: np.savetxt(tmp, rows, fmt="%d", header=HEADER))
    print(f"{args.out}: {len(rows)} rows; {(rows >= 18000).mean():.1%} in UCI rows 18000-19999")


if __name__ == "__main__":
    main()
