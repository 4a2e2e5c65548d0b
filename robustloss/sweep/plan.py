"""Packing cells into programs: which runs the harness can vmap into one compiled program.

Cells whose resolved configs are equal except for *packable* fields run as one program of R
vmapped runs. What is packable is declared once, in `PACKABLE`: one `PackAxis` per axis the
harness (`robustloss.training.train`) can vmap today:

* ``seed`` -- the run seed (``config.seeds``);
* ``loss_hparam`` -- one float hyperparameter of a stateless loss without a transition method
  (``config.loss.sweep_field`` / ``sweep_values``);
* ``noise_seed`` -- the noise draw (``config.noise.per_run``: run ``r`` gets ``noise.seed + r``),
  when no noisy validation split depends on the shared base seed, and, with a transition method,
  when the true T does not depend on the draw (class-conditional noise).

Everything else (loss family, model, dataset, epochs, noise kind/rate, optimizer, ...) is part of
the *program key*, so different values give different programs. Making another field packable
(noise rate/kind, optimizer lr/wd/momentum, fold, transition hyperparameters) is one entry here
plus the harness support for vmapping it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from robustloss.sweep.cells import NOT_IN_ID, Cell, config_hash

__all__ = ["PACKABLE", "PackAxis", "Program", "get_path", "plan_programs", "program_key"]


def get_path(cfg: dict, path: str) -> Any:
    node = cfg
    for part in path.split("."):
        node = node[part]
    return node


def _set_path(cfg: dict, path: str, value: Any) -> None:
    *groups, leaf = path.split(".")
    node = cfg
    for g in groups:
        node = node[g]
    node[leaf] = value


def _del_path(cfg: dict, path: str) -> None:
    *groups, leaf = path.split(".")
    node = cfg
    for g in groups:
        node = node[g]
    node.pop(leaf, None)


@dataclasses.dataclass(frozen=True)
class PackAxis:
    """One axis the harness can vmap over.

    Attributes:
        name: short name (shown by ``--dry_run``).
        description: one line.
        fields: ``cfg -> dotted fields`` this axis covers for a config (``cfg`` a plain dict).
        applies: ``cfg -> bool``: whether the harness can vmap this axis for that config. It
            must depend only on non-packable fields, so all cells of a group agree.
        to_program: ``(program_cfg, cells, varying_fields) -> None`` sets the program's fields
            so that run ``r`` of the program is ``cells[r]``.
        max_varying: at most this many of ``fields`` may differ within one program (None: any).
        chains: optional ``(cells, varying_fields) -> [cells, ...]``: splits and orders a group
            into lists the harness can run as one program each.
    """

    name: str
    description: str
    fields: Callable[[dict], tuple[str, ...]]
    applies: Callable[[dict], bool]
    to_program: Callable[[dict, list[Cell], tuple[str, ...]], None]
    max_varying: int | None = None
    chains: Callable[[list[Cell], tuple[str, ...]], list[list[Cell]]] | None = None


def _seed_to_program(prog: dict, cells: list[Cell], varying: tuple[str, ...]) -> None:
    prog["seeds"] = tuple(int(c.config["seed"]) for c in cells)


def _float_hparams(cfg: dict) -> tuple[str, ...]:
    from robustloss import loss_hparams

    defaults = loss_hparams(cfg["loss"]["name"])
    return tuple(
        f"loss.hparams.{k}"
        for k, v in sorted(defaults.items())
        if isinstance(v, float) and k in cfg["loss"]["hparams"]
    )


def _hparam_applies(cfg: dict) -> bool:
    from robustloss import get_loss
    from robustloss.stateful import StatefulLoss

    if cfg["transition"]["use"] != "none":
        return False
    loss = get_loss(cfg["loss"]["name"], **dict(cfg["loss"]["hparams"]))
    return not isinstance(loss, StatefulLoss)


def _hparam_to_program(prog: dict, cells: list[Cell], varying: tuple[str, ...]) -> None:
    if not varying:
        return
    (path,) = varying
    prog["loss"]["sweep_field"] = path.rsplit(".", 1)[1]
    prog["loss"]["sweep_values"] = tuple(float(get_path(c.config, path)) for c in cells)


_NO_DRAW = ("clean", "none", "real", "from_labels")
_DRAWN_T = ("instance", "idn", "instance_dependent")  # T depends on the draw


def _noise_seed_applies(cfg: dict) -> bool:
    n, d = cfg["noise"], cfg["dataset"]
    if n["kind"] in _NO_DRAW:
        return False  # no draw to vary
    if cfg["transition"]["use"] != "none" and n["kind"] in _DRAWN_T:
        return False  # the harness gives every run run 0's true T
    # The noisy validation labels use the program's base noise seed for every run.
    return not (n["noisy_val"] and d["val_fraction"] > 0 and n["rate"] > 0)


def _noise_seed_chains(cells: list[Cell], varying: tuple[str, ...]) -> list[list[Cell]]:
    """Splits cells into runs of consecutive noise seeds ``s, s+1, ...`` (the harness's form)."""
    if not varying:
        return [cells]
    left = sorted(cells, key=lambda c: (c.config["noise"]["seed"], c.id))
    out = []
    while left:
        chain = [left.pop(0)]
        i = 0
        while i < len(left):
            if left[i].config["noise"]["seed"] == chain[-1].config["noise"]["seed"] + 1:
                chain.append(left.pop(i))
            else:
                i += 1
        out.append(chain)
    return out


def _noise_seed_to_program(prog: dict, cells: list[Cell], varying: tuple[str, ...]) -> None:
    seeds = [int(c.config["noise"]["seed"]) for c in cells]
    if len(set(seeds)) == 1:
        prog["noise"]["per_run"] = False
        return
    if seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise AssertionError(f"noise seeds {seeds} are not consecutive")  # chains guarantee it
    prog["noise"]["per_run"] = True
    prog["noise"]["seed"] = seeds[0]


#: The packable axes (see the module docstring). Order matters only for display.
PACKABLE: tuple[PackAxis, ...] = (
    PackAxis(
        name="seed",
        description="run seed (init, shuffling, per-step keys) -> config.seeds",
        fields=lambda cfg: ("seed",),
        applies=lambda cfg: True,
        to_program=_seed_to_program,
    ),
    PackAxis(
        name="loss_hparam",
        description="one float hyperparameter of a stateless loss, no transition method "
        "-> config.loss.sweep_field/sweep_values",
        fields=_float_hparams,
        applies=_hparam_applies,
        to_program=_hparam_to_program,
        max_varying=1,
    ),
    PackAxis(
        name="noise_seed",
        description="noise draw (consecutive noise seeds) -> config.noise.per_run; not with a "
        "noisy validation split, nor instance-dependent noise with a transition method",
        fields=lambda cfg: ("noise.seed",),
        applies=_noise_seed_applies,
        to_program=_noise_seed_to_program,
        chains=_noise_seed_chains,
    ),
)


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
            axis.to_program(prog, cells, v)
            if v:
                varying[axis.name] = v
    body = json.dumps(prog, sort_keys=True, default=str) + "|" + ",".join(c.id for c in cells)
    return Program(id=config_hash(body), config=prog, cells=tuple(cells), varying=varying)


def _pack_group(cells: list[Cell], cap: int) -> list[Program]:
    active = _active(cells[0].config)
    groups = [cells]
    for axis, fields in active:  # at most max_varying fields of an axis may differ
        if axis.max_varying is None:
            continue
        nxt = []
        for g in groups:
            v = _varying(g, fields)
            if len(v) <= axis.max_varying:
                nxt.append(g)
                continue
            count = {f: len({repr(get_path(c.config, f)) for c in g}) for f in v}
            keep = sorted(v, key=lambda f: (-count[f], f))[: axis.max_varying]
            split = [f for f in v if f not in keep]
            sub: dict[str, list[Cell]] = {}
            for c in g:
                sub.setdefault(repr([get_path(c.config, f) for f in split]), []).append(c)
            nxt.extend(sub.values())
        groups = nxt
    for axis, fields in active:
        if axis.chains is None:
            continue
        groups = [ch for g in groups for ch in axis.chains(g, tuple(_varying(g, fields)))]
    programs = []
    for g in groups:
        for chunk in _split_over_cap(g, cap):
            programs.append(_build(chunk, active))
    return programs


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
