"""Atomic file writes: every file the package writes goes through `atomic_write`.

A reader (or a run resumed after a kill) sees either the old content of a file or the new one,
never a part: the content goes to a hidden temporary file in the same directory, which is flushed
to disk and then renamed over the target (``os.replace``, atomic on POSIX and Windows). A write
that fails or is interrupted leaves the target as it was (at worst a hidden ``.<name>.*`` file
beside it). Standard library only, so every tier can use it.

Example:
    >>> import os, pathlib, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out", "a.json")
    >>> write_json(path, {"b": 1, "a": [2]})
    >>> print(open(path).read(), end="")
    {
     "a": [
      2
     ],
     "b": 1
    }
    >>> atomic_write(path, "text")
    >>> atomic_write(path, lambda tmp: pathlib.Path(tmp).write_text(open(path).read() + "!"))
    >>> open(path).read()
    'text!'
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["atomic_write", "tmp_name", "tmp_owner", "write_json"]

# ".<name>.<pid>-<12 hex>.tmp<ext>": the temporary file of `atomic_write`
_TMP = re.compile(r"^\..+\.(\d+)-[0-9a-f]{12}\.tmp(\.[^.]*)?$")


def tmp_name(path: str | os.PathLike) -> str:
    """The temporary file `atomic_write` writes ``path``'s content to, beside it.

    It holds the writer's pid (`tmp_owner`), so a clean-up can tell a dead writer's leftover
    from a live writer's file.
    """
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    ext = os.path.splitext(name)[1]
    return os.path.join(folder, f".{name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp{ext}")


def tmp_owner(name: str) -> int | None:
    """The writer's pid in a temporary file name of `atomic_write` (a base name), else None.

    Example:
        >>> tmp_owner(os.path.basename(tmp_name("/x/results.parquet"))) == os.getpid()
        True
        >>> tmp_owner("results.parquet") is None
        True
    """
    m = _TMP.match(name)
    return int(m.group(1)) if m else None


def atomic_write(path: str | os.PathLike, content: str | bytes | Callable[[str], Any]) -> None:
    """Replaces the file ``path`` by ``content`` atomically (see the module docstring).

    Args:
        path: the file to write; its directory is created if missing.
        content: text (written as UTF-8), bytes, or a callback ``write(tmp_path)`` that writes
            the file itself (``frame.to_parquet``, ``np.save``, ``fig.savefig``). The temporary
            path ends in the target's extension, so writers that infer the format from it (or
            append one, as ``np.save`` does without ``.npy``) write the right file.

    Raises:
        TypeError: ``content`` is none of the three.
        Whatever the callback or the file system raises; the target is then unchanged.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = tmp_name(path)
    try:
        if isinstance(content, str | bytes):
            data = content.encode() if isinstance(content, str) else content
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        elif callable(content):
            content(tmp)
            if not os.path.isfile(tmp):
                raise FileNotFoundError(f"the writer of {path!r} wrote no file at {tmp!r}")
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        else:
            raise TypeError(
                f"content of {path!r} must be str, bytes or a callback write(tmp_path), "
                f"got {type(content).__name__}"
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    _fsync_dir(folder)


def write_json(
    path: str | os.PathLike,
    obj: Any,
    *,
    default: Callable | None = None,
    allow_nan: bool = True,
) -> None:
    """`atomic_write` of ``obj`` as JSON: indent 1, sorted keys, a final newline.

    ``default`` and ``allow_nan`` are ``json.dumps``'s (``default=str`` for values JSON has no
    type for; ``allow_nan=False``: strict JSON, a NaN/inf raises ``ValueError`` before anything
    is written, instead of writing ``NaN``/``Infinity``, which are not JSON).
    """
    text = json.dumps(obj, indent=1, sort_keys=True, default=default, allow_nan=allow_nan)
    atomic_write(path, text + "\n")


def _fsync_dir(folder: str) -> None:
    """Flushes the rename itself to disk (POSIX; a no-op where directories cannot be opened)."""
    flag = getattr(os, "O_DIRECTORY", None)
    if flag is None:
        return
    fd = os.open(folder, os.O_RDONLY | flag)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
