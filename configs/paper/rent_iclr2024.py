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
  ``cifar100``: ResNet-50 (the code's), otherwise as ``cifar10``.
  ``fmnist_cpu``: a 2-core-CPU reduction of ``fmnist``: LeNet, the first 20,000 training
    images, 2 warm-up + 6 method epochs, test accuracy at the last epoch only.
  ``cifar10n``: real human noise (the paper's real-noise table): CIFAR-10N label
    set ``label_set`` (``aggre``, ``random1``-``random3``, ``worse`` = the README's "worst"),
    otherwise the ``cifar10`` protocol (ResNet-34 with the torchvision stem as the code's
    ``define_network``, random crop + flip, Adam 1e-3, batch 128, 200 + warm-up epochs, last
    epoch reported). The "true T" (``estimator=true``) is the label set's empirical T against
    the CIFAR-10 labels. Data: ``dataset.path`` = the folder with ``cifar-10-batches-py/`` and
    ``CIFAR-10_human.pt`` (docs/data.md, "Real label noise"). Deviations: the code uses the
    label file through its noise cache (all seeds share it -- here too, the labels are fixed);
    the README table says "presumably ResNet-34" for this column.
  ``clothing1m``: Clothing1M with the code's recipe (the code's Clothing1M script): ImageNet-pretrained
    ResNet-50 with a new 14-way head (``model.init_path`` = the torchvision weights, required;
    ``pretrained=false`` trains from scratch, a deviation), Adam 1e-3, batch 100, 1 warm-up
    epoch (the code's value for Clothing1M), 200 epochs (the code's default; the paper's number
    is not given), ``dataset.pipeline="stream"`` (1M images). The code's *sets* by default:
    train = every line of ``noisy_label_kv.txt``, test = every line of ``clean_label_kv.txt``
    (clean train + val + test, not the standard 10,526; the run's provenance records how many
    training images are also test images); ``sets=standard`` uses the standard noisy train
    (1M) / clean test (10,526). Deviations: the config sets neither ``augment`` nor
    ``dataset.mean``/``std``. The code's Resize(256) + RandomCrop(224) + flip is not one of
    the stream's transforms (``augment=true`` gives a random-resized crop 224 + flip); its
    normalisation ((.6959,.6537,.6371), (.3113,.3192,.3214)) can be set as ``dataset.mean`` /
    ``dataset.std``; evaluation images are the shorter side resized to 224 + the central crop
    (docs/data.md, "Memory or stream"). ``model.init_path``: torchvision's ResNet-50 weights
    (``.pth`` / ``.safetensors``, or an ``.npz`` of the same names or of ours;
    ``configs/paper/_requirements.py`` checks it is given).
Special keys:
  ``setting``: ``sym20``, ``sym50``, ``asym20``, ``asym40`` (RENT noise generator: symmetric
    rate = share of wrong labels; asymmetric = the dataset's flip list, ``noise.mode =
    "rent_code"``).
  ``method``: ``ce``, ``forward``, ``reweight``, ``dws``, ``rent`` (``transition.use``).
  ``estimator``: ``true``, ``anchor``, ``dualt``, ``volminnet``, ``tv``, ``cycle``.
  ``warmup``: warm-up epochs (default: the code's value per estimator, or 2 for
    ``fmnist_cpu``).
  ``compat``: ``true`` sets ``transition.paper_code_compat``.
  ``label_set`` (``cifar10n``): ``aggre``, ``random1``-``random3``, ``worse`` (default ``worse``).
  ``sets`` (``clothing1m``): ``rent`` (default, the code's) or ``standard``.
  ``pretrained`` (``clothing1m``): ``true`` (default; needs ``model.init_path``) or ``false``.
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
from configs.paper._requirements import require_model, require_pretrained
from robustloss.sweep import product

PROTOCOLS = ("mnist", "fmnist", "cifar10", "cifar100", "fmnist_cpu", "cifar10n", "clothing1m")
REAL_NOISE = ("cifar10n", "clothing1m")
CIFAR10N_SETS = ("aggre", "random1", "random2", "random3", "worse")
CLOTHING1M_BATCH = 100
CLOTHING1M_WARMUP = 1  # the code's warm-up for Clothing1M
SETTINGS = {"sym20": ("symmetric", 0.2), "sym50": ("symmetric", 0.5)}
SETTINGS.update({"asym20": ("pair", 0.2), "asym40": ("pair", 0.4)})
METHODS = ("ce", "forward", "reweight", "dws", "rent")
_DATASET = {
    "mnist": "mnist",
    "fmnist": "fashion_mnist",
    "fmnist_cpu": "fashion_mnist",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "cifar10n": "cifar10n",
    "clothing1m": "clothing1m",
}
_MODEL = {
    "mnist": "lenet",
    "fmnist": "resnet18",
    "fmnist_cpu": "lenet",
    "cifar10": "resnet34",
    "cifar100": "resnet50",
    "cifar10n": "resnet34",
    "clothing1m": "resnet50",
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
    setting = items.pop("setting", None)
    method = items.pop("method", "rent")
    estimator = items.pop("estimator", "anchor")
    warmup = items.pop("warmup", None)
    compat = parse_value(items.pop("compat", "false"))
    real = _real_noise_keys(protocol, items, setting)
    setting = setting or "sym50"
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
    if protocol in ("cifar10n", "clothing1m"):
        c.model.stem = "imagenet"  # the code's torchvision ResNets (utils.define_network)
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
    if protocol in REAL_NOISE:
        _real_noise_protocol(c, protocol, real)

    t = c.transition
    t.use = "none" if method == "ce" else method
    t.estimator = estimator
    t.paper_code_compat = bool(compat)
    if warmup is not None:
        t.warmup_epochs = int(warmup)
    elif protocol == "fmnist_cpu":
        t.warmup_epochs = CPU_WARMUP_EPOCHS
    elif protocol == "clothing1m":
        t.warmup_epochs = CLOTHING1M_WARMUP
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
    c = finish(c, ",".join(f"{k}={v}" for k, v in items.items()))
    if protocol == "clothing1m":
        require_model(c, "RENT's Clothing1M recipe")
        require_pretrained(c, "RENT's Clothing1M recipe", real["pretrained"])
    return c


def _real_noise_keys(protocol: str, items: dict, setting: str | None) -> dict:
    """The special keys of the real-noise protocols (popped from ``items``)."""
    out = {
        "label_set": items.pop("label_set", "worse"),
        "sets": items.pop("sets", "rent"),
        "pretrained": parse_value(items.pop("pretrained", "true")),
    }
    if protocol not in REAL_NOISE:
        return out
    if setting is not None:
        raise ValueError(
            f"setting={setting!r}: protocol {protocol!r} trains on real labels (use "
            + ("label_set=" if protocol == "cifar10n" else "the dataset's own labels")
            + "), not a synthetic noise setting"
        )
    if protocol == "cifar10n" and out["label_set"] not in CIFAR10N_SETS:
        raise ValueError(
            f"label_set {out['label_set']!r} is not valid; choose one of {CIFAR10N_SETS}"
        )
    if out["sets"] not in ("rent", "standard"):
        raise ValueError(f"sets {out['sets']!r} is not valid; choose 'rent' or 'standard'")
    if not isinstance(out["pretrained"], bool):
        raise ValueError(f"pretrained={out['pretrained']!r} must be true or false")
    return out


def _real_noise_protocol(c, protocol: str, real: dict) -> None:
    """The dataset fields of ``cifar10n`` / ``clothing1m`` (real labels: noise.kind='real')."""
    c.noise.kind, c.noise.rate, c.noise.mode = "real", 0.0, "ours"
    c.noise.class_map = ""
    if protocol == "cifar10n":
        c.dataset.label_set = real["label_set"]
        return
    c.dataset.pipeline = "stream"
    c.batch_size = CLOTHING1M_BATCH
    c.eval_batch_size = 200  # the code's test batch
    if real["sets"] == "rent":
        c.dataset.train_set = c.dataset.test_set = "rent"


def _paper_warmup(estimator: str) -> int:
    from robustloss.transition import PAPER_WARMUP_EPOCHS

    return PAPER_WARMUP_EPOCHS[estimator]


def get_sweep(arg: str | None = None):
    """The grid of a protocol: ``fmnist_cpu`` (default) is ``results/rent_fmnist.md``'s (CE and
    forward / reweight / DWS / RENT with anchor and true T, settings sym50 and asym40, seeds 0-2:
    54 cells); ``cifar10n`` the README's real-noise columns (CE, forward, reweight, RENT with
    anchor T, the five label sets, seeds 5-9 as the RENT script: 100 cells); ``clothing1m`` its
    Clothing1M column (the same methods, seeds 5-9: 20 cells)."""
    protocol, rest = _split(arg)
    if protocol == "cifar10n":
        methods = [{"method": "ce"}] + [
            {"method": m, "estimator": "anchor"} for m in ("forward", "reweight", "rent")
        ]
        return product(methods, label_set=list(CIFAR10N_SETS), seed=[5, 6, 7, 8, 9])
    if protocol == "clothing1m":
        methods = [{"method": "ce"}] + [
            {"method": m, "estimator": "anchor"} for m in ("forward", "reweight", "rent")
        ]
        return product(methods, seed=[5, 6, 7, 8, 9])
    methods = [{"method": "ce"}] + [
        {"method": m, "estimator": e}
        for e in ("anchor", "true")
        for m in ("forward", "reweight", "dws", "rent")
    ]
    return product(methods, setting=["sym50", "asym40"], seed=[0, 1, 2])
