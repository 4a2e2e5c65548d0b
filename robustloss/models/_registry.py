"""The model table: name -> entry (factory, options, description), and `get_model`."""

from __future__ import annotations

from typing import Any

import flax.linen as nn

from robustloss.models._layers import _canonical_dtype
from robustloss.models._nets import (
    DTYPE,
    FFNN,
    FFNN_HIDDEN,
    LENET_INIT,
    RESNET_STEM,
    RESNET_WIDTH,
    LeNet5,
    ResNet,
)
from robustloss.options import Entry, lookup, resolve


def _lenet(num_classes: int, init: str, **kw: Any) -> LeNet5:
    return LeNet5(num_classes, conv_init=init, **kw)


def _resnet18(num_classes: int, **kw: Any) -> ResNet:
    return ResNet(num_classes=num_classes, stage_sizes=(2, 2, 2, 2), **kw)


def _resnet34(num_classes: int, **kw: Any) -> ResNet:
    return ResNet(num_classes=num_classes, stage_sizes=(3, 4, 6, 3), **kw)


def _resnet50(num_classes: int, **kw: Any) -> ResNet:
    return ResNet(num_classes=num_classes, stage_sizes=(3, 4, 6, 3), block="bottleneck", **kw)


def _needs_28x28(shape: tuple) -> str | None:
    if tuple(shape[:2]) != (28, 28):
        return (
            f"needs 28x28 images, but the inputs have shape {tuple(shape)}; use 'ffnn' or a ResNet"
        )
    return None


def _needs_images(shape: tuple) -> str | None:
    if len(shape) not in (2, 3):
        return f"needs images, but the inputs have shape {tuple(shape)}; use 'ffnn'"
    return None


_DTYPE = {"dtype": DTYPE}
_RESNET_OPTIONS = {**_DTYPE, "width": RESNET_WIDTH, "stem": RESNET_STEM}

# The models: name -> Entry(factory(num_classes, **options), description, options). meta:
# "epoch_mode" is how the training loop runs an epoch on CPU, measured on 2 cores
# (docs/training.md): a whole epoch under `lax.scan` removes per-step dispatch; it is 2.1x faster
# for the tabular net and, with LeNet's im2col convolutions (PatchConv), 1.7x faster for LeNet
# too. The ResNets use `nn.Conv`, whose XLA:CPU convolutions run 2.7-3x slower inside loops
# (jax-ml/jax#12868), so they use a Python loop of jitted steps. "check_input": a function of
# the per-example input shape returning why the model cannot take it (None if it can).
MODELS: dict[str, Entry] = {
    "ffnn": Entry(
        FFNN,
        "two-hidden-layer tanh net (LDR tabular protocol); hidden 0 = min(d, K)",
        {**_DTYPE, "hidden": FFNN_HIDDEN},
        meta={"epoch_mode": "scan"},
    ),
    "lenet": Entry(
        _lenet,
        "LeNet-5 for 28x28 images (init: kaiming_fan_out convs, or torch = PyTorch default)",
        {**_DTYPE, "init": LENET_INIT},
        meta={"epoch_mode": "scan", "check_input": _needs_28x28},
    ),
    "resnet18": Entry(
        _resnet18,
        "ResNet-18 (CIFAR or ImageNet stem)",
        _RESNET_OPTIONS,
        meta={"epoch_mode": "loop", "check_input": _needs_images},
    ),
    "resnet34": Entry(
        _resnet34,
        "ResNet-34 (CIFAR or ImageNet stem)",
        _RESNET_OPTIONS,
        meta={"epoch_mode": "loop", "check_input": _needs_images},
    ),
    "resnet50": Entry(
        _resnet50,
        "ResNet-50 (bottleneck blocks, torchvision v1.5; CIFAR or ImageNet stem)",
        _RESNET_OPTIONS,
        meta={"epoch_mode": "loop", "check_input": _needs_images},
    ),
}


def list_models() -> list[str]:
    """Names accepted by `get_model`, sorted."""
    return sorted(MODELS)


def _entry(name: str) -> Entry:
    return lookup(MODELS, name, "model")


def model_options(name: str) -> dict[str, Any]:
    """The keyword options of model ``name`` and their defaults.

    Example:
        >>> model_options("resnet18")
        {'dtype': 'float32', 'width': 64, 'stem': 'cifar'}
    """
    return {k: o.default for k, o in _entry(name).options.items()}


def get_model(name: str, num_classes: int, **kw: Any) -> nn.Module:
    """Builds a model by registry name.

    Args:
        name: one of `list_models()`: ``ffnn``, ``lenet``, ``resnet18``, ``resnet34``,
            ``resnet50``.
        num_classes: number of logits K >= 2.
        **kw: model options (`model_options`: ``hidden`` for ``ffnn``; ``width`` and ``stem``
            (``"cifar"`` or ``"imagenet"``) for the ResNets; ``dtype`` for all: the computation
            dtype, ``"float32"`` (default) or ``"bfloat16"``, with float32 parameters and logits).

    Returns:
        A Linen module; call ``init(key, x, train=False)`` and ``apply(variables, x, train=...)``.

    Raises:
        ValueError: unknown name, K < 2, an unknown keyword or a value out of range.

    Example:
        >>> get_model("lenet", num_classes=10).num_classes
        10
    """
    entry = _entry(name)
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    options = resolve(entry, kw, f"model {name!r}")
    options["dtype"] = _canonical_dtype(options["dtype"])
    return entry.factory(num_classes=num_classes, **options)


def check_model_input(name: str, shape: tuple) -> None:
    """Raises ``ValueError`` if model ``name`` cannot take inputs of per-example ``shape``.

    Example:
        >>> check_model_input("lenet", (8, 8, 1))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: model 'lenet' needs 28x28 images, but the inputs have shape (8, 8, 1); ...
    """
    check = _entry(name).meta.get("check_input")
    reason = check(tuple(shape)) if check else None
    if reason:
        raise ValueError(f"model {name!r} {reason}")


def default_epoch_mode(name: str) -> str:
    """The measured-faster epoch mode for a model on CPU: ``"scan"`` or ``"loop"``."""
    return _entry(name).meta["epoch_mode"]
