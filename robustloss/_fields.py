"""Dotted config fields: get, set and pop ``"a.b.c"`` in a nested ConfigDict or dict.

The one place that walks a dotted field name (the config files' ``key=value`` arguments, a
batched config's per-run overrides, the sweep planner). Standard library only: a ConfigDict is
used through its ``keys``/``[]``/``in`` interface.

Example:
    >>> cfg = {"optimizer": {"lr": 0.1, "name": "sgd"}}
    >>> set_field(cfg, "optimizer.lr", 1)  # an int into a float field stays a float
    >>> get_field(cfg, "optimizer.lr")
    1.0
    >>> set_field(cfg, "optimizer.lrate", 1.0, where="config.runs[0]")
    Traceback (most recent call last):
    ...
    ValueError: config.runs[0]: unknown config field 'optimizer.lrate'; valid: ['lr', 'name']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["get_field", "pop_field", "set_field", "with_field"]


def _is_group(node: Any) -> bool:
    """A dict or a ConfigDict (which is no `Mapping` subclass, hence the duck test)."""
    return isinstance(node, Mapping) or callable(getattr(node, "keys", None))


def _parent(tree: Any, path: str, where: str) -> tuple[Any, str]:
    """The mapping that holds the last part of ``path``, and that part's name."""
    *groups, leaf = path.split(".")
    node = tree
    for g in groups:
        if g not in node or not _is_group(node[g]):
            raise ValueError(
                f"{where + ': ' if where else ''}unknown config field {path!r}: no group {g!r}; "
                f"valid: {sorted(node)}"
            )
        node = node[g]
    return node, leaf


def get_field(tree: Any, path: str, *, where: str = "") -> Any:
    """``tree["a"]["b"]["c"]`` for ``path="a.b.c"``.

    Raises:
        ValueError: a part of ``path`` is missing (naming ``where``, the field and the valid
            names at that level).
    """
    node, leaf = _parent(tree, path, where)
    if leaf not in node:
        raise ValueError(
            f"{where + ': ' if where else ''}unknown config field {path!r}; valid: {sorted(node)}"
        )
    return node[leaf]


def set_field(tree: Any, path: str, value: Any, *, where: str = "") -> None:
    """Sets the existing field ``path`` of ``tree`` to ``value``.

    An int given for a float field is stored as a float (``lr=1`` from a command line is 1.0),
    so a config keeps its field types.

    Raises:
        ValueError: the field does not exist (see `get_field`); fields are never created.
    """
    old = get_field(tree, path, where=where)
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    node, leaf = _parent(tree, path, where)
    node[leaf] = value


def with_field(tree: Mapping, path: str, value: Any, *, where: str = "") -> dict:
    """A copy of the nested dict ``tree`` with the existing field ``path`` set to ``value``.

    Copy on write: the groups on the way to the field are copied, every other group is shared,
    so ``tree`` (and every other copy made from it) is left as it was. The value is stored as
    `set_field` stores it (an int for a float field becomes a float).

    Raises:
        ValueError: the field does not exist (see `get_field`).

    Example:
        >>> base = {"seed": 0, "optimizer": {"lr": 0.1}, "model": {"width": 64}}
        >>> run = with_field(base, "optimizer.lr", 1)
        >>> run["optimizer"], base["optimizer"], run["model"] is base["model"]
        ({'lr': 1.0}, {'lr': 0.1}, True)
    """
    old = get_field(tree, path, where=where)
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    head, _, rest = path.partition(".")
    out = dict(tree)
    out[head] = with_field(tree[head], rest, value) if rest else value
    return out


def pop_field(tree: Any, path: str) -> Any:
    """Removes the field ``path`` from ``tree`` if it is there; returns its value (or None).

    The groups on the way must exist (``ValueError`` otherwise).
    """
    node, leaf = _parent(tree, path, "")
    return node.pop(leaf, None)
