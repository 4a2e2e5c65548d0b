"""Checks the paper configs share: parts of a recipe that other work provides.

A config that needs a model or a pretrained-weight reader the build does not have yet fails
when it is built, with what is missing and what to override to run a reduced version -- never
by silently training something else.
"""

from __future__ import annotations

from robustloss.models import list_models

#: Weight files that need the torchvision-layout reader (issue 18's pretrained loader);
#: ``.npz`` files keyed by our parameter names are read today (`load_init_params`).
TORCH_WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")
#: Set to True when issue 18's torchvision-layout reader is connected to ``model.init_path``
#: (`robustloss.training.build.load_init_params`); until then such files fail here, clearly.
TORCHVISION_WEIGHTS = False


def require_model(config, recipe: str) -> None:
    """Raises ``ValueError`` when ``config.model.name`` is not in the model table."""
    if config.model.name not in list_models():
        raise ValueError(
            f"{recipe} uses model {config.model.name!r}, which robustloss.models does not have "
            f"yet ({list_models()}; ResNet-50 comes with the streaming/pretrained work, issue "
            "18); override model=<one of those> to run a reduced version (a deviation)"
        )


def require_pretrained(config, recipe: str, pretrained: bool) -> None:
    """Raises ``ValueError`` unless ``config.model.init_path`` names the pretrained weights the
    recipe starts from (or ``pretrained=false`` was given: training from scratch, a deviation)."""
    if not pretrained:
        return
    path = config.model.get("init_path", None)
    if path is None:
        raise ValueError(
            f"{recipe} starts from pretrained weights, but this build's config has no "
            "model.init_path field"
        )
    if not path:
        raise ValueError(
            f"{recipe} fine-tunes ImageNet-pretrained weights: pass model.init_path=<the "
            "torchvision ResNet-50 weights (.pth / .safetensors, read by issue 18's pretrained "
            "loader) or an .npz keyed by our parameter names>, or pretrained=false to train from "
            "scratch (a deviation)"
        )
    if path.endswith(TORCH_WEIGHT_SUFFIXES) and not TORCHVISION_WEIGHTS:
        raise ValueError(
            f"{recipe}: model.init_path={path!r} is a torchvision-layout file, and this build "
            "reads .npz files keyed by our parameter names only; the torchvision reader comes "
            "with issue 18 (streaming + pretrained weights)"
        )
