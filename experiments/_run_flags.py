"""Flags shared by the one-run diagnostic scripts (``aldr_lambda``, ``transition_heatmap``)."""

from __future__ import annotations


def define_run_flags(what: str) -> None:
    """``--config``, ``--workdir``, ``--out`` of a one-run diagnostic script (defined only when
    it runs as a script, so its module imports cleanly)."""
    from absl import flags
    from ml_collections import config_flags

    config_flags.DEFINE_config_file("config", None, f"{what} config file[:args].")
    flags.DEFINE_string("workdir", None, "The run's workdir (trained or resumed).")
    flags.DEFINE_string("out", None, "PNG path of the plot.")
    flags.mark_flags_as_required(["config", "workdir", "out"])
