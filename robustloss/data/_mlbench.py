"""UCI Letter and Vowel offline, from the R data files of Debian's ``r-cran-mlbench`` package.

``make data`` fetches the package without installing R (``apt-get download r-cran-mlbench``,
then ``dpkg-deb -x``) and copies ``LetterRecognition.rda`` and ``Vowel.rda`` into
``$ROBUSTLOSS_CACHE/mlbench`` (default ``~/.cache/robustloss/mlbench``). The files are read with
the ``rdata`` package (pure Python); no R is needed.

What the files hold (checked on mlbench 2.1-3):

* ``LetterRecognition``: the UCI letter-recognition data, 20,000 rows in the UCI file's order,
  the letter (factor ``A``..``Z`` -> 0..25) then the 16 integer features.
* ``Vowel``: 990 rows, 66 per speaker (``V1``, factor ``0``..``14``), 9 numeric features
  ``V2``..``V10`` and ``Class`` (11 vowels, factor order ``hid hId hEd hAd hYd had hOd hod hUd
  hud hed`` -> 0..10, the UCI class ids). UCI's ``vowel-context.data`` and LIBSVM's ``vowel``
  have **10** features; mlbench keeps 9: its ``V2``..``V10`` are UCI's features 1 and 3..10 --
  **feature 2 is missing** (UCI's first row is ``-3.639 0.418 -0.670 1.779 ...``, mlbench's
  ``-3.639 -0.670 1.779 ...``; rows 1-3 checked against public copies of the UCI/ElemStatLearn
  ``vowel.train`` file). So a Vowel model built from these files has ``d = 9`` inputs (the LDR
  FFNN width min(d, K) = 9 instead of 10), and the missing feature cannot be recovered offline:
  pass ``path=<vowel-context.data>`` for all 10. The UCI split is by speaker: speakers 0-7 train
  (528 rows), 8-14 test (462), in file order -- the sizes of LIBSVM's ``vowel``/``vowel.t``.
"""

from __future__ import annotations

import os
import warnings
from importlib import resources

import numpy as np

MLBENCH_FILES = {"letter": "LetterRecognition.rda", "vowel": "Vowel.rda"}
VOWEL_CLASSES = ("hid", "hId", "hEd", "hAd", "hYd", "had", "hOd", "hod", "hUd", "hud", "hed")
VOWEL_TRAIN_SPEAKERS = 8  # speakers 0..7 train, 8..14 test (UCI / LIBSVM split)
_R_LIBRARY = "/usr/lib/R/site-library/mlbench/data"  # where an installed r-cran-mlbench puts them
LETTER_SPLITS = ("last", "ldr")
LETTER_ROWS = 20000


def mlbench_dirs() -> list[str]:
    """Folders searched for the mlbench ``.rda`` files, in order.

    ``$ROBUSTLOSS_MLBENCH`` (if set), ``$ROBUSTLOSS_CACHE/mlbench`` (default
    ``~/.cache/robustloss/mlbench``, where ``make data`` puts them), then the R library folder
    of an installed ``r-cran-mlbench``.
    """
    cache = os.environ.get("ROBUSTLOSS_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "robustloss"
    )
    dirs = [os.path.join(cache, "mlbench"), _R_LIBRARY]
    if os.environ.get("ROBUSTLOSS_MLBENCH"):
        dirs.insert(0, os.environ["ROBUSTLOSS_MLBENCH"])
    return dirs


def find_mlbench_file(name: str, directory: str | os.PathLike | None = None) -> str:
    """The path of dataset ``name``'s ``.rda`` file (``directory``, else `mlbench_dirs`).

    Raises:
      ValueError: ``name`` is not ``"letter"`` or ``"vowel"``.
      FileNotFoundError: the file is in none of the folders; the message says how to fetch it.
    """
    if name not in MLBENCH_FILES:
        raise ValueError(
            f"no mlbench file for dataset {name!r}; choose one of {list(MLBENCH_FILES)}"
        )
    fname = MLBENCH_FILES[name]
    dirs = [os.fspath(directory)] if directory is not None else mlbench_dirs()
    for d in dirs:
        p = os.path.join(d, fname)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(
        f"dataset {name!r}: {fname} not found in {dirs}. Run `make data` (it runs `apt-get "
        "download r-cran-mlbench` and `dpkg-deb -x`, no R needed, and copies the file to "
        f"{dirs[-2] if directory is None else dirs[0]}), or pass path=<UCI file>"
    )


def read_rda_frame(path: str):
    """The single data frame stored in an R ``.rda`` file, as pandas (via ``rdata``)."""
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Unknown encoding. Assumed ASCII."
        objects = rdata.read_rda(path)
    if len(objects) != 1:
        raise ValueError(f"{path!r}: expected one data frame, found objects {sorted(objects)}")
    return next(iter(objects.values()))


