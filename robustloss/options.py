"""The one registry pattern: a plain dict ``name -> Entry`` per family of components.

Losses, models, datasets, noise kinds, transition estimators and transition uses each keep one
table, a ``dict[str, Entry]``. An `Entry` carries the factory, its options (each an `Option`
with a default and a valid range or set of choices) and a one-line description. Four helpers
are shared by every family:

* `lookup(table, name, what)`: the entry, or a ``ValueError`` naming the valid choices;
* `resolve(entry, given, where)`: the options with defaults filled in, after checking every
  given one (an unknown option or a value out of range raises, naming the valid ones);
* `describe(table)`: ``{name: description}`` (what the ``list_*`` functions print);
* `option_default(table, option)`: the one default of an option (for config fields and
  keyword defaults that stand for it).

Example:
    >>> table = {"double": Entry(lambda x, scale: scale * x, "scales its input",
    ...                          {"scale": Option(2.0, low=0.0, low_open=True)})}
    >>> entry = lookup(table, "double", "op")
    >>> entry.factory(3.0, **resolve(entry, {}, "op"))
    6.0
    >>> resolve(entry, {"scal": 1.0}, "op")
    Traceback (most recent call last):
    ...
    ValueError: unknown option(s) ['scal'] for op; valid: ['scale']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a component: its default and what values are valid.

    Attributes:
        default: the value used when the option is not given.
        choices: the valid values (for string options), or None.
        low, high: numeric bounds (None = unbounded); ``low_open``/``high_open`` exclude them.
        integer: the value must be an int (bools are never numbers here).
        check: an extra ``value -> str | None`` test returning the reason it is invalid.
    """

    default: Any
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    check: Callable[[Any], str | None] | None = None

    def validate(self, path: str, value: Any) -> None:
        """Raises ``ValueError`` naming ``path``, ``value`` and the valid choices or range."""
        if self.choices is not None:
            if value not in self.choices:
                raise ValueError(
                    f"{path}={value!r} is not valid; choose one of {list(self.choices)}"
                )
        elif self.low is not None or self.high is not None or self.integer:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if self.integer and not isinstance(value, int):
                number = False
            ok = number and not (isinstance(value, float) and math.isnan(value))
            if ok and self.low is not None:
                ok = value > self.low if self.low_open else value >= self.low
            if ok and self.high is not None:
                ok = value < self.high if self.high_open else value <= self.high
            if not ok:
                raise ValueError(f"{path}={value!r} is out of range; it must be {self.bounds()}")
        if self.check is not None:
            reason = self.check(value)
            if reason:
                raise ValueError(f"{path}={value!r} is not valid; {reason}")

    def bounds(self) -> str:
        """The valid range in words, e.g. ``'an int >= 0'``, ``'> 0'`` or ``'in (0, 1]'``."""
        if self.low is not None and self.high is not None:
            text = (
                f"in {'(' if self.low_open else '['}{self.low:g}, "
                f"{self.high:g}{')' if self.high_open else ']'}"
            )
        elif self.low is not None:
            text = f"{'>' if self.low_open else '>='} {self.low:g}"
        elif self.high is not None:
            text = f"{'<' if self.high_open else '<='} {self.high:g}"
        else:
            text = "a number"
        return f"an int {text}" if self.integer else text


@dataclasses.dataclass(frozen=True)
class Entry:
    """A table entry: the factory, a one-line description and the factory's options.

    ``meta`` holds static facts of the family's own kind (a model's default epoch mode, an
    estimator's paper warm-up), so that adding a component is one entry in one table.
    """

    factory: Callable[..., Any]
    description: str
    options: Mapping[str, Option] = dataclasses.field(default_factory=dict)
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def lookup(table: Mapping[str, Any], name: Any, what: str, *, also: Sequence[str] = ()) -> Any:
    """``table[name]``: the one name lookup of every family (one error format).

    Args:
        table: the family's table (``name -> Entry``, or ``name -> description``).
        name: the name asked for.
        what: the family in words, for the message (``"loss"``, ``"noise kind"``).
        also: other accepted forms the caller handles itself, listed after the names
            (``"tfds:<tfds name>"``).

    Raises:
        ValueError: ``unknown <what> <name>; choose one of [<names>, <also>]``.
    """
    if not isinstance(name, str) or name not in table:
        raise ValueError(f"unknown {what} {name!r}; choose one of {[*table, *also]}")
    return table[name]


def resolve(entry: Entry, given: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The entry's options: defaults updated by ``given``, every given value checked.

    Args:
        entry: a table entry.
        given: the options the caller set.
        where: how errors name the options' owner (``"noise kind 'pair'"``,
            ``"config.model.kwargs"``); a checked value is named ``f"{where}.{option}"``.

    Raises:
        ValueError: an option the entry does not have (naming the valid ones) or a value
            outside its range/choices.
    """
    unknown = sorted(set(given) - set(entry.options))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for {where}; valid: {sorted(entry.options)}")
    for key, value in given.items():
        entry.options[key].validate(f"{where}.{key}", value)
    return {**{k: o.default for k, o in entry.options.items()}, **given}


def option_default(table: Mapping[str, Entry], name: str) -> Any:
    """The default of option ``name`` in a family's table: the one place it is written.

    Config fields, dataclass fields and keyword defaults that stand for a component's option
    read it from here, so they cannot disagree with the table.

    Raises:
        ValueError: no entry has the option, or two entries give it different defaults.

    Example:
        >>> table = {"a": Entry(int, "a", {"k": Option(1)}), "b": Entry(int, "b", {"k": Option(1)})}
        >>> option_default(table, "k")
        1
    """
    found = [o.default for e in table.values() for n, o in e.options.items() if n == name]
    defaults = {repr(d): d for d in found}
    if len(defaults) != 1:
        raise ValueError(f"option {name!r} has the defaults {sorted(defaults)} in its table")
    return found[0]


def describe(table: Mapping[str, Entry]) -> dict[str, str]:
    """``{name: one-line description}`` of every entry, in table order."""
    return {name: entry.description for name, entry in table.items()}
