"""The run plan: what differs between the R vmapped runs of one compiled program, resolved once.

A config trains R independent runs in one program when ``config.runs`` holds R dicts of
dotted-field overrides on top of the config::

    config.runs = ({"seed": 0}, {"seed": 1, "noise.rate": 0.4, "loss.hparams.q": 0.9})

That is the only encoding of R runs in one program: the config files' short forms
``seeds=0-3`` and ``sweep=q:0.3/0.7`` expand into it when the config is built (`add_runs`), and
the sweep planner (``robustloss.sweep.plan``) writes it.

`plan_runs` resolves a config into one frozen `RunPlan` -- the base config, each run's
overrides (type-checked against the config), each run's own config and the fields whose value
differs between runs, with the way the harness realises each -- and ``train()`` passes that
plan to data loading, trainer building, initial state and evaluation. Run ``r`` of the plan is
exactly the *separate* run ``plan.run_config(r)``: the packed run gets the labels, the folds,
the keys and the hyperparameters that separate run gets, so its numbers equal it to float
rounding.

`RUN_FIELDS` is the one table of what can vary inside one program, and how each field is
realised; ``robustloss.sweep.PACKABLE`` is built from it. Everything else (loss family, model,
dataset, shapes, epochs, batch size, schedule, transition method and estimator, ...) is the
same for every run of a program.
"""

from __future__ import annotations

import dataclasses
import numbers
import types
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

from robustloss import loss_hparams
from robustloss._fields import get_field, with_field
from robustloss.transition import TRACEABLE