def _codes(frame, column: str, expected: tuple[str, ...], path: str) -> np.ndarray:
    col = frame[column]
    cats = tuple(str(c) for c in col.cat.categories)
    if cats != expected:
        raise ValueError(f"{path!r}: column {column!r} has levels {cats}, expected {expected}")
    codes = np.asarray(col.cat.codes, dtype=np.int32)
    if (codes < 0).any():
        raise ValueError(f"{path!r}: column {column!r} has {int((codes < 0).sum())} missing values")
    return codes


def _features(frame, columns: list[str], path: str) -> np.ndarray:
    x = frame[columns].to_numpy(dtype=np.float32)
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise ValueError(f"{path!r}: {bad} missing or non-finite feature values")
    return x


def letter_rda(directory: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """UCI Letter from mlbench: ``(x [20000, 16] float32, y [20000] int32 (A=0), path)``.

    Rows are in the UCI file's order (the LDR code's files and `letter_csv` agree with it).
    """
    path = find_mlbench_file("letter", directory)
    frame = read_rda_frame(path)
    letters = tuple(chr(ord("A") + i) for i in range(26))
    y = _codes(frame, "lettr", letters, path)
    x = _features(frame, [c for c in frame.columns if c != "lettr"], path)
    if x.shape != (20000, 16):
        raise ValueError(f"{path!r}: expected 20000 rows x 16 features, got {x.shape}")
    return x, y, path


def vowel_rda(
    directory: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """UCI Vowel from mlbench: ``(x [990, 9], y [990] int32, speaker [990] int32, path)``.

    ``y`` uses the UCI class ids (`VOWEL_CLASSES`); speakers 0-7 are the UCI training speakers.
    """
    path = find_mlbench_file("vowel", directory)
    frame = read_rda_frame(path)
    y = _codes(frame, "Class", VOWEL_CLASSES, path)
    speaker = _codes(frame, "V1", tuple(str(i) for i in range(15)), path)
    x = _features(frame, [f"V{i}" for i in range(2, 11)], path)
    if x.shape != (990, 9):
        raise ValueError(f"{path!r}: expected 990 rows x 9 features, got {x.shape}")
    return x, y, speaker, path


def ldr_letter_test_rows() -> np.ndarray:
    """The LDR authors' Letter test rows: ``[2000]`` int64 0-based UCI row numbers.

    Row ``i`` of the authors' ``letter_test.npz`` (Optimization-AI/ICML2023_LDR at 732fc85) is
    UCI row ``rows[i]``; the rows are spread over the whole file (178 of them, 8.9%, are among
    the last 2,000). Shipped with the package (``ldr_letter_test_rows.txt``, derived by
    ``tools/ldr_letter_split.py``; its header gives the provenance), so no file is read but
    that one.
    """
    text = resources.files(__package__).joinpath("ldr_letter_test_rows.txt").read_text()
    rows = np.loadtxt(text.splitlines(), dtype=np.int64, comments="#")
    if (
        rows.shape != (2000,)
        or len(np.unique(rows)) != 2000
        or not 0 <= rows.min() <= rows.max() < LETTER_ROWS
    ):
        raise ValueError("ldr_letter_test_rows.txt is damaged: expected 2,000 distinct UCI rows")
    return rows


def letter_split(n: int, split: str, test_rows: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Train and test row numbers of UCI Letter's ``n`` rows under ``split``.

    Args:
      n: rows in the file (20,000 for the UCI file).
      split: ``"last"`` (the first ``n - test_rows`` rows train, the last ``test_rows`` test)
        or ``"ldr"`` (test = `ldr_letter_test_rows` in the authors' order, train = the other
        18,000 rows in UCI order; needs the whole UCI file, and ``test_rows`` is unused).
      test_rows: the ``"last"`` split's test size, in ``(0, n)``.

    Returns:
      ``(train rows, test rows, description)``.
    """
    if split not in LETTER_SPLITS:
        raise ValueError(
            f"letter split={split!r} is not valid; choose one of {list(LETTER_SPLITS)}"
        )
    if split == "ldr":
        if n != LETTER_ROWS:
            raise ValueError(
                f"letter split='ldr' names rows of the whole UCI file ({LETTER_ROWS} rows); "
                f"this file has {n}"
            )
        test = ldr_letter_test_rows()
        train = np.setdiff1d(np.arange(n), test)
        return (
            train,
            test,
            (
                "LDR authors' test rows (letter_test.npz, 2,000), the other 18,000 rows train in "
                "UCI order (a reconstruction: the authors' train file is lost)"
            ),
        )
    if not 0 < test_rows < n:
        raise ValueError(f"test_rows must be in (0, {n}), got {test_rows}")
    cut = n - test_rows
    return np.arange(cut), np.arange(cut, n), f"first {cut} rows train, last {test_rows} test"
