"""The LDR reproduction report from finished sweeps (`robustloss.report.ldr`).

Usage, after the two sweeps of ``docs/reproducing.md`` (``configs/paper/ldr_icml2023.py`` with
``letter,lam_grid=0.1/1/10`` and ``vowel,lam_grid=0.1/1/10``)::

    python -m experiments.ldr_report --sweep letter=/tmp/ldr_letter --sweep vowel=/tmp/ldr_vowel \
        --out results/ldr_icml2023.md [--command_wall letter=1500] [--notes NOTES.md]
"""

from __future__ import annotations

from absl import app, flags

from robustloss.report.ldr import report


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"--{what}={item!r} is not valid; write NAME=VALUE")
        out[name] = value
    return out


def _define_flags() -> None:
    """The command line (defined only when run as a script, so the module imports cleanly)."""
    flags.DEFINE_multi_string("sweep", None, "NAME=DIR of a finished LDR sweep.")
    flags.DEFINE_string("out", "results/ldr_icml2023.md", "The report (markdown).")
    flags.DEFINE_multi_string(
        "command_wall", [], "NAME=SECONDS: the sweep command's wall time, measured outside."
    )
    flags.DEFINE_string(
        "notes", None, "A hand-written markdown file (the claims read off the tables), included."
    )
    flags.mark_flag_as_required("sweep")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    sweeps = _pairs(f.sweep, "sweep")
    for path in report(sweeps, f.out, _pairs(f.command_wall, "command_wall"), f.notes):
        print(f"wrote {path}")


if __name__ == "__main__":
    _define_flags()
    app.run(main)
