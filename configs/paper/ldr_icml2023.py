"""LDR-KL / ALDR-KL (Zhu, Ying, Yang, ICML 2023): the released code's protocol as run configs.

``get_config("<dataset>[,key=value,...]")``; the part after the dataset may use the special keys
below plus every key of ``configs/base.py`` (``loss=gce,q=0.7``, dotted fields, ...)::

    python -m experiments.main \
        --config 'configs/paper/ldr_icml2023.py:letter,setting=u60,fold=0,loss=ldr_kl' \
        --workdir /tmp/ldr_letter

``get_sweep("<dataset>")`` is the dataset's whole table: 15 losses with their 5-fold-CV grids
× 7 noise settings × 5 folds (1,225 cells; ``lam_grid=0.1/1/10`` adds the DixianZhu/LDR λ
grid for LDR-KL and ALDR-KL: 1,365 cells)::

    python -m experiments.sweep --config configs/paper/ldr_icml2023.py:vowel --workdir /tmp/ldr_vowel
    python -m experiments.tables --sweep /tmp/ldr_vowel --select val

Source of every setting: the paper and its code, Optimization-AI/ICML2023_LDR at 732fc85; see
``docs/reproducing.md``.

Datasets (``DATASETS``; the code's data files and ``models.py``):
  ``vowel``, ``letter``, ``news20``, ``aloi``: FFNN Linear(d→H)-tanh-Linear(H→H)-tanh-Linear(H→K)
    with H = min(d, K), 100 epochs, lr ÷10 at epochs 50 and 75.
    ``vowel``: mlbench's Vowel.rda (``make data``): 9 numeric features, not LIBSVM's 10 (the
      speaker is a separate column there), so H = 9 instead of 10; speakers 0-7 train (528),
      8-14 test (462).
    ``letter``: mlbench's LetterRecognition.rda (the UCI file, UCI order), features scaled to
      [−1, 1] (min-max on the training rows, which gives the code's x/15·2−1 exactly);
      ``dataset.split="ldr"``: the test set is the authors' ``data/letter_test.npz`` (2,000
      rows, in its order), found in the UCI file row by row (``tools/ldr_letter_split.py``;
      the row numbers ship with the package, no file is needed at run time); the training
      file is the other 18,000 UCI rows **in UCI order** -- a reconstruction, since the
      authors' ``letter_train.npz`` is lost, so the 5 contiguous folds and the training order
      follow it. (``split="last"``, the last 2,000 UCI rows, is what this config used before
      2026-12-06; only 8.9% of the authors' test rows lie there.) With the authors' own files
      use ``dataset=npz,dataset.path=letter_train.npz,dataset.test_path=letter_test.npz``.
    ``news20``, ``aloi``: LIBSVM files the user supplies (``dataset.path=``; News20 ``news20.scale``
      with its ``.t`` test file, densified: 15,935 × 62,061 floats need
      ``max_dense_bytes`` > 4 GB, not settable from a config -- **not supported** in practice);
      ALOI has no official test split: a stratified 20% test split (``test_seed`` 0) is our
      assumption.
  ``kuzushiji49``, ``cifar100``, ``tiny_imagenet``: ResNet-18 (CIFAR stem, PyTorch default init),
    30 epochs, lr ÷10 at epochs 10 and 20.
    ``kuzushiji49``: an ``.npz`` the user builds from the four k49 files (``x`` [N,28,28,1] uint8,
      ``y``; ``x_test``, ``y_test``); reported metric **balanced accuracy** (``select_metric`` =
      ``val/balanced_acc``; tables: ``test/balanced_acc``). Not supported: the code feeds raw
      0-255 values, our npz loader scales integer images to [0, 1].
    ``cifar100``: TFDS. Not supported: the code's RandomCrop(30)+Resize(32) augmentation and its
      CIFAR-10 normalisation constants; we use random crop (pad 4) + flip and [0, 1] inputs.
      ALDR-KL uses softplus + L1 scores here as in the code (= ``softplus_mean``).
    ``tiny_imagenet``: an ``.npz`` the user supplies, already downsampled to 32×32 (the harness
      has no resize; the code's RandomCrop(60)+Resize(32) is not supported; no normalisation as
      in the code). 200 classes, 100,000 train / the 10,000 val images as test.
  ``mini_webvision`` (real web noise; the paper's real-noise experiment): the first 50 classes of WebVision 1.0's
    Google images (65,944), trained in the pipeline of Ma et al. 2020 that the LDR README
    points to (``configs/webvision_mini/*.yaml`` of HanxunH/Active-Passive-Losses): ResNet-50,
    250 epochs, batch 512, SGD lr 0.4, momentum 0.9, Nesterov, weight decay 3e-5, the rate
    × 0.97 after every epoch, gradient-norm clipping 5.0; top-1 and top-5 on the WebVision
    validation set (``test/*``, 2,500) and on the ILSVRC12 validation images of the same 50
    classes (``ilsvrc12_val/*``, 2,500) after every epoch; no validation split (the last epoch
    is reported; ``select_metric="test/top1"`` is an explicit oracle for the summary's best
    epoch). Data: ``dataset.path`` = WebVision 1.0, ``dataset.eval_path`` = the ILSVRC 2012
    validation images in ``<wnid>/`` folders; ``dataset.pipeline="stream"`` (224 px).
    Baselines of that pipeline (``loss_grid_webvision``): CE; GCE q = 0.7; SCE α = 10, β = 1;
    NCE+RCE α = 50, β = 0.1 (RCE with A = log(1e-4): that pipeline's ``loss.py`` clamps the
    one-hot label at 1e-4 in both); LDR-KL and ALDR-KL
    with the code's CIFAR-style values (λ = 10 / λ0 = 10, α = 2, margin 0.1) -- **the λ, λ0,
    α and c the paper used on WebVision are not published**, so those two
    rows are ours, not the paper's. Deviations: the config sets neither ``augment`` nor
    ``dataset.mean``/``std``, so the Ma et al. augmentation (random resized crop 224, flip,
    ImageNet normalisation) is not applied unless given: ``augment=true`` (the stream's
    random-resized crop + flip) and ``dataset.mean``/``dataset.std`` = ImageNet's
    (``robustloss.data.IMAGENET_MEAN`` / ``IMAGENET_STD``); evaluation images are the shorter
    side resized to 224 + the central crop (docs/data.md, "Memory or stream").
Protocol (the code's ``experiment.py`` and the paper's experiments): SGD momentum 0.9 (PyTorch
  semantics), coupled weight decay 5e-3,
  batch 64, fixed data order (``shuffle=False``), learning rate 1e-3 (every README/demo command;
  the paper's lr grid is unknown), noise drawn by the code's generator (``noise.mode="ldr_code"``,
  ``noise.seed=123``) on the whole training file **before** the split (``noise.before_split``),
  5 unshuffled contiguous folds (sklearn ``KFold(5)``: ``dataset.num_folds=5``,
  ``dataset.fold_mode="contiguous"``), one seed, validation labels noisy, test labels clean.
  ``protocol=approx`` instead: a stratified random 20% noisy validation split, noise after it.
Special keys:
  ``setting``: ``clean``, ``u30``, ``u60``, ``u90`` (uniform: replace the label by a uniform
    draw over all K with probability ρ; error rate ρ(K−1)/K), ``cd10``, ``cd30``, ``cd50``
    (class-dependent: flip to the dataset's pair map with probability ρ; Letter/Vowel/News20
    pair swaps, ``(y + 1) mod K`` otherwise). Default ``u60``.
  ``fold``: 0-4 (default 0).
  ``protocol``: ``code`` (default) or ``approx`` (see above).
  ``lam_grid`` (sweeps only): ``10`` (default, Optimization-AI HEAD) or ``0.1/1/10``.
  ``lr_grid`` (sweeps only): e.g. ``0.01/0.1``: every cell once per learning rate, chosen on
    validation like a loss hyperparameter (the paper's lr grid is unknown; default: lr 1e-3 only).
Losses (``loss_grid``): the 13 baselines of the code, each with the code's grid (``experiment.py``), plus
  LDR-KL (λ = 10, margin 0.1, ``softplus_mean`` scores, as the code) and ALDR-KL (λ0 = 10, α = 2,
  margin 0.1, ``l1`` scores; the code's λ update without margin, ``update="code"``). Deviations
  kept on purpose: ``mae`` is the correct MAE 2(1 − p_y) -- the code's MAE is identically zero,
  so its "MAE" column is the untrained network; ``rll`` is the published RLL, not the code's
  variant; ``ww`` uses the code's mean over classes (``reduction="mean"``); ``tgce`` the code's
  pruning schedule (``schedule="code"``); SCE is the code's convex form (1−b)·CE + b·4(1 − p_y);
  NCE+RCE uses the code's A = log(1e-4).
"""

