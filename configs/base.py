"""Helpers shared by the config files: the schema and the ``:key=value,...`` argument parser.

Every config file defines ``get_config(arg: str | None = None)``. The optional ``arg`` is what
follows the colon on the command line::

    python -m experiments.main --config configs/fashion_mnist.py:loss=gce,noise=uniform,rate=0.6

Short keys: ``loss`` (registry name; resets ``loss.hparams`` to that loss's defaults), ``noise``
(kind), ``rate``, ``model``, ``dataset``, ``epochs``, ``lr``, ``batch``, ``seed``, ``optimizer``,
``transition`` (``transition.use``), ``writers`` (``jsonl/tensorboard``). Vmapped runs (one compiled program): ``seeds`` (``0-3``,
``0/1/2`` or ``5``; ints >= 0, ranges not reversed) and ``sweep`` (``q:0.3/0.5/0.7``: one run
per value of a loss hyperparameter) expand into ``config.runs`` here, when the config is built
(``seeds=0-1`` is ``runs = ({"seed": 0}, {"seed": 1})``; with both, run ``r`` takes the
``r``-th seed and the ``r``-th value). A top-level field name (``augment=True``) or dotted key
(``optimizer.momentum=0.8``) sets that field. Any other key is a hyperparameter of the chosen
loss (``q=0.5`` for ``gce``). Values are parsed as Python literals when they look like numbers
or booleans, else kept as strings. Then ``--config.field=value`` flags override on top.
"""

from __future__ import annotations

import ast
from typing import Any

import ml_collections

from robustloss._fields import get_field, set_field
from robustloss.training import default_config, set_loss
from robustloss.training.config import check_removed_field
from robustloss.training.runs import add_runs

SHORT_KEYS = {
    "noise": "noise.kind",
    "rate": "noise.rate",
    "model": "model.name",
    "dataset": "dataset.name",
    "epochs": "num_epochs",
    "lr": "optimizer.lr",
    "batch": "batch_size",
    "seed": "seed",
    "optimizer": "optimizer.name",
    "transition": "transition.use",
}


