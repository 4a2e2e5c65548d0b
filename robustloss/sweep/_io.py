"""The sweep's file writes, in one place: atomic replacement, strict JSON, leftover owners.

Every file a sweep writes goes through `atomic_write` (a temporary file ``<path>.tmp.<pid>``
beside the target, flushed and fsynced, then renamed over it): a reader or a killed writer
sees the old file or the new one, never a mix. The ``<pid>`` suffix names the process that
owns a leftover temporary file (`tmp_owner`), so a later driver removes only those whose
process is gone. JSON is strict (`dumps` refuses NaN/inf: ``Infinity`` is not JSON).
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "ENV_ERRNOS",
    "atomic_write",
    "dumps",
    "env_errno",
    "pid_alive",
    "tmp_owner",
]

#: errno values that mean "the environment failed" (disk full, read-only or failing storage,
#: quota), not "this cell's training failed": the program stops, its cells stay pending.
ENV_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error",
    errno.EDQUOT: "disk quota exceeded",
}

_TMP = re.compile(r"\.tmp\.(\d+)$")


def dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps`` that raises ``ValueError`` on NaN/inf instead of writing ``NaN``."""
    return json.dumps(obj, allow_nan=False, **kw)


def atomic_write(path: str, data: str | bytes | Callable[[str], None]) -> None:
    """Writes ``data`` to ``path`` atomically (temporary file + fsync + rename).

    Args:
        path: the target file.
        data: its text or bytes, or a function that writes the file at the path it is given
            (e.g. ``frame.to_parquet``).

    Raises:
        OSError: the write failed (the temporary file is removed; ``path`` is unchanged).
    """
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        if callable(data):
            data(tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def tmp_owner(name: str) -> int | None:
    """The pid in a temporary file's name ``<name>.tmp.<pid>``, or None for other names."""
    m = _TMP.search(name)
    return int(m.group(1)) if m else None


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (it may be another process that reuses
    a dead one's pid: callers treat "alive" as "leave its files alone")."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def env_errno(exc: BaseException | None) -> int | None:
    """The `ENV_ERRNOS` errno of ``exc`` or of an exception it was raised from (Orbax and
    pyarrow wrap ``OSError``), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in ENV_ERRNOS:
            return exc.errno
        text = str(exc)
        for code, words in ENV_ERRNOS.items():  # wrapped without the errno (e.g. pyarrow)
            if f"[Errno {code}]" in text or words.lower() in text.lower():
                return code
        exc = exc.__cause__ or exc.__context__
    return None