__all__ = [
    "RUN_FIELDS",
    "RunField",
    "RunPlan",
    "add_runs",
    "as_plan",
    "noise_seed",
    "plan_runs",
    "run_field",
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


def noise_seed(config: ml_collections.ConfigDict, run_seed: int | None = None) -> int:
    """The noise seed of a run: ``config.noise.seed``, or the run's seed when it is ``-1``.

    One rule for every config: run ``r`` of ``config.runs`` (with its own ``seed``) and a
    separate run with that ``seed`` draw the same labels (`RunPlan.noise_seeds`).

    Example:
        >>> from robustloss.training import default_config
        >>> c = default_config(); c.seed = 3
        >>> noise_seed(c), noise_seed(c, run_seed=5)
        (3, 5)
        >>> c.noise.seed = 7
        >>> noise_seed(c, run_seed=5)
        7
    """
    if config.noise.seed >= 0:
        return int(config.noise.seed)
    return int(config.seed if run_seed is None else run_seed)


@dataclasses.dataclass(frozen=True, eq=False)
class RunPlan:
    """A config resolved into its runs: what ``train()`` passes on (built by `plan_runs`).

    Immutable: the configs are ``ml_collections.FrozenConfigDict`` and the mappings read-only,
    so every consumer sees the same values.

    Attributes:
        config: the base config: the config with ``runs`` empty (every field the runs share,
            and the config's own values of the per-run fields).
        overrides: run ``r``'s ``{dotted field: value}``, values converted to the field's type
            (an int for a float field becomes a float); ``()`` for one run.
        run_configs: run ``r``'s own config (the separate run it equals); ``(config,)`` for one
            run.
        varying: ``dotted field -> (value of run 0, value of run 1, ...)`` for the fields whose
            value differs between runs.
        axes: ``dotted field -> realisation`` (`RunField.realised`: ``key``, ``labels``, ...) of
            each field of ``varying``.
        noise_seeds: run ``r``'s noise seed (`noise_seed` of its config).
        num_runs: R for vmapped runs (``config.runs`` with R >= 1 entries), None for one run.
    """

    config: ml_collections.FrozenConfigDict
    overrides: tuple[Mapping[str, Any], ...]
    run_configs: tuple[ml_collections.FrozenConfigDict, ...]
    varying: Mapping[str, tuple]
    axes: Mapping[str, str]
    noise_seeds: tuple[int, ...]
    num_runs: int | None

    def fields_on(self, realised: str) -> tuple[str, ...]:
        """The varying fields the harness realises as ``realised`` (e.g. ``loss_hparam``)."""
        return tuple(f for f, a in self.axes.items() if a == realised)

    def run_config(self, r: int) -> ml_collections.ConfigDict:
        """A fresh (mutable) copy of run ``r``'s config: train it alone to get run ``r``.

        Example:
            >>> from robustloss.training import default_config
            >>> c = default_config(); c.runs = ({"seed": 3, "noise.rate": 0.2}, {"seed": 4})
            >>> rc = plan_runs(c).run_config(0)
            >>> rc.seed, rc.noise.rate, rc.runs
            (3, 0.2, ())
        """
        if not 0 <= r < len(self.run_configs):
            raise ValueError(f"run {r} of a plan of {len(self.run_configs)} run(s)")
        return ml_collections.ConfigDict(self.run_configs[r].to_dict())


def as_plan(config: RunPlan | ml_collections.ConfigDict) -> RunPlan:
    """``config`` itself when it is a `RunPlan`, else `plan_runs` of it (not validated)."""
    return config if isinstance(config, RunPlan) else plan_runs(config)


def _coerce(old: Any, value: Any, where: str, path: str) -> Any:
    """``value`` in the type of the config's ``old`` value (an int for a float field becomes a
    float; numpy scalars become Python numbers).

    Raises:
        ValueError: a value of another type (a float seed, a string rate, a bool fold).
    """
    if isinstance(old, bool) or isinstance(value, bool):
        ok = isinstance(old, bool) and isinstance(value, bool)
    elif isinstance(old, float):
        ok = isinstance(value, numbers.Real)
        value = float(value) if ok else value
    elif isinstance(old, int):
        ok = isinstance(value, numbers.Integral)
        value = int(value) if ok else value
    else:
        ok = isinstance(value, type(old))
    if not ok:
        raise ValueError(
            f"{where} sets {path!r} to {value!r} of type {type(value).__name__}, but "
            f"config.{path} has type {type(old).__name__} ({old!r}); give a value of that type"
        )
    return value


def plan_runs(config: ml_collections.ConfigDict) -> RunPlan:
    """Resolves ``config`` into its `RunPlan`: ``config.runs`` checked against `RUN_FIELDS`.

    Each run's config is made once (a ``FrozenConfigDict``). This checks what can differ
    between runs; the fields of each run's config are checked by
    `robustloss.training.validate_config`, which returns this plan.

    Raises:
        ValueError: naming the run and the field: a field that cannot vary per run (with the
            fields that can), an unknown field, a value of the wrong type, two identical runs,
            or per-run values the harness cannot realise for this config (a loss
            hyperparameter that is not a float, or with a transition method; transition
            options without one; ``noise.kind`` to or from ``real``; folds without
            ``dataset.num_folds``).

    Example:
        >>> from robustloss.training import default_config
        >>> c = default_config(); c.runs = ({"seed": 3, "noise.rate": 0.2}, {"seed": 4})
        >>> plan = plan_runs(c)
        >>> plan.num_runs, dict(plan.varying), dict(plan.axes)
        (2, {'noise.rate': (0.2, 0.0), 'seed': (3, 4)}, {'noise.rate': 'labels', 'seed': 'key'})
    """
    runs = config.get("runs", ())
    if not isinstance(runs, tuple | list) or not all(isinstance(o, Mapping) for o in runs):
        raise ValueError(
            f"config.runs={runs!r} must be a tuple of dicts {{dotted field: value}}, one per run"
        )
    base_dict = config.to_dict()
    base_dict["runs"] = ()
    base = ml_collections.FrozenConfigDict(base_dict)
    if not runs:
        empty = types.MappingProxyType({})
        return RunPlan(base, (), (base,), empty, empty, (noise_seed(base),), None)
    valid = [f.field for f in RUN_FIELDS]
    overrides, run_configs = [], []
    for r, o in enumerate(runs):
        where = f"config.runs[{r}]"
        cfg, resolved = base_dict, {}
        for path, value in o.items():
            if run_field(path) is None:
                raise ValueError(
                    f"{where} sets {path!r}, which cannot vary inside one compiled program; "
                    f"fields that can: {valid} (train other values as separate runs)"
                )
            value = _coerce(get_field(cfg, path, where=where), value, where, path)
            cfg = with_field(cfg, path, value)  # copies only the groups on the way
            resolved[path] = value
        overrides.append(types.MappingProxyType(resolved))
        run_configs.append(ml_collections.FrozenConfigDict(cfg))
    keys = sorted({k for o in overrides for k in o})
    shared = {k: get_field(base_dict, k) for k in keys}
    table = [tuple(o.get(k, shared[k]) for k in keys) for o in overrides]  # [run][key]
    varying, axes, seen = {}, {}, {}
    for i, k in enumerate(keys):
        values = tuple(row[i] for row in table)
        if any(repr(v) != repr(values[0]) for v in values):
            varying[k], axes[k] = values, run_field(k).realised
    for r, row in enumerate(table):
        run = tuple(repr(v) for v in row)
        if run in seen:
            raise ValueError(
                f"config.runs[{r}] is the same run as config.runs[{seen[run]}] "
                f"({dict(overrides[r])}): the runs of one program must differ (a seed, a value)"
            )
        seen[run] = r
    plan = RunPlan(
        base,
        tuple(overrides),
        tuple(run_configs),
        types.MappingProxyType(varying),
        types.MappingProxyType(axes),
        tuple(noise_seed(rc) for rc in run_configs),
        len(run_configs),
    )
    _check_realisable(plan)
    return plan


def _check_realisable(plan: RunPlan) -> None:
    """What varies must be what the harness can realise for this config (see `plan_runs`)."""
    config, vary = plan.config, plan.varying
    hparams = plan.fields_on("loss_hparam")
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
                f"batched runs vary loss hyperparameters {list(hparams)}, which are traced only "
                f"for a loss without a transition method (loss {config.loss.name!r}, "
                f"transition.use={config.transition.use!r}); train them as separate runs"
            )
    t_fields = plan.fields_on("transition_hparam")
    if t_fields and config.transition.use == "none":
        raise ValueError(
            f"batched runs vary {list(t_fields)} but config.transition.use='none' (no method "
            "reads them); choose a transition method or drop those fields"
        )
    if "noise.kind" in vary and "real" in vary["noise.kind"]:
        raise ValueError("batched runs cannot vary noise.kind to or from 'real' (a label file)")
    if "dataset.fold" in vary and config.dataset.num_folds < 2:
        raise ValueError(
            f"batched runs vary dataset.fold but config.dataset.num_folds="
            f"{config.dataset.num_folds}; set num_folds >= 2"
        )


