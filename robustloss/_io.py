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
import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["atomic_write", "write_json"]


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
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    ext = os.path.splitext(name)[1]
    tmp = os.path.join(folder, f".{name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp{ext}")
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


def write_json(path: str | os.PathLike, obj: Any, *, default: Callable | None = None) -> None:
    """`atomic_write` of ``obj`` as JSON: indent 1, sorted keys, a final newline.

    ``default`` is ``json.dumps``'s (e.g. ``str`` for values JSON has no type for).
    """
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True, default=default) + "\n")


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
