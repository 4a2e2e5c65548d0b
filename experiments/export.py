"""Export a run's or a whole sweep's metrics to an experiment tracker (W&B).

Usage::

    python -m experiments.export --workdir DIR --to wandb [--project P] [--entity E]
    WANDB_MODE=offline python -m experiments.export --workdir DIR --to wandb  # no server

One W&B run per training run (a sweep's cell, or each vmapped run of a workdir) with its config,
per-epoch history and summary; exporting again adds nothing (``DIR/wandb_export.json``), except
the new epochs of a run that was resumed since (`robustloss.report.export`).
"""

from __future__ import annotations

import json

from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", None, "A run's workdir or a sweep directory.")
_TO = flags.DEFINE_enum("to", "wandb", ["wandb"], "Where to export.")
_PROJECT = flags.DEFINE_string("project", "robustloss", "W&B project.")
_ENTITY = flags.DEFINE_string("entity", None, "W&B entity (default: the account's).")
_WANDB_DIR = flags.DEFINE_string("wandb_dir", None, "W&B's local directory (default ./wandb).")
flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from robustloss.report.export import export_wandb

    counts = export_wandb(
        _WORKDIR.value, project=_PROJECT.value, entity=_ENTITY.value, wandb_dir=_WANDB_DIR.value
    )
    print(json.dumps({"to": _TO.value, "project": _PROJECT.value, **counts}))


if __name__ == "__main__":
    app.run(main)