from __future__ import annotations

import math

from configs.base import base_config, finish, parse_arg
from configs.paper._requirements import require_model
from robustloss.sweep import product, zip

SETTINGS = {
    "clean": ("clean", 0.0),
    "u30": ("uniform", 0.3),
    "u60": ("uniform", 0.6),
    "u90": ("uniform", 0.9),
    "cd10": ("pair", 0.1),
    "cd30": ("pair", 0.3),
    "cd50": ("pair", 0.5),
}
NUM_FOLDS = 5
FOLD_MODE = "contiguous"  # sklearn KFold(5) without shuffling
NOISE_SEED = 123  # the code's SEED: np.random.seed(123) before the noise draws
LR = 1e-3
WEIGHT_DECAY = 5e-3

# name -> (dataset.name, model, class map of the class-dependent noise, dataset fields)
DATASETS = {
    "vowel": ("vowel", "ffnn", "vowel", {}),
    "letter": ("letter", "ffnn", "letter", {"scale": "minmax", "split": "ldr"}),
    "news20": ("libsvm", "ffnn", "news20", {}),
    "aloi": ("libsvm", "ffnn", "next", {}),
    "kuzushiji49": ("npz", "resnet18", "next", {}),
    "cifar100": ("cifar100", "resnet18", "next", {}),
    "tiny_imagenet": ("npz", "resnet18", "next", {}),
}
TABULAR = ("vowel", "letter", "news20", "aloi")
# The code's values for the proposed losses when a run names the loss without them.
CODE_DEFAULTS = {
    "ldr_kl": {"lam": 10.0, "margin": 0.1, "score_norm": "softplus_mean"},
    "aldr_kl": {"lam0": 10.0, "alpha": 2.0, "margin": 0.1, "score_norm": "l1", "update": "code"},
}


