"""Packing cells into programs: which runs the harness can vmap into one compiled program.

Cells whose resolved configs are equal except for *packable* fields run as one program of R
vmapped runs. What is packable is the harness's one table,
`robustloss.training.runs.RUN_FIELDS`; `PACKABLE` groups it into one `PackAxis` per way the
harness realises a field:

* ``seed`` -- the run seed (its PRNG key);
* ``labels`` -- noise seed, kind, rate, sampling, class map, mode, ``noisy_val``,
  ``before_split``: each run's own labels ``[R, N]`` and true T (not for ``kind="real"``);
* ``loss_hparam`` -- float hyperparameters of a loss (stateless, or stateful: ALDR-KL, TGCE)
  without a transition method, several at once;
* ``transition_hparam`` -- ``transition.alpha`` (DWS), ``volmin_lambda``, ``tv_weight``,
  ``cycle_weight`` with a transition method (traced);
* ``optimizer`` -- ``optimizer.lr`` / ``weight_decay`` / ``momentum`` (inject_hyperparams);
* ``fold`` -- ``dataset.fold`` with ``dataset.num_folds >= 2`` (a program whose folds take
  different steps per epoch fails and is re-run cell by cell by the runner).

A program's config is its first cell's config with ``config.runs`` (one dict of per-run dotted
overrides per cell: the fields that differ between its cells), the one encoding of R runs in one
program (`robustloss.training.runs`). Everything else (loss family, model, dataset, epochs,
batch size, schedule, transition method and its other options) is part of the *program key*.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable, Sequence

from robustloss._fields import get_field as get_path
from robustloss._fields import pop_field as _del_path
from robustloss.sweep.cells import NOT_IN_ID, Cell, config_hash

__all__ = ["PACKABLE", "PackAxis", "Program", "plan_programs", "program_key"]


@dataclasses.dataclass(frozen=True)
class PackAxis:
    """One axis the harness can vmap over: the `RUN_FIELDS` entries of one ``realised`` kind.

    Attributes:
        name: the realisation (``key``, ``labels``, ``loss_hparam``, ``optimizer``, ``fold``;
            shown by ``--dry_run``).
        description: one line.
        fields: ``cfg -> dotted fields`` this axis covers for a config (``cfg`` a plain dict).
        applies: ``cfg -> bool``: whether the harness can vmap this axis for that config. It
            depends only on non-packable fields, so all cells of a group agree.
    """

    name: str
    description: str
    fields: Callable[[dict], tuple[str, ...]]
    applies: Callable[[dict], bool]


def _fields_of(realised: str) -> Callable[[dict], tuple[str, ...]]:
    from robustloss.training.runs import RUN_FIELDS

    def fields(cfg: dict) -> tuple[str, ...]:
        out = []
        for f in RUN_FIELDS:
            if f.realised != realised:
                continue
            if f.field == "loss.hparams.*":
                out += _float_hparams(cfg)
            else:
                out.append(f.field)
        return tuple(out)

    return fields


def _float_hparams(cfg: dict) -> tuple[str, ...]:
    from robustloss import loss_hparams

    defaults = loss_hparams(cfg["loss"]["name"])
    return tuple(
        f"loss.hparams.{k}"
        for k, v in sorted(defaults.items())
        if isinstance(v, float) and k in cfg["loss"]["hparams"]
    )


def _hparam_applies(cfg: dict) -> bool:
    return cfg["transition"]["use"] == "none"


def _description(realised: str) -> str:
    from robustloss.training.runs import RUN_FIELDS

    fields = [f.field + (f" [{f.when}]" if f.when else "") for f in RUN_FIELDS]
    return ", ".join(f for f, r in zip(fields, RUN_FIELDS, strict=True) if r.realised == realised)


#: The packable axes, one per realisation in `robustloss.training.RUN_FIELDS` (the one table of
#: what can vary inside one compiled program). Order matters only for display.
PACKABLE: tuple[PackAxis, ...] = (
    PackAxis("seed", "run seed -> each run's PRNG key", _fields_of("key"), lambda cfg: True),
    PackAxis(
        "labels",
        "per-run noisy labels [R, N] and true T: " + _description("labels"),
        _fields_of("labels"),
        lambda cfg: cfg["noise"]["kind"] != "real",
    ),
    PackAxis(
        "loss_hparam",
        "traced loss hyperparameters (float; stateless or stateful loss, no transition method)",
        _fields_of("loss_hparam"),
        _hparam_applies,
    ),
    PackAxis(
        "transition_hparam",
        "traced transition options: " + _description("transition_hparam"),
        _fields_of("transition_hparam"),
        lambda cfg: cfg["transition"]["use"] != "none",
    ),
    PackAxis(
        "optimizer",
        "optax.inject_hyperparams values: " + _description("optimizer"),
        _fields_of("optimizer"),
        lambda cfg: True,
    ),
    PackAxis(
        "fold",
        "per-run training/validation rows: " + _description("fold"),
        _fields_of("fold"),
        lambda cfg: cfg["dataset"]["num_folds"] >= 2,
    ),
)


def _to_program(prog: dict, cells: list[Cell], varying: dict[str, tuple[str, ...]]) -> None:
    """Sets the program's ``runs`` so that run ``r`` is ``cells[r]``: one dict per cell of the
    fields that differ between the cells (axes in `PACKABLE` order)."""
    fields = [f for axis in varying.values() for f in axis]
    if fields:
        prog["runs"] = tuple({f: get_path(c.config, f) for f in fields} for c in cells)


def _active(cfg: dict) -> list[tuple[PackAxis, tuple[str, ...]]]:
    return [(a, a.fields(cfg)) for a in PACKABLE if a.applies(cfg)]


def program_key(cfg: dict) -> str:
    """The config without `NOT_IN_ID` and packable fields (canonical JSON): equal keys pack."""
    active = _active(cfg)
    rest = copy.deepcopy(cfg)
    for field in NOT_IN_ID:
        rest.pop(field, None)
    for _, fields in active:
        for f in fields:
            _del_path(rest, f)
    body = {"config": rest, "axes": [a.name for a, _ in active]}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


@dataclasses.dataclass(frozen=True)
class Program:
    """One compiled program: R cells as vmapped runs (R = 1: the cell's own config).

    Attributes:
        id: hash of the program config and its ordered cell ids (the pack directory's name).
        config: the program's config as a plain dict (``ConfigDict(config)`` trains it).
        cells: the cells; run ``r`` is ``cells[r]``.
        varying: ``axis name -> fields`` that differ between the cells.
    """

    id: str
    config: dict
    cells: tuple[Cell, ...]
    varying: dict

    @property
    def num_runs(self) -> int:
        return len(self.cells)

    @property
    def run_epochs(self) -> int:
        return self.num_runs * int(self.config["num_epochs"])


def _varying(cells: Sequence[Cell], fields: tuple[str, ...]) -> list[str]:
    return [f for f in fields if len({repr(get_path(c.config, f)) for c in cells}) > 1]


def _split_over_cap(cells: list[Cell], cap: int) -> list[list[Cell]]:
    n = math.ceil(len(cells) / cap)
    size, extra = divmod(len(cells), n)
    out, i = [], 0
    for k in range(n):
        j = i + size + (1 if k < extra else 0)
        out.append(cells[i:j])
        i = j
    return out


def _build(cells: list[Cell], active) -> Program:
    prog = copy.deepcopy(cells[0].config)
    prog["progress"] = "none"
    varying: dict[str, tuple[str, ...]] = {}
    if len(cells) > 1:
        for axis, fields in active:
            v = tuple(_varying(cells, fields))
            if v:
                varying[axis.name] = v
        _to_program(prog, cells, varying)
    body = json.dumps(prog, sort_keys=True, default=str) + "|" + ",".join(c.id for c in cells)
    return Program(id=config_hash(body), config=prog, cells=tuple(cells), varying=varying)


def _pack_group(cells: list[Cell], cap: int) -> list[Program]:
    active = _active(cells[0].config)
    return [_build(chunk, active) for chunk in _split_over_cap(cells, cap)]


def plan_programs(cells: Sequence[Cell], max_pack: int = 64) -> list[Program]:
    """Packs cells into programs (deterministic: same cells -> same programs and ids).

    Args:
        cells: the cells to run (distinct ids).
        max_pack: at most this many runs per program (>= 1); larger groups are split into
            near-equal programs.

    Returns:
        Programs in order of their first cell in ``cells``.

    Example:
        >>> # cells differing only in seed and q of gce share one program of 4 runs
    """
    if not isinstance(max_pack, int) or max_pack < 1:
        raise ValueError(f"max_pack={max_pack!r} must be an int >= 1")
    order = {c.id: i for i, c in enumerate(cells)}
    groups: dict[str, list[Cell]] = {}
    for c in cells:
        groups.setdefault(program_key(c.config), []).append(c)
    programs = []
    for key in sorted(groups, key=lambda k: order[groups[k][0].id]):
        g = sorted(groups[key], key=lambda c: order[c.id])
        programs.extend(_pack_group(g, max_pack))
    return programs
