"""Per-run fields: what may differ between the R vmapped runs of one compiled program.

A batched config trains R independent runs in one program. Run ``r`` is described by a dict of
dotted-field overrides on top of the config (`run_overrides`), and `run_config` turns it into
the config of the equivalent *separate* run: the packed run ``r`` gets exactly the labels, the
folds, the keys and the hyperparameters that separate run gets, so its numbers equal it to
float rounding. The overrides come from three config forms, merged here in one place:

* ``config.seeds = (s0, s1, ...)`` (CLI ``seeds=0-3``): run ``r`` has ``seed = seeds[r]``;
* ``config.loss.sweep_field`` / ``sweep_values`` (CLI ``sweep=q:0.3/0.7``): run ``r`` has
  ``loss.hparams.<field> = sweep_values[r]``;
* ``config.runs = ({"noise.rate": 0.2, "optimizer.lr": 0.1}, ...)``: any fields of `RUN_FIELDS`.

`RUN_FIELDS` is the one table of what can vary inside one program, and how each field is
realised; ``robustloss.sweep.PACKABLE`` is built from it. Everything else (loss family, model,
dataset, shapes, epochs, batch size, schedule, transition method and estimator, ...) is the
same for every run of a program.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import ml_collections

from robustloss import loss_hparams
from robustloss._fields import get_field, set_field
from robustloss.transition import TRACEABLE

__all__ = [
    "RUN_FIELDS",
    "RunField",
    "check_runs",
    "run_config",
    "run_field",
    "run_overrides",
    "varying_fields",
]


@dataclasses.dataclass(frozen=True)
class RunField:
    """One field that may differ between the runs of a program.

    Attributes:
        field: the dotted config field (``loss.hparams.*``: every numeric hyperparameter of
            the loss).
        realised: how the harness gives each run its value: ``key`` (the run's PRNG key:
            init, shuffling, per-step draws), ``labels`` (the run's own noisy labels ``[R, N]``
            and, for transition methods, its own true T ``[R, K, K]``), ``loss_hparam`` (a
            traced ``[R]`` value in the objective's ``aux``), ``optimizer`` (an
            ``optax.inject_hyperparams`` value in the optimizer state, ``[R]``),
            ``transition_hparam`` (a traced ``[R]`` value in the transition objective's
            ``aux["t_hparams"]``: `robustloss.transition.TRACEABLE`), ``fold`` (the
            run's own training rows ``[R, n]`` into the training file and its own validation
            rows).
        when: when it can vary (empty: always).
    """

    field: str
    realised: str
    when: str = ""


#: The fields that may vary inside one compiled program (see `RunField`).
RUN_FIELDS: tuple[RunField, ...] = (
    RunField("seed", "key"),
    RunField("noise.seed", "labels"),
    RunField("noise.kind", "labels", "not kind='real' (a label file is one fixed draw)"),
    RunField("noise.rate", "labels"),
    RunField("noise.sampling", "labels"),
    RunField("noise.class_map", "labels"),
    RunField("noise.mode", "labels"),
    RunField("noise.noisy_val", "labels"),
    RunField("noise.before_split", "labels"),
    RunField(
        "loss.hparams.*",
        "loss_hparam",
        "float hyperparameters of a loss (stateless or stateful) without a transition method "
        "(transition methods close over the base loss's hyperparameters)",
    ),
    *(
        RunField(f"transition.{name}", "transition_hparam", "with a transition method")
        for name in TRACEABLE
    ),
    RunField("optimizer.lr", "optimizer", "the step/cosine schedule scales each run's base lr"),
    RunField("optimizer.weight_decay", "optimizer"),
    RunField("optimizer.momentum", "optimizer", "SGD momentum (Adam's b1 is not per run)"),
    RunField("dataset.fold", "fold", "with dataset.num_folds > 0; equal steps per epoch"),
)
# The other transition options (ratio and num_draws set shapes; t_lr, quantile, the choices) are
# closed over by `robustloss.transition.make_objective`: they do not vary per run.


def run_field(path: str) -> RunField | None:
    """The `RUN_FIELDS` entry of dotted ``path`` (None when it cannot vary per run)."""
    for f in RUN_FIELDS:
        if f.field == path or (f.field.endswith(".*") and path.startswith(f.field[:-1])):
            return f
    return None


def _num_runs(config: ml_collections.ConfigDict) -> int:
    return max(len(config.seeds), len(config.loss.sweep_values), len(config.runs))


def run_overrides(config: ml_collections.ConfigDict) -> list[dict[str, Any]] | None:
    """The per-run overrides ``[{dotted field: value}, ...]`` of a batched config, else None.

    Merges ``seeds``, ``loss.sweep_field``/``sweep_values`` and ``runs`` (module docstring);
    each non-empty one must have R entries.

    Raises:
        ValueError: lengths differ, or a field is given twice for one run.

    Example:
        >>> from robustloss.training import default_config
        >>> c = default_config(); c.seeds = (3, 4); c.runs = ({"noise.rate": 0.2}, {})
        >>> run_overrides(c)
        [{'seed': 3, 'noise.rate': 0.2}, {'seed': 4}]
    """
    r = _num_runs(config)
    if not r:
        return None
    lengths = {
        "config.seeds": len(config.seeds),
        "config.loss.sweep_values": len(config.loss.sweep_values),
        "config.runs": len(config.runs),
    }
    bad = {k: n for k, n in lengths.items() if n not in (0, r)}
    if bad:
        raise ValueError(
            f"batched runs: {lengths} must each be empty or have the same length R; give one "
            "entry per run"
        )
    out: list[dict[str, Any]] = []
    for i in range(r):
        o: dict[str, Any] = {}
        if config.seeds:
            o["seed"] = int(config.seeds[i])
        if config.loss.sweep_values:
            o[f"loss.hparams.{config.loss.sweep_field}"] = float(config.loss.sweep_values[i])
        if config.runs:
            extra = dict(config.runs[i])
            twice = sorted(set(extra) & set(o))
            if twice:
                raise ValueError(
                    f"config.runs[{i}] sets {twice}, which config.seeds / config.loss.sweep_values "
                    "already set for that run; give each field in one place"
                )
            o.update(extra)
        out.append(o)
    return out


def run_config(config: ml_collections.ConfigDict, r: int) -> ml_collections.ConfigDict:
    """The config of the separate run equal to run ``r`` of a batched ``config``.

    The batch fields (``seeds``, ``runs``, ``loss.sweep_*``) are cleared and run ``r``'s
    overrides set; with an unbatched config (and ``r == 0``) a copy of ``config``.

    Example:
        >>> from robustloss.training import default_config
        >>> c = default_config(); c.seeds = (3, 4); c.runs = ({"noise.rate": 0.2}, {})
        >>> rc = run_config(c, 0)
        >>> rc.seed, rc.noise.rate, rc.seeds, rc.runs
        (3, 0.2, (), ())
    """
    overrides = run_overrides(config)
    out = ml_collections.ConfigDict(copy.deepcopy(config.to_dict()))
    out.seeds, out.runs = (), ()
    out.loss.sweep_field, out.loss.sweep_values = "", ()
    if overrides is None:
        if r != 0:
            raise ValueError(f"run {r} of an unbatched config")
        return out
    for path, value in overrides[r].items():
        set_field(out, path, value, where=f"config.runs[{r}]")
    return out


def varying_fields(config: ml_collections.ConfigDict) -> dict[str, list[Any]]:
    """``dotted field -> [value of run r]`` for the fields whose value differs between runs."""
    overrides = run_overrides(config)
    if not overrides:
        return {}
    configs = [run_config(config, r) for r in range(len(overrides))]
    keys = sorted({k for o in overrides for k in o})
    out = {}
    for k in keys:
        values = [get_field(c, k) for c in configs]
        if any(repr(v) != repr(values[0]) for v in values):
            out[k] = values
    return out


def check_runs(config: ml_collections.ConfigDict) -> None:
    """Checks a batched config's per-run fields against `RUN_FIELDS` (cheap; no data).

    Raises:
        ValueError: naming the run, the field and the fields that may vary per run.
    """
    overrides = run_overrides(config)
    if not overrides:
        return
    valid = [f.field for f in RUN_FIELDS]
    for i, o in enumerate(overrides):
        if not isinstance(o, dict):
            raise ValueError(f"config.runs[{i}]={o!r} must be a dict of dotted fields")
        for path in o:
            if run_field(path) is None:
                raise ValueError(
                    f"config.runs[{i}] sets {path!r}, which cannot vary inside one compiled "
                    f"program; fields that can: {valid} (train other values as separate runs)"
                )
    vary = varying_fields(config)
    hparams = [k for k in vary if k.startswith("loss.hparams.")]
    if hparams:
        base = loss_hparams(config.loss.name)  # registry defaults: their types are the API's
        for k in hparams:
            name = k.split(".", 2)[2]
            if not isinstance(base.get(name), float):
                numeric = sorted(n for n, v in base.items() if isinstance(v, float))
                raise ValueError(
                    f"batched runs vary {k!r}, which is not a float hyperparameter of loss "
                    f"{config.loss.name!r}; valid: {numeric}"
                )
        if config.transition.use != "none":
            raise ValueError(
                f"batched runs vary loss hyperparameters {hparams}, which are traced only for a "
                f"loss without a transition method (loss {config.loss.name!r}, "
                f"transition.use={config.transition.use!r}); train them as separate runs"
            )
    t_fields = [k for k in vary if k.startswith("transition.")]
    if t_fields and config.transition.use == "none":
        raise ValueError(
            f"batched runs vary {t_fields} but config.transition.use='none' (no method reads "
            "them); choose a transition method or drop those fields"
        )
    if "noise.kind" in vary and "real" in vary["noise.kind"]:
        raise ValueError("batched runs cannot vary noise.kind to or from 'real' (a label file)")
    if "dataset.fold" in vary and config.dataset.num_folds < 2:
        raise ValueError(
            f"batched runs vary dataset.fold but config.dataset.num_folds="
            f"{config.dataset.num_folds}; set num_folds >= 2"
        )
