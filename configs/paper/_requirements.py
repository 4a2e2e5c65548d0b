"""Checks the paper configs share: parts of a recipe the user must supply or the build lacks.

A config that needs a model the build does not have, or pretrained weights the user has not
named, fails when it is built, with what is missing and what to override to run a reduced
version -- never by silently training something else.
"""

from __future__ import annotations

from robustloss.models import list_models

#: The weight files ``model.init_path`` reads (`robustloss.models.read_weights`): a torch
#: ``.pth``/``.pt`` or ``.safetensors`` state dict in torchvision's ResNet layout, or an ``.npz``
#: of the same names or of our own parameter names.
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".npz")


def require_model(config, recipe: str) -> None:
    """Raises ``ValueError`` when ``config.model.name`` is not in the model table."""
    if config.model.name not in list_models():
        raise ValueError(
            f"{recipe} uses model {config.model.name!r}, which robustloss.models does not have "
            f"({list_models()}); override model=<one of those> to run a reduced version (a "
            "deviation)"
        )


def require_pretrained(config, recipe: str, pretrained: bool) -> None:
    """Raises ``ValueError`` unless ``config.model.init_path`` names the pretrained weights the
    recipe starts from (or ``pretrained=false`` was given: training from scratch, a deviation)."""
    if not pretrained:
        return
    path = config.model.get("init_path", None)
    if not path:
        raise ValueError(
            f"{recipe} fine-tunes ImageNet-pretrained weights: pass model.init_path=<the "
            "torchvision ResNet-50 weights (.pth / .safetensors, or an .npz of the same names)>, "
            "or pretrained=false to train from scratch (a deviation)"
        )
    if not path.endswith(WEIGHT_SUFFIXES):
        raise ValueError(
            f"{recipe}: model.init_path={path!r} is not a weight file this build reads; it "
            f"must end in one of {list(WEIGHT_SUFFIXES)}"
        )