def add_runs(config: ml_collections.ConfigDict, path: str, values: Sequence[Any]) -> None:
    """Gives run ``r`` of ``config.runs`` the value ``values[r]`` of dotted ``path`` (in place).

    How the short forms expand into ``config.runs`` when a config is built: ``seeds=0-2`` is
    ``add_runs(config, "seed", (0, 1, 2))``, ``sweep=q:0.3/0.7`` is ``add_runs(config,
    "loss.hparams.q", (0.3, 0.7))``; given both, run ``r`` has ``seeds[r]`` and
    ``values[r]``. Without runs yet, one run per value.

    Raises:
        ValueError: ``config.runs`` has another number of runs, or already sets ``path``.

    Example:
        >>> from robustloss.training import default_config
        >>> c = default_config()
        >>> add_runs(c, "seed", (0, 1)); add_runs(c, "loss.hparams.q", (0.3, 0.7))
        >>> c.runs
        ({'seed': 0, 'loss.hparams.q': 0.3}, {'seed': 1, 'loss.hparams.q': 0.7})
    """
    runs = [dict(o) for o in config.runs] or [{} for _ in values]
    if len(runs) != len(values):
        raise ValueError(
            f"{len(values)} values of {path!r} for config.runs of {len(runs)} runs; give one "
            "value per run"
        )
    for r, (o, v) in enumerate(zip(runs, values, strict=True)):
        if path in o:
            raise ValueError(f"config.runs[{r}] already sets {path!r}; give it in one place")
        o[path] = v
    config.runs = tuple(runs)
