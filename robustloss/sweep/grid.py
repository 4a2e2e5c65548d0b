"""Grids as data: `product` and `zip` of ``:key=value`` cells (the flax/big_vision sweep idiom).

A *cell* is a plain dict whose keys are exactly those the ``--config FILE:key=value,...``
argument accepts (``configs/base.py``: short keys such as ``loss``, ``rate``, ``seed``, dotted
fields such as ``optimizer.momentum``, and the chosen loss's hyperparameters such as ``q``). A
config file may define ``get_sweep(arg)`` returning a list of cells, built with these helpers::

    def get_sweep(arg=None):
        return product(zip(loss=["ce", "gce"], q=[None, 0.7]), rate=[0.2, 0.4], seed=range(3))

A value of ``None`` leaves the key out of that cell (``ce`` has no ``q``).
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["cell_arg", "join_args", "product", "zip"]

Cell = dict[str, Any]


def _axis(name: str, values: Any) -> list[Cell]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(
            f"grid axis {name!r} must be a list of values, got {values!r}; "
            f"write {name}=[{values!r}]"
        )
    return [{name: v} for v in values]


def _clean(cell: Cell) -> Cell:
    return {k: v for k, v in cell.items() if v is not None}


def _as_cells(part: Any) -> list[Cell]:
    if isinstance(part, Mapping):
        return [dict(part)]
    cells = list(part)
    if not all(isinstance(c, Mapping) for c in cells):
        raise ValueError(f"a grid part must be a list of cells (dicts), got {part!r}")
    return [dict(c) for c in cells]


def product(*parts: Iterable[Cell] | Cell, **axes: Iterable[Any]) -> list[Cell]:
    """The Cartesian product of lists of cells and of keyword axes, the last varying fastest.

    Args:
        *parts: lists of cells (e.g. from `zip` or another `product`) or single cells.
        **axes: ``key=[v1, v2, ...]``: one cell per value.

    Returns:
        A list of cells (dicts); a key appearing in several parts raises ``ValueError``.

    Example:
        >>> product(loss=["ce", "mae"], seed=[0, 1])  # doctest: +NORMALIZE_WHITESPACE
        [{'loss': 'ce', 'seed': 0}, {'loss': 'ce', 'seed': 1},
         {'loss': 'mae', 'seed': 0}, {'loss': 'mae', 'seed': 1}]
    """
    lists = [_as_cells(p) for p in parts] + [_axis(k, v) for k, v in axes.items()]
    out = []
    for combo in itertools.product(*lists):
        cell: Cell = {}
        for c in combo:
            clash = sorted(set(cell) & set(c))
            if clash:
                raise ValueError(f"grid key(s) {clash} appear in more than one part of a product")
            cell.update(c)
        out.append(_clean(cell))
    return out


def zip(*parts: Iterable[Cell], **axes: Iterable[Any]) -> list[Cell]:  # noqa: A001
    """Cells taken side by side: the i-th cell merges the i-th entry of every part and axis.

    Raises:
        ValueError: parts/axes of different lengths (naming them).

    Example:
        >>> zip(loss=["ce", "gce"], q=[None, 0.5])
        [{'loss': 'ce'}, {'loss': 'gce', 'q': 0.5}]
    """
    lists = [_as_cells(p) for p in parts] + [_axis(k, v) for k, v in axes.items()]
    lengths = {len(x) for x in lists}
    if len(lengths) > 1:
        names = [f"part {i}" for i in range(len(parts))] + list(axes)
        sizes = dict(builtins.zip(names, (len(x) for x in lists), strict=True))
        raise ValueError(f"zip needs parts of equal length, got {sizes}")
    out = []
    for combo in builtins.zip(*lists, strict=True):
        cell: Cell = {}
        for c in combo:
            cell.update(c)
        out.append(_clean(cell))
    return out


def _text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    if "," in text or "=" in text:
        raise ValueError(
            f"cell value {key}={value!r} cannot be written as a ':key=value' argument (it holds "
            "',' or '='); use a scalar value or the '0/1/2' form"
        )
    return text


def cell_arg(cell: Mapping[str, Any]) -> str:
    """The ``key=value,...`` argument that gives ``experiments.main`` the same run as ``cell``.

    Example:
        >>> cell_arg({"loss": "gce", "q": 0.7, "augment": True})
        'loss=gce,q=0.7,augment=true'
    """
    for key in cell:
        if not isinstance(key, str) or not key or "," in key or "=" in key:
            raise ValueError(f"cell key {key!r} is not a valid ':key=value' key")
    return ",".join(f"{k}={_text(k, v)}" for k, v in cell.items())


def join_args(*args: str | None) -> str | None:
    """Joins ``:arg`` strings with commas (later keys override earlier ones); None if empty."""
    parts = [a for a in args if a]
    return ",".join(parts) or None