def parse_value(text: str) -> Any:
    """``"0.6"`` -> 0.6, ``"true"`` -> True, ``"(1, 2)"`` -> (1, 2), otherwise the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()


def parse_arg(arg: str | None) -> dict[str, str]:
    """``"loss=gce,rate=0.6"`` -> ``{"loss": "gce", "rate": "0.6"}`` (order kept)."""
    out: dict[str, str] = {}
    if not arg:
        return out
    for item in arg.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise ValueError(f"config argument {item!r} is not of the form key=value (in {arg!r})")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _set_path(config: ml_collections.ConfigDict, path: str, value: Any) -> None:
    """Sets a field from the command line: a value parsed as a number for a text field (a
    ``class_map`` named ``"1"``) stays text. A removed field (``seeds``, ``loss.sweep_*``) fails
    naming what replaces it."""
    check_removed_field(path)
    if isinstance(get_field(config, path), str) and not isinstance(value, str):
        value = str(value)
    set_field(config, path, value)


SEEDS_FORMS = "seeds=A-B (a range, A <= B, e.g. 0-3), seeds=A/B/C (e.g. 3/4/5) or seeds=A"


def _seed_int(text: str, whole: str) -> int:
    t = text.strip()
    if not t.isdigit():  # rejects "", "-1", "a", "1.5"
        raise ValueError(
            f"seeds={whole!r}: {t!r} is not a seed (an int >= 0); accepted forms: {SEEDS_FORMS}"
        )
    return int(t)


def _seeds(text: str) -> tuple[int, ...]:
    """``"0-3"`` -> (0, 1, 2, 3), ``"3/4/5"`` -> (3, 4, 5), ``"7"`` -> (7,).

    Raises:
        ValueError: a reversed range, a negative or non-integer seed, or an empty list, with
            the accepted forms in the message (repeated seeds are rejected by
            `robustloss.training.validate_config`).
    """
    whole = text
    text = text.strip()
    if "-" in text and "/" not in text and not text.startswith("-"):
        lo_text, _, hi_text = text.partition("-")
        lo, hi = _seed_int(lo_text, whole), _seed_int(hi_text, whole)
        if hi < lo:
            raise ValueError(
                f"seeds={whole!r} is a reversed range ({lo} > {hi}: no seeds); "
                f"accepted forms: {SEEDS_FORMS}"
            )
        return tuple(range(lo, hi + 1))
    parts = text.split("/")
    if text.endswith("/"):  # "3/" is a one-seed list
        parts = parts[:-1]
    return tuple(_seed_int(s, whole) for s in parts)


def apply_arg(config: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
    """Applies a ``key=value,...`` argument (see the module docstring) to ``config`` in place."""
    items = parse_arg(arg)
    if "loss" in items:
        set_loss(config, items.pop("loss"))
    hparams: dict[str, Any] = {}
    for key, text in items.items():
        if key == "seeds":
            _add_runs(config, key, text, "seed", _seeds(text))
        elif key == "writers":  # writers=jsonl/tensorboard (a comma would split the argument)
            config.writers = tuple(w for w in text.split("/") if w)
        elif key == "sweep":
            field, _, values = text.partition(":")
            if not field or not values:
                raise ValueError(f"sweep={text!r} must look like field:v1/v2/... (e.g. q:0.3/0.7)")
            floats = tuple(float(v) for v in values.split("/") if v)
            _add_runs(config, key, text, f"loss.hparams.{field}", floats)
        elif key in SHORT_KEYS:
            _set_path(config, SHORT_KEYS[key], parse_value(text))
        elif "." in key or (
            key in config and not isinstance(config[key], ml_collections.ConfigDict)
        ):
            _set_path(config, key, parse_value(text))
        else:
            hparams[key] = parse_value(text)
    if hparams:
        current = dict(config.loss.hparams)
        unknown = sorted(set(hparams) - set(current))
        if unknown:
            raise ValueError(
                f"config argument key(s) {unknown} are neither short keys {sorted(SHORT_KEYS)} "
                f"nor hyperparameters of loss {config.loss.name!r} ({sorted(current)})"
            )
        set_loss(config, config.loss.name, **{**current, **hparams})
    return config


def _add_runs(config: ml_collections.ConfigDict, key: str, text: str, path: str, values) -> None:
    """A short form's values into ``config.runs`` (`robustloss.training.runs.add_runs`)."""
    try:
        add_runs(config, path, values)
    except ValueError as e:
        raise ValueError(f"config argument {key}={text!r}: {e}") from e


def base_config() -> ml_collections.ConfigDict:
    """The schema with defaults (`robustloss.training.default_config`)."""
    return default_config()


def ldr_tabular_protocol(lr: float) -> ml_collections.ConfigDict:
    """The LDR paper's tabular protocol (the paper's experiments; its code's ``models.py`` and optimiser) on top of `base_config`.

    ``ffnn``, uniform noise 0.3, SGD momentum 0.9 with coupled weight decay 5e-3, batch 64, 100
    epochs with the learning rate ÷10 at epochs 50 and 75, fixed data order (the LDR code's
    unshuffled DataLoader). The dataset fields are the caller's.
    """
    c = base_config()
    c.noise.kind = "uniform"
    c.noise.rate = 0.3
    c.model.name = "ffnn"
    c.optimizer.name = "sgd"
    c.optimizer.lr = lr
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 5e-3
    c.optimizer.schedule = "step"
    c.optimizer.decay_epochs = (50, 75)
    c.batch_size = 64
    c.num_epochs = 100
    c.shuffle = False
    return c


def finish(config: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
    """Applies ``arg``, fills in the loss's default hyperparameters and locks the config.

    Locking makes a misspelt ``--config.field`` override fail with the valid field names.
    """
    if not config.loss.hparams:
        set_loss(config, config.loss.name)
    apply_arg(config, arg)
    config.lock()
    return config
