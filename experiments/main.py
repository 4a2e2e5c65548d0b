"""Train one configuration (or a vmapped batch of runs) and write its workdir.

Usage::

    python -m experiments.main --config configs/test.py --workdir /tmp/rl_test
    python -m experiments.main --config configs/fashion_mnist.py:loss=gce,rate=0.4 \
        --workdir /tmp/fm_gce --config.num_epochs=5
    python -m experiments.main --config configs/test.py:seeds=0-3 --workdir /tmp/rl_seeds

The workdir gets ``config.json``, ``metrics.jsonl``, ``summary.json`` and ``checkpoints/``
(see ``docs/training.md``). Running the same command again resumes from the last checkpoint.
"""

from __future__ import annotations

import json
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file[:key=value,...].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (created; resumed if present).")
flags.mark_flags_as_required(["config", "workdir"])


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, after refusing ``--config.seeds`` and the other removed fields with
    what replaces them (``config.runs``; the ``seeds=``/``sweep=`` argument)."""
    from robustloss.training.config import check_removed_field

    for arg in argv[1:]:
        if arg.startswith("--config."):
            try:
                check_removed_field(arg.removeprefix("--config.").split("=", 1)[0])
            except ValueError as e:
                sys.stderr.write(f"FATAL Flags parsing error: {arg}: {e}\n")
                sys.exit(1)
    return app.parse_flags_with_usage(argv)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # Orbax logs every checkpoint step at INFO
    from robustloss.training import train

    summary = train(_CONFIG.value, _WORKDIR.value)
    final = summary.get("final", {})
    keys = [k for k in ("test/top1", "test/balanced_acc", "train/acc_clean") if k in final]
    print(json.dumps({"workdir": _WORKDIR.value, **{k: final[k] for k in keys}}))


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
