"""The real-noise paper configs: RENT's CIFAR-10N and Clothing1M protocols, LDR's mini-WebVision
protocol and the CIFAR-N benchmark recipe. Each one's ``--dry_run`` prints the plan and the
cost, and each trains one epoch on its miniature directory as written -- Clothing1M and
mini-WebVision streamed (``dataset.pipeline="stream"``), CIFAR-N in memory -- with a tiny
``ffnn`` and small images through overrides (generated images: a test, not a result)."""

import os

import numpy as np
import pytest

from robustloss.sweep import load_cells, run_sweep
from robustloss.training import train, validate_config
from tests import ROOT
from tests.data import miniatures as m

PAPER = os.path.join(ROOT, "configs", "paper")
TINY = "model=ffnn,model.hidden=8,epochs=1,batch=16,eval_batch_size=64,progress=none"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper_real")
    c10 = root / "c10n"
    c10.mkdir()
    labels = m.fake_cifar10n(seed=11)
    m.write_torch_zip(str(c10 / "CIFAR-10_human.pt"), labels)
    m.write_cifar10_python(str(c10), labels["clean_label"], rows=40, test_rows=16)
    c100 = root / "c100n"
    c100.mkdir()
    l100 = m.fake_cifar100n(seed=12)
    m.write_torch_zip(str(c100 / "CIFAR-100_human.pt"), l100)
    m.write_cifar100_python(str(c100), l100["clean_label"], l100["clean_coarse_label"], rows=40)
    m.make_clothing1m(str(root / "c1m"))
    m.make_mini_webvision(str(root / "wv"))
    return {k: str(root / d) for k, d in
            [("cifar10n", "c10n"), ("cifar100n", "c100n"), ("clothing1m", "c1m"),
             ("mini_webvision", "wv")]}  # fmt: skip


def _dry(config: str, tmp_path) -> str:
    lines = []
    report = run_sweep(load_cells(config), str(tmp_path), dry_run=True, log=lines.append)
    assert report["trained"] == 0 and report["cells"] > 0
    return "\n".join(lines)


@pytest.mark.parametrize(
    "config, cells, images",
    [
        ("rent_iclr2024.py:cifar10n", 100, "50,000 training images"),
        ("cifar_n.py:cifar10n", 15, "50,000 training images"),
        ("cifar_n.py:cifar100n", 6, "50,000 training images"),
    ],
)
def test_dry_run_prints_the_plan_and_cost(config, cells, images, tmp_path):
    text = _dry(os.path.join(PAPER, config), tmp_path)
    assert f"{cells} cells" in text and images in text
    assert "training examples processed" in text and "run-epochs" in text


def test_dry_runs_of_the_resnet50_recipes(tmp_path):
    """Clothing1M (RENT) and mini-WebVision (LDR) plan with ResNet-50, stream-sized; the RENT
    recipe needs its pretrained weights named (or pretrained=false) and a readable file type."""
    clothing = os.path.join(PAPER, "rent_iclr2024.py:clothing1m")
    with pytest.raises(ValueError, match="fine-tunes ImageNet-pretrained weights"):
        load_cells(clothing)
    with pytest.raises(ValueError, match=r"r50\.bin.*not a weight file this build reads"):
        load_cells(clothing + ",model.init_path=/x/r50.bin")
    for config, extra in (
        ("rent_iclr2024.py:clothing1m", ",model.init_path=/x/r50.pth"),
        ("rent_iclr2024.py:clothing1m", ",pretrained=false"),
        ("ldr_icml2023.py:mini_webvision", ""),
    ):
        path = os.path.join(PAPER, config) + extra
        assert {c.config["model"]["name"] for c in load_cells(path)} == {"resnet50"}
        text = _dry(path, tmp_path)
        assert "pipeline=stream" in text and "training examples processed" in text


