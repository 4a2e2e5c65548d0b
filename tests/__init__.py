"""robustloss's tests; the directory layout mirrors the package (``tests/data`` tests
``robustloss/data``, ...). ``ROOT`` is the repository root."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def shared_data(name: str):
    """The path of reference file ``name`` of the project's shared data folder, or a skip.

    The folder is ``$ROBUSTLOSS_SHARED_DATA``, else ``../shared/data`` beside the checkout. Its
    files are never part of the repository (some are CC BY-NC): tests that read them skip with
    the reason when they are absent.
    """
    import os

    import pytest

    folder = pathlib.Path(
        os.environ.get("ROBUSTLOSS_SHARED_DATA") or ROOT.parent / "shared" / "data"
    )
    path = folder / name
    if not path.exists():
        pytest.skip(f"reference file {path} is absent (set ROBUSTLOSS_SHARED_DATA to its folder)")
    return path
