"""Tests of robustloss.models: architectures (parameter counts), initialisation, BatchNorm."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robustloss.models import (
    PatchConv,
    ResNet,
    conv2d_cnhw,
    default_epoch_mode,
    get_model,
    list_models,
    max_pool_2x2,
)


def _num_params(model, x_shape):
    shapes = jax.eval_shape(
        lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(x_shape), train=False)
    )
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(shapes["params"]))


def test_registry():
    assert list_models() == ["ffnn", "lenet", "resnet18", "resnet34", "resnet50"]
    with pytest.raises(ValueError, match=r"unknown model 'mlp'; choose one of \['ffnn'"):
        get_model("mlp", 10)
    with pytest.raises(ValueError, match="num_classes"):
        get_model("ffnn", 1)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['hidden'\] for model 'lenet'"):
        get_model("lenet", 10, hidden=3)
    assert default_epoch_mode("ffnn") == "scan"
    assert default_epoch_mode("lenet") == "scan"
    assert default_epoch_mode("resnet18") == "loop"


def test_parameter_counts_match_hand_counts():
    # FFNN on Letter: d=16, K=26, H=min(16, 26)=16.
    assert _num_params(get_model("ffnn", 26), (1, 16)) == (16 * 16 + 16) * 2 + 16 * 26 + 26
    # LeNet-5 (RENT): conv 1->6 5x5, conv 6->16 5x5, FC 400-120-84-10.
    lenet = 6 * 25 + 6 + 16 * 6 * 25 + 16 + 400 * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10
    assert _num_params(get_model("lenet", 10), (1, 28, 28, 1)) == lenet == 61706
    # CIFAR ResNet-18/34 (kuangliu): the well-known 11,173,962 and 21,282,122 for K=10.
    assert _num_params(get_model("resnet18", 10), (1, 32, 32, 3)) == 11173962
    assert _num_params(get_model("resnet34", 10), (1, 32, 32, 3)) == 21282122
    # torchvision-style stem (RENT code), 1 input channel, K=10: 11,689,512 (ImageNet ResNet-18)
    # - 3*7*7*64 + 1*7*7*64 (input channels) - 513*1000 + 513*10 (head).
    imagenet = 11689512 - 2 * 49 * 64 - 513 * 990
    assert _num_params(get_model("resnet18", 10, stem="imagenet"), (1, 28, 28, 1)) == imagenet
    with pytest.raises(ValueError, match="stem"):
        get_model("resnet18", 10, stem="vgg")
    # torchvision's ResNet-50 (v1.5 bottleneck, ImageNet stem, K=1000): 25,557,032.
    assert _num_params(get_model("resnet50", 1000, stem="imagenet"), (1, 224, 224, 3)) == 25557032


def test_ffnn_init_statistics_and_forward():
    d, k = 64, 80  # H = 64
    model = get_model("ffnn", k)
    v = model.init(jax.random.PRNGKey(1), jnp.zeros((1, d)))["params"]
    w0, w2 = np.asarray(v["Dense_0"]["kernel"]), np.asarray(v["Dense_2"]["kernel"])
    assert w0.shape == (d, 64) and w2.shape == (64, k)
    np.testing.assert_allclose(w0.std(), np.sqrt(2 / (d + 64)), rtol=0.1)  # xavier normal
    np.testing.assert_allclose(w2.std(), np.sqrt(2 / (64 + k)), rtol=0.1)
    b0 = np.asarray(v["Dense_0"]["bias"])
    assert np.abs(b0).max() <= 1 / np.sqrt(d) and np.abs(b0).max() > 0.5 / np.sqrt(d)
    # Forward pass equals a NumPy transcription.
    x = np.random.default_rng(0).normal(size=(3, d)).astype(np.float32)
    h = np.tanh(x @ w0 + b0)
    h = np.tanh(h @ np.asarray(v["Dense_1"]["kernel"]) + np.asarray(v["Dense_1"]["bias"]))
    ref = h @ w2 + np.asarray(v["Dense_2"]["bias"])
    out = model.apply({"params": v}, x)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_lenet_shapes_and_relu_max_pool():
    model = get_model("lenet", 10)
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 28, 28, 1))
    v = jax.jit(model.init)(jax.random.PRNGKey(0), x)
    assert "batch_stats" not in v
    assert jax.jit(model.apply)(v, x).shape == (2, 10)
    assert v["params"]["PatchConv_0"]["kernel"].shape == (5, 5, 1, 6)
    assert v["params"]["Dense_0"]["kernel"].shape == (400, 120)


def test_resnet_batchnorm_train_vs_eval():
    model = ResNet(num_classes=5, stage_sizes=(1, 1), width=4)  # small: compile time
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 16, 16, 3)) * 3 + 1
    v = jax.jit(lambda k, x: model.init(k, x, train=False))(jax.random.PRNGKey(0), x)
    assert "batch_stats" in v
    logits, upd = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(v, x)
    assert logits.shape == (4, 5)
    # The stem's running mean moves 10% towards the batch mean (PyTorch momentum 0.1).
    conv = jax.lax.conv_general_dilated(
        x,
        v["params"]["Conv_0"]["kernel"],
        (1, 1),
        ((1, 1), (1, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    expect = 0.1 * np.asarray(conv).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(
        upd["batch_stats"]["BatchNorm_0"]["mean"], expect, rtol=1e-4, atol=1e-6
    )
    # Eval mode uses the running statistics, so it differs from train mode.
    assert not np.allclose(jax.jit(model.apply)(v, x), logits)


def test_patch_conv_equals_lax_convolution():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 9, 8, 3))
    for pad in (0, 2):
        conv = PatchConv(4, (5, 3), padding=pad, bias_init=jax.nn.initializers.normal())
        v = conv.init(jax.random.PRNGKey(1), x)
        ref = (
            jax.lax.conv_general_dilated(
                x,
                v["params"]["kernel"],
                (1, 1),
                ((pad, pad), (pad, pad)),
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )
            + v["params"]["bias"]
        )
        np.testing.assert_allclose(conv.apply(v, x), ref, rtol=1e-5, atol=1e-5)


def _ties_input(key, shape):
    """Random values with constant blocks (ties inside pooling windows) and exact zeros."""
    x = jax.random.normal(key, shape)
    x = x.at[:, : shape[1] // 2, : shape[2] // 2].set(0.5)  # a constant region
    return jnp.where(jnp.abs(x) < 0.3, 0.0, x)  # zeros as after a ReLU


def test_max_pool_2x2_equals_flax_max_pool_values_and_gradients():
    x = _ties_input(jax.random.PRNGKey(0), (3, 8, 6, 4))
    w = jax.random.normal(jax.random.PRNGKey(1), (3, 4, 3, 4))
    ref = lambda x: jnp.sum(nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2)) * w)
    new = lambda x: jnp.sum(max_pool_2x2(nn.relu(x), 1) * w)
    np.testing.assert_array_equal(max_pool_2x2(x, 1), nn.max_pool(x, (2, 2), strides=(2, 2)))
    np.testing.assert_array_equal(ref(x), new(x))
    # Ties go to the first maximum of each window (select_and_scatter), bit for bit.
    np.testing.assert_array_equal(jax.grad(new)(x), jax.grad(ref)(x))
    # The CNHW layout of LeNet5 (pooled axes 2, 3) gives the same numbers.
    to_cnhw = lambda t: jnp.transpose(t, (3, 0, 1, 2))
    new_cnhw = lambda xc: jnp.sum(max_pool_2x2(nn.relu(xc), 2) * to_cnhw(w))
    np.testing.assert_array_equal(jax.grad(new_cnhw)(to_cnhw(x)), to_cnhw(jax.grad(ref)(x)))
    with pytest.raises(ValueError, match="even"):
        max_pool_2x2(jnp.zeros((1, 5, 4, 1)), 1)


def test_conv2d_cnhw_equals_lax_convolution_values_and_gradients():
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 2, 9, 8))  # [C, B, H, W]
    k = jax.random.normal(jax.random.PRNGKey(1), (5, 3, 3, 4))  # non-square kernel
    b = jax.random.normal(jax.random.PRNGKey(2), (4,))
    for pad in (0, 2):
        out_shape = (4, 2, 9 + 2 * pad - 4, 8 + 2 * pad - 2)
        r = jax.random.normal(jax.random.PRNGKey(3), out_shape)

        def ref(x, k, b, pad=pad, r=r):
            y = jax.lax.conv_general_dilated(
                x, k, (1, 1), ((pad, pad), (pad, pad)), dimension_numbers=("CNHW", "HWIO", "CNHW")
            )
            return jnp.sum((y + b[:, None, None, None]) * r)

        new = lambda x, k, b, pad=pad, r=r: jnp.sum(conv2d_cnhw(x, k, b, pad) * r)
        np.testing.assert_allclose(new(x, k, b), ref(x, k, b), rtol=1e-5)
        for g_new, g_ref in zip(
            jax.grad(new, (0, 1, 2))(x, k, b), jax.grad(ref, (0, 1, 2))(x, k, b), strict=True
        ):
            np.testing.assert_allclose(g_new, g_ref, rtol=1e-4, atol=1e-4)


class _PlainLeNet(nn.Module):
    """The textbook Flax LeNet-5 (NHWC nn.Conv + nn.max_pool), the reference for LeNet5."""

    @nn.compact
    def __call__(self, x):
        x = nn.max_pool(
            nn.relu(nn.Conv(6, (5, 5), padding=2, name="PatchConv_0")(x)), (2, 2), (2, 2)
        )
        x = nn.max_pool(
            nn.relu(nn.Conv(16, (5, 5), padding="VALID", name="PatchConv_1")(x)), (2, 2), (2, 2)
        )
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(120, name="Dense_0")(x))
        x = nn.relu(nn.Dense(84, name="Dense_1")(x))
        return nn.Dense(10, name="Dense_2")(x)


def test_lenet_equals_plain_flax_lenet_values_and_gradients():
    model = get_model("lenet", 10)
    # Fashion-MNIST-like: a zero background (ties in every pooling window there) + strokes.
    x = jax.random.uniform(jax.random.PRNGKey(0), (4, 28, 28, 1))
    x = jnp.where(x > 0.6, x, 0.0)
    y = jnp.array([0, 3, 7, 9])
    params = model.init(jax.random.PRNGKey(1), x)["params"]
    ref_params = _PlainLeNet().init(jax.random.PRNGKey(1), x)["params"]
    assert jax.tree.map(jnp.shape, ref_params) == jax.tree.map(jnp.shape, params)

    def loss(apply, p):
        logits = apply({"params": p}, x)
        return jnp.mean(-jax.nn.log_softmax(logits)[jnp.arange(4), y])

    f_new = lambda p: loss(model.apply, p)
    f_ref = lambda p: loss(_PlainLeNet().apply, p)
    np.testing.assert_allclose(
        model.apply({"params": params}, x),
        _PlainLeNet().apply({"params": params}, x),
        rtol=1e-5,
        atol=1e-5,
    )
    g_new, g_ref = jax.jit(jax.grad(f_new))(params), jax.jit(jax.grad(f_ref))(params)
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(g_new), jax.tree.leaves(g_ref), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=str(path))


def test_bfloat16_models_keep_float32_params_and_logits():
    for name, shape, kw in (
        ("ffnn", (2, 5), {}),
        ("lenet", (2, 28, 28, 1), {}),
        ("resnet18", (2, 8, 8, 3), {"width": 2}),
    ):
        model = get_model(name, 3, dtype="bfloat16", **kw)
        x = jnp.ones(shape)
        v = jax.jit(model.init)(jax.random.PRNGKey(0), x)
        assert {a.dtype for a in jax.tree.leaves(v)} == {jnp.dtype(jnp.float32)}, name
        out = jax.jit(lambda v, x, m=model: m.apply(v, x, train=False))(v, x)
        assert out.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(out))), name
        # The computation is bfloat16: differs from the float32 model by more than f32 rounding.
        out32 = get_model(name, 3, **kw).apply(v, x, train=False)
        assert not np.array_equal(out, out32), name
        np.testing.assert_allclose(out, out32, rtol=0.1, atol=0.1)
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'bfloat16'.*float16"):
        get_model("lenet", 10, dtype="float16")


def test_lenet_torch_init_is_pytorch_default_uniform():
    import math

    from robustloss.models import lenet_conv_kernel_init

    key = jax.random.PRNGKey(0)
    for shape in ((5, 5, 1, 6), (5, 5, 6, 16)):
        fan_in = shape[0] * shape[1] * shape[2]
        bound = 1.0 / math.sqrt(fan_in)  # sqrt(6 / ((1 + 5) * fan_in)) with a = sqrt(5)
        w = np.asarray(lenet_conv_kernel_init("torch")(key, shape))
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
        assert np.var(w) == pytest.approx(bound**2 / 3, rel=0.15)  # uniform, not normal
    params = get_model("lenet", 10, init="torch").init(key, jnp.zeros((1, 28, 28, 1)))["params"]
    conv = np.asarray(params["PatchConv_1"]["kernel"])
    assert np.abs(conv).max() <= 1 / math.sqrt(150)
    old = get_model("lenet", 10).init(key, jnp.zeros((1, 28, 28, 1)))["params"]
    # Kaiming-normal fan_out: std sqrt(2 / (25 * 16)) -> values beyond the torch bound.
    assert np.abs(np.asarray(old["PatchConv_1"]["kernel"])).max() > 1 / math.sqrt(150)
    with pytest.raises(ValueError, match="kaiming_fan_out"):
        get_model("lenet", 10, init="xavier")