def loss_grid(lam_grid: tuple[float, ...] = (10.0,), dataset: str = "letter") -> list[dict]:
    """The 15 losses of the LDR code, one cell per grid value (the code's ``experiment.py``; 35 cells by
    default).

    Grid values not from the code: none -- every baseline's grid is the code's
    (``experiment.py``); the λ grid of LDR-KL/ALDR-KL is 10 at Optimization-AI HEAD and
    {0.1, 1, 10} in DixianZhu/LDR (``lam_grid``).
    """
    trio = [0.1, 5.0, 9.9]
    aldr_norm = "softplus_mean" if dataset == "cifar100" else "l1"
    parts = [
        [{"loss": "ce"}],
        product(loss=["cs"], margin=[0.1, 1.0, 10.0]),
        product(loss=["ww"], margin=[0.1, 1.0, 10.0], reduction=["mean"]),
        [{"loss": "mae"}],
        [{"loss": "mse"}],
        product(loss=["gce"], q=[0.05, 0.7, 0.95]),
        product(loss=["tgce"], q=[0.05, 0.7, 0.95], k=[0.5], schedule=["code"]),
        zip(loss=["sce"] * 3, alpha=[0.95, 0.5, 0.05], beta=[0.05, 0.5, 0.95], A=[-4.0] * 3),
        product(loss=["rll"], alpha=[0.1, 1.0, 10.0]),
        product(loss=["js"], pi1=[0.1, 0.5, 0.9]),
        zip(
            loss=["nce_rce"] * 3,
            alpha=trio,
            beta=[round(10 - a, 6) for a in trio],
            A=[math.log(1e-4)] * 3,
        ),
        zip(loss=["nce_agce"] * 3, alpha=trio, beta=[round(10 - a, 6) for a in trio]),
        zip(loss=["nce_aul"] * 3, alpha=trio, beta=[round(10 - a, 6) for a in trio]),
        product(loss=["ldr_kl"], lam=list(lam_grid), margin=[0.1], score_norm=["softplus_mean"]),
        product(
            loss=["aldr_kl"],
            lam0=list(lam_grid),
            alpha=[2.0],
            margin=[0.1],
            score_norm=[aldr_norm],
            update=["code"],
        ),
    ]
    return [cell for part in parts for cell in part]