def test_cifar_n_recipe_and_rent_real_noise_fields():
    from configs.paper import cifar_n, rent_iclr2024

    c = cifar_n.get_config("cifar10n,label_set=aggre")
    validate_config(c)
    assert (c.model.name, c.optimizer.lr, c.optimizer.weight_decay, c.batch_size) == (
        "resnet34",
        0.1,
        5e-4,
        128,
    )
    assert c.num_epochs == 100 and c.optimizer.decay_epochs == (60,)
    assert c.select_metric == "test/top1" and c.noise.kind == "real"  # best epoch = oracle
    assert cifar_n.get_config("cifar100n").dataset.label_set == "noisy"
    with pytest.raises(ValueError, match="label_set 'worse' is not valid for cifar100n"):
        cifar_n.get_config("cifar100n,label_set=worse")
    r = rent_iclr2024.get_config("cifar10n,label_set=random2,method=reweight,estimator=true")
    validate_config(r)
    assert (
        r.dataset.label_set == "random2" and r.noise.kind == "real" and r.model.stem == "imagenet"
    )
    with pytest.raises(ValueError, match="real labels"):
        rent_iclr2024.get_config("cifar10n,setting=asym40")
    c1m = rent_iclr2024.get_config("clothing1m,model=resnet34,pretrained=false")
    assert (c1m.dataset.train_set, c1m.dataset.test_set, c1m.batch_size) == ("rent", "rent", 100)
    std = rent_iclr2024.get_config("clothing1m,model=resnet34,pretrained=false,sets=standard")
    assert std.dataset.train_set == "" and std.dataset.pipeline == "stream"
    with pytest.raises(ValueError, match="pretrained"):
        rent_iclr2024.get_config("clothing1m,model=resnet34")
    pth = rent_iclr2024.get_config("clothing1m,model.init_path=/w/resnet50.pth")
    assert (pth.model.name, pth.model.init_path) == ("resnet50", "/w/resnet50.pth")


@pytest.mark.parametrize(
    "module, arg, path_key",
    [
        ("cifar_n", "cifar10n,label_set=random3", "cifar10n"),
        ("cifar_n", "cifar100n,label_set=noisy_coarse", "cifar100n"),
        (
            "rent_iclr2024",
            "cifar10n,label_set=worse,method=rent,estimator=true,warmup=0",
            "cifar10n",
        ),
        ("rent_iclr2024", "clothing1m,method=ce,pretrained=false", "clothing1m"),
        ("ldr_icml2023", "mini_webvision,loss=gce,q=0.7", "mini_webvision"),
    ],
)
def test_one_epoch_on_the_miniature(module, arg, path_key, data):
    import importlib

    mod = importlib.import_module(f"configs.paper.{module}")
    extra = f"dataset.path={data[path_key]},dataset.partial=True"
    streamed = path_key in ("clothing1m", "mini_webvision")
    if streamed:
        extra += ",dataset.image_size=4,dataset.threads=2"
    c = mod.get_config(f"{arg},{TINY},{extra}")
    assert c.dataset.pipeline == ("stream" if streamed else "memory")  # the config's own
    s = train(c, None)  # no workdir: nothing written (the harness tests check summary.json)
    assert s["complete"] and s["num_epochs"] == 1
    assert s["noise"]["dataset"] == path_key
    if path_key.startswith("cifar"):
        assert 0.0 <= s["noise"]["realised_rate"] <= 1.0 and "train/acc_clean" in s["final"]
        assert np.allclose(np.asarray(s["noise"]["T"]).sum(1), 1.0)
    else:  # clean training labels only partly (Clothing1M) or not at all (mini-WebVision)
        assert "train/acc_clean" not in s["final"]
    if path_key == "clothing1m":
        assert "val/top1" in s["final"] and s["noise"]["rows_with_clean_label"] == 6
    if path_key == "mini_webvision":
        assert {"ilsvrc12_val/top1", "ilsvrc12_val/top5", "test/top5"} <= set(s["final"])
        assert "noise/realised_rate" not in s["final"] and s["noise"]["realised_rate"] is None
