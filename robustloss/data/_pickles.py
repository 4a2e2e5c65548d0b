"""Reading pickled label and image files without running their code: an allow-list unpickler.

A pickle is a program: loading one can call any importable function. The files this package
reads as pickles -- the CIFAR python batches (``cifar-10-batches-py``, ``cifar-100-python``)
and the CIFAR-N ``.pt`` label files -- only need NumPy arrays, so they are read with an
unpickler that resolves exactly these globals and refuses every other one (the message names
it). Never ``torch.load`` (no torch dependency, and it runs the pickle) nor
``np.load(allow_pickle=True)`` on a user's file.

Allowed globals (measured on the CIFAR-N files of UCSC-REAL/cifar-10-100n at 49df7d8:
``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``, ``_codecs.encode``):

* ``numpy.core.multiarray._reconstruct`` (and NumPy 2's spelling ``numpy._core.multiarray``),
  ``numpy.ndarray``, ``numpy.dtype``: how NumPy pickles an array;
* ``_codecs.encode`` restricted to the ``latin1`` codec: how a protocol-2 pickle written by
  Python 3 stores ``bytes`` (the array data).

A torch ``.pt`` file of the zip format is a zip archive whose ``<name>/data.pkl`` holds the
pickle; tensors would be stored in ``<name>/data/<key>`` and referenced by persistent ids, which
are refused here (the CIFAR-N files hold NumPy arrays and lists only).
"""

from __future__ import annotations

import codecs
import importlib
import io
import os
import pickle
import zipfile
from typing import Any

__all__ = ["UnsafePickleError", "load_pickle", "read_torch_zip"]

#: The globals an array pickle needs: ``(module, name)``.
ARRAY_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks for a global (function or class) that is not on the allow-list."""


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for ``bytes``: the latin1 codec only."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise UnsafePickleError(
            f"the pickle calls _codecs.encode with encoding {encoding!r}; only 'latin1' (how "
            "pickle protocol 2 stores bytes) is allowed"
        )
    return codecs.encode(text, "latin1", errors)


def _resolve(module: str, name: str) -> Any:
    if (module, name) == ("_codecs", "encode"):
        return _latin1_encode
    if name == "_reconstruct":  # numpy.core is a deprecated alias of numpy._core in NumPy 2
        for mod in ("numpy._core.multiarray", "numpy.core.multiarray"):
            try:
                return importlib.import_module(mod)._reconstruct
            except (ImportError, AttributeError):
                continue
        raise UnsafePickleError("numpy's multiarray._reconstruct is not importable")
    import numpy as np

    return getattr(np, name)  # ndarray, dtype


class _AllowList(pickle.Unpickler):
    def __init__(self, file, *, where: str, encoding: str):
        super().__init__(file, encoding=encoding)
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ARRAY_GLOBALS:
            raise UnsafePickleError(
                f"{self.where}: the pickle asks for the global {module}.{name}, which is not on "
                f"the allow-list {sorted(f'{m}.{n}' for m, n in ARRAY_GLOBALS)}; refusing to "
                "load it (unpickling can run arbitrary code). The expected files hold only "
                "NumPy arrays, lists and numbers."
            )
        return _resolve(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(
            f"{self.where}: the pickle references a torch storage (persistent id "
            f"{str(pid)[:60]!r}); this reader takes NumPy arrays only (the CIFAR-N files hold "
            "no tensors). Convert once with torch: np.savez(out, **{k: v.numpy() for k, v in "
            "torch.load(f).items()}) and pass the .npz"
        )


def load_pickle(data: bytes | str | os.PathLike, *, where: str, encoding: str = "latin1") -> Any:
    """Unpickles ``data`` (bytes, or a file path) with the array allow-list.

    Args:
        data: the pickle's bytes, or the path of a file holding it.
        where: how errors name the source (e.g. the file).
        encoding: how Python 2 ``str`` objects decode (``latin1`` reads Python 2 NumPy pickles,
            such as the CIFAR python batches, as torchvision does).

    Returns:
        The unpickled object.

    Raises:
        UnsafePickleError: a global outside the allow-list, or a torch tensor reference.
        ValueError: the bytes are not a readable pickle (naming ``where``).

    Example:
        >>> import numpy as np
        >>> load_pickle(pickle.dumps({"y": np.arange(3)}, protocol=2), where="x")["y"].tolist()
        [0, 1, 2]
    """
    if not isinstance(data, bytes):
        with open(os.fspath(data), "rb") as f:
            data = f.read()
    try:
        return _AllowList(io.BytesIO(data), where=where, encoding=encoding).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as e:
        raise ValueError(f"{where} is not a readable pickle: {type(e).__name__}: {e}") from None


def read_torch_zip(path: str | os.PathLike) -> Any:
    """The object pickled in a torch zip-format ``.pt`` file, read with the allow-list.

    The archive holds ``<name>/data.pkl`` (``<name>`` is ``archive`` or the file's stem, e.g.
    ``CIFAR-100_human/data.pkl``) and ``<name>/version``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a zip archive (e.g. a legacy, non-zip torch file), or no/several
            ``data.pkl`` entries.
        UnsafePickleError: see `load_pickle`.
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"label file {p!r} does not exist")
    if not zipfile.is_zipfile(p):
        raise ValueError(
            f"{p!r} is not a torch zip archive (torch >= 1.6 format: a zip holding <name>/"
            "data.pkl); legacy torch files are not read -- convert it with torch to .npz"
        )
    with zipfile.ZipFile(p) as z:
        entries = [n for n in z.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(entries) != 1:
            raise ValueError(
                f"{p!r}: expected exactly one <name>/data.pkl entry in the torch archive, found "
                f"{entries} among {z.namelist()[:10]}"
            )
        data = z.read(entries[0])
    return load_pickle(data, where=f"{p!r} ({entries[0]})")