#: mini-WebVision (Ma et al. 2020's ``configs/webvision_mini``).
WEBVISION = {
    "epochs": 250,
    "batch": 512,
    "lr": 0.4,
    "weight_decay": 3e-5,
    "gamma": 0.97,
    "clip_norm": 5.0,
}


def loss_grid_webvision() -> list[dict]:
    """The mini-WebVision rows: the Ma et al. pipeline's baselines with its values, and LDR-KL /
    ALDR-KL with the code's CIFAR-style values (the WebVision ones are not published)."""
    return [
        {"loss": "ce"},
        {"loss": "gce", "q": 0.7},
        {"loss": "sce", "alpha": 10.0, "beta": 1.0, "A": math.log(1e-4)},
        {"loss": "nce_rce", "alpha": 50.0, "beta": 0.1, "A": math.log(1e-4)},
        {"loss": "ldr_kl", **CODE_DEFAULTS["ldr_kl"]},
        {"loss": "aldr_kl", **CODE_DEFAULTS["aldr_kl"]},
    ]


def _webvision_config(rest: str):
    """The mini-WebVision protocol (module docstring)."""
    items = parse_arg(rest)
    for key in ("setting", "fold", "protocol", "lam_grid", "lr_grid"):
        if key in items:
            raise ValueError(
                f"{key}={items[key]!r} does not apply to mini_webvision (real web noise, no "
                "folds, the Ma et al. pipeline)"
            )
    w = WEBVISION
    c = base_config()
    c.dataset.name = "mini_webvision"
    c.dataset.pipeline = "stream"
    c.model.name = "resnet50"
    c.optimizer.name = "sgd"
    c.optimizer.lr = w["lr"]
    c.optimizer.momentum = 0.9
    c.optimizer.nesterov = True
    c.optimizer.weight_decay = w["weight_decay"]
    c.optimizer.schedule = "step"
    c.optimizer.decay_epochs = tuple(range(1, w["epochs"]))  # × gamma after every epoch
    c.optimizer.decay_factor = w["gamma"]
    c.optimizer.clip_norm = w["clip_norm"]
    c.batch_size = w["batch"]
    c.num_epochs = w["epochs"]
    c.eval_every = 1
    c.checkpoint_every = 5
    c.eval_batch_size = 500
    c.noise.kind, c.noise.rate = "real", 0.0
    c.select_metric = "test/top1"
    c.progress = "lines"
    c.loss.name = "ce"
    loss = items.setdefault("loss", "ce")
    for k, v in CODE_DEFAULTS.get(loss, {}).items():
        items.setdefault(k, str(v))
    c = finish(c, ",".join(f"{k}={v}" for k, v in items.items()))
    require_model(c, "LDR's mini-WebVision protocol (ResNet-50)")
    return c


