"""robustloss's tests; the directory layout mirrors the package (``tests/data`` tests
``robustloss/data``, ...). ``ROOT`` is the repository root."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
