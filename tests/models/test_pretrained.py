"""Pretrained initialisation: torchvision-layout ResNet weights through our flax ResNets.

The state dicts are generated here in torchvision's naming and layout (nothing downloads). The
reference forward passes work in torchvision's own layout (NCHW, OIHW): a NumPy transcription
(always), and PyTorch's own modules where torch is importable (the bench extra).
"""

import functools
import os
import pickle
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustloss.models import ResNet, get_model, load_torchvision_resnet, read_weights

STAGES = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3), "resnet50": (3, 4, 6, 3)}
# Small networks for the forward checks (compiling a whole ResNet-50 takes minutes on a loaded
# 2-core machine); the table's full ResNets are checked for names and shapes without compiling.
MINI = {"bottleneck": (2, 1, 1, 1), "basic": (1, 2, 1, 1)}


def torchvision_state_dict(stages, bottleneck, width, k, c_in=3, seed=0, stem="imagenet"):
    """A random state dict with torchvision's names, shapes (OIHW) and BatchNorm buffers."""
    rng = np.random.default_rng(seed)
    sd = {}

    def conv(key, o, i, kk):
        sd[f"{key}.weight"] = rng.normal(0, (2 / (i * kk * kk)) ** 0.5, (o, i, kk, kk)).astype(
            np.float32
        )

    def bn(key, c):
        sd[f"{key}.weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        sd[f"{key}.bias"] = rng.normal(0, 0.1, c).astype(np.float32)
        sd[f"{key}.running_mean"] = rng.normal(0, 0.1, c).astype(np.float32)
        sd[f"{key}.running_var"] = rng.uniform(0.5, 2.0, c).astype(np.float32)
        sd[f"{key}.num_batches_tracked"] = np.array(7, np.int64)

    conv("conv1", width, c_in, 7 if stem == "imagenet" else 3)
    bn("bn1", width)
    c = width
    for s, n in enumerate(stages):
        w = width * 2**s
        out = 4 * w if bottleneck else w
        for b in range(n):
            p = f"layer{s + 1}.{b}"
            stride = 2 if s > 0 and b == 0 else 1
            if bottleneck:
                conv(f"{p}.conv1", w, c, 1), bn(f"{p}.bn1", w)
                conv(f"{p}.conv2", w, w, 3), bn(f"{p}.bn2", w)
                conv(f"{p}.conv3", out, w, 1), bn(f"{p}.bn3", out)
            else:
                conv(f"{p}.conv1", w, c, 3), bn(f"{p}.bn1", w)
                conv(f"{p}.conv2", w, w, 3), bn(f"{p}.bn2", w)
            if stride != 1 or c != out:
                conv(f"{p}.downsample.0", out, c, 1), bn(f"{p}.downsample.1", out)
            c = out
    sd["fc.weight"] = rng.normal(0, c**-0.5, (k, c)).astype(np.float32)
    sd["fc.bias"] = rng.normal(0, 0.1, k).astype(np.float32)
    return sd


def table_state_dict(name, width, k, **kw):
    return torchvision_state_dict(STAGES[name], name == "resnet50", width, k, **kw)


# ------------------------------------------------------------- NumPy transcription (NCHW, OIHW)
def np_conv(x, w, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kh, kw = w.shape[2:]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]  # [B, C, H', W', kh, kw]
    return np.tensordot(win, w, axes=((1, 4, 5), (1, 2, 3))).transpose(0, 3, 1, 2)


def np_bn(x, sd, key):
    g, b = sd[f"{key}.weight"], sd[f"{key}.bias"]
    m, v = sd[f"{key}.running_mean"], sd[f"{key}.running_var"]
    r = lambda a: a[None, :, None, None]
    return (x - r(m)) / np.sqrt(r(v) + 1e-5) * r(g) + r(b)


def np_maxpool(x):  # 3x3, stride 2, padding 1 (-inf), torchvision's stem
    x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    return win.max(axis=(-1, -2))


relu = lambda a: np.maximum(a, 0)


def np_stem(sd, x):
    return np_maxpool(relu(np_bn(np_conv(x, sd["conv1.weight"], 2, 3), sd, "bn1")))


def np_bottleneck(sd, p, x, stride):
    y = relu(np_bn(np_conv(x, sd[f"{p}.conv1.weight"], 1, 0), sd, f"{p}.bn1"))
    y = relu(np_bn(np_conv(y, sd[f"{p}.conv2.weight"], stride, 1), sd, f"{p}.bn2"))
    y = np_bn(np_conv(y, sd[f"{p}.conv3.weight"], 1, 0), sd, f"{p}.bn3")
    if f"{p}.downsample.0.weight" in sd:
        x = np_bn(np_conv(x, sd[f"{p}.downsample.0.weight"], stride, 0), sd, f"{p}.downsample.1")
    return relu(x + y)


def np_basic(sd, p, x, stride):
    y = relu(np_bn(np_conv(x, sd[f"{p}.conv1.weight"], stride, 1), sd, f"{p}.bn1"))
    y = np_bn(np_conv(y, sd[f"{p}.conv2.weight"], 1, 1), sd, f"{p}.bn2")
    if f"{p}.downsample.0.weight" in sd:
        x = np_bn(np_conv(x, sd[f"{p}.downsample.0.weight"], stride, 0), sd, f"{p}.downsample.1")
    return relu(x + y)


def np_resnet(sd, stages, bottleneck, x_nchw):
    block = np_bottleneck if bottleneck else np_basic
    h = np_stem(sd, x_nchw)
    for s, n in enumerate(stages):
        for b in range(n):
            h = block(sd, f"layer{s + 1}.{b}", h, 2 if s > 0 and b == 0 else 1)
    return h.mean(axis=(2, 3)) @ sd["fc.weight"].T + sd["fc.bias"]


def _variables(model, shape, seed=1):
    """Initial variables with the model's shapes, without compiling its init (eval_shape)."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, *shape))))
    return jax.tree.map(lambda a: rng.uniform(0.5, 1.0, a.shape).astype(a.dtype), shapes)


def _apply(model, variables, x, **kw):
    return jax.jit(functools.partial(model.apply, **kw))(variables, x)


def _mini(block, k, width, stem="imagenet"):
    return ResNet(k, stage_sizes=MINI[block], width=width, stem=stem, block=block)


def _num_tensors(sd):  # every tensor but BatchNorm's num_batches_tracked is used
    return sum(not k.endswith("num_batches_tracked") for k in sd)


def _x(seed=0, size=32):
    return np.random.default_rng(seed).normal(size=(2, size, size, 3)).astype(np.float32)


def test_bottleneck_resnet_logits_equal_a_numpy_transcription_of_torchvision():
    sd = torchvision_state_dict(MINI["bottleneck"], True, width=2, k=5)
    x = _x()
    model = _mini("bottleneck", 5, 2)
    v = _variables(model, x.shape[1:])
    params, stats, report = load_torchvision_resnet(sd, model, v["params"], v["batch_stats"])
    assert report["loaded"] == _num_tensors(sd) and not report["new_head"]
    logits, inter = _apply(
        model, {"params": params, "batch_stats": stats}, x, capture_intermediates=True
    )
    # The stem and the first bottleneck block alone (intermediate features) ...
    ours_b0 = np.asarray(inter["intermediates"]["_Bottleneck_0"]["__call__"][0])
    ref_b0 = np_bottleneck(sd, "layer1.0", np_stem(sd, x.transpose(0, 3, 1, 2)), 1)
    np.testing.assert_allclose(ours_b0.transpose(0, 3, 1, 2), ref_b0, rtol=1e-4, atol=1e-4)
    # ... and the whole network (a block without projection: layer1.1).
    ref = np_resnet(sd, MINI["bottleneck"], True, x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(np.asarray(logits), ref, rtol=1e-4, atol=1e-4)


def test_basic_resnet_logits_equal_numpy_and_the_head_is_new_when_k_differs():
    sd = torchvision_state_dict(MINI["basic"], False, width=4, k=1000)
    x = _x(1)
    model = _mini("basic", 7, 4)
    v = _variables(model, x.shape[1:])
    params, stats, report = load_torchvision_resnet(sd, model, v["params"], v["batch_stats"])
    assert report["new_head"]
    head = params["Dense_0"]
    np.testing.assert_array_equal(head["kernel"], v["params"]["Dense_0"]["kernel"])  # kept
    # Features before the head equal torchvision's; the head is ours.
    feats = np_resnet(
        {**sd, "fc.weight": np.eye(32, dtype=np.float32), "fc.bias": 0},
        MINI["basic"],
        False,
        x.transpose(0, 3, 1, 2),
    )
    ref = feats @ np.asarray(head["kernel"]) + np.asarray(head["bias"])
    out = _apply(model, {"params": params, "batch_stats": stats}, x)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
def test_table_resnets_take_every_torchvision_tensor(name):
    sd = table_state_dict(name, width=2, k=6)
    model = get_model(name, 6, width=2, stem="imagenet")
    v = _variables(model, (32, 32, 3))
    params, stats, report = load_torchvision_resnet(sd, model, v["params"], v["batch_stats"])
    assert report["loaded"] == _num_tensors(sd) and not report["new_head"]
    last = "_Bottleneck_15" if name == "resnet50" else f"_BasicBlock_{sum(STAGES[name]) - 1}"
    tv = "layer4.2.conv3" if name == "resnet50" else f"layer4.{STAGES[name][3] - 1}.conv2"
    conv = "Conv_2" if name == "resnet50" else "Conv_1"
    np.testing.assert_array_equal(
        params[last][conv]["kernel"], sd[f"{tv}.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(params["Dense_0"]["kernel"], sd["fc.weight"].T)


def test_weights_broadcast_to_vmapped_runs():
    sd = table_state_dict("resnet18", width=2, k=3)
    model = get_model("resnet18", 3, width=2, stem="imagenet")
    one = _variables(model, (32, 32, 3))
    stacked = jax.tree.map(lambda a: np.stack([a, a]), one)
    params, stats, _ = load_torchvision_resnet(
        sd, model, stacked["params"], stacked["batch_stats"], runs=2
    )
    k = params["Conv_0"]["kernel"]
    assert k.shape == (2, 7, 7, 3, 2)
    np.testing.assert_array_equal(k[1], sd["conv1.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(stats["BatchNorm_0"]["var"][0], sd["bn1.running_var"])


def test_mismatching_weights_fail_listing_every_name():
    sd = table_state_dict("resnet50", width=2, k=5)

    def load(name, **kw):
        model = get_model(name, 5, width=2, **kw)
        v = _variables(model, (32, 32, 3))
        return load_torchvision_resnet(sd, model, v["params"], v["batch_stats"])

    with pytest.raises(ValueError) as e:  # ResNet-50 weights into a ResNet-18
        load("resnet18", stem="imagenet")
    msg = str(e.value)
    assert "layer1.0.conv1.weight: file (2, 2, 1, 1), model (2, 2, 3, 3)" in msg
    assert "layer1.2.conv3.weight" in msg and "unexpected tensors" in msg
    stem = r"conv1.weight: file \(2, 3, 7, 7\), model \(2, 3, 3, 3\)"
    with pytest.raises(ValueError, match=stem):
        load("resnet50", stem="cifar")  # a CIFAR stem against ImageNet weights
    del sd["layer2.0.bn2.running_var"]
    with pytest.raises(ValueError, match=r"missing tensors \['layer2.0.bn2.running_var"):
        load("resnet50", stem="imagenet")
    with pytest.raises(ValueError, match="into the ResNets"):
        load_torchvision_resnet(sd, get_model("ffnn", 3), {}, {})


def test_weight_files_safetensors_and_npz(tmp_path):
    sd = table_state_dict("resnet18", width=2, k=3)
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in sd.items()}, tmp_path / "w.safetensors")
    np.savez(tmp_path / "w.npz", **{f"module.{k}": v for k, v in sd.items()})  # DataParallel
    for f in ("w.safetensors", "w.npz"):
        got = read_weights(tmp_path / f)
        assert set(got) == set(sd)
        for k in sd:
            np.testing.assert_array_equal(got[k], sd[k])
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        read_weights(tmp_path / "nope.pth")
    (tmp_path / "old.pth").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="legacy, non-zip"):
        read_weights(tmp_path / "old.pth")


def _torch_zip(path, pkl: bytes):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", np.arange(6, dtype=np.float32).tobytes())


def test_pth_reader_runs_nothing_but_tensors(tmp_path):
    marker = tmp_path / "pwned"
    # A pickle that would call os.system if it were unpickled with pickle.load.
    evil = b"\x80\x02cos\nsystem\nX" + f"touch {marker}".encode().__len__().to_bytes(4, "little")
    evil += f"touch {marker}".encode() + b"\x85R."
    _torch_zip(tmp_path / "evil.pth", evil)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (os|posix)\.system"):
        read_weights(tmp_path / "evil.pth")
    assert not marker.exists()
    # A hand-written state dict pickle (torch's opcodes): one transposed 3x2 view of a storage.
    pkl = (
        b"\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00w"
        b"ctorch._utils\n_rebuild_tensor_v2\n"
        b"((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
        b"K\x06tQK\x00K\x03K\x02\x86K\x01K\x03\x86\x89)tRu."
    )
    _torch_zip(tmp_path / "ok.pth", pkl)
    got = read_weights(tmp_path / "ok.pth")
    np.testing.assert_array_equal(got["w"], np.arange(6, dtype=np.float32).reshape(2, 3).T)


torch = None
try:  # the bench extra; CI without torch checks the NumPy transcription above
    import torch
except ImportError:
    pass


def _torch_resnet(stages, bottleneck, width, k):
    """torchvision's ResNet architecture and names, written with torch.nn (no torchvision)."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, c, w, stride):
            super().__init__()
            out = 4 * w if bottleneck else w
            if bottleneck:
                self.conv1, self.bn1 = nn.Conv2d(c, w, 1, bias=False), nn.BatchNorm2d(w)
                self.conv2 = nn.Conv2d(w, w, 3, stride, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(w)
                self.conv3, self.bn3 = nn.Conv2d(w, out, 1, bias=False), nn.BatchNorm2d(out)
            else:
                self.conv1 = nn.Conv2d(c, w, 3, stride, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(w)
                self.conv2, self.bn2 = nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w)
            self.downsample = None
            if stride != 1 or c != out:
                self.downsample = nn.Sequential(
                    nn.Conv2d(c, out, 1, stride, bias=False), nn.BatchNorm2d(out)
                )
            self.out = out

        def forward(self, x):
            r = torch.relu
            y = r(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            if bottleneck:
                y = self.bn3(self.conv3(r(y)))
            return r((x if self.downsample is None else self.downsample(x)) + y)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            c = width
            for s, n in enumerate(stages):
                blocks = []
                for b in range(n):
                    blocks.append(Block(c, width * 2**s, 2 if s > 0 and b == 0 else 1))
                    c = blocks[-1].out
                setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
            self.fc = nn.Linear(c, k)

        def forward(self, x):
            x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
            for s in range(4):
                x = getattr(self, f"layer{s + 1}")(x)
            return self.fc(x.mean(dim=(2, 3)))

    return Net()


@pytest.mark.skipif(torch is None, reason="torch not installed (bench extra); NumPy checks ran")
@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_torch_save_file_gives_pytorchs_logits(block, tmp_path):
    bottleneck = block == "bottleneck"
    sd = torchvision_state_dict(MINI[block], bottleneck, width=2, k=4, seed=3)
    net = _torch_resnet(MINI[block], bottleneck, 2, 4)
    net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in sd.items()}, strict=True)
    net.eval()
    torch.save(net.state_dict(), tmp_path / "w.pth")
    x = _x(2)
    with torch.no_grad():
        ref = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    model = _mini(block, 4, 2)
    v = _variables(model, (32, 32, 3))
    params, stats, _ = load_torchvision_resnet(
        os.fspath(tmp_path / "w.pth"), model, v["params"], v["batch_stats"]
    )
    out = np.asarray(_apply(model, {"params": params, "batch_stats": stats}, x))
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