def _split(arg: str | None) -> tuple[str, str]:
    if not arg:
        return "letter", ""
    first, _, rest = arg.partition(",")
    if "=" in first:
        return "letter", arg
    return first.strip(), rest


def get_config(arg: str | None = None):
    name, rest = _split(arg)
    if name == "mini_webvision":
        return _webvision_config(rest)
    if name not in DATASETS:
        raise ValueError(
            f"dataset {name!r} is not valid; choose one of {list(DATASETS) + ['mini_webvision']}"
        )
    items = parse_arg(rest)
    setting = items.pop("setting", "u60")
    fold = int(items.pop("fold", "0"))
    protocol = items.pop("protocol", "code")
    items.pop("lam_grid", None)  # get_sweep keys; cells pass them through
    items.pop("lr_grid", None)
    if setting not in SETTINGS:
        raise ValueError(f"setting {setting!r} is not valid; choose one of {list(SETTINGS)}")
    if not 0 <= fold < NUM_FOLDS:
        raise ValueError(f"fold={fold} is not valid; choose one of {list(range(NUM_FOLDS))}")
    if protocol not in ("code", "approx"):
        raise ValueError(f"protocol {protocol!r} is not valid; choose 'code' or 'approx'")

    ds_name, model, class_map, fields = DATASETS[name]
    c = base_config()
    c.dataset.name = ds_name
    for k, v in fields.items():
        c.dataset[k] = v
    c.model.name = model
    c.model.hidden = 0  # H = min(d, K)
    c.optimizer.name = "sgd"
    c.optimizer.lr = LR
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = WEIGHT_DECAY
    c.optimizer.schedule = "step"
    c.batch_size = 64
    c.shuffle = False
    if name in TABULAR:
        c.num_epochs, c.optimizer.decay_epochs = 100, (50, 75)
        c.checkpoint_every = 100  # a checkpoint per epoch doubles a tabular run's wall time
    else:
        c.num_epochs, c.optimizer.decay_epochs = 30, (10, 20)
        c.checkpoint_every = 5
        c.augment = name == "cifar100"
    c.eval_batch_size = 2000
    c.progress = "lines"
    c.select_metric = "val/balanced_acc" if name == "kuzushiji49" else "val/top1"

    kind, rate = SETTINGS[setting]
    c.noise.kind, c.noise.rate = kind, rate
    c.noise.mode = "ldr_code" if kind != "clean" else "ours"
    c.noise.seed = NOISE_SEED
    if kind == "pair":
        c.noise.class_map = class_map
    c.noise.noisy_val = True
    if protocol == "code":
        c.dataset.num_folds = NUM_FOLDS
        c.dataset.fold = fold
        c.dataset.fold_mode = FOLD_MODE
        c.noise.before_split = True
    else:
        c.dataset.val_fraction = 0.2
        c.dataset.split_seed = fold
    c.loss.name = "ldr_kl"
    loss = items.setdefault("loss", "ldr_kl")
    for k, v in CODE_DEFAULTS.get(loss, {}).items():
        items.setdefault(k, str(v))
    if loss == "aldr_kl" and name == "cifar100":
        items.setdefault("score_norm", "softplus_mean")
    return finish(c, ",".join(f"{k}={v}" for k, v in items.items()))


def get_sweep(arg: str | None = None):
    name, rest = _split(arg)
    if name == "mini_webvision":  # one run per loss (the paper reports one per loss)
        return loss_grid_webvision()
    items = parse_arg(rest)
    lam_grid = tuple(float(v) for v in items.get("lam_grid", "10").split("/") if v)
    axes = {"setting": list(SETTINGS), "fold": list(range(NUM_FOLDS))}
    if "lr_grid" in items:  # the paper's lr grid is unknown: tune it like the losses' grids
        axes["lr"] = [float(v) for v in items["lr_grid"].split("/") if v]
    return product(loss_grid(lam_grid, name), **axes)
