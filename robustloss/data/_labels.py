"""Reading one noisy label per example from a file (.npy, .npz, .csv/.tsv/.txt)."""

from __future__ import annotations

import os
import re

import numpy as np
from jax.typing import ArrayLike

_CIFARN_KEYS = {
    "aggre": "aggre_label",
    "rand1": "random_label1",
    "random1": "random_label1",
    "rand2": "random_label2",
    "random2": "random_label2",
    "rand3": "random_label3",
    "random3": "random_label3",
    "worst": "worse_label",
    "worse": "worse_label",
    "noisy": "noisy_label",  # CIFAR-100N
    "clean": "clean_label",
}


def read_label_file(
    path: str | os.PathLike,
    key: str | None = None,
    *,
    column: int | None = None,
    expected_rows: int | None = None,
) -> np.ndarray:
    """Reads one label per example from ``.npy``, ``.npz`` or ``.csv``/``.tsv``/``.txt``.

    Nothing is guessed: a 2-D array (e.g. ``[N, 2]``) is never flattened — pass ``column=`` to
    pick its label column (``[N, 1]`` is taken as ``[N]``); a text file's first line is a header
    only if every cell is a column name (starts with a letter or ``_``, not a number), and a
    first line that is neither integers nor names is an error (taking a garbled first line as a
    header would shift every label by one). Every error names the file.

    Args:
      path: the file.
      key: array (``.npz``) or header column (text) to read; CIFAR-N short names (``aggre``,
        ``rand1``..``rand3``, ``worst``, ``noisy``) are accepted.
      column: 0-based column of a 2-D array or of a text file (with or without a header).
      expected_rows: if given, the file must hold exactly this many labels (the dataset's
        source rows; see `check_label_count`).

    Returns:
      ``[N]`` labels as stored (``robustloss.noise.check_label_values`` checks the values).

    Raises:
      FileNotFoundError: no such file.
      ValueError: unsupported type, ambiguous or malformed content, wrong row count.

    Example:
      >>> import tempfile
      >>> f = os.path.join(tempfile.mkdtemp(), "y.npy"); np.save(f, np.array([2, 0, 1]))
      >>> read_label_file(f).tolist()
      [2, 0, 1]
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"noisy-label file {p!r} does not exist")
    if column is not None and (
        isinstance(column, bool) or not isinstance(column, (int, np.integer)) or column < 0
    ):
        raise ValueError(f"{p!r}: column must be a non-negative int, got {column!r}")
    ext = os.path.splitext(p)[1].lower()
    if ext == ".npy":
        out = _label_column(np.load(p, allow_pickle=False), column, f"{p!r}")
    elif ext == ".npz":
        with np.load(p, allow_pickle=False) as z:
            names = list(z.files)
            if key is None:
                if len(names) != 1:
                    raise ValueError(f"{p!r} holds arrays {names}; pass key= to choose one")
                k = names[0]
            else:
                k = key if key in names else _CIFARN_KEYS.get(key, key)
                if k not in names:
                    raise ValueError(f"key {key!r} not in {p!r}; it holds {names}")
            out = _label_column(z[k], column, f"{p!r} array {k!r}")
    elif ext in (".csv", ".txt", ".tsv"):
        out = _read_label_text(p, "\t" if ext == ".tsv" else ",", key, column)
    else:
        raise ValueError(
            f"unsupported noisy-label file type {ext!r} ({p!r}); use .npy, .npz, .csv/.tsv/.txt "
            "(convert a torch .pt file with torch.load(...) and numpy.save)"
        )
    if expected_rows is not None:
        check_label_count(out, expected_rows, source=repr(p))
    return out


def check_label_count(labels: ArrayLike, expected_rows: int, *, source: str = "labels") -> None:
    """Raises ``ValueError`` unless ``labels`` holds exactly ``expected_rows`` entries.

    A noisy-label file aligned by source row must have one label per row of the dataset's
    source order: a longer file (e.g. a different dataset or split) or a shorter one is
    misaligned even when every index happens to be in range.

    Example:
      >>> check_label_count(np.zeros(3), 4, source="'c10n.npy'")
      Traceback (most recent call last):
      ...
      ValueError: 'c10n.npy' holds 3 labels but the dataset has 4 source rows ...
    """
    n = len(np.asarray(labels).reshape(-1)) if np.ndim(labels) else 1
    if n != int(expected_rows):
        more = "more" if n > expected_rows else "fewer"
        raise ValueError(
            f"{source} holds {n} labels but the dataset has {int(expected_rows)} source rows "
            f"({more} labels than rows): the file must hold one label per source row, in the "
            "source order"
        )


def _label_column(arr: np.ndarray, column: int | None, where: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 1:
        if column not in (None, 0):
            raise ValueError(f"{where} is 1-D (shape {arr.shape}); column={column} does not apply")
        return arr
    if arr.ndim == 2:
        if column is None:
            if arr.shape[1] == 1:
                return arr[:, 0]
            raise ValueError(
                f"{where} has shape {arr.shape}: one label per row is needed; pass column=<0.."
                f"{arr.shape[1] - 1}> to choose the label column (a 2-D array is not flattened)"
            )
        if column >= arr.shape[1]:
            raise ValueError(f"{where} has {arr.shape[1]} columns; column={column} is out of range")
        return arr[:, column]
    raise ValueError(f"{where} has shape {arr.shape}; expected [N] labels (or [N, C] with column=)")


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .\-]*$")


def _read_label_text(p: str, delim: str, key, column) -> np.ndarray:
    with open(p) as f:
        lines = [(i, ln.strip()) for i, ln in enumerate(f, 1)]
    lines = [(i, ln) for i, ln in lines if ln]
    if not lines:
        raise ValueError(f"{p!r} is empty")
    first_no, first = lines[0]
    cells = [c.strip() for c in first.split(delim)]
    if all(_is_int(c) for c in cells):
        names = None
    elif all(_NAME.match(c) for c in cells):
        names = cells
        lines = lines[1:]
    else:
        raise ValueError(
            f"{p!r} line {first_no} ({first!r}) is neither integer labels nor a header of column "
            "names; fix the file (a garbled first line is not taken as a header)"
        )
    if names is not None:
        if key is not None:
            k = key if key in names else _CIFARN_KEYS.get(key, key)
            if k not in names:
                raise ValueError(f"column {key!r} not in {p!r}; it has {names}")
            col = names.index(k)
        elif column is not None:
            if column >= len(names):
                raise ValueError(f"{p!r} has columns {names}; column={column} is out of range")
            col = column
        elif len(names) == 1:
            col = 0
        else:
            raise ValueError(f"{p!r} has columns {names}; pass key= (a name) or column=")
    else:
        if key is not None:
            raise ValueError(
                f"{p!r} has no header row, so key={key!r} cannot name a column; pass column="
            )
        if column is not None:
            col = column
        elif len(cells) == 1:
            col = 0
        else:
            raise ValueError(
                f"{p!r} line {first_no} has {len(cells)} columns and there is no header; pass "
                "column= to choose the label column"
            )
    out = []
    for i, ln in lines:
        row = ln.split(delim)
        if col >= len(row) or not _is_int(row[col]):
            raise ValueError(f"{p!r} line {i}: expected an integer in column {col}, got {ln!r}")
        out.append(int(row[col]))
    if not out:
        raise ValueError(f"{p!r} holds a header but no labels")
    return np.asarray(out)


def _is_int(s: str) -> bool:
    try:
        int(s.strip())
    except ValueError:
        return False
    return True
