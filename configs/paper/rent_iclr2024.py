"""RENT / DWS (Bae et al., ICLR 2024): the paper code's protocols as run configs.

``get_config("<protocol>:<key=value,...>")`` (or just ``"<protocol>"``); the part after the
colon may use the special keys below plus every key of ``configs/base.py`` (``seed``, ``epochs``,
dotted fields, ...)::

    python -m experiments.main \
        --config 'configs/paper/rent_iclr2024.py:fmnist_cpu,setting=asym40,method=rent,estimator=anchor' \
        --workdir /tmp/rent_fm

Protocols (as the RENT code's ``main.py`` sets them; warm-up epochs are *added* to the 200 training epochs):
  ``mnist``: LeNet (PyTorch-default init, ``model.init="torch"``, as the code), no augmentation, Adam 1e-3, batch 128, 200 + warm-up epochs.
  ``fmnist``: ResNet-18, otherwise as MNIST. The code's ResNet has an ImageNet stem (7x7/2
    conv + max-pool) on 28 px inputs; ours is the CIFAR stem (``robustloss.models``).
  ``cifar10``: ResNet-34, random crop (pad 4) + horizontal flip.
  ``cifar100``: the code uses ResNet-50, which ``robustloss.models`` lacks; ResNet-34 here.
  ``fmnist_cpu``: a 2-core-CPU reduction of ``fmnist``: LeNet, the first 20,000 training
    images, 2 warm-up + 6 method epochs, test accuracy at the last epoch only.
Special keys:
  ``setting``: ``sym20``, ``sym50``, ``asym20``, ``asym40`` (RENT noise generator: symmetric
    rate = share of wrong labels; asymmetric = the dataset's flip list, ``noise.mode =
    "rent_code"``).
  ``method``: ``ce``, ``forward``, ``reweight``, ``dws``, ``rent`` (``transition.use``).
  ``estimator``: ``true``, ``anchor``, ``dualt``, ``volminnet``, ``tv``, ``cycle``.
  ``warmup``: warm-up epochs (default: the code's value per estimator, or 2 for
    ``fmnist_cpu``).
  ``compat``: ``true`` sets ``transition.paper_code_compat``.
Seeds: the code reuses one cached noise draw for all seeds; here ``noise.seed`` is
left at ``-1`` (the run's seed), so replications differ in their noise, as they should, and run
``r`` of ``seeds=3/4/5`` gets exactly the labels of a separate ``seed=3``/``4``/``5`` run.

``get_sweep(arg)`` is the grid of ``results/rent_fmnist.md`` (CE and forward / reweight / DWS /
RENT with anchor and true T, settings sym50 and asym40, seeds 0-2: 54 cells)::

    python -m experiments.sweep --config configs/paper/rent_iclr2024.py:fmnist_cpu --workdir DIR
    python -m experiments.tables --sweep DIR --table rent --select last
"""

from __future__ import annotations

from configs.base import base_config, finish, parse_arg, parse_value
from robustloss.sweep import product

PROTOCOLS = ("mnist", "fmnist", "cifar10", "cifar100", "fmnist_cpu")
SETTINGS = {"sym20": ("symmetric", 0.2), "sym50": ("symmetric", 0.5)}
SETTINGS.update({"asym20": ("pair", 0.2), "asym40": ("pair", 0.4)})
METHODS = ("ce", "forward", "reweight", "dws", "rent")
_DATASET = {
    "mnist": "mnist",
    "fmnist": "fashion_mnist",
    "fmnist_cpu": "fashion_mnist",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
}
_MODEL = {
    "mnist": "lenet",
    "fmnist": "resnet18",
    "fmnist_cpu": "lenet",
    "cifar10": "resnet34",
    "cifar100": "resnet34",
}
TRAIN_EPOCHS = 200
CPU_TRAIN_EPOCHS = 6
CPU_WARMUP_EPOCHS = 2
CPU_MAX_TRAIN = 20_000


def _split(arg: str | None) -> tuple[str, str]:
    if not arg:
        return "fmnist_cpu", ""
    first, _, rest = arg.partition(",")
    if "=" in first:
        return "fmnist_cpu", arg
    return first.strip(), rest


def get_config(arg: str | None = None):
    protocol, rest = _split(arg)
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not valid; choose one of {PROTOCOLS}")
    items = parse_arg(rest)
    setting = items.pop("setting", "sym50")
    method = items.pop("method", "rent")
    estimator = items.pop("estimator", "anchor")
    warmup = items.pop("warmup", None)
    compat = parse_value(items.pop("compat", "false"))
    if setting not in SETTINGS:
        raise ValueError(f"setting {setting!r} is not valid; choose one of {sorted(SETTINGS)}")
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not valid; choose one of {METHODS}")

    c = base_config()
    c.dataset.name = _DATASET[protocol]
    c.dataset.val_fraction = 0.0
    c.model.name = _MODEL[protocol]
    if c.model.name == "lenet":
        c.model.init = "torch"  # the RENT code's LeNet keeps PyTorch's default initialisation
    c.augment = protocol.startswith("cifar")
    c.optimizer.name = "adam"
    c.optimizer.lr = 1e-3
    c.batch_size = 128
    c.eval_batch_size = 1000
    c.loss.name = "ce"
    kind, rate = SETTINGS[setting]
    c.noise.kind, c.noise.rate, c.noise.mode = kind, rate, "rent_code"
    if kind == "pair":
        c.noise.class_map = {
            "mnist": "mnist",
            "fmnist": "fashion_mnist",
            "fmnist_cpu": "fashion_mnist",
            "cifar10": "cifar10",
        }.get(protocol, "")
        if protocol == "cifar100":
            c.noise.kind = "superclass"
            c.noise.class_map = "cifar100"
    c.noise.noisy_val = False
    c.select_metric = "test/top1"

    t = c.transition
    t.use = "none" if method == "ce" else method
    t.estimator = estimator
    t.paper_code_compat = bool(compat)
    if warmup is not None:
        t.warmup_epochs = int(warmup)
    elif protocol == "fmnist_cpu":
        t.warmup_epochs = CPU_WARMUP_EPOCHS
    warm = t.warmup_epochs if t.warmup_epochs >= 0 else _paper_warmup(estimator)
    if protocol == "fmnist_cpu":
        c.dataset.max_train = CPU_MAX_TRAIN
        c.num_epochs = warm + CPU_TRAIN_EPOCHS
        c.eval_every = c.num_epochs
        c.checkpoint_every = 1
    else:
        c.num_epochs = warm + TRAIN_EPOCHS
        c.checkpoint_every = 10
    c.progress = "lines"
    return finish(c, ",".join(f"{k}={v}" for k, v in items.items()))


def _paper_warmup(estimator: str) -> int:
    from robustloss.transition import PAPER_WARMUP_EPOCHS

    return PAPER_WARMUP_EPOCHS[estimator]


def get_sweep(arg: str | None = None):
    methods = [{"method": "ce"}] + [
        {"method": m, "estimator": e}
        for e in ("anchor", "true")
        for m in ("forward", "reweight", "dws", "rent")
    ]
    return product(methods, setting=["sym50", "asym40"], seed=[0, 1, 2])
