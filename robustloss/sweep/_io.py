"""What a sweep adds to the project's file writes: strict JSON, leftover owners, and which
errors are the environment's.

Every file a sweep writes goes through `robustloss._io.atomic_write` (the project's one atomic
write: a hidden temporary file beside the target, flushed and fsynced, then renamed over it), so
a reader or a killed writer sees the old file or the new one, never a mix. The temporary file's
name holds the writing process's pid (`robustloss._io.tmp_owner`), so a later driver removes only
those whose process is gone (`pid_alive`). JSON is strict (`dumps` refuses NaN/inf:
``Infinity`` is not JSON). `env_errno` tells an environment failure (disk full, read-only or
failing storage, quota: `ENV_ERRNOS`) from a failure of the cell's own training, so the driver
leaves the cells of the former pending.
"""

from __future__ import annotations

import errno
import json
import os
from typing import Any

__all__ = ["ENV_ERRNOS", "dumps", "env_errno", "pid_alive"]

#: errno values that mean "the environment failed" (disk full, read-only or failing storage,
#: quota), not "this cell's training failed": the program stops, its cells stay pending.
ENV_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error",
    errno.EDQUOT: "disk quota exceeded",
}


def dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps`` that raises ``ValueError`` on NaN/inf instead of writing ``NaN``."""
    return json.dumps(obj, allow_nan=False, **kw)


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
